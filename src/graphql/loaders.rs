//! Per-request dataloaders: one per entity, each over a batch store method, so a list of N
//! items costs one round trip per relation, not N.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use super::LOADER_DELAY;
use crate::domain::{Comment, CommentId, Post, PostId, ReactionKind, User, UserId};
use crate::error::AppError;
use crate::service::{AccountService, EngagementService, PostService, Services, Viewer};
use crate::store::Page;

/// A loader failure, shared by every field that waited on the batch.
#[derive(Clone, Debug)]
pub struct LoadError(Arc<AppError>);

impl From<LoadError> for async_graphql::Error {
    fn from(err: LoadError) -> Self {
        // Every loader error is a store failure; rebuild it as an internal error so it is
        // masked and logged like any other.
        match &*err.0 {
            AppError::Internal(cause) => AppError::Internal(cause.clone()).into(),
            other => AppError::Internal(format!("{other:?}")).into(),
        }
    }
}

/// The loaders of one request. Created fresh per request so their caches never leak data
/// between viewers.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub posts: DataLoader<PostLoader>,
    pub comments: DataLoader<CommentLoader>,
    /// The first page of top-level comments, keyed by post and page size.
    pub first_comments: DataLoader<FirstCommentsLoader>,
    /// The viewer's reaction per post (only consulted for a logged-in viewer).
    pub viewer_reactions: DataLoader<ViewerReactionLoader>,
    /// Whether the viewer favorited each post (only consulted for a logged-in viewer).
    pub viewer_favorites: DataLoader<ViewerFavoriteLoader>,
}

fn loader<T>(inner: T) -> DataLoader<T> {
    DataLoader::new(inner, tokio::spawn).delay(LOADER_DELAY)
}

impl Loaders {
    pub fn new(services: &Services, viewer: Option<&Viewer>) -> Self {
        let viewer_id = viewer.map(|v| v.id().clone());
        Self {
            users: loader(UserLoader(services.accounts.clone())),
            posts: loader(PostLoader { posts: services.posts.clone(), viewer: viewer.cloned() }),
            comments: loader(CommentLoader(services.engagement.clone())),
            first_comments: loader(FirstCommentsLoader { engagement: services.engagement.clone(), viewer: viewer.cloned() }),
            viewer_reactions: loader(ViewerReactionLoader { engagement: services.engagement.clone(), viewer: viewer_id.clone() }),
            viewer_favorites: loader(ViewerFavoriteLoader { engagement: services.engagement.clone(), viewer: viewer_id }),
        }
    }
}

fn failed(err: AppError) -> LoadError {
    LoadError(Arc::new(err))
}

pub struct PostLoader {
    posts: PostService,
    viewer: Option<Viewer>,
}

impl Loader<PostId> for PostLoader {
    type Value = Post;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, Post>, LoadError> {
        let posts = self.posts.get_many_posts(self.viewer.as_ref(), keys).await.map_err(failed)?;
        Ok(posts.into_iter().map(|p| (p.id.clone(), p)).collect())
    }
}

pub struct CommentLoader(EngagementService);

impl Loader<CommentId> for CommentLoader {
    type Value = Comment;
    type Error = LoadError;

    async fn load(&self, keys: &[CommentId]) -> Result<HashMap<CommentId, Comment>, LoadError> {
        let comments = self.0.get_many_comments(keys).await.map_err(failed)?;
        Ok(comments.into_iter().map(|c| (c.id.clone(), c)).collect())
    }
}

pub struct FirstCommentsLoader {
    engagement: EngagementService,
    viewer: Option<Viewer>,
}

impl Loader<(PostId, usize)> for FirstCommentsLoader {
    type Value = Page<Comment>;
    type Error = LoadError;

    async fn load(&self, keys: &[(PostId, usize)]) -> Result<HashMap<(PostId, usize), Page<Comment>>, LoadError> {
        // Clients almost always ask every post for the same page size: one query per size.
        let mut sizes: Vec<usize> = keys.iter().map(|(_, n)| *n).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut found = HashMap::new();
        for size in sizes {
            let posts: Vec<PostId> = keys.iter().filter(|(_, n)| *n == size).map(|(p, _)| p.clone()).collect();
            let pages = self
                .engagement
                .first_comments(self.viewer.as_ref(), &posts, size)
                .await
                .map_err(failed)?;
            found.extend(pages.into_iter().map(|(post, page)| ((post, size), page)));
        }
        Ok(found)
    }
}

pub struct ViewerReactionLoader {
    engagement: EngagementService,
    viewer: Option<UserId>,
}

impl Loader<PostId> for ViewerReactionLoader {
    type Value = ReactionKind;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, ReactionKind>, LoadError> {
        let Some(viewer) = &self.viewer else {
            return Ok(HashMap::new());
        };
        let reactions = self.engagement.reactions_of(viewer, keys).await.map_err(failed)?;
        Ok(reactions.into_iter().collect())
    }
}

pub struct ViewerFavoriteLoader {
    engagement: EngagementService,
    viewer: Option<UserId>,
}

impl Loader<PostId> for ViewerFavoriteLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, bool>, LoadError> {
        let Some(viewer) = &self.viewer else {
            return Ok(HashMap::new());
        };
        let favorited = self.engagement.favorited_among(viewer, keys).await.map_err(failed)?;
        Ok(favorited.into_iter().map(|id| (id, true)).collect())
    }
}

pub struct UserLoader(AccountService);

impl Loader<UserId> for UserLoader {
    type Value = User;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, User>, LoadError> {
        let users = self
            .0
            .get_many_users(keys)
            .await
            .map_err(|e| LoadError(Arc::new(e)))?;
        Ok(users.into_iter().map(|u| (u.id.clone(), u)).collect())
    }
}
