//! [`ReviewStore`] on MongoDB: the `reviews` collection, and the rating counters of the post
//! document.
//!
//! Each write runs in a multi-document transaction: the review write and the post's counter
//! `$inc` commit together, and the verified average the `Rating` order sorts by
//! (`verified_rating_avg`) is recomputed from the incremented counters inside the same
//! transaction. Concurrent reviews of one listing write the same post document, so MongoDB
//! lets one commit at a time and the driver reruns the others on a fresh snapshot: the
//! counters stay exact.
//! The histogram lives at `counts.rating_hist.<1..5>` (absent reads as 0).
//!
//! Verified purchases: a new review reads, in its transaction, whether its author has a
//! `DELIVERED` order of the listing, and stores the answer as `verified`; an order turning
//! `DELIVERED` flips the buyer's existing reviews in the order's transaction
//! ([`mark_verified`]). Under snapshot isolation those two could miss each other (the review
//! sees no delivered order, the delivery sees no review, they write different documents, both
//! commit). So both also write the buyer's document in `order_buyers` (the one checkout
//! writes, see `store::orders::mongo`): of two such transactions one commits and the other is
//! rerun on a snapshot that shows the first.
//!
//! Data from before verified ratings: reviews without `verified` and posts without the
//! verified counters read as unverified and 0. [`MongoReviewStore::backfill_verified`], run
//! at start-up, computes them: per listing, in one transaction that rewrites the flags of its
//! reviews and its counters from the orders (a concurrent review write on that listing
//! conflicts on the post document and is rerun).

use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Client, ClientSession, Collection, Database};
use serde::{Deserialize, Serialize};

use super::{RatingDelta, ReviewQuery, ReviewStore};
use crate::clock::{from_millis, to_millis};
use crate::domain::{OrderStatus, PostId, Rating, RatingSummary, Review, ReviewId, UserId};
use crate::store::mongo::{
    IndexSet, abort, after_cursor, collect, collect_page, create_indexes, fetch_limit, id_in,
    index, is_duplicate_key_on, transaction,
};
use crate::store::orders::{MONGO_BUYERS as BUYERS, ensure_buyer_document, touch_buyer};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const AUTHOR_POST_UNIQUE: &str = "reviews_author_post_unique";

#[derive(Serialize, Deserialize)]
struct ReviewDoc {
    #[serde(rename = "_id")]
    id: String,
    post_id: String,
    author_id: String,
    seller_id: String,
    rating: i64,
    body: Option<String>,
    media: Vec<String>,
    created_at: i64,
    edited_at: Option<i64>,
    /// Absent on reviews stored before verified ratings: false until the backfill.
    #[serde(default)]
    verified: bool,
}

impl ReviewDoc {
    fn new(r: &Review, verified: bool) -> Self {
        ReviewDoc {
            id: r.id.to_string(),
            post_id: r.post_id.to_string(),
            author_id: r.author_id.to_string(),
            seller_id: r.seller_id.to_string(),
            rating: r.rating.value(),
            body: r.body.clone(),
            media: r.media.clone(),
            created_at: to_millis(r.created_at),
            edited_at: r.edited_at.map(to_millis),
            verified,
        }
    }
}

impl From<ReviewDoc> for Review {
    fn from(d: ReviewDoc) -> Self {
        Review {
            id: ReviewId::from_trusted(d.id),
            post_id: PostId::from_trusted(d.post_id),
            author_id: UserId::from_trusted(d.author_id),
            seller_id: UserId::from_trusted(d.seller_id),
            rating: Rating::from_trusted(d.rating),
            body: d.body,
            media: d.media,
            created_at: from_millis(d.created_at),
            edited_at: d.edited_at.map(from_millis),
        }
    }
}

pub struct MongoReviewStore {
    client: Client,
    reviews: Collection<ReviewDoc>,
    posts: Collection<Document>,
    orders: Collection<Document>,
    buyers: Collection<Document>,
}

