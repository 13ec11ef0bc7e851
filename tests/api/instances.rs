//! Two app instances on one SQLite store: events published on one reach sockets on the
//! other, through the stored event log that both tail.

use serde_json::json;

use crate::helpers::{
    MESSAGE_ADDED, TestApp, WsEvent, next_body, open_chat, send_message, spawn_app, spawn_app_with,
    subscribed,
};

/// A second instance on `first`'s data directory (same database file, same JWT key).
async fn second_instance(first: &TestApp) -> TestApp {
    let dir = first.data_dir.path().to_owned();
    spawn_app_with(move |config| config.store.data_dir = dir).await
}

#[tokio::test]
async fn a_message_sent_on_one_instance_reaches_a_subscriber_on_the_other() {
    let a = spawn_app().await;
    let b = second_instance(&a).await;
    let (ann, bob) = (a.register("ann").await, a.register("bob").await);
    let room = open_chat(&a, &ann, &bob).await;
    let mut on_b = subscribed(&b, Some(&bob), "1", MESSAGE_ADDED, json!({ "r": room })).await;

    send_message(&a, &ann, &room, "across instances").await;

    assert_eq!(next_body(&mut on_b, "1").await, "across instances");
}

#[tokio::test]
async fn logging_out_everywhere_on_one_instance_closes_a_socket_on_the_other() {
    let a = spawn_app().await;
    let b = second_instance(&a).await;
    let lia = a.register("lia").await;
    let mut on_b = b.ws("graphql-transport-ws").await;
    on_b.init(Some(&lia.access)).await;

    a.data(
        Some(&lia.access),
        "mutation { logoutEverywhere }",
        json!({}),
    )
    .await;

    match on_b.next().await {
        WsEvent::Closed(code, _) => assert_eq!(code, 4403),
        WsEvent::Json(message) => panic!("expected the socket to close, got {message}"),
    }
}

#[tokio::test]
async fn a_password_change_or_deactivation_on_one_instance_closes_sockets_on_the_other() {
    let a = spawn_app().await;
    let b = second_instance(&a).await;
    let (lia, max) = (a.register("lia").await, a.register("max").await);
    let admin = a.admin().await;
    // Changing the password ends lia's other sessions (the one changing it stays).
    let lia_elsewhere = a.login(&lia.email, &lia.password).await;
    let mut lias = b.ws("graphql-transport-ws").await;
    lias.init(Some(&lia_elsewhere.access)).await;
    let mut maxs = b.ws("graphql-transport-ws").await;
    maxs.init(Some(&max.access)).await;

    a.data(
        Some(&lia.access),
        "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"another-long-one\") }",
        json!({ "c": lia.password }),
    )
    .await;
    a.data(
        Some(&admin.access),
        "mutation($u: ID!) { setUserActive(userId: $u, active: false) { id } }",
        json!({ "u": max.id }),
    )
    .await;

    for ws in [&mut lias, &mut maxs] {
        match ws.next().await {
            WsEvent::Closed(code, _) => assert_eq!(code, 4403),
            WsEvent::Json(message) => panic!("expected the socket to close, got {message}"),
        }
    }
}

#[tokio::test]
async fn a_mixed_batch_is_logged_in_order_with_only_typing_ephemeral() {
    use agora::domain::{ChatRoomId, UserId};
    use agora::events::DomainEvent;
    let app = spawn_app().await;
    let log = &app.core.stores.event_log;
    let start = log.last_seq().await.unwrap();
    let (ann, bob) = (UserId::generate(), UserId::generate());
    // Unfollows notify no one, so the notifier stays out of the log.
    let unfollowed = |n: usize| DomainEvent::Unfollowed {
        follower: if n == 0 { ann.clone() } else { bob.clone() },
        followee: if n == 0 { bob.clone() } else { ann.clone() },
    };
    let typing = DomainEvent::Typing {
        room_id: ChatRoomId::generate(),
        user_id: ann.clone(),
        members: vec![ann.clone(), bob.clone()],
    };
    app.core
        .services
        .events
        .publish_all(vec![unfollowed(0), typing, unfollowed(1)])
        .await;

    let kinds = |entries: Vec<agora::store::LogEntry>| {
        entries
            .iter()
            .map(|e| e.body.split('"').nth(1).unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let logged = log.read_after(start, 10).await.unwrap();
    assert_eq!(kinds(logged), ["Unfollowed", "Typing", "Unfollowed"]);
    let soon = agora::clock::now() + chrono::Duration::seconds(1);
    assert_eq!(log.prune_ephemeral(soon).await.unwrap(), 1);
    let kept = log.read_after(start, 10).await.unwrap();
    assert_eq!(kinds(kept), ["Unfollowed", "Unfollowed"]);
}
