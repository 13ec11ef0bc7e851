//! The orders area: the cart ([`cart`]), the payment gateway ([`payments`]), and here
//! checkout, payment, the order lifecycle, reorder, seller figures and the expiry of unpaid
//! orders.
//!
//! Rules owned here:
//! - An order is visible to its buyer, its seller and admins only; to anyone else it does not
//!   exist (`NOT_FOUND`), so ids cannot be probed.
//! - Status moves follow [`crate::domain::can_move`]. A move the machine has for no one from
//!   the current status is `CONFLICT` (the order is not in a state that allows it); a move
//!   that exists but not for the viewer's role is `FORBIDDEN`. Every write is
//!   compare-and-set on the order's revision: the loser of a race gets `CONFLICT`.
//! - Only the buyer pays, with one of their own cards, an order that is `PENDING_PAYMENT`;
//!   paying anything else is `CONFLICT`. Every attempt is recorded, refused or not.
//! - A buyer holds at most [`UnpaidLimits`] in unpaid orders (so one unpaid checkout cannot
//!   take a listing off the market); a checkout over them is `BAD_USER_INPUT` on `cart`,
//!   naming the limit, and takes nothing. The store counts inside the checkout's own atomic
//!   unit, so concurrent checkouts cannot slip past the limits together.
//! - Cancelling returns the stock; a paid order is refunded through the gateway.
//! - Unpaid orders older than the TTL are cancelled by the system ([`OrderService::expire_unpaid`]),
//!   safe to run on several instances at once: the compare-and-set lets one cancel win.
//!
//! Events, published after the write: `OrderPlaced`, `OrderStatusChanged`, and `PostUpdated`
//! for each listing whose stock or status changed.

mod cart;
mod payments;

pub use cart::{CartEntry, CartService};
pub use payments::{ChargeResult, MockGateway, PaymentGateway, decline_reason};

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::wallet::WalletService;
use super::{Action, RateLimiter, Viewer};
use crate::clock::now;
use crate::domain::{
    AddressId, CardId, CheckoutLine, Order, OrderActor, OrderId, OrderStatus, PaymentAttempt,
    PaymentOutcome, Post, PostId, UserId, can_move, cart_fingerprint, next_statuses, split_cart,
};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{
    CheckoutOutcome, NewCheckout, OrderSide, OrderStore, OrderUpdate, Page, PageRequest,
    SellerStats, UnpaidLimitExceeded, UnpaidLimits,
};

/// How many unpaid orders one expiry pass cancels at most; the next pass takes the rest.
const EXPIRY_BATCH: usize = 200;

/// A parsed `checkout` request.
#[derive(Debug, Clone)]
pub struct CheckoutCommand {
    pub address_id: AddressId,
    pub idempotency_key: String,
    pub note: Option<String>,
}

#[derive(Clone)]
pub struct OrderService {
    orders: Arc<dyn OrderStore>,
    wallet: WalletService,
    cart: CartService,
    gateway: Arc<dyn PaymentGateway>,
    rate_limits: RateLimiter,
    events: EventBus,
    unpaid_limits: UnpaidLimits,
}

/// The `BAD_USER_INPUT` for a checkout over an unpaid limit: which limit, and what to do.
fn over_limit(exceeded: &UnpaidLimitExceeded) -> AppError {
    let message = match exceeded {
        UnpaidLimitExceeded::UnitsPerListing {
            post,
            held,
            requested,
            limit,
        } => format!(
            "asks for {requested} unit(s) of listing {post}, but a buyer may hold at most \
             {limit} unit(s) of one listing in unpaid orders and you hold {held}: pay or \
             cancel an unpaid order, or lower the quantity"
        ),
        UnpaidLimitExceeded::Orders {
            held,
            requested,
            limit,
        } => format!(
            "would place {requested} order(s), but a buyer may have at most {limit} unpaid \
             order(s) and you have {held}: pay or cancel one first"
        ),
    };
    AppError::bad_input("cart", message)
}

/// The order id an event is about, if it concerns `viewer` (as buyer or seller) and, with
/// `only`, that order.
fn concerns(event: &DomainEvent, viewer: &UserId, only: Option<&OrderId>) -> Option<OrderId> {
    let (order_id, buyer, seller) = match event {
        DomainEvent::OrderPlaced {
            order_id,
            buyer,
            seller,
        }
        | DomainEvent::OrderStatusChanged {
            order_id,
            buyer,
            seller,
            ..
        } => (order_id, buyer, seller),
        _ => return None,
    };
    let mine = buyer == viewer || seller == viewer;
    (mine && only.is_none_or(|id| id == order_id)).then(|| order_id.clone())
}

