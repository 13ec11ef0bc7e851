//! One-time tokens: the secrets mailed for a password reset or an email verification.
//!
//! Only the SHA-256 of a token is stored, so reading the database does not hand out working
//! links. A user holds at most one token per purpose: issuing a new one replaces (and so
//! invalidates) the previous one, whether or not it was used. A token is consumed at most
//! once, by an atomic conditional update.

mod mongo;
mod sqlite;

pub use mongo::MongoOneTimeTokenStore;
pub use sqlite::SqliteOneTimeTokenStore;

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::UserId;

/// What a token proves when it comes back. A token issued for one purpose never works for
/// the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

impl TokenPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewOneTimeToken {
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// SHA-256 of the token, hex (the form `RefreshToken::hash` produces).
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Storage of one-time tokens.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - `issue` replaces the user's previous token of the same purpose, used or not; tokens of
///   the other purpose and of other users are untouched. The user must exist.
/// - `consume` succeeds (returning the user) only for the current token of that purpose, not
///   yet used and with `expires_at` after `now`, and marks it used in the same atomic step:
///   of any number of concurrent consumes of one token exactly one succeeds.
/// - `peek` answers what `consume` would, without using the token up.
/// - Anything else (unknown, superseded, used, expired, other purpose) is `Ok(None)`; the
///   adapters do not say which, and neither does the API.
#[async_trait::async_trait]
pub trait OneTimeTokenStore: Send + Sync {
    async fn issue(&self, token: &NewOneTimeToken) -> StoreResult<()>;
    /// The user of the token when it would be consumed now; the token stays usable. For
    /// checks that need to know whose token it is before deciding to spend it (a new
    /// password's strength is judged against its user's names).
    async fn peek(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>>;
    async fn consume(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>>;
}
