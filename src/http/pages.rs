//! The two pages mail links open when `mail.public_url` points at this server (the
//! default): a form for `resetPassword` and a button for `verifyEmail`. Static HTML that
//! reads the token from its own URL and calls the public GraphQL API, so a newcomer can
//! follow a mailed link with no web app running. A real frontend sets `mail.public_url` to
//! itself and serves the same two paths.
//!
//! The token sits in the URL, so the pages send no referrer, cannot be cached, and may only
//! talk to this origin.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

const RESET_PASSWORD: &str = include_str!("pages/reset-password.html");
const VERIFY_EMAIL: &str = include_str!("pages/verify-email.html");

pub async fn reset_password() -> Response {
    page(RESET_PASSWORD)
}

pub async fn verify_email() -> Response {
    page(VERIFY_EMAIL)
}

fn page(html: &'static str) -> Response {
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}
