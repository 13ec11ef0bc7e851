//! The GraphQL layer: the schema, thin resolvers per area, dataloaders, and the one place
//! where errors get their `extensions.code`.
//!
//! Resolvers read the viewer, call one service method and convert the result. They never
//! touch a store. Relation fields go through the per-request loaders.

/// A GraphQL enum that mirrors a domain enum variant for variant, with `From` both ways.
/// Defined before the area modules so each can use it.
macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident => $domain:path { $($variant:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
        pub enum $name { $($variant),* }

        impl From<$domain> for $name {
            fn from(value: $domain) -> Self {
                match value { $(<$domain>::$variant => $name::$variant),* }
            }
        }

        impl From<$name> for $domain {
            fn from(value: $name) -> Self {
                match value { $($name::$variant => <$domain>::$variant),* }
            }
        }
    };
}

mod admin;
mod batch;
mod chat;
mod connection;
mod context;
mod cost;
mod documents;
mod engagement;
mod error;
mod limits;
mod loaders;
mod notifications;
pub(crate) mod orders;
pub(crate) mod posts;
mod replay;
pub(crate) mod reviews;
mod scalars;
mod sessions;
mod social;
mod users;
mod variables;
mod wallet;

use async_graphql::{MergedObject, MergedSubscription, Schema};

pub use context::{ContextExt, RequestId};
pub use error::is_request_error;
pub use loaders::Loaders;

use crate::config::{Environment, GraphqlConfig};
use crate::error::AppError;
use crate::service::{ClientOrigin, Services, Viewer};

