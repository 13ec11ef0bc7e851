//! Contract of `OrderStore`: carts, all-or-nothing checkout with guarded stock and idempotency
//! keys, compare-and-set order updates, restocking on cancel, lists and stats.

use std::sync::Arc;

use agora::domain::{
    CheckoutLine, ListingStatus, OrderStatus, PaymentAttempt, PaymentOutcome, PostId, UserId,
};
use agora::store::{
    CheckoutOutcome, NewCheckout, OrderSide, OrderUpdate, PageRequest, Stores, UnpaidLimitExceeded,
    UnpaidLimits,
};
use chrono::Duration;

use crate::fixtures::{
    advance, checkout, first, line, listed, listing, ms, now, person, placed, review, text_post,
};

async fn stock(stores: &Stores, post: &PostId) -> (i64, ListingStatus) {
    let post = stores
        .posts
        .get_post(post)
        .await
        .unwrap()
        .expect("the listing exists");
    let listing = post.listing.expect("a listing");
    (listing.stock, listing.status)
}

/// Checks that a refused checkout left `buyer`'s one cart line and placed no order.
async fn refused_with_cart_kept(stores: &Stores, buyer: &UserId) {
    assert_eq!(
        stores.orders.cart(buyer).await.unwrap().len(),
        1,
        "the cart is kept"
    );
    assert_eq!(
        stores
            .orders
            .count_orders_of(buyer, OrderSide::Buyer, None)
            .await
            .unwrap(),
        0,
        "no order is placed"
    );
}

pub async fn a_cart_keeps_one_line_per_listing_oldest_first(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let (a, b) = (
        listed(&stores, &sam, "10", 5).await,
        listed(&stores, &sam, "20", 5).await,
    );
    let t = now();
    stores
        .orders
        .set_cart_line(&ann, &b.id, 1, t)
        .await
        .unwrap();
    stores
        .orders
        .set_cart_line(&ann, &a.id, 2, t + ms(5))
        .await
        .unwrap();
    stores
        .orders
        .set_cart_line(&ann, &b.id, 3, t + ms(9))
        .await
        .unwrap();
    let cart = stores.orders.cart(&ann).await.unwrap();
    let lines: Vec<(PostId, i64)> = cart
        .iter()
        .map(|l| (l.post_id.clone(), l.quantity))
        .collect();
    assert_eq!(lines, [(b.id.clone(), 3), (a.id.clone(), 2)]);
    assert_eq!(
        cart[0].added_at, t,
        "changing the quantity keeps the line's place"
    );
    assert!(stores.orders.cart(&sam).await.unwrap().is_empty());

    assert!(stores.orders.remove_cart_line(&ann, &b.id).await.unwrap());
    assert!(!stores.orders.remove_cart_line(&ann, &b.id).await.unwrap());
    stores.orders.clear_cart(&ann).await.unwrap();
    assert!(stores.orders.cart(&ann).await.unwrap().is_empty());
}

pub async fn checkout_takes_stock_stores_orders_and_empties_the_cart(stores: Stores) {
    let (ann, sam, sue) = (
        person(&stores, "ann").await,
        person(&stores, "sam").await,
        person(&stores, "sue").await,
    );
    let (a, b) = (
        listed(&stores, &sam, "10.50", 3).await,
        listed(&stores, &sue, "7", 1).await,
    );
    stores
        .orders
        .set_cart_line(&ann, &a.id, 2, now())
        .await
        .unwrap();
    let request = checkout(&ann, "key-1", &[line(&a, 2), line(&b, 1)], now());
    let outcome = stores.orders.checkout(&request).await.unwrap();
    let CheckoutOutcome::Placed { orders, listings } = outcome else {
        panic!("expected placed, got {outcome:?}");
    };
    assert_eq!(orders.len(), 2, "one order per seller");
    assert_eq!(listings.len(), 2, "the changed listings come back");
    assert_eq!(stock(&stores, &a.id).await, (1, ListingStatus::Active));
    assert_eq!(stock(&stores, &b.id).await, (0, ListingStatus::Sold));
    assert!(stores.orders.cart(&ann).await.unwrap().is_empty());
    for order in &orders {
        let stored = stores.orders.get_order(&order.id).await.unwrap();
        assert_eq!(stored.as_ref(), Some(order), "an order reads back exactly");
    }
    let many = stores
        .orders
        .get_many_orders(&[
            orders[0].id.clone(),
            orders[1].id.clone(),
            agora::domain::OrderId::generate(),
        ])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
}

