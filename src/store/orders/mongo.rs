//! [`OrderStore`] on MongoDB: `cart_items`, `checkouts`, `orders` and `payment_attempts`.
//!
//! Why checkout is a multi-document transaction (and not conditional `$inc`s with
//! compensation): a checkout writes the idempotency record, the stock of several listings,
//! several orders and the cart, and all of it must happen or none. With compensation a crash
//! between the decrement and the compensating increment would lose stock for good, and a
//! reader could see stock taken for orders that never appear. In the transaction:
//!
//! 1. The idempotency record is inserted first. Its unique `(buyer_id, key)` index makes two
//!    concurrent checkouts with one key collide right there: the loser's insert conflicts
//!    with the winner's uncommitted one (a `TransientTransactionError`, rerun by the driver)
//!    and, once the winner has committed, fails with a duplicate key, after which the stored
//!    record decides between "replay" (same cart) and `CONFLICT` (another cart).
//! 2. Each line is a conditional `$inc` (`stock: {$gte: q}`, `status: ACTIVE`); no match is
//!    "out of stock" and aborts everything. Concurrent checkouts of one listing write the same
//!    document, so MongoDB lets one commit and the driver reruns the others on a fresh
//!    snapshot: the guard sees the true stock and it never goes below zero.
//! 3. Orders are inserted and the cart emptied.
//!
//! The buyer's [`UnpaidLimits`](super::UnpaidLimits) are checked between 1 and 2, by counting
//! their `PENDING_PAYMENT` orders and the units of each listing in them. Counting alone is not
//! enough under snapshot isolation: two concurrent checkouts by one buyer would each count the
//! other's orders as absent, write different documents, and both commit (write skew). So each
//! checkout first writes the buyer's document in `order_buyers` (`$inc` of a counter), a
//! document every checkout of that buyer writes ([`touch_buyer`]): of two concurrent ones, one commits and the
//! other hits a write conflict, is rerun by the driver on a fresh snapshot, and counts the
//! winner's orders. This serialises only one buyer's checkouts, never different buyers'.
//! The document is created outside the transaction first (an upsert racing another upsert of
//! the same new `_id` inside a transaction could fail with a duplicate key rather than a
//! retryable conflict).
//! Paying or cancelling only frees room, so those do not need to write it.
//!
//! An order turning `DELIVERED` (final) marks the buyer's reviews of its listings as verified
//! purchases in the same transaction (`store::reviews::mongo_mark_verified`), which writes the
//! buyer's document too, so that a review written at the same moment cannot miss it.
//!
//! Order updates are compare-and-set on `revision`; a cancel that returns stock runs its
//! update and the increments in one transaction for the same reason as checkout.
//!
//! Transactions run through [`crate::store::mongo::transaction`]. A body that must refuse
//! (out of stock, over an unpaid limit, a stale revision) gives up with
//! `DriverError::custom(outcome)`, the [`CheckoutOutcome`] or [`OrderUpdate`] to answer, so
//! the driver aborts the transaction; the caller finds it again with `get_custom`.
//! Every stock change also bumps the post's `revision`, so a seller's concurrent edit (which
//! writes back only the revision it read) cannot overwrite the stock it did not see.

use chrono::{DateTime, Utc};
use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::Error as DriverError;
use mongodb::{Client, ClientSession, Collection, Database};
use serde::Deserialize;

use super::record::{AttemptRecord, OrderRecord};
use super::{
    CheckoutOutcome, NewCheckout, OrderSide, OrderStore, OrderUpdate, SellerStats,
    UnpaidLimitExceeded, listing_ids,
};
use crate::domain::{CartLine, Order, OrderId, OrderStatus, PaymentAttempt, Post, PostId, UserId};
use crate::store::mongo::{
    IndexSet, after_cursor, collect, create_indexes, fetch_limit, from_bson_time, id_in, index,
    is_duplicate_key, is_duplicate_key_on, to_bson_time, transaction,
};
use crate::store::posts::mongo_posts_by_ids;
use crate::store::reviews::{MongoReviewStore, mongo_mark_verified};
use crate::store::{Page, PageRequest, ReviewStore, StoreError, StoreResult};

const CHECKOUT_KEY_UNIQUE: &str = "checkouts_buyer_key_unique";

