//! Output types of orders and the cart. Every relation field goes through a per-request loader;
//! the items, history and address of an order are part of the order itself.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{self, OrderStatus as DomainStatus, PaymentOutcome};
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::posts::{ListingStatus, Money, Post};
use crate::graphql::reviews::RatingSummary;
use crate::graphql::users::User;
use crate::graphql::wallet::Address;
use crate::service::{CartEntry, Viewer, viewer_next_statuses};
use crate::store::{self, OrderSide};

mirror_enum!(
    /// Where an order is in its lifecycle.
    OrderStatus => DomainStatus {
        PendingPayment, Paid, Processing, Shipped, OutForDelivery, Delivered, Cancelled
    }
);

/// Which side of an order the viewer is on, for `orders(role:)`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderRole {
    Buyer,
    Seller,
}

impl From<OrderRole> for OrderSide {
    fn from(role: OrderRole) -> Self {
        match role {
            OrderRole::Buyer => OrderSide::Buyer,
            OrderRole::Seller => OrderSide::Seller,
        }
    }
}

/// The viewer's cart; prices are the listings' current prices.
pub struct Cart(pub Vec<CartEntry>);

#[Object]
impl Cart {
    async fn items(&self) -> Vec<CartItem> {
        self.0.iter().cloned().map(CartItem).collect()
    }
    /// The sum of the available lines. Lines in another currency than the first available
    /// line are not added (a cart of several currencies checks out as several orders).
    async fn subtotal(&self) -> Option<Money> {
        let mut total: Option<domain::Money> = None;
        for entry in self.0.iter().filter(|e| e.available()) {
            let Some(line) = entry.line_total() else {
                continue;
            };
            total = match total {
                None => Some(line),
                Some(t) if t.currency == line.currency => Some(domain::Money {
                    amount: t.amount.checked_add(line.amount).unwrap_or(t.amount),
                    currency: t.currency,
                }),
                Some(t) => Some(t),
            };
        }
        total.map(Money::from)
    }
    /// Units in the cart, all lines.
    async fn item_count(&self) -> i64 {
        self.0.iter().map(|e| e.quantity).sum()
    }
}

pub struct CartItem(CartEntry);

#[Object]
impl CartItem {
    async fn post(&self) -> Post {
        Post(self.0.post.clone())
    }
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    async fn line_total(&self) -> Option<Money> {
        self.0.line_total().map(Money::from)
    }
    /// False when the listing stopped being for sale, or has less stock than the line.
    async fn available(&self) -> bool {
        self.0.available()
    }
}

/// `totalCount` of an order list, counted only when asked for.
pub struct OrdersTotal {
    pub viewer: Viewer,
    pub side: OrderSide,
    pub status: Option<DomainStatus>,
}

#[Object]
impl OrdersTotal {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(ctx
            .services()
            .orders
            .count_orders(&self.viewer, self.side, self.status)
            .await?)
    }
}

pub type OrderConnection = Connection<String, Order, OrdersTotal, EmptyFields>;

/// One seller's part of a checkout.
pub struct Order(pub domain::Order);

/// A user the record refers to, through the loader (`NOT_FOUND` if they vanished).
pub(crate) async fn user(ctx: &Context<'_>, id: &domain::UserId) -> Result<User> {
    found_user(ctx, id)
        .await?
        .ok_or_else(|| AppError::NotFound("user").into())
}

async fn found_user(ctx: &Context<'_>, id: &domain::UserId) -> Result<Option<User>> {
    Ok(ctx
        .loaders()
        .users
        .load_one(id.clone())
        .await?
        .map(User::new))
}

