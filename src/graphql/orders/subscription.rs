//! `orderUpdated(orderId)`: an order of the viewer's each time it changes.
//!
//! Subscribes to the bus first, then checks the order (`NOT_FOUND` unless the viewer is its
//! buyer or seller), so no change published meanwhile is missed. The events carry buyer and
//! seller, so deciding whether one concerns this subscriber is an id comparison; only then is
//! the order read again from the store (the event has only its id), so what the client gets
//! is always the stored order. A lagging receiver skips events; the next one delivers the
//! current state anyway.

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::parse_id;
use super::types::Order;
use crate::domain::{OrderId, UserId};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::ContextExt;

#[derive(Default)]
pub struct OrderSubscription;

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

#[Subscription]
impl OrderSubscription {
    /// Changes to one order of the viewer's (as buyer or seller), or with no id to any of
    /// them, new orders included.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        order_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Order>> + use<>> {
        let services = ctx.services();
        let receiver = services.events.subscribe();
        let viewer = ctx.require_viewer()?.clone();
        let only = order_id
            .as_ref()
            .map(|id| parse_id::<OrderId>("orderId", id))
            .transpose()?;
        if let Some(id) = &only {
            let order = services.orders.get_order(&viewer, id).await?;
            if order.actor(viewer.id()).is_none() {
                return Err(AppError::NotFound("order").into());
            }
        }
        let orders = services.orders.clone();
        Ok(futures_util::stream::unfold(
            (receiver, viewer, only, orders),
            |(mut receiver, viewer, only, orders)| async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            let Some(id) = concerns(&event, viewer.id(), only.as_ref()) else {
                                continue;
                            };
                            let item = orders
                                .get_order(&viewer, &id)
                                .await
                                .map(Order)
                                .map_err(Into::into);
                            return Some((item, (receiver, viewer, only, orders)));
                        }
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
