//! `notificationAdded(after)`: the viewer's notifications as they are stored.
//!
//! It subscribes to the event bus *before* anything else, so a notification stored while it
//! starts waits in the receiver. Deciding whether an event concerns this subscriber is an id
//! comparison; the GraphQL selection runs only for the events that pass.
//!
//! Each notification is delivered once, in the recipient's order, with no gaps:
//! - with `after` (a notification cursor) it first replays the stored notifications after
//!   it, oldest first, then continues live; without it, it starts after the viewer's last
//!   notification at subscription time;
//! - it tracks the number of the next notification it owes (`next_seq`). Numbers follow
//!   commit order without gaps, so a live event numbered below it was already replayed
//!   (skipped), and one numbered above it means earlier events are late or were lost (a
//!   lagging receiver): those are read from the store, where they already are, first.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{Context, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::types::Notification;
use crate::domain::{self, UserId};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::ContextExt;
use crate::graphql::connection::decode_cursor;
use crate::service::NotificationService;

/// Notifications read from the store per round trip while catching up.
const REPLAY_PAGE: usize = 100;

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
        let after_seq = after.as_deref().map(notification_seq).transpose()?;
        let start = match after_seq {
            Some(seq) => seq,
            None => services.notifications.last_seq(viewer.id()).await?,
        };
        let feed = NotificationFeed {
            receiver,
            notifications: services.notifications.clone(),
            viewer: viewer.id().clone(),
            next_seq: start + 1,
            ready: VecDeque::new(),
            catching_up: after_seq.is_some(),
            failed: false,
        };
        Ok(futures_util::stream::unfold(feed, |mut feed| async move {
            let item = feed.next().await?;
            Some((item.map(Notification).map_err(Into::into), feed))
        }))
    }
}

/// The number inside a notification cursor.
fn notification_seq(cursor: &str) -> Result<i64, AppError> {
    decode_cursor(cursor)?
        .split_once(':')
        .and_then(|(seq, _)| seq.parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| AppError::bad_input("after", "is not a notification cursor"))
}

/// The state of one `notificationAdded` subscription.
struct NotificationFeed {
    receiver: broadcast::Receiver<Arc<DomainEvent>>,
    notifications: NotificationService,
    viewer: UserId,
    /// The number of the next notification owed: every earlier one was delivered or precedes
    /// the subscription's starting point.
    next_seq: i64,
    /// Read from the store, in order, not yet delivered.
    ready: VecDeque<domain::Notification>,
    /// Reading the store until it has nothing after `next_seq - 1`.
    catching_up: bool,
    /// A store read failed: the error was delivered and the stream ends.
    failed: bool,
}

impl NotificationFeed {
    async fn next(&mut self) -> Option<Result<domain::Notification, AppError>> {
        loop {
            if let Some(n) = self.ready.pop_front() {
                return Some(Ok(n));
            }
            if self.failed {
                return None;
            }
            if self.catching_up {
                if let Err(err) = self.read_store().await {
                    self.failed = true;
                    return Some(Err(err));
                }
                continue;
            }
            match self.receiver.recv().await {
                Ok(event) => {
                    let DomainEvent::NotificationAdded(n) = &*event else {
                        continue;
                    };
                    if n.recipient != self.viewer || n.seq < self.next_seq {
                        continue;
                    }
                    if n.seq == self.next_seq {
                        self.next_seq += 1;
                        return Some(Ok(n.clone()));
                    }
                    // Earlier notifications are stored but their events have not come.
                    self.catching_up = true;
                }
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next page of stored notifications owed; stops catching up when none follow.
    async fn read_store(&mut self) -> Result<(), AppError> {
        let page = self
            .notifications
            .after(&self.viewer, self.next_seq - 1, REPLAY_PAGE)
            .await?;
        if let Some(last) = page.items.last() {
            self.next_seq = last.seq + 1;
        }
        self.ready.extend(page.items);
        self.catching_up = page.has_next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::connection::encode_cursor;

    #[test]
    fn a_notification_cursor_gives_its_number_and_anything_else_is_bad_input() {
        assert_eq!(notification_seq(&encode_cursor("7:abc")).ok(), Some(7));
        for bad in [encode_cursor("x:abc"), encode_cursor("-3:abc"), "%%".into()] {
            assert!(
                matches!(notification_seq(&bad), Err(AppError::BadUserInput { field, .. }) if field == "after"),
                "{bad}"
            );
        }
    }
}
