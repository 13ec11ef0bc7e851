//! The socket's life beyond one token: a per-user connection cap, and re-authentication on an
//! open socket (a `ping` with a fresh token in graphql-transport-ws, a repeated
//! `connection_init` in legacy graphql-ws) so a client that refreshes is not closed when its
//! first token expires.

use agora::auth::TokenKeys;
use serde_json::json;

use crate::helpers::{Account, JWT_SECRET, TestApp, WsClient, WsEvent, spawn_app_with};

const TRANSPORT_WS: &str = "graphql-transport-ws";
const LEGACY_WS: &str = "graphql-ws";

/// A token for `who`'s session that stays valid for an hour, as a refresh would give (the
/// app under test issues three-second tokens).
fn fresh_token(app: &TestApp, who: &Account) -> String {
    let keys = TokenKeys::new(
        JWT_SECRET.as_bytes(),
        &app.core.config.auth.issuer,
        &app.core.config.auth.audience,
        chrono::Duration::hours(1),
    );
    let claims = keys
        .verify_access(&who.access)
        .expect("the app's own token");
    let user = agora::domain::UserId::parse(&claims.sub).unwrap();
    let session = agora::domain::SessionId::parse(&claims.sid).unwrap();
    keys.issue_access(&user, &session, chrono::Utc::now()).token
}

async fn viewer_query_answers(ws: &mut WsClient, id: &str) {
    ws.send(
        json!({ "id": id, "type": "subscribe", "payload": { "query": "{ viewer { username } }" } }),
    )
    .await;
    let answer = ws.next_json().await;
    assert_eq!(answer["id"], id, "{answer}");
    assert!(
        answer["payload"]["data"]["viewer"]["username"].is_string(),
        "{answer}"
    );
}

#[tokio::test]
async fn a_connection_over_the_per_user_cap_is_closed_with_4429() {
    let app = spawn_app_with(|config| config.websocket.max_connections_per_user = 2).await;
    let (lia, max) = (app.register("lia").await, app.register("max").await);
    let mut first = app.ws(TRANSPORT_WS).await;
    first.init(Some(&lia.access)).await;
    let mut second = app.ws(TRANSPORT_WS).await;
    second.init(Some(&lia.access)).await;

    let mut third = app.ws(TRANSPORT_WS).await;
    third
        .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", lia.access) } }))
        .await;
    assert_eq!(
        third.expect_close().await,
        (4429, "Too many connections for this user".into())
    );
    // Another user is counted apart, and closing a socket frees its slot.
    let mut others = app.ws(TRANSPORT_WS).await;
    others.init(Some(&max.access)).await;
    drop(first);
    let mut again = app.ws(TRANSPORT_WS).await;
    // The server notices the dropped socket when its close frame arrives; retry until then.
    loop {
        again
            .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", lia.access) } }))
            .await;
        match again.next().await {
            WsEvent::Json(ack) => {
                assert_eq!(ack["type"], "connection_ack");
                break;
            }
            WsEvent::Closed(code, _) => {
                assert_eq!(code, 4429);
                again = app.ws(TRANSPORT_WS).await;
                tokio::task::yield_now().await;
            }
        }
    }
    viewer_query_answers(&mut second, "still-open").await;
}

#[tokio::test]
async fn a_ping_with_a_fresh_token_keeps_the_socket_open_past_the_old_tokens_expiry() {
    let app = spawn_app_with(|config| config.auth.access_token_ttl_secs = 3).await;
    let lia = app.register("lia").await;
    let mut refreshed = app.ws(TRANSPORT_WS).await;
    refreshed.init(Some(&lia.access)).await;
    let mut stale = app.ws(TRANSPORT_WS).await;
    stale.init(Some(&lia.access)).await;

    refreshed
        .send(json!({ "type": "ping", "payload": { "authorization": format!("Bearer {}", fresh_token(&app, &lia)) } }))
        .await;
    assert_eq!(refreshed.next_json().await["type"], "pong");

    // The socket that kept the old token closes when it expires...
    assert_eq!(stale.expect_close().await, (4403, "Token expired".into()));
    // ...after which the refreshed one still serves.
    viewer_query_answers(&mut refreshed, "after-expiry").await;
}

#[tokio::test]
async fn a_ping_with_an_invalid_token_closes_with_4403() {
    let app = spawn_app_with(|_| {}).await;
    let lia = app.register("lia").await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(Some(&lia.access)).await;
    ws.send(json!({ "type": "ping", "payload": { "authorization": "Bearer forged" } }))
        .await;
    assert_eq!(ws.expect_close().await.0, 4403);
}

#[tokio::test]
async fn a_legacy_client_re_authenticates_with_a_second_connection_init() {
    let app = spawn_app_with(|config| config.auth.access_token_ttl_secs = 3).await;
    let lia = app.register("lia").await;
    let mut refreshed = app.ws(LEGACY_WS).await;
    refreshed.init(Some(&lia.access)).await;
    let mut stale = app.ws(LEGACY_WS).await;
    stale.init(Some(&lia.access)).await;

    refreshed
        .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", fresh_token(&app, &lia)) } }))
        .await;
    assert_eq!(refreshed.next_json().await["type"], "connection_ack");

    assert_eq!(stale.expect_close().await, (4403, "Token expired".into()));
    refreshed
        .send(json!({ "id": "q", "type": "start", "payload": { "query": "{ viewer { username } }" } }))
        .await;
    let answer = refreshed.next_json().await;
    assert_eq!(
        answer["payload"]["data"]["viewer"]["username"], "lia",
        "{answer}"
    );
}
