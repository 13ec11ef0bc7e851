//! Accounts: registration, login, sessions, profiles, addresses, cards and administration.
//! The email lifecycle (password reset, verification) is in [`lifecycle`].

mod lifecycle;
mod settings;

pub use settings::AccountSettings;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use super::ClientOrigin;
use super::rate_limits::{Action, RateLimiter};
use crate::auth::{PasswordHasher, RefreshToken, TokenError, TokenKeys};
use crate::clock::now;
use crate::domain::{
    Address, AddressId, CardExpiry, CardId, CardNumber, DisplayName, Email, NewAddress,
    NewPassword, PaymentCard, ProfilePatch, Role, SessionId, User, UserId, Username,
};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::mail::Outbox;
use crate::store::{
    NewSession, OneTimeTokenStore, Page, PageRequest, SessionRotation, SessionStore, Stores,
    UserSearch, UserStore, WalletStore,
};

/// The authenticated caller of a request or socket.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub session_id: SessionId,
    /// When the access token that authenticated this viewer stops being valid.
    pub token_expires_at: DateTime<Utc>,
}

impl Viewer {
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

const BAD_CREDENTIALS: &str = "invalid email or password";
const BAD_REFRESH: &str = "the refresh token is invalid or has expired";

#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    wallet: Arc<dyn WalletStore>,
    one_time_tokens: Arc<dyn OneTimeTokenStore>,
    outbox: Outbox,
    limits: RateLimiter,
    hasher: PasswordHasher,
    tokens: TokenKeys,
    events: EventBus,
    settings: AccountSettings,
    /// Password strength estimates running at once: half the cores (at least one), so even
    /// hostile input leaves the rest for serving.
    strength_permits: Arc<Semaphore>,
}

