//! The outbox under failure: a mail server that refuses, a worker killed mid-delivery, two
//! workers at once. Each test drives delivery passes itself, with the clock stepped past
//! back-off and leases, on an app core whose own worker is not running.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agora::app::Core;
use agora::clock::now;
use agora::config::Config;
use agora::domain::{DisplayName, Email, MailId, NewPassword, OutgoingMail, Role, Username};
use agora::mail::{
    DeliveryReport, FileMailer, MailDelivery, MailError, Mailer, RetryPolicy, parse_sender,
};
use agora::service::{ClientOrigin, RegisterCommand};
use agora::store::MailStatus;
use chrono::Duration;
use tokio::sync::Notify;

use crate::helpers::JWT_SECRET;

/// The services and stores of the app, without a server and so without its worker.
async fn core() -> (Core, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.store.data_dir = data_dir.path().to_owned();
    config.auth.jwt_secret = Some(JWT_SECRET.into());
    (
        Core::build(config).await.expect("the core builds"),
        data_dir,
    )
}

/// Registers ann, which queues her verification mail.
async fn register(core: &Core) {
    core.services
        .sessions
        .register(
            RegisterCommand {
                email: Email::parse("ann@example.com").unwrap(),
                password: NewPassword::parse("password", "ann-secret-pw").unwrap(),
                username: Username::parse("ann").unwrap(),
                display_name: DisplayName::parse("Ann").unwrap(),
                role: Role::Buyer,
            },
            &ClientOrigin::default(),
        )
        .await
        .expect("ann registers");
}

/// The real file mailer, counting deliveries per message, after refusing the first
/// `refusals` attempts the way a mail server that is down would.
struct FlakyMailer {
    inner: FileMailer,
    refusals: AtomicUsize,
    attempts: AtomicUsize,
    delivered: std::sync::Mutex<HashMap<MailId, usize>>,
}

