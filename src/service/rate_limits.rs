//! Per-action rate limits, checked by the use cases themselves.
//!
//! Checking here rather than in resolvers or HTTP middleware means every path to a use case
//! counts: each aliased field of one GraphQL document, every transport (HTTP, WebSocket),
//! every instance (the counters live in the store). HTTP refuses batched requests, so one
//! request cannot smuggle in several operations either.
//!
//! A use case checks before it writes anything, so a refused attempt changes nothing. The two directions of a toggle (react/unreact, follow/unfollow,
//! block/unblock, favorite/unfavorite) share one counter: a script flipping a toggle would
//! otherwise get twice the rate, and a person rarely does one without the other in a burst.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::clock::now;
use crate::config::{RateLimitConfig, RatePolicy};
use crate::error::{AppError, AppResult};
use crate::store::{Decision, RateLimitStore};

/// Something limited, together with what it is counted per (the subject passed to
/// [`RateLimiter::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A login attempt; subject: the email as typed, normalised.
    LoginPerEmail,
    /// A login attempt; subject: the client address.
    LoginPerIp,
    /// A registration; subject: the client address.
    RegisterPerIp,
    /// `requestPasswordReset`; subject: the email as typed, normalised.
    PasswordResetPerEmail,
    /// `requestPasswordReset`; subject: the client address.
    PasswordResetPerIp,
    /// `requestEmailVerification`; subject: the user id.
    VerificationEmailPerUser,
    /// Creating a post or listing; subject: the author's user id.
    CreatePost,
    /// Writing a comment; subject: the author's user id.
    Comment,
    /// Sending a chat message; subject: the sender's user id.
    SendMessage,
    /// Announcing that one is typing in a chat room; subject: the user id.
    Typing,
    /// Starting an operation over WebSocket; subject: the user id, or the client address
    /// when anonymous.
    StartSubscription,
    /// A checkout that would place orders; subject: the buyer's user id.
    Checkout,
    /// A charge sent to the payment gateway; subject: the buyer's user id.
    Payment,
    /// `react` or `unreact`; subject: the user id. Both directions of a toggle share one
    /// counter, so alternating them buys no extra rate.
    Reaction,
    /// `follow` or `unfollow`; subject: the follower's user id (one counter, as above).
    Follow,
    /// `block` or `unblock`; subject: the blocker's user id (one counter).
    Block,
    /// `addFavorite` or `removeFavorite`; subject: the user id (one counter).
    Favorite,
    /// `addToCart` or `updateCartItem`; subject: the buyer's user id (one counter).
    CartWrite,
    /// `createReview`; subject: the author's user id.
    CreateReview,
    /// `openChat`; subject: the user id of whoever opens it.
    OpenChat,
    /// `createGroupChat`; subject: the creator's user id.
    CreateGroupChat,
}

impl Action {
    /// The prefix of the action's counter keys; stable, since it names stored counters.
    fn key_prefix(self) -> &'static str {
        match self {
            Action::LoginPerEmail => "login_email",
            Action::LoginPerIp => "login_ip",
            Action::RegisterPerIp => "register_ip",
            Action::PasswordResetPerEmail => "password_reset_email",
            Action::PasswordResetPerIp => "password_reset_ip",
            Action::VerificationEmailPerUser => "verification_email_user",
            Action::CreatePost => "post_user",
            Action::Comment => "comment_user",
            Action::SendMessage => "message_user",
            Action::Typing => "typing_user",
            Action::StartSubscription => "subscription_start",
            Action::Checkout => "checkout_user",
            Action::Payment => "payment_user",
            Action::Reaction => "reaction_user",
            Action::Follow => "follow_user",
            Action::Block => "block_user",
            Action::Favorite => "favorite_user",
            Action::CartWrite => "cart_user",
            Action::CreateReview => "review_user",
            Action::OpenChat => "open_chat_user",
            Action::CreateGroupChat => "group_chat_user",
        }
    }

    fn policy(self, config: &RateLimitConfig) -> RatePolicy {
        match self {
            Action::LoginPerEmail => config.login_per_email,
            Action::LoginPerIp => config.login_per_ip,
            Action::RegisterPerIp => config.register_per_ip,
            Action::PasswordResetPerEmail => config.password_reset_per_email,
            Action::PasswordResetPerIp => config.password_reset_per_ip,
            Action::VerificationEmailPerUser => config.verification_email_per_user,
            Action::CreatePost => config.post_per_user,
            Action::Comment => config.comment_per_user,
            Action::SendMessage => config.message_per_user,
            Action::Typing => config.typing_per_user,
            Action::StartSubscription => config.subscription_start_per_user,
            Action::Checkout => config.checkout_per_user,
            Action::Payment => config.payment_per_user,
            Action::Reaction => config.reaction_per_user,
            Action::Follow => config.follow_per_user,
            Action::Block => config.block_per_user,
            Action::Favorite => config.favorite_per_user,
            Action::CartWrite => config.cart_per_user,
            Action::CreateReview => config.review_per_user,
            Action::OpenChat => config.open_chat_per_user,
            Action::CreateGroupChat => config.group_chat_per_user,
        }
    }
}

