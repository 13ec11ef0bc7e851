//! [`PostStore`] on MongoDB: the `posts` collection, its indexes, feed, search and tags.
//!
//! Every list pages by keyset exactly as the SQLite adapter does: a cursor `"{key}:{id}"`
//! becomes "past the key, or at the key and past the id", sorted by the key then `_id`, and one
//! document more than the page is fetched to learn whether another page follows. Each order
//! has an index that serves both its filter and its sort (see [`MongoPostStore::create_indexes`]).
//!
//! The engagement counters live on the post document and are changed only by the engagement
//! store, inside its transactions; this store never writes them, so an edit here cannot undo a
//! concurrent reaction.

mod documents;
mod query;

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::Deserialize;

pub(crate) use self::documents::{COMMENTS_COUNT, FAVORITES_COUNT, reaction_count};
use self::documents::{PostDoc, content_fields, new_post_document};
use self::query::{Filter, OrderKey, TextSearch, post_filter, visible};
use super::{PostOrder, PostPatch, PostQuery, PostStore};
use crate::domain::{Post, PostId, UserId};
use crate::store::cursor::split;
use crate::store::mongo::{
    IndexSet, collect, create_indexes, ensure_exist, fetch_limit, id_in, id_strs, index,
    to_bson_time,
};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

/// The name of the text index over title, body and tags.
const TEXT_INDEX: &str = "posts_text";

/// How many times an edit re-reads and retries when another edit of the same post lands
/// between its read and its write. Each retry means some other edit succeeded, so this only
/// bounds a pathological pile-up; it is never reached in normal use.
const EDIT_ATTEMPTS: usize = 16;

/// The visible posts among `ids`, in any order: for the stores that change a listing's stock
/// and hand the listings back as they are now.
pub(crate) async fn posts_by_ids(db: &Database, ids: &[PostId]) -> StoreResult<Vec<Post>> {
    visible_posts(&db.collection("posts"), ids).await
}

/// The posts of `ids` in `posts` that are not deleted, in any order.
async fn visible_posts(posts: &Collection<PostDoc>, ids: &[PostId]) -> StoreResult<Vec<Post>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut filter = id_in(ids);
    filter.insert("deleted_at", Bson::Null);
    let docs: Vec<PostDoc> = collect(posts.find(filter)).await?;
    docs.into_iter().map(Post::try_from).collect()
}

pub struct MongoPostStore {
    posts: Collection<PostDoc>,
    users: Collection<Document>,
    /// Set once at start-up by [`Self::create_indexes`], before the store is shared.
    text_search: TextSearch,
}

impl MongoPostStore {
    pub fn new(db: &Database) -> Self {
        Self {
            posts: db.collection("posts"),
            users: db.collection("users"),
            text_search: TextSearch::Unavailable,
        }
    }

    /// Creates the indexes lists rely on, then the text index.
    ///
    /// - `(author_id, created_at desc, _id desc)`: an author's posts and the feed's
    ///   per-author ranges, newest first.
    /// - `(created_at desc, _id desc)`: `Newest` over everything, and trending tags' window.
    /// - `(price, _id)`, partial on posts that have a price: both price orders (walked either
    ///   way) and price bounds.
    /// - `(tags, created_at)`, `(category_id, created_at)`: the tag and category filters.
    /// - `(verified_rating_avg desc, _id desc)`: the `Rating` order.
    /// - A text index on title, body and tags for [`PostQuery::text`], with language `none`:
    ///   no stemming and no stop words, so a word matches as a word, as with SQLite's FTS5.
    ///
    /// A server that cannot build text indexes does not stop the store from opening: text
    /// queries then fail with [`StoreError::Backend`] and everything else works.
    pub async fn create_indexes(&mut self, which: IndexSet) -> StoreResult<()> {
        let price_index = IndexModel::builder()
            .keys(doc! { "price": 1, "_id": 1 })
            .options(
                IndexOptions::builder()
                    .name("posts_by_price".to_owned())
                    .partial_filter_expression(doc! { "price": { "$exists": true } })
                    .build(),
            )
            .build();
        let lists = [
            (
                doc! { "author_id": 1, "created_at": -1, "_id": -1 },
                "posts_by_author",
            ),
            (doc! { "created_at": -1, "_id": -1 }, "posts_by_created"),
            (doc! { "tags": 1, "created_at": -1 }, "posts_by_tag"),
            (
                doc! { "category_id": 1, "created_at": -1 },
                "posts_by_category",
            ),
            (
                doc! { "verified_rating_avg": -1, "_id": -1 },
                "posts_by_verified_rating",
            ),
        ]
        .map(|(keys, name)| index(keys, name, false));
        let speed = lists.into_iter().chain([price_index]);
        create_indexes(&self.posts, which.pick([], speed)).await?;
        self.text_search = self.create_text_index().await?;
        Ok(())
    }

