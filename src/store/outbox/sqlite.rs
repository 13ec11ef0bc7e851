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
const SETTLE: &str = "UPDATE mail_outbox SET status = ?3, settled_at = ?4, last_error = COALESCE(?5, last_error), \
                      text_body = NULL, html_body = NULL, lease_id = NULL, lease_until = NULL \
                      WHERE id = ?1 AND lease_id = ?2 AND status = 'sending'";

#[async_trait::async_trait]
impl OutboxStore for SqliteOutboxStore {
    async fn enqueue(&self, mail: &OutgoingMail) -> StoreResult<()> {
        let m = mail.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body, status, \
                     attempts, next_attempt_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6)",
                    params![
                        m.id.as_str(),
                        m.to.as_str(),
                        m.subject,
                        m.text,
                        m.html,
                        to_millis(m.created_at)
                    ],
                )?;
                Ok(())
            })
            .await
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
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, String>(1)?,
                                row.get::<_, String>(2)?,
                                row.get::<_, Option<String>>(3)?,
                                row.get::<_, Option<String>>(4)?,
                                row.get::<_, u32>(5)?,
                                row.get::<_, i64>(6)?,
                            ))
                        },
                    )
                    .optional()?;
                Ok(claimed.map(|(id, to, subject, text, html, attempt, created_at)| {
                    ClaimedMail {
                        mail: OutgoingMail {
                            id: MailId::from_trusted(id),
                            to: Email::from_trusted(to),
                            subject,
                            // Only pending or sending messages are claimed, and only settling
                            // erases bodies.
                            text: text.unwrap_or_default(),
                            html: html.unwrap_or_default(),
                            created_at: from_millis(created_at),
                        },
                        lease_id,
                        attempt,
                    }
                }))
            })
            .await
    }

    async fn mark_sent(
        &self,
        id: &MailId,
        lease_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, lease_id) = (id.clone(), lease_id.to_owned());
        self.db
            .write(move |tx| {
                Ok(tx
                    .execute(
                        SETTLE,
                        params![
                            id.as_str(),
                            lease_id,
                            MailStatus::Sent.as_str(),
                            to_millis(now),
                            Option::<String>::None
                        ],
                    )
                    .map(|n| n > 0)?)
            })
            .await
    }

    async fn record_failure(
        &self,
        id: &MailId,
        lease_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, lease_id, error) = (id.clone(), lease_id.to_owned(), error.to_owned());
        self.db
            .write(move |tx| {
                let applied = match retry_at {
                    Some(retry_at) => tx.execute(
                        "UPDATE mail_outbox SET status = 'pending', next_attempt_at = ?3, last_error = ?4, \
                           lease_id = NULL, lease_until = NULL \
                         WHERE id = ?1 AND lease_id = ?2 AND status = 'sending'",
                        params![id.as_str(), lease_id, to_millis(retry_at), error],
                    ),
                    None => tx.execute(
                        SETTLE,
                        params![
                            id.as_str(),
                            lease_id,
                            MailStatus::Failed.as_str(),
                            to_millis(now),
                            error
                        ],
                    ),
                };
                Ok(applied.map(|n| n > 0)?)
            })
            .await
    }

    async fn get_entry(&self, id: &MailId) -> StoreResult<Option<OutboxEntry>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {ENTRY_COLUMNS} FROM mail_outbox WHERE id = ?1"
                    ))
                    .and_then(|mut stmt| {
                        stmt.query_row([id.as_str()], entry_from_row).optional()
                    })?)
            })
            .await
    }
}
