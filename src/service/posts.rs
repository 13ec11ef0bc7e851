//! Posts and listings: publishing, editing, deleting, the feed, search and tags.
//!
//! Rules owned here: only sellers publish listings; only the author (or an admin) edits or
//! deletes; drafts are visible to their author (and admins) only; a blocked pair never sees
//! each other's posts and cannot mention each other. Every list and count is built here from
//! the viewer and the client's filter ([`PostFilter`]): nothing outside this service hands the
//! store a query, so none can skip those rules.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::Viewer;
use super::{Action, RateLimiter, SocialService, UserService};
use crate::clock::now;
use crate::domain::{
    Attribute, CategoryId, Listing, ListingStatus, Money, Post, PostBody, PostCounts, PostId,
    PostKind, Role, UserId, category,
};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{ListingPatch, Page, PageRequest, PostOrder, PostPatch, PostQuery, PostStore};

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

/// Filters as a client asks for them; every set field narrows the list. The service adds
/// what the viewer may not see (blocks, other people's drafts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostFilter {
    /// Words that must all appear in the title, body or tags.
    pub text: Option<String>,
    pub author_id: Option<UserId>,
    pub kind: Option<PostKind>,
    /// Lower-cased, without `#`.
    pub tag: Option<String>,
    /// One category; expanded to its subtree.
    pub category_id: Option<CategoryId>,
    /// Inclusive bounds on the listing price, in [`crate::domain::Amount`] scaled units.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub status: Option<ListingStatus>,
    /// `Some(true)`: listings with stock; `Some(false)`: listings without.
    pub in_stock: Option<bool>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct PostService {
    posts: Arc<dyn PostStore>,
    social: SocialService,
    users: UserService,
    rate_limits: RateLimiter,
    events: EventBus,
}