/// The collection of per-buyer documents that serialise a buyer's checkouts, deliveries and
/// reviews (see the module docs).
pub(crate) const BUYERS: &str = "order_buyers";

/// Makes sure `buyer`'s `order_buyers` document exists, outside any transaction, so that
/// transactions only ever update it. Two first writers racing here may see a duplicate key:
/// the document exists either way.
pub(crate) async fn ensure_buyer_document(
    buyers: &Collection<Document>,
    buyer: &str,
) -> StoreResult<()> {
    match buyers
        .update_one(
            doc! { "_id": buyer },
            doc! { "$setOnInsert": { "writes": 0_i64 } },
        )
        .upsert(true)
        .await
    {
        Err(err) if !is_duplicate_key(&err) => Err(err.into()),
        _ => Ok(()),
    }
}

/// Writes `buyer`'s `order_buyers` document inside `session`, so that this transaction and
/// any concurrent one about the same buyer's orders conflict and one of them is rerun.
pub(crate) async fn touch_buyer(
    buyers: &Collection<Document>,
    session: &mut ClientSession,
    buyer: &str,
) -> mongodb::error::Result<()> {
    buyers
        .update_one(doc! { "_id": buyer }, doc! { "$inc": { "writes": 1_i64 } })
        .upsert(true)
        .session(&mut *session)
        .await
        .map(|_| ())
}

/// Oldest first, the order of every list but a user's orders.
const OLDEST_FIRST: i32 = 1;
/// Newest first: a user's orders.
const NEWEST_FIRST: i32 = -1;

/// A line of `cart_items`, as read back (`_id` and `user_id` are only matched on).
#[derive(Deserialize)]
struct CartLineDoc {
    post_id: String,
    quantity: i64,
    added_at: bson::DateTime,
}

impl From<CartLineDoc> for CartLine {
    fn from(line: CartLineDoc) -> Self {
        CartLine {
            post_id: PostId::from_trusted(line.post_id),
            quantity: line.quantity,
            added_at: from_bson_time(line.added_at),
        }
    }
}

/// One row of a `$group`: the key and how many documents, with a summed total where asked.
#[derive(Deserialize)]
struct Group<K> {
    #[serde(rename = "_id")]
    key: K,
    n: i64,
    #[serde(default)]
    total: i64,
}

#[derive(Deserialize)]
struct StatusAndCurrency {
    status: String,
    currency: String,
}

pub struct MongoOrderStore {
    client: Client,
    db: Database,
    cart: Collection<Document>,
    checkouts: Collection<Document>,
    /// One document per buyer, written by each of their checkouts (see the module docs).
    buyers: Collection<Document>,
    orders: Collection<OrderRecord>,
    attempts: Collection<AttemptRecord>,
    posts: Collection<Document>,
    /// For the seller rating in [`SellerStats`], summed as the reviews store sums it.
    reviews: MongoReviewStore,
}

fn cart_line_id(user: &UserId, post: &PostId) -> String {
    format!("{user}:{post}")
}

/// `user`'s orders on `side`, of `status` if given.
fn side_filter(user: &UserId, side: OrderSide, status: Option<OrderStatus>) -> Document {
    let mut filter = doc! { side.field(): user.as_str() };
    if let Some(status) = status {
        filter.insert("status", status.as_str());
    }
    filter
}

impl MongoOrderStore {
    pub fn new(client: Client, db: &Database) -> Self {
        Self {
            client: client.clone(),
            db: db.clone(),
            cart: db.collection("cart_items"),
            checkouts: db.collection("checkouts"),
            buyers: db.collection(BUYERS),
            orders: db.collection("orders"),
            attempts: db.collection("payment_attempts"),
            posts: db.collection("posts"),
            reviews: MongoReviewStore::new(client.clone(), db),
        }
    }