pub async fn checkout_of_an_inactive_or_short_listing_changes_nothing(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let (a, b) = (
        listed(&stores, &sam, "10", 5).await,
        listed(&stores, &sam, "20", 1).await,
    );
    stores
        .orders
        .set_cart_line(&ann, &a.id, 1, now())
        .await
        .unwrap();
    let request = checkout(&ann, "k", &[line(&a, 2), line(&b, 2)], now());
    assert_eq!(
        stores.orders.checkout(&request).await.unwrap(),
        CheckoutOutcome::OutOfStock(b.id.clone())
    );
    assert_eq!(
        stock(&stores, &a.id).await,
        (5, ListingStatus::Active),
        "rolled back"
    );
    refused_with_cart_kept(&stores, &ann).await;
    // The key was not spent by the failed attempt.
    let retry = checkout(&ann, "k", &[line(&a, 2)], now());
    placed(stores.orders.checkout(&retry).await.unwrap());

    let draft = listing(&sam, now(), "5", 3, "cameras");
    let mut draft = draft;
    draft.listing.as_mut().unwrap().status = ListingStatus::Draft;
    stores.posts.create_post(&draft).await.unwrap();
    let request = checkout(&ann, "k2", &[line(&draft, 1)], now());
    assert_eq!(
        stores.orders.checkout(&request).await.unwrap(),
        CheckoutOutcome::OutOfStock(draft.id.clone())
    );
}

