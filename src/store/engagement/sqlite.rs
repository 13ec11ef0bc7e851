//! [`EngagementStore`] on SQLite: every write and its counter change share one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{EngagementStore, Favorite, known_reactions, pages_per_post};
use crate::clock::{from_millis, to_millis};
use crate::domain::{Comment, CommentId, PostId, ReactionKind, UserId};
use crate::store::cursor::split;
use crate::store::sqlite::{SqliteDb, ids_json};
use crate::store::{Page, PageRequest, StoreResult, fetch_limit};

pub struct SqliteEngagementStore {
    db: SqliteDb,
}

impl SqliteEngagementStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

const COMMENT_COLUMNS: &str = "c.id, c.post_id, c.author_id, c.parent_id, c.body, c.replies_count, c.created_at, c.deleted_at";

fn comment_from_row(row: &Row<'_>) -> rusqlite::Result<Comment> {
    Ok(Comment {
        id: CommentId::from_trusted(row.get(0)?),
        post_id: PostId::from_trusted(row.get(1)?),
        author_id: UserId::from_trusted(row.get(2)?),
        parent_id: row
            .get::<_, Option<String>>(3)?
            .map(CommentId::from_trusted),
        body: row.get(4)?,
        replies_count: row.get(5)?,
        created_at: from_millis(row.get(6)?),
        deleted_at: row.get::<_, Option<i64>>(7)?.map(from_millis),
    })
}

/// The post column counting reactions of `kind`.
fn reaction_column(kind: ReactionKind) -> &'static str {
    match kind {
        ReactionKind::Like => "r_like",
        ReactionKind::Love => "r_love",
        ReactionKind::Laugh => "r_laugh",
        ReactionKind::Wow => "r_wow",
        ReactionKind::Sad => "r_sad",
        ReactionKind::Angry => "r_angry",
    }
}

fn bump(tx: &Transaction<'_>, post_id: &str, column: &str, delta: i64) -> StoreResult<()> {
    tx.execute(
        &format!("UPDATE posts SET {column} = {column} + ?2 WHERE id = ?1"),
        params![post_id, delta],
    )?;
    Ok(())
}

/// Moves the post's `column` by `delta` when `changed` rows say a favorite came or went, and
/// says whether one did.
fn counted(
    tx: &Transaction<'_>,
    post_id: &PostId,
    changed: usize,
    delta: i64,
) -> StoreResult<bool> {
    if changed > 0 {
        bump(tx, post_id.as_str(), "favorites_count", delta)?;
    }
    Ok(changed > 0)
}

/// The kind a reaction query (?1 the post, ?2 the user) yields, if any.
fn reaction_kind(
    tx: &Transaction<'_>,
    sql: &str,
    post_id: &PostId,
    user_id: &UserId,
) -> StoreResult<Option<ReactionKind>> {
    let kind = tx
        .query_row(sql, [post_id.as_str(), user_id.as_str()], |row| {
            row.get::<_, String>(0)
        })
        .optional()?;
    Ok(kind.and_then(|k| ReactionKind::from_name(&k)))
}

#[async_trait::async_trait]
impl EngagementStore for SqliteEngagementStore {
    async fn add_comment(&self, comment: &Comment) -> StoreResult<()> {
        let c = comment.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO comments (id, post_id, author_id, parent_id, body, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        c.id.as_str(),
                        c.post_id.as_str(),
                        c.author_id.as_str(),
                        c.parent_id.as_ref().map(CommentId::as_str),
                        c.body,
                        to_millis(c.created_at)
                    ],
                )?;
                bump(tx, c.post_id.as_str(), "comments_count", 1)?;
                if let Some(parent) = &c.parent_id {
                    tx.execute(
                        "UPDATE comments SET replies_count = replies_count + 1 WHERE id = ?1",
                        [parent.as_str()],
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn get_many_comments(&self, ids: &[CommentId]) -> StoreResult<Vec<Comment>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {COMMENT_COLUMNS} FROM comments c WHERE c.id IN (SELECT value FROM json_each(?1))"
        );
        self.db
            .select(&sql, [ids_json(ids)], comment_from_row)
            .await
    }

