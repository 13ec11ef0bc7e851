//! Login sessions: one refresh-token family each, its rotation and revocation.

mod mongo;
mod sqlite;

pub use mongo::MongoSessionStore;
pub use sqlite::SqliteSessionStore;

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{SessionId, UserId};

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

/// How many retired refresh-token hashes a family remembers for reuse detection. A token
/// retired longer ago than that is simply unknown (still refused, but no longer revokes the
/// family). At the default 15-minute access lifetime this covers days of continuous use.
pub const RETIRED_TOKENS_KEPT: usize = 100;

/// Storage of login sessions.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - A session belongs to an existing user.
/// - A refresh token hash is current in at most one session; rotation is atomic, so of two
///   concurrent rotations of the same token exactly one gets `Rotated` and the other
///   `ReuseDetected` (which revokes the family).
/// - `get_session` returns `Ok(None)` for an unknown id, never an error.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
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
}
