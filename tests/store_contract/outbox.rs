//! The mail outbox: claiming with leases, settling, retries, giving up, concurrency.

use agora::domain::{Email, MailId, OutgoingMail};
use agora::store::{ClaimedMail, MailStatus, OutboxEntry, Stores};
use chrono::{DateTime, Duration, Utc};

use crate::fixtures::{ms, now};

fn mail(to: &str, created_at: DateTime<Utc>) -> OutgoingMail {
    OutgoingMail {
        id: MailId::generate(),
        to: Email::from_trusted(to.to_owned()),
        subject: format!("Hello {to}"),
        text: "Open https://example.com/x?token=abc\nThanks".to_owned(),
        html: "<p>Open <a href=\"https://example.com/x?token=abc\">this</a> — thanks</p>"
            .to_owned(),
        created_at,
    }
}

fn lease() -> Duration {
    Duration::minutes(2)
}

/// `stores.outbox.claim_next` at `at` for a lease of [`lease`] under `lease_id`.
async fn claim(stores: &Stores, lease_id: &str, at: DateTime<Utc>) -> Option<ClaimedMail> {
    stores
        .outbox
        .claim_next(lease_id, at, at + lease())
        .await
        .unwrap()
}

async fn entry(stores: &Stores, id: &MailId) -> OutboxEntry {
    stores
        .outbox
        .get_entry(id)
        .await
        .unwrap()
        .expect("the message is in the outbox")
}

pub async fn an_enqueued_message_reads_back_pending(stores: Stores) {
    let t = now();
    let m = mail("ann@example.com", t);

    stores.outbox.enqueue(&m).await.unwrap();

    assert_eq!(
        entry(&stores, &m.id).await,
        OutboxEntry {
            id: m.id.clone(),
            to: "ann@example.com".to_owned(),
            subject: m.subject.clone(),
            text: Some(m.text.clone()),
            html: Some(m.html.clone()),
            status: MailStatus::Pending,
            attempts: 0,
            next_attempt_at: t,
            last_error: None,
            created_at: t,
            settled_at: None,
        }
    );
    assert_eq!(
        stores.outbox.get_entry(&MailId::generate()).await.unwrap(),
        None
    );
}

pub async fn a_claim_takes_the_oldest_due_message_once(stores: Stores) {
    let t = now();
    let (older, newer, future) = (
        mail("a@example.com", t - ms(20)),
        mail("b@example.com", t - ms(10)),
        mail("c@example.com", t + Duration::minutes(5)),
    );
    for m in [&newer, &future, &older] {
        stores.outbox.enqueue(m).await.unwrap();
    }

    let first = claim(&stores, "lease-1", t)
        .await
        .expect("a message is due");
    let second = claim(&stores, "lease-2", t)
        .await
        .expect("another message is due");
    let third = claim(&stores, "lease-3", t).await;

    assert_eq!(first.mail, older);
    assert_eq!((first.lease_id.as_str(), first.attempt), ("lease-1", 1));
    assert_eq!(second.mail, newer);
    assert_eq!(
        third, None,
        "the future message is not due and the others are leased"
    );
    let claimed = entry(&stores, &older.id).await;
    assert_eq!((claimed.status, claimed.attempts), (MailStatus::Sending, 1));
}

pub async fn a_sent_message_is_never_claimed_again_and_loses_its_bodies(stores: Stores) {
    let t = now();
    let m = mail("ann@example.com", t);
    stores.outbox.enqueue(&m).await.unwrap();
    let claimed = claim(&stores, "lease-1", t).await.expect("due");

    let sent_at = t + ms(50);
    assert!(
        stores
            .outbox
            .mark_sent(&m.id, &claimed.lease_id, sent_at)
            .await
            .unwrap()
    );

    let sent = entry(&stores, &m.id).await;
    assert_eq!(sent.status, MailStatus::Sent);
    assert_eq!(sent.settled_at, Some(sent_at));
    assert_eq!((sent.text, sent.html), (None, None));
    let much_later = t + Duration::days(1);
    assert_eq!(claim(&stores, "lease-2", much_later).await, None);
    assert!(
        !stores
            .outbox
            .mark_sent(&m.id, &claimed.lease_id, sent_at)
            .await
            .unwrap()
    );
}

