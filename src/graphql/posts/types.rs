//! Output types of posts, listings and comments. Every relation field goes through a
//! per-request loader.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::{self, ReactionKind as DomainReaction};
use crate::graphql::ContextExt;
use crate::graphql::engagement::{CommentConnection, comments_of_post};
use crate::graphql::scalars::Decimal;
use crate::graphql::social::viewer_relation;
use crate::graphql::users::User;

mirror_enum!(PostKind => domain::PostKind { Text, Listing });
mirror_enum!(ListingStatus => domain::ListingStatus { Draft, Active, Reserved, Sold, Archived });
mirror_enum!(ReactionKind => domain::ReactionKind { Like, Love, Laugh, Wow, Sad, Angry });

/// An amount of money in one currency.
#[derive(SimpleObject)]
pub struct Money {
    /// Exact, with the currency's number of decimals (`"1999.50"`).
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
}

impl From<domain::Money> for Money {
    fn from(money: domain::Money) -> Self {
        Money {
            amount: Decimal(money.amount.format(money.currency)),
            currency: money.currency.code().to_owned(),
        }
    }
}

/// A key/value specification of a listing.
#[derive(SimpleObject)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

/// An image attached to a post.
#[derive(SimpleObject)]
pub struct Media {
    pub url: String,
}

#[derive(SimpleObject)]
pub struct ReactionCount {
    pub kind: ReactionKind,
    pub count: i64,
}

#[derive(SimpleObject)]
pub struct TagCount {
    pub tag: String,
    pub count: u64,
}

/// A node of the catalogue tree.
pub struct Category(pub domain::Category);

impl Category {
    /// The category `id` names, if any.
    fn of(id: Option<&domain::CategoryId>) -> Option<Category> {
        id.and_then(domain::category).map(Category)
    }

    /// The children of `parent`, or the top-level categories, in catalogue order.
    pub(super) fn children_of(parent: Option<&domain::CategoryId>) -> Vec<Category> {
        domain::categories()
            .into_iter()
            .filter(|c| c.parent_id.as_ref() == parent)
            .map(Category)
            .collect()
    }
}

#[Object]
impl Category {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        self.0.name
    }
    async fn parent(&self) -> Option<Category> {
        Category::of(self.0.parent_id.as_ref())
    }
    async fn children(&self) -> Vec<Category> {
        Category::children_of(Some(&self.0.id))
    }
}

/// The commercial side of a listing post.
pub struct Listing(domain::Listing);

#[Object]
impl Listing {
    async fn price(&self) -> Money {
        self.0.price.into()
    }
    async fn stock(&self) -> i64 {
        self.0.stock
    }
    async fn status(&self) -> ListingStatus {
        self.0.status.into()
    }
    async fn category(&self) -> Option<Category> {
        Category::of(self.0.category_id.as_ref())
    }
    /// Specifications ("the info field"), in the seller's order.
    async fn attributes(&self) -> Vec<Attribute> {
        self.0
            .attributes
            .iter()
            .map(|a| Attribute {
                key: a.key.clone(),
                value: a.value.clone(),
            })
            .collect()
    }
}

/// A social post or a listing.
pub struct Post(pub domain::Post);

impl Post {
    /// What a relation to a post shows: the post `id` names, through the request's loader;
    /// `None` without an id, and once the post is deleted.
    pub(crate) async fn load_live(
        ctx: &Context<'_>,
        id: Option<&domain::PostId>,
    ) -> Result<Option<Post>> {
        let post = ctx.loaders().posts.load_opt(id).await?;
        Ok(post.filter(|p| p.deleted_at.is_none()).map(Post))
    }
}

#[Object]
impl Post {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> PostKind {
        self.0.kind.into()
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<User> {
        let user = ctx
            .loaders()
            .users
            .load_one(self.0.author_id.clone())
            .await?;
        user.map(User::new)
            .ok_or_else(|| crate::error::AppError::NotFound("user").into())
    }
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn media(&self) -> Vec<Media> {
        self.0
            .media
            .iter()
            .map(|url| Media { url: url.clone() })
            .collect()
    }
    /// Hashtags from the body, lower-cased, without `#`.
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    /// Users mentioned with `@username` when the post was written.
    async fn mentions(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let found = ctx.loaders().users.load_in_order(&self.0.mentions).await?;
        Ok(found
            .into_iter()
            .filter(|u| u.active)
            .map(User::new)
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.0.edited_at
    }
    /// Present when `kind` is `LISTING`.
    async fn listing(&self) -> Option<Listing> {
        self.0.listing.clone().map(Listing)
    }
    /// Average, count and histogram of the listing's reviews; `null` for text posts.
    async fn rating(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::reviews::RatingSummary>> {
        crate::graphql::reviews::post_rating(ctx, &self.0).await
    }
    /// The listing's reviews, newest first, optionally of one rating.
    async fn reviews(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        rating: Option<i32>,
    ) -> Result<crate::graphql::reviews::ReviewConnection> {
        let rating = rating
            .map(|r| domain::Rating::parse("rating", i64::from(r)))
            .transpose()
            .map_err(crate::error::AppError::from)?;
        let query = crate::store::ReviewQuery {
            rating,
            post_id: Some(self.0.id.clone()),
            author_id: None,
        };
        crate::graphql::reviews::review_connection(ctx, query, first, after).await
    }
    /// Top-level comments, oldest first; `totalCount` counts every comment on the post,
    /// replies included.
    async fn comments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CommentConnection> {
        comments_of_post(ctx, &self.0, first, after).await
    }
    async fn comments_count(&self) -> i64 {
        self.0.counts.comments
    }
    /// Counts per kind, most used first; kinds nobody used are left out.
    async fn reaction_counts(&self) -> Vec<ReactionCount> {
        let mut counts: Vec<ReactionCount> = DomainReaction::ALL
            .into_iter()
            .filter(|k| self.0.counts.reactions[k.index()] > 0)
            .map(|k| ReactionCount {
                kind: k.into(),
                count: self.0.counts.reactions[k.index()],
            })
            .collect();
        counts.sort_by_key(|c| std::cmp::Reverse(c.count));
        counts
    }
    /// The viewer's reaction; `null` when none or anonymous.
    async fn viewer_reaction(&self, ctx: &Context<'_>) -> Result<Option<ReactionKind>> {
        let Some(loader) = &ctx.loaders().viewer_reactions else {
            return Ok(None);
        };
        Ok(loader.load_one(self.0.id.clone()).await?.map(Into::into))
    }
    async fn viewer_favorited(&self, ctx: &Context<'_>) -> Result<bool> {
        viewer_relation(ctx.loaders().viewer_favorites.as_ref(), &self.0.id).await
    }
    async fn favorites_count(&self) -> i64 {
        self.0.counts.favorites
    }
}
