//! [`OutboxStore`] on SQLite: table `mail_outbox`.
//!
//! A claim is one `UPDATE … RETURNING` inside a write transaction; the single writer
//! connection (and `BEGIN IMMEDIATE` across processes) makes it atomic.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{ClaimedMail, MailStatus, OutboxEntry, OutboxStore};
use crate::clock::{from_millis, to_millis};
use crate::domain::{Email, MailId, OutgoingMail};
use crate::store::StoreResult;
use crate::store::sqlite::SqliteDb;

pub struct SqliteOutboxStore {
    db: SqliteDb,
}

impl SqliteOutboxStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

const ENTRY_COLUMNS: &str = "id, recipient, subject, text_body, html_body, status, attempts, \
                             next_attempt_at, last_error, created_at, settled_at";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let status: String = row.get(5)?;
    Ok(OutboxEntry {
        id: MailId::from_trusted(row.get(0)?),
        to: row.get(1)?,
        subject: row.get(2)?,
        text: row.get(3)?,
        html: row.get(4)?,
        // Only this module writes the column, always from `MailStatus::as_str`.
        status: MailStatus::from_name(&status).unwrap_or(MailStatus::Failed),
        attempts: row.get(6)?,
        next_attempt_at: from_millis(row.get(7)?),
        last_error: row.get(8)?,
        created_at: from_millis(row.get(9)?),
        settled_at: row.get::<_, Option<i64>>(10)?.map(from_millis),
    })
}

/// Settles a message held under `lease_id`: `status` is sent or failed, bodies erased.
/// Parameters: ?1 id, ?2 lease id, ?3 status, ?4 now, ?5 the error (or NULL).
const SETTLE: &str = "UPDATE mail_outbox SET status = ?3, settled_at = ?4, last_error = COALESCE(?5, last_error), \
                      text_body = NULL, html_body = NULL, lease_id = NULL, lease_until = NULL \
                      WHERE id = ?1 AND lease_id = ?2 AND status = 'sending'";

/// Makes a message held under `lease_id` pending again. Parameters: ?1 id, ?2 lease id,
/// ?3 when it is due, ?4 the error.
const RETRY: &str = "UPDATE mail_outbox SET status = 'pending', next_attempt_at = ?3, last_error = ?4, \
                       lease_id = NULL, lease_until = NULL \
                     WHERE id = ?1 AND lease_id = ?2 AND status = 'sending'";

#[async_trait::async_trait]
impl OutboxStore for SqliteOutboxStore {
    async fn enqueue(&self, mail: &OutgoingMail) -> StoreResult<()> {
        let sql = "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, status, \
                   attempts, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)";
        let m = mail.clone();
        let created_at = to_millis(m.created_at);
        let to = m.to.as_str().to_owned();
        let params = (
            m.id.into_string(),
            to,
            m.subject,
            m.text,
            m.html,
            created_at,
        );
        self.db.execute(sql, params).await?;
        Ok(())
    }

    async fn claim_next(
        &self,
        lease_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<ClaimedMail>> {
        let lease_id = lease_id.to_owned();
        self.db
            .write(move |tx| {
                let claimed = tx
                    .query_row(
                        "UPDATE mail_outbox SET status = 'sending', lease_id = ?1, lease_until = ?3, \
                           attempts = attempts + 1 \
                         WHERE id = (SELECT id FROM mail_outbox \
                                     WHERE (status = 'pending' AND next_attempt_at <= ?2) \
                                        OR (status = 'sending' AND lease_until <= ?2) \
                                     ORDER BY next_attempt_at, id LIMIT 1) \
                         RETURNING id, recipient, subject, text_body, html_body, attempts, created_at",
                        params![lease_id, to_millis(now), to_millis(lease_until)],
                        |row| {
                            Ok(ClaimedMail {
                                mail: OutgoingMail {
                                    id: MailId::from_trusted(row.get(0)?),
                                    to: Email::from_trusted(row.get(1)?),
                                    subject: row.get(2)?,
                                    // Only pending or sending messages are claimed, and only
                                    // settling erases bodies.
                                    text: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                                    html: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
                                    created_at: from_millis(row.get(6)?),
                                },
                                lease_id: lease_id.clone(),
                                attempt: row.get(5)?,
                            })
                        },
                    )
                    .optional()?;
                Ok(claimed)
            })
            .await
    }

    async fn mark_sent(
        &self,
        id: &MailId,
        lease_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let params = (
            id.to_string(),
            lease_id.to_owned(),
            MailStatus::Sent.as_str(),
            to_millis(now),
            None::<String>,
        );
        Ok(self.db.execute(SETTLE, params).await? > 0)
    }

    async fn record_failure(
        &self,
        id: &MailId,
        lease_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, lease_id, error) = (id.to_string(), lease_id.to_owned(), error.to_owned());
        let applied = match retry_at {
            Some(retry_at) => {
                let params = (id, lease_id, to_millis(retry_at), error);
                self.db.execute(RETRY, params).await?
            }
            None => {
                let failed = MailStatus::Failed.as_str();
                let params = (id, lease_id, failed, to_millis(now), Some(error));
                self.db.execute(SETTLE, params).await?
            }
        };
        Ok(applied > 0)
    }

    async fn get_entry(&self, id: &MailId) -> StoreResult<Option<OutboxEntry>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM mail_outbox WHERE id = ?1");
        let found = self.db.select(&sql, [id.as_str()], entry_from_row).await?;
        Ok(found.into_iter().next())
    }
}
