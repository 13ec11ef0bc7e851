//! Per-request dataloaders: one per entity, each over a batch store method, so a list of N
//! items costs one round trip per relation, not N.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use super::LOADER_DELAY;
use crate::domain::{User, UserId};
use crate::error::AppError;
use crate::service::{AccountService, Services, SocialService};

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
    /// Whether the viewer follows a user. `None` for anonymous requests: the answer is
    /// `false` and needs no store call.
    pub viewer_follows: Option<DataLoader<ViewerFollowsLoader>>,
    /// Whether the viewer has blocked a user; `None` for anonymous requests, as above.
    pub viewer_blocked: Option<DataLoader<ViewerBlockedLoader>>,
}

impl Loaders {
    /// `viewer` is the request's viewer: the viewer-relative loaders answer for that viewer
    /// only, one more reason they are built per request.
    pub fn new(services: &Services, viewer: Option<&UserId>) -> Self {
        let social = |viewer: &UserId| ViewerRelation {
            social: services.social.clone(),
            viewer: viewer.clone(),
        };
        Self {
            users: DataLoader::new(UserLoader(services.accounts.clone()), tokio::spawn)
                .delay(LOADER_DELAY),
            viewer_follows: viewer.map(|v| {
                DataLoader::new(ViewerFollowsLoader(social(v)), tokio::spawn).delay(LOADER_DELAY)
            }),
            viewer_blocked: viewer.map(|v| {
                DataLoader::new(ViewerBlockedLoader(social(v)), tokio::spawn).delay(LOADER_DELAY)
            }),
        }
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

/// What the viewer-relative loaders need: the service and whose point of view to take.
pub struct ViewerRelation {
    social: SocialService,
    viewer: UserId,
}

/// Answers every key: `true` for those in `found`, `false` for the rest.
fn membership(keys: &[UserId], found: Vec<UserId>) -> HashMap<UserId, bool> {
    let found: HashSet<UserId> = found.into_iter().collect();
    keys.iter()
        .map(|key| (key.clone(), found.contains(key)))
        .collect()
}

/// `User.viewerFollows` for a whole level of users in one `followed_among` call.
pub struct ViewerFollowsLoader(ViewerRelation);

impl Loader<UserId> for ViewerFollowsLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, bool>, LoadError> {
        let ViewerRelation { social, viewer } = &self.0;
        let followed = social
            .followed_among(viewer, keys)
            .await
            .map_err(|e| LoadError(Arc::new(e)))?;
        Ok(membership(keys, followed))
    }
}

/// `User.isBlockedByViewer` for a whole level of users in one `blocked_among` call.
pub struct ViewerBlockedLoader(ViewerRelation);

impl Loader<UserId> for ViewerBlockedLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, bool>, LoadError> {
        let ViewerRelation { social, viewer } = &self.0;
        let blocked = social
            .blocked_among(viewer, keys)
            .await
            .map_err(|e| LoadError(Arc::new(e)))?;
        Ok(membership(keys, blocked))
    }
}
