//! [`ReviewStore`] on SQLite: the `reviews` table, and the rating columns of `posts` changed in
//! the same transaction as the review.
//!
//! A new review's `verified` flag is read from `order_items`/`orders` inside its write
//! transaction, and an order turning `DELIVERED` runs [`mark_verified`] inside its own; both
//! are transactions on the single writer, so one sees the other's result whichever runs
//! first.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Params, Row, Transaction, params, params_from_iter};

use super::{RatingDelta, ReviewQuery, ReviewStore};
use crate::clock::{from_millis, to_millis};
use crate::domain::{PostId, Rating, RatingSummary, Review, ReviewId, UserId};
use crate::store::sqlite::{SqliteDb, StatementExt, from_count, ids_json, map_unique};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

/// Rating counters by post or by seller.
type Ratings<K> = Vec<(K, RatingSummary)>;

pub struct SqliteReviewStore {
    db: SqliteDb,
}

impl SqliteReviewStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }

    /// Runs a read of rating sums over `ids` off the runtime; none to read for no ids.
    async fn sums<I, K>(
        &self,
        ids: &[I],
        read: fn(&Connection, &[I]) -> StoreResult<Ratings<K>>,
    ) -> StoreResult<Ratings<K>>
    where
        I: Clone + Send + 'static,
        K: Send + 'static,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.db.scan(move |conn| read(conn, &ids)).await
    }
}

const COLUMNS: &str =
    "id, post_id, author_id, seller_id, rating, body, media, created_at, edited_at, verified";

/// A review read with [`COLUMNS`], and its `verified` flag.
fn review_from_row(row: &Row<'_>) -> rusqlite::Result<(Review, bool)> {
    let review = Review {
        id: ReviewId::from_trusted(row.get(0)?),
        post_id: PostId::from_trusted(row.get(1)?),
        author_id: UserId::from_trusted(row.get(2)?),
        seller_id: UserId::from_trusted(row.get(3)?),
        rating: Rating::from_trusted(row.get(4)?),
        body: row.get(5)?,
        media: serde_json::from_str(&row.get::<_, String>(6)?).unwrap_or_default(),
        created_at: from_millis(row.get(7)?),
        edited_at: row.get::<_, Option<i64>>(8)?.map(from_millis),
    };
    Ok((review, row.get(9)?))
}

/// The reviews matching `filter` (a condition on [`COLUMNS`]), with their `verified` flags.
fn select(
    conn: &Connection,
    filter: &str,
    params: impl Params,
) -> StoreResult<Vec<(Review, bool)>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM reviews WHERE {filter}"))?
        .query_vec(params, review_from_row)
}

fn media_json(media: &[String]) -> String {
    serde_json::to_string(media).unwrap_or_else(|_| "[]".into())
}

/// The rating counters of posts summed per `key`: each post's own (`id`) or a seller's over
/// their listings (`author_id`, with `only` leaving out text posts), for the `ids` asked
/// about that have any post.
fn rating_sums<K>(
    conn: &Connection,
    (key, only): (&str, &str),
    ids: &[impl AsRef<str>],
    make_key: fn(String) -> K,
) -> StoreResult<Ratings<K>> {
    conn.prepare_cached(&format!(
        "SELECT {key}, SUM(rating_count), SUM(rating_sum), SUM(rating_h1), SUM(rating_h2), \
         SUM(rating_h3), SUM(rating_h4), SUM(rating_h5), SUM(rating_verified_count), \
         SUM(rating_verified_sum) FROM posts \
         WHERE {key} IN (SELECT value FROM json_each(?1)) AND {only} GROUP BY {key}"
    ))?
    .query_vec([ids_json(ids)], |row| {
        let mut histogram = [0; 5];
        for (i, slot) in histogram.iter_mut().enumerate() {
            *slot = row.get(3 + i)?;
        }
        let summary = RatingSummary {
            count: row.get(1)?,
            sum: row.get(2)?,
            histogram,
            verified_count: row.get(8)?,
            verified_sum: row.get(9)?,
        };
        Ok((make_key(row.get(0)?), summary))
    })
}

/// Each seller's rating counters summed over their listings (deleted ones included);
/// sellers without listings are left out. Also read by the orders store's seller figures.
pub(crate) fn seller_ratings(
    conn: &Connection,
    sellers: &[UserId],
) -> StoreResult<Vec<(UserId, RatingSummary)>> {
    rating_sums(
        conn,
        ("author_id", "price IS NOT NULL"),
        sellers,
        UserId::from_trusted,
    )
}

