//! Who is calling: the bearer token on HTTP requests, and the request id for logs.
//!
//! A missing token is an anonymous request. A token that is present but malformed, forged,
//! expired or from a revoked session is a 401 — never silently anonymous, so a client with a
//! stale token learns it must refresh instead of seeing "logged-out" data.

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};

use super::negotiate::Rejection;
use crate::error::AppError;
use crate::graphql::RequestId;
use crate::service::{Services, Viewer};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The viewer behind the `Authorization: Bearer …` header, `None` without the header.
pub async fn bearer_viewer(
    services: &Services,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, Rejection> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(Rejection::unauthenticated(
            "the Authorization header must be `Bearer <access token>`",
        ));
    };
    authenticate(services, token).await.map(Some)
}

/// Resolves a raw access token; shared by HTTP and WebSocket. A store failure is a 500, not
/// a reason to log anyone out.
pub async fn authenticate(services: &Services, token: &str) -> Result<Viewer, Rejection> {
    services
        .accounts
        .authenticate(token)
        .await
        .map_err(|err| match err {
            AppError::Unauthenticated(message) => Rejection::unauthenticated(message),
            other => {
                tracing::error!(error = ?other, "authentication failed on a store error");
                Rejection::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_SERVER_ERROR",
                    "internal server error",
                )
            }
        })
}

/// The id the request-id middleware put on the request.
pub fn request_id(headers: &HeaderMap) -> RequestId {
    RequestId(
        headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned(),
    )
}