pub async fn fifty_concurrent_checkouts_of_ten_units_sell_exactly_ten(stores: Stores) {
    let sam = person(&stores, "sam").await;
    let item = listed(&stores, &sam, "99", 10).await;
    let mut buyers = Vec::new();
    for i in 0..50 {
        buyers.push(person(&stores, &format!("buyer{i:02}")).await);
    }
    let stores = Arc::new(stores);
    let tasks: Vec<_> = buyers
        .iter()
        .map(|buyer| {
            let (stores, request) = (
                Arc::clone(&stores),
                checkout(buyer, "once", &[line(&item, 1)], now()),
            );
            tokio::spawn(async move { stores.orders.checkout(&request).await.unwrap() })
        })
        .collect();
    let (mut sold, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            CheckoutOutcome::Placed { .. } => sold += 1,
            CheckoutOutcome::OutOfStock(id) => {
                assert_eq!(id, item.id);
                refused += 1;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((sold, refused), (10, 40));
    assert_eq!(stock(&stores, &item.id).await, (0, ListingStatus::Sold));
    assert_eq!(
        stores
            .orders
            .count_orders_of(&sam, OrderSide::Seller, None)
            .await
            .unwrap(),
        10
    );
}

pub async fn twenty_concurrent_replays_of_one_key_place_one_set_of_orders(stores: Stores) {
    let (ann, sam, sue) = (
        person(&stores, "ann").await,
        person(&stores, "sam").await,
        person(&stores, "sue").await,
    );
    let (a, b) = (
        listed(&stores, &sam, "10", 50).await,
        listed(&stores, &sue, "3", 50).await,
    );
    let lines = [line(&a, 2), line(&b, 1)];
    let stores = Arc::new(stores);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            // Each replay is built separately, with its own fresh order ids, as a client
            // retrying the same request would make the service build them.
            let (stores, request) = (
                Arc::clone(&stores),
                checkout(&ann, "same-key", &lines, now()),
            );
            tokio::spawn(async move { stores.orders.checkout(&request).await.unwrap() })
        })
        .collect();
    let mut sets = Vec::new();
    let mut placed_count = 0;
    for task in tasks {
        match task.await.unwrap() {
            CheckoutOutcome::Placed { orders, .. } => {
                placed_count += 1;
                sets.push(orders);
            }
            CheckoutOutcome::Replayed(orders) => sets.push(orders),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(placed_count, 1, "exactly one checkout places orders");
    let mut ids: Vec<Vec<_>> = sets
        .iter()
        .map(|orders| {
            let mut ids: Vec<_> = orders.iter().map(|o| o.id.clone()).collect();
            ids.sort();
            ids
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every replay returns the same orders");
    assert_eq!(stock(&stores, &a.id).await.0, 48, "stock taken once");
    assert_eq!(stock(&stores, &b.id).await.0, 49, "stock taken once");
    assert_eq!(
        stores
            .orders
            .count_orders_of(&ann, OrderSide::Buyer, None)
            .await
            .unwrap(),
        2
    );
}

pub async fn a_key_reused_for_another_cart_is_refused(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let a = listed(&stores, &sam, "10", 5).await;
    placed(
        stores
            .orders
            .checkout(&checkout(&ann, "k", &[line(&a, 1)], now()))
            .await
            .unwrap(),
    );
    assert_eq!(
        stores
            .orders
            .checkout(&checkout(&ann, "k", &[line(&a, 2)], now()))
            .await
            .unwrap(),
        CheckoutOutcome::KeyReused
    );
    assert_eq!(stock(&stores, &a.id).await.0, 4);
    // Keys are per buyer: another buyer may use the same one.
    let bob = person(&stores, "bob").await;
    placed(
        stores
            .orders
            .checkout(&checkout(&bob, "k", &[line(&a, 2)], now()))
            .await
            .unwrap(),
    );
}

pub async fn of_two_updates_from_one_revision_exactly_one_is_written(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let a = listed(&stores, &sam, "10", 5).await;
    let order = placed(
        stores
            .orders
            .checkout(&checkout(&ann, "k", &[line(&a, 1)], now()))
            .await
            .unwrap(),
    )
    .remove(0);
    let paid = order.moved(OrderStatus::Paid, now(), Some(ann.clone()));
    let cancelled = order.moved(OrderStatus::Cancelled, now(), Some(sam.clone()));
    let stores = Arc::new(stores);
    let (x, y) = tokio::join!(
        {
            let stores = Arc::clone(&stores);
            async move { stores.orders.update_order(&paid, false).await.unwrap() }
        },
        {
            let stores = Arc::clone(&stores);
            async move { stores.orders.update_order(&cancelled, true).await.unwrap() }
        }
    );
    let written: Vec<&OrderUpdate> = [&x, &y]
        .into_iter()
        .filter(|u| matches!(u, OrderUpdate::Updated { .. }))
        .collect();
    assert_eq!(written.len(), 1, "{x:?} / {y:?}");
    let stored = stores.orders.get_order(&order.id).await.unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.history.len(), 2);
    let expected_stock = if stored.status == OrderStatus::Cancelled {
        5
    } else {
        4
    };
    assert_eq!(stock(&stores, &a.id).await.0, expected_stock);
    // A stale write is refused.
    let again = order.moved(OrderStatus::Cancelled, now(), None);
    assert_eq!(
        stores.orders.update_order(&again, true).await.unwrap(),
        OrderUpdate::Stale
    );
}

pub async fn cancelling_returns_stock_and_a_sold_listing_becomes_active(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let a = listed(&stores, &sam, "10", 2).await;
    let order = placed(
        stores
            .orders
            .checkout(&checkout(&ann, "k", &[line(&a, 2)], now()))
            .await
            .unwrap(),
    )
    .remove(0);
    assert_eq!(stock(&stores, &a.id).await, (0, ListingStatus::Sold));
    let update = stores
        .orders
        .update_order(&order.moved(OrderStatus::Cancelled, now(), None), true)
        .await
        .unwrap();
    let OrderUpdate::Updated {
        order: cancelled,
        listings,
    } = update
    else {
        panic!("the cancel is written");
    };
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.history.last().unwrap().by, None);
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].listing.as_ref().unwrap().stock, 2);
    assert_eq!(stock(&stores, &a.id).await, (2, ListingStatus::Active));
}

