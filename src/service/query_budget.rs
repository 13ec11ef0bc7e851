//! Query-cost budgets: each client (a user, or a client address when anonymous) has a bucket
//! of points that every operation draws its cost from and that refills at a steady rate, like
//! Shopify's `throttleStatus`.
//!
//! The bucket is a GCRA "theoretical arrival time": a spend of `cost` points moves it
//! `cost / restore_rate` seconds later, and an operation is refused when that would put it
//! more than `maximum / restore_rate` seconds past now. The time to wait before retrying is
//! exact: how far past that bound it would go.
//!
//! Decisions are made in process, so an operation costs no store round trip. Every
//! [`SYNC_INTERVAL`] the spends of the past interval go to the store in one batch
//! ([`RateLimitStore::spend_budgets`]), which returns each bucket's time with every
//! instance's spends added; the local bucket takes that time plus what it spent meanwhile.
//! So all instances share one budget per client, and a client spreading its operations over
//! `n` instances gets at most about `n - 1` extra buckets' worth before their views meet, one
//! interval later. A store failure keeps the unsent spends for the next pass: limits keep
//! working from local knowledge meanwhile.
//!
//! Memory and store writes: a bucket is forgotten once it is full and has nothing left to
//! send, so only clients active in the last `maximum / restore_rate` seconds are held, and
//! each of them costs one store write per interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use crate::store::RateLimitStore;

/// How often spends are sent to the store and other instances' spends learnt.
pub const SYNC_INTERVAL: StdDuration = StdDuration::from_millis(250);

/// The size of every client's bucket and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetPolicy {
    /// Points a full bucket holds: the largest burst.
    pub maximum: u64,
    /// Points restored per second.
    pub restore_rate: u64,
}

/// A bucket's state after an operation, as clients see it in `extensions.cost.throttleStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleStatus {
    pub maximum_available: u64,
    pub currently_available: u64,
    pub restore_rate: u64,
}

/// An operation its client's bucket cannot pay for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    /// Whole seconds until the bucket holds the operation's cost.
    pub retry_after_secs: u64,
    pub status: ThrottleStatus,
}

/// The budgets of this instance. Cheap to clone; disabled budgets allow everything.
#[derive(Clone)]
pub struct QueryBudget {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    store: Arc<dyn RateLimitStore>,
    policy: BudgetPolicy,
    /// Buckets by client key. A plain mutex: every use is a hash lookup and a few integer
    /// operations, never held across an await.
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Theoretical arrival time, in microseconds since the epoch.
    tat: i64,
    /// Spent (net of refunds) since the last sync, in microseconds of bucket time.
    unsent: i64,
}

impl QueryBudget {
    pub fn new(store: Arc<dyn RateLimitStore>, policy: BudgetPolicy, enabled: bool) -> Self {
        let usable = enabled && policy.restore_rate > 0;
        Self {
            inner: usable.then(|| {
                Arc::new(Inner {
                    store,
                    policy,
                    buckets: Mutex::new(HashMap::new()),
                })
            }),
        }
    }

    /// Draws `cost` from `client`'s bucket; refused (and not drawn) when the bucket does not
    /// hold it. `None`: budgets are off.
    pub fn spend(
        &self,
        client: &str,
        cost: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<ThrottleStatus>, OverBudget> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let now = now.timestamp_micros();
        let cost = inner.micros(cost);
        let capacity = inner.micros(inner.policy.maximum);
        let mut buckets = inner.buckets();
        // Looked up before inserting, so a known client's key is not copied again.
        if !buckets.contains_key(client) {
            buckets.insert(
                client.to_owned(),
                Bucket {
                    tat: now,
                    unsent: 0,
                },
            );
        }
        let bucket = buckets
            .get_mut(client)
            .expect("the bucket was just found or inserted");
        let tat = bucket.tat.max(now).saturating_add(cost);
        if tat - now > capacity {
            let status = inner.status(bucket.tat, now);
            let wait = tat - now - capacity;
            return Err(OverBudget {
                retry_after_secs: u64::try_from(wait).unwrap_or(0).div_ceil(1_000_000).max(1),
                status,
            });
        }
        bucket.tat = tat;
        bucket.unsent = bucket.unsent.saturating_add(cost);
        Ok(Some(inner.status(tat, now)))
    }