    async fn delete_comment(
        &self,
        id: &CommentId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Comment>> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                let existing = tx
                    .query_row(
                        &format!("SELECT {COMMENT_COLUMNS} FROM comments c WHERE c.id = ?1 AND c.deleted_at IS NULL"),
                        [id.as_str()],
                        comment_from_row,
                    )
                    .optional()?;
                let Some(comment) = existing else {
                    return Ok(None);
                };
                tx.execute(
                    "UPDATE comments SET body = '', deleted_at = ?2 WHERE id = ?1",
                    params![id.as_str(), to_millis(now)],
                )?;
                bump(tx, comment.post_id.as_str(), "comments_count", -1)?;
                Ok(Some(comment))
            })
            .await
    }

    async fn comments(
        &self,
        post_id: &PostId,
        parent: Option<&CommentId>,
        exclude_authors: &[UserId],
        page: &PageRequest,
    ) -> StoreResult<Page<Comment>> {
        let (after_ms, after_id) = split(page.after.as_deref()).unzip();
        let sql = format!(
            "SELECT {COMMENT_COLUMNS} FROM comments c \
             WHERE c.post_id = ?1 AND c.parent_id IS ?2 \
               AND c.author_id NOT IN (SELECT value FROM json_each(?3)) \
               AND (?4 IS NULL OR (c.created_at, c.id) > (?4, ?5)) \
             ORDER BY c.created_at, c.id LIMIT ?6 + 0"
        );
        let values = (
            post_id.as_str(),
            parent.map(CommentId::as_str),
            ids_json(exclude_authors),
            after_ms,
            after_id,
            fetch_limit(page.limit),
        );
        self.db
            .select_page(&sql, values, page.limit, comment_from_row)
            .await
    }

    async fn first_comments(
        &self,
        post_ids: &[PostId],
        per_post: usize,
        exclude_authors: &[UserId],
    ) -> StoreResult<Vec<(PostId, Page<Comment>)>> {
        if post_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT * FROM (SELECT {COMMENT_COLUMNS}, \
               ROW_NUMBER() OVER (PARTITION BY c.post_id ORDER BY c.created_at, c.id) AS rn \
             FROM comments c \
             WHERE c.post_id IN (SELECT value FROM json_each(?1)) AND c.parent_id IS NULL \
               AND c.author_id NOT IN (SELECT value FROM json_each(?2))) \
             WHERE rn <= ?3 ORDER BY post_id, rn"
        );
        let values = (
            ids_json(post_ids),
            ids_json(exclude_authors),
            fetch_limit(per_post),
        );
        let found = self.db.select(&sql, values, comment_from_row).await?;
        Ok(pages_per_post(post_ids, &found, per_post))
    }

    async fn react(
        &self,
        post_id: &PostId,
        user_id: &UserId,
        kind: ReactionKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ReactionKind>> {
        let (post_id, user_id) = (post_id.clone(), user_id.clone());
        self.db
            .write(move |tx| {
                let previous = reaction_kind(
                    tx,
                    "SELECT kind FROM reactions WHERE post_id = ?1 AND user_id = ?2",
                    &post_id,
                    &user_id,
                )?;
                if previous == Some(kind) {
                    return Ok(previous);
                }
                tx.execute(
                    "INSERT INTO reactions (post_id, user_id, kind, created_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (post_id, user_id) DO UPDATE SET kind = excluded.kind, created_at = excluded.created_at",
                    params![post_id.as_str(), user_id.as_str(), kind.as_str(), to_millis(now)],
                )?;
                if let Some(old) = previous {
                    bump(tx, post_id.as_str(), reaction_column(old), -1)?;
                }
                bump(tx, post_id.as_str(), reaction_column(kind), 1)?;
                Ok(previous)
            })
            .await
    }

    async fn unreact(
        &self,
        post_id: &PostId,
        user_id: &UserId,
    ) -> StoreResult<Option<ReactionKind>> {
        let (post_id, user_id) = (post_id.clone(), user_id.clone());
        self.db
            .write(move |tx| {
                let removed = reaction_kind(
                    tx,
                    "DELETE FROM reactions WHERE post_id = ?1 AND user_id = ?2 RETURNING kind",
                    &post_id,
                    &user_id,
                )?;
                if let Some(kind) = removed {
                    bump(tx, post_id.as_str(), reaction_column(kind), -1)?;
                }
                Ok(removed)
            })
            .await
    }

    async fn reactions_of(
        &self,
        user_id: &UserId,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<(PostId, ReactionKind)>> {
        if post_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .db
            .select(
                "SELECT post_id, kind FROM reactions \
                 WHERE user_id = ?1 AND post_id IN (SELECT value FROM json_each(?2))",
                (user_id.as_str(), ids_json(post_ids)),
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .await?;
        Ok(known_reactions(rows))
    }

    async fn add_favorite(
        &self,
        post_id: &PostId,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (post_id, user_id) = (post_id.clone(), user_id.clone());
        self.db
            .write(move |tx| {
                let added = tx.execute(
                    "INSERT OR IGNORE INTO favorites (user_id, post_id, created_at) VALUES (?1, ?2, ?3)",
                    params![user_id.as_str(), post_id.as_str(), to_millis(now)],
                )?;
                counted(tx, &post_id, added, 1)
            })
            .await
    }

    async fn remove_favorite(&self, post_id: &PostId, user_id: &UserId) -> StoreResult<bool> {
        let (post_id, user_id) = (post_id.clone(), user_id.clone());
        self.db
            .write(move |tx| {
                let removed = tx.execute(
                    "DELETE FROM favorites WHERE user_id = ?1 AND post_id = ?2",
                    [user_id.as_str(), post_id.as_str()],
                )?;
                counted(tx, &post_id, removed, -1)
            })
            .await
    }

    async fn favorited_among(
        &self,
        user_id: &UserId,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<PostId>> {
        if post_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .select(
                "SELECT post_id FROM favorites \
                 WHERE user_id = ?1 AND post_id IN (SELECT value FROM json_each(?2))",
                (user_id.as_str(), ids_json(post_ids)),
                |row| row.get::<_, String>(0).map(PostId::from_trusted),
            )
            .await
    }

    async fn favorites(&self, user_id: &UserId, page: &PageRequest) -> StoreResult<Page<Favorite>> {
        let (after_ms, after_id) = split(page.after.as_deref()).unzip();
        self.db
            .select_page(
                "SELECT f.post_id, f.created_at FROM favorites f JOIN posts p ON p.id = f.post_id \
                 WHERE f.user_id = ?1 AND p.deleted_at IS NULL \
                   AND (?2 IS NULL OR (f.created_at, f.post_id) < (?2, ?3)) \
                 ORDER BY f.created_at DESC, f.post_id DESC LIMIT ?4 + 0",
                (
                    user_id.as_str(),
                    after_ms,
                    after_id,
                    fetch_limit(page.limit),
                ),
                page.limit,
                |row| {
                    Ok(Favorite {
                        post_id: PostId::from_trusted(row.get(0)?),
                        added_at: from_millis(row.get(1)?),
                    })
                },
            )
            .await
    }

    async fn count_favorites(&self, user_id: &UserId) -> StoreResult<u64> {
        let sql = "SELECT COUNT(*) FROM favorites f JOIN posts p ON p.id = f.post_id \
                   WHERE f.user_id = ?1 AND p.deleted_at IS NULL";
        self.db.count(sql, [user_id.to_string()]).await
    }
}
