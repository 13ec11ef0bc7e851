//! The GraphQL layer: the schema, thin resolvers per area, dataloaders, and the one place
//! where errors get their `extensions.code`.
//!
//! Resolvers read the viewer, call one service method and convert the result. They never
//! touch a store. Relation fields go through the per-request loaders.

mod accounts;
mod batch;
mod connection;
mod context;
mod error;
mod limits;
mod loaders;
pub(crate) mod posts;
mod scalars;
mod social;

use async_graphql::{MergedObject, MergedSubscription, Schema};

pub use context::{ContextExt, RequestId};
pub use error::is_request_error;
pub use loaders::Loaders;

use crate::config::GraphqlConfig;
use crate::service::{ClientOrigin, Services, Viewer};

#[derive(MergedObject, Default)]
pub struct Query(accounts::AccountQuery, posts::PostQueryRoot);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    posts::PostMutation,
    social::SocialMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(accounts::AccountSubscription);

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
    .extension(error::ErrorCodes)
    .extension(limits::SelectionLimits {
        max_fields: config.max_fields,
        max_aliases: config.max_aliases,
    });
    if !config.introspection {
        builder = builder.disable_introspection();
    }
    if !config.suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
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
