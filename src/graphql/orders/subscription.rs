//! `orderUpdated(orderId)`: an order of the viewer's each time it changes (the rules and the
//! event filtering are `OrderService::order_updates`).

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::parse_id;
use super::types::Order;
use crate::domain::OrderId;
use crate::graphql::ContextExt;

#[derive(Default)]
pub struct OrderSubscription;

#[Subscription]
impl OrderSubscription {
    /// Changes to one order of the viewer's (as buyer or seller), or with no id to any of
    /// them, new orders included.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        order_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Order>> + use<>> {
        let viewer = ctx.require_viewer()?;
        let only = order_id
            .as_ref()
            .map(|id| parse_id::<OrderId>("orderId", id))
            .transpose()?;
        let updates = ctx.services().orders.order_updates(viewer, only).await?;
        Ok(updates.map(|order| order.map(Order).map_err(Into::into)))
    }
}
