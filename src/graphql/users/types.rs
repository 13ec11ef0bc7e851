//! Output types of the users area.

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::UserConnection;
use crate::domain;
use crate::graphql::ContextExt;
use crate::graphql::social::{FollowList, follow_connection, viewer_relation};
use crate::graphql::wallet::{Address, PaymentCard};
use crate::service::sees_private_fields;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Buyer,
    Seller,
    Admin,
}

impl From<domain::Role> for Role {
    fn from(role: domain::Role) -> Self {
        match role {
            domain::Role::Buyer => Role::Buyer,
            domain::Role::Seller => Role::Seller,
            domain::Role::Admin => Role::Admin,
        }
    }
}

impl From<Role> for domain::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Buyer => domain::Role::Buyer,
            Role::Seller => domain::Role::Seller,
            Role::Admin => domain::Role::Admin,
        }
    }
}

/// A person on the marketplace.
pub struct User(pub domain::User, Audience);

/// Who is looking at a user: decides the private fields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// Whoever the request's viewer is.
    RequestViewer,
    /// The user themself, even when the request has no viewer yet (the user in the payload
    /// of `register` or `login`).
    Owner,
}

impl User {
    pub fn new(user: domain::User) -> Self {
        Self(user, Audience::RequestViewer)
    }

    /// The user as seen by themself: for payloads that authenticate the caller.
    pub fn owned(user: domain::User) -> Self {
        Self(user, Audience::Owner)
    }

    /// Private fields are visible to the user themself and to admins.
    fn private_to_viewer(&self, ctx: &Context<'_>) -> bool {
        self.1 == Audience::Owner || sees_private_fields(ctx.viewer(), &self.0)
    }

    fn is_viewer(&self, ctx: &Context<'_>) -> bool {
        self.1 == Audience::Owner || ctx.viewer().is_some_and(|v| v.id() == &self.0.id)
    }
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn username(&self) -> &str {
        self.0.username.as_str()
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    async fn bio(&self) -> Option<&str> {
        self.0.bio.as_deref()
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.0.avatar_url.as_deref()
    }

    async fn roles(&self) -> Vec<Role> {
        self.0.roles.iter().copied().map(Role::from).collect()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Only for the user themself and admins; `null` for everyone else.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        self.private_to_viewer(ctx).then(|| self.0.email.as_str())
    }

    /// Only for the user themself and admins.
    async fn email_verified(&self, ctx: &Context<'_>) -> Option<bool> {
        self.private_to_viewer(ctx).then_some(self.0.email_verified)
    }

    /// Only for the user themself and admins.
    async fn phone(&self, ctx: &Context<'_>) -> Option<&str> {
        if self.private_to_viewer(ctx) {
            self.0.phone.as_deref()
        } else {
            None
        }
    }

    /// Whether the account may log in. Only for the user themself and admins.
    async fn active(&self, ctx: &Context<'_>) -> Option<bool> {
        self.private_to_viewer(ctx).then_some(self.0.active)
    }

    /// Saved shipping addresses, oldest first. Only for the user themself.
    async fn addresses(&self, ctx: &Context<'_>) -> Result<Option<Vec<Address>>> {
        if !self.is_viewer(ctx) {
            return Ok(None);
        }
        let addresses = ctx.services().wallet.list_addresses(&self.0.id).await?;
        Ok(Some(addresses.into_iter().map(Address).collect()))
    }

    /// Saved payment cards, oldest first. Only for the user themself.
    async fn payment_cards(&self, ctx: &Context<'_>) -> Result<Option<Vec<PaymentCard>>> {
        if !self.is_viewer(ctx) {
            return Ok(None);
        }
        let cards = ctx.services().wallet.list_cards(&self.0.id).await?;
        Ok(Some(cards.into_iter().map(PaymentCard).collect()))
    }

    /// How many users follow this user.
    async fn followers_count(&self) -> u64 {
        self.0.followers_count
    }

    /// How many users this user follows.
    async fn following_count(&self) -> u64 {
        self.0.following_count
    }

    /// Whether the viewer follows this user; `false` for anonymous viewers.
    async fn viewer_follows(&self, ctx: &Context<'_>) -> Result<bool> {
        viewer_relation(ctx.loaders().viewer_follows.as_ref(), &self.0.id).await
    }

    /// Whether the viewer has blocked this user; `false` for anonymous viewers. Only the
    /// viewer's own blocks count: a block by this user is not reported here.
    async fn is_blocked_by_viewer(&self, ctx: &Context<'_>) -> Result<bool> {
        viewer_relation(ctx.loaders().viewer_blocked.as_ref(), &self.0.id).await
    }

    /// The rating over reviews of this user's listings; `null` when none was reviewed.
    /// `verifiedAverage` counts only verified purchases and is the one to show as the
    /// seller's rating; `average` includes reviews by anyone.
    async fn seller_rating(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::reviews::RatingSummary>> {
        crate::graphql::reviews::seller_rating(ctx, &self.0.id).await
    }

    /// This user's posts and listings, newest first (drafts only for the user themself).
    async fn posts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<crate::graphql::posts::PostConnection> {
        crate::graphql::posts::posts_by(ctx, &self.0.id, first, after).await
    }

    /// Who follows this user, most recent first; `totalCount` is `followersCount`.
    async fn followers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        follow_connection(ctx, &self.0, FollowList::Followers, first, after).await
    }

    /// Whom this user follows, most recently followed first; `totalCount` is
    /// `followingCount`.
    async fn following(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        follow_connection(ctx, &self.0, FollowList::Following, first, after).await
    }
}
