//! The marketplace over the API: the whole journey from listing to review, and idempotent
//! checkout.

use serde_json::{Value, json};

use crate::helpers::{
    CHECKOUT, PAY, add_to_cart, address, card, listing, move_to, order, spawn_app, stock,
};

#[tokio::test]
async fn a_listing_is_carted_bought_paid_delivered_reviewed_and_counted_in_seller_stats() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let post = listing(&app, &sam, "100.50", 3).await;

    let cart = add_to_cart(&app, &ann, &post, 2).await;
    assert_eq!(
        cart,
        json!({ "items": [{ "quantity": 2, "available": true, "lineTotal": { "amount": "201.00" },
            "post": { "id": post } }], "subtotal": { "amount": "201.00", "currency": "KZT" },
            "itemCount": 2 })
    );

    let address = address(&app, &ann).await;
    let placed = app
        .data(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": address, "k": "journey-1" }),
        )
        .await["checkout"]
        .clone();
    let id = placed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(placed[0]["status"], "PENDING_PAYMENT");
    assert_eq!(
        stock(&app, &post).await,
        json!({ "stock": 1, "status": "ACTIVE" })
    );
    let cart = app
        .data(
            Some(&ann.access),
            "{ cart { itemCount items { quantity } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cart["cart"],
        json!({ "itemCount": 0, "items": [] }),
        "the cart is emptied"
    );

    let declined = card(&app, &ann, "4000 0000 0000 0002").await;
    let poor = card(&app, &ann, "4000 0000 0000 9995").await;
    let good = card(&app, &ann, "4242 4242 4242 4242").await;
    let (code, body) = app
        .error_code(Some(&ann.access), PAY, json!({ "o": id, "c": declined }))
        .await;
    assert_eq!(code, "PAYMENT_DECLINED");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "card_declined");
    let (code, body) = app
        .error_code(Some(&ann.access), PAY, json!({ "o": id, "c": poor }))
        .await;
    assert_eq!(code, "PAYMENT_DECLINED");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "insufficient_funds"
    );
    assert_eq!(order(&app, &ann, &id).await["status"], "PENDING_PAYMENT");

    let paid = app
        .data(Some(&ann.access), PAY, json!({ "o": id, "c": good }))
        .await["payOrder"]
        .clone();
    assert_eq!(
        paid,
        json!({ "status": "PAID", "payment": { "cardLast4": "4242", "status": "SUCCEEDED" } })
    );
    let attempts = app
        .core
        .stores
        .orders
        .payment_attempts(&agora::domain::OrderId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(attempts.len(), 3, "every attempt is recorded");
    let (code, _) = app
        .error_code(Some(&ann.access), PAY, json!({ "o": id, "c": good }))
        .await;
    assert_eq!(code, "CONFLICT", "a paid order cannot be paid again");

    assert_eq!(
        order(&app, &sam, &id).await["nextStatuses"],
        json!(["PROCESSING", "CANCELLED"])
    );
    assert_eq!(
        order(&app, &ann, &id).await["nextStatuses"],
        json!(["CANCELLED"])
    );
    move_to(&app, &sam, &id, "PROCESSING").await;
    move_to(&app, &sam, &id, "SHIPPED").await;
    let out = move_to(&app, &sam, &id, "OUT_FOR_DELIVERY").await;
    assert_eq!(out["nextStatuses"], json!(["DELIVERED"]));
    move_to(&app, &ann, &id, "DELIVERED").await;

    let delivered = order(&app, &ann, &id).await;
    assert_eq!(delivered["status"], "DELIVERED");
    assert_eq!(delivered["nextStatuses"], json!([]));
    assert_eq!(
        delivered["total"],
        json!({ "amount": "201.00", "currency": "KZT" })
    );
    assert_eq!(
        delivered["items"],
        json!([{ "title": "Canon EOS R", "quantity": 2, "unitPrice": { "amount": "100.50" },
            "lineTotal": { "amount": "201.00" }, "post": { "id": post } }])
    );
    assert_eq!(delivered["shippingAddress"]["city"], "Almaty");
    let history: Vec<(String, String)> = delivered["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_owned(),
                c["by"]["username"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("PENDING_PAYMENT", "ann"),
        ("PAID", "ann"),
        ("PROCESSING", "sam"),
        ("SHIPPED", "sam"),
        ("OUT_FOR_DELIVERY", "sam"),
        ("DELIVERED", "ann"),
    ]
    .iter()
    .map(|(s, u)| (s.to_string(), u.to_string()))
    .collect();
    assert_eq!(history, expected);

    let review = app
        .data(
            Some(&ann.access),
            "mutation($p: ID!) { createReview(input: { postId: $p, rating: 5, body: \"Sharp!\" }) {
                rating body verifiedPurchase author { username } post { id } } }",
            json!({ "p": post }),
        )
        .await["createReview"]
        .clone();
    assert_eq!(
        review,
        json!({ "rating": 5, "body": "Sharp!", "verifiedPurchase": true,
            "author": { "username": "ann" }, "post": { "id": post } })
    );
    let rated = app
        .data(
            None,
            "query($p: ID!, $u: ID!) { post(id: $p) { rating { average count histogram }
                reviews { totalCount edges { node { rating } } } }
                user(id: $u) { sellerRating { average count } } }",
            json!({ "p": post, "u": sam.id }),
        )
        .await;
    assert_eq!(
        rated["post"]["rating"],
        json!({ "average": 5.0, "count": 1, "histogram": [0, 0, 0, 0, 1] })
    );
    assert_eq!(rated["post"]["reviews"]["totalCount"], 1);
    assert_eq!(
        rated["user"]["sellerRating"],
        json!({ "average": 5.0, "count": 1 })
    );

    let stats = app
        .data(
            Some(&sam.access),
            "{ sellerStats { revenue { amount currency } rating { average count }
                ordersByStatus { status count } listingsByStatus { status count } } }",
            json!({}),
        )
        .await["sellerStats"]
        .clone();
    assert_eq!(
        stats["revenue"],
        json!([{ "amount": "201.00", "currency": "KZT" }])
    );
    assert_eq!(stats["rating"], json!({ "average": 5.0, "count": 1 }));
    let count_of = |list: &Value, status: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["status"] == status)
            .map(|e| e["count"].as_i64().unwrap())
    };
    assert_eq!(count_of(&stats["ordersByStatus"], "DELIVERED"), Some(1));
    assert_eq!(count_of(&stats["ordersByStatus"], "PAID"), Some(0));
    assert_eq!(count_of(&stats["listingsByStatus"], "ACTIVE"), Some(1));
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_orders_and_another_cart_conflicts() {
    let app = spawn_app().await;
    let (sam, sue) = (app.seller("sam").await, app.seller("sue").await);
    let ann = app.register("ann").await;
    let (a, b) = (
        listing(&app, &sam, "10", 5).await,
        listing(&app, &sue, "20", 5).await,
    );
    add_to_cart(&app, &ann, &a, 1).await;
    add_to_cart(&app, &ann, &b, 2).await;
    let address = address(&app, &ann).await;
    let first = app
        .data(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": address, "k": "k-1" }),
        )
        .await["checkout"]
        .clone();
    assert_eq!(first.as_array().unwrap().len(), 2, "one order per seller");
    let again = app
        .data(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": address, "k": "k-1" }),
        )
        .await["checkout"]
        .clone();
    assert_eq!(again, first, "a replay returns the stored orders");
    assert_eq!(stock(&app, &a).await["stock"], 4, "stock taken once");

    add_to_cart(&app, &ann, &a, 3).await;
    let (code, body) = app
        .error_code(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": address, "k": "k-1" }),
        )
        .await;
    assert_eq!(code, "CONFLICT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["field"],
        "input.idempotencyKey"
    );
}
