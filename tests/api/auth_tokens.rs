//! Access tokens that must not be accepted.

use agora::auth::TokenKeys;
use agora::domain::{SessionId, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use serde_json::json;

use crate::helpers::{JWT_SECRET, spawn_app};

async fn assert_refused(app: &crate::helpers::TestApp, token: &str) {
    let (status, body) = app.post(Some(token), "{ viewer { id } }", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let kim = app.register("kim").await;
    let claims = claims_of(&kim.access);
    let forger = TokenKeys::new(
        b"another-secret-another-secret-0123",
        "agora",
        "agora-api",
        Duration::minutes(15),
    );
    let forged = forger.issue_access(
        &UserId::parse(claims["sub"].as_str().unwrap()).unwrap(),
        &SessionId::parse(claims["sid"].as_str().unwrap()).unwrap(),
        Utc::now(),
    );
    assert_refused(&app, &forged.token).await;
}

#[tokio::test]
async fn an_expired_token_is_refused_not_treated_as_anonymous() {
    let app = spawn_app().await;
    let kim = app.register("kim").await;
    let claims = claims_of(&kim.access);
    let keys = TokenKeys::new(
        JWT_SECRET.as_bytes(),
        "agora",
        "agora-api",
        Duration::minutes(15),
    );
    let expired = keys.issue_access(
        &UserId::parse(claims["sub"].as_str().unwrap()).unwrap(),
        &SessionId::parse(claims["sid"].as_str().unwrap()).unwrap(),
        Utc::now() - Duration::hours(1),
    );
    let (status, body) = app
        .post(Some(&expired.token), "{ viewer { id } }", json!({}))
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["message"], "the access token has expired");
}

#[tokio::test]
async fn alg_none_and_tampered_tokens_are_refused() {
    let app = spawn_app().await;
    let kim = app.register("kim").await;
    let payload = kim.access.split('.').nth(1).unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    assert_refused(&app, &format!("{none_header}.{payload}.")).await;

    let mut claims = claims_of(&kim.access);
    claims["sub"] = json!("someone-else");
    let tampered = URL_SAFE_NO_PAD.encode(claims.to_string());
    let parts: Vec<&str> = kim.access.split('.').collect();
    assert_refused(&app, &format!("{}.{tampered}.{}", parts[0], parts[2])).await;

    assert_refused(&app, "not-a-jwt").await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&json!({ "query": "{ viewer { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
}

#[tokio::test]
async fn no_token_is_an_anonymous_request() {
    let app = spawn_app().await;
    let data = app.data(None, "{ viewer { id } }", json!({})).await;
    assert_eq!(data["viewer"], json!(null));
    let (code, _) = app
        .error_code(None, "mutation { logoutEverywhere }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}
