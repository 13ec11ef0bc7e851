//! The social graph over GraphQL: the follow and block mutations, and the helpers behind the
//! graph fields of `User` (`viewerFollows`, `isBlockedByViewer`, `followers`, `following`).
//!
//! Thin like every resolver here: read the viewer, call `SocialService`, convert. Per-user
//! answers of a whole level go through the request's loaders.

use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Object, Result};

use super::ContextExt;
use super::batch::Batcher;
use super::connection::{connection_of, page_request};
use super::loaders::LoadError;
use super::users::{User, UserConnection, UsersTotal};
use crate::domain::{self, UserId};
use crate::error::AppError;
use crate::graphql::parse_id;

#[derive(Default)]
pub struct SocialMutation;

/// The target of a graph mutation. Checked after authentication, so an anonymous caller is
/// told `UNAUTHENTICATED` whatever the id.
fn target(user_id: &ID) -> Result<UserId, AppError> {
    parse_id("userId", user_id)
}

#[Object]
impl SocialMutation {
    /// Follows a user and returns them with current counts. Following someone you already
    /// follow changes nothing. Yourself is `BAD_USER_INPUT`; a hidden or unknown user
    /// `NOT_FOUND`; a user you blocked or who blocked you `FORBIDDEN`.
    async fn follow(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let (viewer, social) = (ctx.require_viewer()?, &ctx.services().social);
        Ok(User::new(social.follow(viewer, &target(&user_id)?).await?))
    }

    /// Stops following a user and returns them with current counts. Idempotent.
    async fn unfollow(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let (viewer, social) = (ctx.require_viewer()?, &ctx.services().social);
        Ok(User::new(
            social.unfollow(viewer, &target(&user_id)?).await?,
        ))
    }

    /// Blocks a user: follows between you end in both directions, and neither of you can
    /// follow the other while the block stands. Idempotent.
    async fn block(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let (viewer, social) = (ctx.require_viewer()?, &ctx.services().social);
        Ok(User::new(social.block(viewer, &target(&user_id)?).await?))
    }

    /// Lifts your block of a user. Follows ended by the block stay ended. Idempotent.
    async fn unblock(&self, ctx: &Context<'_>, user_id: ID) -> Result<User> {
        let (viewer, social) = (ctx.require_viewer()?, &ctx.services().social);
        Ok(User::new(social.unblock(viewer, &target(&user_id)?).await?))
    }
}

/// Asks a viewer-relative loader about `key`; `false` without a store call when the request
/// is anonymous (the loader is then absent).
pub(super) async fn viewer_relation<K, L>(loader: Option<&Batcher<K, L>>, key: &K) -> Result<bool>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    L: Loader<K, Value = bool, Error = LoadError>,
{
    match loader {
        Some(loader) => Ok(loader.load_one(key.clone()).await?.unwrap_or(false)),
        None => Ok(false),
    }
}

/// Which list of a user's edges.
#[derive(Clone, Copy)]
pub(super) enum FollowList {
    Followers,
    Following,
}

/// `User.followers` / `User.following`: a page of edges with the users the viewer may see
/// (so a page can hold fewer edges than asked for). `totalCount` is the user's denormalised
/// count.
pub(super) async fn follow_connection(
    ctx: &Context<'_>,
    user: &domain::User,
    list: FollowList,
    first: Option<i32>,
    after: Option<String>,
) -> Result<UserConnection> {
    let page = page_request(first, after)?;
    let social = &ctx.services().social;
    let (edges, total) = match list {
        FollowList::Followers => (
            social.followers(ctx.viewer(), &user.id, &page).await?,
            user.followers_count,
        ),
        FollowList::Following => (
            social.following(ctx.viewer(), &user.id, &page).await?,
            user.following_count,
        ),
    };
    let total = UsersTotal::Known(total);
    Ok(connection_of(&page, edges, total, |(_, node)| {
        User::new(node)
    }))
}
