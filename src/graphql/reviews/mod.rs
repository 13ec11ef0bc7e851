//! Reviews over GraphQL: a listing's reviews, writing, changing and deleting one, and the
//! rating summaries of listings (`Post.rating`) and sellers (`User.sellerRating`).
//!
//! Thin like every resolver here: read the viewer, parse ids and values, call one service,
//! convert.

mod types;

use async_graphql::{Context, ID, InputObject, Object, Result};

use self::types::ReviewsTotal;
pub use self::types::{RatingSummary, Review, ReviewConnection};
use super::ContextExt;
use super::connection::{connection_of, page_request};
use crate::domain::{
    self, PostId, PostKind, Rating, ReviewId, UserId, parse_media, parse_review_body,
};
use crate::error::AppError;
use crate::graphql::{parse_id, viewer_and_id};
use crate::service::{CreateReviewCommand, UpdateReviewCommand};
use crate::store::ReviewQuery;

#[derive(InputObject)]
pub struct CreateReviewInput {
    pub post_id: ID,
    pub rating: i32,
    pub body: Option<String>,
    pub media_urls: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct UpdateReviewInput {
    pub rating: Option<i32>,
    /// An empty string clears the text.
    pub body: Option<String>,
    pub media_urls: Option<Vec<String>>,
}

fn rating(field: &str, raw: i32) -> Result<Rating, AppError> {
    Ok(Rating::parse(field, i64::from(raw))?)
}

fn review_body(field: &str, raw: Option<String>) -> Result<Option<String>, AppError> {
    match raw {
        Some(text) if !text.trim().is_empty() => Ok(Some(parse_review_body(field, &text)?)),
        _ => Ok(None),
    }
}

#[derive(Default)]
pub struct ReviewQueryRoot;

#[Object]
impl ReviewQueryRoot {
    /// The review `authorId` wrote of `postId`, if any.
    async fn review(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        author_id: ID,
    ) -> Result<Option<Review>> {
        let post = parse_id::<PostId>("postId", &post_id)?;
        let author = parse_id::<UserId>("authorId", &author_id)?;
        Ok(ctx
            .services()
            .reviews
            .get(&post, &author)
            .await?
            .map(Review))
    }

    /// Reviews, newest first, narrowed by rating, listing and author.
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        rating: Option<i32>,
        post_id: Option<ID>,
        author_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ReviewConnection> {
        let query = ReviewQuery {
            rating: rating.map(|r| self::rating("rating", r)).transpose()?,
            post_id: post_id
                .map(|id| parse_id::<PostId>("postId", &id))
                .transpose()?,
            author_id: author_id
                .map(|id| parse_id::<UserId>("authorId", &id))
                .transpose()?,
        };
        review_connection(ctx, query, first, after).await
    }
}

/// A page of reviews matching `query` (also serves `Post.reviews`).
pub async fn review_connection(
    ctx: &Context<'_>,
    query: ReviewQuery,
    first: Option<i32>,
    after: Option<String>,
) -> Result<ReviewConnection> {
    let page = page_request(first, after)?;
    let found = ctx.services().reviews.list(&query, &page).await?;
    Ok(connection_of(&page, found, ReviewsTotal(query), Review))
}

/// `Post.rating`: a listing's rating summary through the loader; `null` for text posts.
pub async fn post_rating(ctx: &Context<'_>, post: &domain::Post) -> Result<Option<RatingSummary>> {
    if post.kind != PostKind::Listing {
        return Ok(None);
    }
    let summary = ctx.loaders().post_ratings.load_one(post.id.clone()).await?;
    Ok(Some(RatingSummary(summary.unwrap_or_default())))
}

/// `User.sellerRating`: over the reviews of their listings; `null` when they have none.
pub async fn seller_rating(ctx: &Context<'_>, user: &UserId) -> Result<Option<RatingSummary>> {
    let summary = ctx.loaders().seller_ratings.load_one(user.clone()).await?;
    Ok(summary.filter(|s| s.count > 0).map(RatingSummary))
}

#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    async fn create_review(&self, ctx: &Context<'_>, input: CreateReviewInput) -> Result<Review> {
        let viewer = ctx.require_viewer()?;
        let command = CreateReviewCommand {
            post_id: parse_id::<PostId>("input.postId", &input.post_id)?,
            rating: rating("input.rating", input.rating)?,
            body: review_body("input.body", input.body)?,
            media: parse_media("input.mediaUrls", &input.media_urls.unwrap_or_default())?,
        };
        Ok(Review(
            ctx.services().reviews.create(viewer, command).await?,
        ))
    }

    async fn update_review(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateReviewInput,
    ) -> Result<Review> {
        let (viewer, id) = viewer_and_id::<ReviewId>(ctx, "id", &id)?;
        let command = UpdateReviewCommand {
            rating: input
                .rating
                .map(|r| rating("input.rating", r))
                .transpose()?,
            body: match input.body {
                Some(body) => Some(review_body("input.body", Some(body))?),
                None => None,
            },
            media: input
                .media_urls
                .map(|urls| parse_media("input.mediaUrls", &urls))
                .transpose()?,
        };
        Ok(Review(
            ctx.services().reviews.update(viewer, &id, command).await?,
        ))
    }

    async fn delete_review(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let (viewer, id) = viewer_and_id::<ReviewId>(ctx, "id", &id)?;
        Ok(ctx.services().reviews.delete(viewer, &id).await?)
    }
}