fn number(document: &Document, key: &str) -> i64 {
    match document.get(key) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

/// One row of [`MongoReviewStore::rating_sums`]: the counters under the names its `$group`
/// gives them.
#[derive(Deserialize)]
struct RatingSums {
    #[serde(rename = "_id")]
    key: String,
    count: i64,
    sum: i64,
    h1: i64,
    h2: i64,
    h3: i64,
    h4: i64,
    h5: i64,
    verified_count: i64,
    verified_sum: i64,
}

impl From<RatingSums> for RatingSummary {
    fn from(r: RatingSums) -> Self {
        RatingSummary {
            count: r.count,
            sum: r.sum,
            histogram: [r.h1, r.h2, r.h3, r.h4, r.h5],
            verified_count: r.verified_count,
            verified_sum: r.verified_sum,
        }
    }
}

/// The verified average in thousandths, as the `Rating` order sorts by it.
fn verified_average_milli(summary: &RatingSummary) -> i64 {
    if summary.verified_count > 0 {
        summary.verified_sum * 1000 / summary.verified_count
    } else {
        0
    }
}

/// Applies `delta` to the post's counters and recomputes `verified_rating_avg`, inside
/// `session`.
async fn bump(
    posts: &Collection<Document>,
    session: &mut ClientSession,
    post: &str,
    delta: RatingDelta,
) -> mongodb::error::Result<()> {
    let mut inc = doc! {
        "counts.rating_count": delta.count,
        "counts.rating_sum": delta.sum,
        "counts.verified_rating_count": delta.verified_count,
        "counts.verified_rating_sum": delta.verified_sum,
    };
    for (i, n) in delta.histogram.iter().enumerate() {
        if *n != 0 {
            inc.insert(format!("counts.rating_hist.{}", i + 1), *n);
        }
    }
    let updated = posts
        .find_one_and_update(doc! { "_id": post }, doc! { "$inc": inc })
        .projection(doc! { "counts": 1 })
        .return_document(ReturnDocument::After)
        .session(&mut *session)
        .await?;
    let Some(updated) = updated else {
        return Err(abort(format!("post {post} does not exist")));
    };
    let counts = updated.get_document("counts").cloned().unwrap_or_default();
    let verified = RatingSummary {
        verified_count: number(&counts, "verified_rating_count"),
        verified_sum: number(&counts, "verified_rating_sum"),
        ..RatingSummary::default()
    };
    posts
        .update_one(
            doc! { "_id": post },
            doc! { "$set": { "verified_rating_avg": verified_average_milli(&verified) } },
        )
        .session(&mut *session)
        .await?;
    Ok(())
}

/// Whether `buyer` has a `DELIVERED` order containing `post`, read inside `session`.
async fn delivered_purchase(
    orders: &Collection<Document>,
    session: &mut ClientSession,
    buyer: &str,
    post: &str,
) -> mongodb::error::Result<bool> {
    Ok(orders
        .find_one(doc! {
            "buyer_id": buyer,
            "items.post_id": post,
            "status": OrderStatus::Delivered.as_str(),
        })
        .projection(doc! { "_id": 1 })
        .session(&mut *session)
        .await?
        .is_some())
}

/// Marks `buyer`'s unverified reviews of `posts` verified and moves their listings' verified
/// counters, inside the caller's transaction (an order turning `DELIVERED`), after writing
/// the buyer's `order_buyers` document (see the module docs). Reviews already verified are
/// left alone, so running it twice changes nothing.
pub(crate) async fn mark_verified(
    db: &Database,
    session: &mut ClientSession,
    buyer: &UserId,
    posts: &[PostId],
) -> mongodb::error::Result<()> {
    let reviews: Collection<ReviewDoc> = db.collection("reviews");
    touch_buyer(&db.collection(BUYERS), session, buyer.as_str()).await?;
    let ids: Vec<&str> = posts.iter().map(PostId::as_str).collect();
    let pending: Vec<ReviewDoc> = reviews
        .find(doc! {
            "author_id": buyer.as_str(),
            "post_id": { "$in": ids },
            "verified": { "$ne": true },
        })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    let posts_collection: Collection<Document> = db.collection("posts");
    for review in pending {
        let flipped = reviews
            .update_one(
                doc! { "_id": &review.id, "verified": { "$ne": true } },
                doc! { "$set": { "verified": true } },
            )
            .session(&mut *session)
            .await?;
        if flipped.modified_count == 1 {
            let rating = Rating::from_trusted(review.rating);
            bump(
                &posts_collection,
                session,
                &review.post_id,
                RatingDelta::verify(rating),
            )
            .await?;
        }
    }
    Ok(())
}

fn query_filter(query: &ReviewQuery) -> Document {
    let mut filter = doc! {};
    if let Some(rating) = query.rating {
        filter.insert("rating", rating.value());
    }
    if let Some(post) = &query.post_id {
        filter.insert("post_id", post.as_str());
    }
    if let Some(author) = &query.author_id {
        filter.insert("author_id", author.as_str());
    }
    filter
}

impl MongoReviewStore {
    pub fn new(client: Client, db: &Database) -> Self {
        Self {
            client,
            reviews: db.collection("reviews"),
            posts: db.collection("posts"),
            orders: db.collection("orders"),
            buyers: db.collection(BUYERS),
        }
    }

    /// The unique `(author_id, post_id)` carries "one review per listing"; the others serve
    /// a listing's reviews and the global list newest first.
    pub async fn create_indexes(&self, which: IndexSet) -> StoreResult<()> {
        let mut models = vec![index(
            doc! { "author_id": 1, "post_id": 1 },
            AUTHOR_POST_UNIQUE,
            true,
        )];
        if which == IndexSet::All {
            models.push(index(
                doc! { "post_id": 1, "created_at": -1, "_id": -1 },
                "reviews_by_post",
                false,
            ));
            models.push(index(
                doc! { "created_at": -1, "_id": -1 },
                "reviews_by_created",
                false,
            ));
        }
        create_indexes(&self.reviews, models).await
    }

    /// Computes what data stored before verified ratings lacks (see the module docs): the
    /// flags of reviews without one and their listings' verified counters, then the sort key
    /// of listings without reviews. Idempotent, and safe on several instances at once.
    pub async fn backfill_verified(&self) -> StoreResult<()> {
        let posts = self
            .reviews
            .distinct("post_id", doc! { "verified": { "$exists": false } })
            .await?;
        for post in posts.iter().filter_map(Bson::as_str) {
            transaction(&self.client, (self, post), |session, context| {
                let (store, post) = *context;
                async move { store.backfill_post(session, post).await }.boxed()
            })
            .await?;
        }
        self.posts
            .update_many(
                doc! { "verified_rating_avg": { "$exists": false } },
                doc! { "$set": { "verified_rating_avg": 0_i64 }, "$unset": { "rating_avg": "" } },
            )
            .await?;
        // The index of the overall average, which nothing sorts by any more.
        if let Err(err) = self.posts.drop_index("posts_by_rating").await {
            tracing::debug!(%err, "no old rating index to drop");
        }
        Ok(())
    }

    /// The body of the transaction that recomputes the verified flags of `post`'s reviews and
    /// its verified counters from the orders.
    async fn backfill_post(
        &self,
        session: &mut ClientSession,
        post: &str,
    ) -> mongodb::error::Result<()> {
        let reviews: Vec<ReviewDoc> = self
            .reviews
            .find(doc! { "post_id": post })
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        let (mut count, mut sum) = (0_i64, 0_i64);
        for review in &reviews {
            let verified =
                delivered_purchase(&self.orders, session, &review.author_id, post).await?;
            self.reviews
                .update_one(
                    doc! { "_id": &review.id },
                    doc! { "$set": { "verified": verified } },
                )
                .session(&mut *session)
                .await?;
            if verified {
                count += 1;
                sum += review.rating;
            }
        }
        let summary = RatingSummary {
            verified_count: count,
            verified_sum: sum,
            ..RatingSummary::default()
        };
        self.posts
            .update_one(
                doc! { "_id": post },
                doc! {
                    "$set": {
                        "counts.verified_rating_count": count,
                        "counts.verified_rating_sum": sum,
                        "verified_rating_avg": verified_average_milli(&summary),
                    },
                    "$unset": { "rating_avg": "" },
                },
            )
            .session(&mut *session)
            .await?;
        Ok(())
    }

    /// The body of a new review's transaction (see the module docs).
    async fn insert(
        &self,
        session: &mut ClientSession,
        review: &Review,
    ) -> mongodb::error::Result<()> {
        let author = review.author_id.as_str();
        touch_buyer(&self.buyers, session, author).await?;
        let verified =
            delivered_purchase(&self.orders, session, author, review.post_id.as_str()).await?;
        self.reviews
            .insert_one(ReviewDoc::new(review, verified))
            .session(&mut *session)
            .await?;
        bump(
            &self.posts,
            session,
            review.post_id.as_str(),
            RatingDelta::add(review.rating, verified),
        )
        .await
    }

    /// The body of the transaction that rewrites the review `id` as `new` (its rating, body,
    /// media and `edited_at`), or deletes it with `None`, moving its listing's counters; the
    /// review as it was, if it existed.
    async fn change(
        &self,
        session: &mut ClientSession,
        id: &ReviewId,
        new: Option<&Review>,
    ) -> mongodb::error::Result<Option<Review>> {
        let filter = doc! { "_id": id.as_str() };
        let old = match new {
            Some(review) => {
                self.reviews
                    .find_one_and_update(
                        filter,
                        doc! { "$set": {
                            "rating": review.rating.value(),
                            "body": review.body.as_deref(),
                            "media": &review.media,
                            "edited_at": review.edited_at.map(to_millis),
                        } },
                    )
                    .return_document(ReturnDocument::Before)
                    .session(&mut *session)
                    .await?
            }
            None => {
                self.reviews
                    .find_one_and_delete(filter)
                    .session(&mut *session)
                    .await?
            }
        };
        let Some(old) = old else {
            return Ok(None);
        };
        let verified = old.verified;
        let old = Review::from(old);
        if let Some(delta) = RatingDelta::replacing(old.rating, new.map(|r| r.rating), verified) {
            bump(&self.posts, session, old.post_id.as_str(), delta).await?;
        }
        Ok(Some(old))
    }

    /// The rating counters of posts summed per `key` for the `ids` asked about that have
    /// any post: each post's own (`_id`) or a seller's over their listings (`author_id`,
    /// with `listings_only`).
    async fn rating_sums<K>(
        &self,
        (key, listings_only): (&str, bool),
        ids: &[impl AsRef<str>],
        make_key: fn(String) -> K,
    ) -> StoreResult<Vec<(K, RatingSummary)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
        let mut matching = doc! { key: { "$in": ids } };
        if listings_only {
            matching.insert("price", doc! { "$exists": true });
        }
        let mut group = doc! { "_id": format!("${key}") };
        for (name, field) in [
            ("count", "rating_count"),
            ("sum", "rating_sum"),
            ("verified_count", "verified_rating_count"),
            ("verified_sum", "verified_rating_sum"),
        ] {
            group.insert(name, doc! { "$sum": format!("$counts.{field}") });
        }
        for star in 1..=5 {
            group.insert(
                format!("h{star}"),
                doc! { "$sum": { "$ifNull": [format!("$counts.rating_hist.{star}"), 0_i64] } },
            );
        }
        let rows: Vec<RatingSums> = self
            .posts
            .aggregate(vec![doc! { "$match": matching }, doc! { "$group": group }])
            .with_type::<RatingSums>()
            .await?
            .try_collect()
            .await?;
        Ok(rows
            .into_iter()
            .map(|mut r| (make_key(std::mem::take(&mut r.key)), r.into()))
            .collect())
    }
}

