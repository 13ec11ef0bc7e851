//! Carts, checkout, orders, payment attempts and the status history of orders.
//!
//! Stock belongs to the listing (`posts`), and the order store is the only writer of stock
//! besides a seller's own edit: checkout takes stock in the same atomic unit that creates
//! the orders, and cancelling an order gives it back in the same unit that cancels it. A
//! listing whose stock reaches 0 becomes `SOLD`; stock coming back makes a `SOLD` listing
//! `ACTIVE` again.
//!
//! Unpaid orders hold stock, so checkout also enforces the buyer's [`UnpaidLimits`] in the
//! same atomic unit: counted inside it, they hold under any number of concurrent checkouts.
//!
//! Authorization and prices are the service's business: this module stores and finds.

mod mongo;
mod record;
mod sqlite;

pub use mongo::MongoOrderStore;
pub(crate) use mongo::{BUYERS as MONGO_BUYERS, ensure_buyer_document, touch_buyer};
pub use sqlite::SqliteOrderStore;

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreResult};
use crate::domain::{
    CartLine, Currency, ListingStatus, Order, OrderId, OrderStatus, PaymentAttempt, Post, PostId,
    RatingSummary, UserId,
};

impl super::Keyed for Order {
    /// Orders list newest first by creation time.
    fn cursor(&self) -> String {
        super::cursor::keyset(self.created_at.timestamp_millis(), &self.id)
    }
}

/// Which side of an order a list is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderSide {
    Buyer,
    Seller,
}

/// What one buyer may hold in unpaid (`PENDING_PAYMENT`) orders at once, the new orders of a
/// checkout included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpaidLimits {
    /// Units of any one listing, over all the buyer's unpaid orders.
    pub units_per_listing: i64,
    /// Unpaid orders.
    pub orders: i64,
}

/// Which of the [`UnpaidLimits`] a checkout would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnpaidLimitExceeded {
    /// The buyer holds `held` units of `post` in unpaid orders already; the checkout asks for
    /// `requested` more, over `limit`.
    UnitsPerListing {
        post: PostId,
        held: i64,
        requested: i64,
        limit: i64,
    },
    /// The buyer has `held` unpaid orders; the checkout would add `requested`, over `limit`.
    Orders {
        held: i64,
        requested: i64,
        limit: i64,
    },
}

impl UnpaidLimits {
    /// The first limit the buyer would break by adding `orders` to what they hold unpaid:
    /// `held_orders` orders and, per listing, the units in `held_units` (a listing missing
    /// from it: none).
    pub fn check(
        &self,
        orders: &[Order],
        held_orders: i64,
        held_units: &[(PostId, i64)],
    ) -> Option<UnpaidLimitExceeded> {
        let requested = i64::try_from(orders.len()).unwrap_or(i64::MAX);
        if held_orders.saturating_add(requested) > self.orders {
            return Some(UnpaidLimitExceeded::Orders {
                held: held_orders,
                requested,
                limit: self.orders,
            });
        }
        // A cart has one line per listing, so each listing is in one item of one order.
        orders.iter().flat_map(|o| &o.items).find_map(|item| {
            let held = held_units
                .iter()
                .find(|(post, _)| post == &item.post_id)
                .map_or(0, |(_, units)| *units);
            (held.saturating_add(item.quantity) > self.units_per_listing).then(|| {
                UnpaidLimitExceeded::UnitsPerListing {
                    post: item.post_id.clone(),
                    held,
                    requested: item.quantity,
                    limit: self.units_per_listing,
                }
            })
        })
    }
}

/// One checkout, ready to store: the orders the service split the cart into, the
/// idempotency key with the fingerprint of the cart it was first used for, and the limits on
/// what the buyer may hold unpaid.
#[derive(Debug, Clone)]
pub struct NewCheckout {
    pub buyer_id: UserId,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub orders: Vec<Order>,
    pub limits: UnpaidLimits,
    pub at: DateTime<Utc>,
}

/// What [`OrderStore::checkout`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckoutOutcome {
    /// The orders were stored, stock taken and the cart cleared. `listings` are the listings
    /// whose stock changed, as they are now.
    Placed {
        orders: Vec<Order>,
        listings: Vec<Post>,
    },
    /// The key was used before for the same cart: the orders stored then, nothing changed now.
    Replayed(Vec<Order>),
    /// The key was used before for a different cart; nothing changed.
    KeyReused,
    /// This listing has less stock than the order asks for, or is no longer active (or no
    /// longer exists); nothing changed.
    OutOfStock(PostId),
    /// Placing the orders would break one of the buyer's [`UnpaidLimits`]; nothing changed.
    OverLimit(UnpaidLimitExceeded),
}

/// What [`OrderStore::update_order`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderUpdate {
    /// Written; the order at its new revision and the listings whose stock came back.
    Updated {
        order: Box<Order>,
        listings: Vec<Post>,
    },
    /// The order is not at the expected revision any more (or does not exist): someone else
    /// changed it first. Nothing was written.
    Stale,
}

/// A seller's figures, gathered by [`OrderStore::seller_stats`] in one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SellerStats {
    /// Their listings that are not deleted, per status (statuses without any left out),
    /// in [`ListingStatus::ALL`] order.
    pub listings_by_status: Vec<(ListingStatus, u64)>,
    /// Their orders per status (statuses without any left out), in status order.
    pub orders_by_status: Vec<(OrderStatus, u64)>,
    /// Totals of `DELIVERED` orders per currency, in [`crate::domain::Amount`] scaled units,
    /// by currency code.
    pub delivered_revenue: Vec<(Currency, i64)>,
    /// Their listings' rating counters summed, as [`super::ReviewStore::seller_ratings`]
    /// sums them (zero without listings).
    pub rating: RatingSummary,
}

