//! [`OrderStore`] on SQLite.
//!
//! Checkout is one `BEGIN IMMEDIATE` transaction on the single writer: the idempotency record
//! goes in first (its primary key is `(buyer, key)`, so a replay finds it), then each line's
//! guarded decrement `stock = stock - q WHERE stock >= q AND status = 'ACTIVE'` (no row
//! changed: out of stock, roll back), the orders and their item rows, and the emptied cart.
//! Between the record and the stock, the buyer's unpaid orders and the units they hold of
//! each listing are counted against the [`UnpaidLimits`](super::UnpaidLimits) (over: roll
//! back). Writers queue on the write connection, so concurrent checkouts simply run one after
//! the other and the guards and counts decide; nothing is read outside the transaction that
//! it depends on.
//!
//! An order turning `DELIVERED` marks its buyer's reviews of its listings as verified
//! purchases in its own transaction (`store::reviews::sqlite_mark_verified`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Params, Transaction, params};

use super::record::{AttemptRecord, OrderRecord};
use super::{
    CheckoutOutcome, NewCheckout, OrderSide, OrderStore, OrderUpdate, SellerStats,
    UnpaidLimitExceeded, listing_ids,
};
use crate::clock::{from_millis, to_millis};
use crate::domain::{CartLine, Order, OrderId, OrderStatus, PaymentAttempt, Post, PostId, UserId};
use crate::store::posts::sqlite_posts_by_ids;
use crate::store::reviews::{sqlite_mark_verified, sqlite_seller_ratings};
use crate::store::sqlite::{SqliteDb, StatementExt, from_count, ids_json};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

pub struct SqliteOrderStore {
    db: SqliteDb,
}

impl SqliteOrderStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

fn order_json(order: &Order) -> StoreResult<String> {
    Ok(serde_json::to_string(&OrderRecord::from(order))?)
}

/// The orders a `SELECT record FROM orders …` statement finds, in its order.
fn select_orders(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<Vec<Order>> {
    let records = conn
        .prepare_cached(sql)?
        .query_vec(params, |row| row.get::<_, String>(0))?;
    records
        .iter()
        .map(|json| {
            let record: OrderRecord = serde_json::from_str(json)
                .map_err(|e| StoreError::Backend(format!("corrupt order record: {e}")))?;
            Order::try_from(record)
        })
        .collect()
}

fn orders_by_ids(conn: &Connection, ids: &[impl AsRef<str>]) -> StoreResult<Vec<Order>> {
    select_orders(
        conn,
        "SELECT record FROM orders WHERE id IN (SELECT value FROM json_each(?1)) \
         ORDER BY created_at, id",
        [ids_json(ids)],
    )
}

fn insert_order(tx: &Transaction<'_>, order: &Order) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO orders (id, buyer_id, seller_id, status, revision, currency, total, \
         created_at, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        order.id.as_str(),
        order.buyer_id.as_str(),
        order.seller_id.as_str(),
        order.status.as_str(),
        order.revision,
        order.total.currency.code(),
        order.total.amount.scaled(),
        to_millis(order.created_at),
        order_json(order)?,
    ])?;
    let mut item = tx.prepare_cached(
        "INSERT INTO order_items (order_id, post_id, buyer_id) VALUES (?1, ?2, ?3)",
    )?;
    for i in &order.items {
        item.execute(params![
            order.id.as_str(),
            i.post_id.as_str(),
            order.buyer_id.as_str()
        ])?;
    }
    Ok(())
}

/// The fingerprint and order ids stored for `buyer`'s idempotency `key`, if it was used.
fn stored_checkout(
    tx: &Transaction<'_>,
    buyer: &UserId,
    key: &str,
) -> StoreResult<Option<(String, Vec<String>)>> {
    let found: Option<(String, String)> = tx
        .prepare_cached(
            "SELECT fingerprint, order_ids FROM checkouts WHERE buyer_id = ?1 AND idem_key = ?2",
        )?
        .query_row(params![buyer.as_str(), key], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    Ok(found
        .map(|(fingerprint, ids)| (fingerprint, serde_json::from_str(&ids).unwrap_or_default())))
}

/// Gives each item's quantity back to its listing; a `SOLD` listing with stock again is
/// `ACTIVE`.
fn restock(tx: &Transaction<'_>, order: &Order) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE posts SET stock = stock + ?2, \
         status = CASE WHEN status = 'SOLD' AND stock + ?2 > 0 THEN 'ACTIVE' ELSE status END \
         WHERE id = ?1 AND stock IS NOT NULL",
    )?;
    for item in &order.items {
        stmt.execute(params![item.post_id.as_str(), item.quantity])?;
    }
    Ok(())
}