    /// Whether budgets are on (`rate_limits.enabled`).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Where `client`'s bucket stands, drawing nothing. `None`: budgets are off.
    pub fn status(&self, client: &str, now: DateTime<Utc>) -> Option<ThrottleStatus> {
        let inner = self.inner.as_ref()?;
        let now = now.timestamp_micros();
        let tat = inner.buckets().get(client).map_or(now, |b| b.tat);
        Some(inner.status(tat, now))
    }

    /// Gives back `points` an operation drew but did not use (its answer held fewer objects
    /// than its price assumed).
    pub fn refund(&self, client: &str, points: u64, now: DateTime<Utc>) -> Option<ThrottleStatus> {
        let inner = self.inner.as_ref()?;
        let now = now.timestamp_micros();
        let points = inner.micros(points);
        let mut buckets = inner.buckets();
        let bucket = buckets.get_mut(client)?;
        let tat = bucket.tat.saturating_sub(points).max(now.min(bucket.tat));
        bucket.unsent = bucket.unsent.saturating_sub(bucket.tat - tat);
        bucket.tat = tat;
        Some(inner.status(tat, now))
    }

    /// Sends the spends since the last pass to the store and takes back every bucket's time
    /// with all instances' spends, until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if self.inner.is_none() {
            return;
        }
        while !*stop.borrow() {
            tokio::select! {
                () = tokio::time::sleep(SYNC_INTERVAL) => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
            if let Err(err) = self.sync(crate::clock::now()).await {
                tracing::warn!(error = ?err, "cannot share query-cost budgets through the store; retrying");
            }
        }
    }

    /// One pass of [`QueryBudget::run`].
    pub async fn sync(&self, now: DateTime<Utc>) -> crate::store::StoreResult<()> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let now_us = now.timestamp_micros();
        let sent: Vec<(String, i64)> = {
            let mut buckets = inner.buckets();
            // A bucket that is not full may have been drawn from elsewhere too: a spend of
            // nothing reads it back.
            buckets.retain(|_, b| b.unsent != 0 || b.tat > now_us);
            buckets
                .iter_mut()
                .map(|(key, b)| (key.clone(), std::mem::take(&mut b.unsent)))
                .collect()
        };
        if sent.is_empty() {
            return Ok(());
        }
        let spends: Vec<(String, Duration)> = sent
            .iter()
            .map(|(key, us)| (key.clone(), Duration::microseconds(*us)))
            .collect();
        match inner.store.spend_budgets(&spends, now).await {
            Ok(times) => {
                let mut buckets = inner.buckets();
                for ((key, _), shared) in sent.iter().zip(times) {
                    if let Some(bucket) = buckets.get_mut(key) {
                        // What this instance spent while the store answered is not in
                        // `shared` yet.
                        bucket.tat = shared.timestamp_micros().saturating_add(bucket.unsent);
                    }
                }
                Ok(())
            }
            Err(err) => {
                let mut buckets = inner.buckets();
                for (key, us) in sent {
                    let bucket = buckets.entry(key).or_insert(Bucket {
                        tat: now_us,
                        unsent: 0,
                    });
                    bucket.unsent = bucket.unsent.saturating_add(us);
                }
                Err(err)
            }
        }
    }
}

impl Inner {
    /// `points` as bucket time, in microseconds.
    fn micros(&self, points: u64) -> i64 {
        let us = u128::from(points) * 1_000_000 / u128::from(self.policy.restore_rate.max(1));
        i64::try_from(us).unwrap_or(i64::MAX)
    }

    fn status(&self, tat: i64, now: i64) -> ThrottleStatus {
        let capacity = self.micros(self.policy.maximum);
        let free_us = (capacity - (tat - now).max(0)).max(0);
        let available =
            u128::try_from(free_us).unwrap_or(0) * u128::from(self.policy.restore_rate) / 1_000_000;
        ThrottleStatus {
            maximum_available: self.policy.maximum,
            currently_available: u64::try_from(available)
                .unwrap_or(u64::MAX)
                .min(self.policy.maximum),
            restore_rate: self.policy.restore_rate,
        }
    }

