//! [`PostStore`] on SQLite.
//!
//! Full-text search uses an FTS5 table keyed by the post's rowid (`contentless_delete`, so
//! an edit is a delete plus an insert in the same transaction as the post change).
//!
//! How the feed scales: it is fan-out on read — one query over the followed authors' posts,
//! newest first, served by the `(author_id, created_at, id)` index (or the `created_at`
//! index when the planner finds scanning recent posts cheaper). That stays fast while a
//! viewer follows up to a few thousand authors; past that the `IN` list and the merge of
//! many index ranges dominate, and a fan-out-on-write timeline table becomes the better
//! trade.

use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};

use super::{PostOrder, PostPatch, PostQuery, PostStore, search_words};
use crate::clock::{from_millis, to_millis};
use crate::domain::{
    Amount, Attribute, CategoryId, Currency, Listing, ListingStatus, Money, Post, PostCounts,
    PostId, PostKind, UserId,
};
use crate::store::cursor::split;
use crate::store::sqlite::{SqliteDb, StatementExt, ids_json};
use crate::store::{Page, PageRequest, StoreResult, fetch_limit};

pub struct SqlitePostStore {
    db: SqliteDb,
}

impl SqlitePostStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

pub(crate) const POST_COLUMNS: &str = "p.id, p.author_id, p.kind, p.title, p.body, p.media, p.tags, p.mentions, \
     p.price, p.currency, p.stock, p.status, p.category_id, p.attributes, p.comments_count, \
     p.favorites_count, p.r_like, p.r_love, p.r_laugh, p.r_wow, p.r_sad, p.r_angry, p.created_at, \
     p.edited_at, p.deleted_at, p.rating_count, p.rating_sum, p.rating_verified_count, \
     p.rating_verified_sum";

fn json_list(value: &[String]) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

fn parse_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

pub(crate) fn post_from_row(row: &Row<'_>) -> rusqlite::Result<Post> {
    let kind: String = row.get(2)?;
    let listing = match (
        row.get::<_, Option<i64>>(8)?,
        row.get::<_, Option<String>>(9)?,
    ) {
        (Some(price), Some(currency)) => {
            let currency = Currency::parse("currency", &currency).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    9,
                    rusqlite::types::Type::Text,
                    e.describe().into(),
                )
            })?;
            let attributes: Vec<(String, String)> =
                serde_json::from_str(&row.get::<_, Option<String>>(13)?.unwrap_or_default())
                    .unwrap_or_default();
            Some(Listing {
                price: Money {
                    amount: Amount::from_scaled(price),
                    currency,
                },
                stock: row.get::<_, Option<i64>>(10)?.unwrap_or(0),
                status: row
                    .get::<_, Option<String>>(11)?
                    .as_deref()
                    .and_then(ListingStatus::from_name)
                    .unwrap_or(ListingStatus::Active),
                category_id: row
                    .get::<_, Option<String>>(12)?
                    .map(CategoryId::from_trusted),
                attributes: attributes
                    .into_iter()
                    .map(|(key, value)| Attribute { key, value })
                    .collect(),
            })
        }
        _ => None,
    };
    Ok(Post {
        id: PostId::from_trusted(row.get(0)?),
        author_id: UserId::from_trusted(row.get(1)?),
        kind: PostKind::from_name(&kind).unwrap_or(PostKind::Text),
        title: row.get(3)?,
        body: row.get(4)?,
        media: parse_list(&row.get::<_, String>(5)?),
        tags: parse_list(&row.get::<_, String>(6)?),
        mentions: parse_list(&row.get::<_, String>(7)?)
            .into_iter()
            .map(UserId::from_trusted)
            .collect(),
        listing,
        counts: PostCounts {
            comments: row.get(14)?,
            favorites: row.get(15)?,
            reactions: [
                row.get(16)?,
                row.get(17)?,
                row.get(18)?,
                row.get(19)?,
                row.get(20)?,
                row.get(21)?,
            ],
            rating_count: row.get(25)?,
            rating_sum: row.get(26)?,
            verified_rating_count: row.get(27)?,
            verified_rating_sum: row.get(28)?,
        },
        created_at: from_millis(row.get(22)?),
        edited_at: row.get::<_, Option<i64>>(23)?.map(from_millis),
        deleted_at: row.get::<_, Option<i64>>(24)?.map(from_millis),
    })
}

