//! Engagement with posts: comments, reactions and favorites.
//!
//! Each write changes the engagement record and the post's counters together (one SQLite
//! transaction; one MongoDB multi-document transaction), so counts are exact under any
//! concurrency.

mod mongo;
mod sqlite;

pub use mongo::MongoEngagementStore;
pub use sqlite::SqliteEngagementStore;

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreResult};
use crate::domain::{Comment, CommentId, PostId, ReactionKind, UserId};

impl super::Keyed for Comment {
    /// Comments list by creation time.
    fn cursor(&self) -> String {
        super::cursor::keyset(self.created_at.timestamp_millis(), &self.id)
    }
}

/// A post in a user's favorites, and when it was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Favorite {
    pub post_id: PostId,
    pub added_at: DateTime<Utc>,
}

impl super::Keyed for Favorite {
    /// Favorites list by when they were added, newest first.
    fn cursor(&self) -> String {
        super::cursor::keyset(self.added_at.timestamp_millis(), &self.post_id)
    }
}

/// The answer of [`EngagementStore::reactions_of`] from stored `(post id, kind name)` pairs:
/// a kind this build does not know counts nowhere.
fn known_reactions(
    rows: impl IntoIterator<Item = (String, String)>,
) -> Vec<(PostId, ReactionKind)> {
    rows.into_iter()
        .filter_map(|(post, kind)| {
            Some((PostId::from_trusted(post), ReactionKind::from_name(&kind)?))
        })
        .collect()
}

/// The answer of [`EngagementStore::first_comments`] from the comments an adapter found: for
/// each of `post_ids`, its comments (oldest first, at most `per_post + 1` of them) as one
/// page of `per_post`.
fn pages_per_post(
    post_ids: &[PostId],
    found: &[Comment],
    per_post: usize,
) -> Vec<(PostId, Page<Comment>)> {
    post_ids
        .iter()
        .map(|id| {
            let comments = found.iter().filter(|c| c.post_id == *id).cloned().collect();
            (id.clone(), Page::from_overfetch(comments, per_post))
        })
        .collect()
}

/// Storage of engagement.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - A user has at most one reaction per post; reacting again replaces the kind.
/// - A user favorites a post at most once; adding twice is a no-op.
/// - The post's `comments` count is the number of its comments that are not deleted;
///   `favorites` and each reaction count are exact.
/// - Comment lists are oldest first, paged by `(created_at, id)`; deleted comments stay in
///   lists (with an empty body) so replies keep their thread.
#[async_trait::async_trait]
pub trait EngagementStore: Send + Sync {
    /// Stores a comment and counts it on its post (and on its parent's replies).
    async fn add_comment(&self, comment: &Comment) -> StoreResult<()>;
    async fn get_many_comments(&self, ids: &[CommentId]) -> StoreResult<Vec<Comment>>;
    /// Soft-deletes: clears the body, sets `deleted_at`, uncounts it. Returns the comment as
    /// it was, or `None` when it did not exist or was already deleted.
    async fn delete_comment(
        &self,
        id: &CommentId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Comment>>;
    /// Comments of a post under `parent` (`None`: top-level), oldest first, leaving out
    /// authors in `exclude_authors`.
    async fn comments(
        &self,
        post_id: &PostId,
        parent: Option<&CommentId>,
        exclude_authors: &[UserId],
        page: &PageRequest,
    ) -> StoreResult<Page<Comment>>;
    /// For each post, its first `per_post` top-level comments (oldest first) and whether more
    /// follow: the batch behind `comments(first: n)` on a list of posts.
    async fn first_comments(
        &self,
        post_ids: &[PostId],
        per_post: usize,
        exclude_authors: &[UserId],
    ) -> StoreResult<Vec<(PostId, Page<Comment>)>>;

    /// Sets the user's reaction; returns the kind it replaced.
    async fn react(
        &self,
        post_id: &PostId,
        user_id: &UserId,
        kind: ReactionKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ReactionKind>>;
    /// Removes the user's reaction; returns the kind removed.
    async fn unreact(
        &self,
        post_id: &PostId,
        user_id: &UserId,
    ) -> StoreResult<Option<ReactionKind>>;
    /// The user's reactions among `post_ids`.
    async fn reactions_of(
        &self,
        user_id: &UserId,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<(PostId, ReactionKind)>>;

    /// Returns whether the favorite was added (false: it already was one).
    async fn add_favorite(
        &self,
        post_id: &PostId,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn remove_favorite(&self, post_id: &PostId, user_id: &UserId) -> StoreResult<bool>;
    /// Of `post_ids`, those the user favorited.
    async fn favorited_among(
        &self,
        user_id: &UserId,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<PostId>>;
    /// The user's favorites, most recently added first, leaving out deleted posts; the
    /// cursor is that of the last [`Favorite`] seen.
    async fn favorites(&self, user_id: &UserId, page: &PageRequest) -> StoreResult<Page<Favorite>>;
    /// How many posts `favorites` lists in all (deleted posts excluded).
    async fn count_favorites(&self, user_id: &UserId) -> StoreResult<u64>;
}