pub async fn orders_are_listed_newest_first_per_side_and_status(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let a = listed(&stores, &sam, "10", 100).await;
    let t = now() - Duration::hours(1);
    let mut placed_orders = Vec::new();
    for i in 0..5 {
        let request = checkout(&ann, &format!("k{i}"), &[line(&a, 1)], t + ms(i * 10));
        placed_orders.extend(placed(stores.orders.checkout(&request).await.unwrap()));
    }
    let paid = placed_orders[1].moved(OrderStatus::Paid, now(), Some(ann.clone()));
    stores.orders.update_order(&paid, false).await.unwrap();

    let mut seen = Vec::new();
    let mut page = first(2);
    loop {
        let result = stores
            .orders
            .orders_of(&ann, OrderSide::Buyer, None, &page)
            .await
            .unwrap();
        seen.extend(result.items.iter().map(|o| o.id.clone()));
        if !result.has_next {
            break;
        }
        let last = result.items.last().unwrap();
        page = PageRequest {
            after: Some(format!(
                "{}:{}",
                last.created_at.timestamp_millis(),
                last.id
            )),
            limit: 2,
        };
    }
    let expected: Vec<_> = placed_orders.iter().rev().map(|o| o.id.clone()).collect();
    assert_eq!(seen, expected);

    let paid_only = stores
        .orders
        .orders_of(&sam, OrderSide::Seller, Some(OrderStatus::Paid), &first(10))
        .await
        .unwrap();
    assert_eq!(paid_only.items.len(), 1);
    assert_eq!(paid_only.items[0].id, placed_orders[1].id);
    assert!(
        stores
            .orders
            .orders_of(&sam, OrderSide::Buyer, None, &first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(unpaid_orders(&stores, &ann).await, 4);

    let unpaid = stores
        .orders
        .unpaid_orders_before(t + ms(25), 10)
        .await
        .unwrap();
    let unpaid: Vec<_> = unpaid.iter().map(|o| o.id.clone()).collect();
    assert_eq!(
        unpaid,
        [placed_orders[0].id.clone(), placed_orders[2].id.clone()]
    );
}

pub async fn payment_attempts_are_kept_oldest_first(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let a = listed(&stores, &sam, "10", 5).await;
    let order = placed(
        stores
            .orders
            .checkout(&checkout(&ann, "k", &[line(&a, 1)], now()))
            .await
            .unwrap(),
    )
    .remove(0);
    let card = crate::fixtures::card(&ann, now());
    stores.wallet.add_card(&card).await.unwrap();
    let attempt = |outcome, at| PaymentAttempt {
        id: uuid::Uuid::now_v7().simple().to_string(),
        order_id: order.id.clone(),
        card_id: card.id.clone(),
        card_last4: "0002".into(),
        amount: order.total,
        outcome,
        reference: "mock_1".into(),
        at,
    };
    let t = now();
    let declined = attempt(PaymentOutcome::Declined, t);
    let succeeded = attempt(PaymentOutcome::Succeeded, t + ms(3));
    stores
        .orders
        .record_payment_attempt(&declined)
        .await
        .unwrap();
    stores
        .orders
        .record_payment_attempt(&succeeded)
        .await
        .unwrap();
    assert_eq!(
        stores.orders.payment_attempts(&order.id).await.unwrap(),
        [declined, succeeded.clone()]
    );
    let mut paid = order.moved(OrderStatus::Paid, t + ms(3), Some(ann.clone()));
    paid.payment = Some(succeeded.clone());
    stores.orders.update_order(&paid, false).await.unwrap();
    let stored = stores.orders.get_order(&order.id).await.unwrap().unwrap();
    assert_eq!(stored.payment, Some(succeeded));
}

pub async fn delivered_purchases_and_seller_stats_count_delivered_orders_only(stores: Stores) {
    let (ann, bob, sam) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "sam").await,
    );
    let (a, b) = (
        listed(&stores, &sam, "10.50", 9).await,
        listed(&stores, &sam, "4", 9).await,
    );
    let delivered = placed(
        stores
            .orders
            .checkout(&checkout(&ann, "k1", &[line(&a, 2)], now()))
            .await
            .unwrap(),
    )
    .remove(0);
    placed(
        stores
            .orders
            .checkout(&checkout(&bob, "k2", &[line(&a, 1), line(&b, 1)], now()))
            .await
            .unwrap(),
    );
    let mut current = delivered.clone();
    for status in [
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::OutForDelivery,
        OrderStatus::Delivered,
    ] {
        match stores
            .orders
            .update_order(&current.moved(status, now(), Some(sam.clone())), false)
            .await
            .unwrap()
        {
            OrderUpdate::Updated { order, .. } => current = *order,
            OrderUpdate::Stale => panic!("a fresh revision is written"),
        }
    }
    let pairs = [
        (ann.clone(), a.id.clone()),
        (ann.clone(), b.id.clone()),
        (bob.clone(), a.id.clone()),
    ];
    assert_eq!(
        stores.orders.delivered_purchases(&pairs).await.unwrap(),
        [(ann.clone(), a.id.clone())]
    );
    let stats = stores.orders.seller_stats(&sam).await.unwrap();
    assert_eq!(
        stats.orders_by_status,
        [
            (OrderStatus::PendingPayment, 1),
            (OrderStatus::Delivered, 1)
        ]
    );
    assert_eq!(stats.delivered_revenue.len(), 1);
    assert_eq!(stats.delivered_revenue[0].0.code(), "KZT");
    assert_eq!(
        stats.delivered_revenue[0].1,
        21 * agora::domain::Amount::SCALE
    );
    assert_eq!(
        stores.orders.seller_stats(&ann).await.unwrap(),
        Default::default()
    );
}

