//! Abuse of the marketplace by its own users, over the API: holding stock in unpaid orders
//! (issue 12: "one unpaid checkout of 5 units turned a stock-5 listing SOLD for 30 minutes")
//! and ratings moved by accounts that never bought (issue 12: "a 1★ unverified review and a
//! 5★ verified one average 3.0; nothing tells them apart").

use serde_json::{Value, json};

use crate::helpers::{
    Account, CHECKOUT, PAY, TestApp, add_to_cart, address, buy, card, listing, move_to, spawn_app,
    spawn_app_with, stock,
};

const UPDATE_LINE: &str =
    "mutation($p: ID!, $q: Int!) { updateCartItem(postId: $p, quantity: $q) { itemCount } }";

/// Checks out the buyer's cart, expecting a refusal; the error's code, field and message.
async fn refused_checkout(app: &TestApp, buyer: &Account, key: &str) -> (String, Value, String) {
    let address = address(app, buyer).await;
    let (code, body) = app
        .error_code(
            Some(&buyer.access),
            CHECKOUT,
            json!({ "a": address, "k": key }),
        )
        .await;
    let error = &body["errors"][0];
    (
        code,
        error["extensions"]["field"].clone(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn still_answers(app: &TestApp) {
    assert_eq!(
        app.data(None, "{ __typename }", json!({})).await,
        json!({ "__typename": "Query" })
    );
}

#[tokio::test]
async fn one_unpaid_checkout_cannot_take_the_whole_stock_of_a_listing() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let post = listing(&app, &sam, "100", 5).await;

    // The traffic of the attack: the whole stock of five in the cart, then checkout.
    add_to_cart(&app, &ann, &post, 5).await;
    let (code, field, message) = refused_checkout(&app, &ann, "hoard").await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(field, "cart");
    assert!(
        message.contains("at most 3 unit(s) of one listing in unpaid orders"),
        "{message}"
    );
    assert_eq!(
        stock(&app, &post).await,
        json!({ "stock": 5, "status": "ACTIVE" }),
        "nothing was taken"
    );
    let orders = app
        .data(
            Some(&ann.access),
            "{ orders { totalCount } cart { itemCount } }",
            json!({}),
        )
        .await;
    assert_eq!(orders["orders"]["totalCount"], 0);
    assert_eq!(orders["cart"]["itemCount"], 5, "the cart is kept");
    still_answers(&app).await;

    // Within the limit the same key goes through, and what is held counts afterwards.
    app.data(Some(&ann.access), UPDATE_LINE, json!({ "p": post, "q": 3 }))
        .await;
    let address = address(&app, &ann).await;
    app.data(
        Some(&ann.access),
        CHECKOUT,
        json!({ "a": address, "k": "hoard" }),
    )
    .await;
    assert_eq!(
        stock(&app, &post).await,
        json!({ "stock": 2, "status": "ACTIVE" })
    );
    add_to_cart(&app, &ann, &post, 1).await;
    let (code, field, message) = refused_checkout(&app, &ann, "more").await;
    assert_eq!((code.as_str(), &field), ("BAD_USER_INPUT", &json!("cart")));
    assert!(message.contains("you hold 3"), "{message}");
    assert_eq!(stock(&app, &post).await["stock"], 2);

    // Someone else can still buy what is left.
    let bob = app.register("bob").await;
    buy(&app, &bob, &post, 2, "bob").await;
    assert_eq!(
        stock(&app, &post).await,
        json!({ "stock": 0, "status": "SOLD" })
    );
}

#[tokio::test]
async fn the_unpaid_limits_are_configurable_and_paying_frees_room() {
    let app = spawn_app_with(|config| {
        config.orders.max_unpaid_units_per_listing = 5;
        config.orders.max_unpaid_orders = 2;
    })
    .await;
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let (a, b, c) = (
        listing(&app, &sam, "10", 5).await,
        listing(&app, &sam, "20", 5).await,
        listing(&app, &sam, "30", 5).await,
    );
    let first = buy(&app, &ann, &a, 5, "a").await;
    assert_eq!(stock(&app, &a).await["status"], "SOLD");
    buy(&app, &ann, &b, 1, "b").await;

    add_to_cart(&app, &ann, &c, 1).await;
    let (code, field, message) = refused_checkout(&app, &ann, "c").await;
    assert_eq!((code.as_str(), &field), ("BAD_USER_INPUT", &json!("cart")));
    assert!(
        message.contains("at most 2 unpaid order(s) and you have 2"),
        "{message}"
    );
    assert_eq!(stock(&app, &c).await["stock"], 5);

    let good = card(&app, &ann, "4242424242424242").await;
    app.data(Some(&ann.access), PAY, json!({ "o": first, "c": good }))
        .await;
    let address = address(&app, &ann).await;
    let placed = app
        .data(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": address, "k": "c" }),
        )
        .await;
    assert_eq!(placed["checkout"][0]["status"], "PENDING_PAYMENT");
    assert_eq!(stock(&app, &c).await["stock"], 4);
}

const RATING: &str = "rating { average count histogram verifiedAverage verifiedCount }";

async fn review(app: &TestApp, who: &Account, post: &str, stars: i64) -> Value {
    app.data(
        Some(&who.access),
        "mutation($p: ID!, $r: Int!) { createReview(input: { postId: $p, rating: $r }) {
            verifiedPurchase } }",
        json!({ "p": post, "r": stars }),
    )
    .await["createReview"]
        .clone()
}

