//! The social graph's use cases: following and blocking, the followers and following lists,
//! and the viewer's graph that other services (feeds, search, comments) filter by.
//!
//! Owns the rules: nobody follows or blocks themself, hidden (unknown or deactivated) accounts
//! are not found, a blocked pair cannot follow each other, and following and blocking are
//! rate-limited per user (each toggle's two directions on one counter). It must not filter content
//! itself: the areas that show content ask [`SocialService::graph`] or
//! [`SocialService::block_partners`].

use std::fmt;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::{Action, RateLimiter, Viewer};
use crate::clock::now;
use crate::domain::{User, UserId};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::social::follow_position;
use crate::store::{FollowEdge, Page, PageRequest, SocialStore, UserStore, ViewerGraph};

/// The viewer's corner of the social graph, loaded at most once per request: one round trip
/// shared by everything the request filters or answers with it (the feed, post and comment
/// lists, `viewerFollows`). It lives on the [`Viewer`], whose clones share it, and each
/// request starts with an empty one ([`Viewer::for_request`]).
#[derive(Clone, Default)]
pub struct GraphCache(Arc<OnceCell<Arc<ViewerGraph>>>);

impl fmt::Debug for GraphCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GraphCache").field(&self.0.get()).finish()
    }
}

/// The `FORBIDDEN` message for following across a block. It does not say who blocked whom:
/// a user is not told that someone blocked them.
const BLOCKED: &str = "you cannot follow this user";

#[derive(Clone)]
pub struct SocialService {
    store: Arc<dyn SocialStore>,
    users: Arc<dyn UserStore>,
    rate_limits: RateLimiter,
    events: EventBus,
}

impl SocialService {
    pub fn new(
        store: Arc<dyn SocialStore>,
        users: Arc<dyn UserStore>,
        rate_limits: RateLimiter,
        events: EventBus,
    ) -> Self {
        Self {
            store,
            users,
            rate_limits,
            events,
        }
    }

    /// Makes the viewer follow `user_id` and returns that user with current counts.
    /// Idempotent: following again changes nothing and publishes nothing. `FORBIDDEN` when
    /// either has blocked the other.
    pub async fn follow(&self, viewer: &Viewer, user_id: &UserId) -> AppResult<User> {
        let follow = async {
            if self
                .store
                .is_blocked_either_way(viewer.id(), user_id)
                .await?
            {
                return Err(AppError::Forbidden(BLOCKED));
            }
            if self.store.follow(viewer.id(), user_id, now()).await? {
                let (follower, followee) = (viewer.id().clone(), user_id.clone());
                return Ok(Some(DomainEvent::Followed { follower, followee }));
            }
            // The store refuses a blocked pair atomically; a block that landed after the
            // check above is why nothing was created.
            if self
                .store
                .is_blocked_either_way(viewer.id(), user_id)
                .await?
            {
                return Err(AppError::Forbidden(BLOCKED));
            }
            Ok(None)
        };
        let change = (Action::Follow, "you cannot follow yourself");
        self.change(viewer, user_id, change, follow).await
    }

    /// Stops the viewer following `user_id`; idempotent.
    pub async fn unfollow(&self, viewer: &Viewer, user_id: &UserId) -> AppResult<User> {
        let unfollow = async {
            let removed = self.store.unfollow(viewer.id(), user_id).await?;
            let (follower, followee) = (viewer.id().clone(), user_id.clone());
            Ok(removed.then_some(DomainEvent::Unfollowed { follower, followee }))
        };
        let change = (Action::Follow, "you cannot unfollow yourself");
        self.change(viewer, user_id, change, unfollow).await
    }

    /// Blocks `user_id`: removes follows both ways and keeps them from following each other
    /// until the viewer unblocks. Idempotent.
    pub async fn block(&self, viewer: &Viewer, user_id: &UserId) -> AppResult<User> {
        let block = async {
            let created = self.store.block(viewer.id(), user_id, now()).await?;
            let (blocker, blocked) = (viewer.id().clone(), user_id.clone());
            Ok(created.then_some(DomainEvent::Blocked { blocker, blocked }))
        };
        let change = (Action::Block, "you cannot block yourself");
        self.change(viewer, user_id, change, block).await
    }

    /// Lifts the viewer's block of `user_id` (a block by the other side stays). Follows
    /// removed by the block do not come back. Idempotent.
    pub async fn unblock(&self, viewer: &Viewer, user_id: &UserId) -> AppResult<User> {
        let unblock = async {
            self.store.unblock(viewer.id(), user_id).await?;
            Ok(None)
        };
        let change = (Action::Block, "you cannot unblock yourself");
        self.change(viewer, user_id, change, unblock).await
    }