#[derive(MergedObject, Default)]
pub struct Query(
    users::UserQuery,
    posts::PostQueryRoot,
    engagement::EngagementQuery,
    chat::ChatQuery,
    notifications::NotificationQuery,
    orders::OrderQuery,
    reviews::ReviewQueryRoot,
    orders::SellerStatsQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    // Users' and sessions' parts interleave to keep the order of the fields in
    // `schema.graphql`, which the account mutations gave before the area was split.
    sessions::LoginMutation,
    users::LifecycleMutation,
    sessions::SessionMutation,
    users::UserMutation,
    wallet::WalletMutation,
    admin::AdminMutation,
    posts::PostMutation,
    engagement::EngagementMutation,
    social::SocialMutation,
    chat::ChatMutation,
    notifications::NotificationMutation,
    orders::OrderMutation,
    reviews::ReviewMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    users::UserSubscription,
    chat::ChatSubscription,
    notifications::NotificationSubscription,
    posts::PostSubscription,
    orders::OrderSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with the limits from `config` (introspection and suggestions as
/// `environment` resolves them). `services` becomes schema data.
pub fn build_schema(
    services: Services,
    config: &GraphqlConfig,
    environment: Environment,
) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(services)
    .limit_depth(config.max_depth)
    .limit_complexity(config.max_complexity)
    .limit_recursive_depth(config.max_recursive_depth)
    .limit_directives(config.max_directives)
    .data(limits::SelectionLimits {
        max_fields: config.max_fields,
        max_aliases: config.max_aliases,
    })
    .data(documents::DocumentCache::default())
    .data(cost::CostModel::from_sdl(&sdl(), config.max_cost));
    if !config.introspection.enabled(environment) {
        builder = builder.disable_introspection();
    }
    if !config.suggestions.enabled(environment) {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// Runs one query or mutation the way every transport must: the document is parsed once,
/// checked against the selection caps, priced and paid for from its client's budget
/// ([`admit`]), executed, and every error leaves with its code. The answer carries
/// `extensions.cost`; what the answer did not use of its price goes back to the budget.
///
/// This is deliberately not an async-graphql extension: with any extension registered,
/// async-graphql routes every field of every response through the extension chain, which
/// cost about half the CPU of a feed request.
pub async fn execute(
    schema: &AppSchema,
    mut request: async_graphql::Request,
    request_id: &RequestId,
) -> async_graphql::Response {
    let admitted = match admit(schema, &mut request, request_id) {
        Ok(admitted) => admitted,
        Err(refused) => return *refused,
    };
    let mut response = schema.execute(request).await;
    let actual = cost::actual_cost(&response.data);
    let throttle = schema.data::<Services>().and_then(|services| {
        services.query_budget.refund(
            &admitted.client,
            admitted.requested.saturating_sub(actual),
            crate::clock::now(),
        )
    });
    cost::annotate(
        &mut response,
        admitted.requested,
        actual,
        throttle.or(admitted.throttle),
    );
    error::finish_response(response, false, Some(request_id))
}

/// [`execute`] for subscriptions (and any operation sent over WebSocket): priced and paid for
/// at the start, and each event's errors get their codes.
pub fn execute_stream(
    schema: &AppSchema,
    mut request: async_graphql::Request,
    request_id: RequestId,
) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
    use futures_util::StreamExt;
    if let Err(refused) = admit(schema, &mut request, &request_id) {
        return futures_util::stream::once(async move { *refused }).boxed();
    }
    execute_admitted_stream(schema, request, request_id)
}

/// [`execute_stream`] for a request that already passed [`admit`]: one execution shared by
/// several sockets, each of which was admitted (and paid) on its own.
pub fn execute_admitted_stream(
    schema: &AppSchema,
    request: async_graphql::Request,
    request_id: RequestId,
) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
    use futures_util::StreamExt;
    schema
        .execute_stream(request)
        .map(move |response| error::finish_response(response, false, Some(&request_id)))
        .boxed()
}

/// A request that may run: its price, drawn from `client`'s budget.
pub struct Admitted {
    pub requested: u64,
    client: String,
    throttle: Option<crate::service::ThrottleStatus>,
}

/// Everything an operation passes before it runs, on every transport: it parses (async-graphql
/// reuses the parsed form), fits the selection caps, provides its required variables, costs
/// no more than `graphql.max_cost`, and its client's budget holds that cost, which is drawn.
/// A refusal is a coded response. A text seen before comes from the
/// [`documents::DocumentCache`] already parsed and checked against the caps.
pub fn admit(
    schema: &AppSchema,
    request: &mut async_graphql::Request,
    request_id: &RequestId,
) -> Result<Admitted, Box<async_graphql::Response>> {
    let coded = |response: async_graphql::Response, parse_failed: bool| {
        Box::new(error::finish_response(
            response,
            parse_failed,
            Some(request_id),
        ))
    };
    let refuse = |error: async_graphql::ServerError, parse_failed: bool| {
        coded(
            async_graphql::Response::from_errors(vec![error]),
            parse_failed,
        )
    };
    parse_and_cap(schema, request).map_err(|refused| refuse(refused.0, refused.1))?;
    // The parsed document borrows the request mutably; its name and variables are read
    // beside it, so they step out for the checks and go back after.
    let operation_name = request.operation_name.take();
    let variables = std::mem::take(&mut request.variables);
    let checked = check_document(schema, request, operation_name.as_deref(), &variables);
    request.operation_name = operation_name;
    request.variables = variables;
    let requested = match checked {
        Ok(requested) => requested,
        Err(refused) => return Err(refuse(refused.0, refused.1)),
    };
    // With budgets off (no rate limits) there is no client to name.
    let budget = schema
        .data::<Services>()
        .map(|services| &services.query_budget)
        .filter(|budget| budget.is_enabled());
    let client = match budget {
        Some(_) => cost::budget_client(request),
        None => String::new(),
    };
    let limit = schema
        .data::<cost::CostModel>()
        .map_or(u64::MAX, cost::CostModel::limit);
    if requested > limit {
        // Refused before the budget is drawn; the answer still says where the client stands.
        let status = budget.and_then(|b| b.status(&client, crate::clock::now()));
        let mut response =
            async_graphql::Response::from_errors(vec![cost::too_costly(requested, limit)]);
        cost::annotate(&mut response, requested, 0, status);
        return Err(coded(response, false));
    }
    let spent = budget.map_or(Ok(None), |budget| {
        budget.spend(&client, requested, crate::clock::now())
    });
    match spent {
        Ok(throttle) => Ok(Admitted {
            requested,
            client,
            throttle,
        }),
        Err(over) => {
            let mut response =
                async_graphql::Response::from_errors(vec![cost::over_budget(requested, &over)]);
            cost::annotate(&mut response, requested, 0, Some(over.status));
            Err(coded(response, false))
        }
    }
}

/// A refusal before execution, and whether the document failed to parse.
type Refused = Box<(async_graphql::ServerError, bool)>;

/// The checks on the parsed document: its required variables, then its price. The price, or
/// the refusal (and whether it is a parse failure).
fn check_document(
    schema: &AppSchema,
    request: &mut async_graphql::Request,
    operation_name: Option<&str>,
    variables: &async_graphql::Variables,
) -> Result<u64, Refused> {
    let document = request
        .parsed_query()
        .map_err(|error| Box::new((error, true)))?;
    variables::check_provided(document, operation_name, variables)
        .map_err(|error| Box::new((error, false)))?;
    let Some(model) = schema.data::<cost::CostModel>() else {
        return Ok(0);
    };
    let requested = model.price(document, operation_name, variables).requested;
    Ok(requested)
}

/// Parses the document (or takes it from the cache) and applies the selection caps.
fn parse_and_cap(schema: &AppSchema, request: &mut async_graphql::Request) -> Result<(), Refused> {
    let cache = schema.data::<documents::DocumentCache>();
    if let Some(document) = cache.and_then(|cache| cache.get(&request.query)) {
        request.set_parsed_query(document);
        return Ok(());
    }
    let limits = schema.data::<limits::SelectionLimits>().copied();
    // Only a miss pays for this copy; the parsed document borrows the request.
    let query = request.query.clone();
    let document = request
        .parsed_query()
        .map_err(|error| Box::new((error, true)))?;
    if let Some(Err(error)) = limits.map(|l| l.check(document)) {
        return Err(Box::new((error, false)));
    }
    if let Some(cache) = cache {
        cache.insert(&query, document);
    }
    Ok(())
}

/// The operation a request runs: the one named `operation_name`, or the document's only
/// operation when no name is given. `None` when that selects nothing (validation refuses
/// such a request), so callers decide what a document without a selection means to them.
pub(crate) fn selected_operation<'a>(
    document: &'a async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a async_graphql::parser::types::OperationDefinition> {
    let mut operations = document.operations.iter();
    let (_, operation) = match operation_name {
        Some(wanted) => operations.find(|(name, _)| name.is_some_and(|n| n.as_str() == wanted))?,
        None => {
            let only = operations.next()?;
            if operations.next().is_some() {
                return None;
            }
            only
        }
    };
    Some(&operation.node)
}

