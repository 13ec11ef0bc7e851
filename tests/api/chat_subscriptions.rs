//! `messageAdded` and `typing` over the real WebSocket: members only, replay after a cursor,
//! typing to the others, both protocols, and the rate limits on sending and typing.

use serde_json::json;

use crate::helpers::{
    Account, MESSAGE_ADDED, TestApp, error_code, next_body, next_payload, open_chat, send_message,
    spawn_app, spawn_app_with, subscribed, subscribed_legacy,
};

const TRANSPORT_WS: &str = "graphql-transport-ws";

const TYPING: &str = "subscription($r: ID!) { typing(roomId: $r) { roomId user { username } } }";

#[tokio::test]
async fn message_added_reaches_members_and_refuses_outsiders() {
    let app = spawn_app().await;
    let (ann, bob, eve, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("eve").await,
        app.register("cat").await,
    );
    let room = open_chat(&app, &ann, &bob).await;
    let eves_room = open_chat(&app, &eve, &cat).await;
    let mut bob_ws = subscribed(&app, Some(&bob), "1", MESSAGE_ADDED, json!({ "r": room })).await;
    let mut eve_ws = subscribed(
        &app,
        Some(&eve),
        "1",
        MESSAGE_ADDED,
        json!({ "r": eves_room }),
    )
    .await;

    let sent = send_message(&app, &ann, &room, "hello bob").await;
    let payload = next_payload(&mut bob_ws, "1").await;
    assert_eq!(
        payload,
        json!({ "data": { "messageAdded": { "body": "hello bob", "cursor": sent["cursor"], "author": { "username": "ann" } } } })
    );
    // Eve's next event is Cat's message: Ann's never reached her.
    send_message(&app, &cat, &eves_room, "hi eve").await;
    assert_eq!(next_body(&mut eve_ws, "1").await, "hi eve");

    eve_ws
        .send(json!({ "id": "2", "type": "subscribe", "payload": { "query": MESSAGE_ADDED, "variables": { "r": room } } }))
        .await;
    assert_eq!(error_code(&mut eve_ws, "2").await, "NOT_FOUND");

    let mut anonymous = app.ws(TRANSPORT_WS).await;
    anonymous.init(None).await;
    anonymous
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": MESSAGE_ADDED, "variables": { "r": room } } }))
        .await;
    assert_eq!(error_code(&mut anonymous, "1").await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn message_added_after_a_cursor_replays_the_missed_messages_then_continues_live() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = open_chat(&app, &ann, &bob).await;
    let seen = send_message(&app, &ann, &room, "m1").await;
    for body in ["m2", "m3", "m4"] {
        send_message(&app, &ann, &room, body).await;
    }

    // No readiness wait is needed: whatever comes after the cursor is owed, replayed or live.
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(Some(&bob.access)).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": MESSAGE_ADDED, "variables": { "r": room, "a": seen["cursor"] } } }))
        .await;
    for expected in ["m2", "m3", "m4"] {
        assert_eq!(next_body(&mut ws, "1").await, expected);
    }
    send_message(&app, &ann, &room, "m5").await;
    send_message(&app, &bob, &room, "m6").await;
    assert_eq!(next_body(&mut ws, "1").await, "m5");
    assert_eq!(next_body(&mut ws, "1").await, "m6");

    ws.send(json!({ "id": "2", "type": "subscribe", "payload": { "query": MESSAGE_ADDED, "variables": { "r": room, "a": "not a cursor!" } } }))
        .await;
    assert_eq!(error_code(&mut ws, "2").await, "BAD_USER_INPUT");
}

#[tokio::test]
async fn many_messages_sent_while_subscribing_arrive_once_each_in_order() {
    let app = spawn_app_with(|config| config.rate_limits.enabled = false).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = open_chat(&app, &ann, &bob).await;
    let first = send_message(&app, &ann, &room, "0").await;

    // Messages land before, during and after the subscription's switch from the store to
    // live events.
    let sender = {
        let (address, token, room) = (app.address.clone(), ann.access.clone(), room.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 1..=30 {
                let response = client
                    .post(format!("{address}/graphql"))
                    .bearer_auth(&token)
                    .json(&json!({ "query": "mutation($r: ID!, $b: String!) { sendMessage(roomId: $r, body: $b) { id } }",
                        "variables": { "r": room, "b": i.to_string() } }))
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(response.status(), 200);
            }
        })
    };
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(Some(&bob.access)).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": MESSAGE_ADDED, "variables": { "r": room, "a": first["cursor"] } } }))
        .await;
    let mut received = Vec::new();
    for _ in 1..=30 {
        received.push(next_body(&mut ws, "1").await);
    }
    sender.await.unwrap();
    let expected: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    assert_eq!(received, expected);
    // Nothing more is owed: the next event is the next message.
    send_message(&app, &bob, &room, "done").await;
    assert_eq!(next_body(&mut ws, "1").await, "done");
}

