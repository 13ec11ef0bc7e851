//! [`SocialStore`] on SQLite: the `follows` and `blocks` tables and the counters on `users`.
//!
//! Every write runs in one `BEGIN IMMEDIATE` transaction on the single write connection, so
//! an edge and its counters change together, and a follow and a block of the same pair are
//! serialised: whichever runs second sees what the first did.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, params};

use super::{FollowEdge, SocialStore, ViewerGraph, page_start};
use crate::clock::{from_millis, to_millis};
use crate::domain::UserId;
use crate::store::sqlite::{SqliteDb, ids_json};
use crate::store::{Page, PageRequest, StoreResult, fetch_limit};

pub struct SqliteSocialStore {
    db: SqliteDb,
}

impl SqliteSocialStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

/// The followers of a user: the other user and the edge time, newest first, after an
/// optional `(created_at, other id)` key. Parameters: ?1 user, ?2 key time (or NULL), ?3 key
/// id, ?4 limit. Served by the `follows_by_followee` index in that order.
const FOLLOWERS: &str = "SELECT follower_id, created_at FROM follows WHERE followee_id = ?1 \
     AND (?2 IS NULL OR (created_at, follower_id) < (?2, ?3)) \
     ORDER BY created_at DESC, follower_id DESC LIMIT ?4 + 0";

/// Whom a user follows, as [`FOLLOWERS`] with the sides swapped.
const FOLLOWING: &str = "SELECT followee_id, created_at FROM follows WHERE follower_id = ?1 \
     AND (?2 IS NULL OR (created_at, followee_id) < (?2, ?3)) \
     ORDER BY created_at DESC, followee_id DESC LIMIT ?4 + 0";

fn is_blocked_sync(conn: &Connection, a: &str, b: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = ?1 AND blocked_id = ?2) \
         OR (blocker_id = ?2 AND blocked_id = ?1))",
        )
        .and_then(|mut stmt| stmt.query_row([a, b], |row| row.get(0)))?)
}

/// Moves both counters of one edge by `delta` (+1 for a new edge, -1 for a deleted one).
fn adjust_counts(
    tx: &Transaction<'_>,
    follower: &str,
    followee: &str,
    delta: i64,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE users SET following_count = following_count + ?2 WHERE id = ?1",
        params![follower, delta],
    )?;
    tx.execute(
        "UPDATE users SET followers_count = followers_count + ?2 WHERE id = ?1",
        params![followee, delta],
    )?;
    Ok(())
}

/// Deletes one edge and, if there was one, its share of the counters.
fn delete_edge(tx: &Transaction<'_>, follower: &str, followee: &str) -> StoreResult<bool> {
    let deleted = tx.execute(
        "DELETE FROM follows WHERE follower_id = ?1 AND followee_id = ?2",
        [follower, followee],
    )?;
    if deleted > 0 {
        adjust_counts(tx, follower, followee, -1)?;
    }
    Ok(deleted > 0)
}

