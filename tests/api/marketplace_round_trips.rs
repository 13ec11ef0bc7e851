//! The order list costs a constant number of store round trips, whatever the page size.

use serde_json::json;

use crate::helpers::{TestApp, counting_config, fewest_of_three, spawn_app_with};
use crate::marketplace::{address, listing};

const ORDERS: &str = "query($n: Int) { orders(first: $n) { edges { node {
    number total { amount } items { title quantity post { id listing { stock } } }
    buyer { username } seller { username } statusHistory { by { username } } nextStatuses } } } }";

/// Round trips of one `orders` request, the fewest of three runs (see [`fewest_of_three`]).
async fn round_trips_of_orders(app: &TestApp, token: &str, first: i64) -> u64 {
    fewest_of_three(app, || round_trips_of_orders_once(app, token, first)).await
}

async fn round_trips_of_orders_once(app: &TestApp, token: &str, first: i64) -> u64 {
    let viewer = app
        .core
        .services
        .accounts
        .authenticate(token)
        .await
        .unwrap();
    let request = agora::graphql::prepare_request(
        async_graphql::Request::new(ORDERS)
            .variables(async_graphql::Variables::from_json(json!({ "n": first }))),
        &app.core.services,
        Some(viewer),
        agora::graphql::RequestId("order-round-trips".into()),
        agora::service::ClientOrigin::default(),
    );
    let before = app.core.stores.round_trips.count();
    let response = app.core.schema.execute(request).await;
    let after = app.core.stores.round_trips.count();
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
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
    after - before
}

#[tokio::test]
async fn the_order_list_costs_the_same_few_round_trips_for_5_10_and_20_orders() {
    let app = spawn_app_with(counting_config).await;
    assert_order_list_round_trips_are_constant(&app).await;
}

/// The same on MongoDB, where every driver command counts, when `TEST_MONGODB_URI` is set.
#[tokio::test]
async fn the_order_list_costs_the_same_few_round_trips_on_mongodb() {
    let Some(uri) = std::env::var("TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!("skipped: TEST_MONGODB_URI is not set");
        return;
    };
    let database = format!("agora_api_{}", uuid::Uuid::now_v7().simple());
    let app = spawn_app_with(|config| {
        counting_config(config);
        config.store.mongodb_uri = Some(uri.clone());
        config.store.mongodb_database = database.clone();
    })
    .await;
    assert_order_list_round_trips_are_constant(&app).await;
    if let Ok(client) = mongodb::Client::with_uri_str(&uri).await {
        let _ = client.database(&database).drop().await;
    }
}

/// One buyer with 20 orders of one seller, each of a listing it sold out.
async fn assert_order_list_round_trips_are_constant(app: &TestApp) {
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let address = address(app, &ann).await;
    for i in 0..20 {
        let post = listing(app, &sam, "10", 1).await;
        crate::marketplace::add_to_cart(app, &ann, &post, 1).await;
        app.data(
            Some(&ann.access),
            crate::marketplace::CHECKOUT,
            json!({ "a": address, "k": format!("k{i}") }),
        )
        .await;
    }
    let counts = [
        round_trips_of_orders(app, &ann.access, 5).await,
        round_trips_of_orders(app, &ann.access, 10).await,
        round_trips_of_orders(app, &ann.access, 20).await,
    ];
    println!("orders round trips for first 5, 10, 20: {counts:?}");
    assert_eq!(counts[0], counts[1], "{counts:?}");
    assert_eq!(counts[1], counts[2], "{counts:?}");
    assert!(
        counts[0] <= 4,
        "the order list took {} round trips",
        counts[0]
    );
}