fn attributes_json(attributes: &[Attribute]) -> String {
    let pairs: Vec<(&str, &str)> = attributes
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

/// Keeps the FTS row of a post in step with it: removes the old entry, adds the current one
/// unless the post is deleted.
fn reindex(tx: &Transaction<'_>, post: &Post) -> StoreResult<()> {
    let rowid: i64 = tx.query_row(
        "SELECT rowid FROM posts WHERE id = ?1",
        [post.id.as_str()],
        |row| row.get(0),
    )?;
    tx.execute("DELETE FROM posts_fts WHERE rowid = ?1", [rowid])?;
    if post.deleted_at.is_none() {
        tx.execute(
            "INSERT INTO posts_fts (rowid, title, body, tags) VALUES (?1, ?2, ?3, ?4)",
            params![
                rowid,
                post.title.as_deref().unwrap_or_default(),
                post.body,
                post.tags.join(" ")
            ],
        )?;
    }
    tx.execute(
        "DELETE FROM post_tags WHERE post_id = ?1",
        [post.id.as_str()],
    )?;
    if post.deleted_at.is_none() {
        for tag in &post.tags {
            tx.execute(
                "INSERT OR IGNORE INTO post_tags (tag, post_id, created_at) VALUES (?1, ?2, ?3)",
                params![tag, post.id.as_str(), to_millis(post.created_at)],
            )?;
        }
    }
    Ok(())
}

fn get_post_sync(conn: &rusqlite::Connection, id: &str) -> StoreResult<Option<Post>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ?1 AND p.deleted_at IS NULL"
        ))
        .and_then(|mut stmt| stmt.query_row([id], post_from_row).optional())?)
}

/// The visible posts among `ids`, in any order, read on `conn` (a transaction's view when
/// called inside one).
pub(crate) fn posts_by_ids(conn: &rusqlite::Connection, ids: &[PostId]) -> StoreResult<Vec<Post>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {POST_COLUMNS} FROM posts p \
             WHERE p.id IN (SELECT value FROM json_each(?1)) AND p.deleted_at IS NULL"
    ))?;
    stmt.query_vec([ids_json(ids)], post_from_row)
}

/// An FTS5 query that needs every word of `text`, each as a quoted term (so user input
/// cannot inject FTS operators).
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = search_words(text)
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// A WHERE clause under construction: its conditions, each with the values of its `?`
/// placeholders, in order (SQLite numbers plain `?` by position).
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<SqlValue>,
}

impl Conditions {
    fn add(&mut self, condition: impl Into<String>, values: impl IntoIterator<Item = SqlValue>) {
        self.sql.push(condition.into());
        self.values.extend(values);
    }

    /// Adds `condition`, whose one `?` takes `value`, when there is a value.
    fn when(&mut self, condition: &str, value: Option<impl Into<SqlValue>>) {
        if let Some(value) = value {
            self.add(condition, [value.into()]);
        }
    }

    /// Adds `condition`, whose one `?` takes `ids` as a JSON array, unless there are none.
    fn when_any(&mut self, condition: &str, ids: &[impl AsRef<str>]) {
        self.when(condition, (!ids.is_empty()).then(|| ids_json(ids)));
    }

    fn joined(&self) -> String {
        self.sql.join(" AND ")
    }
}