/// Takes each item's quantity from its listing, which must be `ACTIVE` with that much stock;
/// one that runs out is `SOLD`. The first listing that cannot give its quantity, if any.
fn take_stock(tx: &Transaction<'_>, orders: &[Order]) -> StoreResult<Option<PostId>> {
    let mut stmt = tx.prepare_cached(
        "UPDATE posts SET stock = stock - ?2, \
         status = CASE WHEN stock - ?2 = 0 THEN 'SOLD' ELSE status END \
         WHERE id = ?1 AND stock >= ?2 AND status = 'ACTIVE' AND deleted_at IS NULL",
    )?;
    for item in orders.iter().flat_map(|o| &o.items) {
        if stmt.execute(params![item.post_id.as_str(), item.quantity])? == 0 {
            return Ok(Some(item.post_id.clone()));
        }
    }
    Ok(None)
}

/// The first of `checkout.limits` that its orders would break, counting the buyer's
/// `PENDING_PAYMENT` orders and the units of each listing in them.
fn unpaid_limit_exceeded(
    tx: &Transaction<'_>,
    checkout: &NewCheckout,
) -> StoreResult<Option<UnpaidLimitExceeded>> {
    let buyer = checkout.buyer_id.as_str();
    let held_orders: i64 = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM orders WHERE buyer_id = ?1 AND status = 'PENDING_PAYMENT'",
        )?
        .query_row([buyer], |row| row.get(0))?;
    // Bounded by the limit on unpaid orders: only the items of those orders are read.
    let held_units = tx
        .prepare_cached(
            "SELECT json_extract(item.value, '$.post_id'), \
             SUM(json_extract(item.value, '$.quantity')) \
             FROM orders AS o, json_each(o.record, '$.items') AS item \
             WHERE o.buyer_id = ?1 AND o.status = 'PENDING_PAYMENT' GROUP BY 1",
        )?
        .query_vec([buyer], |row| {
            Ok((PostId::from_trusted(row.get(0)?), row.get::<_, i64>(1)?))
        })?;
    Ok(checkout
        .limits
        .check(&checkout.orders, held_orders, &held_units))
}

fn listings_of<'a>(
    conn: &Connection,
    orders: impl IntoIterator<Item = &'a Order>,
) -> StoreResult<Vec<Post>> {
    sqlite_posts_by_ids(conn, &listing_ids(orders))
}

/// The stored orders of a checkout whose key was used before for `fingerprint` (any
/// fingerprint with `None`): what a replay answers.
fn replay(
    tx: &Transaction<'_>,
    checkout: &NewCheckout,
    fingerprint: Option<&str>,
) -> StoreResult<CheckoutOutcome> {
    let stored = stored_checkout(tx, &checkout.buyer_id, &checkout.idempotency_key)?;
    let ids = match (stored, fingerprint) {
        (Some((stored, _)), Some(fingerprint)) if stored != fingerprint => {
            return Ok(CheckoutOutcome::KeyReused);
        }
        (Some((_, ids)), _) => ids,
        (None, _) => Vec::new(),
    };
    Ok(CheckoutOutcome::Replayed(orders_by_ids(tx, &ids)?))
}

#[async_trait::async_trait]
impl OrderStore for SqliteOrderStore {
    async fn set_cart_line(
        &self,
        user: &UserId,
        post: &PostId,
        quantity: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO cart_items (user_id, post_id, quantity, added_at) \
                   VALUES (?1, ?2, ?3, ?4) \
                   ON CONFLICT (user_id, post_id) DO UPDATE SET quantity = excluded.quantity";
        let params = (user.to_string(), post.to_string(), quantity, to_millis(at));
        self.db.execute(sql, params).await?;
        Ok(())
    }

    async fn remove_cart_line(&self, user: &UserId, post: &PostId) -> StoreResult<bool> {
        let sql = "DELETE FROM cart_items WHERE user_id = ?1 AND post_id = ?2";
        let params = (user.to_string(), post.to_string());
        Ok(self.db.execute(sql, params).await? > 0)
    }

    async fn clear_cart(&self, user: &UserId) -> StoreResult<()> {
        let sql = "DELETE FROM cart_items WHERE user_id = ?1";
        self.db.execute(sql, [user.to_string()]).await?;
        Ok(())
    }