pub async fn seller_stats_count_live_listings_per_status_and_sum_their_ratings(stores: Stores) {
    let (ann, bob, sam) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "sam").await,
    );
    let active = listed(&stores, &sam, "10", 5).await;
    let sold_out = listed(&stores, &sam, "10", 1).await;
    for status in [ListingStatus::Draft, ListingStatus::Archived] {
        let mut post = listing(&sam, now(), "10", 5, "cameras");
        post.listing.as_mut().unwrap().status = status;
        stores.posts.create_post(&post).await.unwrap();
    }
    let deleted = listed(&stores, &sam, "10", 5).await;
    assert!(stores.posts.delete_post(&deleted.id, now()).await.unwrap());
    stores
        .posts
        .create_post(&text_post(&sam, now(), "not for sale", &[]))
        .await
        .unwrap();
    placed(
        stores
            .orders
            .checkout(&checkout(&ann, "k", &[line(&sold_out, 1)], now()))
            .await
            .unwrap(),
    );
    for (post, author, stars) in [(&active, &ann, 5), (&active, &bob, 2), (&sold_out, &ann, 4)] {
        stores
            .reviews
            .create_review(&review(post, author, stars, now()))
            .await
            .unwrap();
    }

    let stats = stores.orders.seller_stats(&sam).await.unwrap();
    assert_eq!(
        stats.listings_by_status,
        [
            (ListingStatus::Draft, 1),
            (ListingStatus::Active, 1),
            (ListingStatus::Sold, 1),
            (ListingStatus::Archived, 1),
        ]
    );
    assert_eq!(stats.orders_by_status, [(OrderStatus::PendingPayment, 1)]);
    assert!(stats.delivered_revenue.is_empty());
    let rating = stores
        .reviews
        .seller_ratings(std::slice::from_ref(&sam))
        .await
        .unwrap()
        .pop()
        .unwrap()
        .1;
    assert_eq!((rating.count, rating.sum), (3, 11));
    assert_eq!(stats.rating, rating);
    // The buyer sells nothing: no listings, no orders, a zero rating.
    assert_eq!(
        stores.orders.seller_stats(&ann).await.unwrap(),
        Default::default()
    );
}

