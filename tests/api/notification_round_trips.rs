//! The notification list costs a constant, small number of store round trips, whatever the
//! page size.

use serde_json::json;

use crate::chat::{open_chat, send};
use crate::chat_subscriptions::subscribed;
use crate::helpers::{TestApp, counting_config, fewest_of_three, spawn_app_with};
use crate::notifications::NOTIFICATION_ADDED;

const LIST: &str = "query($n: Int) { notifications(first: $n) { edges { node { kind
    actor { username viewerFollows } post { body author { username } } message { body author { username } } } } } }";

/// The fewest of three runs (see [`fewest_of_three`]).
async fn round_trips_of_list(app: &TestApp, token: &str, first: i64) -> u64 {
    fewest_of_three(app, || round_trips_of_list_once(app, token, first)).await
}

async fn round_trips_of_list_once(app: &TestApp, token: &str, first: i64) -> u64 {
    let viewer = app
        .core
        .services
        .accounts
        .authenticate(token)
        .await
        .unwrap();
    let request = agora::graphql::prepare_request(
        async_graphql::Request::new(LIST)
            .variables(async_graphql::Variables::from_json(json!({ "n": first }))),
        &app.core.services,
        Some(viewer),
        agora::graphql::RequestId("notification-round-trips".into()),
        agora::service::ClientOrigin::default(),
    );
    let before = app.core.stores.round_trips.count();
    let response = app.core.schema.execute(request).await;
    let after = app.core.stores.round_trips.count();
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
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
    after - before
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
