//! Posts and listings: publishing, editing, deleting, the feed, search and tags.
//!
//! Rules owned here: only sellers publish listings; only the author (or an admin) edits or
//! deletes; drafts are visible to their author (and admins) only; a blocked pair never sees
//! each other's posts and cannot mention each other.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::Viewer;
use super::{Action, RateLimiter, UserService};
use crate::clock::now;
use crate::domain::{
    Attribute, CategoryId, Listing, ListingStatus, Money, Post, PostBody, PostCounts, PostId,
    PostKind, Role, UserId, category,
};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{
    ListingPatch, Page, PageRequest, PostOrder, PostPatch, PostQuery, PostStore, SocialStore,
    ViewerGraph,
};

/// A listing as a seller describes it.
#[derive(Debug, Clone)]
pub struct ListingDraft {
    pub price: Money,
    pub stock: i64,
    pub category_id: Option<CategoryId>,
    pub status: ListingStatus,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone)]
pub struct CreatePostCommand {
    pub kind: PostKind,
    pub title: Option<String>,
    pub body: PostBody,
    pub media: Vec<String>,
    pub listing: Option<ListingDraft>,
}

#[derive(Debug, Clone, Default)]
pub struct UpdatePostCommand {
    pub title: Option<Option<String>>,
    pub body: Option<PostBody>,
    pub media: Option<Vec<String>>,
    pub listing: Option<ListingPatch>,
}

/// Filters as a client asks for them, before blocks and drafts are applied.
#[derive(Debug, Clone, Default)]
pub struct PostFilter {
    pub query: PostQuery,
    /// One category; expanded to its subtree.
    pub category_id: Option<CategoryId>,
}

#[derive(Clone)]
pub struct PostService {
    posts: Arc<dyn PostStore>,
    social: Arc<dyn SocialStore>,
    users: UserService,
    rate_limits: RateLimiter,
    events: EventBus,
}

impl PostService {
    pub fn new(
        posts: Arc<dyn PostStore>,
        social: Arc<dyn SocialStore>,
        users: UserService,
        rate_limits: RateLimiter,
        events: EventBus,
    ) -> Self {
        Self {
            posts,
            social,
            users,
            rate_limits,
            events,
        }
    }

    pub async fn create_post(&self, viewer: &Viewer, cmd: CreatePostCommand) -> AppResult<Post> {
        self.rate_limits
            .check(Action::CreatePost, viewer.id().as_str())
            .await?;
        let listing = match (cmd.kind, cmd.listing) {
            (PostKind::Text, None) => None,
            (PostKind::Text, Some(_)) => {
                return Err(AppError::bad_input(
                    "input.listing",
                    "is only for posts of kind LISTING",
                ));
            }
            (PostKind::Listing, None) => {
                return Err(AppError::bad_input(
                    "input.listing",
                    "is required for a LISTING",
                ));
            }
            (PostKind::Listing, Some(draft)) => {
                if !viewer.user.has_role(Role::Seller) && !viewer.is_admin() {
                    return Err(AppError::Forbidden("only sellers may publish listings"));
                }
                self.users.require_verified_seller(viewer)?;
                if cmd.title.is_none() {
                    return Err(AppError::bad_input(
                        "input.title",
                        "is required for a LISTING",
                    ));
                }
                check_category(draft.category_id.as_ref())?;
                Some(Listing {
                    status: draft.status.settle(draft.stock),
                    price: draft.price,
                    stock: draft.stock,
                    category_id: draft.category_id,
                    attributes: draft.attributes,
                })
            }
        };
        let mentions = self
            .resolve_mentions(viewer, &cmd.body.mentioned_usernames)
            .await?;
        let post = Post {
            id: PostId::generate(),
            author_id: viewer.id().clone(),
            kind: cmd.kind,
            title: cmd.title,
            body: cmd.body.text,
            media: cmd.media,
            tags: cmd.body.tags,
            mentions,
            listing,
            counts: PostCounts::default(),
            created_at: now(),
            edited_at: None,
            deleted_at: None,
        };
        self.posts.create_post(&post).await?;
        self.events
            .publish(DomainEvent::PostCreated(post.clone()))
            .await;
        Ok(post)
    }

