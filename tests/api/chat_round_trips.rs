//! The room list costs a constant, small number of store round trips, whatever the page size.

use serde_json::json;

use crate::helpers::{
    TestApp, assert_round_trips_constant, counting_app_on_mongodb, counting_config, round_trips_of,
    spawn_app_with,
};

const ROOMS: &str = "query($n: Int) { chatRooms(first: $n) { edges { node {
    members { username } lastMessage { body author { username } } unreadCount listing { title } } } } }";

/// Round trips of one `chatRooms` request (see [`round_trips_of`]).
async fn round_trips_of_rooms(app: &TestApp, token: &str, first: i64) -> u64 {
    let (count, data) = round_trips_of(app, token, ROOMS, json!({ "n": first })).await;
    let edges = data["chatRooms"]["edges"].as_array().unwrap();
    assert_eq!(edges.len() as i64, first, "the page is full");
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["lastMessage"]["author"]["username"] == "sam"
                && e["node"]["unreadCount"] == 1
                && e["node"]["listing"]["title"].is_string()),
        "every relation is exercised: {data}"
    );
    count
}

#[tokio::test]
async fn the_room_list_costs_the_same_few_round_trips_for_5_10_and_20_rooms() {
    let app = spawn_app_with(counting_config).await;
    assert_room_list_round_trips_are_constant(&app).await;
}

/// The same on MongoDB, where every driver command counts, at `TEST_MONGODB_URI`.
#[tokio::test]
#[ignore = "needs TEST_MONGODB_URI: a MongoDB server (see README, Testing)"]
async fn the_room_list_costs_the_same_few_round_trips_on_mongodb() {
    let mongo = counting_app_on_mongodb().await;
    assert_room_list_round_trips_are_constant(&mongo.app).await;
    mongo.drop_database().await;
}

/// One buyer with 20 rooms: one per listing of the same seller (a direct room is per pair
/// *and* listing), each with a message from the seller.
async fn assert_room_list_round_trips_are_constant(app: &TestApp) {
    let viewer = app.register("viewer").await;
    let sam = app.seller("sam").await;
    for i in 0..20 {
        let listing = app
            .data(
                Some(&sam.access),
                "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }",
                json!({ "i": { "kind": "LISTING", "title": format!("Item {i}"), "body": "for sale",
                    "listing": { "price": { "amount": "100", "currency": "KZT" }, "stock": 1 } } }),
            )
            .await["createPost"]["id"]
            .clone();
        let room = app
            .data(
                Some(&viewer.access),
                "mutation($u: ID!, $l: ID) { openChat(userId: $u, listingId: $l) { id } }",
                json!({ "u": sam.id, "l": listing }),
            )
            .await["openChat"]["id"]
            .clone();
        app.data(
            Some(&sam.access),
            "mutation($r: ID!) { sendMessage(roomId: $r, body: \"still available\") { id } }",
            json!({ "r": room }),
        )
        .await;
    }

    let counts = [
        round_trips_of_rooms(app, &viewer.access, 5).await,
        round_trips_of_rooms(app, &viewer.access, 10).await,
        round_trips_of_rooms(app, &viewer.access, 20).await,
    ];
    assert_round_trips_constant("room list", [5, 10, 20], counts, 6);
}
