//! Middleware every response goes through: the security headers, a GraphQL-shaped JSON body
//! on every error status, the request-target length limit, and `no-store` on GraphQL
//! answers. None of it looks at what a handler computed beyond the status and headers.

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::negotiate::Rejection;

/// The policy of every response that sets none of its own: JSON answers load nothing, and
/// nothing may frame them.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// `nosniff`, so a browser never runs a JSON answer as a script or a page, and frame
/// protection (the old header for old browsers, `frame-ancestors` for the rest), so no page
/// can frame ours to click-jack it. A handler's own CSP (GraphiQL, the mail-link pages) is
/// kept; each of those forbids framing too.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_POLICY),
        );
    }
    response
}

/// Answers of GraphQL endpoints carry tokens and private data: no cache may keep them.
pub async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Gives an error status that a layer or the router answered with an empty body (404 of an
/// unknown path, 405, 413, the request timeout's 503…) the body every other refusal has:
/// `{"errors":[{"message":…,"extensions":{"code":…}}]}`. Bodies a handler wrote are kept.
pub async fn error_bodies(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.body().size_hint().exact() != Some(0)
    {
        return response;
    }
    let (code, message) = describe(status);
    let (mut parts, _) = response.into_parts();
    let (rejected, body) = Rejection::new(status, code, message)
        .into_response()
        .into_parts();
    // Keep what the refusing layer said beside the status (`Allow` on a 405, CORS headers);
    // the body's own headers replace any it had.
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.extend(rejected.headers);
    Response::from_parts(parts, body)
}

/// The stable code and message of a status the HTTP layer answers by itself.
fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => ("NOT_FOUND", "no such path; the API is at /graphql"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "this method is not allowed on this path",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("PAYLOAD_TOO_LARGE", "the request body is too large"),
        StatusCode::URI_TOO_LONG => ("URI_TOO_LONG", "the request URI is too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as Content-Type: application/json",
        ),
        StatusCode::TOO_MANY_REQUESTS => ("RATE_LIMITED", "too many requests"),
        StatusCode::SERVICE_UNAVAILABLE => (
            "SERVICE_UNAVAILABLE",
            "the request was not answered in time",
        ),
        status if status.is_client_error() => ("BAD_REQUEST", "the request was refused"),
        _ => ("INTERNAL_SERVER_ERROR", "internal server error"),
    }
}

/// Refuses a request target longer than `http.max_uri_bytes` with a 414 and a GraphQL error
/// body, before routing. hyper's own limit (64 KiB) stays the outer bound: above it hyper
/// answers a bare 414 itself and the request never reaches the router.
pub async fn limit_uri(State(max): State<usize>, request: Request, next: Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if length > max {
        return Rejection::new(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            format!("the request URI is longer than {max} bytes; send the query with POST"),
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header::CONTENT_TYPE;

    fn empty(status: StatusCode) -> Response {
        (status, Body::empty()).into_response()
    }

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn an_empty_error_gets_a_coded_body_and_keeps_its_headers() {
        let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert("allow", HeaderValue::from_static("GET,HEAD"));
        let response = error_bodies(response).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "GET,HEAD");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body = body_of(response).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "METHOD_NOT_ALLOWED"
        );
    }

    #[tokio::test]
    async fn a_body_a_handler_wrote_and_a_success_are_left_alone() {
        let written = (
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"status\":\"unavailable\"}",
        );
        let response = error_bodies(written.into_response()).await;
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"{\"status\":\"unavailable\"}");
        let response = error_bodies(empty(StatusCode::NO_CONTENT)).await;
        assert_eq!(response.body().size_hint().exact(), Some(0));
    }
}
