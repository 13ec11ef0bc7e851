//! The notification list costs a constant, small number of store round trips, whatever the
//! page size.

use serde_json::json;

use crate::chat::{open_chat, send};
use crate::chat_subscriptions::subscribed;
use crate::helpers::{TestApp, counting_config, round_trips_of, spawn_app_with};
use crate::notifications::NOTIFICATION_ADDED;

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
    let mut bobs = subscribed(&app, &bob, "n", NOTIFICATION_ADDED, json!({})).await;
    let post = app
        .data(
            Some(&bob.access),
            "mutation { createPost(input: { body: \"bob's\" }) { id } }",
            json!({}),
        )
        .await["createPost"]["id"]
        .clone();
    let room = open_chat(&app, &ann, &bob).await;
    for i in 0..12 {
        app.data(
            Some(&ann.access),
            "mutation($p: ID!) { addComment(postId: $p, body: \"nice\") { id } }",
            json!({ "p": post }),
        )
        .await;
        send(&app, &ann, &room, &format!("message {i}")).await;
    }
    for _ in 0..24 {
        assert_eq!(bobs.next_json().await["type"], "next");
    }

    let counts = [
        round_trips_of_list(&app, &bob.access, 5).await,
        round_trips_of_list(&app, &bob.access, 10).await,
        round_trips_of_list(&app, &bob.access, 20).await,
    ];
    println!("notification list round trips for first 5, 10, 20: {counts:?}");
    assert_eq!(counts[0], counts[1], "{counts:?}");
    assert_eq!(counts[1], counts[2], "{counts:?}");
    assert!(counts[0] <= 6, "the list took {} round trips", counts[0]);
}
