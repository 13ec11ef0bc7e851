//! The social graph: who follows whom and who blocked whom, plus the follower and following
//! counters denormalised onto each user.
//!
//! This module owns the edges and the counters' consistency with them. It must not decide
//! who may follow or block whom (the service does), and it must not filter content: feeds,
//! search and comment lists ask [`SocialStore::block_partners`] and filter themselves.

mod mongo;
mod sqlite;

pub use mongo::MongoSocialStore;
pub use sqlite::SqliteSocialStore;

use chrono::{DateTime, Utc};

use super::cursor::{keyset, split};
use super::{Page, PageRequest, StoreError, StoreResult};
use crate::domain::UserId;

/// A user's own corner of the graph, as loaded once per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerGraph {
    /// Everyone the user follows.
    pub followees: Vec<UserId>,
    /// Everyone the user blocked or who blocked the user, once each.
    pub block_partners: Vec<UserId>,
}

/// One entry of a followers or following list: the other user and when the edge was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowEdge {
    /// The follower (in a followers list) or the followee (in a following list).
    pub user_id: UserId,
    pub followed_at: DateTime<Utc>,
}

impl super::Keyed for FollowEdge {
    /// Followers and following lists are ordered by `(followed_at, other user id)`
    /// descending, so the key is unique per list and stays meaningful while edges are added
    /// or removed.
    fn cursor(&self) -> String {
        keyset(self.followed_at.timestamp_millis(), &self.user_id)
    }
}

/// Where a followers or following page starts: after the edge whose [`Keyed::cursor`] is
/// `after`. Unlike the other lists these refuse a key that is not such a cursor (`None`)
/// rather than start over, since only a cursor from another list (or a forged one) can be it.
///
/// [`Keyed::cursor`]: super::Keyed::cursor
pub fn follow_position(after: &str) -> Option<(i64, UserId)> {
    let (millis, id) = split(Some(after))?;
    Some((millis, UserId::parse(&id)?))
}

/// [`follow_position`] of a page request, as both adapters read it: a key that is not a
/// cursor is an error there (the service checks keys first, so only a bug reaches it).
fn page_start(page: &PageRequest) -> StoreResult<Option<(i64, UserId)>> {
    page.after
        .as_deref()
        .map(|key| {
            follow_position(key)
                .ok_or_else(|| StoreError::Backend("malformed follow list cursor".into()))
        })
        .transpose()
}

/// Storage of the social graph.
///
/// Contract (both adapters, checked by `tests/store_contract/social.rs`):
/// - A follow edge is unique per (follower, followee) and never joins a user to themself.
/// - A blocked pair never has a follow edge, in either direction: [`SocialStore::block`]
///   removes both edges and [`SocialStore::follow`] refuses a blocked pair, each atomically
///   with respect to the other, so a follow racing a block cannot leave an edge behind.
/// - `User::followers_count` and `User::following_count` always equal the number of edges:
///   they change in the same atomic unit as the edge, and only when an edge was really
///   inserted or deleted, so retries and concurrent duplicates cannot skew them.
/// - Writing an edge or a block for a user that does not exist (or for a user and themself)
///   is an error, and nothing is written. Removing what does not exist is `Ok(false)`.
/// - Batch and list methods return an empty list for unknown ids, never an error; the order
///   of the `Vec<UserId>` answers is unspecified and they hold no duplicates.
#[async_trait::async_trait]
pub trait SocialStore: Send + Sync {
    /// Makes `follower` follow `followee`. `Ok(true)` when a new edge was created; `Ok(false)`
    /// when it already existed or when either has blocked the other (nothing is written).
    async fn follow(
        &self,
        follower: &UserId,
        followee: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Removes the edge; `Ok(true)` when there was one.
    async fn unfollow(&self, follower: &UserId, followee: &UserId) -> StoreResult<bool>;

    /// Records that `blocker` blocked `blocked` and removes any follow edge between them in
    /// either direction, counters included, in one atomic unit. `Ok(true)` when the block is
    /// new; blocking again is a no-op answering `Ok(false)`.
    async fn block(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Lifts the block; `Ok(true)` when there was one. Removed follows do not come back.
    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> StoreResult<bool>;

    /// Those of `candidates` that `viewer` follows (for `viewerFollows` on a list of users).
    async fn followed_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>>;

    /// Those of `candidates` that `viewer` has blocked (for `isBlockedByViewer`). Blocks the
    /// other way round are not included: a user is not told who blocked them.
    async fn blocked_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>>;

    /// Whether `a` blocked `b` or `b` blocked `a`.
    async fn is_blocked_either_way(&self, a: &UserId, b: &UserId) -> StoreResult<bool>;

    /// Everyone `user` blocked or who blocked `user`: whose content `user` must not see and
    /// who must not see or touch `user`'s.
    async fn block_partners(&self, user: &UserId) -> StoreResult<Vec<UserId>>;

    /// Everyone `user` follows (for assembling a feed on read).
    async fn followee_ids(&self, user: &UserId) -> StoreResult<Vec<UserId>>;

    /// `followee_ids` and `block_partners` of one user in a single round trip: what a
    /// request needs to assemble a feed, filter blocked authors and answer `viewerFollows`.
    async fn viewer_graph(&self, user: &UserId) -> StoreResult<ViewerGraph>;

    /// Who follows `user`, newest edge first (ties by follower id, descending). `page.after`
    /// is the cursor of a [`FollowEdge`] from this list; edges added after the first page was read
    /// sort before the cursor, so paging on neither repeats nor skips an entry. A key that is
    /// not a cursor is an error.
    async fn followers(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<FollowEdge>>;

    /// Whom `user` follows, in the same order and with the same cursors as
    /// [`SocialStore::followers`].
    async fn following(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<FollowEdge>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Keyed;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let edge = FollowEdge {
            user_id: UserId::parse("abc123").unwrap(),
            followed_at: DateTime::from_timestamp_millis(1_767_225_600_123).unwrap(),
        };
        assert_eq!(edge.cursor(), "1767225600123:abc123");
        assert_eq!(
            follow_position(&edge.cursor()),
            Some((1_767_225_600_123, edge.user_id.clone()))
        );
        for bad in ["", "123", ":abc", "x:abc", "123:", "123:a b", "1:2:3"] {
            assert_eq!(follow_position(bad), None, "{bad:?} should be refused");
        }
    }
}
