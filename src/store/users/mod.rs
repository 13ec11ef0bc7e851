//! Users: accounts, their lookups and search, password hashes, profiles, email verification,
//! roles and activation.
//!
//! Roles and activation are written here too: administering them is a rule of the admin
//! service, but what it writes is two fields of the user, like any profile edit.

mod mongo;
mod sqlite;

pub use mongo::MongoUserStore;
pub use sqlite::SqliteUserStore;
pub(crate) use sqlite::backfill_username_skeletons;

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreResult};
#[cfg(doc)]
use crate::domain::Username;
use crate::domain::{ProfilePatch, Role, User, UserId};

/// Filter for [`UserStore::search_users`].
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

/// Storage of users.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - Emails and usernames are unique (they arrive normalised, lower-case); a clash is
///   `StoreError::Conflict { field: "email" | "username" }` and writes nothing.
/// - So are usernames' confusable skeletons ([`Username::skeleton`]): a name that looks like a
///   taken one (`ann_1` beside `ann_l`) is `Conflict { field: "username" }` too, also when
///   both are created at once.
/// - Getters return `Ok(None)` / an empty list for unknown ids, never an error.
/// - `get_many_users` returns the users found, in any order; callers key them by id.
/// - Every update returns the user as it is afterwards, or `None` when it does not exist.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
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
    /// Applies the patch.
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
    /// Records whether the user has proved they own their email address.
    async fn set_email_verified(
        &self,
        id: &UserId,
        verified: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
}
