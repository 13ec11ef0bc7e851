//! [`NotificationStore`] on SQLite: the `notifications` table. A recipient's next number is
//! taken inside the write transaction, which SQLite serialises (also across processes), so
//! numbers are gapless; UNIQUE indexes back both the numbering and "once per event", and a
//! partial UNIQUE index on `(recipient_id, coalesce_key) WHERE read_at IS NULL` backs "one
//! unread notification per coalescing key". The same serialised transaction makes the
//! look-up-then-update of coalescing race-free, across processes too.

use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

use super::NotificationStore;
use crate::clock::{from_millis, to_millis};
use crate::domain::{
    CommentId, MessageId, Notification, NotificationId, NotificationKind, OrderId, PostId, UserId,
};
use crate::store::sqlite::{SqliteDb, ids_json};
use crate::store::{Page, PageRequest, StoreResult, cursor, fetch_limit};

pub struct SqliteNotificationStore {
    db: SqliteDb,
}

impl SqliteNotificationStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

const COLUMNS: &str = "id, recipient_id, seq, event_seq, kind, actor_id, post_id, comment_id, \
                       message_id, created_at, read_at, order_id";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Notification> {
    let kind: String = row.get(4)?;
    Ok(Notification {
        id: NotificationId::from_trusted(row.get(0)?),
        recipient: UserId::from_trusted(row.get(1)?),
        seq: row.get(2)?,
        event_seq: row.get(3)?,
        kind: NotificationKind::from_name(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("unknown notification kind {kind:?}").into(),
            )
        })?,
        actor_id: row.get::<_, Option<String>>(5)?.map(UserId::from_trusted),
        post_id: row.get::<_, Option<String>>(6)?.map(PostId::from_trusted),
        comment_id: row
            .get::<_, Option<String>>(7)?
            .map(CommentId::from_trusted),
        message_id: row
            .get::<_, Option<String>>(8)?
            .map(MessageId::from_trusted),
        created_at: from_millis(row.get(9)?),
        read_at: row.get::<_, Option<i64>>(10)?.map(from_millis),
        order_id: row.get::<_, Option<String>>(11)?.map(OrderId::from_trusted),
    })
}

/// Stores `n` as its recipient's next notification inside `tx`; `None` when the recipient
/// already has one for its event, when a stored one with its coalescing key came from this
/// event or a later one, or when it was coalesced into the unread one with its key.
fn add_one(tx: &rusqlite::Transaction<'_>, n: Notification) -> StoreResult<Option<Notification>> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM notifications \
                 WHERE event_seq = ?1 AND recipient_id = ?2)",
        params![n.event_seq, n.recipient.as_str()],
        |row| row.get(0),
    )?;
    if exists {
        return Ok(None);
    }
    let key = n.coalescing_key();
    if let Some(key) = &key
        && coalesce(tx, &n, key)?
    {
        return Ok(None);
    }
    let seq: i64 = tx.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM notifications WHERE recipient_id = ?1",
        [n.recipient.as_str()],
        |row| row.get(0),
    )?;
    tx.prepare_cached(&format!(
        "INSERT INTO notifications ({COLUMNS}, coalesce_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))
    .and_then(|mut stmt| {
        stmt.execute(params![
            n.id.as_str(),
            n.recipient.as_str(),
            seq,
            n.event_seq,
            n.kind.as_str(),
            n.actor_id.as_ref().map(UserId::as_str),
            n.post_id.as_ref().map(PostId::as_str),
            n.comment_id.as_ref().map(CommentId::as_str),
            n.message_id.as_ref().map(MessageId::as_str),
            to_millis(n.created_at),
            n.read_at.map(to_millis),
            n.order_id.as_ref().map(OrderId::as_str),
            key,
        ])
    })?;
    Ok(Some(Notification { seq, ..n }))
}

/// Whether `n`, whose coalescing key is `key`, needs no row of its own: a stored notification
/// with the key already tells of this event or a later one (a late copy from another
/// instance), or the recipient's unread one with the key now tells of `n` instead (its event
/// and time updated, its id and number kept).
fn coalesce(tx: &rusqlite::Transaction<'_>, n: &Notification, key: &str) -> StoreResult<bool> {
    let told: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM notifications \
                 WHERE recipient_id = ?1 AND coalesce_key = ?2 AND event_seq >= ?3)",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![n.recipient.as_str(), key, n.event_seq], |row| {
                row.get(0)
            })
        })?;
    if told {
        return Ok(true);
    }
    let updated = tx
        .prepare_cached(
            "UPDATE notifications SET event_seq = ?3, created_at = MAX(created_at, ?4) \
             WHERE recipient_id = ?1 AND coalesce_key = ?2 AND read_at IS NULL",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                n.recipient.as_str(),
                key,
                n.event_seq,
                to_millis(n.created_at)
            ])
        })?;
    Ok(updated > 0)
}

#[async_trait::async_trait]
impl NotificationStore for SqliteNotificationStore {
    async fn add_all(&self, notifications: &[Notification]) -> StoreResult<Vec<Notification>> {
        if notifications.is_empty() {
            return Ok(Vec::new());
        }
        let batch = notifications.to_vec();
        self.db
            .write(move |tx| {
                let mut stored = Vec::with_capacity(batch.len());
                for n in batch {
                    stored.extend(add_one(tx, n)?);
                }
                Ok(stored)
            })
            .await
    }

    async fn list(
        &self,
        recipient: &UserId,
        unread_only: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        let before = cursor::split(page.after.as_deref()).map(|(seq, _)| seq);
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE recipient_id = ?1 \
             AND (?2 IS NULL OR seq < ?2) AND (?3 = 0 OR read_at IS NULL) \
             ORDER BY seq DESC LIMIT ?4 + 0"
        );
        let params = (
            recipient.as_str(),
            before,
            unread_only,
            fetch_limit(page.limit),
        );
        self.db
            .select_page(&sql, params, page.limit, from_row)
            .await
    }

    async fn after(
        &self,
        recipient: &UserId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Page<Notification>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE recipient_id = ?1 AND seq > ?2 \
             ORDER BY seq LIMIT ?3 + 0"
        );
        let params = (recipient.as_str(), after_seq, fetch_limit(limit));
        self.db.select_page(&sql, params, limit, from_row).await
    }

    async fn last_seq(&self, recipient: &UserId) -> StoreResult<i64> {
        let sql = "SELECT COALESCE(MAX(seq), 0) FROM notifications WHERE recipient_id = ?1";
        self.db
            .read(|conn| Ok(conn.query_row(sql, [recipient.as_str()], |row| row.get(0))?))
            .await
    }

    async fn count_unread(&self, recipient: &UserId) -> StoreResult<u64> {
        let sql = "SELECT COUNT(*) FROM notifications WHERE recipient_id = ?1 AND read_at IS NULL";
        self.db.count(sql, [recipient.as_str().to_owned()]).await
    }

    async fn mark_read(
        &self,
        recipient: &UserId,
        ids: Option<&[NotificationId]>,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let sql = "UPDATE notifications SET read_at = ?2 WHERE recipient_id = ?1 AND read_at IS NULL \
                   AND (?3 IS NULL OR id IN (SELECT value FROM json_each(?3)))";
        let params = (recipient.to_string(), to_millis(at), ids.map(ids_json));
        Ok(self.db.execute(sql, params).await? as u64)
    }
}
