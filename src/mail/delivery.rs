//! The two ends of the outbox: [`Outbox`], through which services enqueue, and
//! [`MailDelivery`], the worker that claims due messages, sends them and records the outcome.
//!
//! Delivery is at least once. A message is settled only after the mailer succeeded, so a
//! crash between the two sends it again once its lease expires (with the same `Message-ID`;
//! in file mode it rewrites the same file). Leases outlast the send timeout, so a live worker
//! never loses its message to another one.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{Notify, broadcast, watch};

use super::Mailer;
use crate::clock::now;
use crate::config::MailConfig;
use crate::domain::{MailId, OutgoingMail};
use crate::store::{ClaimedMail, OutboxStore, StoreResult};

/// Enqueues mail for the worker. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn OutboxStore>,
    /// Shared with this process's worker: wakes it at once instead of at its next poll.
    /// `Notify` keeps one permit when nobody waits, so a wake-up sent while the worker is
    /// busy is not lost.
    wake: Arc<Notify>,
}

impl Outbox {
    /// Stores the message for delivery; it survives a crash from here on.
    pub async fn enqueue(&self, mail: &OutgoingMail) -> StoreResult<()> {
        self.store.enqueue(mail).await?;
        self.wake.notify_one();
        Ok(())
    }
}

/// How hard the worker tries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts before a message is given up (a claim whose worker died counts).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Upper bound on one send.
    pub send_timeout: std::time::Duration,
    /// How often to look for due mail without being woken.
    pub poll_interval: std::time::Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &MailConfig) -> Self {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Self {
            max_attempts: config.max_attempts.max(1),
            base_delay: secs(config.retry_base_secs),
            max_delay: secs(config.retry_max_secs),
            send_timeout: std::time::Duration::from_secs(config.send_timeout_secs.max(1)),
            poll_interval: std::time::Duration::from_secs(config.poll_interval_secs.max(1)),
        }
    }

    /// The wait after failed attempt `attempt` (counting from 1).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2_i32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.base_delay
            .checked_mul(factor)
            .map_or(self.max_delay, |delay| delay.min(self.max_delay))
    }

    /// How long a claim holds a message: the send timeout plus a margin for the store round
    /// trips around it, so the lease cannot run out while its worker still works.
    pub fn lease(&self) -> Duration {
        Duration::from_std(self.send_timeout).unwrap_or(Duration::MAX) + Duration::seconds(30)
    }
}

/// A message this process delivered (announced for tests and observers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub id: MailId,
    pub to: String,
}

/// What one pass over the due messages did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Failed attempts that will be retried.
    pub retrying: usize,
    /// Messages given up.
    pub failed: usize,
}

/// The delivery worker. Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct MailDelivery {
    store: Arc<dyn OutboxStore>,
    mailer: Arc<dyn Mailer>,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    /// Announces each delivery. Capacity bounds what a slow listener can miss; the worker
    /// never waits for listeners.
    delivered: broadcast::Sender<Delivered>,
}

impl MailDelivery {
    pub const ANNOUNCE_CAPACITY: usize = 256;

    pub fn new(store: Arc<dyn OutboxStore>, mailer: Arc<dyn Mailer>, policy: RetryPolicy) -> Self {
        Self {
            store,
            mailer,
            policy,
            wake: Arc::new(Notify::new()),
            delivered: broadcast::channel(Self::ANNOUNCE_CAPACITY).0,
        }
    }

    /// The enqueue side, wired to wake this worker.
    pub fn outbox(&self) -> Outbox {
        Outbox {
            store: Arc::clone(&self.store),
            wake: Arc::clone(&self.wake),
        }
    }

