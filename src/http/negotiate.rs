//! GraphQL-over-HTTP content negotiation and the error bodies the HTTP layer writes itself.

use axum::http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// The media type of a GraphQL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// `application/graphql-response+json`: requests that fail to parse or validate get a 4xx.
    GraphqlResponseJson,
    /// `application/json`: the legacy type; every well-formed request gets 200.
    Json,
}

impl ResponseType {
    /// Picks from the `Accept` header. A missing header or a wildcard means
    /// `application/json`; the GraphQL type wins when the client ranks it at least as high.
    /// `None` means neither is acceptable (406).
    pub fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(ResponseType::Json);
        };
        let (mut gql, mut json, mut wild) = (0.0f32, 0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match media.as_str() {
                GRAPHQL_RESPONSE_JSON => &mut gql,
                JSON => &mut json,
                "*/*" | "application/*" => &mut wild,
                _ => continue,
            };
            *slot = slot.max(q);
        }
        if gql > 0.0 && gql >= json && gql >= wild {
            Some(ResponseType::GraphqlResponseJson)
        } else if json > 0.0 || wild > 0.0 {
            Some(ResponseType::Json)
        } else {
            None
        }
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            ResponseType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            ResponseType::Json => "application/json; charset=utf-8",
        })
    }
}

/// A request the HTTP layer refuses before GraphQL sees it, answered as a GraphQL error
/// body with a stable code.
pub struct Rejection {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub response_type: ResponseType,
}

impl Rejection {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            response_type: ResponseType::Json,
        }
    }

    /// 401 with a `WWW-Authenticate: Bearer` challenge.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub fn with_type(mut self, response_type: ResponseType) -> Self {
        self.response_type = response_type;
        self
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }]
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, self.response_type.content_type());
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: Option<&str>) -> Option<ResponseType> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        ResponseType::negotiate(&headers)
    }

    #[test]
    fn accept_header_picks_the_response_type() {
        use ResponseType::*;
        assert_eq!(negotiate(None), Some(Json));
        assert_eq!(negotiate(Some("*/*")), Some(Json));
        assert_eq!(negotiate(Some("application/json")), Some(Json));
        assert_eq!(
            negotiate(Some("application/graphql-response+json")),
            Some(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(Json)
        );
        assert_eq!(negotiate(Some("text/html")), None);
        assert_eq!(negotiate(Some("application/json;q=0")), None);
    }
}