/// Counts attempts against the configured policies. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    config: Arc<RateLimitConfig>,
}

impl RateLimiter {
    pub fn new(store: Arc<dyn RateLimitStore>, config: RateLimitConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
        }
    }

    /// Counts one attempt of `action` by `subject`; `RATE_LIMITED` (with the seconds until
    /// an attempt fits again) when the policy's limit is reached. Refused attempts are not
    /// counted.
    ///
    /// A store failure is an error, not a free pass: limits that vanish whenever the
    /// database struggles would fail open exactly when an attack is under way.
    pub async fn check(&self, action: Action, subject: &str) -> AppResult<()> {
        self.check_at(action, subject, now()).await
    }

    async fn check_at(&self, action: Action, subject: &str, at: DateTime<Utc>) -> AppResult<()> {
        if !self.config.enabled {
            return Ok(());
        }
        let policy = action.policy(&self.config);
        // Subjects are emails and addresses: only their hashes are stored.
        let digest: String = Sha256::digest(subject.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = format!("{}:{digest}", action.key_prefix());
        match self
            .store
            .hit(&key, policy.window(), policy.limit, at)
            .await?
        {
            Decision::Allowed => Ok(()),
            Decision::Refused { retry_after } => {
                let millis = u64::try_from(retry_after.num_milliseconds()).unwrap_or(0);
                Err(AppError::RateLimited {
                    retry_after_secs: millis.div_ceil(1000).max(1),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn limiter(
        configure: impl FnOnce(&mut RateLimitConfig),
    ) -> (RateLimiter, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stores = crate::store::sqlite::open_file(&dir.path().join("limits.sqlite3"))
            .await
            .expect("a new database opens");
        let mut config = RateLimitConfig::default();
        configure(&mut config);
        (RateLimiter::new(stores.rate_limits, config), dir)
    }

    /// Counts an attempt that the policy allows.
    async fn allowed(limiter: &RateLimiter, action: Action, subject: &str, at: DateTime<Utc>) {
        limiter
            .check_at(action, subject, at)
            .await
            .expect("within the limit");
    }

    fn retry_after(result: AppResult<()>) -> u64 {
        match result {
            Err(AppError::RateLimited { retry_after_secs }) => retry_after_secs,
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn each_action_has_its_own_policy_and_counter() {
        let (limiter, _dir) = limiter(|c| {
            c.post_per_user = RatePolicy::new(2, 3600);
            c.comment_per_user = RatePolicy::new(1, 60);
        })
        .await;
        let at = now();

        allowed(&limiter, Action::CreatePost, "u1", at).await;
        allowed(&limiter, Action::CreatePost, "u1", at).await;
        assert_eq!(
            retry_after(limiter.check_at(Action::CreatePost, "u1", at).await),
            3600
        );

        allowed(&limiter, Action::Comment, "u1", at).await;
        assert_eq!(
            retry_after(limiter.check_at(Action::Comment, "u1", at).await),
            60
        );
        allowed(&limiter, Action::SendMessage, "u1", at).await;
        allowed(&limiter, Action::CreatePost, "u2", at).await;
    }

    #[tokio::test]
    async fn retry_after_rounds_up_to_whole_seconds() {
        let (limiter, _dir) = limiter(|c| c.message_per_user = RatePolicy::new(1, 10)).await;
        let at = now();
        allowed(&limiter, Action::SendMessage, "u1", at).await;

        let later = at + chrono::Duration::milliseconds(8_500);
        assert_eq!(
            retry_after(limiter.check_at(Action::SendMessage, "u1", later).await),
            2
        );
    }

    #[tokio::test]
    async fn disabled_limits_allow_everything() {
        let (limiter, _dir) = limiter(|c| {
            c.enabled = false;
            c.post_per_user = RatePolicy::new(0, 60);
        })
        .await;
        limiter.check(Action::CreatePost, "u1").await.unwrap();
    }
}