#[async_trait::async_trait]
impl ReviewStore for MongoReviewStore {
    async fn create_review(&self, review: &Review) -> StoreResult<()> {
        ensure_buyer_document(&self.buyers, review.author_id.as_str()).await?;
        let created = transaction(&self.client, (self, review), |session, context| {
            let (store, review) = *context;
            async move { store.insert(session, review).await }.boxed()
        })
        .await;
        match created {
            Err(err) if is_duplicate_key_on(&err, AUTHOR_POST_UNIQUE) => {
                Err(StoreError::Conflict { field: "postId" })
            }
            created => Ok(created?),
        }
    }

    async fn update_review(&self, review: &Review) -> StoreResult<bool> {
        let old = transaction(&self.client, (self, review), |session, context| {
            let (store, review) = *context;
            async move { store.change(session, &review.id, Some(review)).await }.boxed()
        })
        .await?;
        Ok(old.is_some())
    }

    async fn delete_review(&self, id: &ReviewId) -> StoreResult<Option<Review>> {
        Ok(transaction(&self.client, (self, id), |session, context| {
            let (store, id) = *context;
            async move { store.change(session, id, None).await }.boxed()
        })
        .await?)
    }

    async fn get_review(&self, post: &PostId, author: &UserId) -> StoreResult<Option<Review>> {
        let found = self
            .reviews
            .find_one(doc! { "author_id": author.as_str(), "post_id": post.as_str() })
            .await?;
        Ok(found.map(Review::from))
    }