    async fn create_text_index(&self) -> StoreResult<TextSearch> {
        let text = IndexModel::builder()
            .keys(doc! { "title": "text", "body": "text", "tags": "text" })
            .options(
                IndexOptions::builder()
                    .name(TEXT_INDEX.to_owned())
                    .default_language("none".to_owned())
                    .build(),
            )
            .build();
        let err = match self.posts.create_index(text).await {
            Ok(_) => return Ok(TextSearch::Available),
            Err(err) => err,
        };
        match err.kind.as_ref() {
            ErrorKind::Command(answer)
                if is_text_unsupported_answer(answer.code, &answer.message) =>
            {
                tracing::warn!(
                    code = answer.code,
                    reason = %answer.message,
                    "this MongoDB server cannot build text indexes: post text search is \
                     unavailable (queries with text fail); everything else works"
                );
                Ok(TextSearch::Unavailable)
            }
            _ => Err(StoreError::Backend(format!(
                "cannot create the text index on posts: {err}"
            ))),
        }
    }

    async fn find_visible_post(&self, id: &PostId) -> StoreResult<Option<PostDoc>> {
        Ok(self
            .posts
            .find_one(doc! { "_id": id.as_str(), "deleted_at": null })
            .await?)
    }

    /// One page of posts matching `filter` in `order`, `filter` already holding the cursor.
    async fn page(
        &self,
        filter: Filter,
        order: PostOrder,
        limit: usize,
    ) -> StoreResult<Page<Post>> {
        let find = self
            .posts
            .find(filter.into_document())
            .sort(OrderKey::of(order).sort())
            .limit(fetch_limit(limit));
        let docs: Vec<PostDoc> = collect(find).await?;
        let items = docs
            .into_iter()
            .map(Post::try_from)
            .collect::<StoreResult<_>>()?;
        Ok(Page::from_overfetch(items, limit))
    }
}

/// Whether the server's answer to creating the text index says it has no text indexes at all
/// — not that this index conflicts with an existing one (a changed definition must fail
/// start-up). SecantusDB answers `CannotCreateIndex` (67), "text indexes are not supported by
/// SecantusDB"; a server without the feature may also say `CommandNotSupported` (115).
fn is_text_unsupported_answer(code: i32, message: &str) -> bool {
    const CANNOT_CREATE_INDEX: i32 = 67;
    const COMMAND_NOT_SUPPORTED: i32 = 115;
    let message = message.to_lowercase();
    matches!(code, CANNOT_CREATE_INDEX | COMMAND_NOT_SUPPORTED)
        && message.contains("text")
        && (message.contains("not supported") || message.contains("unsupported"))
}

#[async_trait::async_trait]
impl PostStore for MongoPostStore {
    async fn create_post(&self, post: &Post) -> StoreResult<()> {
        ensure_exist(&self.users, &[&post.author_id], None).await?;
        Ok(self
            .posts
            .clone_with_type::<Document>()
            .insert_one(new_post_document(post))
            .await
            .map(|_| ())?)
    }

    async fn get_post(&self, id: &PostId) -> StoreResult<Option<Post>> {
        self.find_visible_post(id)
            .await?
            .map(Post::try_from)
            .transpose()
    }

    async fn get_many_posts(&self, ids: &[PostId]) -> StoreResult<Vec<Post>> {
        visible_posts(&self.posts, ids).await
    }

