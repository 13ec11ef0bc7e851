//! [`SessionStore`] on SQLite: the `sessions` table, and `retired_refresh_tokens`, which
//! remembers each family's recently retired token hashes for reuse detection.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{NewSession, RETIRED_TOKENS_KEPT, Session, SessionRotation, SessionStore};
use crate::clock::{from_millis, to_millis};
use crate::domain::{SessionId, UserId};
use crate::store::StoreResult;
use crate::store::sqlite::SqliteDb;

pub struct SqliteSessionStore {
    db: SqliteDb,
}

impl SqliteSessionStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }

    /// Runs one write statement in its own transaction and tells how many rows it changed.
    async fn execute(
        &self,
        sql: &'static str,
        params: impl rusqlite::Params + Send + 'static,
    ) -> StoreResult<u64> {
        self.db
            .write(move |tx| Ok(u64::try_from(tx.execute(sql, params)?)?))
            .await
    }
}

const SESSION_COLUMNS: &str = "id, user_id, created_at, expires_at, revoked_at";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        created_at: from_millis(row.get(2)?),
        expires_at: from_millis(row.get(3)?),
        revoked_at: row.get::<_, Option<i64>>(4)?.map(from_millis),
    })
}

#[async_trait::async_trait]
impl SessionStore for SqliteSessionStore {
    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        let s = session.clone();
        let values = (
            s.id.to_string(),
            s.user_id.to_string(),
            s.token_hash,
            to_millis(s.created_at),
            to_millis(s.expires_at),
        );
        self.execute(
            "INSERT INTO sessions (id, user_id, current_hash, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            values,
        )
        .await
        .map(drop)
    }

    async fn get_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
                    ))?
                    .query_row([id.as_str()], session_from_row)
                    .optional()?)
            })
            .await
    }

    async fn rotate_session(
        &self,
        token_hash: &str,
        replacement_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<SessionRotation> {
        let (presented, replacement) = (token_hash.to_owned(), replacement_hash.to_owned());
        self.db
            .write(move |tx| {
                let rotated = tx
                    .query_row(
                        &format!(
                            "UPDATE sessions SET current_hash = ?2, expires_at = ?4 \
                             WHERE current_hash = ?1 AND revoked_at IS NULL AND expires_at > ?3 \
                             RETURNING {SESSION_COLUMNS}"
                        ),
                        params![
                            presented,
                            replacement,
                            to_millis(now),
                            to_millis(expires_at)
                        ],
                        session_from_row,
                    )
                    .optional()?;
                if let Some(session) = rotated {
                    tx.execute(
                        "INSERT INTO retired_refresh_tokens (hash, session_id, retired_at) \
                         VALUES (?1, ?2, ?3)",
                        params![presented, session.id.as_str(), to_millis(now)],
                    )?;
                    tx.execute(
                        "DELETE FROM retired_refresh_tokens WHERE session_id = ?1 AND hash NOT IN \
                         (SELECT hash FROM retired_refresh_tokens WHERE session_id = ?1 \
                          ORDER BY retired_at DESC, rowid DESC LIMIT ?2 + 0)",
                        params![session.id.as_str(), RETIRED_TOKENS_KEPT as i64],
                    )?;
                    return Ok(SessionRotation::Rotated(session));
                }
                let reused = tx
                    .query_row(
                        "SELECT s.id, s.user_id FROM retired_refresh_tokens r \
                         JOIN sessions s ON s.id = r.session_id WHERE r.hash = ?1",
                        [&presented],
                        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                    )
                    .optional()?;
                let Some((session_id, user_id)) = reused else {
                    return Ok(SessionRotation::Rejected);
                };
                tx.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![session_id, to_millis(now)],
                )?;
                Ok(SessionRotation::ReuseDetected {
                    session_id: SessionId::from_trusted(session_id),
                    user_id: UserId::from_trusted(user_id),
                })
            })
            .await
    }

    async fn revoke_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let revoked = self
            .execute(
                "UPDATE sessions SET revoked_at = ?1 \
                 WHERE current_hash = ?2 AND revoked_at IS NULL",
                (to_millis(now), token_hash.to_owned()),
            )
            .await?;
        Ok(revoked > 0)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &UserId,
        keep: Option<&SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.execute(
            "UPDATE sessions SET revoked_at = ?1 \
             WHERE user_id = ?2 AND revoked_at IS NULL AND (?3 IS NULL OR id <> ?3)",
            (
                to_millis(now),
                user_id.to_string(),
                keep.map(ToString::to_string),
            ),
        )
        .await
    }
}
