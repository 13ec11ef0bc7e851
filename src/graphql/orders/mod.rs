//! Orders over GraphQL: the cart, checkout, payment, the order lifecycle, seller stats and
//! the `orderUpdated` subscription.
//!
//! Thin like every resolver here: read the viewer, parse ids and values, call one service,
//! convert. An order the viewer may not see does not exist as far as these fields tell.

mod subscription;
mod types;

use async_graphql::{Context, ID, InputObject, Object, Result};

pub use self::subscription::OrderSubscription;
pub use self::types::Order;
use self::types::{Cart, OrderConnection, OrderRole, OrderStatus, OrdersTotal, SellerStats};
pub(crate) use self::types::{live_post, user};
use super::ContextExt;
use super::connection::{connection_of, page_request};
use crate::domain::{self, CardId, OrderId, PostId, parse_idempotency_key, parse_note};
use crate::graphql::{parse_id, viewer_and_id};
use crate::service::CheckoutCommand;

#[derive(InputObject)]
pub struct CheckoutInput {
    pub address_id: ID,
    /// Any string up to 100 characters, unique per checkout attempt: sending the same key
    /// again returns the orders of the first attempt instead of ordering twice.
    pub idempotency_key: String,
    pub note: Option<String>,
}

#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// The viewer's cart.
    async fn cart(&self, ctx: &Context<'_>) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        Ok(Cart(ctx.services().cart.cart(viewer).await?))
    }

    /// An order of the viewer's (as buyer or seller), or any order for an admin. Any other
    /// order is `NOT_FOUND`, exactly like one that does not exist.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let (viewer, id) = viewer_and_id::<OrderId>(ctx, "id", &id)?;
        Ok(Some(Order(
            ctx.services().orders.get_order(viewer, &id).await?,
        )))
    }

    /// The viewer's orders as buyer (default) or seller, newest first.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        role: Option<OrderRole>,
        status: Option<OrderStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<OrderConnection> {
        let viewer = ctx.require_viewer()?;
        let page = page_request(first, after)?;
        let side = role.unwrap_or(OrderRole::Buyer).into();
        let status = status.map(domain::OrderStatus::from);
        let found = ctx
            .services()
            .orders
            .orders(viewer, side, status, &page)
            .await?;
        let total = OrdersTotal {
            viewer: viewer.clone(),
            side,
            status,
        };
        Ok(connection_of(&page, found, total, Order))
    }
}

/// `sellerStats`, apart from the other order fields only to keep the schema's field order.
#[derive(Default)]
pub struct SellerStatsQuery;

#[Object]
impl SellerStatsQuery {
    /// The viewer's figures as a seller.
    async fn seller_stats(&self, ctx: &Context<'_>) -> Result<SellerStats> {
        let viewer = ctx.require_viewer()?;
        Ok(ctx.services().orders.seller_stats(viewer).await?.into())
    }
}

#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Adds `quantity` units of a listing to the viewer's cart.
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        #[graphql(default = 1)] quantity: i32,
    ) -> Result<Cart> {
        let (viewer, post) = viewer_and_id::<PostId>(ctx, "postId", &post_id)?;
        let cart = &ctx.services().cart;
        Ok(Cart(cart.add(viewer, &post, quantity.into()).await?))
    }

    /// Sets the quantity of a line in the cart.
    async fn update_cart_item(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        quantity: i32,
    ) -> Result<Cart> {
        let (viewer, post) = viewer_and_id::<PostId>(ctx, "postId", &post_id)?;
        let cart = &ctx.services().cart;
        Ok(Cart(cart.update(viewer, &post, quantity.into()).await?))
    }

    async fn remove_from_cart(&self, ctx: &Context<'_>, post_id: ID) -> Result<Cart> {
        let (viewer, post) = viewer_and_id::<PostId>(ctx, "postId", &post_id)?;
        Ok(Cart(ctx.services().cart.remove(viewer, &post).await?))
    }

    async fn clear_cart(&self, ctx: &Context<'_>) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        Ok(Cart(ctx.services().cart.clear(viewer).await?))
    }

    /// Turns the cart into one order per seller, taking the stock. Retrying with the same
    /// `idempotencyKey` returns the same orders.
    async fn checkout(&self, ctx: &Context<'_>, input: CheckoutInput) -> Result<Vec<Order>> {
        let (viewer, address_id) = viewer_and_id(ctx, "input.addressId", &input.address_id)?;
        let command = CheckoutCommand {
            address_id,
            idempotency_key: parse_idempotency_key("input.idempotencyKey", &input.idempotency_key)?,
            note: input
                .note
                .filter(|n| !n.trim().is_empty())
                .map(|n| parse_note("input.note", &n))
                .transpose()?,
        };
        let orders = ctx.services().orders.checkout(viewer, command).await?;
        Ok(orders.into_iter().map(Order).collect())
    }

    /// Pays an order with one of the viewer's cards (mock gateway: see the README's test
    /// cards). A refused card is `PAYMENT_DECLINED` with `extensions.reason`.
    async fn pay_order(&self, ctx: &Context<'_>, order_id: ID, card_id: ID) -> Result<Order> {
        let (viewer, order) = viewer_and_id::<OrderId>(ctx, "orderId", &order_id)?;
        let card = parse_id::<CardId>("cardId", &card_id)?;
        let orders = &ctx.services().orders;
        Ok(Order(orders.pay(viewer, &order, &card).await?))
    }

    /// Moves an order along its lifecycle (only the viewer's legal moves: `nextStatuses`).
    async fn update_order_status(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        status: OrderStatus,
    ) -> Result<Order> {
        let (viewer, order) = viewer_and_id::<OrderId>(ctx, "orderId", &order_id)?;
        let orders = &ctx.services().orders;
        Ok(Order(
            orders.update_status(viewer, &order, status.into()).await?,
        ))
    }

    /// Cancels an order before it ships; its stock returns and a payment is refunded.
    async fn cancel_order(&self, ctx: &Context<'_>, order_id: ID) -> Result<Order> {
        let (viewer, order) = viewer_and_id::<OrderId>(ctx, "orderId", &order_id)?;
        Ok(Order(ctx.services().orders.cancel(viewer, &order).await?))
    }

    /// Puts the items of one of the viewer's orders back into the cart (what is in stock).
    async fn reorder(&self, ctx: &Context<'_>, order_id: ID) -> Result<Cart> {
        let (viewer, order) = viewer_and_id::<OrderId>(ctx, "orderId", &order_id)?;
        Ok(Cart(ctx.services().orders.reorder(viewer, &order).await?))
    }
}
