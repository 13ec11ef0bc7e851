//! [`RateLimitStore`] on SQLite: table `rate_limit_hits`, one row per allowed hit.
//!
//! Each hit is one write transaction, and the single writer connection serialises them, so
//! read-decide-insert is atomic without further locking.

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;

use super::{Decision, RateLimitStore, decide, micros};
use crate::clock::{from_millis, to_millis};
use crate::store::sqlite::{SqliteDb, StatementExt};
use crate::store::{StoreError, StoreResult};

pub struct SqliteRateLimitStore {
    db: SqliteDb,
}

impl SqliteRateLimitStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl RateLimitStore for SqliteRateLimitStore {
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision> {
        let key = key.to_owned();
        self.db
            .write(move |tx| {
                // Tidy every key, not just this one: keys that are never hit again would
                // otherwise keep their rows forever. The expiry index makes this a short
                // range scan.
                tx.execute(
                    "DELETE FROM rate_limit_hits WHERE expires_at <= ?1",
                    [to_millis(now)],
                )?;
                let recent = tx
                    .prepare_cached(
                        "SELECT at FROM rate_limit_hits WHERE key = ?1 AND at > ?2 ORDER BY at",
                    )?
                    .query_vec(params![key, to_millis(now - window)], |row| {
                        row.get(0).map(from_millis)
                    })?;
                let decision = decide(&recent, window, limit, now);
                if decision.is_allowed() {
                    tx.execute(
                        "INSERT INTO rate_limit_hits (key, at, expires_at) VALUES (?1, ?2, ?3)",
                        params![key, to_millis(now), to_millis(now + window)],
                    )?;
                }
                Ok(decision)
            })
            .await
    }

    async fn spend_budgets(
        &self,
        spends: &[(String, Duration)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let spends = spends.to_vec();
        self.db
            .write(move |tx| {
                // A budget whose time is an hour past is full: forgetting it changes nothing.
                tx.execute(
                    "DELETE FROM cost_budgets WHERE tat_us < ?1",
                    [(now - Duration::hours(1)).timestamp_micros()],
                )?;
                let mut spend = tx.prepare_cached(
                    "INSERT INTO cost_budgets (key, tat_us) VALUES (?1, ?2 + ?3)
                     ON CONFLICT (key) DO UPDATE SET tat_us = MAX(tat_us, ?2) + ?3
                     RETURNING tat_us",
                )?;
                spends
                    .iter()
                    .map(|(key, by)| {
                        spend
                            .query_row(params![key, now.timestamp_micros(), micros(*by)], |row| {
                                row.get::<_, i64>(0)
                            })
                            .map(DateTime::from_timestamp_micros)?
                            .ok_or_else(|| {
                                StoreError::Backend(format!("budget {key} is out of range"))
                            })
                    })
                    .collect()
            })
            .await
    }
}
