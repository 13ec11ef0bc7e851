//! The mail outbox: messages waiting to be delivered, and the record of their delivery.
//!
//! Services never send mail themselves; they enqueue here, in the same database as the
//! state the mail is about, and the delivery worker (`crate::mail`) sends it later. A crash
//! or a mail-server outage therefore loses nothing: the message waits in the outbox.
//!
//! A worker *claims* a message with a lease before sending it. The claim is one atomic
//! conditional update, so two workers (or two instances) never hold the same message at
//! once; a worker that dies mid-delivery leaves a lease that expires, and the message is
//! claimed again. Every claim carries a fresh lease id, and only the holder of the current
//! lease can settle the message.
//!
//! Bodies can carry live secrets (reset links), so they are erased once a message is settled
//! (sent or given up); the envelope and the delivery history stay.

mod mongo;
mod sqlite;

pub use mongo::MongoOutboxStore;
pub use sqlite::SqliteOutboxStore;

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{MailId, OutgoingMail};

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// Claimed by a worker whose lease has not been settled.
    Sending,
    /// Accepted by the mail server (or written, in file mode).
    Sent,
    /// Given up on: too many failed attempts, or a permanent refusal.
    Failed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sending => "sending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(MailStatus::Pending),
            "sending" => Some(MailStatus::Sending),
            "sent" => Some(MailStatus::Sent),
            "failed" => Some(MailStatus::Failed),
            _ => None,
        }
    }
}

/// A message a worker now holds: send it, then settle it with `lease_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedMail {
    pub mail: OutgoingMail,
    pub lease_id: String,
    /// Which attempt this is, counting from 1 (a claim whose worker died counts too).
    pub attempt: u32,
}

/// A message's delivery record, for operators and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: MailId,
    pub to: String,
    pub subject: String,
    /// `None` once the message is settled.
    pub text: Option<String>,
    pub html: Option<String>,
    pub status: MailStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was sent or given up on.
    pub settled_at: Option<DateTime<Utc>>,
}

/// Storage of the mail outbox.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - `enqueue` stores a pending message, due at its `created_at`.
/// - `claim_next` takes the due message with the earliest `next_attempt_at` — pending and due
///   by `now`, or sending with a lease that ended by `now` — marks it sending under
///   `lease_id` until `lease_until`, counts the attempt, and returns it. Atomic: of
///   concurrent claims, each message goes to at most one claimant. `None` when nothing is
///   due.
/// - `mark_sent` and `record_failure` apply only while `lease_id` is the message's current
///   lease (and it is still sending); they return whether they applied. A stale worker
///   therefore cannot overwrite the outcome of the one that took over.
/// - `record_failure` with `retry_at` makes the message pending again, due then; without it
///   the message is failed for good. Both keep `error` as `last_error`.
/// - Settling (sent or failed) erases the bodies.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    async fn enqueue(&self, mail: &OutgoingMail) -> StoreResult<()>;
    async fn claim_next(
        &self,
        lease_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<ClaimedMail>>;
    async fn mark_sent(&self, id: &MailId, lease_id: &str, now: DateTime<Utc>)
    -> StoreResult<bool>;
    async fn record_failure(
        &self,
        id: &MailId,
        lease_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn get_entry(&self, id: &MailId) -> StoreResult<Option<OutboxEntry>>;
}