    /// Bounded: a cart holds at most `MAX_CART_LINES` lines.
    async fn cart(&self, user: &UserId) -> StoreResult<Vec<CartLine>> {
        let sql = "SELECT post_id, quantity, added_at FROM cart_items WHERE user_id = ?1 \
                   ORDER BY added_at, post_id";
        self.db
            .select(sql, [user.as_str()], |row| {
                Ok(CartLine {
                    post_id: PostId::from_trusted(row.get(0)?),
                    quantity: row.get(1)?,
                    added_at: from_millis(row.get(2)?),
                })
            })
            .await
    }

    async fn checkout(&self, checkout: &NewCheckout) -> StoreResult<CheckoutOutcome> {
        let checkout = checkout.clone();
        self.db
            .write(move |tx| {
                if checkout.orders.is_empty() {
                    return replay(tx, &checkout, None);
                }
                let order_ids: Vec<&str> = checkout.orders.iter().map(|o| o.id.as_str()).collect();
                // Everything below either commits whole or is rolled back to here; an
                // out-of-stock line then commits the empty transaction and reports itself.
                tx.execute_batch("SAVEPOINT checkout")?;
                let inserted = tx
                    .prepare_cached(
                        "INSERT INTO checkouts (buyer_id, idem_key, fingerprint, order_ids, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    )?
                    .execute(params![
                        checkout.buyer_id.as_str(),
                        checkout.idempotency_key,
                        checkout.fingerprint,
                        ids_json(&order_ids),
                        to_millis(checkout.at),
                    ])?;
                if inserted == 0 {
                    tx.execute_batch("RELEASE checkout")?;
                    return replay(tx, &checkout, Some(&checkout.fingerprint));
                }
                let refused = match unpaid_limit_exceeded(tx, &checkout)? {
                    Some(exceeded) => Some(CheckoutOutcome::OverLimit(exceeded)),
                    None => take_stock(tx, &checkout.orders)?.map(CheckoutOutcome::OutOfStock),
                };
                if let Some(refused) = refused {
                    tx.execute_batch("ROLLBACK TO checkout; RELEASE checkout")?;
                    return Ok(refused);
                }
                for order in &checkout.orders {
                    insert_order(tx, order)?;
                }
                tx.execute(
                    "DELETE FROM cart_items WHERE user_id = ?1",
                    [checkout.buyer_id.as_str()],
                )?;
                tx.execute_batch("RELEASE checkout")?;
                Ok(CheckoutOutcome::Placed {
                    listings: listings_of(tx, &checkout.orders)?,
                    orders: checkout.orders,
                })
            })
            .await
    }

    async fn get_order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        Ok(self.get_many_orders(std::slice::from_ref(id)).await?.pop())
    }

    async fn get_many_orders(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(OrderId::to_string).collect();
        self.db.read(move |conn| orders_by_ids(conn, &ids)).await
    }

