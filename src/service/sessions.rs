//! Sessions: signing up and logging in, refresh-token rotation, logging out, and turning an
//! access token into the [`Viewer`] every other use case takes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::ClientOrigin;
use super::rate_limits::{Action, RateLimiter};
use super::users::{UserService, limit_attempt};
use crate::auth::{RefreshToken, TokenError, TokenKeys};
use crate::clock::now;
use crate::config::Config;
use crate::domain::{DisplayName, Email, NewPassword, Role, SessionId, User, UserId, Username};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{NewSession, SessionRotation, SessionStore};

/// The authenticated caller of a request or socket.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub session_id: SessionId,
    /// When the access token that authenticated this viewer stops being valid.
    pub token_expires_at: DateTime<Utc>,
    /// The viewer's follows and blocks, once this request has read them.
    pub(super) graph: super::social::GraphCache,
}

impl Viewer {
    pub fn new(user: User, session_id: SessionId, token_expires_at: DateTime<Utc>) -> Self {
        Self {
            user,
            session_id,
            token_expires_at,
            graph: Default::default(),
        }
    }

    /// The same viewer with nothing read yet: what each request, and each operation on a
    /// WebSocket, starts from, so it sees the graph as it is when it starts.
    pub fn for_request(self) -> Self {
        Self::new(self.user, self.session_id, self.token_expires_at)
    }

    pub fn id(&self) -> &UserId {
        &self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }
}

/// What a successful login, registration or refresh hands back.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

#[derive(Debug)]
pub struct RegisterCommand {
    pub email: Email,
    pub password: NewPassword,
    pub username: Username,
    pub display_name: DisplayName,
    pub role: Role,
}

/// The session rules the configuration decides.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Sliding lifetime of a login session.
    pub refresh_ttl: Duration,
    /// `login` refuses users whose email address is not verified.
    pub require_verified_email_to_log_in: bool,
}

impl SessionSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            refresh_ttl: Duration::days(
                i64::try_from(config.auth.refresh_token_ttl_days).unwrap_or(36_500),
            ),
            require_verified_email_to_log_in: config.mail.require_verified_email_to_log_in,
        }
    }
}

const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH: &str = "the refresh token is invalid or has expired";

/// Ends a user's sessions and tells every instance, so open sockets close too. The one way
/// sessions end in bulk: logging out everywhere, password changes and resets, deactivation.
#[derive(Clone)]
pub struct SessionRevoker {
    store: Arc<dyn SessionStore>,
    events: EventBus,
}

impl SessionRevoker {
    pub fn new(store: Arc<dyn SessionStore>, events: EventBus) -> Self {
        Self { store, events }
    }

    /// Revokes every session of `user_id` but `keep`.
    pub async fn revoke(&self, user_id: &UserId, keep: Option<&SessionId>) -> AppResult<()> {
        self.store
            .revoke_user_sessions(user_id, keep, now())
            .await?;
        self.events
            .publish(DomainEvent::SessionsRevoked {
                user_id: user_id.clone(),
                keep: keep.cloned(),
                only: None,
            })
            .await;
        Ok(())
    }
}

#[derive(Clone)]
pub struct SessionService {
    /// The session store and the event bus, reached through the revoker that shares them.
    sessions: SessionRevoker,
    users: UserService,
    limits: RateLimiter,
    tokens: TokenKeys,
    settings: SessionSettings,
}

impl SessionService {
    pub fn new(
        sessions: SessionRevoker,
        users: UserService,
        limits: RateLimiter,
        tokens: TokenKeys,
        settings: SessionSettings,
    ) -> Self {
        Self {
            sessions,
            users,
            limits,
            tokens,
            settings,
        }
    }

    /// Signs up ([`UserService::sign_up`]) and logs the new account in.
    pub async fn register(
        &self,
        cmd: RegisterCommand,
        origin: &ClientOrigin,
    ) -> AppResult<AuthSession> {
        let user = self.users.sign_up(cmd, origin).await?;
        self.start_session(user).await
    }

