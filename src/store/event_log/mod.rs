//! The stored event log: every published domain event, in one numbered sequence that every
//! instance tails, so an event published on one instance reaches subscribers on all of them.
//!
//! This module stores opaque bodies (the bus serialises events); it never interprets them.

mod mongo;
mod sqlite;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

pub use mongo::MongoEventLogStore;
pub use sqlite::SqliteEventLogStore;

use super::StoreResult;

/// One appended event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub body: String,
}

/// How long an entry is meant to stay (see [`EventLogStore::prune_ephemeral`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Kept until `prune`: the default for every event.
    Durable,
    /// Also removed by `prune_ephemeral`, as soon as it is stale (typing indicators).
    Ephemeral,
}

/// Storage of the event log.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - `append_entries` numbers entries with increasing `seq` (from 1), never reused, also after
///   pruning. SQLite numbers in commit order, so readers never see a gap. On MongoDB a number
///   is taken before the entry is inserted, so a reader may briefly see a later entry before
///   an earlier one commits (or, if the appending process died in between, never): readers
///   wait a little for a gap to fill before skipping it (see [`crate::events`]).
/// - `read_after` returns entries numbered above `after`, in number order.
/// - `prune` removes entries appended before a time; the numbering goes on.
/// - Ephemeral entries ([`Retention::Ephemeral`]) are numbered and read like the others;
///   `prune_ephemeral` removes only them, so they can be dropped long before the rest.
#[async_trait::async_trait]
pub trait EventLogStore: Send + Sync {
    /// Appends `bodies` in one write, in order, under consecutive numbers, with `retention`;
    /// returns the numbers (none for no bodies).
    async fn append_entries(
        &self,
        bodies: &[String],
        at: DateTime<Utc>,
        retention: Retention,
    ) -> StoreResult<Vec<i64>>;
    /// At most `limit` entries numbered above `after`, in order.
    async fn read_after(&self, after: i64, limit: usize) -> StoreResult<Vec<LogEntry>>;
    /// The number of the last entry appended so far (0 for an empty log): where a new tail
    /// starts.
    async fn last_seq(&self) -> StoreResult<i64>;
    /// Removes the entries appended before `before`; returns how many.
    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Removes the ephemeral entries appended before `before`; returns how many.
    async fn prune_ephemeral(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Wake-ups for a tail: a message whenever entries may have been appended by any process
    /// (spurious wake-ups are allowed, and at least one comes every `poll`, so a wake-up the
    /// adapter missed delays a reader by at most `poll`). Ends when the receiver is dropped.
    fn wake_ups(&self, poll: Duration) -> mpsc::Receiver<()>;
}