    async fn get_many_reviews(&self, ids: &[ReviewId]) -> StoreResult<Vec<Review>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        collect(self.reviews.find(id_in(ids))).await
    }

    async fn reviews(&self, query: &ReviewQuery, page: &PageRequest) -> StoreResult<Page<Review>> {
        let mut filter = query_filter(query);
        if let Some((ms, id)) = crate::store::cursor::split(page.after.as_deref()) {
            after_cursor(&mut filter, ("created_at", ms.into()), ("_id", &id), true);
        }
        let found = self
            .reviews
            .find(filter)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .limit(fetch_limit(page.limit));
        collect_page(found, page.limit).await
    }

    async fn count_reviews(&self, query: &ReviewQuery) -> StoreResult<u64> {
        Ok(self.reviews.count_documents(query_filter(query)).await?)
    }

    async fn rating_summaries(
        &self,
        posts: &[PostId],
    ) -> StoreResult<Vec<(PostId, RatingSummary)>> {
        self.rating_sums(("_id", false), posts, PostId::from_trusted)
            .await
    }

    async fn seller_ratings(
        &self,
        sellers: &[UserId],
    ) -> StoreResult<Vec<(UserId, RatingSummary)>> {
        self.rating_sums(("author_id", true), sellers, UserId::from_trusted)
            .await
    }
}