    /// Every message this worker delivers from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Delivered> {
        self.delivered.subscribe()
    }

    /// Delivers every message due now, one at a time, until none is left.
    pub async fn deliver_due(&self) -> StoreResult<DeliveryReport> {
        self.pass(now, None).await
    }

    /// [`deliver_due`](Self::deliver_due) as if the clock read `at`: tests step past
    /// back-off and leases with it instead of sleeping.
    pub async fn deliver_due_at(&self, at: DateTime<Utc>) -> StoreResult<DeliveryReport> {
        self.pass(|| at, None).await
    }

    /// Runs until `stop` turns true: a pass whenever an enqueue wakes it, and at least every
    /// poll interval (retries coming due, mail enqueued by other instances). A message being
    /// sent when `stop` arrives is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::debug!("mail delivery worker started");
        while !*stop.borrow() {
            if let Err(err) = self.pass(now, Some(&stop)).await {
                tracing::error!(error = %err, "mail delivery pass failed; retrying at the next poll");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.policy.poll_interval) => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        tracing::debug!("mail delivery worker stopped");
    }

    async fn pass(
        &self,
        clock: impl Fn() -> DateTime<Utc>,
        stop: Option<&watch::Receiver<bool>>,
    ) -> StoreResult<DeliveryReport> {
        let mut report = DeliveryReport::default();
        while !stop.is_some_and(|stop| *stop.borrow()) {
            let at = clock();
            let lease_id = uuid::Uuid::now_v7().simple().to_string();
            let Some(claimed) = self
                .store
                .claim_next(&lease_id, at, at + self.policy.lease())
                .await?
            else {
                break;
            };
            self.deliver(claimed, &clock, &mut report).await?;
        }
        Ok(report)
    }

    async fn deliver(
        &self,
        claimed: ClaimedMail,
        clock: &impl Fn() -> DateTime<Utc>,
        report: &mut DeliveryReport,
    ) -> StoreResult<()> {
        let ClaimedMail {
            mail,
            lease_id,
            attempt,
        } = claimed;
        if attempt > self.policy.max_attempts {
            // Earlier workers died holding it: do not try again.
            self.store
                .record_failure(
                    &mail.id,
                    &lease_id,
                    "gave up: no attempt finished",
                    None,
                    clock(),
                )
                .await?;
            report.failed += 1;
            tracing::error!(mail_id = %mail.id, attempt, "mail given up: every attempt was interrupted");
            return Ok(());
        }
        let outcome =
            match tokio::time::timeout(self.policy.send_timeout, self.mailer.send(&mail)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(super::MailError::transient("the send timed out")),
            };
        match outcome {
            Ok(()) => {
                if self.store.mark_sent(&mail.id, &lease_id, clock()).await? {
                    report.sent += 1;
                    tracing::debug!(mail_id = %mail.id, attempt, "mail sent");
                    let _ = self.delivered.send(Delivered {
                        id: mail.id,
                        to: mail.to.as_str().to_owned(),
                    });
                } else {
                    tracing::warn!(mail_id = %mail.id, "mail sent after its lease expired; another worker may send it again");
                }
            }
            Err(err) if err.permanent || attempt >= self.policy.max_attempts => {
                self.store
                    .record_failure(&mail.id, &lease_id, &err.message, None, clock())
                    .await?;
                report.failed += 1;
                tracing::error!(mail_id = %mail.id, attempt, error = %err, "mail given up");
            }
            Err(err) => {
                let retry_at = clock() + self.policy.delay_after(attempt);
                self.store
                    .record_failure(&mail.id, &lease_id, &err.message, Some(retry_at), clock())
                    .await?;
                report.retrying += 1;
                tracing::warn!(mail_id = %mail.id, attempt, %retry_at, error = %err, "mail delivery failed; will retry");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_the_base_up_to_the_cap() {
        let policy = RetryPolicy::from_config(&MailConfig::default());
        assert_eq!(policy.delay_after(1), Duration::seconds(30));
        assert_eq!(policy.delay_after(2), Duration::seconds(60));
        assert_eq!(policy.delay_after(4), Duration::seconds(240));
        assert_eq!(policy.delay_after(10), Duration::hours(1));
        assert_eq!(policy.delay_after(u32::MAX), Duration::hours(1));
    }

    #[test]
    fn a_lease_outlasts_the_send_timeout() {
        let policy = RetryPolicy::from_config(&MailConfig::default());
        assert!(policy.lease() > Duration::from_std(policy.send_timeout).unwrap());
    }
}