/// Applies `delta` to the post's counters and recomputes its verified average (in
/// thousandths, the `Rating` order's key).
fn bump(tx: &Transaction<'_>, post: &PostId, delta: RatingDelta) -> StoreResult<()> {
    let h = delta.histogram;
    let changed = tx
        .prepare_cached(
            "UPDATE posts SET rating_count = rating_count + ?2, rating_sum = rating_sum + ?3, \
             rating_h1 = rating_h1 + ?4, rating_h2 = rating_h2 + ?5, rating_h3 = rating_h3 + ?6, \
             rating_h4 = rating_h4 + ?7, rating_h5 = rating_h5 + ?8, \
             rating_verified_count = rating_verified_count + ?9, \
             rating_verified_sum = rating_verified_sum + ?10, \
             rating_verified_avg = CASE WHEN rating_verified_count + ?9 > 0 \
               THEN (rating_verified_sum + ?10) * 1000 / (rating_verified_count + ?9) ELSE 0 END \
             WHERE id = ?1",
        )?
        .execute(params![
            post.as_str(),
            delta.count,
            delta.sum,
            h[0],
            h[1],
            h[2],
            h[3],
            h[4],
            delta.verified_count,
            delta.verified_sum,
        ])?;
    if changed == 0 {
        return Err(StoreError::Backend(format!("post {post} does not exist")));
    }
    Ok(())
}

/// The review and its `verified` flag.
fn find(conn: &Connection, id: &str) -> StoreResult<Option<(Review, bool)>> {
    Ok(select(conn, "id = ?1", [id])?.pop())
}

/// Rewrites the review `id` as `new` (its rating, body, media and `edited_at`), or deletes
/// it with `None`, moving its listing's counters; the review as it was, if it existed.
fn change(
    tx: &Transaction<'_>,
    id: &ReviewId,
    new: Option<&Review>,
) -> StoreResult<Option<Review>> {
    let Some((old, verified)) = find(tx, id.as_str())? else {
        return Ok(None);
    };
    match new {
        Some(review) => tx.execute(
            "UPDATE reviews SET rating = ?2, body = ?3, media = ?4, edited_at = ?5 WHERE id = ?1",
            params![
                id.as_str(),
                review.rating.value(),
                review.body,
                media_json(&review.media),
                review.edited_at.map(to_millis),
            ],
        )?,
        None => tx.execute("DELETE FROM reviews WHERE id = ?1", [id.as_str()])?,
    };
    if let Some(delta) = RatingDelta::replacing(old.rating, new.map(|r| r.rating), verified) {
        bump(tx, &old.post_id, delta)?;
    }
    Ok(Some(old))
}

/// Whether `buyer` has a `DELIVERED` order containing `post`.
fn delivered_purchase(tx: &Transaction<'_>, buyer: &UserId, post: &PostId) -> StoreResult<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM order_items i \
             JOIN orders o ON o.id = i.order_id AND o.status = 'DELIVERED' \
             WHERE i.buyer_id = ?1 AND i.post_id = ?2)",
        )?
        .query_row([buyer.as_str(), post.as_str()], |row| row.get(0))?)
}

/// Marks `buyer`'s unverified reviews of `posts` verified and moves their listings' verified
/// counters, inside the caller's transaction: what an order turning `DELIVERED` does.
/// Reviews already verified are left alone, so running it twice changes nothing.
pub(crate) fn mark_verified(
    tx: &Transaction<'_>,
    buyer: &UserId,
    posts: &[PostId],
) -> StoreResult<()> {
    let flipped = tx
        .prepare_cached(
            "UPDATE reviews SET verified = 1 WHERE author_id = ?1 AND verified = 0 \
             AND post_id IN (SELECT value FROM json_each(?2)) RETURNING post_id, rating",
        )?
        .query_vec(params![buyer.as_str(), ids_json(posts)], |row| {
            Ok((
                PostId::from_trusted(row.get(0)?),
                Rating::from_trusted(row.get(1)?),
            ))
        })?;
    for (post, rating) in flipped {
        bump(tx, &post, RatingDelta::verify(rating))?;
    }
    Ok(())
}

