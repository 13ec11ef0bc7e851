//! Posts: text posts and listings, their feed, search, filters and trending tags.
//!
//! Engagement counters (comments, reactions, favorites) live on the post and are written by
//! [`crate::store::EngagementStore`] in the same atomic unit as the engagement itself, so a
//! post read here always carries exact counts.

mod mongo;
mod sqlite;

pub use mongo::MongoPostStore;
pub(crate) use mongo::posts_by_ids as mongo_posts_by_ids;
pub(crate) use mongo::{COMMENTS_COUNT, FAVORITES_COUNT, reaction_count};
pub use sqlite::SqlitePostStore;
pub(crate) use sqlite::posts_by_ids as sqlite_posts_by_ids;

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreResult};
use crate::domain::{
    Attribute, CategoryId, Listing, ListingStatus, Money, Post, PostId, PostKind, UserId,
};

/// A partial edit of a post. `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostPatch {
    pub title: Option<Option<String>>,
    /// A new body, with the tags and mentions parsed from it.
    pub body: Option<(String, Vec<String>, Vec<UserId>)>,
    pub media: Option<Vec<String>>,
    pub listing: Option<ListingPatch>,
}

impl PostPatch {
    /// Applies the patch to `post` as [`PostStore::update_post`] documents it: set fields
    /// replace, `edited_at` becomes `now`, and a listing's status settles with its stock. A
    /// listing patch on a post without a listing is ignored. Both adapters edit through this
    /// one function so an edit means the same on either.
    pub(crate) fn apply(&self, post: &mut Post, now: DateTime<Utc>) {
        if let Some(title) = &self.title {
            post.title = title.clone();
        }
        if let Some((body, tags, mentions)) = &self.body {
            post.body = body.clone();
            post.tags = tags.clone();
            post.mentions = mentions.clone();
        }
        if let Some(media) = &self.media {
            post.media = media.clone();
        }
        if let (Some(listing), Some(patch)) = (post.listing.as_mut(), &self.listing) {
            patch.apply(listing);
        }
        post.edited_at = Some(now);
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListingPatch {
    pub price: Option<Money>,
    pub stock: Option<i64>,
    pub status: Option<ListingStatus>,
    pub category_id: Option<Option<CategoryId>>,
    pub attributes: Option<Vec<Attribute>>,
}

impl ListingPatch {
    fn apply(&self, listing: &mut Listing) {
        if let Some(price) = self.price {
            listing.price = price;
        }
        if let Some(stock) = self.stock {
            listing.stock = stock;
        }
        if let Some(status) = self.status {
            listing.status = status;
        }
        if let Some(category) = &self.category_id {
            listing.category_id = category.clone();
        }
        if let Some(attributes) = &self.attributes {
            listing.attributes = attributes.clone();
        }
        listing.status = listing.status.settle(listing.stock);
    }
}

/// How a post list is ordered. Each order has its own keyset cursor (see
/// [`PostStore::search_posts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOrder {
    Newest,
    PriceAsc,
    PriceDesc,
    Rating,
}

/// Filters for [`PostStore::search_posts`]. Every set field narrows the result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostQuery {
    /// Full-text match on title, body and tags (every word must match).
    pub text: Option<String>,
    pub author_id: Option<UserId>,
    /// Any of these authors (the feed's followed users); empty means no restriction.
    pub authors: Vec<UserId>,
    pub kind: Option<PostKind>,
    pub tag: Option<String>,
    /// Any of these categories (the service expands a category to its subtree).
    pub category_ids: Vec<CategoryId>,
    /// Bounds on the listing price, in [`crate::domain::Amount`] scaled units, inclusive.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub status: Option<ListingStatus>,
    /// `Some(true)`: listings with stock; `Some(false)`: listings without.
    pub in_stock: Option<bool>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Authors whose posts are left out (blocked either way).
    pub exclude_authors: Vec<UserId>,
    /// Drafts are never listed, except this user's own.
    pub drafts_of: Option<UserId>,
}

/// The keyset cursor of `post` in a list ordered by `order`: `"{key}:{id}"`, where the key
/// is the creation time in milliseconds, the price in scaled units, or the verified-purchase
/// average rating in thousandths. Both adapters page by exactly these keys.
pub fn cursor_of(post: &Post, order: PostOrder) -> String {
    let key = match order {
        PostOrder::Newest => post.created_at.timestamp_millis(),
        PostOrder::PriceAsc | PostOrder::PriceDesc => {
            post.listing.as_ref().map_or(0, |l| l.price.amount.scaled())
        }
        PostOrder::Rating => post.counts.verified_rating_average_milli(),
    };
    super::cursor::keyset(key, &post.id)
}

/// The words a [`PostQuery::text`] search needs, every one of them: the runs of alphanumeric
/// characters, lower-cased, at most 16. Everything else (quotes, operators, punctuation)
/// separates words, so no input can reach a search engine's query syntax. Both adapters
/// search by exactly these words.
pub(crate) fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(str::to_lowercase)
        .collect()
}

/// Storage of posts.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - Deleted posts (soft-deleted, `deleted_at` set) are never returned by any method.
/// - Listing drafts are never returned by lists (`feed`, `search_posts`, `count_posts`,
///   `trending_tags`) except to their author through `PostQuery::drafts_of`; getters by id
///   return them (the service decides who may see one).
/// - Cursors are store keys (strings) that stay valid while posts are inserted or deleted:
///   `Newest` pages by `(created_at, id)` descending, `PriceAsc`/`PriceDesc` by
///   `(price, id)` and only list posts with a price, `Rating` by `(average rating, id)`
///   descending. A cursor of the wrong shape is treated as "from the start".
/// - `get_many_posts` returns the posts found, in any order.
#[async_trait::async_trait]
pub trait PostStore: Send + Sync {
    async fn create_post(&self, post: &Post) -> StoreResult<()>;
    async fn get_post(&self, id: &PostId) -> StoreResult<Option<Post>>;
    async fn get_many_posts(&self, ids: &[PostId]) -> StoreResult<Vec<Post>>;
    /// Applies the patch, sets `edited_at`, and returns the post; `None` when it does not
    /// exist or is deleted. A listing's status settles with its stock
    /// ([`ListingStatus::settle`]).
    async fn update_post(
        &self,
        id: &PostId,
        patch: &PostPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Post>>;
    /// Soft-deletes; returns whether a visible post was deleted.
    async fn delete_post(&self, id: &PostId, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Posts by any of `authors`, newest first (fan-out on read).
    async fn feed(
        &self,
        authors: &[UserId],
        exclude_authors: &[UserId],
        page: &PageRequest,
    ) -> StoreResult<Page<Post>>;
    async fn search_posts(
        &self,
        query: &PostQuery,
        order: PostOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Post>>;
    async fn count_posts(&self, query: &PostQuery) -> StoreResult<u64>;
    /// The most used tags on posts created at or after `since`, most used first, ties by
    /// tag name.
    async fn trending_tags(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<(String, u64)>>;
}