impl SellerStats {
    /// The figures from what an adapter counted: listings per status name, and orders per
    /// status name and currency code with their summed total. Names this version does not
    /// know are left out.
    fn from_counts(
        listings: Vec<(String, i64)>,
        orders: Vec<(String, String, i64, i64)>,
        rating: RatingSummary,
    ) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut stats = SellerStats {
            rating,
            ..SellerStats::default()
        };
        for status in ListingStatus::ALL {
            let n: i64 = listings
                .iter()
                .filter(|(name, _)| name == status.as_str())
                .map(|(_, n)| n)
                .sum();
            if n > 0 {
                stats.listings_by_status.push((status, count(n)));
            }
        }
        for (name, currency, n, total) in orders {
            let Some(status) = OrderStatus::from_name(&name) else {
                continue;
            };
            match stats
                .orders_by_status
                .iter_mut()
                .find(|(s, _)| *s == status)
            {
                Some((_, sum)) => *sum += count(n),
                None => stats.orders_by_status.push((status, count(n))),
            }
            if status == OrderStatus::Delivered
                && let Ok(currency) = Currency::parse("currency", &currency)
            {
                stats.delivered_revenue.push((currency, total));
            }
        }
        stats.orders_by_status.sort();
        stats
            .delivered_revenue
            .sort_by(|a, b| a.0.code().cmp(b.0.code()));
        stats
    }
}

impl OrderSide {
    /// The stored field (column) holding the user on this side: the same in both adapters.
    fn field(self) -> &'static str {
        match self {
            OrderSide::Buyer => "buyer_id",
            OrderSide::Seller => "seller_id",
        }
    }
}

/// The listings `orders` take stock from, each once, by id: those whose stock a write
/// changed, to read back after it.
fn listing_ids<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Vec<PostId> {
    let mut ids: Vec<PostId> = orders
        .into_iter()
        .flat_map(|o| o.items.iter().map(|i| i.post_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Storage of carts and orders.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - A cart has at most one line per listing; lines are listed oldest first.
/// - A checkout without orders (a retry after the cart was emptied by the first attempt) only
///   looks its key up: the orders stored for it whatever the fingerprint, or none.
/// - Checkout is all or nothing: the idempotency record (unique per buyer and key), every
///   guarded stock decrement (never below zero, only on `ACTIVE` listings), the listings that
///   run out turning `SOLD`, the orders and the emptied cart commit together.
/// - Order updates are compare-and-set on `revision`: of two updates computed from the same
///   revision exactly one is written. Cancelling gives the items' stock back in the same unit.
/// - Order lists are newest first by `(created_at, id)`; the cursor is
///   `"{created_at millis}:{id}"`.
#[async_trait::async_trait]
pub trait OrderStore: Send + Sync {
    /// Sets the quantity of `post` in `user`'s cart, adding the line (at `at`) if needed.
    async fn set_cart_line(
        &self,
        user: &UserId,
        post: &PostId,
        quantity: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Removes a line; whether there was one.
    async fn remove_cart_line(&self, user: &UserId, post: &PostId) -> StoreResult<bool>;
    async fn clear_cart(&self, user: &UserId) -> StoreResult<()>;
    /// The user's cart, oldest line first.
    async fn cart(&self, user: &UserId) -> StoreResult<Vec<CartLine>>;

    async fn checkout(&self, checkout: &NewCheckout) -> StoreResult<CheckoutOutcome>;

    async fn get_order(&self, id: &OrderId) -> StoreResult<Option<Order>>;
    /// The orders found, in any order.
    async fn get_many_orders(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>>;
    /// `user`'s orders as buyer or seller, optionally of one status, newest first.
    async fn orders_of(
        &self,
        user: &UserId,
        side: OrderSide,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<Order>>;
    async fn count_orders_of(
        &self,
        user: &UserId,
        side: OrderSide,
        status: Option<OrderStatus>,
    ) -> StoreResult<u64>;

    /// Writes `order` (its status, history, payment, `updated_at`) if the stored order is
    /// still at `order.revision`; the stored revision becomes `order.revision + 1`. With
    /// `restock`, every item's quantity goes back to its listing in the same unit.
    async fn update_order(&self, order: &Order, restock: bool) -> StoreResult<OrderUpdate>;

    /// Records a payment attempt, whatever its outcome.
    async fn record_payment_attempt(&self, attempt: &PaymentAttempt) -> StoreResult<()>;
    /// An order's payment attempts, oldest first.
    async fn payment_attempts(&self, order: &OrderId) -> StoreResult<Vec<PaymentAttempt>>;

    /// Orders still `PENDING_PAYMENT` that were created before `before`, oldest first, at
    /// most `limit`: the expiry task's work list.
    async fn unpaid_orders_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Order>>;

    /// Of the `(buyer, listing)` pairs, those where the buyer has a `DELIVERED` order
    /// containing the listing.
    async fn delivered_purchases(
        &self,
        pairs: &[(UserId, PostId)],
    ) -> StoreResult<Vec<(UserId, PostId)>>;

    /// `seller`'s figures (see [`SellerStats`]). Listings and their rating counters belong
    /// to the posts and reviews areas; they are read here so a seller's page is one call.
    async fn seller_stats(&self, seller: &UserId) -> StoreResult<SellerStats>;
}
