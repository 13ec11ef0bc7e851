//! Per-request dataloaders: one per entity, each over a batch store method, so a list of N
//! items costs one round trip per relation, not N.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use super::LOADER_DELAY;
use crate::domain::{User, UserId};
use crate::error::AppError;
use crate::service::{AccountService, Services};

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
}

impl Loaders {
    pub fn new(services: &Services) -> Self {
        Self {
            users: DataLoader::new(UserLoader(services.accounts.clone()), tokio::spawn)
                .delay(LOADER_DELAY),
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