/// The schema without any data, for printing SDL.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}

/// Attaches what every request carries: the viewer (if any, with nothing of theirs read yet:
/// a WebSocket hands each operation the connection's viewer), fresh per-request loaders,
/// the request id used in logs and masked errors, and where the request came from (for
/// per-address rate limits).
pub fn prepare_request(
    request: async_graphql::Request,
    services: &Services,
    viewer: Option<Viewer>,
    request_id: RequestId,
    origin: ClientOrigin,
) -> async_graphql::Request {
    let viewer = viewer.map(Viewer::for_request);
    let loaders = Loaders::new(services, viewer.as_ref());
    request
        .data(loaders)
        .data(context::RequestViewer(viewer))
        .data(request_id)
        .data(origin)
}

/// An id argument parsed into its domain type. The one rule for every field: an id that is
/// malformed is `BAD_USER_INPUT` on `field`; one that is well formed but names nothing finds
/// nothing (`null`, or `NOT_FOUND` where the field needs the object).
pub(crate) fn parse_id<T: crate::domain::Id>(
    field: &str,
    id: &async_graphql::ID,
) -> Result<T, AppError> {
    T::parse(id.as_str()).ok_or_else(|| AppError::bad_input(field, "is not a valid id"))
}

/// The signed-in viewer and the id argument `field` ([`parse_id`]), as a mutation on one
/// object of theirs starts: `UNAUTHENTICATED` comes before a malformed id.
pub(crate) fn viewer_and_id<'c, T: crate::domain::Id>(
    ctx: &'c async_graphql::Context<'_>,
    field: &str,
    id: &async_graphql::ID,
) -> Result<(&'c Viewer, T), AppError> {
    Ok((ctx.require_viewer()?, parse_id(field, id)?))
}
