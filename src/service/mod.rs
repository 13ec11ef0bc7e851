//! Use cases. Services own validation beyond single values, authorization of objects, and
//! publishing events. They take parsed domain values and return `AppError`s; they never see
//! GraphQL or HTTP types.

mod accounts;
mod engagement;
mod posts;
mod social;

pub use accounts::{AccountService, AuthSession, RegisterCommand, Viewer};
pub use engagement::EngagementService;
pub use posts::{CreatePostCommand, ListingDraft, PostFilter, PostService, UpdatePostCommand};
pub use social::SocialService;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::events::EventBus;
use crate::store::Stores;

/// Every service, cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub accounts: AccountService,
    pub posts: PostService,
    pub engagement: EngagementService,
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
        let posts = PostService::new(
            stores.catalog.clone(),
            stores.social.clone(),
            stores.accounts.clone(),
            events.clone(),
        );
        let engagement = EngagementService::new(
            stores.engagement.clone(),
            stores.social.clone(),
            posts.clone(),
            events.clone(),
        );
        Self {
            posts,
            engagement,
            social: SocialService::new(
                stores.social.clone(),
                stores.accounts.clone(),
                events.clone(),
            ),
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