/// The conditions of a post query, clause by clause as the MongoDB adapter's `post_filter`.
fn query_sql(query: &PostQuery) -> Conditions {
    let mut c = Conditions::default();
    c.add("p.deleted_at IS NULL", []);
    match &query.drafts_of {
        Some(owner) => c.add(
            "(p.status IS NULL OR p.status <> 'DRAFT' OR p.author_id = ?)",
            [owner.to_string().into()],
        ),
        None => c.add("(p.status IS NULL OR p.status <> 'DRAFT')", []),
    }
    if let Some(text) = query.text.as_deref() {
        match fts_query(text) {
            Some(fts) => c.add(
                "p.rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH ?)",
                [fts.into()],
            ),
            None => c.add("0", []),
        }
    }
    c.when(
        "p.author_id = ?",
        query.author_id.as_ref().map(UserId::to_string),
    );
    c.when_any(
        "p.author_id IN (SELECT value FROM json_each(?))",
        &query.authors,
    );
    c.when("p.kind = ?", query.kind.map(|k| k.as_str().to_owned()));
    c.when(
        "p.id IN (SELECT post_id FROM post_tags WHERE tag = ?)",
        query.tag.as_ref().map(|t| t.to_lowercase()),
    );
    c.when_any(
        "p.category_id IN (SELECT value FROM json_each(?))",
        &query.category_ids,
    );
    c.when("p.price >= ?", query.price_min);
    c.when("p.price <= ?", query.price_max);
    c.when("p.status = ?", query.status.map(|s| s.as_str().to_owned()));
    match query.in_stock {
        Some(true) => c.add("p.stock > 0", []),
        Some(false) => c.add("p.stock = 0", []),
        None => {}
    }
    c.when("p.created_at >= ?", query.created_after.map(to_millis));
    c.when("p.created_at < ?", query.created_before.map(to_millis));
    c.when_any(
        "p.author_id NOT IN (SELECT value FROM json_each(?))",
        &query.exclude_authors,
    );
    c
}

fn write_post(tx: &Transaction<'_>, post: &Post, insert: bool) -> StoreResult<()> {
    let listing = post.listing.as_ref();
    let values = params![
        post.id.as_str(),
        post.author_id.as_str(),
        post.kind.as_str(),
        post.title,
        post.body,
        json_list(&post.media),
        json_list(&post.tags),
        json_list(
            &post
                .mentions
                .iter()
                .map(UserId::to_string)
                .collect::<Vec<_>>()
        ),
        listing.map(|l| l.price.amount.scaled()),
        listing.map(|l| l.price.currency.code()),
        listing.map(|l| l.stock),
        listing.map(|l| l.status.as_str()),
        listing.and_then(|l| l.category_id.as_ref().map(CategoryId::as_str)),
        listing.map(|l| attributes_json(&l.attributes)),
        to_millis(post.created_at),
        post.edited_at.map(to_millis),
    ];
    let sql = if insert {
        "INSERT INTO posts (id, author_id, kind, title, body, media, tags, mentions, price, currency, stock, \
         status, category_id, attributes, created_at, edited_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
    } else {
        "UPDATE posts SET title = ?4, body = ?5, media = ?6, tags = ?7, mentions = ?8, price = ?9, \
         currency = ?10, stock = ?11, status = ?12, category_id = ?13, attributes = ?14, edited_at = ?16 \
         WHERE id = ?1 AND author_id = ?2 AND kind = ?3 AND created_at = ?15"
    };
    tx.execute(sql, values)?;
    reindex(tx, post)
}

#[async_trait::async_trait]
impl PostStore for SqlitePostStore {
    async fn create_post(&self, post: &Post) -> StoreResult<()> {
        let post = post.clone();
        self.db.write(move |tx| write_post(tx, &post, true)).await
    }

    async fn get_post(&self, id: &PostId) -> StoreResult<Option<Post>> {
        let id = id.clone();
        self.db
            .read(move |conn| get_post_sync(conn, id.as_str()))
            .await
    }

