//! The HTTP edge: routes, middleware (request ids, tracing, CORS, timeouts, body limits),
//! auth extraction, health and readiness. It turns HTTP into GraphQL requests and back and
//! holds no business rules.

mod auth;
mod graphiql;
mod graphql;
mod layers;
mod negotiate;
mod pages;
mod serve;
mod ws;

pub use serve::serve;
pub use ws::{SharedSubscriptions, SocketRegistry};

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::graphql::AppSchema;
use crate::service::Services;
use crate::store::StoreHealth;

pub use negotiate::{GRAPHQL_RESPONSE_JSON, JSON};

/// What every handler can reach. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    /// Behind an `Arc`: `Services` is several KiB of handles, and the state is cloned into
    /// every request and held by every open socket for its whole life.
    pub services: Arc<Services>,
    pub health: Arc<dyn StoreHealth>,
    pub config: Arc<Config>,
    /// Open sockets per user on this instance (`websocket.max_connections_per_user`).
    pub sockets: ws::SocketRegistry,
    /// Anonymous subscriptions running once for every socket that runs them.
    pub shared: ws::SharedSubscriptions,
}

pub fn router(state: AppState) -> Router {
    let config = &state.config.http;
    let request_id = HeaderName::from_static(auth::REQUEST_ID_HEADER);
    let mut router = Router::new()
        .route(
            "/graphql",
            get(graphql::get)
                .post(graphql::post)
                .layer(DefaultBodyLimit::max(config.body_limit_bytes))
                .layer(map_response(layers::no_store)),
        )
        .route("/graphql/ws", get(ws::upgrade))
        .route("/reset-password", get(pages::reset_password))
        .route("/verify-email", get(pages::verify_email))
        .route("/health", get(health))
        .route("/ready", get(ready));
    if state
        .config
        .graphql
        .graphiql
        .enabled(state.config.environment)
    {
        router = router.route("/", get(graphiql::page));
    }
    router
        .with_state(state.clone())
        .layer(from_fn_with_state(config.max_uri_bytes, layers::limit_uri))
        .layer(cors(&state.config.http.cors_allowed_origins))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(config.request_timeout_secs),
        ))
        // Outside the routes and the timeout, so their bare refusals get a body too.
        .layer(map_response(layers::error_bodies))
        .layer(map_response(layers::security_headers))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.is_empty() {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([HeaderName::from_static(auth::REQUEST_ID_HEADER)])
        .max_age(Duration::from_secs(600))
}

/// Liveness: the process serves HTTP.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the store answers.
async fn ready(State(state): State<AppState>) -> Response {
    let backend = state.health.backend_name();
    match tokio::time::timeout(Duration::from_secs(2), state.health.ping()).await {
        Ok(Ok(())) => {
            Json(serde_json::json!({ "status": "ready", "store": backend })).into_response()
        }
        outcome => {
            tracing::warn!(?outcome, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "store": backend })),
            )
                .into_response()
        }
    }
}
