//! Posts and listings: the post, search and feed lists, trending tags, the catalogue of
//! categories, and publishing. Comments, reactions and favorites are `graphql::engagement`.

mod inputs;
mod subscription;
mod types;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, Result};

use self::inputs::{CreatePostInput, PostFilter, PostOrder, UpdatePostInput};
pub use self::subscription::PostSubscription;
use self::types::{Category, TagCount};
pub use self::types::{ListingStatus, Media, Money, Post, ReactionKind};
use super::ContextExt;
use super::connection::{encode_cursor, page_request};
use crate::domain::{self, PostId};
use crate::error::AppError;
use crate::graphql::parse_id;
use crate::service;
use crate::store::{self, cursor_of};

/// A user's posts for `User.posts`, newest first (their drafts only for themselves).
pub async fn posts_by(
    ctx: &Context<'_>,
    author: &domain::UserId,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PostConnection> {
    let page = page_request(first, after)?;
    let filter = service::PostFilter {
        author_id: Some(author.clone()),
        ..service::PostFilter::default()
    };
    search(ctx, filter, store::PostOrder::Newest, page).await
}

/// A page of the posts matching `filter` that the viewer may see, with their total.
async fn search(
    ctx: &Context<'_>,
    filter: service::PostFilter,
    order: store::PostOrder,
    page: store::PageRequest,
) -> Result<PostConnection> {
    let posts = &ctx.services().posts;
    let result = posts.search(ctx.viewer(), &filter, order, &page).await?;
    let total = PostsTotal::Search(Box::new(filter));
    Ok(post_connection(page.after.is_some(), result, order, total))
}

/// `totalCount` of a post list, counted only when a client asks for it.
pub enum PostsTotal {
    Search(Box<service::PostFilter>),
    Feed,
    Favorites,
}

#[Object]
impl PostsTotal {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let services = ctx.services();
        Ok(match self {
            PostsTotal::Search(filter) => services.posts.count(ctx.viewer(), filter).await?,
            PostsTotal::Feed => services.posts.count_feed(ctx.require_viewer()?).await?,
            PostsTotal::Favorites => {
                let viewer = ctx.require_viewer()?;
                services.engagement.count_favorites(viewer).await?
            }
        })
    }
}

pub type PostConnection = Connection<String, Post, PostsTotal>;

/// Builds a post connection whose cursors follow `order`.
fn post_connection(
    has_previous: bool,
    page: store::Page<domain::Post>,
    order: store::PostOrder,
    total: PostsTotal,
) -> PostConnection {
    let mut connection = Connection::with_additional_fields(has_previous, page.has_next, total);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|p| Edge::new(encode_cursor(&cursor_of(&p, order)), Post(p))),
    );
    connection
}

#[derive(Default)]
pub struct PostQueryRoot;

#[Object]
impl PostQueryRoot {
    /// A post the viewer may see; `null` when it does not exist, was deleted, is someone
    /// else's draft, or its author and the viewer block each other.
    async fn post(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Post>> {
        let id = parse_id::<PostId>("id", &id)?;
        let post = ctx.services().posts.get_post(ctx.viewer(), &id).await?;
        Ok(post.map(Post))
    }

    /// Posts matching `filter`, in `orderBy` order. Price orders list only listings.
    async fn posts(
        &self,
        ctx: &Context<'_>,
        filter: Option<PostFilter>,
        #[graphql(default_with = "Some(PostOrder::Newest)")] order_by: Option<PostOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        let page = page_request(first, after)?;
        let filter = filter.unwrap_or_default().parse()?;
        search(ctx, filter, order_by.unwrap_or_default().into(), page).await
    }

    /// Posts by the people the viewer follows, and the viewer's own, newest first.
    async fn feed(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PostConnection> {
        let viewer = ctx.require_viewer()?;
        let page = page_request(first, after)?;
        let result = ctx.services().posts.feed(viewer, &page).await?;
        let order = store::PostOrder::Newest;
        Ok(post_connection(
            page.after.is_some(),
            result,
            order,
            PostsTotal::Feed,
        ))
    }

    /// The most used hashtags of the last 24 hours.
    async fn trending_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] limit: i32,
    ) -> Result<Vec<TagCount>> {
        if !(1..=100).contains(&limit) {
            return Err(AppError::bad_input("limit", "must be between 1 and 100").into());
        }
        let tags = ctx.services().posts.trending_tags(limit as usize).await?;
        Ok(tags
            .into_iter()
            .map(|(tag, count)| TagCount { tag, count })
            .collect())
    }

    /// The catalogue's top-level categories; each has `children`.
    async fn categories(&self) -> Vec<Category> {
        Category::children_of(None)
    }
}

#[derive(Default)]
pub struct PostMutation;

#[Object]
impl PostMutation {
    /// Publishes a text post, or a listing (sellers only).
    async fn create_post(&self, ctx: &Context<'_>, input: CreatePostInput) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let posts = &ctx.services().posts;
        Ok(Post(posts.create_post(viewer, input.parse()?).await?))
    }

    /// Edits a post (its author or an admin); sets `editedAt`.
    async fn update_post(&self, ctx: &Context<'_>, id: ID, input: UpdatePostInput) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<PostId>("id", &id)?;
        let posts = &ctx.services().posts;
        Ok(Post(posts.update_post(viewer, &id, input.parse()?).await?))
    }

    /// Hides a post everywhere (its author or an admin).
    async fn delete_post(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<PostId>("id", &id)?;
        Ok(ctx.services().posts.delete_post(viewer, &id).await?)
    }
}