    /// The unique `(buyer_id, key)` of checkouts carries the idempotency contract; the rest
    /// serve the lists: a user's orders by side (and status) newest first, the expiry scan,
    /// the delivered-purchase lookup and an order's attempts.
    pub async fn create_indexes(&self, which: IndexSet) -> StoreResult<()> {
        create_indexes(
            &self.checkouts,
            vec![index(
                doc! { "buyer_id": 1, "key": 1 },
                CHECKOUT_KEY_UNIQUE,
                true,
            )],
        )
        .await?;
        if which != IndexSet::All {
            return Ok(());
        }
        create_indexes(
            &self.cart,
            vec![index(
                doc! { "user_id": 1, "added_at": 1 },
                "cart_items_by_user",
                false,
            )],
        )
        .await?;
        create_indexes(
            &self.orders,
            vec![
                index(
                    doc! { "buyer_id": 1, "created_at": -1, "_id": -1 },
                    "orders_by_buyer",
                    false,
                ),
                index(
                    doc! { "buyer_id": 1, "status": 1, "created_at": -1, "_id": -1 },
                    "orders_by_buyer_status",
                    false,
                ),
                index(
                    doc! { "seller_id": 1, "created_at": -1, "_id": -1 },
                    "orders_by_seller",
                    false,
                ),
                index(
                    doc! { "seller_id": 1, "status": 1, "created_at": -1, "_id": -1 },
                    "orders_by_seller_status",
                    false,
                ),
                index(
                    doc! { "status": 1, "created_at": 1 },
                    "orders_by_status",
                    false,
                ),
                index(
                    doc! { "buyer_id": 1, "items.post_id": 1 },
                    "orders_by_buyer_item",
                    false,
                ),
            ],
        )
        .await?;
        create_indexes(
            &self.attempts,
            vec![index(
                doc! { "order_id": 1, "at": 1 },
                "payment_attempts_by_order",
                false,
            )],
        )
        .await
    }

    /// The orders matching `filter` by creation time (`OLDEST_FIRST` or `NEWEST_FIRST`, ties
    /// by id), at most `limit`.
    async fn find_orders(
        &self,
        filter: Document,
        direction: i32,
        limit: Option<i64>,
    ) -> StoreResult<Vec<Order>> {
        let mut find = self
            .orders
            .find(filter)
            .sort(doc! { "created_at": direction, "_id": direction });
        if let Some(limit) = limit {
            find = find.limit(limit);
        }
        let records: Vec<OrderRecord> = find.await?.try_collect().await?;
        records.into_iter().map(Order::try_from).collect()
    }