/// The roles `viewer` has towards `order`; empty when it may not see it.
pub fn actors_of(viewer: &Viewer, order: &Order) -> Vec<OrderActor> {
    let mut actors: Vec<OrderActor> = order.actor(viewer.id()).into_iter().collect();
    if viewer.is_admin() {
        actors.push(OrderActor::Admin);
    }
    actors
}

/// The statuses the viewer may move the order to now.
pub fn viewer_next_statuses(viewer: &Viewer, order: &Order) -> Vec<OrderStatus> {
    next_statuses(order.status, &actors_of(viewer, order))
}

impl OrderService {
    pub fn new(
        orders: Arc<dyn OrderStore>,
        wallet: WalletService,
        cart: CartService,
        gateway: Arc<dyn PaymentGateway>,
        rate_limits: RateLimiter,
        events: EventBus,
        unpaid_limits: UnpaidLimits,
    ) -> Self {
        Self {
            orders,
            wallet,
            cart,
            gateway,
            rate_limits,
            events,
            unpaid_limits,
        }
    }

    /// Splits the viewer's cart into one order per seller (and currency), taking the stock.
    pub async fn checkout(
        &self,
        viewer: &Viewer,
        command: CheckoutCommand,
    ) -> AppResult<Vec<Order>> {
        let address = self
            .wallet
            .list_addresses(viewer.id())
            .await?
            .into_iter()
            .find(|a| a.id == command.address_id)
            .ok_or(AppError::NotFound("address"))?;
        let entries = self.cart.cart(viewer).await?;
        let pairs: Vec<(PostId, i64)> = entries
            .iter()
            .map(|e| (e.post.id.clone(), e.quantity))
            .collect();
        let fingerprint = cart_fingerprint(&pairs, &address.id);
        let at = now();
        let mut lines = Vec::with_capacity(entries.len());
        for entry in &entries {
            let Some(listing) = entry.post.listing.as_ref() else {
                continue;
            };
            lines.push(CheckoutLine {
                post_id: entry.post.id.clone(),
                seller_id: entry.post.author_id.clone(),
                title: entry
                    .post
                    .title
                    .clone()
                    .unwrap_or_else(|| entry.post.body.chars().take(120).collect()),
                unit_price: listing.price,
                quantity: entry.quantity,
            });
        }
        let orders = split_cart(&lines, viewer.id(), &address, command.note.as_deref(), at)
            .ok_or_else(|| AppError::bad_input("input", "the order total is too large"))?;
        let request = NewCheckout {
            buyer_id: viewer.id().clone(),
            idempotency_key: command.idempotency_key,
            fingerprint,
            orders,
            limits: self.unpaid_limits,
            at,
        };
        // An empty cart is what a retry sees after the first attempt emptied it: the key
        // alone then finds the orders it placed.
        if request.orders.is_empty() {
            return match self.orders.checkout(&request).await? {
                CheckoutOutcome::Replayed(orders) if !orders.is_empty() => Ok(orders),
                _ => Err(AppError::bad_input("input", "the cart is empty")),
            };
        }
        self.rate_limits
            .check(Action::Checkout, viewer.id().as_str())
            .await?;
        match self.orders.checkout(&request).await? {
            CheckoutOutcome::Placed { orders, listings } => {
                for order in &orders {
                    self.events
                        .publish(DomainEvent::OrderPlaced {
                            order_id: order.id.clone(),
                            buyer: order.buyer_id.clone(),
                            seller: order.seller_id.clone(),
                        })
                        .await;
                }
                self.publish_listings(listings).await;
                Ok(orders)
            }
            CheckoutOutcome::Replayed(orders) => Ok(orders),
            CheckoutOutcome::KeyReused => Err(AppError::Conflict {
                field: Some("input.idempotencyKey".into()),
                message: "this idempotency key was used for a different cart".into(),
            }),
            CheckoutOutcome::OutOfStock(post) => Err(AppError::Conflict {
                field: Some("cart".into()),
                message: format!("listing {post} is out of stock or no longer for sale"),
            }),
            CheckoutOutcome::OverLimit(exceeded) => Err(over_limit(&exceeded)),
        }
    }

    async fn publish_listings(&self, listings: Vec<Post>) {
        for post in listings {
            self.events.publish(DomainEvent::PostUpdated(post)).await;
        }
    }

    /// The order if the viewer may see it; `NOT_FOUND` otherwise.
    pub async fn get_order(&self, viewer: &Viewer, id: &OrderId) -> AppResult<Order> {
        self.orders
            .get_order(id)
            .await?
            .filter(|o| !actors_of(viewer, o).is_empty())
            .ok_or(AppError::NotFound("order"))
    }

    /// Orders by id for the loaders, only those the viewer may see.
    pub async fn get_many_orders(&self, viewer: &Viewer, ids: &[OrderId]) -> AppResult<Vec<Order>> {
        let orders = self.orders.get_many_orders(ids).await?;
        Ok(orders
            .into_iter()
            .filter(|o| !actors_of(viewer, o).is_empty())
            .collect())
    }

