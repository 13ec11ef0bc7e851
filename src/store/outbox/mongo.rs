//! [`OutboxStore`] on MongoDB: collection `mail_outbox`.
//!
//! A claim is one `findAndModify` whose filter only matches a due message, so concurrent
//! workers on any number of instances each get a different message (or none).

use chrono::{DateTime, Utc};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::Deserialize;

use super::{ClaimedMail, MailStatus, OutboxEntry, OutboxStore};
use crate::domain::{Email, MailId, OutgoingMail};
use crate::store::StoreResult;
use crate::store::mongo::{create_indexes, from_bson_time, index, to_bson_time};

pub struct MongoOutboxStore {
    outbox: Collection<OutboxDoc>,
}

/// A message as read back. Bodies are null once settled; lease fields are null when no
/// worker holds the message.
#[derive(Deserialize)]
struct OutboxDoc {
    #[serde(rename = "_id")]
    id: String,
    recipient: String,
    subject: String,
    text_body: Option<String>,
    html_body: Option<String>,
    status: String,
    attempts: i64,
    next_attempt_at: bson::DateTime,
    last_error: Option<String>,
    created_at: bson::DateTime,
    settled_at: Option<bson::DateTime>,
}

impl From<OutboxDoc> for OutboxEntry {
    fn from(d: OutboxDoc) -> Self {
        OutboxEntry {
            id: MailId::from_trusted(d.id),
            to: d.recipient,
            subject: d.subject,
            text: d.text_body,
            html: d.html_body,
            // Only this module writes the field, always from `MailStatus::as_str`.
            status: MailStatus::from_name(&d.status).unwrap_or(MailStatus::Failed),
            attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
            next_attempt_at: from_bson_time(d.next_attempt_at),
            last_error: d.last_error,
            created_at: from_bson_time(d.created_at),
            settled_at: d.settled_at.map(from_bson_time),
        }
    }
}

impl MongoOutboxStore {
    pub fn new(db: Database) -> Self {
        Self {
            outbox: db.collection("mail_outbox"),
        }
    }

    /// Creates the indexes the claim query uses: one per branch of its `$or`.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        create_indexes(
            &self.outbox,
            vec![
                index(
                    doc! { "status": 1, "next_attempt_at": 1 },
                    "mail_outbox_due",
                    false,
                ),
                index(
                    doc! { "status": 1, "lease_until": 1 },
                    "mail_outbox_leases",
                    false,
                ),
            ],
        )
        .await
    }

    /// Settles the message held under `lease_id` as sent or failed and erases its bodies.
    async fn settle(
        &self,
        id: &MailId,
        lease_id: &str,
        status: MailStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut set = doc! {
            "status": status.as_str(),
            "settled_at": to_bson_time(now),
            "text_body": Bson::Null,
            "html_body": Bson::Null,
            "lease_id": Bson::Null,
            "lease_until": Bson::Null,
        };
        if let Some(error) = error {
            set.insert("last_error", error);
        }
        Ok(self.outbox
            .update_one(
                doc! { "_id": id.as_str(), "lease_id": lease_id, "status": MailStatus::Sending.as_str() },
                doc! { "$set": set },
            )
            .await
            .map(|result| result.matched_count > 0)?)
    }
}

#[async_trait::async_trait]
impl OutboxStore for MongoOutboxStore {
    async fn enqueue(&self, mail: &OutgoingMail) -> StoreResult<()> {
        let document = doc! {
            "_id": mail.id.as_str(),
            "recipient": mail.to.as_str(),
            "subject": &mail.subject,
            "text_body": &mail.text,
            "html_body": &mail.html,
            "status": MailStatus::Pending.as_str(),
            "attempts": 0_i64,
            "next_attempt_at": to_bson_time(mail.created_at),
            "lease_id": Bson::Null,
            "lease_until": Bson::Null,
            "last_error": Bson::Null,
            "created_at": to_bson_time(mail.created_at),
            "settled_at": Bson::Null,
        };
        let outbox = self.outbox.clone_with_type::<Document>();
        outbox.insert_one(document).await?;
        Ok(())
    }

    async fn claim_next(
        &self,
        lease_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<ClaimedMail>> {
        let now = to_bson_time(now);
        let claimed = self
            .outbox
            .find_one_and_update(
                doc! { "$or": [
                    { "status": MailStatus::Pending.as_str(), "next_attempt_at": { "$lte": now } },
                    { "status": MailStatus::Sending.as_str(), "lease_until": { "$lte": now } },
                ] },
                doc! {
                    "$set": {
                        "status": MailStatus::Sending.as_str(),
                        "lease_id": lease_id,
                        "lease_until": to_bson_time(lease_until),
                    },
                    "$inc": { "attempts": 1_i64 },
                },
            )
            .sort(doc! { "next_attempt_at": 1, "_id": 1 })
            .return_document(ReturnDocument::After)
            .await?;
        Ok(claimed.map(|d| ClaimedMail {
            attempt: u32::try_from(d.attempts).unwrap_or(u32::MAX),
            lease_id: lease_id.to_owned(),
            mail: OutgoingMail {
                id: MailId::from_trusted(d.id),
                to: Email::from_trusted(d.recipient),
                subject: d.subject,
                // Only pending or sending messages are claimed, and only settling erases
                // bodies.
                text: d.text_body.unwrap_or_default(),
                html: d.html_body.unwrap_or_default(),
                created_at: from_bson_time(d.created_at),
            },
        }))
    }

    async fn mark_sent(
        &self,
        id: &MailId,
        lease_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.settle(id, lease_id, MailStatus::Sent, None, now).await
    }

    async fn record_failure(
        &self,
        id: &MailId,
        lease_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let Some(retry_at) = retry_at else {
            return self
                .settle(id, lease_id, MailStatus::Failed, Some(error), now)
                .await;
        };
        Ok(self.outbox
            .update_one(
                doc! { "_id": id.as_str(), "lease_id": lease_id, "status": MailStatus::Sending.as_str() },
                doc! { "$set": {
                    "status": MailStatus::Pending.as_str(),
                    "next_attempt_at": to_bson_time(retry_at),
                    "last_error": error,
                    "lease_id": Bson::Null,
                    "lease_until": Bson::Null,
                } },
            )
            .await
            .map(|result| result.matched_count > 0)?)
    }

    async fn get_entry(&self, id: &MailId) -> StoreResult<Option<OutboxEntry>> {
        Ok(self
            .outbox
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map(|found| found.map(OutboxEntry::from))?)
    }
}