pub async fn a_checkout_without_orders_only_looks_its_key_up(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let a = listed(&stores, &sam, "10", 5).await;
    let orders = placed(
        stores
            .orders
            .checkout(&checkout(&ann, "k", &[line(&a, 1)], now()))
            .await
            .unwrap(),
    );
    let retry = checkout(&ann, "k", &[], now());
    assert_eq!(
        stores.orders.checkout(&retry).await.unwrap(),
        CheckoutOutcome::Replayed(orders)
    );
    let unknown = checkout(&ann, "other", &[], now());
    assert_eq!(
        stores.orders.checkout(&unknown).await.unwrap(),
        CheckoutOutcome::Replayed(Vec::new())
    );
    assert_eq!(stock(&stores, &a.id).await.0, 4);
    placed(
        stores
            .orders
            .checkout(&checkout(&ann, "other", &[line(&a, 1)], now()))
            .await
            .unwrap(),
    );
}

/// `checkout`, under `limits`.
fn limited(buyer: &UserId, key: &str, lines: &[CheckoutLine], limits: UnpaidLimits) -> NewCheckout {
    NewCheckout {
        limits,
        ..checkout(buyer, key, lines, now())
    }
}

/// Checks `limited(...)` out.
async fn limited_checkout(
    stores: &Stores,
    buyer: &UserId,
    key: &str,
    lines: &[CheckoutLine],
    limits: UnpaidLimits,
) -> CheckoutOutcome {
    stores
        .orders
        .checkout(&limited(buyer, key, lines, limits))
        .await
        .unwrap()
}

async fn unpaid_orders(stores: &Stores, buyer: &UserId) -> u64 {
    stores
        .orders
        .count_orders_of(buyer, OrderSide::Buyer, Some(OrderStatus::PendingPayment))
        .await
        .unwrap()
}

const THREE_UNITS_TWO_ORDERS: UnpaidLimits = UnpaidLimits {
    units_per_listing: 3,
    orders: 2,
};

pub async fn a_checkout_over_an_unpaid_limit_takes_nothing_and_says_which(stores: Stores) {
    let (ann, sam, sue) = (
        person(&stores, "ann").await,
        person(&stores, "sam").await,
        person(&stores, "sue").await,
    );
    let (a, b, c) = (
        listed(&stores, &sam, "10", 5).await,
        listed(&stores, &sue, "20", 5).await,
        listed(&stores, &sue, "30", 5).await,
    );
    stores
        .orders
        .set_cart_line(&ann, &a.id, 5, now())
        .await
        .unwrap();
    let limits = THREE_UNITS_TWO_ORDERS;

    // The whole stock in one unpaid checkout.
    assert_eq!(
        limited_checkout(&stores, &ann, "k1", &[line(&a, 5)], limits).await,
        CheckoutOutcome::OverLimit(UnpaidLimitExceeded::UnitsPerListing {
            post: a.id.clone(),
            held: 0,
            requested: 5,
            limit: 3,
        })
    );
    assert_eq!(stock(&stores, &a.id).await, (5, ListingStatus::Active));
    refused_with_cart_kept(&stores, &ann).await;

    // The refused key was not spent; what is held counts against the next checkout.
    placed(limited_checkout(&stores, &ann, "k1", &[line(&a, 2)], limits).await);
    assert_eq!(
        limited_checkout(&stores, &ann, "k2", &[line(&a, 2)], limits).await,
        CheckoutOutcome::OverLimit(UnpaidLimitExceeded::UnitsPerListing {
            post: a.id.clone(),
            held: 2,
            requested: 2,
            limit: 3,
        })
    );
    assert_eq!(stock(&stores, &a.id).await.0, 3);
    // A checkout splitting into two orders (two sellers) counts both.
    assert_eq!(
        limited_checkout(&stores, &ann, "k3", &[line(&a, 1), line(&b, 1)], limits).await,
        CheckoutOutcome::OverLimit(UnpaidLimitExceeded::Orders {
            held: 1,
            requested: 2,
            limit: 2,
        })
    );
    assert_eq!(stock(&stores, &b.id).await.0, 5);
    placed(limited_checkout(&stores, &ann, "k4", &[line(&b, 3)], limits).await);
    assert_eq!(
        limited_checkout(&stores, &ann, "k5", &[line(&c, 1)], limits).await,
        CheckoutOutcome::OverLimit(UnpaidLimitExceeded::Orders {
            held: 2,
            requested: 1,
            limit: 2,
        })
    );
    // A replay of a placed checkout is not refused for the orders it placed itself.
    assert!(matches!(
        limited_checkout(&stores, &ann, "k4", &[line(&b, 3)], limits).await,
        CheckoutOutcome::Replayed(orders) if orders.len() == 1
    ));
    // Limits are per buyer.
    let bob = person(&stores, "bob").await;
    placed(limited_checkout(&stores, &bob, "k1", &[line(&c, 3)], limits).await);
}