    /// Reads the post, applies the patch in Rust ([`PostPatch::apply`], shared with SQLite)
    /// and writes the content back only if nobody edited the post in between (`revision`
    /// unchanged); otherwise reads again. Only content fields are written, so counters that
    /// changed meanwhile are kept.
    async fn update_post(
        &self,
        id: &PostId,
        patch: &PostPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Post>> {
        for _ in 0..EDIT_ATTEMPTS {
            let Some(current) = self.find_visible_post(id).await? else {
                return Ok(None);
            };
            let revision = current.revision;
            let mut post = Post::try_from(current)?;
            patch.apply(&mut post, now);
            let mut set = content_fields(&post);
            set.insert("edited_at", post.edited_at.map(to_bson_time));
            let written = self
                .posts
                .update_one(
                    doc! { "_id": id.as_str(), "deleted_at": null, "revision": revision },
                    doc! { "$set": set, "$inc": { "revision": 1_i64 } },
                )
                .await?;
            if written.matched_count == 1 {
                return Ok(Some(post));
            }
        }
        Err(StoreError::Backend(format!(
            "post {id} was edited concurrently {EDIT_ATTEMPTS} times in a row; edit not applied"
        )))
    }

    async fn delete_post(&self, id: &PostId, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(self
            .posts
            .update_one(
                doc! { "_id": id.as_str(), "deleted_at": null },
                doc! { "$set": { "deleted_at": to_bson_time(now) } },
            )
            .await
            .map(|result| result.matched_count == 1)?)
    }

    async fn feed(
        &self,
        authors: &[UserId],
        exclude_authors: &[UserId],
        page: &PageRequest,
    ) -> StoreResult<Page<Post>> {
        let mut filter = Filter::default();
        visible(&mut filter, None);
        filter.op("author_id", "$in", id_strs(authors));
        if !exclude_authors.is_empty() {
            filter.op("author_id", "$nin", id_strs(exclude_authors));
        }
        filter.after(PostOrder::Newest, split(page.after.as_deref()));
        self.page(filter, PostOrder::Newest, page.limit).await
    }

    async fn search_posts(
        &self,
        query: &PostQuery,
        order: PostOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Post>> {
        let mut filter = post_filter(query, self.text_search)?;
        if matches!(order, PostOrder::PriceAsc | PostOrder::PriceDesc) {
            // Price orders list only posts with a price; saying so also lets the planner use
            // the partial price index.
            filter.op("price", "$exists", true);
        }
        filter.after(order, split(page.after.as_deref()));
        self.page(filter, order, page.limit).await
    }

    async fn count_posts(&self, query: &PostQuery) -> StoreResult<u64> {
        let filter = post_filter(query, self.text_search)?;
        Ok(self.posts.count_documents(filter.into_document()).await?)
    }

    /// Counts each tag once per post (`$setUnion` drops a tag repeated within one post, as
    /// SQLite's `(tag, post_id)` key does).
    async fn trending_tags(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<(String, u64)>> {
        #[derive(Deserialize)]
        struct TagCount {
            #[serde(rename = "_id")]
            tag: String,
            count: i64,
        }
        // `$limit` must be positive; no tags were asked for.
        let Ok(limit @ 1..) = i64::try_from(limit) else {
            return Ok(Vec::new());
        };
        let mut filter = Filter::default();
        visible(&mut filter, None);
        filter.op("created_at", "$gte", to_bson_time(since));
        let pipeline = vec![
            doc! { "$match": filter.into_document() },
            doc! { "$project": { "_id": 0, "tags": { "$setUnion": ["$tags", []] } } },
            doc! { "$unwind": "$tags" },
            doc! { "$group": { "_id": "$tags", "count": { "$sum": 1 } } },
            doc! { "$sort": { "count": -1, "_id": 1 } },
            doc! { "$limit": limit },
        ];
        let counts: Vec<TagCount> =
            collect(self.posts.aggregate(pipeline).with_type::<TagCount>()).await?;
        Ok(counts
            .into_iter()
            .map(|c| (c.tag, u64::try_from(c.count).unwrap_or(0)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_text_feature_counts_as_text_unsupported() {
        assert!(is_text_unsupported_answer(
            67,
            "text indexes are not supported by SecantusDB"
        ));
        assert!(is_text_unsupported_answer(115, "Text index unsupported"));
        // A conflicting definition is a real error, not a missing feature.
        assert!(!is_text_unsupported_answer(
            85,
            "An equivalent index already exists with a different name and options"
        ));
        assert!(!is_text_unsupported_answer(
            67,
            "only one text index per collection allowed"
        ));
    }
}
