//! The marketplace over GraphQL: the cart, checkout, payment, the order lifecycle, reviews,
//! seller stats and the `orderUpdated` subscription.
//!
//! Thin like every resolver here: read the viewer, parse ids and values, call one service,
//! convert. An order the viewer may not see does not exist as far as these fields tell.

mod subscription;
mod types;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, Object, Result};

pub use self::subscription::MarketplaceSubscription;
use self::types::{
    Cart, ListingStatusCount, OrderConnection, OrderRole, OrderStatus, OrderStatusCount,
    OrdersTotal, Review, ReviewsTotal, SellerStats,
};
pub use self::types::{Order, RatingSummary, ReviewConnection};
use super::ContextExt;
use super::connection::{cursor_of, page_request};
use crate::domain::{
    self, AddressId, CardId, ListingStatus, OrderId, PostId, PostKind, Rating, ReviewId, UserId,
    parse_idempotency_key, parse_media, parse_note, parse_review_body,
};
use crate::error::AppError;
use crate::graphql::parse_id;
use crate::service::{CheckoutCommand, CreateReviewCommand, UpdateReviewCommand};
use crate::store::{PostQuery, ReviewQuery};

#[derive(InputObject)]
pub struct CheckoutInput {
    pub address_id: ID,
    /// Any string up to 100 characters, unique per checkout attempt: sending the same key
    /// again returns the orders of the first attempt instead of ordering twice.
    pub idempotency_key: String,
    pub note: Option<String>,
}

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
pub struct MarketplaceQuery;

#[Object]
impl MarketplaceQuery {
    /// The viewer's cart.
    async fn cart(&self, ctx: &Context<'_>) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        Ok(Cart(ctx.services().cart.cart(viewer).await?))
    }

