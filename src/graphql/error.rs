//! The one place errors become what a client sees.
//!
//! Every error in a response leaves here with a stable `extensions.code`:
//! - service errors (`AppError`) carry their own code, `field` for bad input and
//!   `retryAfter` for rate limits;
//! - errors from GraphQL itself get `GRAPHQL_PARSE_FAILED` or `GRAPHQL_VALIDATION_FAILED`
//!   (the codes Apollo Client and urql users know), and argument values that fail to coerce
//!   get `BAD_USER_INPUT`;
//! - anything else is a bug: it is logged with the request id and the client sees only
//!   `INTERNAL_SERVER_ERROR` and that id.

use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};

use super::RequestId;
use crate::error::AppError;

/// Carried as the `source` of a masked error so the response hook can log the real cause
/// next to the request id.
struct InternalCause(String);

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", err.code());
        match &err {
            AppError::BadUserInput { field, .. } => extensions.set("field", field.as_str()),
            AppError::Conflict {
                field: Some(field), ..
            } => extensions.set("field", field.as_str()),
            AppError::RateLimited { retry_after_secs } => {
                extensions.set("retryAfter", *retry_after_secs)
            }
            AppError::PaymentDeclined(reason) => extensions.set("reason", reason.as_str()),
            _ => {}
        }
        let source = match &err {
            AppError::Internal(cause) => Some(Arc::new(InternalCause(cause.clone())) as _),
            _ => None,
        };
        async_graphql::Error {
            message: err.client_message(),
            source,
            extensions: Some(extensions),
        }
    }
}

/// Bad input reaches a client as `BAD_USER_INPUT` with its field, even through `?` in a
/// resolver: `ValidationError` is not `Display`, so this is its only way to the wire.
impl From<crate::domain::ValidationError> for async_graphql::Error {
    fn from(err: crate::domain::ValidationError) -> Self {
        AppError::from(err).into()
    }
}

/// Whether the request failed before execution (it did not parse or validate): no data and
/// only errors without a path. GraphQL-over-HTTP answers these with 4xx for
/// `application/graphql-response+json`.
pub fn is_request_error(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Parse,
    Validation,
    Execution,
}

/// Gives every error of `response` its code (see the module docs). `parse_failed` says the
/// document did not parse; otherwise a request error failed validation.
pub(super) fn finish_response(
    mut response: Response,
    parse_failed: bool,
    request_id: Option<&RequestId>,
) -> Response {
    let phase = if !is_request_error(&response) {
        Phase::Execution
    } else if parse_failed {
        Phase::Parse
    } else {
        Phase::Validation
    };
    for error in &mut response.errors {
        finish_error(error, phase, request_id);
    }
    response
}

fn finish_error(error: &mut ServerError, phase: Phase, request_id: Option<&RequestId>) {
    let code = error
        .extensions
        .as_ref()
        .and_then(|ext| ext.get("code"))
        .cloned();
    let request_id = request_id.map_or("-", |id| id.0.as_str());
    match code {
        Some(Value::String(code)) if code == "INTERNAL_SERVER_ERROR" => {
            let cause = error
                .source::<InternalCause>()
                .map_or(error.message.as_str(), |c| c.0.as_str());
            tracing::error!(request_id, cause, path = ?error.path, "internal error");
            set(error, "requestId", request_id);
        }
        Some(_) => {}
        None => {
            let code = match phase {
                Phase::Parse => "GRAPHQL_PARSE_FAILED",
                _ if is_coercion_error(&error.message) => "BAD_USER_INPUT",
                Phase::Validation => "GRAPHQL_VALIDATION_FAILED",
                Phase::Execution => {
                    tracing::error!(request_id, cause = %error.message, path = ?error.path, "uncoded resolver error");
                    error.message = "internal server error".to_owned();
                    set(error, "requestId", request_id);
                    "INTERNAL_SERVER_ERROR"
                }
            };
            set(error, "code", code);
        }
    }
}

/// async-graphql's wording for an argument or variable value of the wrong type or shape.
fn is_coercion_error(message: &str) -> bool {
    message.starts_with("Failed to parse")
        || message.starts_with("Expected input type")
        || message.starts_with("Invalid value for argument")
        || message.contains("Invalid value for")
}

fn set(error: &mut ServerError, key: &str, value: &str) {
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set(key, value);
}
