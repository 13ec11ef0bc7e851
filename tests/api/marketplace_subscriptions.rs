//! `orderUpdated` over the real WebSocket: the buyer and the seller of an order get each
//! change as the stored order; anyone else is refused; without an id, every order of mine.

use serde_json::json;

use crate::helpers::{buy, error_code, listing, next_payload, spawn_app, subscribed};

const ORDER_UPDATED: &str =
    "subscription($o: ID) { orderUpdated(orderId: $o) { id status nextStatuses } }";

#[tokio::test]
async fn order_updated_reaches_buyer_and_seller_and_refuses_outsiders() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let post = listing(&app, &sam, "10", 5).await;
    let id = buy(&app, &ann, &post, 1, "k").await;

    let mut ann_ws = subscribed(&app, Some(&ann), "1", ORDER_UPDATED, json!({ "o": id })).await;
    let mut sam_all = subscribed(&app, Some(&sam), "1", ORDER_UPDATED, json!({})).await;
    app.data(
        Some(&ann.access),
        "mutation($o: ID!) { cancelOrder(orderId: $o) { status } }",
        json!({ "o": id }),
    )
    .await;
    let expected = json!({ "data": { "orderUpdated": { "id": id, "status": "CANCELLED", "nextStatuses": [] } } });
    assert_eq!(next_payload(&mut ann_ws, "1").await, expected);
    assert_eq!(next_payload(&mut sam_all, "1").await, expected);

    // A new order of Sam's reaches his subscription without an id; Ann's stays quiet.
    let second = buy(&app, &ann, &post, 1, "k2").await;
    let placed = next_payload(&mut sam_all, "1").await;
    assert_eq!(placed["data"]["orderUpdated"]["id"], second.as_str());
    assert_eq!(placed["data"]["orderUpdated"]["status"], "PENDING_PAYMENT");
    let (code, _) = app
        .error_code(
            Some(&sam.access),
            "mutation($o: ID!, $s: OrderStatus!) { updateOrderStatus(orderId: $o, status: $s) { status } }",
            json!({ "o": second, "s": "PROCESSING" }),
        )
        .await;
    assert_eq!(code, "CONFLICT", "an unpaid order is not processed");

    let mut bob_ws = app.ws("graphql-transport-ws").await;
    bob_ws.init(Some(&bob.access)).await;
    bob_ws
        .send(json!({ "id": "x", "type": "subscribe", "payload": { "query": ORDER_UPDATED, "variables": { "o": id } } }))
        .await;
    assert_eq!(error_code(&mut bob_ws, "x").await, "NOT_FOUND");
}
