//! What clients see of the cost model: `extensions.cost` on every answer, the
//! `QUERY_TOO_COSTLY` and budget refusals, and whose budget a request draws from.

use async_graphql::{ErrorExtensionValues, Request, Response, ServerError, Value};
use sha2::{Digest, Sha256};

use crate::graphql::context::RequestViewer;
use crate::service::{ClientOrigin, OverBudget, ThrottleStatus};

/// The objects an answer holds: every object value below `data`, counted like the price
/// counts them (at least 1, like the price).
pub fn actual_cost(data: &Value) -> u64 {
    fn objects(value: &Value) -> u64 {
        match value {
            Value::Object(fields) => fields
                .values()
                .fold(1u64, |n, v| n.saturating_add(objects(v))),
            Value::List(items) => items.iter().fold(0u64, |n, v| n.saturating_add(objects(v))),
            _ => 0,
        }
    }
    match data {
        Value::Object(fields) => fields
            .values()
            .fold(0u64, |n, v| n.saturating_add(objects(v)))
            .max(1),
        _ => 0,
    }
}

/// Sets `extensions.cost` (the names Shopify's clients know): the price, what the answer
/// actually held, and the budget after this request when budgets are on.
pub fn annotate(
    response: &mut Response,
    requested: u64,
    actual: u64,
    throttle: Option<ThrottleStatus>,
) {
    let mut cost = async_graphql::indexmap::IndexMap::new();
    cost.insert(
        async_graphql::Name::new("requestedQueryCost"),
        Value::from(requested),
    );
    cost.insert(
        async_graphql::Name::new("actualQueryCost"),
        Value::from(actual),
    );
    if let Some(status) = throttle {
        let mut throttle = async_graphql::indexmap::IndexMap::new();
        throttle.insert(
            async_graphql::Name::new("maximumAvailable"),
            Value::from(status.maximum_available),
        );
        throttle.insert(
            async_graphql::Name::new("currentlyAvailable"),
            Value::from(status.currently_available),
        );
        throttle.insert(
            async_graphql::Name::new("restoreRate"),
            Value::from(status.restore_rate),
        );
        cost.insert(
            async_graphql::Name::new("throttleStatus"),
            Value::Object(throttle),
        );
    }
    response
        .extensions
        .insert("cost".to_owned(), Value::Object(cost));
}

/// The refusal of a document over `graphql.max_cost`.
pub fn too_costly(requested: u64, limit: u64) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "the query would cost {requested}, over the limit of {limit}: ask for smaller pages \
             (`first`) or nest fewer lists"
        ),
        None,
    );
    let mut cost = async_graphql::indexmap::IndexMap::new();
    cost.insert(
        async_graphql::Name::new("requested"),
        Value::from(requested),
    );
    cost.insert(async_graphql::Name::new("limit"), Value::from(limit));
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "QUERY_TOO_COSTLY");
    extensions.set("cost", Value::Object(cost));
    error.extensions = Some(extensions);
    error
}

/// The refusal of an operation its client's budget cannot pay for now.
pub fn over_budget(requested: u64, over: &OverBudget) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "the query costs {requested} and the query-cost budget holds {} now; it refills \
             at {} a second: retry in {} s",
            over.status.currently_available, over.status.restore_rate, over.retry_after_secs
        ),
        None,
    );
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "RATE_LIMITED");
    extensions.set("retryAfter", over.retry_after_secs);
    error.extensions = Some(extensions);
    error
}

/// Whose budget `request` draws from: the viewer's, or the client address's when
/// anonymous (hashed, like the other per-address counters), or one shared by requests whose
/// address is unknown.
pub fn budget_client(request: &Request) -> String {
    let data = |id: std::any::TypeId| request.data.get(&id);
    let viewer = data(std::any::TypeId::of::<RequestViewer>())
        .and_then(|v| v.downcast_ref::<RequestViewer>())
        .and_then(|v| v.0.as_ref());
    if let Some(viewer) = viewer {
        return format!("cost:user:{}", viewer.id());
    }
    let address = data(std::any::TypeId::of::<ClientOrigin>())
        .and_then(|o| o.downcast_ref::<ClientOrigin>())
        .and_then(ClientOrigin::rate_subject);
    match address {
        Some(address) => {
            let digest: String = Sha256::digest(address.as_bytes())
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("cost:ip:{digest}")
        }
        None => "cost:unknown".to_owned(),
    }
}
