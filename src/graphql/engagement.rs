//! Comments, reactions and favorites over GraphQL: their mutations, the viewer's favorites,
//! and the comment lists behind `Post.comments` and `Comment.replies`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::ContextExt;
use super::connection::{connection_of, page_request};
use super::posts::{Post, PostConnection, PostsTotal, ReactionKind};
use super::users::User;
use crate::domain::{self, CommentId, PostId};
use crate::error::AppError;
use crate::graphql::parse_id;
use crate::store::{Page, PageRequest};

#[derive(Default)]
pub struct EngagementQuery;

#[Object]
impl EngagementQuery {
    /// The viewer's favorites, most recently added first.
    async fn favorites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        let viewer = ctx.require_viewer()?;
        let page = page_request(first, after)?;
        let result = ctx.services().engagement.favorites(viewer, &page).await?;
        let total = PostsTotal::Favorites;
        Ok(connection_of(&page, result, total, |(_, post)| Post(post)))
    }
}

#[derive(Default)]
pub struct EngagementMutation;

/// `postId` of an engagement mutation.
fn post_id(id: &ID) -> Result<PostId, AppError> {
    parse_id("postId", id)
}

#[Object]
impl EngagementMutation {
    /// Comments on a post, or replies to one of its comments with `parentId`.
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        body: String,
        parent_id: Option<ID>,
    ) -> Result<Comment> {
        let viewer = ctx.require_viewer()?;
        let post = self::post_id(&post_id)?;
        let parent = parent_id
            .as_ref()
            .map(|p| parse_id::<CommentId>("parentId", p))
            .transpose()?;
        let body = domain::parse_comment_body("body", &body).map_err(AppError::from)?;
        let engagement = &ctx.services().engagement;
        let comment = engagement
            .add_comment(viewer, &post, body, parent.as_ref())
            .await?;
        Ok(Comment(comment))
    }

    /// Deletes a comment (its author, the post's author or an admin); replies stay.
    async fn delete_comment(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<CommentId>("id", &id)?;
        Ok(ctx
            .services()
            .engagement
            .delete_comment(viewer, &id)
            .await?)
    }

    /// Sets the viewer's reaction (one per post; reacting again replaces it).
    async fn react(&self, ctx: &Context<'_>, post_id: ID, kind: ReactionKind) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = self::post_id(&post_id)?;
        let engagement = &ctx.services().engagement;
        Ok(Post(engagement.react(viewer, &id, kind.into()).await?))
    }

    async fn unreact(&self, ctx: &Context<'_>, post_id: ID) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = self::post_id(&post_id)?;
        Ok(Post(ctx.services().engagement.unreact(viewer, &id).await?))
    }

    async fn add_favorite(&self, ctx: &Context<'_>, post_id: ID) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = self::post_id(&post_id)?;
        let engagement = &ctx.services().engagement;
        Ok(Post(engagement.add_favorite(viewer, &id).await?))
    }

    async fn remove_favorite(&self, ctx: &Context<'_>, post_id: ID) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = self::post_id(&post_id)?;
        let engagement = &ctx.services().engagement;
        Ok(Post(engagement.remove_favorite(viewer, &id).await?))
    }
}

/// A comment on a post, possibly a reply to another comment.
pub struct Comment(pub domain::Comment);

#[Object]
impl Comment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn post(&self, ctx: &Context<'_>) -> Result<Option<Post>> {
        let post = ctx.loaders().posts.load_one(self.0.post_id.clone()).await?;
        Ok(post.map(Post))
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let user = ctx
            .loaders()
            .users
            .load_one(self.0.author_id.clone())
            .await?;
        Ok(user.map(User::new))
    }
    /// `"[deleted]"` once deleted; the comment stays so its replies keep their thread.
    async fn body(&self) -> &str {
        if self.0.deleted_at.is_some() {
            "[deleted]"
        } else {
            &self.0.body
        }
    }
    async fn deleted(&self) -> bool {
        self.0.deleted_at.is_some()
    }
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Comment>> {
        let Some(parent) = &self.0.parent_id else {
            return Ok(None);
        };
        let parent = ctx.loaders().comments.load_one(parent.clone()).await?;
        Ok(parent.map(Comment))
    }
    /// Replies, oldest first.
    async fn replies(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CommentConnection> {
        let page = page_request(first, after)?;
        let result = ctx
            .services()
            .engagement
            .comments(ctx.viewer(), &self.0.post_id, Some(&self.0.id), &page)
            .await?;
        Ok(comment_connection(&page, result, self.0.replies_count))
    }
    async fn replies_count(&self) -> i64 {
        self.0.replies_count
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// `totalCount` of a comment list.
pub struct CommentsTotal {
    total: i64,
}

#[Object]
impl CommentsTotal {
    async fn total_count(&self) -> i64 {
        self.total
    }
}

pub type CommentConnection = Connection<String, Comment, CommentsTotal>;

/// `Post.comments`: the post's top-level comments, oldest first. A first page comes through
/// the loader that batches the first comments of every post in the response.
pub async fn comments_of_post(
    ctx: &Context<'_>,
    post: &domain::Post,
    first: Option<i32>,
    after: Option<String>,
) -> Result<CommentConnection> {
    let page = page_request(first, after)?;
    let result = match page.after {
        None => ctx
            .loaders()
            .first_comments
            .load_one((post.id.clone(), page.limit))
            .await?
            .unwrap_or_default(),
        Some(_) => {
            let engagement = &ctx.services().engagement;
            engagement
                .comments(ctx.viewer(), &post.id, None, &page)
                .await?
        }
    };
    Ok(comment_connection(&page, result, post.counts.comments))
}

fn comment_connection(
    request: &PageRequest,
    page: Page<domain::Comment>,
    total: i64,
) -> CommentConnection {
    connection_of(request, page, CommentsTotal { total }, Comment)
}