    fn buckets(&self) -> MutexGuard<'_, HashMap<String, Bucket>> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An enabled budget kept in the database file at `path`.
    async fn budget_in(path: &std::path::Path, maximum: u64, restore_rate: u64) -> QueryBudget {
        let stores = crate::store::sqlite::open_file(path)
            .await
            .expect("a new database opens");
        let policy = BudgetPolicy {
            maximum,
            restore_rate,
        };
        QueryBudget::new(stores.rate_limits, policy, true)
    }

    async fn budget(maximum: u64, restore_rate: u64) -> (QueryBudget, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("budget.sqlite3");
        (budget_in(&path, maximum, restore_rate).await, dir)
    }

    fn at(secs: f64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_800_000_000_000_000 + (secs * 1e6) as i64).unwrap()
    }

    #[tokio::test]
    async fn a_full_bucket_pays_up_to_its_maximum_then_refuses_until_it_refills() {
        let (budget, _dir) = budget(1000, 100).await;
        let status = budget.spend("u1", 600, at(0.0)).unwrap().unwrap();
        assert_eq!(status.currently_available, 400);
        assert_eq!(status.maximum_available, 1000);
        assert_eq!(status.restore_rate, 100);
        let refused = budget.spend("u1", 500, at(0.0)).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1, "100 points short at 100/s");
        assert_eq!(
            refused.status.currently_available, 400,
            "a refusal draws nothing"
        );
        assert_eq!(
            budget
                .spend("u1", 500, at(1.0))
                .unwrap()
                .unwrap()
                .currently_available,
            0
        );
        assert_eq!(
            budget
                .spend("u1", 250, at(1.0))
                .unwrap_err()
                .retry_after_secs,
            3
        );
        assert!(
            budget.spend("u2", 1000, at(1.0)).is_ok(),
            "buckets are per client"
        );
    }

    #[tokio::test]
    async fn a_refund_returns_what_the_answer_did_not_use() {
        let (budget, _dir) = budget(1000, 100).await;
        budget.spend("u1", 900, at(0.0)).unwrap();
        let status = budget.refund("u1", 850, at(0.0)).unwrap();
        assert_eq!(status.currently_available, 950);
        assert_eq!(
            budget
                .refund("u1", 5000, at(0.0))
                .unwrap()
                .currently_available,
            1000,
            "never above full"
        );
    }

    #[tokio::test]
    async fn instances_share_a_budget_through_the_store() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("shared.sqlite3");
        let a = budget_in(&path, 1000, 10).await;
        let b = budget_in(&path, 1000, 10).await;
        a.spend("u1", 700, at(0.0)).unwrap();
        a.sync(at(0.0)).await.unwrap();
        b.spend("u1", 100, at(0.0)).unwrap();
        b.sync(at(0.0)).await.unwrap();
        let refused = b.spend("u1", 300, at(0.0)).unwrap_err();
        assert_eq!(
            refused.status.currently_available, 200,
            "both spends counted"
        );
        a.sync(at(0.0)).await.unwrap();
        assert!(
            a.spend("u1", 300, at(0.0)).is_err(),
            "a learnt of b's spend too"
        );
        assert!(
            a.spend("u1", 300, at(10.0)).is_ok(),
            "and the budget refills"
        );
    }

    #[tokio::test]
    async fn disabled_budgets_allow_everything() {
        let (budget, _dir) = budget(1000, 100).await;
        let off = QueryBudget::new(
            budget.inner.unwrap().store.clone(),
            BudgetPolicy {
                maximum: 1,
                restore_rate: 1,
            },
            false,
        );
        assert_eq!(off.spend("u1", u64::MAX, at(0.0)), Ok(None));
    }

    #[tokio::test]
    async fn full_buckets_with_nothing_to_send_are_forgotten() {
        let (budget, _dir) = budget(1000, 100).await;
        budget.spend("u1", 100, at(0.0)).unwrap();
        budget.sync(at(0.0)).await.unwrap();
        budget.sync(at(5.0)).await.unwrap();
        assert!(budget.inner.as_ref().unwrap().buckets().is_empty());
    }
}