    async fn listings_of<'a>(
        &self,
        orders: impl IntoIterator<Item = &'a Order>,
    ) -> StoreResult<Vec<Post>> {
        mongo_posts_by_ids(&self.db, &listing_ids(orders)).await
    }

    /// Gives `quantity` back to the listing inside `session`; `SOLD` with stock is `ACTIVE`.
    async fn restock_in(
        &self,
        session: &mut ClientSession,
        post: &PostId,
        quantity: i64,
    ) -> mongodb::error::Result<()> {
        self.posts
            .update_one(
                doc! { "_id": post.as_str(), "stock": { "$type": "long" } },
                doc! { "$inc": { "stock": quantity, "revision": 1_i64 } },
            )
            .session(&mut *session)
            .await?;
        self.posts
            .update_one(
                doc! { "_id": post.as_str(), "status": "SOLD", "stock": { "$gt": 0_i64 } },
                doc! { "$set": { "status": "ACTIVE" } },
            )
            .session(&mut *session)
            .await?;
        Ok(())
    }

    /// The first of `checkout.limits` its orders would break, counted inside `session`
    /// after writing the buyer's document (see the module docs).
    async fn unpaid_limit_exceeded(
        &self,
        session: &mut ClientSession,
        checkout: &NewCheckout,
    ) -> mongodb::error::Result<Option<UnpaidLimitExceeded>> {
        let buyer = checkout.buyer_id.as_str();
        touch_buyer(&self.buyers, session, buyer).await?;
        // Bounded by the limit on unpaid orders.
        let unpaid: Vec<OrderRecord> = self
            .orders
            .find(doc! { "buyer_id": buyer, "status": OrderStatus::PendingPayment.as_str() })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        let mut held_units: Vec<(PostId, i64)> = Vec::new();
        for item in unpaid.iter().flat_map(|o| &o.items) {
            match held_units
                .iter_mut()
                .find(|(post, _)| post.as_str() == item.post_id)
            {
                Some((_, units)) => *units += item.quantity,
                None => {
                    held_units.push((PostId::from_trusted(item.post_id.clone()), item.quantity))
                }
            }
        }
        let held_orders = i64::try_from(unpaid.len()).unwrap_or(i64::MAX);
        Ok(checkout
            .limits
            .check(&checkout.orders, held_orders, &held_units))
    }

    /// The body of the checkout transaction (see the module docs); a refusal gives up with
    /// the [`CheckoutOutcome`] to answer.
    async fn place(
        &self,
        session: &mut ClientSession,
        checkout: &NewCheckout,
    ) -> mongodb::error::Result<()> {
        let order_ids: Vec<&str> = checkout.orders.iter().map(|o| o.id.as_str()).collect();
        self.checkouts
            .insert_one(doc! {
                "buyer_id": checkout.buyer_id.as_str(),
                "key": &checkout.idempotency_key,
                "fingerprint": &checkout.fingerprint,
                "order_ids": order_ids,
                "created_at": to_bson_time(checkout.at),
            })
            .session(&mut *session)
            .await?;
        if let Some(exceeded) = self.unpaid_limit_exceeded(session, checkout).await? {
            return Err(DriverError::custom(CheckoutOutcome::OverLimit(exceeded)));
        }
        for item in checkout.orders.iter().flat_map(|o| &o.items) {
            let taken = self
                .posts
                .update_one(
                    doc! {
                        "_id": item.post_id.as_str(),
                        "stock": { "$gte": item.quantity },
                        "status": "ACTIVE",
                        "deleted_at": null,
                    },
                    doc! { "$inc": { "stock": -item.quantity, "revision": 1_i64 } },
                )
                .session(&mut *session)
                .await?;
            if taken.matched_count == 0 {
                return Err(DriverError::custom(CheckoutOutcome::OutOfStock(
                    item.post_id.clone(),
                )));
            }
            self.posts
                .update_one(
                    doc! { "_id": item.post_id.as_str(), "stock": 0_i64, "status": "ACTIVE" },
                    doc! { "$set": { "status": "SOLD" } },
                )
                .session(&mut *session)
                .await?;
        }
        self.orders
            .insert_many(checkout.orders.iter().map(OrderRecord::from))
            .session(&mut *session)
            .await?;
        self.cart
            .delete_many(doc! { "user_id": checkout.buyer_id.as_str() })
            .session(&mut *session)
            .await?;
        Ok(())
    }

    /// The outcome of a checkout whose key was used before; with `any_cart`, the stored
    /// orders whatever the fingerprint (and none when the key is unknown).
    async fn replay(&self, checkout: &NewCheckout, any_cart: bool) -> StoreResult<CheckoutOutcome> {
        let found = self
            .checkouts
            .find_one(doc! {
                "buyer_id": checkout.buyer_id.as_str(),
                "key": &checkout.idempotency_key,
            })
            .await?;
        let stored = match found {
            Some(stored) => stored,
            None if any_cart => return Ok(CheckoutOutcome::Replayed(Vec::new())),
            None => {
                return Err(StoreError::Backend(
                    "a duplicate checkout key vanished".into(),
                ));
            }
        };
        if !any_cart && stored.get_str("fingerprint").unwrap_or_default() != checkout.fingerprint {
            return Ok(CheckoutOutcome::KeyReused);
        }
        let ids: Vec<Bson> = stored.get_array("order_ids")?.clone();
        let orders = self
            .find_orders(doc! { "_id": { "$in": ids } }, OLDEST_FIRST, None)
            .await?;
        Ok(CheckoutOutcome::Replayed(orders))
    }

    /// `seller`'s listings that are not deleted, counted per status name.
    async fn listing_counts(&self, seller: &UserId) -> StoreResult<Vec<(String, i64)>> {
        let groups: Vec<Group<String>> = self
            .posts
            .aggregate(vec![
                doc! { "$match": {
                    "author_id": seller.as_str(),
                    "kind": "LISTING",
                    "deleted_at": null,
                } },
                doc! { "$group": { "_id": "$status", "n": { "$sum": 1 } } },
            ])
            .with_type::<Group<String>>()
            .await?
            .try_collect()
            .await?;
        Ok(groups.into_iter().map(|g| (g.key, g.n)).collect())
    }

    /// `seller`'s orders counted and their totals summed per status and currency.
    async fn order_counts(&self, seller: &UserId) -> StoreResult<Vec<(String, String, i64, i64)>> {
        let groups: Vec<Group<StatusAndCurrency>> = self
            .orders
            .aggregate(vec![
                doc! { "$match": { "seller_id": seller.as_str() } },
                doc! { "$group": {
                    "_id": { "status": "$status", "currency": "$currency" },
                    "n": { "$sum": 1 },
                    "total": { "$sum": "$total" },
                } },
            ])
            .with_type::<Group<StatusAndCurrency>>()
            .await?
            .try_collect()
            .await?;
        Ok(groups
            .into_iter()
            .map(|g| (g.key.status, g.key.currency, g.n, g.total))
            .collect())
    }

    /// Writes `record` over the stored order if that is still at the revision before it
    /// (inside `session` when given); whether it was.
    async fn compare_and_set(
        &self,
        record: &OrderRecord,
        session: Option<&mut ClientSession>,
    ) -> mongodb::error::Result<bool> {
        let mut replace = self.orders.replace_one(
            doc! { "_id": &record.id, "revision": record.revision - 1 },
            record,
        );
        if let Some(session) = session {
            replace = replace.session(session);
        }
        Ok(replace.await?.matched_count == 1)
    }

    /// The body of an update's transaction: the compare-and-set write of `order`, its
    /// restock, and when it is delivered the verification of its buyer's reviews. A stale
    /// revision gives up with [`OrderUpdate::Stale`].
    async fn rewrite(
        &self,
        session: &mut ClientSession,
        (record, order, restock): (&OrderRecord, &Order, bool),
    ) -> mongodb::error::Result<()> {
        if !self.compare_and_set(record, Some(&mut *session)).await? {
            return Err(DriverError::custom(OrderUpdate::Stale));
        }
        if restock {
            for item in &order.items {
                self.restock_in(session, &item.post_id, item.quantity)
                    .await?;
            }
        }
        if order.status == OrderStatus::Delivered {
            mongo_mark_verified(&self.db, session, &order.buyer_id, &listing_ids([order])).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl OrderStore for MongoOrderStore {
    async fn set_cart_line(
        &self,
        user: &UserId,
        post: &PostId,
        quantity: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.cart
            .update_one(
                doc! { "_id": cart_line_id(user, post) },
                doc! {
                    "$set": { "quantity": quantity },
                    "$setOnInsert": {
                        "user_id": user.as_str(),
                        "post_id": post.as_str(),
                        "added_at": to_bson_time(at),
                    },
                },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    async fn remove_cart_line(&self, user: &UserId, post: &PostId) -> StoreResult<bool> {
        let removed = self
            .cart
            .delete_one(doc! { "_id": cart_line_id(user, post) })
            .await?;
        Ok(removed.deleted_count > 0)
    }

    async fn clear_cart(&self, user: &UserId) -> StoreResult<()> {
        self.cart
            .delete_many(doc! { "user_id": user.as_str() })
            .await?;
        Ok(())
    }

    async fn cart(&self, user: &UserId) -> StoreResult<Vec<CartLine>> {
        let lines = self.cart.clone_with_type::<CartLineDoc>();
        collect(
            lines
                .find(doc! { "user_id": user.as_str() })
                .sort(doc! { "added_at": 1, "post_id": 1 }),
        )
        .await
    }

    async fn checkout(&self, checkout: &NewCheckout) -> StoreResult<CheckoutOutcome> {
        if checkout.orders.is_empty() {
            return self.replay(checkout, true).await;
        }
        ensure_buyer_document(&self.buyers, checkout.buyer_id.as_str()).await?;
        let placed = transaction(&self.client, (self, checkout), |session, context| {
            let (store, checkout) = *context;
            async move { store.place(session, checkout).await }.boxed()
        })
        .await;
        match placed {
            Ok(()) => Ok(CheckoutOutcome::Placed {
                listings: self.listings_of(&checkout.orders).await?,
                orders: checkout.orders.clone(),
            }),
            Err(err) => match err.get_custom::<CheckoutOutcome>() {
                Some(refused) => Ok(refused.clone()),
                None if is_duplicate_key_on(&err, CHECKOUT_KEY_UNIQUE) => {
                    self.replay(checkout, false).await
                }
                None => Err(err.into()),
            },
        }
    }

    async fn get_order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        Ok(self.get_many_orders(std::slice::from_ref(id)).await?.pop())
    }

    async fn get_many_orders(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.find_orders(id_in(ids), OLDEST_FIRST, None).await
    }

    async fn orders_of(
        &self,
        user: &UserId,
        side: OrderSide,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<Order>> {
        let mut filter = side_filter(user, side, status);
        if let Some((ms, id)) = crate::store::cursor::split(page.after.as_deref()) {
            after_cursor(&mut filter, ("created_at", ms.into()), ("_id", &id), true);
        }
        let items = self
            .find_orders(filter, NEWEST_FIRST, Some(fetch_limit(page.limit)))
            .await?;
        Ok(Page::from_overfetch(items, page.limit))
    }

    async fn count_orders_of(
        &self,
        user: &UserId,
        side: OrderSide,
        status: Option<OrderStatus>,
    ) -> StoreResult<u64> {
        Ok(self
            .orders
            .count_documents(side_filter(user, side, status))
            .await?)
    }

    async fn update_order(&self, order: &Order, restock: bool) -> StoreResult<OrderUpdate> {
        let mut next = order.clone();
        next.revision = order.revision + 1;
        let record = OrderRecord::from(&next);
        let delivered = next.status == OrderStatus::Delivered;
        let written = if restock || delivered {
            if delivered {
                ensure_buyer_document(&self.buyers, next.buyer_id.as_str()).await?;
            }
            let context = (self, (&record, &next, restock));
            match transaction(&self.client, context, |session, context| {
                let (store, update) = *context;
                async move { store.rewrite(session, update).await }.boxed()
            })
            .await
            {
                Err(err) if err.get_custom::<OrderUpdate>().is_some() => false,
                written => {
                    written?;
                    true
                }
            }
        } else {
            self.compare_and_set(&record, None).await?
        };
        if !written {
            return Ok(OrderUpdate::Stale);
        }
        let listings = if restock {
            self.listings_of([&next]).await?
        } else {
            Vec::new()
        };
        Ok(OrderUpdate::Updated {
            order: Box::new(next),
            listings,
        })
    }

    async fn record_payment_attempt(&self, attempt: &PaymentAttempt) -> StoreResult<()> {
        self.attempts
            .insert_one(AttemptRecord::from(attempt))
            .await?;
        Ok(())
    }

    async fn payment_attempts(&self, order: &OrderId) -> StoreResult<Vec<PaymentAttempt>> {
        let records: Vec<AttemptRecord> = self
            .attempts
            .find(doc! { "order_id": order.as_str() })
            .sort(doc! { "at": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?;
        records.into_iter().map(PaymentAttempt::try_from).collect()
    }

    async fn unpaid_orders_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Order>> {
        self.find_orders(
            doc! {
                "status": OrderStatus::PendingPayment.as_str(),
                "created_at": { "$lt": before.timestamp_millis() },
            },
            OLDEST_FIRST,
            Some(i64::try_from(limit).unwrap_or(i64::MAX)),
        )
        .await
    }

    async fn delivered_purchases(
        &self,
        pairs: &[(UserId, PostId)],
    ) -> StoreResult<Vec<(UserId, PostId)>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut buyers: Vec<&str> = pairs.iter().map(|(u, _)| u.as_str()).collect();
        buyers.sort_unstable();
        buyers.dedup();
        let mut posts: Vec<&str> = pairs.iter().map(|(_, p)| p.as_str()).collect();
        posts.sort_unstable();
        posts.dedup();
        let filter = doc! {
            "status": OrderStatus::Delivered.as_str(),
            "buyer_id": { "$in": buyers },
            "items.post_id": { "$in": posts },
        };
        let orders = self.find_orders(filter, OLDEST_FIRST, None).await?;
        Ok(pairs
            .iter()
            .filter(|(user, post)| {
                orders
                    .iter()
                    .any(|o| &o.buyer_id == user && o.items.iter().any(|i| &i.post_id == post))
            })
            .cloned()
            .collect())
    }

    /// Three aggregations at once: listings per status, orders per status and currency, and
    /// the rating sums the reviews store computes.
    async fn seller_stats(&self, seller: &UserId) -> StoreResult<SellerStats> {
        let (listings, orders, mut rating) = tokio::try_join!(
            self.listing_counts(seller),
            self.order_counts(seller),
            self.reviews.seller_ratings(std::slice::from_ref(seller)),
        )?;
        let rating = rating.pop().map(|(_, rating)| rating).unwrap_or_default();
        Ok(SellerStats::from_counts(listings, orders, rating))
    }
}