    /// Logs in with email and password. An unknown email, a wrong password and a malformed
    /// email all answer the same `UNAUTHENTICATED` after the same argon2 work.
    ///
    /// Every attempt counts against the per-address and per-email limits before any
    /// password work, so guessing is throttled per account however many addresses the
    /// guesser has, and per address however many accounts it tries.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        origin: &ClientOrigin,
    ) -> AppResult<AuthSession> {
        let limits = (Action::LoginPerIp, Action::LoginPerEmail);
        let parsed = limit_attempt(&self.limits, limits, origin, email).await?;
        let user = self
            .users
            .check_password(parsed.as_ref(), password)
            .await?
            .ok_or(AppError::Unauthenticated(BAD_CREDENTIALS))?;
        if !user.active {
            return Err(AppError::Forbidden("this account has been deactivated"));
        }
        if self.settings.require_verified_email_to_log_in && !user.email_verified {
            return Err(AppError::Forbidden(
                "verify your email address before logging in",
            ));
        }
        self.start_session(user).await
    }

    async fn start_session(&self, user: User) -> AppResult<AuthSession> {
        let at = now();
        let refresh = RefreshToken::generate();
        let session = NewSession {
            id: SessionId::generate(),
            user_id: user.id.clone(),
            token_hash: refresh.hash,
            created_at: at,
            expires_at: at + self.settings.refresh_ttl,
        };
        self.sessions.store.create_session(&session).await?;
        Ok(self.answer(user, &session.id, refresh.token, at))
    }

    /// The tokens for `user` in session `id`: a new access token and `refresh_token`.
    fn answer(
        &self,
        user: User,
        id: &SessionId,
        refresh_token: String,
        at: DateTime<Utc>,
    ) -> AuthSession {
        let access = self.tokens.issue_access(&user.id, id, at);
        AuthSession {
            access_token: access.token,
            refresh_token,
            expires_at: access.expires_at,
            user,
        }
    }

    /// Trades a refresh token for a new pair. The presented token is retired; presenting a
    /// retired token again means it leaked, so its whole family is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> AppResult<AuthSession> {
        let at = now();
        let replacement = RefreshToken::generate();
        let outcome = self
            .sessions
            .store
            .rotate_session(
                &RefreshToken::hash(refresh_token),
                &replacement.hash,
                at,
                at + self.settings.refresh_ttl,
            )
            .await?;
        let session = match outcome {
            SessionRotation::Rotated(session) => session,
            SessionRotation::ReuseDetected {
                session_id,
                user_id,
            } => {
                tracing::warn!(%user_id, %session_id, "refresh token reuse detected; session family revoked");
                self.sessions
                    .events
                    .publish(DomainEvent::SessionsRevoked {
                        user_id,
                        keep: None,
                        only: Some(session_id),
                    })
                    .await;
                return Err(AppError::Unauthenticated(BAD_REFRESH));
            }
            SessionRotation::Rejected => return Err(AppError::Unauthenticated(BAD_REFRESH)),
        };
        let user = self
            .users
            .active_user(&session.user_id)
            .await?
            .ok_or(AppError::Unauthenticated(BAD_REFRESH))?;
        Ok(self.answer(user, &session.id, replacement.token, at))
    }

    /// Ends the session the refresh token belongs to. Answers `true` even for an unknown
    /// token: logging out is idempotent and must not tell token holders anything.
    pub async fn logout(&self, refresh_token: &str) -> AppResult<bool> {
        let hash = RefreshToken::hash(refresh_token);
        self.sessions
            .store
            .revoke_session_by_token(&hash, now())
            .await?;
        Ok(true)
    }

    pub async fn logout_everywhere(&self, viewer: &Viewer) -> AppResult<bool> {
        self.sessions.revoke(viewer.id(), None).await?;
        Ok(true)
    }

    /// Resolves an access token to its viewer: the signature and claims must check out, the
    /// session must be live and the user active.
    pub async fn authenticate(&self, access_token: &str) -> AppResult<Viewer> {
        let claims = self
            .tokens
            .verify_access(access_token)
            .map_err(|err| match err {
                TokenError::Expired => AppError::Unauthenticated("the access token has expired"),
                TokenError::Invalid => AppError::Unauthenticated("the access token is invalid"),
            })?;
        let revoked = AppError::Unauthenticated("the session has ended");
        let (Some(session_id), Some(user_id)) =
            (SessionId::parse(&claims.sid), UserId::parse(&claims.sub))
        else {
            return Err(AppError::Unauthenticated("the access token is invalid"));
        };
        let session = self.sessions.store.get_session(&session_id).await?;
        if !session.is_some_and(|s| s.user_id == user_id && s.is_live(now())) {
            return Err(revoked);
        }
        let user = self.users.active_user(&user_id).await?.ok_or(revoked)?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
        Ok(Viewer::new(user, session_id, expires_at))
    }

    /// Whether a session can still authenticate requests.
    pub async fn session_is_live(&self, id: &SessionId) -> AppResult<bool> {
        let session = self.sessions.store.get_session(id).await?;
        Ok(session.is_some_and(|s| s.is_live(now())))
    }
}
