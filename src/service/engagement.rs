//! Comments, reactions and favorites on posts.
//!
//! Rules owned here: you can only engage with posts you can see; a blocked pair cannot
//! comment on, react to or favorite each other's posts, nor reply to each other; comments
//! are deleted by their author, the post's author or an admin. Comments, reactions and
//! favorites are rate-limited per user (a toggle's two directions on one counter).

use std::sync::Arc;

use super::posts::PostService;
use super::{Action, RateLimiter, SocialService, Viewer};
use crate::clock::now;
use crate::domain::{Comment, CommentId, Post, PostId, ReactionKind};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{EngagementStore, Favorite, Page, PageRequest, StoreResult};

#[derive(Clone)]
pub struct EngagementService {
    engagement: Arc<dyn EngagementStore>,
    social: SocialService,
    posts: PostService,
    rate_limits: RateLimiter,
    events: EventBus,
}

const BLOCKED: &str = "you cannot interact with this user";

impl EngagementService {
    pub fn new(
        engagement: Arc<dyn EngagementStore>,
        social: SocialService,
        posts: PostService,
        rate_limits: RateLimiter,
        events: EventBus,
    ) -> Self {
        Self {
            engagement,
            social,
            posts,
            rate_limits,
            events,
        }
    }

    /// The post, when the viewer can see it (blocked pairs cannot: `NOT_FOUND`).
    async fn visible_post(&self, viewer: &Viewer, post_id: &PostId) -> AppResult<Post> {
        self.posts
            .get_post(Some(viewer), post_id)
            .await?
            .ok_or(AppError::NotFound("post"))
    }

    pub async fn add_comment(
        &self,
        viewer: &Viewer,
        post_id: &PostId,
        body: String,
        parent_id: Option<&CommentId>,
    ) -> AppResult<Comment> {
        self.rate_limits
            .check(Action::Comment, viewer.id().as_str())
            .await?;
        let post = self.visible_post(viewer, post_id).await?;
        let parent = match parent_id {
            Some(parent_id) => {
                let parent = self
                    .engagement
                    .get_many_comments(std::slice::from_ref(parent_id))
                    .await?
                    .into_iter()
                    .find(|c| &c.post_id == post_id && c.deleted_at.is_none())
                    .ok_or_else(|| {
                        AppError::bad_input("parentId", "is not a comment of this post")
                    })?;
                if self
                    .social
                    .is_blocked_either_way(viewer.id(), &parent.author_id)
                    .await?
                {
                    return Err(AppError::Forbidden(BLOCKED));
                }
                Some(parent)
            }
            None => None,
        };
        let comment = Comment {
            id: CommentId::generate(),
            post_id: post.id.clone(),
            author_id: viewer.id().clone(),
            parent_id: parent.as_ref().map(|p| p.id.clone()),
            body,
            replies_count: 0,
            created_at: now(),
            deleted_at: None,
        };
        self.engagement.add_comment(&comment).await?;
        self.events
            .publish(DomainEvent::CommentAdded {
                comment: comment.clone(),
                post_author: post.author_id.clone(),
                parent_author: parent.map(|p| p.author_id),
            })
            .await;
        self.announce_counts(viewer, &comment.post_id).await;
        Ok(comment)
    }

