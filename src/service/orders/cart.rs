//! The viewer's cart: lines of listings with quantities, stored per user so it follows them
//! across sessions and devices.
//!
//! Rules owned here: a quantity is 1 to the listing's stock (and at most
//! [`MAX_LINE_QUANTITY`]); only `ACTIVE` listings of other users can be added; a cart holds at
//! most [`MAX_CART_LINES`] lines; adding and changing lines is rate-limited per user. Prices are never stored in the cart: every read takes them
//! from the listing as it is now, and a line whose listing became unavailable stays visible
//! with `available: false` until the viewer removes it.

use std::sync::Arc;

use crate::clock::now;
use crate::domain::{
    ListingStatus, MAX_CART_LINES, MAX_LINE_QUANTITY, Money, Post, PostId, PostKind,
};
use crate::error::{AppError, AppResult};
use crate::service::posts::PostService;
use crate::service::{Action, RateLimiter, Viewer};
use crate::store::OrderStore;

/// One line of the cart with its listing as it is now.
#[derive(Debug, Clone)]
pub struct CartEntry {
    pub post: Post,
    pub quantity: i64,
}

impl CartEntry {
    /// Whether the line can be checked out now: the listing is active and has the stock.
    pub fn available(&self) -> bool {
        self.post.deleted_at.is_none()
            && self
                .post
                .listing
                .as_ref()
                .is_some_and(|l| l.status == ListingStatus::Active && l.stock >= self.quantity)
    }

    pub fn line_total(&self) -> Option<Money> {
        let price = self.post.listing.as_ref()?.price;
        Some(Money {
            amount: price.amount.checked_mul(self.quantity)?,
            currency: price.currency,
        })
    }
}

/// A line's quantity is 1 to [`MAX_LINE_QUANTITY`].
fn check_quantity(quantity: i64) -> AppResult<()> {
    if !(1..=MAX_LINE_QUANTITY).contains(&quantity) {
        return Err(AppError::bad_input(
            "quantity",
            format!("must be between 1 and {MAX_LINE_QUANTITY}"),
        ));
    }
    Ok(())
}

#[derive(Clone)]
pub struct CartService {
    orders: Arc<dyn OrderStore>,
    posts: PostService,
    rate_limits: RateLimiter,
}

impl CartService {
    pub fn new(orders: Arc<dyn OrderStore>, posts: PostService, rate_limits: RateLimiter) -> Self {
        Self {
            orders,
            posts,
            rate_limits,
        }
    }

    /// The viewer's cart, oldest line first. Lines whose listing was deleted are left out.
    pub async fn cart(&self, viewer: &Viewer) -> AppResult<Vec<CartEntry>> {
        let lines = self.orders.cart(viewer.id()).await?;
        let ids: Vec<PostId> = lines.iter().map(|l| l.post_id.clone()).collect();
        let posts = self.posts.get_many_posts(Some(viewer), &ids).await?;
        Ok(lines
            .into_iter()
            .filter_map(|line| {
                let post = posts.iter().find(|p| p.id == line.post_id)?.clone();
                Some(CartEntry {
                    post,
                    quantity: line.quantity,
                })
            })
            .collect())
    }

    /// Checks that the viewer may buy `quantity` of `post_id` now, returning the listing.
    async fn buyable(&self, viewer: &Viewer, post_id: &PostId, quantity: i64) -> AppResult<Post> {
        check_quantity(quantity)?;
        let post = self
            .posts
            .get_post(Some(viewer), post_id)
            .await?
            .ok_or(AppError::NotFound("listing"))?;
        let listing = match (&post.kind, &post.listing) {
            (PostKind::Listing, Some(listing)) => listing,
            _ => return Err(AppError::bad_input("postId", "is not a listing")),
        };
        if &post.author_id == viewer.id() {
            return Err(AppError::bad_input("postId", "is your own listing"));
        }
        if listing.status != ListingStatus::Active {
            return Err(AppError::bad_input("postId", "is not for sale"));
        }
        if quantity > listing.stock {
            return Err(AppError::bad_input(
                "quantity",
                format!("must be at most {} (in stock)", listing.stock),
            ));
        }
        Ok(post)
    }

