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

/// Storage of notifications.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - A recipient's notifications are numbered from 1 without gaps (`seq`), in commit order.
/// - At most one notification per (`event_seq`, recipient): adding a second is a no-op that
///   returns `None` (or leaves it out of a batch) and takes no number, so several instances
///   processing the same event notify once.
/// - A batch is one write: all of it is stored (less what was already there) or none.
/// - Pages are newest first; the cursor is `"{seq}:{id}"` of the last one seen.
/// - Marking read never changes a `read_at` already set.
#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores `notification` (its `seq` is ignored) as the recipient's next one. Returns it
    /// with its `seq`, or `None` when the recipient already has one for its `event_seq`.
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
    /// repeat within the batch).
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