/// A post the record refers to, through the loader; `None` once it is deleted.
pub(crate) async fn live_post(ctx: &Context<'_>, id: &domain::PostId) -> Result<Option<Post>> {
    let post = ctx.loaders().posts.load_one(id.clone()).await?;
    Ok(post.filter(|p| p.deleted_at.is_none()).map(Post))
}

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Human-readable: the day and 12 hex digits (`261207-0A1B2C3D4E5F`).
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn buyer(&self, ctx: &Context<'_>) -> Result<User> {
        user(ctx, &self.0.buyer_id).await
    }
    async fn seller(&self, ctx: &Context<'_>) -> Result<User> {
        user(ctx, &self.0.seller_id).await
    }
    async fn items(&self) -> Vec<OrderItem> {
        self.0.items.iter().cloned().map(OrderItem).collect()
    }
    async fn total(&self) -> Money {
        self.0.total.into()
    }
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }
    /// Every status the order has had, oldest first, with who moved it (`by` is null for
    /// the system).
    async fn status_history(&self) -> Vec<OrderStatusChange> {
        self.0
            .history
            .iter()
            .cloned()
            .map(OrderStatusChange)
            .collect()
    }
    async fn shipping_address(&self) -> Address {
        Address(self.0.shipping_address.clone())
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// The successful charge, if the order was paid.
    async fn payment(&self) -> Option<Payment> {
        self.0.payment.clone().map(|p| Payment {
            attempt: p,
            refunded: self.0.status == DomainStatus::Cancelled,
        })
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The statuses the viewer may move the order to now (`payOrder` is the way to `PAID`).
    async fn next_statuses(&self, ctx: &Context<'_>) -> Vec<OrderStatus> {
        ctx.viewer()
            .map(|viewer| viewer_next_statuses(viewer, &self.0))
            .unwrap_or_default()
            .into_iter()
            .map(OrderStatus::from)
            .collect()
    }
}

/// A line of an order, with the title and unit price it had at checkout.
pub struct OrderItem(domain::OrderItem);

#[Object]
impl OrderItem {
    /// The listing now; `null` when it was deleted since.
    async fn post(&self, ctx: &Context<'_>) -> Result<Option<Post>> {
        live_post(ctx, &self.0.post_id).await
    }
    async fn post_id(&self) -> ID {
        ID(self.0.post_id.to_string())
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn unit_price(&self) -> Money {
        self.0.unit_price.into()
    }
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    async fn line_total(&self) -> Option<Money> {
        self.0.line_total().map(Money::from)
    }
}

pub struct OrderStatusChange(domain::StatusChange);

#[Object]
impl OrderStatusChange {
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    /// Who moved the order; `null` when the system did (unpaid orders expiring).
    async fn by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match &self.0.by {
            Some(id) => found_user(ctx, id).await,
            None => Ok(None),
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PaymentStatus {
    Succeeded,
    Refunded,
}

pub struct Payment {
    attempt: domain::PaymentAttempt,
    refunded: bool,
}

#[Object]
impl Payment {
    async fn amount(&self) -> Money {
        self.attempt.amount.into()
    }
    async fn card_last4(&self) -> &str {
        &self.attempt.card_last4
    }
    async fn status(&self) -> PaymentStatus {
        if self.refunded || self.attempt.outcome == PaymentOutcome::Refunded {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::Succeeded
        }
    }
    /// The gateway's reference of the charge.
    async fn reference(&self) -> &str {
        &self.attempt.reference
    }
    async fn paid_at(&self) -> DateTime<Utc> {
        self.attempt.at
    }
}

#[derive(SimpleObject)]
pub struct ListingStatusCount {
    pub status: ListingStatus,
    pub count: u64,
}

#[derive(SimpleObject)]
pub struct OrderStatusCount {
    pub status: OrderStatus,
    pub count: u64,
}

/// The viewer's figures as a seller.
#[derive(SimpleObject)]
pub struct SellerStats {
    /// Listings per status (every status, zeros included).
    pub listings_by_status: Vec<ListingStatusCount>,
    /// Orders per status (every status, zeros included).
    pub orders_by_status: Vec<OrderStatusCount>,
    /// Totals of delivered orders, one per currency.
    pub revenue: Vec<Money>,
    /// Over the reviews of all their listings.
    pub rating: RatingSummary,
}

impl From<store::SellerStats> for SellerStats {
    /// Every status listed, zeros included; revenue in money.
    fn from(stats: store::SellerStats) -> Self {
        let listings_by_status = domain::ListingStatus::ALL
            .into_iter()
            .map(|status| ListingStatusCount {
                status: status.into(),
                count: count_of(&stats.listings_by_status, status),
            })
            .collect();
        let orders_by_status = DomainStatus::ALL
            .into_iter()
            .map(|status| OrderStatusCount {
                status: status.into(),
                count: count_of(&stats.orders_by_status, status),
            })
            .collect();
        let revenue = stats
            .delivered_revenue
            .into_iter()
            .map(|(currency, scaled)| {
                domain::Money {
                    amount: domain::Amount::from_scaled(scaled),
                    currency,
                }
                .into()
            })
            .collect();
        SellerStats {
            listings_by_status,
            orders_by_status,
            revenue,
            rating: RatingSummary(stats.rating),
        }
    }
}

/// The count for `status` in a list that leaves zeros out.
fn count_of<S: PartialEq>(counts: &[(S, u64)], status: S) -> u64 {
    counts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}