    /// Adds `quantity` units of a listing (to what the cart already holds of it).
    pub async fn add(
        &self,
        viewer: &Viewer,
        post_id: &PostId,
        quantity: i64,
    ) -> AppResult<Vec<CartEntry>> {
        self.write_line(viewer, post_id, |current, lines| {
            if current.is_none() && lines >= MAX_CART_LINES {
                return Err(AppError::bad_input(
                    "postId",
                    format!("a cart holds at most {MAX_CART_LINES} listings"),
                ));
            }
            check_quantity(quantity)?;
            Ok(current.unwrap_or(0) + quantity)
        })
        .await
    }

    /// Sets the quantity of a line already in the cart.
    pub async fn update(
        &self,
        viewer: &Viewer,
        post_id: &PostId,
        quantity: i64,
    ) -> AppResult<Vec<CartEntry>> {
        self.write_line(viewer, post_id, |current, _| {
            current
                .map(|_| quantity)
                .ok_or(AppError::NotFound("cart item"))
        })
        .await
    }

    /// Sets the viewer's line of `post_id` to what `quantity` makes of the quantity in the
    /// cart (`None` when the listing is not in it) and the number of lines, once the rate
    /// limit allows the write and the listing can be bought in that quantity; the cart after.
    async fn write_line(
        &self,
        viewer: &Viewer,
        post_id: &PostId,
        quantity: impl FnOnce(Option<i64>, usize) -> AppResult<i64>,
    ) -> AppResult<Vec<CartEntry>> {
        self.rate_limits
            .check(Action::CartWrite, viewer.id().as_str())
            .await?;
        let lines = self.orders.cart(viewer.id()).await?;
        let current = lines
            .iter()
            .find(|l| &l.post_id == post_id)
            .map(|l| l.quantity);
        let quantity = quantity(current, lines.len())?;
        self.buyable(viewer, post_id, quantity).await?;
        self.orders
            .set_cart_line(viewer.id(), post_id, quantity, now())
            .await?;
        self.cart(viewer).await
    }

    pub async fn remove(&self, viewer: &Viewer, post_id: &PostId) -> AppResult<Vec<CartEntry>> {
        self.orders.remove_cart_line(viewer.id(), post_id).await?;
        self.cart(viewer).await
    }

    pub async fn clear(&self, viewer: &Viewer) -> AppResult<Vec<CartEntry>> {
        self.orders.clear_cart(viewer.id()).await?;
        Ok(Vec::new())
    }

    /// Puts the items of a past order back into the cart, as many as are in stock now;
    /// lines for listings no longer buyable are skipped.
    pub async fn refill(
        &self,
        viewer: &Viewer,
        items: &[(PostId, i64)],
    ) -> AppResult<Vec<CartEntry>> {
        let ids: Vec<PostId> = items.iter().map(|(p, _)| p.clone()).collect();
        let posts = self.posts.get_many_posts(Some(viewer), &ids).await?;
        let lines = self.orders.cart(viewer.id()).await?;
        let mut room = MAX_CART_LINES.saturating_sub(lines.len());
        for (post_id, quantity) in items {
            let Some(post) = posts.iter().find(|p| &p.id == post_id) else {
                continue;
            };
            let Some(listing) = post.listing.as_ref() else {
                continue;
            };
            let in_cart = lines
                .iter()
                .find(|l| &l.post_id == post_id)
                .map(|l| l.quantity);
            let wanted = (in_cart.unwrap_or(0) + quantity).min(listing.stock);
            if listing.status != ListingStatus::Active
                || &post.author_id == viewer.id()
                || wanted < 1
                || (in_cart.is_none() && room == 0)
            {
                continue;
            }
            if in_cart.is_none() {
                room -= 1;
            }
            self.orders
                .set_cart_line(viewer.id(), post_id, wanted, now())
                .await?;
        }
        self.cart(viewer).await
    }
}
