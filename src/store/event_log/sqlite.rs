//! [`EventLogStore`] on SQLite: the `event_log` table, numbered by `AUTOINCREMENT` inside the
//! write transaction, so numbers follow commit order (also across processes sharing the file,
//! which SQLite's write lock serialises) and are never reused after pruning.
//!
//! Another process's appends are seen by polling: SQLite has no change notification across
//! processes, and a poll of an empty tail is one indexed lookup.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::params;
use tokio::sync::mpsc;

use super::{EventLogStore, LogEntry, Retention};
use crate::clock::{from_millis, to_millis};
use crate::store::StoreResult;
use crate::store::sqlite::SqliteDb;

pub struct SqliteEventLogStore {
    db: SqliteDb,
}

impl SqliteEventLogStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

impl SqliteEventLogStore {
    /// Runs `delete` (its `?1` is a time) with `before`; returns how many entries went.
    async fn delete_before(&self, delete: &'static str, before: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = self.db.execute(delete, [to_millis(before)]).await?;
        Ok(deleted as u64)
    }
}

#[async_trait::async_trait]
impl EventLogStore for SqliteEventLogStore {
    async fn append_entries(
        &self,
        bodies: &[String],
        at: DateTime<Utc>,
        retention: Retention,
    ) -> StoreResult<Vec<i64>> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let bodies = bodies.to_vec();
        let ephemeral = retention == Retention::Ephemeral;
        self.db
            .write(move |tx| {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO event_log (at, body, ephemeral) VALUES (?1, ?2, ?3)",
                )?;
                let mut seqs = Vec::with_capacity(bodies.len());
                for body in &bodies {
                    stmt.execute(params![to_millis(at), body, ephemeral])?;
                    seqs.push(tx.last_insert_rowid());
                }
                Ok(seqs)
            })
            .await
    }

    async fn read_after(&self, after: i64, limit: usize) -> StoreResult<Vec<LogEntry>> {
        let sql = "SELECT seq, at, body FROM event_log WHERE seq > ?1 ORDER BY seq LIMIT ?2 + 0";
        self.db
            .select(sql, (after, limit as i64), |row| {
                Ok(LogEntry {
                    seq: row.get(0)?,
                    at: from_millis(row.get(1)?),
                    body: row.get(2)?,
                })
            })
            .await
    }

    async fn last_seq(&self) -> StoreResult<i64> {
        // The sequence table remembers the last number even when pruning emptied the log.
        let sql = "SELECT seq FROM sqlite_sequence WHERE name = 'event_log'";
        let last = self.db.select(sql, [], |row| row.get(0)).await?;
        Ok(last.first().copied().unwrap_or(0))
    }

    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.delete_before("DELETE FROM event_log WHERE at < ?1", before)
            .await
    }

    async fn prune_ephemeral(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.delete_before(
            "DELETE FROM event_log WHERE ephemeral = 1 AND at < ?1",
            before,
        )
        .await
    }

    fn wake_ups(&self, poll: Duration) -> mpsc::Receiver<()> {
        let (sender, receiver) = mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = sender.closed() => return,
                }
                // Full means a wake-up is already pending: nothing is lost by dropping this.
                let _ = sender.try_send(());
            }
        });
        receiver
    }
}