/// A user id read from the first column.
fn user_id(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserId> {
    row.get::<_, String>(0).map(UserId::from_trusted)
}

impl SqliteSocialStore {
    /// The user ids `sql` selects for `user` (?1).
    async fn ids(&self, sql: &str, user: &UserId) -> StoreResult<Vec<UserId>> {
        self.db.select(sql, [user.as_str()], user_id).await
    }

    /// Those of `candidates` that `sql` (?1 the viewer, ?2 the JSON list of candidates)
    /// keeps; no query for none. `json_each` takes the whole list as one parameter, so the
    /// statement text does not depend on the batch size.
    async fn among(
        &self,
        sql: &str,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let params = (viewer.as_str(), ids_json(candidates));
        self.db.select(sql, params, user_id).await
    }

    /// A page of [`FOLLOWERS`] or [`FOLLOWING`].
    async fn list(
        &self,
        sql: &'static str,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<FollowEdge>> {
        let (after_ms, after_id) = page_start(page)?.unzip();
        let after_id = after_id.as_ref().map(UserId::as_str);
        let params = (user.as_str(), after_ms, after_id, fetch_limit(page.limit));
        self.db
            .select_page(sql, params, page.limit, |row| {
                Ok(FollowEdge {
                    user_id: UserId::from_trusted(row.get(0)?),
                    followed_at: from_millis(row.get(1)?),
                })
            })
            .await
    }
}

#[async_trait::async_trait]
impl SocialStore for SqliteSocialStore {
    async fn follow(
        &self,
        follower: &UserId,
        followee: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (follower, followee) = (follower.clone(), followee.clone());
        self.db
            .write(move |tx| {
                if is_blocked_sync(tx, follower.as_str(), followee.as_str())? {
                    return Ok(false);
                }
                // Unknown users fail the foreign keys and a self-follow the CHECK, rolling
                // the transaction back; only a duplicate is ignored.
                let inserted = tx.execute(
                    "INSERT INTO follows (follower_id, followee_id, created_at) \
                         VALUES (?1, ?2, ?3) ON CONFLICT (follower_id, followee_id) DO NOTHING",
                    params![follower.as_str(), followee.as_str(), to_millis(now)],
                )?;
                if inserted > 0 {
                    adjust_counts(tx, follower.as_str(), followee.as_str(), 1)?;
                }
                Ok(inserted > 0)
            })
            .await
    }

    async fn unfollow(&self, follower: &UserId, followee: &UserId) -> StoreResult<bool> {
        let (follower, followee) = (follower.clone(), followee.clone());
        self.db
            .write(move |tx| delete_edge(tx, follower.as_str(), followee.as_str()))
            .await
    }

    async fn block(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (blocker, blocked) = (blocker.clone(), blocked.clone());
        self.db
            .write(move |tx| {
                let inserted = tx.execute(
                    "INSERT INTO blocks (blocker_id, blocked_id, created_at) \
                         VALUES (?1, ?2, ?3) ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
                    params![blocker.as_str(), blocked.as_str(), to_millis(now)],
                )?;
                delete_edge(tx, blocker.as_str(), blocked.as_str())?;
                delete_edge(tx, blocked.as_str(), blocker.as_str())?;
                Ok(inserted > 0)
            })
            .await
    }

    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> StoreResult<bool> {
        let (blocker, blocked) = (blocker.clone(), blocked.clone());
        self.db
            .write(move |tx| {
                let deleted = tx.execute(
                    "DELETE FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2",
                    [blocker.as_str(), blocked.as_str()],
                )?;
                Ok(deleted > 0)
            })
            .await
    }

    async fn followed_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        let sql = "SELECT followee_id FROM follows WHERE follower_id = ?1 \
                   AND followee_id IN (SELECT value FROM json_each(?2))";
        self.among(sql, viewer, candidates).await
    }

    async fn blocked_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        let sql = "SELECT blocked_id FROM blocks WHERE blocker_id = ?1 \
                   AND blocked_id IN (SELECT value FROM json_each(?2))";
        self.among(sql, viewer, candidates).await
    }

    async fn is_blocked_either_way(&self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        let (a, b) = (a.clone(), b.clone());
        self.db
            .read(move |conn| is_blocked_sync(conn, a.as_str(), b.as_str()))
            .await
    }

    async fn block_partners(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        // UNION (not UNION ALL) drops a partner who is blocked both ways.
        let sql = "SELECT blocked_id FROM blocks WHERE blocker_id = ?1 \
                   UNION SELECT blocker_id FROM blocks WHERE blocked_id = ?1";
        self.ids(sql, user).await
    }

    async fn followee_ids(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let sql = "SELECT followee_id FROM follows WHERE follower_id = ?1";
        self.ids(sql, user).await
    }

    async fn viewer_graph(&self, user: &UserId) -> StoreResult<ViewerGraph> {
        let rows = self
            .db
            .select(
                "SELECT 'f', followee_id FROM follows WHERE follower_id = ?1 \
                 UNION SELECT 'b', blocked_id FROM blocks WHERE blocker_id = ?1 \
                 UNION SELECT 'b', blocker_id FROM blocks WHERE blocked_id = ?1",
                [user.as_str()],
                |row| Ok((row.get::<_, String>(0)?, UserId::from_trusted(row.get(1)?))),
            )
            .await?;
        let mut graph = ViewerGraph::default();
        for (kind, id) in rows {
            match kind.as_str() {
                "f" => graph.followees.push(id),
                _ => graph.block_partners.push(id),
            }
        }
        Ok(graph)
    }

    async fn followers(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<FollowEdge>> {
        self.list(FOLLOWERS, user, page).await
    }

    async fn following(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<FollowEdge>> {
        self.list(FOLLOWING, user, page).await
    }
}
