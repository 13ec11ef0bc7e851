//! Marketplace rules over the API: every illegal status move, every authorization failure,
//! cart validation, cancellation, reorder and the expiry of unpaid orders.

use agora::domain::{OrderActor, OrderStatus, can_move};
use serde_json::json;

use crate::helpers::{
    Account, CHECKOUT, MOVE, PAY, TestApp, add_to_cart, address, buy, card, create_post, listing,
    move_to, order, spawn_app, stock,
};

const CANCEL: &str = "mutation($o: ID!) { cancelOrder(orderId: $o) { status payment { status } } }";
const ORDER: &str = "query($id: ID!) { order(id: $id) { id } }";
const REORDER: &str = "mutation($o: ID!) { reorder(orderId: $o) { itemCount } }";

/// A paid order of `quantity` units, bought by `buyer` from `seller`; its id and the listing.
async fn paid_order(
    app: &TestApp,
    seller: &Account,
    buyer: &Account,
    key: &str,
) -> (String, String) {
    let post = listing(app, seller, "50", 10).await;
    let id = buy(app, buyer, &post, 1, key).await;
    let good = card(app, buyer, "4242424242424242").await;
    app.data(Some(&buyer.access), PAY, json!({ "o": id, "c": good }))
        .await;
    (id, post)
}

/// Tries every move from the order's current status by both parties and checks that each
/// one the machine does not allow them is refused, with `CONFLICT` when nobody could make it
/// from here and `FORBIDDEN` when only another role could, and that nothing changed.
async fn refuses_every_illegal_move(
    app: &TestApp,
    order_id: &str,
    from: OrderStatus,
    buyer: &Account,
    seller: &Account,
) {
    for to in OrderStatus::ALL {
        for (who, actor) in [(buyer, OrderActor::Buyer), (seller, OrderActor::Seller)] {
            if can_move(from, to, actor) {
                continue;
            }
            let anyone = [OrderActor::Buyer, OrderActor::Seller, OrderActor::Admin]
                .into_iter()
                .any(|a| can_move(from, to, a));
            let expected = if anyone { "FORBIDDEN" } else { "CONFLICT" };
            let (code, body) = app
                .error_code(
                    Some(&who.access),
                    MOVE,
                    json!({ "o": order_id, "s": to.as_str() }),
                )
                .await;
            assert_eq!(code, expected, "{from:?} -> {to:?} by {actor:?}: {body}");
        }
    }
    assert_eq!(order(app, buyer, order_id).await["status"], from.as_str());
}

#[tokio::test]
async fn every_move_the_machine_does_not_allow_is_refused_at_every_status() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let post = listing(&app, &sam, "50", 10).await;

    let pending = buy(&app, &ann, &post, 1, "pending").await;
    refuses_every_illegal_move(&app, &pending, OrderStatus::PendingPayment, &ann, &sam).await;

    let (id, _) = paid_order(&app, &sam, &ann, "walk").await;
    refuses_every_illegal_move(&app, &id, OrderStatus::Paid, &ann, &sam).await;
    for (next, who) in [
        (OrderStatus::Processing, &sam),
        (OrderStatus::Shipped, &sam),
        (OrderStatus::OutForDelivery, &sam),
        (OrderStatus::Delivered, &ann),
    ] {
        move_to(&app, who, &id, next.as_str()).await;
        refuses_every_illegal_move(&app, &id, next, &ann, &sam).await;
    }

    let cancelled = app
        .data(Some(&ann.access), CANCEL, json!({ "o": pending }))
        .await;
    assert_eq!(cancelled["cancelOrder"]["status"], "CANCELLED");
    refuses_every_illegal_move(&app, &pending, OrderStatus::Cancelled, &ann, &sam).await;
    let good = card(&app, &ann, "4242424242424242").await;
    let (code, _) = app
        .error_code(Some(&ann.access), PAY, json!({ "o": pending, "c": good }))
        .await;
    assert_eq!(code, "CONFLICT", "a cancelled order cannot be paid");
}