    pub async fn orders(
        &self,
        viewer: &Viewer,
        side: OrderSide,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> AppResult<Page<Order>> {
        Ok(self
            .orders
            .orders_of(viewer.id(), side, status, page)
            .await?)
    }

    /// How many orders [`OrderService::orders`] lists in all.
    pub async fn count_orders(
        &self,
        viewer: &Viewer,
        side: OrderSide,
        status: Option<OrderStatus>,
    ) -> AppResult<u64> {
        Ok(self
            .orders
            .count_orders_of(viewer.id(), side, status)
            .await?)
    }

    /// Changes to one order of the viewer's (`only`) or to any of them, new orders included:
    /// each time, the order as stored. Only the buyer and the seller follow an order here
    /// (not an admin): another order is `NOT_FOUND`.
    ///
    /// Subscribes to the bus before checking the order, so no change published meanwhile is
    /// missed. Events carry buyer and seller, so deciding whether one concerns the viewer is
    /// an id comparison; only then is the order read (the event has only its id). A lagging
    /// receiver skips events; the next one delivers the current state anyway.
    pub async fn order_updates(
        &self,
        viewer: &Viewer,
        only: Option<OrderId>,
    ) -> AppResult<BoxStream<'static, AppResult<Order>>> {
        let receiver = self.events.subscribe();
        if let Some(id) = &only {
            let order = self.get_order(viewer, id).await?;
            if order.actor(viewer.id()).is_none() {
                return Err(AppError::NotFound("order"));
            }
        }
        let state = (receiver, self.clone(), viewer.clone(), only);
        Ok(
            stream::unfold(state, |(mut receiver, service, viewer, only)| async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            let Some(id) = concerns(&event, viewer.id(), only.as_ref()) else {
                                continue;
                            };
                            let order = service.get_order(&viewer, &id).await;
                            return Some((order, (receiver, service, viewer, only)));
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return None,
                    }
                }
            })
            .boxed(),
        )
    }

    /// Writes a computed next version of `order`, turning a lost race into `CONFLICT`, and
    /// publishes what changed.
    async fn write(&self, next: &Order, restock: bool, actor: Option<UserId>) -> AppResult<Order> {
        match self.orders.update_order(next, restock).await? {
            OrderUpdate::Updated { order, listings } => {
                self.events
                    .publish(DomainEvent::OrderStatusChanged {
                        order_id: order.id.clone(),
                        buyer: order.buyer_id.clone(),
                        seller: order.seller_id.clone(),
                        actor,
                        status: order.status,
                    })
                    .await;
                self.publish_listings(listings).await;
                Ok(*order)
            }
            OrderUpdate::Stale => Err(AppError::Conflict {
                field: None,
                message: "the order changed meanwhile; reload it and try again".into(),
            }),
        }
    }

    /// Moves the order to `to` if the machine allows it for the viewer.
    pub async fn update_status(
        &self,
        viewer: &Viewer,
        id: &OrderId,
        to: OrderStatus,
    ) -> AppResult<Order> {
        let order = self.get_order(viewer, id).await?;
        let actors = actors_of(viewer, &order);
        if !actors.iter().any(|a| can_move(order.status, to, *a)) {
            let anyone = [OrderActor::Buyer, OrderActor::Seller, OrderActor::Admin]
                .iter()
                .any(|a| can_move(order.status, to, *a));
            return Err(if anyone {
                AppError::Forbidden("your role on this order cannot make this move")
            } else {
                AppError::Conflict {
                    field: Some("status".into()),
                    message: format!(
                        "an order in {} cannot move to {}",
                        order.status.as_str(),
                        to.as_str()
                    ),
                }
            });
        }
        if to == OrderStatus::Cancelled {
            return self.cancel_checked(&order, Some(viewer.id().clone())).await;
        }
        let next = order.moved(to, now(), Some(viewer.id().clone()));
        self.write(&next, false, Some(viewer.id().clone())).await
    }

    pub async fn cancel(&self, viewer: &Viewer, id: &OrderId) -> AppResult<Order> {
        self.update_status(viewer, id, OrderStatus::Cancelled).await
    }

    /// Cancels an order whose move was already checked: stock comes back in the same write,
    /// and a paid order is refunded (the refund is recorded as an attempt).
    async fn cancel_checked(&self, order: &Order, actor: Option<UserId>) -> AppResult<Order> {
        let at = now();
        let next = order.moved(OrderStatus::Cancelled, at, actor.clone());
        let cancelled = self.write(&next, true, actor).await?;
        if let Some(charge) = cancelled
            .payment
            .as_ref()
            .filter(|p| p.outcome == PaymentOutcome::Succeeded)
        {
            self.refund(charge, at).await?;
        }
        Ok(cancelled)
    }

    /// Gives back the money of `charge` through the gateway and records the refund, at `at`,
    /// as an attempt of the same order and card.
    async fn refund(&self, charge: &PaymentAttempt, at: DateTime<Utc>) -> AppResult<()> {
        let refund = self
            .gateway
            .refund(&charge.reference, charge.amount)
            .await
            .map_err(AppError::Internal)?;
        self.orders
            .record_payment_attempt(&PaymentAttempt {
                id: uuid::Uuid::now_v7().simple().to_string(),
                outcome: refund.outcome,
                reference: refund.reference,
                at,
                ..charge.clone()
            })
            .await?;
        Ok(())
    }

    /// Charges the order to one of the viewer's cards.
    pub async fn pay(&self, viewer: &Viewer, id: &OrderId, card_id: &CardId) -> AppResult<Order> {
        let order = self.get_order(viewer, id).await?;
        if &order.buyer_id != viewer.id() {
            return Err(AppError::Forbidden("only the buyer pays an order"));
        }
        if order.status != OrderStatus::PendingPayment {
            return Err(AppError::Conflict {
                field: Some("orderId".into()),
                message: format!(
                    "the order is {}, not awaiting payment",
                    order.status.as_str()
                ),
            });
        }
        let card = self
            .wallet
            .list_cards(viewer.id())
            .await?
            .into_iter()
            .find(|c| &c.id == card_id)
            .ok_or(AppError::NotFound("payment card"))?;
        self.rate_limits
            .check(Action::Payment, viewer.id().as_str())
            .await?;
        let result = self
            .gateway
            .charge(&card, order.total)
            .await
            .map_err(AppError::Internal)?;
        let attempt = PaymentAttempt {
            id: uuid::Uuid::now_v7().simple().to_string(),
            order_id: order.id.clone(),
            card_id: card.id.clone(),
            card_last4: card.last4.clone(),
            amount: order.total,
            outcome: result.outcome,
            reference: result.reference,
            at: now(),
        };
        self.orders.record_payment_attempt(&attempt).await?;
        if let Some(reason) = decline_reason(attempt.outcome) {
            return Err(AppError::PaymentDeclined(reason.to_owned()));
        }
        let mut next = order.moved(OrderStatus::Paid, attempt.at, Some(viewer.id().clone()));
        next.payment = Some(attempt.clone());
        let paid = self.write(&next, false, Some(viewer.id().clone())).await;
        if paid.is_err() {
            // The order changed while the card was charged (cancelled or paid by a racing
            // request): give the money back.
            self.refund(&attempt, now()).await?;
        }
        paid
    }

    /// Every payment attempt of an order the viewer may see, oldest first.
    pub async fn payment_attempts(
        &self,
        viewer: &Viewer,
        id: &OrderId,
    ) -> AppResult<Vec<PaymentAttempt>> {
        let order = self.get_order(viewer, id).await?;
        Ok(self.orders.payment_attempts(&order.id).await?)
    }

    /// Refills the viewer's cart with the items of one of their past orders.
    pub async fn reorder(&self, viewer: &Viewer, id: &OrderId) -> AppResult<Vec<CartEntry>> {
        let order = self.get_order(viewer, id).await?;
        if &order.buyer_id != viewer.id() {
            return Err(AppError::Forbidden("only the buyer can reorder"));
        }
        let items: Vec<(PostId, i64)> = order
            .items
            .iter()
            .map(|i| (i.post_id.clone(), i.quantity))
            .collect();
        self.cart.refill(viewer, &items).await
    }

    /// Cancels unpaid orders created more than `ttl` before `now`, returning their stock.
    /// Returns how many this call cancelled; an order another instance cancelled (or paid)
    /// first is skipped.
    pub async fn expire_unpaid(&self, now: DateTime<Utc>, ttl: Duration) -> AppResult<usize> {
        let due = self
            .orders
            .unpaid_orders_before(now - ttl, EXPIRY_BATCH)
            .await?;
        let mut cancelled = 0;
        for order in due {
            match self.cancel_checked(&order, None).await {
                Ok(_) => cancelled += 1,
                Err(AppError::Conflict { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(cancelled)
    }

    /// The viewer's figures as a seller: their listings, orders, revenue and rating.
    pub async fn seller_stats(&self, viewer: &Viewer) -> AppResult<SellerStats> {
        Ok(self.orders.seller_stats(viewer.id()).await?)
    }

    /// Of the `(author, listing)` pairs, those where the author has a delivered order
    /// containing the listing (`Review.verifiedPurchase`).
    pub async fn delivered_purchases(
        &self,
        pairs: &[(UserId, PostId)],
    ) -> AppResult<Vec<(UserId, PostId)>> {
        Ok(self.orders.delivered_purchases(pairs).await?)
    }
}