    async fn orders_of(
        &self,
        user: &UserId,
        side: OrderSide,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<Order>> {
        let user = user.clone();
        let (after_ms, after_id) = crate::store::cursor::split(page.after.as_deref())
            .map_or((None, None), |(ms, id)| (Some(ms), Some(id)));
        let limit = page.limit;
        self.db
            .read(move |conn| {
                let sql = format!(
                    "SELECT record FROM orders WHERE {} = ?1 \
                     AND (?2 IS NULL OR status = ?2) \
                     AND (?3 IS NULL OR (created_at, id) < (?3, ?4)) \
                     ORDER BY created_at DESC, id DESC LIMIT ?5 + 0",
                    side.field()
                );
                let orders = select_orders(
                    conn,
                    &sql,
                    params![
                        user.as_str(),
                        status.map(OrderStatus::as_str),
                        after_ms,
                        after_id,
                        limit as i64 + 1
                    ],
                )?;
                Ok(Page::from_overfetch(orders, limit))
            })
            .await
    }

    async fn count_orders_of(
        &self,
        user: &UserId,
        side: OrderSide,
        status: Option<OrderStatus>,
    ) -> StoreResult<u64> {
        let user = user.clone();
        self.db
            .scan(move |conn| {
                let n = conn
                    .prepare_cached(&format!(
                        "SELECT COUNT(*) FROM orders WHERE {} = ?1 AND (?2 IS NULL OR status = ?2)",
                        side.field()
                    ))?
                    .query_row(
                        params![user.as_str(), status.map(OrderStatus::as_str)],
                        |row| row.get(0),
                    )?;
                Ok(from_count(n))
            })
            .await
    }

    async fn update_order(&self, order: &Order, restock_items: bool) -> StoreResult<OrderUpdate> {
        let mut next = order.clone();
        next.revision = order.revision + 1;
        self.db
            .write(move |tx| {
                let written = tx
                    .prepare_cached(
                        "UPDATE orders SET status = ?3, revision = ?4, record = ?5 \
                         WHERE id = ?1 AND revision = ?2",
                    )?
                    .execute(params![
                        next.id.as_str(),
                        next.revision - 1,
                        next.status.as_str(),
                        next.revision,
                        order_json(&next)?
                    ])?;
                if written == 0 {
                    return Ok(OrderUpdate::Stale);
                }
                if next.status == OrderStatus::Delivered {
                    sqlite_mark_verified(tx, &next.buyer_id, &listing_ids([&next]))?;
                }
                let listings = if restock_items {
                    restock(tx, &next)?;
                    listings_of(tx, [&next])?
                } else {
                    Vec::new()
                };
                Ok(OrderUpdate::Updated {
                    order: Box::new(next),
                    listings,
                })
            })
            .await
    }

    async fn record_payment_attempt(&self, attempt: &PaymentAttempt) -> StoreResult<()> {
        let record = AttemptRecord::from(attempt);
        let json = serde_json::to_string(&record)?;
        let sql = "INSERT INTO payment_attempts (id, order_id, at, record) VALUES (?1, ?2, ?3, ?4)";
        let params = (record.id, record.order_id, record.at, json);
        self.db.execute(sql, params).await?;
        Ok(())
    }

    async fn payment_attempts(&self, order: &OrderId) -> StoreResult<Vec<PaymentAttempt>> {
        let sql = "SELECT record FROM payment_attempts WHERE order_id = ?1 ORDER BY at, id";
        let records = self
            .db
            .select(sql, [order.as_str()], |row| row.get::<_, String>(0))
            .await?;
        records
            .iter()
            .map(|json| PaymentAttempt::try_from(serde_json::from_str::<AttemptRecord>(json)?))
            .collect()
    }

    async fn unpaid_orders_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Order>> {
        self.db
            .scan(move |conn| {
                select_orders(
                    conn,
                    "SELECT record FROM orders WHERE status = 'PENDING_PAYMENT' \
                     AND created_at < ?1 ORDER BY created_at, id LIMIT ?2 + 0",
                    params![to_millis(before), limit as i64],
                )
            })
            .await
    }

    async fn delivered_purchases(
        &self,
        pairs: &[(UserId, PostId)],
    ) -> StoreResult<Vec<(UserId, PostId)>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let json = serde_json::to_string(
            &pairs
                .iter()
                .map(|(u, p)| [u.as_str(), p.as_str()])
                .collect::<Vec<_>>(),
        )?;
        let sql = "SELECT DISTINCT i.buyer_id, i.post_id FROM json_each(?1) AS pair \
                   JOIN order_items i ON i.buyer_id = json_extract(pair.value, '$[0]') \
                    AND i.post_id = json_extract(pair.value, '$[1]') \
                   JOIN orders o ON o.id = i.order_id AND o.status = 'DELIVERED'";
        self.db
            .select(sql, [json], |row| {
                Ok((
                    UserId::from_trusted(row.get(0)?),
                    PostId::from_trusted(row.get(1)?),
                ))
            })
            .await
    }

    /// Three statements on one read connection: listings per status, orders per status and
    /// currency, and the rating sums the reviews store computes.
    async fn seller_stats(&self, seller: &UserId) -> StoreResult<SellerStats> {
        let seller = seller.clone();
        self.db
            .scan(move |conn| {
                let listings = conn
                    .prepare_cached(
                        "SELECT status, COUNT(*) FROM posts WHERE author_id = ?1 \
                         AND kind = 'LISTING' AND deleted_at IS NULL GROUP BY status",
                    )?
                    .query_vec([seller.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
                let orders = conn
                    .prepare_cached(
                        "SELECT status, currency, COUNT(*), SUM(total) FROM orders \
                         WHERE seller_id = ?1 GROUP BY status, currency",
                    )?
                    .query_vec([seller.as_str()], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                    })?;
                let rating = sqlite_seller_ratings(conn, std::slice::from_ref(&seller))?
                    .pop()
                    .map(|(_, rating)| rating)
                    .unwrap_or_default();
                Ok(SellerStats::from_counts(listings, orders, rating))
            })
            .await
    }
}
