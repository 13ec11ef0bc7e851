//! Reviews of listings.
//!
//! Rules owned here: one review per user per listing (`CONFLICT` on a second; `updateReview`
//! changes it); only listings can be reviewed, never by their own seller; only the author
//! edits or deletes a review (an admin may delete any); new reviews are rate-limited per
//! author. Publishes `ReviewAdded` after a new
//! review is stored.

use std::sync::Arc;

use super::posts::PostService;
use super::{Action, RateLimiter, Viewer};
use crate::clock::now;
use crate::domain::{PostId, PostKind, Rating, RatingSummary, Review, ReviewId, UserId};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{Page, PageRequest, ReviewQuery, ReviewStore, StoreError};

/// A parsed `createReview` input.
#[derive(Debug, Clone)]
pub struct CreateReviewCommand {
    pub post_id: PostId,
    pub rating: Rating,
    pub body: Option<String>,
    pub media: Vec<String>,
}

/// A parsed `updateReview` input: `None` leaves a field alone; `body: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct UpdateReviewCommand {
    pub rating: Option<Rating>,
    pub body: Option<Option<String>>,
    pub media: Option<Vec<String>>,
}

#[derive(Clone)]
pub struct ReviewService {
    reviews: Arc<dyn ReviewStore>,
    posts: PostService,
    rate_limits: RateLimiter,
    events: EventBus,
}

impl ReviewService {
    pub fn new(
        reviews: Arc<dyn ReviewStore>,
        posts: PostService,
        rate_limits: RateLimiter,
        events: EventBus,
    ) -> Self {
        Self {
            reviews,
            posts,
            rate_limits,
            events,
        }
    }

    pub async fn create(&self, viewer: &Viewer, command: CreateReviewCommand) -> AppResult<Review> {
        self.rate_limits
            .check(Action::CreateReview, viewer.id().as_str())
            .await?;
        let post = self
            .posts
            .get_post(Some(viewer), &command.post_id)
            .await?
            .ok_or(AppError::NotFound("listing"))?;
        if post.kind != PostKind::Listing {
            return Err(AppError::bad_input("input.postId", "is not a listing"));
        }
        if &post.author_id == viewer.id() {
            return Err(AppError::Forbidden("you cannot review your own listing"));
        }
        let review = Review {
            id: ReviewId::generate(),
            post_id: post.id.clone(),
            author_id: viewer.id().clone(),
            seller_id: post.author_id.clone(),
            rating: command.rating,
            body: command.body,
            media: command.media,
            created_at: now(),
            edited_at: None,
        };
        match self.reviews.create_review(&review).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(AppError::Conflict {
                    field: Some("input.postId".into()),
                    message: "you have reviewed this listing already; use updateReview".into(),
                });
            }
            Err(err) => return Err(err.into()),
        }
        self.events
            .publish(DomainEvent::ReviewAdded {
                review_id: review.id.clone(),
                post_id: review.post_id.clone(),
                author: review.author_id.clone(),
                seller: review.seller_id.clone(),
            })
            .await;
        Ok(review)
    }

    async fn own_review(&self, viewer: &Viewer, id: &ReviewId) -> AppResult<Review> {
        let review = self
            .reviews
            .get_many_reviews(std::slice::from_ref(id))
            .await?
            .pop()
            .ok_or(AppError::NotFound("review"))?;
        if &review.author_id != viewer.id() && !viewer.is_admin() {
            return Err(AppError::Forbidden("only the author can change a review"));
        }
        Ok(review)
    }

    pub async fn update(
        &self,
        viewer: &Viewer,
        id: &ReviewId,
        command: UpdateReviewCommand,
    ) -> AppResult<Review> {
        let mut review = self.own_review(viewer, id).await?;
        if &review.author_id != viewer.id() {
            return Err(AppError::Forbidden("only the author can edit a review"));
        }
        if let Some(rating) = command.rating {
            review.rating = rating;
        }
        if let Some(body) = command.body {
            review.body = body;
        }
        if let Some(media) = command.media {
            review.media = media;
        }
        review.edited_at = Some(now());
        if !self.reviews.update_review(&review).await? {
            return Err(AppError::NotFound("review"));
        }
        Ok(review)
    }

    pub async fn delete(&self, viewer: &Viewer, id: &ReviewId) -> AppResult<bool> {
        self.own_review(viewer, id).await?;
        Ok(self.reviews.delete_review(id).await?.is_some())
    }

    pub async fn get(&self, post: &PostId, author: &UserId) -> AppResult<Option<Review>> {
        Ok(self.reviews.get_review(post, author).await?)
    }

    pub async fn get_many(&self, ids: &[ReviewId]) -> AppResult<Vec<Review>> {
        Ok(self.reviews.get_many_reviews(ids).await?)
    }

    pub async fn list(&self, query: &ReviewQuery, page: &PageRequest) -> AppResult<Page<Review>> {
        Ok(self.reviews.reviews(query, page).await?)
    }

    pub async fn count(&self, query: &ReviewQuery) -> AppResult<u64> {
        Ok(self.reviews.count_reviews(query).await?)
    }

    pub async fn rating_summaries(
        &self,
        posts: &[PostId],
    ) -> AppResult<Vec<(PostId, RatingSummary)>> {
        Ok(self.reviews.rating_summaries(posts).await?)
    }

    pub async fn seller_ratings(
        &self,
        sellers: &[UserId],
    ) -> AppResult<Vec<(UserId, RatingSummary)>> {
        Ok(self.reviews.seller_ratings(sellers).await?)
    }
}