impl AccountService {
    pub fn new(
        stores: &Stores,
        hasher: PasswordHasher,
        tokens: TokenKeys,
        outbox: Outbox,
        limits: RateLimiter,
        events: EventBus,
        settings: AccountSettings,
    ) -> Self {
        Self {
            store: Arc::clone(&stores.users),
            sessions: Arc::clone(&stores.sessions),
            wallet: Arc::clone(&stores.wallet),
            one_time_tokens: Arc::clone(&stores.one_time_tokens),
            outbox,
            limits,
            hasher,
            tokens,
            events,
            settings,
            strength_permits: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )),
        }
    }

    /// Creates an account, logs it in and mails a verification link. Only buyers and sellers
    /// may sign up; admins are made by another admin or the CLI.
    pub async fn register(
        &self,
        cmd: RegisterCommand,
        origin: &ClientOrigin,
    ) -> AppResult<AuthSession> {
        if cmd.role == Role::Admin {
            return Err(AppError::bad_input("input.role", "must be BUYER or SELLER"));
        }
        if let Some(ip) = origin.rate_subject() {
            self.limits.check(Action::RegisterPerIp, &ip).await?;
        }
        let user = self
            .create_user(
                cmd.email,
                cmd.username,
                cmd.display_name,
                &cmd.password,
                &[cmd.role],
                false,
            )
            .await?;
        // The account exists now; a mail that cannot be queued must not undo it. The user can
        // ask for another with `requestEmailVerification`.
        if let Err(err) = self.mail_verification_link(&user).await {
            tracing::error!(user_id = %user.id, error = ?err, "could not queue the verification mail");
        }
        self.start_session(user).await
    }

    /// `email_verified` is true only for accounts an operator vouches for (`create-admin`):
    /// they get no verification mail, and `mail.require_verified_email_to_log_in` must not
    /// lock them out.
    async fn create_user(
        &self,
        email: Email,
        username: Username,
        display_name: DisplayName,
        password: &NewPassword,
        roles: &[Role],
        email_verified: bool,
    ) -> AppResult<User> {
        let at = now();
        let user = User {
            id: UserId::generate(),
            email,
            username,
            display_name: display_name.into_string(),
            bio: None,
            avatar_url: None,
            phone: None,
            roles: Role::normalize(roles),
            active: true,
            email_verified,
            created_at: at,
            updated_at: at,
            followers_count: 0,
            following_count: 0,
        };
        self.require_strong(password, &user).await?;
        let hash = self.hasher.hash(password.expose()).await?;
        self.store.create_user(&user, &hash).await?;
        Ok(user)
    }

    /// Refuses a password that is guessable for `user` ([`NewPassword::check_strength`]). The
    /// estimate takes up to ~50 ms of CPU for hostile input, so it runs on the blocking pool,
    /// and at most `strength_permits` at once, so a flood of them queues here instead of
    /// taking every core.
    async fn require_strong(&self, password: &NewPassword, user: &User) -> AppResult<()> {
        let _permit = self
            .strength_permits
            .acquire()
            .await
            .map_err(AppError::internal)?;
        let (password, email, username) =
            (password.clone(), user.email.clone(), user.username.clone());
        tokio::task::spawn_blocking(move || password.check_strength(&email, &username))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::from)
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
        let parsed = Email::parse(email);
        if let Some(ip) = origin.rate_subject() {
            self.limits.check(Action::LoginPerIp, &ip).await?;
        }
        self.limits
            .check(
                Action::LoginPerEmail,
                &email_subject(email, parsed.as_ref().ok()),
            )
            .await?;
        let user = match parsed {
            Ok(email) => self.store.find_user_by_email(email.as_str()).await?,
            Err(_) => None,
        };
        let hash = match &user {
            Some(user) => self.store.get_password_hash(&user.id).await?,
            None => None,
        };
        let matches = self.hasher.verify(password, hash.as_deref()).await?;
        match user {
            Some(user) if matches => {
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
            _ => Err(AppError::Unauthenticated(BAD_CREDENTIALS)),
        }
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
        self.sessions.create_session(&session).await?;
        let access = self.tokens.issue_access(&user.id, &session.id, at);
        Ok(AuthSession {
            access_token: access.token,
            refresh_token: refresh.token,
            expires_at: access.expires_at,
            user,
        })
    }

    /// Trades a refresh token for a new pair. The presented token is retired; presenting a
    /// retired token again means it leaked, so its whole family is revoked.
    pub async fn refresh(&self, refresh_token: &str) -> AppResult<AuthSession> {
        let at = now();
        let replacement = RefreshToken::generate();
        let outcome = self
            .sessions
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
                self.events
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
            .store
            .get_user(&session.user_id)
            .await?
            .filter(|user| user.active)
            .ok_or(AppError::Unauthenticated(BAD_REFRESH))?;
        let access = self.tokens.issue_access(&user.id, &session.id, at);
        Ok(AuthSession {
            access_token: access.token,
            refresh_token: replacement.token,
            expires_at: access.expires_at,
            user,
        })
    }

    /// Ends the session the refresh token belongs to. Answers `true` even for an unknown
    /// token: logging out is idempotent and must not tell token holders anything.
    pub async fn logout(&self, refresh_token: &str) -> AppResult<bool> {
        let hash = RefreshToken::hash(refresh_token);
        self.sessions.revoke_session_by_token(&hash, now()).await?;
        Ok(true)
    }

    pub async fn logout_everywhere(&self, viewer: &Viewer) -> AppResult<bool> {
        self.revoke_sessions(viewer.id(), None).await?;
        Ok(true)
    }

    async fn revoke_sessions(&self, user_id: &UserId, keep: Option<&SessionId>) -> AppResult<()> {
        self.sessions
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
        let session = self.sessions.get_session(&session_id).await?;
        if !session.is_some_and(|s| s.user_id == user_id && s.is_live(now())) {
            return Err(revoked);
        }
        let user = self
            .store
            .get_user(&user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(revoked)?;
        Ok(Viewer {
            user,
            session_id,
            token_expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        })
    }

    /// Whether a session can still authenticate requests.
    pub async fn session_is_live(&self, id: &SessionId) -> AppResult<bool> {
        let session = self.sessions.get_session(id).await?;
        Ok(session.is_some_and(|s| s.is_live(now())))
    }

    pub async fn get_user(&self, viewer: Option<&Viewer>, id: &UserId) -> AppResult<Option<User>> {
        let user = self.store.get_user(id).await?;
        Ok(user.filter(|u| visible_to(viewer, u)))
    }

    pub async fn get_many_users(&self, ids: &[UserId]) -> AppResult<Vec<User>> {
        Ok(self.store.get_many_users(ids).await?)
    }

    /// Users by normalised username, in one store call (unknown ones left out).
    pub async fn find_users_by_usernames(&self, usernames: &[String]) -> AppResult<Vec<User>> {
        Ok(self.store.find_users_by_usernames(usernames).await?)
    }

    pub async fn find_user_by_username(
        &self,
        viewer: Option<&Viewer>,
        username: &str,
    ) -> AppResult<Option<User>> {
        let Ok(username) = Username::parse(username) else {
            return Ok(None);
        };
        let user = self.store.find_user_by_username(username.as_str()).await?;
        Ok(user.filter(|u| visible_to(viewer, u)))
    }

    /// The user search: name and username for everyone; emails and deactivated accounts
    /// only for admins.
    pub fn user_search(&self, viewer: Option<&Viewer>, text: Option<&str>) -> UserSearch {
        let admin = viewer.is_some_and(Viewer::is_admin);
        UserSearch {
            // Control characters cannot match a name, and some databases refuse them in
            // patterns (MongoDB rejects NUL in a regex).
            text: text
                .map(|t| t.chars().filter(|c| !c.is_control()).collect::<String>())
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty()),
            match_email: admin,
            include_inactive: admin,
        }
    }

    pub async fn search_users(
        &self,
        search: &UserSearch,
        page: &PageRequest,
    ) -> AppResult<Page<User>> {
        Ok(self.store.search_users(search, page).await?)
    }

    pub async fn count_users(&self, search: &UserSearch) -> AppResult<u64> {
        Ok(self.store.count_users(search).await?)
    }

    pub async fn update_profile(&self, viewer: &Viewer, patch: ProfilePatch) -> AppResult<User> {
        if patch.is_empty() {
            return Ok(viewer.user.clone());
        }
        let user = self
            .store
            .update_profile(viewer.id(), &patch, now())
            .await?
            .ok_or(AppError::NotFound("user"))?;
        self.events
            .publish(DomainEvent::UserUpdated(user.clone()))
            .await;
        Ok(user)
    }

    /// Changes the password after checking the current one, and ends every other session
    /// (the current one stays logged in).
    pub async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &NewPassword,
    ) -> AppResult<bool> {
        let stored = self.store.get_password_hash(viewer.id()).await?;
        if !self.hasher.verify(current, stored.as_deref()).await? {
            return Err(AppError::bad_input("currentPassword", "is not correct"));
        }
        self.require_strong(new, &viewer.user).await?;
        let hash = self.hasher.hash(new.expose()).await?;
        self.store
            .set_password_hash(viewer.id(), &hash, now())
            .await?;
        self.revoke_sessions(viewer.id(), Some(&viewer.session_id))
            .await?;
        Ok(true)
    }

    pub async fn add_address(&self, viewer: &Viewer, new: NewAddress) -> AppResult<Address> {
        let address = Address {
            id: AddressId::generate(),
            user_id: viewer.id().clone(),
            recipient: new.recipient,
            phone: new.phone,
            line1: new.line1,
            line2: new.line2,
            city: new.city,
            region: new.region,
            postal_code: new.postal_code,
            country: new.country,
            created_at: now(),
        };
        self.wallet.add_address(&address).await?;
        Ok(address)
    }

    pub async fn list_addresses(&self, user_id: &UserId) -> AppResult<Vec<Address>> {
        Ok(self.wallet.list_addresses(user_id).await?)
    }

    /// Removes one of the viewer's addresses; someone else's address is `NOT_FOUND`.
    pub async fn remove_address(&self, viewer: &Viewer, id: &AddressId) -> AppResult<bool> {
        if self.wallet.remove_address(viewer.id(), id).await? {
            Ok(true)
        } else {
            Err(AppError::NotFound("address"))
        }
    }

    /// Saves a card. The number is checked and then dropped: only the brand, the last four
    /// digits and the expiry are stored.
    pub async fn add_card(
        &self,
        viewer: &Viewer,
        number: CardNumber,
        expiry: CardExpiry,
        holder: Option<String>,
    ) -> AppResult<PaymentCard> {
        let card = PaymentCard {
            id: CardId::generate(),
            user_id: viewer.id().clone(),
            brand: number.brand(),
            last4: number.last4(),
            exp_month: expiry.month,
            exp_year: expiry.year,
            holder,
            created_at: now(),
        };
        self.wallet.add_card(&card).await?;
        Ok(card)
    }

    pub async fn list_cards(&self, user_id: &UserId) -> AppResult<Vec<PaymentCard>> {
        Ok(self.wallet.list_cards(user_id).await?)
    }

    pub async fn remove_card(&self, viewer: &Viewer, id: &CardId) -> AppResult<bool> {
        if self.wallet.remove_card(viewer.id(), id).await? {
            Ok(true)
        } else {
            Err(AppError::NotFound("payment card"))
        }
    }

    /// Replaces a user's roles (admins only). An admin cannot drop their own admin role, so
    /// the last admin cannot lock everyone out by accident.
    pub async fn set_user_roles(
        &self,
        viewer: &Viewer,
        user_id: &UserId,
        roles: &[Role],
    ) -> AppResult<User> {
        require_admin(viewer)?;
        if user_id == viewer.id() && !roles.contains(&Role::Admin) {
            return Err(AppError::bad_input(
                "roles",
                "you cannot remove your own ADMIN role",
            ));
        }
        let user = self
            .store
            .set_roles(user_id, &Role::normalize(roles), now())
            .await?
            .ok_or(AppError::NotFound("user"))?;
        self.events
            .publish(DomainEvent::UserUpdated(user.clone()))
            .await;
        Ok(user)
    }

    /// Activates or deactivates an account (admins only). Deactivation ends every session.
    pub async fn set_user_active(
        &self,
        viewer: &Viewer,
        user_id: &UserId,
        active: bool,
    ) -> AppResult<User> {
        require_admin(viewer)?;
        if user_id == viewer.id() && !active {
            return Err(AppError::bad_input(
                "userId",
                "you cannot deactivate yourself",
            ));
        }
        let user = self
            .store
            .set_active(user_id, active, now())
            .await?
            .ok_or(AppError::NotFound("user"))?;
        if !active {
            self.revoke_sessions(user_id, None).await?;
        }
        self.events
            .publish(DomainEvent::UserUpdated(user.clone()))
            .await;
        Ok(user)
    }

    /// Makes `email` an admin: promotes an existing account, or creates one with `password`
    /// and a verified address (the operator typed it). Used by the `create-admin` command,
    /// never over the API.
    pub async fn create_admin(
        &self,
        email: Email,
        username: Username,
        display_name: DisplayName,
        password: Option<&NewPassword>,
    ) -> AppResult<(User, bool)> {
        if let Some(user) = self.store.find_user_by_email(email.as_str()).await? {
            let mut roles = user.roles.clone();
            roles.push(Role::Admin);
            let user = self
                .store
                .set_roles(&user.id, &Role::normalize(&roles), now())
                .await?
                .ok_or(AppError::NotFound("user"))?;
            return Ok((user, false));
        }
        let password = password.ok_or_else(|| {
            AppError::bad_input("password", "is required to create a new account")
        })?;
        let user = self
            .create_user(
                email,
                username,
                display_name,
                password,
                &[Role::Admin],
                true,
            )
            .await?;
        Ok((user, true))
    }
}

/// The per-email rate-limit subject: the normalised address, or the trimmed, lower-cased
/// text when it is not an address, so spellings of one address share a counter.
fn email_subject(raw: &str, parsed: Option<&Email>) -> String {
    parsed.map_or_else(
        || raw.trim().to_lowercase(),
        |email| email.as_str().to_owned(),
    )
}

fn require_admin(viewer: &Viewer) -> AppResult<()> {
    if viewer.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("only admins may do this"))
    }
}

/// Deactivated accounts are hidden from everyone but admins.
fn visible_to(viewer: Option<&Viewer>, user: &User) -> bool {
    user.active || viewer.is_some_and(Viewer::is_admin)
}
