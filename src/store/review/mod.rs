//! Reviews of listings and the rating counters kept on each listing.
//!
//! A listing's counters (how many ratings, their sum, the histogram, and the average the
//! "best rated" order sorts by) change in the same atomic unit as the review that moves them,
//! so they are exact under any interleaving of writes. A seller's rating is the sum of their
//! listings' counters.
//!
//! Authorization (who may review what) is the service's business: this module stores and finds.

mod mongo;
mod sqlite;

pub use mongo::MongoReviewStore;
pub use sqlite::SqliteReviewStore;

use super::{Page, PageRequest, StoreResult};
use crate::domain::{PostId, Rating, RatingSummary, Review, ReviewId, UserId};

/// Filters of a review list; every set field narrows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewQuery {
    pub rating: Option<Rating>,
    pub post_id: Option<PostId>,
    pub author_id: Option<UserId>,
}

/// The counter change one review write makes on its listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RatingDelta {
    pub count: i64,
    pub sum: i64,
    pub histogram: [i64; 5],
}

impl RatingDelta {
    pub fn add(rating: Rating) -> Self {
        let mut delta = RatingDelta {
            count: 1,
            sum: rating.value(),
            histogram: [0; 5],
        };
        delta.histogram[rating.slot()] = 1;
        delta
    }

    pub fn remove(rating: Rating) -> Self {
        let added = Self::add(rating);
        RatingDelta {
            count: -added.count,
            sum: -added.sum,
            histogram: added.histogram.map(|n| -n),
        }
    }

    pub fn change(from: Rating, to: Rating) -> Self {
        let (removed, added) = (Self::remove(from), Self::add(to));
        let mut histogram = removed.histogram;
        for (slot, n) in histogram.iter_mut().zip(added.histogram) {
            *slot += n;
        }
        RatingDelta {
            count: 0,
            sum: added.sum + removed.sum,
            histogram,
        }
    }
}

/// Storage of reviews.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - One review per `(author, post)`: a second is `StoreError::Conflict { field: "postId" }`.
/// - Every write keeps the listing's rating counters exact in the same atomic unit.
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
