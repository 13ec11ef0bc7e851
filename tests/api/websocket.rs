//! `/graphql/ws`: both protocols, authentication in `connection_init`, and every close code.

use serde_json::json;

use crate::helpers::{WsEvent, spawn_app, spawn_app_with};

const TRANSPORT_WS: &str = "graphql-transport-ws";
const LEGACY_WS: &str = "graphql-ws";

#[tokio::test]
async fn a_subscription_delivers_the_viewers_updates_over_graphql_transport_ws() {
    let app = spawn_app().await;
    let lia = app.register("lia").await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(Some(&lia.access)).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { viewerUpdated { displayName } }" } }))
        .await;
    // A query on the same socket answers once and completes; it also proves the
    // subscription above is registered before the mutation below runs.
    ws.send(json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ viewer { username } }" } })).await;
    let answer = ws.next_json().await;
    assert_eq!(
        answer,
        json!({ "type": "next", "id": "2", "payload": { "data": { "viewer": { "username": "lia" } } } })
    );
    assert_eq!(
        ws.next_json().await,
        json!({ "type": "complete", "id": "2" })
    );

    app.data(
        Some(&lia.access),
        "mutation { updateProfile(input: { displayName: \"Lia L.\" }) { id } }",
        json!({}),
    )
    .await;
    let event = ws.next_json().await;
    assert_eq!(
        event,
        json!({ "type": "next", "id": "1", "payload": { "data": { "viewerUpdated": { "displayName": "Lia L." } } } })
    );

    ws.send(json!({ "id": "1", "type": "complete" })).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next_json().await, json!({ "type": "pong" }));
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_passes_the_same_subscription_test() {
    let app = spawn_app().await;
    let lia = app.register("lia").await;
    let mut ws = app.ws(LEGACY_WS).await;
    ws.init(Some(&lia.access)).await;
    ws.send(json!({ "id": "1", "type": "start", "payload": { "query": "subscription { viewerUpdated { displayName } }" } }))
        .await;
    ws.send(
        json!({ "id": "2", "type": "start", "payload": { "query": "{ viewer { username } }" } }),
    )
    .await;
    assert_eq!(ws.next_json().await["type"], "data");
    assert_eq!(
        ws.next_json().await,
        json!({ "type": "complete", "id": "2" })
    );

    app.data(
        Some(&lia.access),
        "mutation { updateProfile(input: { displayName: \"Lia L.\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        ws.next_json().await,
        json!({ "type": "data", "id": "1", "payload": { "data": { "viewerUpdated": { "displayName": "Lia L." } } } })
    );
    ws.send(json!({ "type": "connection_terminate" })).await;
    assert_eq!(ws.expect_close().await.0, 1000);
}

#[tokio::test]
async fn a_legacy_client_with_a_bad_token_gets_connection_error_then_4403() {
    let app = spawn_app().await;
    let mut ws = app.ws(LEGACY_WS).await;
    ws.send(json!({ "type": "connection_init", "payload": { "authorization": "Bearer forged" } }))
        .await;
    assert_eq!(ws.next_json().await["type"], "connection_error");
    assert_eq!(ws.expect_close().await.0, 4403);
}

#[tokio::test]
async fn an_invalid_token_in_connection_init_closes_with_4403() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.send(json!({ "type": "connection_init", "payload": { "authorization": "Bearer forged.token.here" } })).await;
    assert_eq!(ws.expect_close().await.0, 4403);
}

#[tokio::test]
async fn no_connection_init_within_the_timeout_closes_with_4408() {
    let app = spawn_app_with(|config| config.websocket.init_timeout_secs = 1).await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    assert_eq!(
        ws.expect_close().await,
        (4408, "Connection initialisation timeout".into())
    );
}

#[tokio::test]
async fn subscribing_before_the_ack_closes_with_4401() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ viewer { id } }" } }))
        .await;
    assert_eq!(ws.expect_close().await, (4401, "Unauthorized".into()));
}

#[tokio::test]
async fn an_invalid_message_closes_with_4400() {
    let app = spawn_app().await;
    for bad in [
        "not json",
        r#"{"type":"subscribe","payload":{"query":"{a}"}}"#,
        r#"{"type":"launch"}"#,
    ] {
        let mut ws = app.ws(TRANSPORT_WS).await;
        ws.init(None).await;
        ws.send_text(bad).await;
        assert_eq!(ws.expect_close().await.0, 4400, "{bad}");
    }
}

#[tokio::test]
async fn a_duplicate_operation_id_closes_with_4409() {
    let app = spawn_app().await;
    let lia = app.register("lia").await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(Some(&lia.access)).await;
    let subscribe = json!({ "id": "dup", "type": "subscribe", "payload": { "query": "subscription { viewerUpdated { id } }" } });
    ws.send(subscribe.clone()).await;
    ws.send(subscribe).await;
    assert_eq!(
        ws.expect_close().await,
        (4409, "Subscriber for dup already exists".into())
    );
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(None).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(
        ws.expect_close().await,
        (4429, "Too many initialisation requests".into())
    );
}

#[tokio::test]
async fn an_invalid_operation_gets_an_error_message_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(None).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ nope }" } }))
        .await;
    let error = ws.next_json().await;
    assert_eq!(error["type"], "error");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    ws.send(json!({ "id": "2", "type": "subscribe", "payload": { "query": "subscription { viewerUpdated { id } }" } })).await;
    let error = ws.next_json().await;
    assert_eq!(
        (error["id"].as_str(), error["type"].as_str()),
        (Some("2"), Some("next")),
        "{error}"
    );
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn logging_out_everywhere_closes_the_users_open_sockets() {
    let app = spawn_app().await;
    let lia = app.register("lia").await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(Some(&lia.access)).await;
    app.data(
        Some(&lia.access),
        "mutation { logoutEverywhere }",
        json!({}),
    )
    .await;
    match ws.next().await {
        WsEvent::Closed(code, _) => assert_eq!(code, 4403),
        WsEvent::Json(message) => panic!("expected the socket to close, got {message}"),
    }
}

#[tokio::test]
async fn a_socket_without_a_known_subprotocol_is_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/graphql/ws", app.address))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "mqtt")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