    /// What every graph mutation shares around its `write`: the rate limit on `action` (a
    /// toggle's two directions count on one), not yourself (`BAD_USER_INPUT` on `userId`,
    /// with `self_message`), only a visible account (`NOT_FOUND`, so deactivated accounts
    /// stay as hidden as they are everywhere else), the event `write` reports, and the
    /// target as stored after it, so a mutation returns the counts it just changed.
    async fn change(
        &self,
        viewer: &Viewer,
        user_id: &UserId,
        (action, self_message): (Action, &str),
        write: impl Future<Output = AppResult<Option<DomainEvent>>>,
    ) -> AppResult<User> {
        self.rate_limits.check(action, viewer.id().as_str()).await?;
        if user_id == viewer.id() {
            return Err(AppError::bad_input("userId", self_message));
        }
        self.current(user_id).await?;
        if let Some(event) = write.await? {
            self.events.publish(event).await;
        }
        self.current(user_id).await
    }

    /// The viewer's followees and block partners: empty for an anonymous viewer, otherwise
    /// read once per request (see [`GraphCache`]).
    pub async fn graph(&self, viewer: Option<&Viewer>) -> AppResult<Arc<ViewerGraph>> {
        let Some(viewer) = viewer else {
            return Ok(Arc::default());
        };
        let graph = viewer
            .graph
            .0
            .get_or_try_init(|| async { self.store.viewer_graph(viewer.id()).await.map(Arc::new) });
        Ok(Arc::clone(graph.await?))
    }

    /// Those of `candidates` whom the viewer follows: from the viewer's graph when this
    /// request has read it already (the feed does), else in one store round trip.
    pub async fn followed_among(
        &self,
        viewer: &Viewer,
        candidates: &[UserId],
    ) -> AppResult<Vec<UserId>> {
        if let Some(graph) = viewer.graph.0.get() {
            return Ok(candidates
                .iter()
                .filter(|c| graph.followees.contains(c))
                .cloned()
                .collect());
        }
        Ok(self.store.followed_among(viewer.id(), candidates).await?)
    }

    /// Those of `candidates` whom the viewer has blocked, in one store round trip.
    pub async fn blocked_among(
        &self,
        viewer: &Viewer,
        candidates: &[UserId],
    ) -> AppResult<Vec<UserId>> {
        Ok(self.store.blocked_among(viewer.id(), candidates).await?)
    }

    /// Whether either of `a` and `b` has blocked the other: neither may then comment on,
    /// react to, favorite or mention the other's content.
    pub async fn is_blocked_either_way(&self, a: &UserId, b: &UserId) -> AppResult<bool> {
        Ok(self.store.is_blocked_either_way(a, b).await?)
    }

    /// Everyone `user` blocked or was blocked by: whose content to leave out of what `user`
    /// sees (feeds, search, comment lists).
    pub async fn block_partners(&self, user: &UserId) -> AppResult<Vec<UserId>> {
        Ok(self.store.block_partners(user).await?)
    }

    /// A page of `user`'s followers, newest first, with each follower as stored. `page.after`
    /// must be a [`FollowEdge`]'s cursor (already decoded from the client's opaque cursor).
    /// Deactivated accounts are left out except for admins, as everywhere else, so a page can
    /// hold fewer edges than asked for; paging stays correct because cursors are keys.
    pub async fn followers(
        &self,
        viewer: Option<&Viewer>,
        user: &UserId,
        page: &PageRequest,
    ) -> AppResult<Page<(FollowEdge, User)>> {
        check_cursor(page)?;
        let edges = self.store.followers(user, page).await?;
        self.with_users(viewer, edges).await
    }

    /// A page of whom `user` follows, newest first; as [`SocialService::followers`].
    pub async fn following(
        &self,
        viewer: Option<&Viewer>,
        user: &UserId,
        page: &PageRequest,
    ) -> AppResult<Page<(FollowEdge, User)>> {
        check_cursor(page)?;
        let edges = self.store.following(user, page).await?;
        self.with_users(viewer, edges).await
    }

    /// The users of a page of edges, in one store call, those the viewer may see.
    async fn with_users(
        &self,
        viewer: Option<&Viewer>,
        edges: Page<FollowEdge>,
    ) -> AppResult<Page<(FollowEdge, User)>> {
        let ids: Vec<UserId> = edges.items.iter().map(|e| e.user_id.clone()).collect();
        let mut users = self.users.get_many_users(&ids).await?;
        let items = edges
            .items
            .into_iter()
            .filter_map(|edge| {
                let at = users.iter().position(|u| u.id == edge.user_id)?;
                let user = users.swap_remove(at);
                super::visible_to(viewer, &user).then_some((edge, user))
            })
            .collect();
        Ok(Page {
            items,
            has_next: edges.has_next,
        })
    }

    /// The user as stored now, if the account is visible.
    async fn current(&self, user_id: &UserId) -> AppResult<User> {
        self.users
            .get_user(user_id)
            .await?
            .filter(|user| user.active)
            .ok_or(AppError::NotFound("user"))
    }
}

/// A cursor from another list (or forged) is the client's mistake, not a storage failure.
fn check_cursor(page: &PageRequest) -> AppResult<()> {
    match page.after.as_deref() {
        Some(key) if follow_position(key).is_none() => {
            Err(AppError::bad_input("after", "is not a valid cursor"))
        }
        _ => Ok(()),
    }
}