fn query_sql(query: &ReviewQuery) -> (String, Vec<SqlValue>) {
    let mut clauses = vec!["1".to_owned()];
    let mut values = Vec::new();
    if let Some(rating) = query.rating {
        values.push(SqlValue::Integer(rating.value()));
        clauses.push(format!("rating = ?{}", values.len()));
    }
    if let Some(post) = &query.post_id {
        values.push(SqlValue::Text(post.to_string()));
        clauses.push(format!("post_id = ?{}", values.len()));
    }
    if let Some(author) = &query.author_id {
        values.push(SqlValue::Text(author.to_string()));
        clauses.push(format!("author_id = ?{}", values.len()));
    }
    (clauses.join(" AND "), values)
}

#[async_trait::async_trait]
impl ReviewStore for SqliteReviewStore {
    async fn create_review(&self, review: &Review) -> StoreResult<()> {
        let review = review.clone();
        self.db
            .write(move |tx| {
                let verified = delivered_purchase(tx, &review.author_id, &review.post_id)?;
                tx.prepare_cached(&format!(
                    "INSERT INTO reviews ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))?
                .execute(params![
                    review.id.as_str(),
                    review.post_id.as_str(),
                    review.author_id.as_str(),
                    review.seller_id.as_str(),
                    review.rating.value(),
                    review.body,
                    media_json(&review.media),
                    to_millis(review.created_at),
                    review.edited_at.map(to_millis),
                    verified,
                ])
                .map_err(|e| map_unique(e, &[("reviews.author_id", "postId")]))?;
                bump(
                    tx,
                    &review.post_id,
                    RatingDelta::add(review.rating, verified),
                )
            })
            .await
    }

    async fn update_review(&self, review: &Review) -> StoreResult<bool> {
        let review = review.clone();
        self.db
            .write(move |tx| Ok(change(tx, &review.id, Some(&review))?.is_some()))
            .await
    }

    async fn delete_review(&self, id: &ReviewId) -> StoreResult<Option<Review>> {
        let id = id.clone();
        self.db.write(move |tx| change(tx, &id, None)).await
    }

    async fn get_review(&self, post: &PostId, author: &UserId) -> StoreResult<Option<Review>> {
        let (post, author) = (post.clone(), author.clone());
        self.db
            .read(move |conn| {
                let found = select(
                    conn,
                    "author_id = ?1 AND post_id = ?2",
                    [author.as_str(), post.as_str()],
                )?;
                Ok(found.into_iter().next().map(|(review, _)| review))
            })
            .await
    }

    async fn get_many_reviews(&self, ids: &[ReviewId]) -> StoreResult<Vec<Review>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let json = ids_json(ids);
        self.db
            .read(move |conn| {
                let found = select(conn, "id IN (SELECT value FROM json_each(?1))", [json])?;
                Ok(found.into_iter().map(|(review, _)| review).collect())
            })
            .await
    }

    async fn reviews(&self, query: &ReviewQuery, page: &PageRequest) -> StoreResult<Page<Review>> {
        let (mut filter, mut values) = query_sql(query);
        if let Some((ms, id)) = crate::store::cursor::split(page.after.as_deref()) {
            values.push(SqlValue::Integer(ms));
            values.push(SqlValue::Text(id));
            filter.push_str(&format!(
                " AND (created_at, id) < (?{}, ?{})",
                values.len() - 1,
                values.len()
            ));
        }
        let limit = page.limit;
        values.push(SqlValue::Integer(limit as i64 + 1));
        filter.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ?{} + 0",
            values.len()
        ));
        self.db
            .scan(move |conn| {
                let found = select(conn, &filter, params_from_iter(values))?;
                let items = found.into_iter().map(|(review, _)| review).collect();
                Ok(Page::from_overfetch(items, limit))
            })
            .await
    }

    async fn count_reviews(&self, query: &ReviewQuery) -> StoreResult<u64> {
        let (filter, values) = query_sql(query);
        self.db
            .scan(move |conn| {
                let n = conn
                    .prepare_cached(&format!("SELECT COUNT(*) FROM reviews WHERE {filter}"))?
                    .query_row(params_from_iter(values), |row| row.get(0))?;
                Ok(from_count(n))
            })
            .await
    }

    async fn rating_summaries(
        &self,
        posts: &[PostId],
    ) -> StoreResult<Vec<(PostId, RatingSummary)>> {
        self.sums(posts, |conn, posts| {
            rating_sums(conn, ("id", "1"), posts, PostId::from_trusted)
        })
        .await
    }

    async fn seller_ratings(
        &self,
        sellers: &[UserId],
    ) -> StoreResult<Vec<(UserId, RatingSummary)>> {
        self.sums(sellers, seller_ratings).await
    }
}