#[tokio::test]
async fn typing_reaches_the_other_members_and_not_the_typer() {
    let app = spawn_app().await;
    let (ann, bob, eve) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let room = open_chat(&app, &ann, &bob).await;
    let mut ann_ws = subscribed(&app, Some(&ann), "t", TYPING, json!({ "r": room })).await;
    let mut bob_ws = subscribed(&app, Some(&bob), "t", TYPING, json!({ "r": room })).await;
    let typing = "mutation($r: ID!) { sendTyping(roomId: $r) }";

    app.data(Some(&ann.access), typing, json!({ "r": room }))
        .await;
    assert_eq!(
        next_payload(&mut bob_ws, "t").await,
        json!({ "data": { "typing": { "roomId": room, "user": { "username": "ann" } } } })
    );
    app.data(Some(&bob.access), typing, json!({ "r": room }))
        .await;
    // Ann's first event is Bob's typing: her own never came back to her.
    assert_eq!(
        next_payload(&mut ann_ws, "t").await["data"]["typing"]["user"]["username"],
        "bob"
    );
    // Both crossed the event log as ephemeral entries, which go with the next prune.
    let log = &app.core.stores.event_log;
    let soon = agora::clock::now() + chrono::Duration::seconds(1);
    assert_eq!(log.prune_ephemeral(soon).await.unwrap(), 2);

    let (code, _) = app
        .error_code(Some(&eve.access), typing, json!({ "r": room }))
        .await;
    assert_eq!(code, "NOT_FOUND");
    let mut eve_ws = app.ws(TRANSPORT_WS).await;
    eve_ws.init(Some(&eve.access)).await;
    eve_ws
        .send(json!({ "id": "t", "type": "subscribe", "payload": { "query": TYPING, "variables": { "r": room } } }))
        .await;
    assert_eq!(error_code(&mut eve_ws, "t").await, "NOT_FOUND");
}

#[tokio::test]
async fn typing_and_sending_are_rate_limited_per_user() {
    let app = spawn_app_with(|config| {
        config.rate_limits.typing_per_user = "2/1m".parse().unwrap();
        config.rate_limits.message_per_user = "2/1m".parse().unwrap();
    })
    .await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = open_chat(&app, &ann, &bob).await;
    let typing = "mutation($r: ID!) { sendTyping(roomId: $r) }";
    for _ in 0..2 {
        app.data(Some(&ann.access), typing, json!({ "r": room }))
            .await;
    }
    let (code, body) = app
        .error_code(Some(&ann.access), typing, json!({ "r": room }))
        .await;
    assert_eq!(code, "RATE_LIMITED");
    assert!(
        body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            > 0
    );

    send_message(&app, &ann, &room, "one").await;
    send_message(&app, &ann, &room, "two").await;
    let (code, _) = app
        .error_code(
            Some(&ann.access),
            "mutation($r: ID!) { sendMessage(roomId: $r, body: \"three\") { id } }",
            json!({ "r": room }),
        )
        .await;
    assert_eq!(code, "RATE_LIMITED");
    // Bob has his own allowance.
    send_message(&app, &bob, &room, "mine").await;
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_delivers_message_added() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = open_chat(&app, &ann, &bob).await;
    let mut ws = subscribed_legacy(
        &app,
        &bob,
        json!({ "query": MESSAGE_ADDED, "variables": { "r": room } }),
    )
    .await;

    send_message(&app, &ann, &room, "over the old protocol").await;
    let message = ws.next_json().await;
    assert_eq!(
        (message["type"].as_str(), message["id"].as_str()),
        (Some("data"), Some("1"))
    );
    assert_eq!(
        message["payload"]["data"]["messageAdded"]["body"],
        "over the old protocol"
    );
}

/// A message as a publisher that died between committing and announcing would leave it:
/// stored, never published.
async fn store_silently(app: &TestApp, room: &str, author: &Account, body: &str) {
    use agora::domain::{ChatRoomId, Message, MessageId, UserId};
    let message = Message {
        id: MessageId::generate(),
        room_id: ChatRoomId::parse(room).unwrap(),
        seq: 0,
        author_id: UserId::parse(&author.id).unwrap(),
        body: body.to_owned(),
        created_at: chrono::Utc::now(),
    };
    let stored = app.core.stores.chat.add_message(&message).await.unwrap();
    assert!(stored.is_some(), "the author is a member");
}

#[tokio::test]
async fn a_message_whose_event_never_came_is_delivered_before_the_next_one() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = open_chat(&app, &ann, &bob).await;
    let mut ws = subscribed(&app, Some(&bob), "1", MESSAGE_ADDED, json!({ "r": room })).await;

    store_silently(&app, &room, &ann, "orphan").await;
    send_message(&app, &ann, &room, "live").await;
    assert_eq!(next_body(&mut ws, "1").await, "orphan");
    assert_eq!(next_body(&mut ws, "1").await, "live");
    send_message(&app, &ann, &room, "after").await;
    assert_eq!(next_body(&mut ws, "1").await, "after");
}

#[tokio::test]
async fn a_subscriber_that_fell_behind_the_bus_catches_up_from_the_store() {
    // The tail only looks at the log when woken (no poll during the test), so the entries
    // appended below behind its back are delivered in one burst.
    let app = spawn_app_with(|config| config.store.event_log_poll_ms = 3_600_000).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room = open_chat(&app, &ann, &bob).await;
    let mut ws = subscribed(&app, Some(&bob), "1", MESSAGE_ADDED, json!({ "r": room })).await;

    store_silently(&app, &room, &ann, "missed").await;
    // More events than the bus keeps for a receiver, appended to the log without waking the
    // tail; the publish after them wakes it, and it delivers them all without yielding: this
    // test runs on one thread with the server, so the subscriber cannot keep up and lags.
    let noise = agora::events::DomainEvent::Typing {
        room_id: agora::domain::ChatRoomId::generate(),
        user_id: agora::domain::UserId::parse(&ann.id).unwrap(),
        members: Vec::new(),
    };
    let body = serde_json::to_string(&noise).unwrap();
    for _ in 0..=agora::events::EventBus::CAPACITY {
        app.core
            .stores
            .event_log
            .append_entries(
                std::slice::from_ref(&body),
                chrono::Utc::now(),
                agora::store::Retention::Durable,
            )
            .await
            .unwrap();
    }
    app.core.services.events.publish(noise).await;
    assert_eq!(next_body(&mut ws, "1").await, "missed");
    send_message(&app, &ann, &room, "live").await;
    assert_eq!(next_body(&mut ws, "1").await, "live");
}
