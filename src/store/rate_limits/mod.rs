//! Rate-limit counters, kept in the store so that every instance sharing a database counts
//! the same attempts.
//!
//! The algorithm is a sliding log: a key remembers the times of its most recent allowed hits
//! (at most `limit` of them), and a hit is allowed when fewer than `limit` of those fall in
//! the last `window`. Unlike fixed windows there is no boundary at which a client gets twice
//! the limit, and "the 6th attempt within a minute" means exactly that. Refused hits are not
//! recorded, so a client that keeps hammering is let through again as soon as its oldest
//! allowed hit leaves the window.

mod mongo;
mod sqlite;

pub use mongo::MongoRateLimitStore;
pub use sqlite::SqliteRateLimitStore;

use chrono::{DateTime, Duration, Utc};

use super::StoreResult;

/// The answer to one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Counted; go ahead.
    Allowed,
    /// Over the limit; not counted. A hit is allowed again after `retry_after` (the time
    /// until the oldest counted hit leaves the window).
    Refused { retry_after: Duration },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

/// Storage of rate-limit counters.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - `hit` is atomic: of any number of concurrent hits on a fresh key, exactly `limit` are
///   allowed within one window.
/// - A hit at `now` is allowed when fewer than `limit` allowed hits of the same key happened
///   in `(now - window, now]`; an allowed hit is recorded, a refused one is not.
/// - Keys are independent. Callers pass the same `window` and `limit` for a key every time;
///   after a configuration change the old log is read with the new numbers.
/// - Expired entries may linger (tidying is best-effort) but never count.
#[async_trait::async_trait]
pub trait RateLimitStore: Send + Sync {
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        limit: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<Decision>;

    /// Spends from shared budgets kept as a theoretical arrival time (the GCRA form of a
    /// leaky bucket): for each `(key, by)`, atomically `tat = max(tat, now) + by` (a new key
    /// starts at `now + by`), and returns the new times in the same order.
    ///
    /// Only the sum matters, so concurrent spends from several instances interleave freely.
    /// Keys whose time is long past are full budgets and may be forgotten.
    async fn spend_budgets(
        &self,
        spends: &[(String, Duration)],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<DateTime<Utc>>>;
}

/// A budget spend in whole microseconds, the unit both adapters store.
pub(crate) fn micros(by: Duration) -> i64 {
    by.num_microseconds().unwrap_or(i64::MAX)
}

/// The decision for a key whose log holds `recent` (ascending times of allowed hits inside
/// the window) when a hit arrives at `now`. Shared by both adapters' refusal paths.
pub(crate) fn decide(
    recent: &[DateTime<Utc>],
    window: Duration,
    limit: u32,
    now: DateTime<Utc>,
) -> Decision {
    let limit = limit as usize;
    if limit == 0 {
        return Decision::Refused {
            retry_after: window,
        };
    }
    if recent.len() < limit {
        return Decision::Allowed;
    }
    // The hit that must leave the window before another one fits.
    let blocking = recent[recent.len() - limit];
    Decision::Refused {
        retry_after: (blocking + window - now).max(Duration::milliseconds(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_767_225_600_000 + ms).expect("in range")
    }

    #[test]
    fn a_full_log_refuses_until_its_oldest_hit_leaves_the_window() {
        let window = Duration::seconds(60);
        let log = [at(0), at(10_000), at(20_000)];
        assert_eq!(decide(&log[..2], window, 3, at(30_000)), Decision::Allowed);
        assert_eq!(
            decide(&log, window, 3, at(30_000)),
            Decision::Refused {
                retry_after: Duration::seconds(30)
            }
        );
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        assert!(!decide(&[], Duration::seconds(1), 0, at(0)).is_allowed());
    }
}
