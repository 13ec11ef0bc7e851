//! Storage ports and their two adapters.
//!
//! Each area has one trait (the contract, documented on the trait) and two implementations in
//! adjacent files: `sqlite.rs` (the embedded default) and `mongo.rs` (production). Services
//! depend on the traits only. A behaviour the adapters do not share is a bug in one of them;
//! `tests/store_contract` is the referee.
//!
//! This module must not know about GraphQL, HTTP or authorization: it stores and finds.

pub mod chat;
pub mod cursor;
pub mod engagement;
pub mod event_log;
pub mod mongo;
pub mod notifications;
pub mod one_time_tokens;
pub mod orders;
pub mod outbox;
pub mod posts;
pub mod rate_limits;
pub mod reviews;
pub mod sessions;
pub mod social;
pub mod sqlite;
pub mod users;
pub mod wallet;

use std::sync::Arc;

pub use chat::ChatStore;
pub use cursor::Keyed;
pub use engagement::{EngagementStore, Favorite};
pub use event_log::{EventLogStore, LogEntry, Retention};
pub use notifications::NotificationStore;
pub use one_time_tokens::{NewOneTimeToken, OneTimeTokenStore, TokenPurpose};
pub use orders::{
    CheckoutOutcome, NewCheckout, OrderSide, OrderStore, OrderUpdate, SellerStats,
    UnpaidLimitExceeded, UnpaidLimits,
};
pub use outbox::{ClaimedMail, MailStatus, OutboxEntry, OutboxStore};
pub use posts::{ListingPatch, PostOrder, PostPatch, PostQuery, PostStore, cursor_of};
pub use rate_limits::{Decision, RateLimitStore};
pub use reviews::{ReviewQuery, ReviewStore};
pub use sessions::{NewSession, Session, SessionRotation, SessionStore};
pub use social::{FollowEdge, SocialStore, ViewerGraph};
pub use users::{UserSearch, UserStore};
pub use wallet::WalletStore;

/// Why a store call failed, in terms a service can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit; `field` names the unique value in the client's terms
    /// (`"email"`, `"username"`).
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The database could not be reached or answered with an error. The message is for logs
    /// only: it may carry driver details.
    #[error("storage failure: {0}")]
    Backend(String),
    /// This database cannot serve the request at all (a MongoDB server without text
    /// indexes asked for text search). The message is for clients: it names the feature.
    #[error("{0}")]
    Unsupported(&'static str),
}

impl StoreError {
    pub fn backend(err: impl std::fmt::Display) -> Self {
        StoreError::Backend(err.to_string())
    }
}

// Driver errors become `Backend` through `?`. The exceptions (a unique index that means a
// `Conflict`, a transaction given up on purpose) are mapped where they can happen.

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::backend(err)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::backend(err)
    }
}

impl From<mongodb::error::Error> for StoreError {
    /// A transaction body that gave up with [`mongo::abort`] carries its reason through the
    /// driver; that reason is the message.
    fn from(err: mongodb::error::Error) -> Self {
        match err.get_custom::<mongo::Abort>() {
            Some(abort) => StoreError::Backend(abort.0.clone()),
            None => StoreError::backend(err),
        }
    }
}

/// A blocking SQLite call that panicked or was cancelled with the runtime.
impl From<tokio::task::JoinError> for StoreError {
    fn from(err: tokio::task::JoinError) -> Self {
        StoreError::backend(err)
    }
}

/// The reader slots closed: the database is shutting down.
impl From<tokio::sync::AcquireError> for StoreError {
    fn from(err: tokio::sync::AcquireError) -> Self {
        StoreError::backend(err)
    }
}

/// A count or number stored out of the range its type allows.
impl From<std::num::TryFromIntError> for StoreError {
    fn from(err: std::num::TryFromIntError) -> Self {
        StoreError::backend(err)
    }
}

impl From<mongodb::bson::ser::Error> for StoreError {
    fn from(err: mongodb::bson::ser::Error) -> Self {
        StoreError::backend(err)
    }
}

