//! Output types of reviews. The author, the listing and whether the review is a verified
//! purchase go through per-request loaders.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::domain;
use crate::graphql::ContextExt;
use crate::graphql::orders::{live_post, user};
use crate::graphql::posts::{Media, Post};
use crate::graphql::users::User;
use crate::store::ReviewQuery;

/// `totalCount` of a review list.
pub struct ReviewsTotal(pub ReviewQuery);

#[Object]
impl ReviewsTotal {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(ctx.services().reviews.count(&self.0).await?)
    }
}

pub type ReviewConnection = Connection<String, Review, ReviewsTotal, EmptyFields>;

/// Counts of ratings: how many, the average, and how many of each star, over every review;
/// and the count and average over verified purchases only (reviews whose author has a
/// delivered order of the listing), which accounts that never bought cannot move.
pub struct RatingSummary(pub domain::RatingSummary);

#[Object]
impl RatingSummary {
    /// Over every review; `null` without ratings.
    async fn average(&self) -> Option<f64> {
        self.0.average()
    }
    /// Every review.
    async fn count(&self) -> i64 {
        self.0.count
    }
    /// How many ratings of 1, 2, 3, 4 and 5 stars, in that order, over every review.
    async fn histogram(&self) -> Vec<i64> {
        self.0.histogram.to_vec()
    }
    /// Over verified purchases only; `null` without any. The `RATING` order of posts sorts
    /// by this.
    async fn verified_average(&self) -> Option<f64> {
        self.0.verified_average()
    }
    /// Reviews by verified purchasers.
    async fn verified_count(&self) -> i64 {
        self.0.verified_count
    }
}

pub struct Review(pub domain::Review);

#[Object]
impl Review {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn post(&self, ctx: &Context<'_>) -> Result<Option<Post>> {
        live_post(ctx, &self.0.post_id).await
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<User> {
        user(ctx, &self.0.author_id).await
    }
    async fn rating(&self) -> i64 {
        self.0.rating.value()
    }
    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }
    async fn media(&self) -> Vec<Media> {
        self.0
            .media
            .iter()
            .map(|url| Media { url: url.clone() })
            .collect()
    }
    /// Whether the author has a delivered order containing the listing.
    async fn verified_purchase(&self, ctx: &Context<'_>) -> Result<bool> {
        let key = (self.0.author_id.clone(), self.0.post_id.clone());
        Ok(ctx
            .loaders()
            .verified_purchases
            .load_one(key)
            .await?
            .unwrap_or(false))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.0.edited_at
    }
}