    /// Publishes the post, read after a write that changed its comment count, so
    /// `postUpdated` subscribers see the new count (one read per write, shared by every
    /// subscriber, instead of one per subscriber). The write has committed: a failed read
    /// only costs subscribers this update, never the caller's answer.
    async fn announce_counts(&self, viewer: &Viewer, post_id: &PostId) {
        match self.posts.get_post(Some(viewer), post_id).await {
            Ok(Some(post)) => self.events.publish(DomainEvent::PostUpdated(post)).await,
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = ?err, %post_id, "cannot announce a post's new counts")
            }
        }
    }

    pub async fn delete_comment(&self, viewer: &Viewer, id: &CommentId) -> AppResult<bool> {
        let comment = self
            .engagement
            .get_many_comments(std::slice::from_ref(id))
            .await?
            .into_iter()
            .find(|c| c.deleted_at.is_none())
            .ok_or(AppError::NotFound("comment"))?;
        let post_author = self
            .posts
            .get_post(Some(viewer), &comment.post_id)
            .await?
            .map(|p| p.author_id);
        let allowed = &comment.author_id == viewer.id()
            || post_author.as_ref() == Some(viewer.id())
            || viewer.is_admin();
        if !allowed {
            return Err(AppError::Forbidden(
                "only the comment's author, the post's author or an admin may delete it",
            ));
        }
        self.engagement
            .delete_comment(id, now())
            .await?
            .ok_or(AppError::NotFound("comment"))?;
        self.announce_counts(viewer, &comment.post_id).await;
        Ok(true)
    }

    pub async fn get_many_comments(&self, ids: &[CommentId]) -> AppResult<Vec<Comment>> {
        Ok(self.engagement.get_many_comments(ids).await?)
    }

    /// Comments under a post or a comment, oldest first, without the viewer's block
    /// partners'.
    pub async fn comments(
        &self,
        viewer: Option<&Viewer>,
        post_id: &PostId,
        parent: Option<&CommentId>,
        page: &PageRequest,
    ) -> AppResult<Page<Comment>> {
        let graph = self.social.graph(viewer).await?;
        let blocked = &graph.block_partners;
        Ok(self
            .engagement
            .comments(post_id, parent, blocked, page)
            .await?)
    }

    /// The first top-level comments of many posts in one batch, as [`Self::comments`].
    pub async fn first_comments(
        &self,
        viewer: Option<&Viewer>,
        post_ids: &[PostId],
        per_post: usize,
    ) -> AppResult<Vec<(PostId, Page<Comment>)>> {
        let graph = self.social.graph(viewer).await?;
        let blocked = &graph.block_partners;
        Ok(self
            .engagement
            .first_comments(post_ids, per_post, blocked)
            .await?)
    }

    /// Sets the viewer's reaction and returns the post with fresh counts.
    pub async fn react(
        &self,
        viewer: &Viewer,
        post_id: &PostId,
        kind: ReactionKind,
    ) -> AppResult<Post> {
        let react = async {
            self.engagement
                .react(post_id, viewer.id(), kind, now())
                .await
        };
        let (post, previous) = self
            .on_visible_post(viewer, post_id, Action::Reaction, react)
            .await?;
        if previous != Some(kind) {
            let user_id = viewer.id().clone();
            let reacted = DomainEvent::Reacted {
                post: post.clone(),
                user_id,
                kind,
            };
            self.events.publish(reacted).await;
        }
        Ok(post)
    }

    pub async fn unreact(&self, viewer: &Viewer, post_id: &PostId) -> AppResult<Post> {
        let unreact = async { self.engagement.unreact(post_id, viewer.id()).await };
        let changed = self.on_visible_post(viewer, post_id, Action::Reaction, unreact);
        Ok(changed.await?.0)
    }

    pub async fn add_favorite(&self, viewer: &Viewer, post_id: &PostId) -> AppResult<Post> {
        let add = async {
            self.engagement
                .add_favorite(post_id, viewer.id(), now())
                .await
        };
        let changed = self.on_visible_post(viewer, post_id, Action::Favorite, add);
        Ok(changed.await?.0)
    }

    pub async fn remove_favorite(&self, viewer: &Viewer, post_id: &PostId) -> AppResult<Post> {
        let remove = async { self.engagement.remove_favorite(post_id, viewer.id()).await };
        let changed = self.on_visible_post(viewer, post_id, Action::Favorite, remove);
        Ok(changed.await?.0)
    }

    /// What every reaction and favorite shares around its `write`: the rate limit on
    /// `action` (a toggle's two directions count on one), a post the viewer can see
    /// (`NOT_FOUND` otherwise), and the post read again after, so its counts are current.
    async fn on_visible_post<T>(
        &self,
        viewer: &Viewer,
        post_id: &PostId,
        action: Action,
        write: impl Future<Output = StoreResult<T>>,
    ) -> AppResult<(Post, T)> {
        self.rate_limits.check(action, viewer.id().as_str()).await?;
        let post = self.visible_post(viewer, post_id).await?;
        let written = write.await?;
        Ok((self.fresh(viewer, post).await?, written))
    }

    /// The viewer's favorites, most recent first, each with its post as the viewer may see it
    /// (a favorite whose post went back to draft is left out of the page).
    pub async fn favorites(
        &self,
        viewer: &Viewer,
        page: &PageRequest,
    ) -> AppResult<Page<(Favorite, Post)>> {
        let favorites = self.engagement.favorites(viewer.id(), page).await?;
        let ids: Vec<PostId> = favorites.items.iter().map(|f| f.post_id.clone()).collect();
        let mut posts = self.posts.get_many_posts(Some(viewer), &ids).await?;
        let items = favorites
            .items
            .into_iter()
            .filter_map(|favorite| {
                let at = posts.iter().position(|p| p.id == favorite.post_id)?;
                Some((favorite, posts.swap_remove(at)))
            })
            .collect();
        Ok(Page {
            items,
            has_next: favorites.has_next,
        })
    }

    pub async fn count_favorites(&self, viewer: &Viewer) -> AppResult<u64> {
        Ok(self.engagement.count_favorites(viewer.id()).await?)
    }

    /// The viewer's reactions among `post_ids`.
    pub async fn reactions_of(
        &self,
        viewer: &Viewer,
        post_ids: &[PostId],
    ) -> AppResult<Vec<(PostId, ReactionKind)>> {
        Ok(self.engagement.reactions_of(viewer.id(), post_ids).await?)
    }

    /// Those of `post_ids` the viewer favorited.
    pub async fn favorited_among(
        &self,
        viewer: &Viewer,
        post_ids: &[PostId],
    ) -> AppResult<Vec<PostId>> {
        Ok(self
            .engagement
            .favorited_among(viewer.id(), post_ids)
            .await?)
    }

    /// Re-reads a post after an engagement write so the counts returned are current.
    async fn fresh(&self, viewer: &Viewer, post: Post) -> AppResult<Post> {
        let fresh = self
            .posts
            .get_many_posts(Some(viewer), std::slice::from_ref(&post.id))
            .await?;
        Ok(fresh.into_iter().next().unwrap_or(post))
    }
}