    async fn get_many_posts(&self, ids: &[PostId]) -> StoreResult<Vec<Post>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.db.read(move |conn| posts_by_ids(conn, &ids)).await
    }

    async fn update_post(
        &self,
        id: &PostId,
        patch: &PostPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Post>> {
        let (id, patch) = (id.clone(), patch.clone());
        self.db
            .write(move |tx| {
                let Some(mut post) = get_post_sync(tx, id.as_str())? else {
                    return Ok(None);
                };
                patch.apply(&mut post, now);
                write_post(tx, &post, false)?;
                Ok(Some(post))
            })
            .await
    }

    async fn delete_post(&self, id: &PostId, now: DateTime<Utc>) -> StoreResult<bool> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                let Some(mut post) = get_post_sync(tx, id.as_str())? else {
                    return Ok(false);
                };
                tx.execute(
                    "UPDATE posts SET deleted_at = ?2 WHERE id = ?1",
                    params![id.as_str(), to_millis(now)],
                )?;
                post.deleted_at = Some(now);
                reindex(tx, &post)?;
                Ok(true)
            })
            .await
    }

    async fn feed(
        &self,
        authors: &[UserId],
        exclude_authors: &[UserId],
        page: &PageRequest,
    ) -> StoreResult<Page<Post>> {
        let (after_ms, after_id) = split(page.after.as_deref()).unzip();
        // The page is chosen on the covering author index alone (no row is decoded for the
        // posts that do not make the page); only the page's rows are then read in full.
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p WHERE p.rowid IN ( \
               SELECT rowid FROM posts \
               WHERE author_id IN (SELECT value FROM json_each(?1)) \
                 AND deleted_at IS NULL AND (status IS NULL OR status <> 'DRAFT') \
                 AND author_id NOT IN (SELECT value FROM json_each(?2)) \
                 AND (?3 IS NULL OR (created_at, id) < (?3, ?4)) \
               ORDER BY created_at DESC, id DESC LIMIT ?5 + 0) \
             ORDER BY p.created_at DESC, p.id DESC"
        );
        let params = (
            ids_json(authors),
            ids_json(exclude_authors),
            after_ms,
            after_id,
            fetch_limit(page.limit),
        );
        self.db
            .select_page(&sql, params, page.limit, post_from_row)
            .await
    }

    async fn search_posts(
        &self,
        query: &PostQuery,
        order: PostOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Post>> {
        let mut conditions = query_sql(query);
        let (key, direction) = match order {
            PostOrder::Newest => ("p.created_at", "DESC"),
            PostOrder::PriceAsc => ("p.price", "ASC"),
            PostOrder::PriceDesc => ("p.price", "DESC"),
            PostOrder::Rating => ("p.rating_verified_avg", "DESC"),
        };
        if key == "p.price" {
            conditions.add("p.price IS NOT NULL", []);
        }
        if let Some((number, id)) = split(page.after.as_deref()) {
            let past = if direction == "DESC" { "<" } else { ">" };
            conditions.add(
                format!("({key}, p.id) {past} (?, ?)"),
                [number.into(), id.into()],
            );
        }
        let sql = format!(
            "SELECT {POST_COLUMNS} FROM posts p WHERE {} \
             ORDER BY {key} {direction}, p.id {direction} LIMIT ? + 0",
            conditions.joined()
        );
        let mut values = conditions.values;
        let limit = page.limit;
        values.push(SqlValue::Integer(fetch_limit(limit)));
        self.db
            .scan(move |conn| {
                let items = conn
                    .prepare_cached(&sql)?
                    .query_vec(params_from_iter(values), post_from_row)?;
                Ok(Page::from_overfetch(items, limit))
            })
            .await
    }

    async fn count_posts(&self, query: &PostQuery) -> StoreResult<u64> {
        let conditions = query_sql(query);
        let sql = format!("SELECT COUNT(*) FROM posts p WHERE {}", conditions.joined());
        let values = params_from_iter(conditions.values);
        self.db.count(sql, values).await
    }

    async fn trending_tags(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<(String, u64)>> {
        self.db
            .scan(move |conn| {
                conn.prepare_cached(
                    "SELECT t.tag, COUNT(*) AS uses FROM post_tags t JOIN posts p ON p.id = t.post_id \
                     WHERE t.created_at >= ?1 AND (p.status IS NULL OR p.status <> 'DRAFT') \
                     GROUP BY t.tag ORDER BY uses DESC, t.tag ASC LIMIT ?2 + 0",
                )?
                .query_vec((to_millis(since), limit as i64), |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
                })
            })
            .await
    }
}