impl FlakyMailer {
    fn new(core: &Core, dir: &tempfile::TempDir, refusals: usize) -> Arc<Self> {
        let from = parse_sender(&core.config.mail.from).unwrap();
        Arc::new(Self {
            inner: FileMailer::new(dir.path().join("outbox"), from),
            refusals: AtomicUsize::new(refusals),
            attempts: AtomicUsize::new(0),
            delivered: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn deliveries(&self) -> HashMap<MailId, usize> {
        self.delivered.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let refuse = self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refuse {
            return Err(MailError::transient("421 service not available"));
        }
        self.inner.send(mail).await?;
        *self
            .delivered
            .lock()
            .unwrap()
            .entry(mail.id.clone())
            .or_default() += 1;
        Ok(())
    }
}

/// A mail server that accepts the connection and then never answers.
struct HangingMailer {
    started: Notify,
}

#[async_trait::async_trait]
impl Mailer for HangingMailer {
    async fn send(&self, _mail: &OutgoingMail) -> Result<(), MailError> {
        self.started.notify_one();
        std::future::pending().await
    }
}

fn eml_files(dir: &tempfile::TempDir) -> Vec<String> {
    match std::fs::read_dir(dir.path().join("outbox")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".eml"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn sent(n: usize) -> DeliveryReport {
    DeliveryReport {
        sent: n,
        ..DeliveryReport::default()
    }
}

fn retrying(n: usize) -> DeliveryReport {
    DeliveryReport {
        retrying: n,
        ..DeliveryReport::default()
    }
}

#[tokio::test]
async fn a_refusing_mail_server_delays_the_mail_which_then_goes_out_exactly_once() {
    let (core, dir) = core().await;
    register(&core).await;
    let mailer = FlakyMailer::new(&core, &dir, 2);
    let policy = RetryPolicy::from_config(&core.config.mail);
    let delivery = MailDelivery::new(core.stores.outbox.clone(), mailer.clone(), policy.clone());
    let t = now();

    assert_eq!(delivery.deliver_due_at(t).await.unwrap(), retrying(1));
    // Backing off: not due again until the first delay has passed.
    let first_retry = t + policy.delay_after(1);
    assert_eq!(
        delivery
            .deliver_due_at(first_retry - Duration::seconds(1))
            .await
            .unwrap(),
        DeliveryReport::default()
    );
    assert_eq!(
        delivery.deliver_due_at(first_retry).await.unwrap(),
        retrying(1)
    );
    assert!(eml_files(&dir).is_empty());
    let later = first_retry + policy.delay_after(2);
    assert_eq!(delivery.deliver_due_at(later).await.unwrap(), sent(1));
    assert_eq!(
        delivery
            .deliver_due_at(later + Duration::days(1))
            .await
            .unwrap(),
        DeliveryReport::default()
    );

    let deliveries = mailer.deliveries();
    assert_eq!(deliveries.values().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);
    let id = deliveries.keys().next().unwrap();
    assert_eq!(eml_files(&dir), vec![format!("{id}.eml")]);
    let entry = core.stores.outbox.get_entry(id).await.unwrap().unwrap();
    assert_eq!((entry.status, entry.attempts), (MailStatus::Sent, 3));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("421 service not available")
    );
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_leaves_the_mail_to_the_next_which_sends_it_once() {
    let (core, dir) = core().await;
    register(&core).await;
    let policy = RetryPolicy::from_config(&core.config.mail);
    let hanging = Arc::new(HangingMailer {
        started: Notify::new(),
    });
    let doomed = MailDelivery::new(core.stores.outbox.clone(), hanging.clone(), policy.clone());
    let t = now();

    let worker = tokio::spawn(async move { doomed.deliver_due_at(t).await });
    hanging.started.notified().await;
    worker.abort();
    assert!(worker.await.unwrap_err().is_cancelled());

    let mailer = FlakyMailer::new(&core, &dir, 0);
    let successor = MailDelivery::new(core.stores.outbox.clone(), mailer.clone(), policy.clone());
    // The dead worker's lease still holds the message.
    assert_eq!(
        successor
            .deliver_due_at(t + Duration::seconds(1))
            .await
            .unwrap(),
        DeliveryReport::default()
    );
    let lease_over = t + policy.lease();
    assert_eq!(successor.deliver_due_at(lease_over).await.unwrap(), sent(1));
    assert_eq!(
        successor
            .deliver_due_at(lease_over + Duration::days(1))
            .await
            .unwrap(),
        DeliveryReport::default()
    );

    let deliveries = mailer.deliveries();
    assert_eq!(deliveries.values().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(eml_files(&dir).len(), 1);
    let id = deliveries.keys().next().unwrap();
    let entry = core.stores.outbox.get_entry(id).await.unwrap().unwrap();
    assert_eq!((entry.status, entry.attempts), (MailStatus::Sent, 2));
}

#[tokio::test]
async fn two_workers_draining_one_outbox_send_every_message_once() {
    let (core, dir) = core().await;
    let outbox = core.mail.outbox();
    for i in 0..12 {
        outbox
            .enqueue(&OutgoingMail {
                id: MailId::generate(),
                to: Email::parse(&format!("user{i}@example.com")).unwrap(),
                subject: format!("Message {i}"),
                text: "Hello".to_owned(),
                html: "<p>Hello</p>".to_owned(),
                created_at: now(),
            })
            .await
            .unwrap();
    }
    let mailer = FlakyMailer::new(&core, &dir, 0);
    let policy = RetryPolicy::from_config(&core.config.mail);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let delivery =
                MailDelivery::new(core.stores.outbox.clone(), mailer.clone(), policy.clone());
            tokio::spawn(async move { delivery.deliver_due().await.unwrap() })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap().sent;
    }

    assert_eq!(total, 12);
    let deliveries = mailer.deliveries();
    assert_eq!(deliveries.len(), 12);
    assert!(deliveries.values().all(|&n| n == 1), "{deliveries:?}");
    assert_eq!(eml_files(&dir).len(), 12);
}

#[tokio::test]
async fn the_worker_stops_when_told_to() {
    let (core, _dir) = core().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(core.mail.clone().run(stopped));

    stop.send(true).unwrap();

    tokio::time::timeout(std::time::Duration::from_secs(10), worker)
        .await
        .expect("the worker stops promptly")
        .unwrap();
}
