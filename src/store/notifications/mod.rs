//! Stored notifications: what happened to a user, numbered per recipient.
//!
//! A notification is stored before anyone is told about it, so a client that missed the push
//! reads it back by cursor. Authorization (who may read whose) is the service's business.

mod mongo;
mod sqlite;

pub use mongo::MongoNotificationStore;
pub use sqlite::SqliteNotificationStore;

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreResult};
use crate::domain::{Notification, NotificationId, UserId};

impl super::Keyed for Notification {
    /// A notification's number for its recipient: the same cursor pages `notifications`
    /// and resumes `notificationAdded(after:)`.
    fn cursor(&self) -> String {
        super::cursor::keyset(self.seq, &self.id)
    }
}

/// Storage of notifications.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - A recipient's notifications are numbered from 1 without gaps (`seq`), in commit order.
/// - At most one notification per (`event_seq`, recipient): adding a second is a no-op that
///   returns `None` (or leaves it out of a batch) and takes no number, so several instances
///   processing the same event notify once.
/// - Coalescing (see [`Notification::coalescing_key`]): at most one *unread* notification per
///   (recipient, coalescing key), even under concurrent adds. Adding a repeat while one is
///   unread updates that one in place — its `event_seq` and `created_at` become the repeat's
///   (`created_at` never moves back), its `id`, `seq` and place in the list stay — and, like a
///   duplicate, returns `None` and takes no number: what is returned is exactly what is new,
///   so only that is announced. Marking it read ends coalescing: the next repeat is a new
///   notification. A repeat whose `event_seq` is not above that of a stored notification
///   with its key (read or not) is a late copy of an event already told and is dropped.
/// - A batch is one write: all of it is stored or coalesced (less what was already there) or
///   none; a repeat within the batch coalesces into the earlier one.
/// - Pages are newest first; the cursor is `"{seq}:{id}"` of the last one seen.
/// - Marking read never changes a `read_at` already set.
#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores `notification` (its `seq` is ignored) as the recipient's next one. Returns it
    /// with its `seq`, or `None` when the recipient already has one for its `event_seq` or
    /// it was coalesced into an unread one.
    async fn add(&self, notification: &Notification) -> StoreResult<Option<Notification>> {
        Ok(self
            .add_all(std::slice::from_ref(notification))
            .await?
            .pop())
    }
    /// Stores each of `notifications` (their `seq` ignored) as its recipient's next one, in
    /// one write: an event's notifications for all its recipients (a group chat's members)
    /// cost one transaction, not one each. Returns the stored ones with their `seq`, in input
    /// order, leaving out those whose recipient already has one for that `event_seq` (also a
    /// repeat within the batch) and those coalesced into an unread one.
    async fn add_all(&self, notifications: &[Notification]) -> StoreResult<Vec<Notification>>;
    /// The recipient's notifications, newest first; only unread ones when `unread_only`.
    async fn list(
        &self,
        recipient: &UserId,
        unread_only: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>>;
    /// The recipient's notifications numbered above `after_seq`, oldest first, at most
    /// `limit`: the replay of what a subscriber missed.
    async fn after(
        &self,
        recipient: &UserId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Page<Notification>>;
    /// The number of the recipient's last notification (0 when none).
    async fn last_seq(&self, recipient: &UserId) -> StoreResult<i64>;
    async fn count_unread(&self, recipient: &UserId) -> StoreResult<u64>;
    /// Sets `read_at` on the recipient's unread notifications among `ids` (all of them when
    /// `ids` is `None`); ids of other recipients are ignored. Returns how many changed.
    async fn mark_read(
        &self,
        recipient: &UserId,
        ids: Option<&[NotificationId]>,
        at: DateTime<Utc>,
    ) -> StoreResult<u64>;
}
