//! Who is calling: the bearer token on HTTP requests, the client address for per-address
//! rate limits, and the request id for logs.
//!
//! A missing token is an anonymous request. A token that is present but malformed, forged,
//! expired or from a revoked session is a 401 — never silently anonymous, so a client with a
//! stale token learns it must refresh instead of seeing "logged-out" data.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};

use super::AppState;
use super::negotiate::Rejection;
use crate::error::AppError;
use crate::graphql::RequestId;
use crate::service::{ClientOrigin, Services, Viewer};

/// The client's address: the TCP peer, or, when `http.trust_forwarded_for` is set, the last
/// `X-Forwarded-For` entry. The last one is the address our own proxy saw (nginx appends it
/// with `$proxy_add_x_forwarded_for`); earlier entries are whatever the client sent.
/// Unknown (`None`) when the server runs without connection info, as in router-level tests.
pub struct ClientIp(pub ClientOrigin);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = state
            .config
            .http
            .trust_forwarded_for
            .then(|| last_forwarded_for(&parts.headers))
            .flatten();
        Ok(ClientIp(ClientOrigin {
            ip: forwarded.or(peer),
        }))
    }
}

/// The last address of the last `X-Forwarded-For` header (a proxy may add a header rather
/// than extend the existing one).
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let value = headers.get_all("x-forwarded-for").iter().next_back()?;
    value.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

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
        .sessions
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_forwarded_address_is_the_one_our_proxy_added() {
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "10.0.0.1, 198.51.100.7".parse().unwrap());
        assert_eq!(
            last_forwarded_for(&headers),
            Some("198.51.100.7".parse().unwrap())
        );
        headers.append("x-forwarded-for", "2001:db8::1".parse().unwrap());
        assert_eq!(
            last_forwarded_for(&headers),
            Some("2001:db8::1".parse().unwrap())
        );
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(last_forwarded_for(&headers), None);
    }
}