#[tokio::test]
async fn nobody_but_the_buyer_the_seller_and_admins_can_see_or_touch_an_order() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let (id, _) = paid_order(&app, &sam, &ann, "k").await;

    for (query, vars) in [
        (ORDER, json!({ "id": id })),
        (MOVE, json!({ "o": id, "s": "CANCELLED" })),
        (CANCEL, json!({ "o": id })),
        (REORDER, json!({ "o": id })),
        (ORDER, json!({ "id": "no-such-order" })),
    ] {
        let (code, body) = app.error_code(Some(&bob.access), query, vars.clone()).await;
        assert_eq!(code, "NOT_FOUND", "{query} {vars}: {body}");
        let (code, _) = app.error_code(None, query, vars).await;
        assert_eq!(code, "UNAUTHENTICATED");
    }
    let bobs_card = card(&app, &bob, "4242424242424242").await;
    let (code, _) = app
        .error_code(Some(&bob.access), PAY, json!({ "o": id, "c": bobs_card }))
        .await;
    assert_eq!(code, "NOT_FOUND", "another buyer cannot even pay it");
    let orders = app
        .data(
            Some(&bob.access),
            "{ orders { totalCount } sellerOrders: orders(role: SELLER) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        orders,
        json!({ "orders": { "totalCount": 0 }, "sellerOrders": { "totalCount": 0 } })
    );

    // The seller sees it but does not pay it; the buyer cannot pay with another's card.
    let (code, _) = app
        .error_code(Some(&sam.access), PAY, json!({ "o": id, "c": bobs_card }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    let pending = buy(&app, &ann, &listing(&app, &sam, "5", 5).await, 1, "k2").await;
    let (code, _) = app
        .error_code(
            Some(&ann.access),
            PAY,
            json!({ "o": pending, "c": bobs_card }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND", "a card of someone else's is not found");
    let (code, _) = app
        .error_code(None, "{ cart { itemCount } }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");

    // An admin sees any order and may make any legal move.
    let admin = app.admin().await;
    assert_eq!(
        order(&app, &admin, &id).await["nextStatuses"],
        json!(["PROCESSING", "CANCELLED"])
    );
    assert_eq!(
        move_to(&app, &admin, &id, "PROCESSING").await["status"],
        "PROCESSING"
    );
    let seller_view = app
        .data(
            Some(&sam.access),
            "{ orders(role: SELLER, status: PROCESSING) { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(seller_view["orders"]["totalCount"], 1);
    assert_eq!(seller_view["orders"]["edges"][0]["node"]["id"], id.as_str());
}

#[tokio::test]
async fn cart_input_is_checked_and_each_refusal_names_its_field() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let post = listing(&app, &sam, "10", 2).await;
    let text = create_post(&app, &sam, "hello").await;
    let add = "mutation($p: ID!, $q: Int) { addToCart(postId: $p, quantity: $q) { itemCount } }";
    for (who, post_id, quantity, field) in [
        (&ann, json!(post), 0, "quantity"),
        (&ann, json!(post), -1, "quantity"),
        (&ann, json!(post), 3, "quantity"),
        (&sam, json!(post), 1, "postId"),
        (&ann, json!(text), 1, "postId"),
        (&ann, json!("not an id!"), 1, "postId"),
    ] {
        let (code, body) = app
            .error_code(
                Some(&who.access),
                add,
                json!({ "p": post_id, "q": quantity }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let (code, _) = app
        .error_code(
            Some(&ann.access),
            add,
            json!({ "p": "unknownpost", "q": 1 }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let update =
        "mutation($p: ID!, $q: Int!) { updateCartItem(postId: $p, quantity: $q) { itemCount } }";
    let (code, _) = app
        .error_code(Some(&ann.access), update, json!({ "p": post, "q": 1 }))
        .await;
    assert_eq!(code, "NOT_FOUND", "only a line in the cart can be updated");

    // Adding again adds up, within the stock.
    add_to_cart(&app, &ann, &post, 1).await;
    assert_eq!(add_to_cart(&app, &ann, &post, 1).await["itemCount"], 2);
    let (code, body) = app
        .error_code(Some(&ann.access), add, json!({ "p": post, "q": 1 }))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("quantity"))
    );

    // Bob buys the lot: Ann's line stays, marked unavailable, and her checkout is refused.
    buy(&app, &bob, &post, 2, "bob").await;
    assert_eq!(
        stock(&app, &post).await,
        json!({ "stock": 0, "status": "SOLD" })
    );
    let cart = app
        .data(
            Some(&ann.access),
            "{ cart { items { available } subtotal { amount } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cart["cart"],
        json!({ "items": [{ "available": false }], "subtotal": null })
    );
    let address = address(&app, &ann).await;
    let (code, _) = app
        .error_code(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": address, "k": "late" }),
        )
        .await;
    assert_eq!(code, "CONFLICT", "out of stock");
    let (code, body) = app
        .error_code(Some(&ann.access), add, json!({ "p": post, "q": 1 }))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("postId")),
        "a sold listing is not for sale"
    );
}

#[tokio::test]
async fn cancelling_returns_stock_refunds_a_paid_order_and_reorder_refills_the_cart() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let (id, post) = paid_order(&app, &sam, &ann, "k").await;
    assert_eq!(stock(&app, &post).await["stock"], 9);
    let cancelled = app
        .data(Some(&sam.access), CANCEL, json!({ "o": id }))
        .await["cancelOrder"]
        .clone();
    assert_eq!(
        cancelled,
        json!({ "status": "CANCELLED", "payment": { "status": "REFUNDED" } })
    );
    assert_eq!(stock(&app, &post).await["stock"], 10);
    let attempts = app
        .core
        .stores
        .orders
        .payment_attempts(&agora::domain::OrderId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["SUCCEEDED", "REFUNDED"]
    );
    let cart = app
        .data(Some(&ann.access), REORDER, json!({ "o": id }))
        .await;
    assert_eq!(cart["reorder"]["itemCount"], 1);
}

#[tokio::test]
async fn unpaid_orders_past_their_time_are_cancelled_once_and_their_stock_returns() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let post = listing(&app, &sam, "10", 2).await;
    let id = buy(&app, &ann, &post, 2, "k").await;
    let (paid, _) = paid_order(&app, &sam, &ann, "paid").await;
    assert_eq!(
        stock(&app, &post).await,
        json!({ "stock": 0, "status": "SOLD" })
    );

    let orders = &app.core.services.orders;
    let ttl = chrono::Duration::minutes(30);
    let now = agora::clock::now();
    assert_eq!(
        orders.expire_unpaid(now, ttl).await.unwrap(),
        0,
        "not yet due"
    );
    let later = now + chrono::Duration::minutes(31);
    let (first, second) = tokio::join!(
        orders.expire_unpaid(later, ttl),
        orders.expire_unpaid(later, ttl)
    );
    assert_eq!(
        first.unwrap() + second.unwrap(),
        1,
        "two instances cancel it once"
    );

    let expired = order(&app, &ann, &id).await;
    assert_eq!(expired["status"], "CANCELLED");
    assert_eq!(
        expired["statusHistory"][1],
        json!({ "status": "CANCELLED", "by": null })
    );
    assert_eq!(
        stock(&app, &post).await,
        json!({ "stock": 2, "status": "ACTIVE" })
    );
    assert_eq!(
        order(&app, &ann, &paid).await["status"],
        "PAID",
        "paid orders stay"
    );
}

#[tokio::test]
async fn reviews_are_one_per_listing_never_by_the_seller_and_changed_only_by_their_author() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let post = listing(&app, &sam, "10", 2).await;
    let create = "mutation($p: ID!, $r: Int!) { createReview(input: { postId: $p, rating: $r }) { id verifiedPurchase } }";
    let (code, _) = app
        .error_code(Some(&sam.access), create, json!({ "p": post, "r": 5 }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    let (code, body) = app
        .error_code(Some(&ann.access), create, json!({ "p": post, "r": 6 }))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("input.rating"))
    );
    let review = app
        .data(Some(&ann.access), create, json!({ "p": post, "r": 2 }))
        .await["createReview"]
        .clone();
    assert_eq!(review["verifiedPurchase"], false, "no delivered order");
    let (code, _) = app
        .error_code(Some(&ann.access), create, json!({ "p": post, "r": 4 }))
        .await;
    assert_eq!(code, "CONFLICT");
    let update = "mutation($id: ID!) { updateReview(id: $id, input: { rating: 4 }) { rating } }";
    let (code, _) = app
        .error_code(Some(&bob.access), update, json!({ "id": review["id"] }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    let updated = app
        .data(Some(&ann.access), update, json!({ "id": review["id"] }))
        .await;
    assert_eq!(updated["updateReview"]["rating"], 4);
    let listed = app
        .data(None, "query($p: ID!) { reviews(postId: $p, rating: 4) { totalCount } review(postId: $p, authorId: \"x\") { id } post(id: $p) { rating { count average } } }", json!({ "p": post }))
        .await;
    assert_eq!(listed["reviews"]["totalCount"], 1);
    assert_eq!(listed["review"], json!(null));
    assert_eq!(
        listed["post"]["rating"],
        json!({ "count": 1, "average": 4.0 })
    );
    let delete = "mutation($id: ID!) { deleteReview(id: $id) }";
    let (code, _) = app
        .error_code(Some(&bob.access), delete, json!({ "id": review["id"] }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(
        app.data(Some(&ann.access), delete, json!({ "id": review["id"] }))
            .await["deleteReview"],
        true
    );
}
