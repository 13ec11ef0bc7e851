//! The order list costs a constant number of store round trips, whatever the page size.

use serde_json::json;

use crate::helpers::{
    CHECKOUT, TestApp, add_to_cart, address, assert_round_trips_constant, counting_app_on_mongodb,
    counting_config, listing, round_trips_of, spawn_app_with,
};

const ORDERS: &str = "query($n: Int) { orders(first: $n) { edges { node {
    number total { amount } items { title quantity post { id listing { stock } } }
    buyer { username } seller { username } statusHistory { by { username } } nextStatuses } } } }";

/// Round trips of one `orders` request (see [`round_trips_of`]).
async fn round_trips_of_orders(app: &TestApp, token: &str, first: i64) -> u64 {
    let (count, data) = round_trips_of(app, token, ORDERS, json!({ "n": first })).await;
    let edges = data["orders"]["edges"].as_array().unwrap();
    assert_eq!(edges.len() as i64, first, "the page is full");
    assert!(
        edges
            .iter()
            .all(|e| e["node"]["seller"]["username"] == "sam"
                && e["node"]["buyer"]["username"] == "ann"
                && e["node"]["items"][0]["post"]["listing"]["stock"] == 0),
        "every relation is exercised: {data}"
    );
    count
}

#[tokio::test]
async fn the_order_list_costs_the_same_few_round_trips_for_5_10_and_20_orders() {
    let app = spawn_app_with(counting_config).await;
    assert_order_list_round_trips_are_constant(&app).await;
}

/// The same on MongoDB, where every driver command counts, at `TEST_MONGODB_URI`.
#[tokio::test]
#[ignore = "needs TEST_MONGODB_URI: a MongoDB server (see README, Testing)"]
async fn the_order_list_costs_the_same_few_round_trips_on_mongodb() {
    let mongo = counting_app_on_mongodb().await;
    assert_order_list_round_trips_are_constant(&mongo.app).await;
    mongo.drop_database().await;
}

/// One buyer with 20 orders of one seller, each of a listing it sold out.
async fn assert_order_list_round_trips_are_constant(app: &TestApp) {
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let address = address(app, &ann).await;
    for i in 0..20 {
        let post = listing(app, &sam, "10", 1).await;
        add_to_cart(app, &ann, &post, 1).await;
        app.data(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": address, "k": format!("k{i}") }),
        )
        .await;
    }
    let counts = [
        round_trips_of_orders(app, &ann.access, 5).await,
        round_trips_of_orders(app, &ann.access, 10).await,
        round_trips_of_orders(app, &ann.access, 20).await,
    ];
    assert_round_trips_constant("order list", [5, 10, 20], counts, 4);
}
