//! `notificationAdded(after)`: the viewer's notifications as they are stored.
//!
//! It subscribes to the event bus *before* anything else, so a notification stored while it
//! starts waits in the receiver. Deciding whether an event concerns this subscriber is an id
//! comparison (the feed's); the GraphQL selection runs only for the events that pass.
//!
//! Each notification is delivered once, in the recipient's order, with no gaps, replaying
//! the stored ones after `after` first (see [`crate::graphql::replay`]).

use async_graphql::{Context, Result, Subscription};
use futures_util::{Stream, StreamExt};

use super::types::Notification;
use crate::graphql::ContextExt;
use crate::graphql::replay::{cursor_seq, gapless};

#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// The viewer's notifications as they arrive. With `after` (a notification's `cursor`),
    /// first every stored notification after that one, oldest first.
    async fn notification_added(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Notification>> + use<>> {
        let services = ctx.services();
        // First, so nothing published from here on is missed (see the module docs).
        let receiver = services.events.subscribe();
        let viewer = ctx.require_viewer()?;
        let after_seq = after
            .as_deref()
            .map(|cursor| cursor_seq(cursor, "notification"))
            .transpose()?;
        let (feed, start) = services.notifications.feed(viewer, after_seq).await?;
        Ok(gapless(receiver, feed, start, after_seq.is_some())
            .map(|item| item.map(Notification).map_err(Into::into)))
    }
}
