//! Posts, listings, comments, reactions, favorites, the feed, search and tags.

mod inputs;
mod subscription;
mod types;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, Result};

pub use self::subscription::PostSubscription;
pub use self::types::{Comment, ListingStatus, Media, Money, Post};

/// A user's posts for `User.posts`, newest first (their drafts only for themselves).
pub async fn posts_by(
    ctx: &Context<'_>,
    author: &domain::UserId,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PostConnection> {
    let page = page_request(first, after)?;
    let posts = &ctx.services().posts;
    let graph = ctx.loaders().graph.get().await?;
    let filter = crate::service::PostFilter {
        query: PostQuery {
            author_id: Some(author.clone()),
            ..PostQuery::default()
        },
        category_id: None,
    };
    let query = posts.query_for(ctx.viewer(), &graph.block_partners, filter)?;
    let result = posts
        .search_posts(&query, store::PostOrder::Newest, &page)
        .await?;
    Ok(post_connection(
        page.after.is_some(),
        result,
        store::PostOrder::Newest,
        query,
    ))
}

use self::inputs::{CreatePostInput, PostFilter, PostOrder, UpdatePostInput};
use self::types::{Category, ReactionKind, TagCount};
use super::ContextExt;
use super::connection::{encode_cursor, page_request};
use crate::domain::{self, CommentId, PostId};
use crate::error::AppError;
use crate::graphql::parse_id;
use crate::store::{self, PostQuery, cursor_of};

/// `totalCount` of a post list, counted only when a client asks for it.
pub enum PostsTotal {
    Query(Box<PostQuery>),
    FavoritesOf(domain::UserId),
}

#[Object]
impl PostsTotal {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(match self {
            PostsTotal::Query(query) => ctx.services().posts.count_posts(query).await?,
            PostsTotal::FavoritesOf(user) => {
                ctx.services().engagement.count_favorites(user).await?
            }
        })
    }
}

pub type PostConnection = Connection<String, Post, PostsTotal>;

/// Builds a post connection whose cursors follow `order`.
pub fn post_connection(
    has_previous: bool,
    page: store::Page<domain::Post>,
    order: store::PostOrder,
    total: PostQuery,
) -> PostConnection {
    let mut connection = Connection::with_additional_fields(
        has_previous,
        page.has_next,
        PostsTotal::Query(Box::new(total)),
    );
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
        Ok(ctx
            .services()
            .posts
            .get_post(ctx.viewer(), &id)
            .await?
            .map(Post))
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
        let posts = &ctx.services().posts;
        let filter = filter.unwrap_or_default().parse()?;
        let graph = ctx.loaders().graph.get().await?;
        let query = posts.query_for(ctx.viewer(), &graph.block_partners, filter)?;
        let order = order_by.unwrap_or_default().into();
        let result = posts.search_posts(&query, order, &page).await?;
        Ok(post_connection(page.after.is_some(), result, order, query))
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
        let graph = ctx.loaders().graph.get().await?;
        let (result, query) = ctx.services().posts.feed(viewer, &graph, &page).await?;
        Ok(post_connection(
            page.after.is_some(),
            result,
            store::PostOrder::Newest,
            query,
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
        domain::categories()
            .into_iter()
            .filter(|c| c.parent_id.is_none())
            .map(Category)
            .collect()
    }

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
        let loaded = ctx
            .loaders()
            .posts
            .load_many(result.items.iter().map(|f| f.post_id.clone()))
            .await?;
        let total = PostsTotal::FavoritesOf(viewer.id().clone());
        let mut connection =
            Connection::with_additional_fields(page.after.is_some(), result.has_next, total);
        connection
            .edges
            .extend(result.items.into_iter().filter_map(|favorite| {
                let post = loaded.get(&favorite.post_id)?.clone();
                Some(Edge::new(
                    crate::graphql::connection::cursor_of(&favorite),
                    Post(post),
                ))
            }));
        Ok(connection)
    }
}

#[derive(Default)]
pub struct PostMutation;

#[Object]
impl PostMutation {
    /// Publishes a text post, or a listing (sellers only).
    async fn create_post(&self, ctx: &Context<'_>, input: CreatePostInput) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let post = ctx
            .services()
            .posts
            .create_post(viewer, input.parse()?)
            .await?;
        Ok(Post(post))
    }

    /// Edits a post (its author or an admin); sets `editedAt`.
    async fn update_post(&self, ctx: &Context<'_>, id: ID, input: UpdatePostInput) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<PostId>("id", &id)?;
        Ok(Post(
            ctx.services()
                .posts
                .update_post(viewer, &id, input.parse()?)
                .await?,
        ))
    }

    /// Hides a post everywhere (its author or an admin).
    async fn delete_post(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<PostId>("id", &id)?;
        Ok(ctx.services().posts.delete_post(viewer, &id).await?)
    }

    /// Comments on a post, or replies to one of its comments with `parentId`.
    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        body: String,
        parent_id: Option<ID>,
    ) -> Result<Comment> {
        let viewer = ctx.require_viewer()?;
        let post = parse_id::<PostId>("postId", &post_id)?;
        let parent = parent_id
            .as_ref()
            .map(|p| parse_id::<CommentId>("parentId", p))
            .transpose()?;
        let body = domain::parse_comment_body("body", &body).map_err(AppError::from)?;
        let comment = ctx
            .services()
            .engagement
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
        let id = parse_id::<PostId>("postId", &post_id)?;
        Ok(Post(
            ctx.services()
                .engagement
                .react(viewer, &id, kind.into())
                .await?,
        ))
    }

    async fn unreact(&self, ctx: &Context<'_>, post_id: ID) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<PostId>("postId", &post_id)?;
        Ok(Post(ctx.services().engagement.unreact(viewer, &id).await?))
    }

    async fn add_favorite(&self, ctx: &Context<'_>, post_id: ID) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<PostId>("postId", &post_id)?;
        Ok(Post(
            ctx.services().engagement.add_favorite(viewer, &id).await?,
        ))
    }

    async fn remove_favorite(&self, ctx: &Context<'_>, post_id: ID) -> Result<Post> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<PostId>("postId", &post_id)?;
        Ok(Post(
            ctx.services()
                .engagement
                .remove_favorite(viewer, &id)
                .await?,
        ))
    }
}
