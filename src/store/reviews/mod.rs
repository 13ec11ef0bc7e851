//! Reviews of listings and the rating counters kept on each listing.
//!
//! A listing's counters (how many ratings, their sum, the histogram, the count and sum of
//! verified purchases, and the verified average the "best rated" order sorts by) change in
//! the same atomic unit as the review that moves them, so they are exact under any
//! interleaving of writes. A seller's rating is the sum of their listings' counters.
//!
//! A review is a verified purchase when its author has a `DELIVERED` order containing the
//! listing. Each review stores that flag: it is decided when the review is written, and an
//! order turning `DELIVERED` (which is final) flips the buyer's existing reviews of its
//! listings and their listings' verified counters in the order's own atomic unit
//! ([`sqlite_mark_verified`], [`mongo_mark_verified`]). So the flag, `Review.verifiedPurchase`
//! (computed from the orders) and the counters always agree. Each adapter's module docs say
//! how the two writers cannot miss each other.
//!
//! Authorization (who may review what) is the service's business: this module stores and finds.

mod mongo;
mod sqlite;

pub use mongo::MongoReviewStore;
pub(crate) use mongo::mark_verified as mongo_mark_verified;
pub use sqlite::SqliteReviewStore;
pub(crate) use sqlite::{
    mark_verified as sqlite_mark_verified, seller_ratings as sqlite_seller_ratings,
};

use super::{Page, PageRequest, StoreResult};
use crate::domain::{PostId, Rating, RatingSummary, Review, ReviewId, UserId};

impl super::Keyed for Review {
    /// Reviews list by creation time.
    fn cursor(&self) -> String {
        super::cursor::keyset(self.created_at.timestamp_millis(), &self.id)
    }
}

/// Filters of a review list; every set field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewQuery {
    pub rating: Option<Rating>,
    pub post_id: Option<PostId>,
    pub author_id: Option<UserId>,
}

/// The counter change one review write makes on its listing. `verified` reviews (by an
/// author with a delivered order of the listing) also move the verified count and sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RatingDelta {
    pub count: i64,
    pub sum: i64,
    pub histogram: [i64; 5],
    pub verified_count: i64,
    pub verified_sum: i64,
}

impl RatingDelta {
    pub fn add(rating: Rating, verified: bool) -> Self {
        let mut delta = RatingDelta {
            count: 1,
            sum: rating.value(),
            histogram: [0; 5],
            verified_count: i64::from(verified),
            verified_sum: if verified { rating.value() } else { 0 },
        };
        delta.histogram[rating.slot()] = 1;
        delta
    }

    pub fn remove(rating: Rating, verified: bool) -> Self {
        let added = Self::add(rating, verified);
        RatingDelta {
            count: -added.count,
            sum: -added.sum,
            histogram: added.histogram.map(|n| -n),
            verified_count: -added.verified_count,
            verified_sum: -added.verified_sum,
        }
    }

    pub fn change(from: Rating, to: Rating, verified: bool) -> Self {
        let (removed, added) = (Self::remove(from, verified), Self::add(to, verified));
        let mut histogram = removed.histogram;
        for (slot, n) in histogram.iter_mut().zip(added.histogram) {
            *slot += n;
        }
        RatingDelta {
            count: 0,
            sum: added.sum + removed.sum,
            histogram,
            verified_count: 0,
            verified_sum: added.verified_sum + removed.verified_sum,
        }
    }

    /// Replacing a review of `old` stars by one of `new` (`None`: deleting it); `None` when
    /// no counter moves.
    pub fn replacing(old: Rating, new: Option<Rating>, verified: bool) -> Option<Self> {
        match new {
            None => Some(Self::remove(old, verified)),
            Some(new) if new == old => None,
            Some(new) => Some(Self::change(old, new, verified)),
        }
    }

    /// An unverified review of `rating` turning verified: only the verified counters move.
    pub fn verify(rating: Rating) -> Self {
        RatingDelta {
            verified_count: 1,
            verified_sum: rating.value(),
            ..RatingDelta::default()
        }
    }
}

/// Storage of reviews.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - One review per `(author, post)`: a second is `StoreError::Conflict { field: "postId" }`.
/// - Every write keeps the listing's rating counters exact in the same atomic unit, the
///   verified ones included; a review counts as verified exactly when its author has a
///   `DELIVERED` order containing the listing, whichever was written first.
/// - Lists are newest first by `(created_at, id)`; the cursor is `"{created_at millis}:{id}"`.
#[async_trait::async_trait]
pub trait ReviewStore: Send + Sync {
    async fn create_review(&self, review: &Review) -> StoreResult<()>;
    /// Replaces the rating, body, media and `edited_at` of a stored review; `false` when it
    /// does not exist.
    async fn update_review(&self, review: &Review) -> StoreResult<bool>;
    /// Deletes a review; the deleted review, or `None` when it did not exist.
    async fn delete_review(&self, id: &ReviewId) -> StoreResult<Option<Review>>;
    async fn get_review(&self, post: &PostId, author: &UserId) -> StoreResult<Option<Review>>;
    /// The reviews found, in any order.
    async fn get_many_reviews(&self, ids: &[ReviewId]) -> StoreResult<Vec<Review>>;
    async fn reviews(&self, query: &ReviewQuery, page: &PageRequest) -> StoreResult<Page<Review>>;
    async fn count_reviews(&self, query: &ReviewQuery) -> StoreResult<u64>;
    /// The counters of each post among `posts` that exists (zero for posts without reviews).
    async fn rating_summaries(&self, posts: &[PostId])
    -> StoreResult<Vec<(PostId, RatingSummary)>>;
    /// Each seller's counters summed over their listings (sellers without any are left out).
    async fn seller_ratings(&self, sellers: &[UserId])
    -> StoreResult<Vec<(UserId, RatingSummary)>>;
}
