//! [`OneTimeTokenStore`] on SQLite: table `one_time_tokens`, one row per user and purpose.

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use super::{NewOneTimeToken, OneTimeTokenStore, TokenPurpose};
use crate::clock::to_millis;
use crate::domain::UserId;
use crate::store::StoreResult;
use crate::store::sqlite::SqliteDb;

pub struct SqliteOneTimeTokenStore {
    db: SqliteDb,
}

impl SqliteOneTimeTokenStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// The owner of a token `consume` may use up: the current one of its purpose, unused and
/// unexpired. Parameters: ?1 hash, ?2 purpose, ?3 now.
const PEEK: &str = "SELECT user_id FROM one_time_tokens \
                    WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3";

/// [`PEEK`]'s token marked used in the same statement, so one consume of it wins.
const CONSUME: &str = "UPDATE one_time_tokens SET used_at = ?3 \
                       WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3 \
                       RETURNING user_id";

/// The owner a [`PEEK`] or [`CONSUME`] row names.
fn owner(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserId> {
    row.get(0).map(UserId::from_trusted)
}

#[async_trait::async_trait]
impl OneTimeTokenStore for SqliteOneTimeTokenStore {
    async fn issue(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        // The (user_id, purpose) primary key makes "a newer token supersedes the older one" a
        // single upsert: the old hash is simply gone.
        let sql = "INSERT INTO one_time_tokens (user_id, purpose, token_hash, created_at, expires_at, used_at) \
                   VALUES (?1, ?2, ?3, ?4, ?5, NULL) \
                   ON CONFLICT (user_id, purpose) DO UPDATE SET \
                     token_hash = excluded.token_hash, created_at = excluded.created_at, \
                     expires_at = excluded.expires_at, used_at = NULL";
        let t = token.clone();
        let (created_at, expires_at) = (to_millis(t.created_at), to_millis(t.expires_at));
        let params = (
            t.user_id.into_string(),
            t.purpose.as_str(),
            t.token_hash,
            created_at,
            expires_at,
        );
        self.db.execute(sql, params).await?;
        Ok(())
    }

    async fn peek(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        let params = (token_hash, purpose.as_str(), to_millis(now));
        Ok(self.db.select(PEEK, params, owner).await?.pop())
    }

    async fn consume(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        let params = (token_hash.to_owned(), purpose.as_str(), to_millis(now));
        self.db
            .write(move |tx| {
                Ok(tx
                    .prepare_cached(CONSUME)?
                    .query_row(params, owner)
                    .optional()?)
            })
            .await
    }
}
