//! Use cases. Services own validation beyond single values, authorization of objects, and
//! publishing events. They take parsed domain values and return `AppError`s; they never see
//! GraphQL or HTTP types.

mod accounts;
mod social;

pub use accounts::{AccountService, AuthSession, RegisterCommand, Viewer};
pub use social::SocialService;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::events::EventBus;
use crate::store::Stores;

/// Every service, cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub accounts: AccountService,
    pub social: SocialService,
    pub events: EventBus,
}

impl Services {
    pub fn new(
        stores: Stores,
        hasher: PasswordHasher,
        tokens: TokenKeys,
        refresh_ttl: chrono::Duration,
    ) -> Self {
        let events = EventBus::new();
        Self {
            social: SocialService::new(stores.social, stores.accounts.clone(), events.clone()),
            accounts: AccountService::new(
                stores.accounts,
                hasher,
                tokens,
                refresh_ttl,
                events.clone(),
            ),
            events,
        }
    }
}

/// The current time at the millisecond precision every store keeps.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