pub async fn a_failed_attempt_waits_for_its_retry_time(stores: Stores) {
    let t = now();
    let m = mail("ann@example.com", t);
    stores.outbox.enqueue(&m).await.unwrap();
    let claimed = claim(&stores, "lease-1", t).await.expect("due");
    let retry_at = t + Duration::seconds(30);

    assert!(
        stores
            .outbox
            .record_failure(
                &m.id,
                &claimed.lease_id,
                "421 try later",
                Some(retry_at),
                t + ms(5)
            )
            .await
            .unwrap()
    );

    let waiting = entry(&stores, &m.id).await;
    assert_eq!(waiting.status, MailStatus::Pending);
    assert_eq!(waiting.next_attempt_at, retry_at);
    assert_eq!(waiting.last_error.as_deref(), Some("421 try later"));
    assert_eq!(waiting.text.as_deref(), Some(m.text.as_str()));
    assert_eq!(
        stores
            .outbox
            .claim_next("early", retry_at - ms(1), retry_at + lease())
            .await
            .unwrap(),
        None
    );
    let again = claim(&stores, "lease-2", retry_at)
        .await
        .expect("due again at the retry time");
    assert_eq!((again.mail, again.attempt), (m, 2));
}

pub async fn giving_up_fails_the_message_for_good(stores: Stores) {
    let t = now();
    let m = mail("ann@example.com", t);
    stores.outbox.enqueue(&m).await.unwrap();
    let claimed = claim(&stores, "lease-1", t).await.expect("due");

    assert!(
        stores
            .outbox
            .record_failure(
                &m.id,
                &claimed.lease_id,
                "550 no such user",
                None,
                t + ms(5)
            )
            .await
            .unwrap()
    );

    let failed = entry(&stores, &m.id).await;
    assert_eq!(failed.status, MailStatus::Failed);
    assert_eq!(failed.settled_at, Some(t + ms(5)));
    assert_eq!(failed.last_error.as_deref(), Some("550 no such user"));
    assert_eq!((failed.text, failed.html), (None, None));
    let later = t + Duration::days(1);
    assert_eq!(claim(&stores, "x", later).await, None);
}

pub async fn an_expired_lease_is_claimed_again_and_the_stale_holder_cannot_settle(stores: Stores) {
    let t = now();
    let m = mail("ann@example.com", t);
    stores.outbox.enqueue(&m).await.unwrap();
    let dead = claim(&stores, "dead-worker", t).await.expect("due");

    let before_expiry = t + lease() - ms(1);
    assert_eq!(claim(&stores, "early", before_expiry).await, None);
    let after_expiry = t + lease();
    let revived = claim(&stores, "next-worker", after_expiry)
        .await
        .expect("the lease has expired");

    assert_eq!((revived.mail, revived.attempt), (m.clone(), 2));
    assert!(
        !stores
            .outbox
            .mark_sent(&m.id, &dead.lease_id, after_expiry)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .outbox
            .record_failure(&m.id, &dead.lease_id, "late", None, after_expiry)
            .await
            .unwrap()
    );
    assert_eq!(entry(&stores, &m.id).await.status, MailStatus::Sending);
    assert!(
        stores
            .outbox
            .mark_sent(&m.id, "next-worker", after_expiry)
            .await
            .unwrap()
    );
}

pub async fn only_one_of_twenty_concurrent_claims_gets_the_message(stores: Stores) {
    let t = now();
    let m = mail("ann@example.com", t);
    stores.outbox.enqueue(&m).await.unwrap();

    let claims: Vec<_> = (0..20)
        .map(|i| {
            let outbox = stores.outbox.clone();
            tokio::spawn(async move {
                outbox
                    .claim_next(&format!("worker-{i}"), t, t + lease())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for claim in claims {
        if let Some(claimed) = claim.await.expect("the claim task finishes") {
            winners.push(claimed);
        }
    }

    assert_eq!(winners.len(), 1, "{winners:#?}");
    assert_eq!(winners[0].mail, m);
    assert_eq!(entry(&stores, &m.id).await.attempts, 1);
}