impl From<mongodb::bson::document::ValueAccessError> for StoreError {
    fn from(err: mongodb::bson::document::ValueAccessError) -> Self {
        StoreError::backend(err)
    }
}

impl From<mongodb::bson::de::Error> for StoreError {
    fn from(err: mongodb::bson::de::Error) -> Self {
        StoreError::backend(err)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a keyset-paginated list: at most the requested number of items, in the
/// order the method documents, and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// A page from a query that fetched one item more than `limit`: the extra item only
    /// tells that another page follows.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize) -> Self {
        let has_next = items.len() > limit;
        items.truncate(limit);
        Self { items, has_next }
    }
}

/// How many items a page query fetches for a page of `limit`: one more, which tells whether
/// another page follows (see [`Page::from_overfetch`]).
pub(crate) fn fetch_limit(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            has_next: false,
        }
    }
}

/// A keyset page request: `after` is the sort key of the last item the client saw (already
/// decoded from the opaque cursor), `limit` is at most 100 (checked at the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: usize,
}

/// Counts round trips to the database: one per SQLite statement batch run off the runtime,
/// one per MongoDB command. Always on (an atomic increment); read by the tests that prove a
/// query costs a constant number of round trips, and available to metrics.
#[derive(Clone, Default, Debug)]
pub struct RoundTrips(Arc<std::sync::atomic::AtomicU64>);

impl RoundTrips {
    pub fn record(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Every store the app uses, behind cheap-to-clone handles. Built once at start-up by
/// [`Stores::open`] from the configuration.
#[derive(Clone)]
pub struct Stores {
    /// Users: profiles, password hashes, roles and activation.
    pub users: Arc<dyn UserStore>,
    /// Login sessions (refresh-token families).
    pub sessions: Arc<dyn SessionStore>,
    /// Saved addresses and payment cards.
    pub wallet: Arc<dyn WalletStore>,
    pub posts: Arc<dyn PostStore>,
    pub engagement: Arc<dyn EngagementStore>,
    /// Chat rooms, read positions and messages.
    pub chat: Arc<dyn ChatStore>,
    /// Every published domain event, tailed by every instance (see [`crate::events`]).
    pub event_log: Arc<dyn EventLogStore>,
    /// Notifications, numbered per recipient.
    pub notifications: Arc<dyn NotificationStore>,
    /// Follows and blocks; also keeps the follower counters on users.
    pub social: Arc<dyn SocialStore>,
    /// Carts, checkouts, orders and payment attempts; takes and returns listing stock.
    pub orders: Arc<dyn OrderStore>,
    /// Reviews and the rating counters of listings.
    pub reviews: Arc<dyn ReviewStore>,
    /// Password-reset and email-verification tokens.
    pub one_time_tokens: Arc<dyn OneTimeTokenStore>,
    /// Mail waiting for (or done with) delivery.
    pub outbox: Arc<dyn OutboxStore>,
    /// Rate-limit counters, shared by every instance on the same database.
    pub rate_limits: Arc<dyn RateLimitStore>,
    /// Answers "is the database reachable?" for `/ready`.
    pub health: Arc<dyn StoreHealth>,
    pub round_trips: RoundTrips,
}

/// Readiness probe: one cheap round trip to the database.
#[async_trait::async_trait]
pub trait StoreHealth: Send + Sync {
    async fn ping(&self) -> StoreResult<()>;
    /// `"sqlite"` or `"mongodb"`, for logs and `/ready`.
    fn backend_name(&self) -> &'static str;
}

impl Stores {
    /// Opens the store the configuration names: MongoDB when a URI is set, otherwise the
    /// embedded SQLite database in the data directory (created, migrated).
    pub async fn open(config: &crate::config::StoreConfig) -> StoreResult<Self> {
        match config.mongodb_uri.as_deref().filter(|uri| !uri.is_empty()) {
            Some(uri) => mongo::open(uri, &config.mongodb_database).await,
            None => sqlite::open_file(&config.data_dir.join("agora.sqlite3")).await,
        }
    }
}
