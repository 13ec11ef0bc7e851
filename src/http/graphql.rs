//! `POST /graphql` and `GET /graphql` per the GraphQL-over-HTTP spec.
//!
//! - POST needs `Content-Type: application/json`: browsers cannot send that cross-site
//!   without a CORS preflight, so mutations cannot be forged from another origin. A body is
//!   one request object; arrays (batches) are refused, so one HTTP request is one operation.
//! - GET runs queries only; a mutation over GET is 405.
//! - The response type follows `Accept`; with `application/graphql-response+json`, requests
//!   that fail to parse or validate get 400.

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

use super::AppState;
use super::auth::{ClientIp, bearer_viewer, request_id};
use super::negotiate::{Rejection, ResponseType};
use crate::graphql::{self, is_request_error};
use crate::service::ClientOrigin;

pub async fn post(
    State(state): State<AppState>,
    ClientIp(origin): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let response_type = match ResponseType::negotiate(&headers) {
        Some(t) => t,
        None => return not_acceptable(),
    };
    let reject = |r: Rejection| r.with_type(response_type).into_response();
    if let Err(r) = check_json_content_type(&headers) {
        return reject(r);
    }
    let body = match body {
        Ok(body) => body,
        Err(err) => {
            let status = err.status();
            let (code, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
                (
                    "PAYLOAD_TOO_LARGE",
                    "the request body is too large".to_owned(),
                )
            } else {
                (
                    "BAD_REQUEST",
                    "the request body could not be read".to_owned(),
                )
            };
            return reject(Rejection::new(status, code, message));
        }
    };
    let params = match serde_json::from_slice::<Json>(&body) {
        Ok(Json::Object(map)) => map,
        Ok(Json::Array(_)) => {
            return reject(Rejection::bad_request(
                "batched requests are not supported; send one operation per request",
            ));
        }
        Ok(_) => {
            return reject(Rejection::bad_request(
                "the request body must be a JSON object",
            ));
        }
        Err(err) => {
            return reject(Rejection::bad_request(format!(
                "the request body is not valid JSON: {err}"
            )));
        }
    };
    let request = match request_from_json(params) {
        Ok(request) => request,
        Err(r) => return reject(r),
    };
    execute(state, &headers, origin, request, response_type).await
}

#[derive(serde::Deserialize)]
pub struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    ClientIp(origin): ClientIp,
    headers: HeaderMap,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let response_type = match ResponseType::negotiate(&headers) {
        Some(t) => t,
        None => return not_acceptable(),
    };
    let reject = |r: Rejection| r.with_type(response_type).into_response();
    let Ok(Query(params)) = params else {
        return reject(Rejection::bad_request("the query string is malformed"));
    };
    let mut json = serde_json::Map::new();
    json.insert(
        "query".into(),
        params.query.map_or(Json::Null, Json::String),
    );
    json.insert(
        "operationName".into(),
        params.operation_name.map_or(Json::Null, Json::String),
    );
    for (key, raw) in [
        ("variables", params.variables),
        ("extensions", params.extensions),
    ] {
        if let Some(raw) = raw {
            match serde_json::from_str::<Json>(&raw) {
                Ok(value) => json.insert(key.into(), value),
                Err(_) => {
                    return reject(Rejection::bad_request(format!("`{key}` is not valid JSON")));
                }
            };
        }
    }
    let request = match request_from_json(json) {
        Ok(request) => request,
        Err(r) => return reject(r),
    };
    if selects_mutation(&request.query, request.operation_name.as_deref()) {
        let mut response = Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations must be sent with POST",
        )
        .with_type(response_type)
        .into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(state, &headers, origin, request, response_type).await
}

/// Builds the GraphQL request from the decoded parameters, checking their types.
pub(super) fn request_from_json(
    mut params: serde_json::Map<String, Json>,
) -> Result<async_graphql::Request, Rejection> {
    let query = match params.remove("query") {
        Some(Json::String(query)) => query,
        Some(Json::Null) | None => return Err(Rejection::bad_request("`query` is required")),
        Some(_) => return Err(Rejection::bad_request("`query` must be a string")),
    };
    let mut request = async_graphql::Request::new(query);
    match params.remove("operationName") {
        Some(Json::String(name)) => request = request.operation_name(name),
        Some(Json::Null) | None => {}
        Some(_) => return Err(Rejection::bad_request("`operationName` must be a string")),
    }
    match params.remove("variables") {
        Some(variables @ Json::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(variables));
        }
        Some(Json::Null) | None => {}
        Some(_) => return Err(Rejection::bad_request("`variables` must be an object")),
    }
    match params.remove("extensions") {
        Some(Json::Object(extensions)) => {
            for (key, value) in extensions {
                let value = async_graphql::Value::from_json(value)
                    .map_err(|_| Rejection::bad_request("`extensions` is not valid"))?;
                request.extensions.insert(key, value);
            }
        }
        Some(Json::Null) | None => {}
        Some(_) => return Err(Rejection::bad_request("`extensions` must be an object")),
    }
    Ok(request)
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), Rejection> {
    let unsupported = || {
        Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as Content-Type: application/json",
        )
    };
    let value = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unsupported)?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(unsupported());
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
            && !charset
                .trim()
                .trim_matches('"')
                .eq_ignore_ascii_case("utf-8")
        {
            return Err(unsupported());
        }
    }
    Ok(())
}

