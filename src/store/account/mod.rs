//! Accounts: users, login sessions (refresh-token families), addresses and saved cards.

mod mongo;
mod sqlite;

pub use mongo::MongoAccountStore;
pub use sqlite::SqliteAccountStore;
pub(crate) use sqlite::backfill_username_skeletons;

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreResult};
#[cfg(doc)]
use crate::domain::Username;
use crate::domain::{
    Address, AddressId, CardId, PaymentCard, ProfilePatch, Role, SessionId, User, UserId,
};

/// A login session as stored: one refresh-token family. Only hashes of refresh tokens are
/// ever stored (SHA-256, hex).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// Moves forward on every rotation (sliding expiry).
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionRotation {
    /// The token was the family's current one: it is now retired and `replacement` is current.
    Rotated(Session),
    /// The token was already retired (rotated before): someone replayed it, so the whole family
    /// has been revoked.
    ReuseDetected {
        session_id: SessionId,
        user_id: UserId,
    },
    /// Unknown token, or its family is revoked or expired.
    Rejected,
}

/// Filter for [`AccountStore::search_users`].
#[derive(Debug, Clone, Default)]
pub struct UserSearch {
    /// Case-insensitive substring of the username or display name (and of the email when
    /// `match_email` is set). `None` lists everyone.
    pub text: Option<String>,
    /// Also match `text` against emails (admins only — decided by the service).
    pub match_email: bool,
    /// Include deactivated accounts (admins only — decided by the service).
    pub include_inactive: bool,
}

/// How many retired refresh-token hashes a family remembers for reuse detection. A token
/// retired longer ago than that is simply unknown (still refused, but no longer revokes the
/// family). At the default 15-minute access lifetime this covers days of continuous use.
pub const RETIRED_TOKENS_KEPT: usize = 100;

/// Storage of accounts.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - Emails and usernames are unique (they arrive normalised, lower-case); a clash is
///   `StoreError::Conflict { field: "email" | "username" }` and writes nothing.
/// - So are usernames' confusable skeletons ([`Username::skeleton`]): a name that looks like a
///   taken one (`ann_1` beside `ann_l`) is `Conflict { field: "username" }` too, also when
///   both are created at once.
/// - Getters return `Ok(None)` / an empty list for unknown ids, never an error.
/// - `get_many_users` returns the users found, in any order; callers key them by id.
/// - Sessions: a refresh token hash is current in at most one session; rotation is atomic, so
///   of two concurrent rotations of the same token exactly one gets `Rotated` and the other
///   `ReuseDetected` (which revokes the family).
/// - Addresses and cards belong to one user; listing returns them oldest first.
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// Inserts a user with its password hash.
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()>;
    async fn get_user(&self, id: &UserId) -> StoreResult<Option<User>>;
    async fn get_many_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// The users with any of these (normalised) usernames, in any order; unknown ones are
    /// left out. One round trip, for resolving a post's `@mentions`.
    async fn find_users_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<User>>;
    /// The stored password hash (PHC string) of a user.
    async fn get_password_hash(&self, id: &UserId) -> StoreResult<Option<String>>;
    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Users matching `search`, ordered by username ascending; the page cursor is the
    /// username of the last user seen.
    async fn search_users(
        &self,
        search: &UserSearch,
        page: &PageRequest,
    ) -> StoreResult<Page<User>>;
    async fn count_users(&self, search: &UserSearch) -> StoreResult<u64>;
    /// Applies the patch and returns the updated user, or `None` when it does not exist.
    async fn update_profile(
        &self,
        id: &UserId,
        patch: &ProfilePatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    async fn set_roles(
        &self,
        id: &UserId,
        roles: &[Role],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    async fn set_active(
        &self,
        id: &UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    /// Records whether the user has proved they own their email address; returns the updated
    /// user, or `None` when it does not exist.
    async fn set_email_verified(
        &self,
        id: &UserId,
        verified: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;

    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    async fn get_session(&self, id: &SessionId) -> StoreResult<Option<Session>>;
    /// Presents `token_hash`. When it is the current token of a live session, it is retired,
    /// `replacement_hash` becomes current and the expiry moves to `expires_at`.
    async fn rotate_session(
        &self,
        token_hash: &str,
        replacement_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<SessionRotation>;
    /// Revokes the not-yet-revoked session whose current token is `token_hash`; returns
    /// whether one was.
    async fn revoke_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Revokes every not-yet-revoked session of a user except `keep` (expired ones too);
    /// returns how many were revoked.
    async fn revoke_user_sessions(
        &self,
        user_id: &UserId,
        keep: Option<&SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    async fn add_address(&self, address: &Address) -> StoreResult<()>;
    async fn list_addresses(&self, user_id: &UserId) -> StoreResult<Vec<Address>>;
    /// Deletes the address when it belongs to `user_id`; returns whether one was deleted.
    async fn remove_address(&self, user_id: &UserId, id: &AddressId) -> StoreResult<bool>;

    async fn add_card(&self, card: &PaymentCard) -> StoreResult<()>;
    async fn list_cards(&self, user_id: &UserId) -> StoreResult<Vec<PaymentCard>>;
    async fn remove_card(&self, user_id: &UserId, id: &CardId) -> StoreResult<bool>;
}