impl PostService {
    pub fn new(
        posts: Arc<dyn PostStore>,
        social: SocialService,
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

    /// The people the viewer follows plus the viewer, newest first, without blocked authors.
    pub async fn feed(&self, viewer: &Viewer, page: &PageRequest) -> AppResult<Page<Post>> {
        let query = self.feed_query(viewer).await?;
        Ok(self
            .posts
            .feed(&query.authors, &query.exclude_authors, page)
            .await?)
    }

    /// How many posts [`PostService::feed`] lists in all.
    pub async fn count_feed(&self, viewer: &Viewer) -> AppResult<u64> {
        let query = self.feed_query(viewer).await?;
        Ok(self.posts.count_posts(&query).await?)
    }

    async fn feed_query(&self, viewer: &Viewer) -> AppResult<PostQuery> {
        let graph = self.social.graph(Some(viewer)).await?;
        let mut authors = graph.followees.clone();
        authors.push(viewer.id().clone());
        Ok(PostQuery {
            authors,
            exclude_authors: graph.block_partners.clone(),
            ..PostQuery::default()
        })
    }

    /// Posts matching `filter` that the viewer may see, in `order`.
    pub async fn search(
        &self,
        viewer: Option<&Viewer>,
        filter: &PostFilter,
        order: PostOrder,
        page: &PageRequest,
    ) -> AppResult<Page<Post>> {
        let query = self.visible_query(viewer, filter).await?;
        Ok(self.posts.search_posts(&query, order, page).await?)
    }

    /// How many posts [`PostService::search`] lists in all.
    pub async fn count(&self, viewer: Option<&Viewer>, filter: &PostFilter) -> AppResult<u64> {
        let query = self.visible_query(viewer, filter).await?;
        Ok(self.posts.count_posts(&query).await?)
    }

    /// The store query of a client's filter: without the viewer's block partners' posts, and
    /// without drafts except the viewer's own (all drafts of an author, for an admin).
    async fn visible_query(
        &self,
        viewer: Option<&Viewer>,
        filter: &PostFilter,
    ) -> AppResult<PostQuery> {
        let category_ids = match &filter.category_id {
            Some(category_id) => {
                check_category(Some(category_id))?;
                crate::domain::with_descendants(category_id)
            }
            None => Vec::new(),
        };
        let drafts_of = filter.author_id.clone().filter(|author| {
            viewer.is_some_and(|viewer| viewer.id() == author || viewer.is_admin())
        });
        let graph = self.social.graph(viewer).await?;
        Ok(PostQuery {
            text: filter.text.clone(),
            author_id: filter.author_id.clone(),
            authors: Vec::new(),
            kind: filter.kind,
            tag: filter.tag.clone(),
            category_ids,
            price_min: filter.price_min,
            price_max: filter.price_max,
            status: filter.status,
            in_stock: filter.in_stock,
            created_after: filter.created_after,
            created_before: filter.created_before,
            exclude_authors: graph.block_partners.clone(),
            drafts_of,
        })
    }

    /// What `postUpdated(id)` follows: the post as the viewer may see it, checked once now
    /// (`NOT_FOUND` when the viewer cannot see it or it is deleted).
    pub async fn watch_post(&self, viewer: Option<&Viewer>, id: &PostId) -> AppResult<PostWatch> {
        self.get_post(viewer, id)
            .await?
            .filter(|p| p.deleted_at.is_none())
            .ok_or(AppError::NotFound("post"))?;
        Ok(PostWatch {
            viewer: viewer.cloned(),
            id: id.clone(),
        })
    }

    /// What `feedPostAdded` follows: new posts by the people the viewer follows, as the
    /// viewer's graph is now and as it changes.
    pub async fn watch_feed(&self, viewer: &Viewer) -> AppResult<FeedWatch> {
        let graph = self.social.graph(Some(viewer)).await?;
        Ok(FeedWatch {
            viewer: viewer.clone(),
            followees: graph.followees.iter().cloned().collect(),
            blocked: graph.block_partners.iter().cloned().collect(),
        })
    }

    /// The most used tags of the last 24 hours.
    pub async fn trending_tags(&self, limit: usize) -> AppResult<Vec<(String, u64)>> {
        let since: DateTime<Utc> = now() - Duration::hours(24);
        Ok(self.posts.trending_tags(since, limit).await?)
    }
}

/// Which events `postUpdated` passes on: the post's changes while the viewer may see it,
/// until it is deleted (`Break`).
pub struct PostWatch {
    viewer: Option<Viewer>,
    id: PostId,
}

impl PostWatch {
    pub fn accept(&self, event: &DomainEvent) -> ControlFlow<(), Option<Post>> {
        let post = match event {
            DomainEvent::PostUpdated(post) | DomainEvent::Reacted { post, .. } => post,
            DomainEvent::PostDeleted { post_id } if *post_id == self.id => {
                return ControlFlow::Break(());
            }
            _ => return ControlFlow::Continue(None),
        };
        ControlFlow::Continue(
            (post.id == self.id && PostService::visible_now(self.viewer.as_ref(), post))
                .then(|| post.clone()),
        )
    }
}

/// Which events `feedPostAdded` passes on. The viewer's follows, unfollows and blocks (by or
/// of the viewer) made after subscribing apply as their events pass.
pub struct FeedWatch {
    viewer: Viewer,
    followees: HashSet<UserId>,
    blocked: HashSet<UserId>,
}

impl FeedWatch {
    pub fn accept(&mut self, event: &DomainEvent) -> Option<Post> {
        match event {
            DomainEvent::Followed { follower, followee } if follower == self.viewer.id() => {
                self.followees.insert(followee.clone());
                None
            }
            DomainEvent::Unfollowed { follower, followee } if follower == self.viewer.id() => {
                self.followees.remove(followee);
                None
            }
            DomainEvent::Blocked { blocker, blocked } => {
                let partner = if blocker == self.viewer.id() {
                    blocked
                } else if blocked == self.viewer.id() {
                    blocker
                } else {
                    return None;
                };
                self.followees.remove(partner);
                self.blocked.insert(partner.clone());
                None
            }
            DomainEvent::PostCreated(post)
                if self.followees.contains(&post.author_id)
                    && !self.blocked.contains(&post.author_id)
                    && PostService::visible_now(Some(&self.viewer), post) =>
            {
                Some(post.clone())
            }
            _ => None,
        }
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