/// Whether the operation GET would run is a mutation. A document that does not parse is not
/// a mutation; it is executed and fails with the parse error.
fn selects_mutation(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    graphql::selected_operation(&document, operation_name)
        .is_some_and(|operation| operation.ty == OperationType::Mutation)
}

async fn execute(
    state: AppState,
    headers: &HeaderMap,
    origin: ClientOrigin,
    request: async_graphql::Request,
    response_type: ResponseType,
) -> Response {
    let viewer = match bearer_viewer(&state.services, headers).await {
        Ok(viewer) => viewer,
        Err(rejection) => return rejection.with_type(response_type).into_response(),
    };
    let request_id = request_id(headers);
    let request =
        graphql::prepare_request(request, &state.services, viewer, request_id.clone(), origin);
    let response = graphql::execute(&state.schema, request, &request_id).await;
    let retry_after = over_budget_retry_after(&response);
    let status = if response_type == ResponseType::GraphqlResponseJson && retry_after.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else if response_type == ResponseType::GraphqlResponseJson && is_request_error(&response) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let limit = state.config.graphql.max_response_bytes;
    let body = match serialize_within(&response, limit) {
        Ok(body) => body,
        Err(Unserialised::Failed) => {
            return Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "internal server error",
            )
            .into_response();
        }
        Err(Unserialised::Oversized) => {
            // The answer is dropped here, before anything of it is sent.
            drop(response);
            tracing::warn!(request_id = %request_id.0, limit, "a response over graphql.max_response_bytes was refused");
            return Rejection::new(
                if response_type == ResponseType::GraphqlResponseJson {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                },
                "RESPONSE_TOO_LARGE",
                too_large_message(limit),
            )
            .with_type(response_type)
            .into_response();
        }
    };
    let mut http_response = (status, body).into_response();
    let headers = http_response.headers_mut();
    headers.insert(CONTENT_TYPE, response_type.content_type());
    if let Some(secs) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    http_response
}

/// `retryAfter` of a request refused for its query-cost budget (a request error coded
/// `RATE_LIMITED`).
fn over_budget_retry_after(response: &async_graphql::Response) -> Option<u64> {
    if !is_request_error(response) {
        return None;
    }
    let extensions = response.errors.first()?.extensions.as_ref()?;
    match (extensions.get("code"), extensions.get("retryAfter")) {
        (Some(async_graphql::Value::String(code)), Some(async_graphql::Value::Number(secs)))
            if code == "RATE_LIMITED" =>
        {
            secs.as_u64()
        }
        _ => None,
    }
}

/// What a client reads when its answer is over `graphql.max_response_bytes`, on HTTP and on
/// WebSocket alike (code `RESPONSE_TOO_LARGE`).
pub(super) fn too_large_message(limit: usize) -> String {
    format!(
        "the response is larger than {limit} bytes: ask for smaller pages (`first`) or fewer fields"
    )
}

enum Unserialised {
    /// The body passed `graphql.max_response_bytes`.
    Oversized,
    /// serde_json failed on our own value: a bug, logged.
    Failed,
}

/// Serialises `response`, giving up as soon as the body passes `limit` bytes, so an
/// oversized answer never takes more than `limit` bytes of buffer.
fn serialize_within(
    response: &async_graphql::Response,
    limit: usize,
) -> Result<Vec<u8>, Unserialised> {
    struct Bounded {
        buffer: Vec<u8>,
        limit: usize,
    }
    impl std::io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.buffer.len() + bytes.len() > self.limit {
                return Err(std::io::Error::other("over the response size limit"));
            }
            self.buffer.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut writer = Bounded {
        buffer: Vec::new(),
        limit,
    };
    match serde_json::to_writer(&mut writer, response) {
        Ok(()) => Ok(writer.buffer),
        Err(err) if err.is_io() => Err(Unserialised::Oversized),
        Err(err) => {
            tracing::error!(%err, "cannot serialise a GraphQL response");
            Err(Unserialised::Failed)
        }
    }
}

fn not_acceptable() -> Response {
    Rejection::new(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
    )
    .into_response()
}