    /// An order of the viewer's (as buyer or seller), or any order for an admin. Any other
    /// order is `NOT_FOUND`, exactly like one that does not exist.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<OrderId>("id", &id)?;
        Ok(Some(Order(
            ctx.services().orders.get_order(viewer, &id).await?,
        )))
    }

    /// The viewer's orders as buyer (default) or seller, newest first.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        role: Option<OrderRole>,
        status: Option<OrderStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<OrderConnection> {
        let viewer = ctx.require_viewer()?;
        let page = page_request(first, after)?;
        let side = role.unwrap_or(OrderRole::Buyer).into();
        let status = status.map(domain::OrderStatus::from);
        let result = ctx
            .services()
            .orders
            .orders(viewer, side, status, &page)
            .await?;
        let mut connection = Connection::with_additional_fields(
            page.after.is_some(),
            result.has_next,
            OrdersTotal {
                user: viewer.id().clone(),
                side,
                status,
            },
        );
        connection.edges.extend(
            result
                .items
                .into_iter()
                .map(|order| Edge::new(cursor_of(&order), Order(order))),
        );
        Ok(connection)
    }

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

    /// The viewer's figures as a seller.
    async fn seller_stats(&self, ctx: &Context<'_>) -> Result<SellerStats> {
        let viewer = ctx.require_viewer()?;
        let services = ctx.services();
        let mut listings_by_status = Vec::new();
        for status in ListingStatus::ALL {
            let query = PostQuery {
                author_id: Some(viewer.id().clone()),
                kind: Some(PostKind::Listing),
                status: Some(status),
                drafts_of: Some(viewer.id().clone()),
                ..PostQuery::default()
            };
            listings_by_status.push(ListingStatusCount {
                status: status.into(),
                count: services.posts.count_posts(&query).await?,
            });
        }
        let stats = services.orders.seller_order_stats(viewer.id()).await?;
        let orders_by_status = domain::OrderStatus::ALL
            .into_iter()
            .map(|status| OrderStatusCount {
                status: status.into(),
                count: stats
                    .by_status
                    .iter()
                    .find(|(s, _)| *s == status)
                    .map_or(0, |(_, n)| *n),
            })
            .collect();
        let revenue = stats
            .delivered_revenue
            .into_iter()
            .map(|(currency, scaled)| {
                domain::Money {
                    amount: domain::Amount::from_scaled(scaled),
                    currency,
                }
                .into()
            })
            .collect();
        let rating = services
            .reviews
            .seller_ratings(std::slice::from_ref(viewer.id()))
            .await?
            .pop()
            .map(|(_, summary)| summary)
            .unwrap_or_default();
        Ok(SellerStats {
            listings_by_status,
            orders_by_status,
            revenue,
            rating: RatingSummary(rating),
        })
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
    let result = ctx.services().reviews.list(&query, &page).await?;
    let mut connection = Connection::with_additional_fields(
        page.after.is_some(),
        result.has_next,
        ReviewsTotal(query),
    );
    connection.edges.extend(
        result
            .items
            .into_iter()
            .map(|review| Edge::new(cursor_of(&review), Review(review))),
    );
    Ok(connection)
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
pub struct MarketplaceMutation;

#[Object]
impl MarketplaceMutation {
    /// Adds `quantity` units of a listing to the viewer's cart.
    async fn add_to_cart(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        #[graphql(default = 1)] quantity: i32,
    ) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        let post = parse_id::<PostId>("postId", &post_id)?;
        let cart = ctx
            .services()
            .cart
            .add(viewer, &post, i64::from(quantity))
            .await?;
        Ok(Cart(cart))
    }

    /// Sets the quantity of a line in the cart.
    async fn update_cart_item(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        quantity: i32,
    ) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        let post = parse_id::<PostId>("postId", &post_id)?;
        let cart = ctx
            .services()
            .cart
            .update(viewer, &post, i64::from(quantity))
            .await?;
        Ok(Cart(cart))
    }

    async fn remove_from_cart(&self, ctx: &Context<'_>, post_id: ID) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        let post = parse_id::<PostId>("postId", &post_id)?;
        Ok(Cart(ctx.services().cart.remove(viewer, &post).await?))
    }

    async fn clear_cart(&self, ctx: &Context<'_>) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        Ok(Cart(ctx.services().cart.clear(viewer).await?))
    }

    /// Turns the cart into one order per seller, taking the stock. Retrying with the same
    /// `idempotencyKey` returns the same orders.
    async fn checkout(&self, ctx: &Context<'_>, input: CheckoutInput) -> Result<Vec<Order>> {
        let viewer = ctx.require_viewer()?;
        let command = CheckoutCommand {
            address_id: parse_id::<AddressId>("input.addressId", &input.address_id)?,
            idempotency_key: parse_idempotency_key("input.idempotencyKey", &input.idempotency_key)
                .map_err(AppError::from)?,
            note: input
                .note
                .filter(|n| !n.trim().is_empty())
                .map(|n| parse_note("input.note", &n))
                .transpose()
                .map_err(AppError::from)?,
        };
        let orders = ctx.services().orders.checkout(viewer, command).await?;
        Ok(orders.into_iter().map(Order).collect())
    }

    /// Pays an order with one of the viewer's cards (mock gateway: see the README's test
    /// cards). A refused card is `PAYMENT_DECLINED` with `extensions.reason`.
    async fn pay_order(&self, ctx: &Context<'_>, order_id: ID, card_id: ID) -> Result<Order> {
        let viewer = ctx.require_viewer()?;
        let order = parse_id::<OrderId>("orderId", &order_id)?;
        let card = parse_id::<CardId>("cardId", &card_id)?;
        Ok(Order(
            ctx.services().orders.pay(viewer, &order, &card).await?,
        ))
    }

    /// Moves an order along its lifecycle (only the viewer's legal moves: `nextStatuses`).
    async fn update_order_status(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        status: OrderStatus,
    ) -> Result<Order> {
        let viewer = ctx.require_viewer()?;
        let order = parse_id::<OrderId>("orderId", &order_id)?;
        let order = ctx
            .services()
            .orders
            .update_status(viewer, &order, status.into())
            .await?;
        Ok(Order(order))
    }

    /// Cancels an order before it ships; its stock returns and a payment is refunded.
    async fn cancel_order(&self, ctx: &Context<'_>, order_id: ID) -> Result<Order> {
        let viewer = ctx.require_viewer()?;
        let order = parse_id::<OrderId>("orderId", &order_id)?;
        Ok(Order(ctx.services().orders.cancel(viewer, &order).await?))
    }

    /// Puts the items of one of the viewer's orders back into the cart (what is in stock).
    async fn reorder(&self, ctx: &Context<'_>, order_id: ID) -> Result<Cart> {
        let viewer = ctx.require_viewer()?;
        let order = parse_id::<OrderId>("orderId", &order_id)?;
        Ok(Cart(ctx.services().orders.reorder(viewer, &order).await?))
    }

    async fn create_review(&self, ctx: &Context<'_>, input: CreateReviewInput) -> Result<Review> {
        let viewer = ctx.require_viewer()?;
        let command = CreateReviewCommand {
            post_id: parse_id::<PostId>("input.postId", &input.post_id)?,
            rating: rating("input.rating", input.rating)?,
            body: review_body("input.body", input.body)?,
            media: parse_media("input.mediaUrls", &input.media_urls.unwrap_or_default())
                .map_err(AppError::from)?,
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
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<ReviewId>("id", &id)?;
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
                .transpose()
                .map_err(AppError::from)?,
        };
        Ok(Review(
            ctx.services().reviews.update(viewer, &id, command).await?,
        ))
    }

    async fn delete_review(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<ReviewId>("id", &id)?;
        Ok(ctx.services().reviews.delete(viewer, &id).await?)
    }
}
