//! The notification list costs a constant, small number of store round trips, whatever the
//! page size.

use serde_json::json;

use crate::helpers::{
    NOTIFICATION_ADDED, TestApp, assert_round_trips_constant, counting_config, create_post,
    open_chat, round_trips_of, send_message, spawn_app_with, store_quiet, subscribed,
};

const LIST: &str = "query($n: Int) { notifications(first: $n) { edges { node { kind
    actor { username viewerFollows } post { body author { username } } message { body author { username } } } } } }";

/// Round trips of one `notifications` request (see [`round_trips_of`]).
async fn round_trips_of_list(app: &TestApp, token: &str, first: i64) -> u64 {
    let (count, data) = round_trips_of(app, token, LIST, json!({ "n": first })).await;
    let edges = data["notifications"]["edges"].as_array().unwrap();
    assert_eq!(edges.len() as i64, first, "the page is full");
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["actor"]["username"] == "ann"),
        "{data}"
    );
    assert!(
        edges
            .iter()
            .any(|e| e["node"]["post"]["author"]["username"] == "bob")
            && edges
                .iter()
                .any(|e| e["node"]["message"]["author"]["username"] == "ann"),
        "every relation is exercised: {data}"
    );
    count
}

#[tokio::test]
async fn the_notification_list_costs_the_same_few_round_trips_for_5_10_and_20() {
    let app = spawn_app_with(counting_config).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let mut bobs = subscribed(&app, Some(&bob), "n", NOTIFICATION_ADDED, json!({})).await;
    let post = create_post(&app, &bob, "bob's").await;
    let room = open_chat(&app, &ann, &bob).await;
    for i in 0..12 {
        app.data(
            Some(&ann.access),
            "mutation($p: ID!) { addComment(postId: $p, body: \"nice\") { id } }",
            json!({ "p": post }),
        )
        .await;
        send_message(&app, &ann, &room, &format!("message {i}")).await;
    }
    for _ in 0..24 {
        assert_eq!(bobs.next_json().await["type"], "next");
    }

    let counts = [
        round_trips_of_list(&app, &bob.access, 5).await,
        round_trips_of_list(&app, &bob.access, 10).await,
        round_trips_of_list(&app, &bob.access, 20).await,
    ];
    assert_round_trips_constant("notification list", [5, 10, 20], counts, 6);
}

/// Store round trips from one message to a group of `size` until the store is quiet again:
/// the send (with its authentication), the event's append and tail read, and the notifier's
/// work for every other member. The fewest of three messages, as background work can only
/// add to a run.
async fn round_trips_of_a_group_message(app: &TestApp, size: usize) -> u64 {
    let author = app.register(&format!("author{size}")).await;
    let mut others = Vec::new();
    for i in 1..size {
        others.push(app.register(&format!("member{size}x{i}")).await);
    }
    let room = app
        .data(
            Some(&author.access),
            "mutation($m: [ID!]!) { createGroupChat(title: \"team\", memberIds: $m) { id } }",
            json!({ "m": others.iter().map(|o| o.id.clone()).collect::<Vec<_>>() }),
        )
        .await["createGroupChat"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut fewest = u64::MAX;
    for i in 0..3 {
        store_quiet(app).await;
        let before = app.core.stores.round_trips.count();
        send_message(app, &author, &room, &format!("hello {i}")).await;
        store_quiet(app).await;
        fewest = fewest.min(app.core.stores.round_trips.count() - before);
    }
    for other in &others {
        let unread = app
            .data(
                Some(&other.access),
                "{ unreadNotificationsCount }",
                json!({}),
            )
            .await;
        assert_eq!(
            unread["unreadNotificationsCount"], 3,
            "every member was notified"
        );
    }
    fewest
}

#[tokio::test]
async fn a_group_message_costs_the_notifier_the_same_round_trips_for_3_and_12_members() {
    let app = spawn_app_with(counting_config).await;
    let small = round_trips_of_a_group_message(&app, 3).await;
    let large = round_trips_of_a_group_message(&app, 12).await;
    println!("group message round trips for 3 and 12 members: [{small}, {large}]");
    assert_eq!(small, large);
}
