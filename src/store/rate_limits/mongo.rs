//! [`RateLimitStore`] on MongoDB: collection `rate_limits`, one document per key holding the
//! times of its most recent allowed hits (`hits`, ascending, at most `limit` long).
//!
//! An allowed hit is one conditional `findAndModify`: it matches only while fewer than
//! `limit` hits are inside the window, and pushes the new one in the same atomic step, so
//! concurrent hits from any number of instances cannot overshoot. The first hit of a key
//! inserts the document; a refusal is read back to compute `retry_after`.

use std::future::IntoFuture;

use chrono::{DateTime, Duration, Utc};
use mongodb::bson::{self, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::Deserialize;

use super::{Decision, RateLimitStore, decide, micros};
use crate::store::mongo::{
    create_indexes, from_bson_time, is_duplicate_key, to_bson_time, ttl_index, upsert,
};
use crate::store::{StoreError, StoreResult};

/// Rounds of update / insert / re-read before giving up. Each round ends unless the key's
/// log changed between two of our own round trips, so more than two is already unusual.
const ROUNDS: usize = 5;

/// Budget keys spent at once in one [`RateLimitStore::spend_budgets`] pass.
const CONCURRENT_SPENDS: usize = 16;

pub struct MongoRateLimitStore {
    counters: Collection<Document>,
    /// `cost_budgets`: `{ _id: key, tat_us, expires_at }`, see [`RateLimitStore::spend_budgets`].
    budgets: Collection<Document>,
}

#[derive(Deserialize)]
struct LogDoc {
    #[serde(default)]
    hits: Vec<bson::DateTime>,
}

impl MongoRateLimitStore {
    pub fn new(db: Database) -> Self {
        Self {
            counters: db.collection("rate_limits"),
            budgets: db.collection("cost_budgets"),
        }
    }

    /// Creates the TTL indexes that remove idle keys and full budgets. Tidying only: `hit`
    /// never counts a hit outside the window, whether or not the server has deleted it yet.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        let expired = |name| vec![ttl_index("expires_at", name, std::time::Duration::ZERO)];
        create_indexes(&self.counters, expired("rate_limits_expiry_ttl")).await?;
        create_indexes(&self.budgets, expired("cost_budgets_expiry_ttl")).await
    }

    /// One key's spend: `$max` brings its time up to `now` (creating the key), then `$inc`
    /// adds the spend and reads the result. Each step is atomic and any interleaving with
    /// another instance's two steps sums to the same time, so no transaction is needed.
    async fn spend_budget(&self, key: &str, by: i64, now: DateTime<Utc>) -> StoreResult<i64> {
        let now_us = now.timestamp_micros();
        // A budget is full again long before this; the TTL index then forgets it.
        let expires_at = to_bson_time(now + Duration::hours(1));
        for _ in 0..ROUNDS {
            // Two first spends of a key may race to insert it (see [`upsert`]).
            upsert(|| {
                self.budgets
                    .update_one(
                        doc! { "_id": key },
                        doc! { "$max": { "tat_us": now_us, "expires_at": expires_at } },
                    )
                    .upsert(true)
                    .into_future()
            })
            .await?;
            let spent = self
                .budgets
                .find_one_and_update(doc! { "_id": key }, doc! { "$inc": { "tat_us": by } })
                .return_document(ReturnDocument::After)
                .projection(doc! { "tat_us": 1 })
                .await?;
            match spent {
                Some(budget) => return Ok(budget.get_i64("tat_us")?),
                // Expired between the two steps: start over.
                None => continue,
            }
        }
        Err(StoreError::Backend(format!(
            "budget {key} kept disappearing for {ROUNDS} rounds"
        )))
    }
}

#[async_trait::async_trait]
impl RateLimitStore for MongoRateLimitStore {
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision> {
        let cutoff = to_bson_time(now - window);
        let at = to_bson_time(now);
        let expires_at = to_bson_time(now + window);
        for _ in 0..ROUNDS {
            // Allowed while fewer than `limit` logged hits are newer than the cutoff.
            let recorded = self
                .counters
                .find_one_and_update(
                    doc! {
                        "_id": key,
                        "$expr": { "$lt": [
                            { "$size": { "$filter": {
                                "input": "$hits",
                                "cond": { "$gt": ["$$this", cutoff] },
                            } } },
                            i64::from(limit),
                        ] },
                    },
                    doc! {
                        "$push": { "hits": {
                            "$each": [at],
                            "$sort": 1,
                            "$slice": -i64::from(limit),
                        } },
                        "$set": { "expires_at": expires_at },
                    },
                )
                .projection(doc! { "_id": 1 })
                .await?;
            if recorded.is_some() {
                return Ok(Decision::Allowed);
            }
            // No match: the key is new, or its window is full. A new key is created by
            // inserting the first hit; losing that race to another instance means the key
            // exists after all.
            if limit > 0 {
                let first = doc! { "_id": key, "hits": [at], "expires_at": expires_at };
                match self.counters.insert_one(first).await {
                    Ok(_) => return Ok(Decision::Allowed),
                    Err(err) if is_duplicate_key(&err) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            let log = self
                .counters
                .clone_with_type::<LogDoc>()
                .find_one(doc! { "_id": key })
                .projection(doc! { "_id": 0, "hits": 1 })
                .await?;
            let hits = match log {
                Some(log) => log.hits,
                // A zero limit never creates the key: nothing is ever allowed.
                None if limit == 0 => Vec::new(),
                // Deleted (TTL) between our round trips: start over.
                None => continue,
            };
            let mut recent: Vec<DateTime<Utc>> = hits
                .into_iter()
                .filter(|t| *t > cutoff)
                .map(from_bson_time)
                .collect();
            recent.sort();
            match decide(&recent, window, limit, now) {
                refused @ Decision::Refused { .. } => return Ok(refused),
                // Hits left the window between our round trips: try to record again.
                Decision::Allowed => continue,
            }
        }
        Err(StoreError::Backend(format!(
            "rate limit key {key} kept changing for {ROUNDS} rounds"
        )))
    }

    async fn spend_budgets(
        &self,
        spends: &[(String, Duration)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        // Keys are independent: a pass over many clients spends a few at a time rather than
        // one round trip after another.
        let mut times = Vec::with_capacity(spends.len());
        for chunk in spends.chunks(CONCURRENT_SPENDS) {
            let spent = futures_util::future::try_join_all(
                chunk
                    .iter()
                    .map(|(key, by)| self.spend_budget(key, micros(*by), now)),
            )
            .await?;
            for ((key, _), tat) in chunk.iter().zip(spent) {
                times.push(
                    DateTime::from_timestamp_micros(tat).ok_or_else(|| {
                        StoreError::Backend(format!("budget {key} is out of range"))
                    })?,
                );
            }
        }
        Ok(times)
    }
}