#[tokio::test]
async fn ratings_tell_verified_purchases_apart_and_best_rated_counts_only_them() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let (ann, carl) = (app.register("ann").await, app.register("carl").await);
    let (p, q) = (
        listing(&app, &sam, "10", 5).await,
        listing(&app, &sam, "20", 5).await,
    );

    // Ann buys P and reviews it before it arrives; a stranger gives P one star and Q five.
    let order = buy(&app, &ann, &p, 1, "ann").await;
    assert_eq!(review(&app, &ann, &p, 5).await["verifiedPurchase"], false);
    assert_eq!(review(&app, &carl, &p, 1).await["verifiedPurchase"], false);
    review(&app, &carl, &q, 5).await;

    // Delivered: Ann's review becomes a verified purchase, in the numbers too.
    let good = card(&app, &ann, "4242424242424242").await;
    app.data(Some(&ann.access), PAY, json!({ "o": order, "c": good }))
        .await;
    for status in ["PROCESSING", "SHIPPED", "OUT_FOR_DELIVERY"] {
        move_to(&app, &sam, &order, status).await;
    }
    move_to(&app, &ann, &order, "DELIVERED").await;

    let data = app
        .data(
            None,
            &format!(
                "query($p: ID!, $q: ID!, $s: ID!) {{
                    p: post(id: $p) {{ {RATING} reviews {{ nodes {{ verifiedPurchase rating }} }} }}
                    q: post(id: $q) {{ {RATING} }}
                    seller: user(id: $s) {{ sellerRating {{ average count verifiedAverage verifiedCount }} }}
                    best: posts(filter: {{ authorId: $s }}, orderBy: RATING, first: 2) {{ nodes {{ id }} }} }}"
            ),
            json!({ "p": p, "q": q, "s": sam.id }),
        )
        .await;
    assert_eq!(
        data["p"]["rating"],
        json!({ "average": 3.0, "count": 2, "histogram": [1, 0, 0, 0, 1],
            "verifiedAverage": 5.0, "verifiedCount": 1 })
    );
    assert_eq!(
        data["p"]["reviews"]["nodes"],
        json!([{ "verifiedPurchase": false, "rating": 1 }, { "verifiedPurchase": true, "rating": 5 }])
    );
    assert_eq!(
        data["q"]["rating"],
        json!({ "average": 5.0, "count": 1, "histogram": [0, 0, 0, 0, 1],
            "verifiedAverage": null, "verifiedCount": 0 })
    );
    assert_eq!(
        data["seller"]["sellerRating"],
        json!({ "average": 11.0 / 3.0, "count": 3, "verifiedAverage": 5.0, "verifiedCount": 1 })
    );
    assert_eq!(
        data["best"]["nodes"],
        json!([{ "id": p }, { "id": q }]),
        "the stranger's five stars do not put Q first"
    );
}
