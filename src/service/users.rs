//! Users: signing up, profiles, lookups and search, passwords, and who may see whom. The
//! email lifecycle (password reset, verification) is in [`lifecycle`].

mod lifecycle;
mod settings;

pub use settings::UserSettings;

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::ClientOrigin;
use super::rate_limits::{Action, RateLimiter};
use super::sessions::{RegisterCommand, SessionRevoker, Viewer};
use crate::auth::PasswordHasher;
use crate::clock::now;
use crate::domain::{DisplayName, Email, NewPassword, ProfilePatch, Role, User, UserId, Username};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::mail::Outbox;
use crate::store::{OneTimeTokenStore, Page, PageRequest, Stores, UserSearch, UserStore};

/// Deactivated accounts are hidden from everyone but admins: the one statement of that rule,
/// for every use case that shows users.
pub fn visible_to(viewer: Option<&Viewer>, user: &User) -> bool {
    user.active || viewer.is_some_and(Viewer::is_admin)
}

/// A user's private fields (email, phone, whether the account is active) are for the user
/// themself and admins.
pub fn sees_private_fields(viewer: Option<&Viewer>, user: &User) -> bool {
    viewer.is_some_and(|v| v.id() == &user.id || v.is_admin())
}

#[derive(Clone)]
pub struct UserService {
    store: Arc<dyn UserStore>,
    one_time_tokens: Arc<dyn OneTimeTokenStore>,
    outbox: Outbox,
    limits: RateLimiter,
    hasher: PasswordHasher,
    revoker: SessionRevoker,
    events: EventBus,
    settings: UserSettings,
    /// Password strength estimates running at once: half the cores (at least one), so even
    /// hostile input leaves the rest for serving.
    strength_permits: Arc<Semaphore>,
}

impl UserService {
    pub fn new(
        stores: &Stores,
        hasher: PasswordHasher,
        outbox: Outbox,
        limits: RateLimiter,
        revoker: SessionRevoker,
        events: EventBus,
        settings: UserSettings,
    ) -> Self {
        Self {
            store: Arc::clone(&stores.users),
            one_time_tokens: Arc::clone(&stores.one_time_tokens),
            outbox,
            limits,
            hasher,
            revoker,
            events,
            settings,
            strength_permits: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )),
        }
    }

    /// Creates an account and mails a verification link. Only buyers and sellers may sign
    /// up; admins are made by another admin or the CLI.
    pub(super) async fn sign_up(
        &self,
        cmd: RegisterCommand,
        origin: &ClientOrigin,
    ) -> AppResult<User> {
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
        Ok(user)
    }

    /// `email_verified` is true only for accounts an operator vouches for (`create-admin`):
    /// they get no verification mail, and `mail.require_verified_email_to_log_in` must not
    /// lock them out.
    pub(super) async fn create_user(
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

    /// The user with this email when `password` is theirs. An unknown or malformed email
    /// (`None`) costs the same argon2 work as a wrong password, so timing tells nothing.
    pub(super) async fn check_password(
        &self,
        email: Option<&Email>,
        password: &str,
    ) -> AppResult<Option<User>> {
        let user = match email {
            Some(email) => self.store.find_user_by_email(email.as_str()).await?,
            None => None,
        };
        let hash = match &user {
            Some(user) => self.store.get_password_hash(&user.id).await?,
            None => None,
        };
        let matches = self.hasher.verify(password, hash.as_deref()).await?;
        Ok(user.filter(|_| matches))
    }

    /// The user when the account is active: who a session may act as.
    pub(super) async fn active_user(&self, id: &UserId) -> AppResult<Option<User>> {
        Ok(self.store.get_user(id).await?.filter(|u| u.active))
    }

    /// A user by id, as `viewer` may see them ([`visible_to`]).
    pub async fn get_user(&self, viewer: Option<&Viewer>, id: &UserId) -> AppResult<Option<User>> {
        let user = self.store.get_user(id).await?;
        Ok(user.filter(|u| visible_to(viewer, u)))
    }

    /// A user by username, as `viewer` may see them; a malformed name finds nobody.
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

    /// Users by id, in one store call, whoever they are: for relations (authors, members)
    /// whose own use case decides what to show.
    pub async fn get_many_users(&self, ids: &[UserId]) -> AppResult<Vec<User>> {
        Ok(self.store.get_many_users(ids).await?)
    }

    /// Users by normalised username, in one store call (unknown ones left out).
    pub async fn find_users_by_usernames(&self, usernames: &[String]) -> AppResult<Vec<User>> {
        Ok(self.store.find_users_by_usernames(usernames).await?)
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
            .await?;
        self.announce(user).await
    }

    /// A user just written, or `NOT_FOUND`; on the way out every instance hears of the change
    /// (`viewerUpdated`).
    pub(super) async fn announce(&self, updated: Option<User>) -> AppResult<User> {
        let user = updated.ok_or(AppError::NotFound("user"))?;
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
        self.revoker
            .revoke(viewer.id(), Some(&viewer.session_id))
            .await?;
        Ok(true)
    }
}

/// Counts an attempt that names an email address against the per-address limit (when the
/// transport knows the address) and the per-email one, and gives back the email parsed, if it
/// is one. The per-email subject is the normalised address, or the trimmed, lower-cased text
/// when it is not an address, so spellings of one address share a counter.
pub(super) async fn limit_attempt(
    limits: &RateLimiter,
    (per_ip, per_email): (Action, Action),
    origin: &ClientOrigin,
    email: &str,
) -> AppResult<Option<Email>> {
    let parsed = Email::parse(email).ok();
    if let Some(ip) = origin.rate_subject() {
        limits.check(per_ip, &ip).await?;
    }
    let subject = parsed.as_ref().map_or_else(
        || email.trim().to_lowercase(),
        |email| email.as_str().to_owned(),
    );
    limits.check(per_email, &subject).await?;
    Ok(parsed)
}