pub async fn paying_or_cancelling_an_unpaid_order_frees_room(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let (a, b) = (
        listed(&stores, &sam, "10", 50).await,
        listed(&stores, &sam, "20", 50).await,
    );
    let limits = THREE_UNITS_TWO_ORDERS;
    let first =
        placed(limited_checkout(&stores, &ann, "k1", &[line(&a, 3)], limits).await).remove(0);
    let second =
        placed(limited_checkout(&stores, &ann, "k2", &[line(&b, 1)], limits).await).remove(0);
    assert!(matches!(
        limited_checkout(&stores, &ann, "k3", &[line(&a, 1)], limits).await,
        CheckoutOutcome::OverLimit(UnpaidLimitExceeded::Orders { .. })
    ));

    // Paid: neither the order nor its units are held unpaid any more.
    advance(&stores, &first, OrderStatus::Paid, false).await;
    placed(limited_checkout(&stores, &ann, "k3", &[line(&a, 3)], limits).await);
    assert!(matches!(
        limited_checkout(&stores, &ann, "k4", &[line(&a, 1)], limits).await,
        CheckoutOutcome::OverLimit(UnpaidLimitExceeded::Orders { .. })
    ));

    // Cancelled (as the expiry task does): room for one more.
    advance(&stores, &second, OrderStatus::Cancelled, true).await;
    placed(limited_checkout(&stores, &ann, "k4", &[line(&b, 3)], limits).await);
    assert_eq!(unpaid_orders(&stores, &ann).await, 2);
}

pub async fn twenty_concurrent_checkouts_by_one_buyer_never_pass_the_limits(stores: Stores) {
    let (ann, bob, sam) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "sam").await,
    );
    let one = listed(&stores, &sam, "10", 100).await;
    let mut many = Vec::new();
    for _ in 0..20 {
        many.push(listed(&stores, &sam, "10", 100).await);
    }
    let limits = UnpaidLimits {
        units_per_listing: 3,
        orders: 5,
    };
    // Ann asks for one unit of the same listing twenty times (the units limit decides); Bob
    // for one unit of twenty listings (the orders limit decides); all forty at once.
    let stores = Arc::new(stores);
    let requests = (0..20)
        .map(|i| limited(&ann, &format!("ann{i}"), &[line(&one, 1)], limits))
        .chain(
            many.iter()
                .enumerate()
                .map(|(i, post)| limited(&bob, &format!("bob{i}"), &[line(post, 1)], limits)),
        );
    let tasks: Vec<_> = requests
        .map(|request| {
            let stores = Arc::clone(&stores);
            tokio::spawn(async move {
                let outcome = stores.orders.checkout(&request).await.unwrap();
                (request.buyer_id, outcome)
            })
        })
        .collect();
    let (mut placed_by_ann, mut placed_by_bob) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (buyer, CheckoutOutcome::Placed { .. }) if buyer == ann => placed_by_ann += 1,
            (_, CheckoutOutcome::Placed { .. }) => placed_by_bob += 1,
            (buyer, CheckoutOutcome::OverLimit(UnpaidLimitExceeded::UnitsPerListing { .. }))
                if buyer == ann => {}
            (buyer, CheckoutOutcome::OverLimit(UnpaidLimitExceeded::Orders { .. }))
                if buyer == bob => {}
            (buyer, other) => panic!("unexpected outcome for {buyer}: {other:?}"),
        }
    }
    assert_eq!((placed_by_ann, placed_by_bob), (3, 5));
    assert_eq!(stock(&stores, &one.id).await.0, 97);
    for (buyer, held) in [(&ann, 3), (&bob, 5)] {
        assert_eq!(unpaid_orders(&stores, buyer).await, held);
    }
}
