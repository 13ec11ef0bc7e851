//! The GraphQL layer: the schema, thin resolvers per area, dataloaders, and the one place
//! where errors get their `extensions.code`.
//!
//! Resolvers read the viewer, call one service method and convert the result. They never
//! touch a store. Relation fields go through the per-request loaders.

mod accounts;
mod batch;
mod chat;
mod connection;
mod context;
mod documents;
mod error;
mod limits;
mod loaders;
pub(crate) mod marketplace;
mod notifications;
pub(crate) mod posts;
mod replay;
mod scalars;
mod social;

use async_graphql::{MergedObject, MergedSubscription, Schema};

pub use context::{ContextExt, RequestId};
pub use error::is_request_error;
pub use loaders::Loaders;

use crate::config::GraphqlConfig;
use crate::error::AppError;
use crate::service::{ClientOrigin, Services, Viewer};

#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountQuery,
    posts::PostQueryRoot,
    chat::ChatQuery,
    notifications::NotificationQuery,
    marketplace::MarketplaceQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    posts::PostMutation,
    social::SocialMutation,
    chat::ChatMutation,
    notifications::NotificationMutation,
    marketplace::MarketplaceMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    accounts::AccountSubscription,
    chat::ChatSubscription,
    notifications::NotificationSubscription,
    posts::PostSubscription,
    marketplace::MarketplaceSubscription,
);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Builds the schema with the limits from `config`. `services` becomes schema data.
pub fn build_schema(services: Services, config: &GraphqlConfig) -> AppSchema {
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
    .data(documents::DocumentCache::default());
    if !config.introspection {
        builder = builder.disable_introspection();
    }
    if !config.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// Runs one query or mutation the way every transport must: the document is parsed once,
/// checked against the selection caps, executed, and every error leaves with its code.
///
/// This is deliberately not an async-graphql extension: with any extension registered,
/// async-graphql routes every field of every response through the extension chain, which
/// cost about half the CPU of a feed request.
pub async fn execute(
    schema: &AppSchema,
    mut request: async_graphql::Request,
    request_id: &RequestId,
) -> async_graphql::Response {
    if let Err(refused) = precheck(schema, &mut request, request_id) {
        return *refused;
    }
    let response = schema.execute(request).await;
    error::finish_response(response, false, Some(request_id))
}

/// [`execute`] for subscriptions (and any operation sent over WebSocket): each event's
/// errors get their codes.
pub fn execute_stream(
    schema: &AppSchema,
    mut request: async_graphql::Request,
    request_id: RequestId,
) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
    use futures_util::StreamExt;
    if let Err(refused) = precheck(schema, &mut request, &request_id) {
        return futures_util::stream::once(async move { *refused }).boxed();
    }
    schema
        .execute_stream(request)
        .map(move |response| error::finish_response(response, false, Some(&request_id)))
        .boxed()
}

/// Parses the document (async-graphql reuses the parsed form) and applies the caps; the
/// refusal is a coded response. A text seen before comes from the [`documents::DocumentCache`]
/// already checked.
fn precheck(
    schema: &AppSchema,
    request: &mut async_graphql::Request,
    request_id: &RequestId,
) -> Result<(), Box<async_graphql::Response>> {
    let cache = schema.data::<documents::DocumentCache>();
    if let Some(document) = cache.and_then(|cache| cache.get(&request.query)) {
        request.set_parsed_query(document);
        return Ok(());
    }
    let limits = schema.data::<limits::SelectionLimits>().copied();
    // Only a miss pays for this copy; the parsed document borrows the request.
    let query = request.query.clone();
    let outcome = match request.parsed_query() {
        Err(error) => Err((error, true)),
        Ok(document) => match limits.map(|l| l.check(document)) {
            Some(Err(error)) => Err((error, false)),
            _ => {
                if let Some(cache) = cache {
                    cache.insert(&query, document);
                }
                Ok(())
            }
        },
    };
    outcome.map_err(|(error, parse_failed)| {
        let response = async_graphql::Response::from_errors(vec![error]);
        Box::new(error::finish_response(
            response,
            parse_failed,
            Some(request_id),
        ))
    })
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

/// Attaches what every request carries: the viewer (if any), fresh per-request loaders,
/// the request id used in logs and masked errors, and where the request came from (for
/// per-address rate limits).
pub fn prepare_request(
    request: async_graphql::Request,
    services: &Services,
    viewer: Option<Viewer>,
    request_id: RequestId,
    origin: ClientOrigin,
) -> async_graphql::Request {
    let loaders = Loaders::new(services, viewer.as_ref());
    request
        .data(loaders)
        .data(context::RequestViewer(viewer))
        .data(request_id)
        .data(origin)
}

/// An id argument parsed into its domain type; `BAD_USER_INPUT` on `field` when it is not
/// one (an id that does not exist is not bad input: it finds nothing).
pub(crate) fn parse_id<T>(
    field: &str,
    id: &async_graphql::ID,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, AppError> {
    parse(id.as_str()).ok_or_else(|| AppError::bad_input(field, "is not a valid id"))
}