    /// Mentioned usernames that exist, are active, are not the author and are not in a block
    /// with the author; unknown handles are simply plain text.
    async fn resolve_mentions(
        &self,
        viewer: &Viewer,
        usernames: &[String],
    ) -> AppResult<Vec<UserId>> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let blocked = self.social.block_partners(viewer.id()).await?;
        let found = self.users.find_users_by_usernames(usernames).await?;
        // In the order the body mentions them.
        Ok(usernames
            .iter()
            .filter_map(|name| found.iter().find(|u| u.username.as_str() == name))
            .filter(|u| u.active && &u.id != viewer.id() && !blocked.contains(&u.id))
            .map(|u| u.id.clone())
            .collect())
    }

    pub async fn update_post(
        &self,
        viewer: &Viewer,
        id: &PostId,
        cmd: UpdatePostCommand,
    ) -> AppResult<Post> {
        let post = self.editable(viewer, id).await?;
        if cmd.listing.is_some() && post.listing.is_none() {
            return Err(AppError::bad_input(
                "input.listing",
                "is only for posts of kind LISTING",
            ));
        }
        if let Some(listing) = &cmd.listing
            && let Some(category) = &listing.category_id
        {
            check_category(category.as_ref())?;
        }
        if post.listing.is_some() && cmd.title == Some(None) {
            return Err(AppError::bad_input(
                "input.title",
                "a LISTING needs a title",
            ));
        }
        let body = match cmd.body {
            Some(body) => {
                let mentions = self
                    .resolve_mentions(viewer, &body.mentioned_usernames)
                    .await?;
                Some((body.text, body.tags, mentions))
            }
            None => None,
        };
        let patch = PostPatch {
            title: cmd.title,
            body,
            media: cmd.media,
            listing: cmd.listing,
        };
        let updated = self
            .posts
            .update_post(id, &patch, now())
            .await?
            .ok_or(AppError::NotFound("post"))?;
        self.events
            .publish(DomainEvent::PostUpdated(updated.clone()))
            .await;
        Ok(updated)
    }

    pub async fn delete_post(&self, viewer: &Viewer, id: &PostId) -> AppResult<bool> {
        self.editable(viewer, id).await?;
        if !self.posts.delete_post(id, now()).await? {
            return Err(AppError::NotFound("post"));
        }
        self.events
            .publish(DomainEvent::PostDeleted {
                post_id: id.clone(),
            })
            .await;
        Ok(true)
    }

    /// The post when the viewer may change it; someone else's post is `FORBIDDEN`, a post the
    /// viewer cannot see is `NOT_FOUND`.
    async fn editable(&self, viewer: &Viewer, id: &PostId) -> AppResult<Post> {
        let post = self
            .get_post(Some(viewer), id)
            .await?
            .ok_or(AppError::NotFound("post"))?;
        if &post.author_id != viewer.id() && !viewer.is_admin() {
            return Err(AppError::Forbidden(
                "only the author or an admin may change this post",
            ));
        }
        Ok(post)
    }

    /// A post the viewer may see: not deleted, not someone else's draft, not in a block.
    pub async fn get_post(&self, viewer: Option<&Viewer>, id: &PostId) -> AppResult<Option<Post>> {
        let Some(post) = self.posts.get_post(id).await? else {
            return Ok(None);
        };
        if !draft_visible(viewer, &post) {
            return Ok(None);
        }
        if let Some(viewer) = viewer
            && self
                .social
                .is_blocked_either_way(viewer.id(), &post.author_id)
                .await?
        {
            return Ok(None);
        }
        Ok(Some(post))
    }

    /// Whether `viewer` may see `post` as it is now, blocks aside (checked once where a
    /// subscription starts): not deleted, not someone else's draft.
    pub fn visible_now(viewer: Option<&Viewer>, post: &Post) -> bool {
        post.deleted_at.is_none() && draft_visible(viewer, post)
    }

    /// Posts by id for loaders: what exists and is not someone else's draft. Blocks are
    /// applied by the lists that produce the ids.
    pub async fn get_many_posts(
        &self,
        viewer: Option<&Viewer>,
        ids: &[PostId],
    ) -> AppResult<Vec<Post>> {
        let posts = self.posts.get_many_posts(ids).await?;
        Ok(posts
            .into_iter()
            .filter(|p| draft_visible(viewer, p))
            .collect())
    }

    /// The people the viewer follows plus the viewer, newest first, without blocked
    /// authors; also the query that counts the whole feed. `graph` is the viewer's.
    pub async fn feed(
        &self,
        viewer: &Viewer,
        graph: &ViewerGraph,
        page: &PageRequest,
    ) -> AppResult<(Page<Post>, PostQuery)> {
        let mut authors = graph.followees.clone();
        authors.push(viewer.id().clone());
        let blocked = graph.block_partners.clone();
        let page = self.posts.feed(&authors, &blocked, page).await?;
        let query = PostQuery {
            authors,
            exclude_authors: blocked,
            ..PostQuery::default()
        };
        Ok((page, query))
    }

    /// Applies the viewer's blocks (`blocked`: their block partners) and draft visibility to
    /// a client's filter.
    pub fn query_for(
        &self,
        viewer: Option<&Viewer>,
        blocked: &[UserId],
        filter: PostFilter,
    ) -> AppResult<PostQuery> {
        let mut query = filter.query;
        if let Some(category_id) = &filter.category_id {
            check_category(Some(category_id))?;
            query.category_ids = crate::domain::with_descendants(category_id);
        }
        query.exclude_authors = blocked.to_vec();
        if let Some(viewer) = viewer
            && (query.author_id.as_ref() == Some(viewer.id()) || viewer.is_admin())
        {
            query.drafts_of = query.author_id.clone();
        }
        Ok(query)
    }

    pub async fn search_posts(
        &self,
        query: &PostQuery,
        order: PostOrder,
        page: &PageRequest,
    ) -> AppResult<Page<Post>> {
        Ok(self.posts.search_posts(query, order, page).await?)
    }

    pub async fn count_posts(&self, query: &PostQuery) -> AppResult<u64> {
        Ok(self.posts.count_posts(query).await?)
    }

    /// The most used tags of the last 24 hours.
    pub async fn trending_tags(&self, limit: usize) -> AppResult<Vec<(String, u64)>> {
        let since: DateTime<Utc> = now() - Duration::hours(24);
        Ok(self.posts.trending_tags(since, limit).await?)
    }
}

fn draft_visible(viewer: Option<&Viewer>, post: &Post) -> bool {
    let draft = post
        .listing
        .as_ref()
        .is_some_and(|l| l.status == ListingStatus::Draft);
    !draft || viewer.is_some_and(|v| v.id() == &post.author_id || v.is_admin())
}

fn check_category(id: Option<&CategoryId>) -> AppResult<()> {
    match id {
        Some(id) if category(id).is_none() => {
            Err(AppError::bad_input("categoryId", "is not a known category"))
        }
        _ => Ok(()),
    }
}
