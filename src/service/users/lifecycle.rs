//! A user's email lifecycle: password reset and email verification by mailed one-time
//! tokens, and the verified-seller rule for publishing listings.
//!
//! Tokens are made like refresh tokens (256 random bits, base64url; only the SHA-256 is
//! stored), live in the `one_time_tokens` store (single use, superseded by a newer request),
//! and travel only inside mail, which goes through the outbox.

use chrono::Duration;

use super::{UserService, limit_attempt};
use crate::auth::RefreshToken;
use crate::clock::now;
use crate::domain::{MailId, NewPassword, OutgoingMail, User};
use crate::error::{AppError, AppResult};
use crate::events::DomainEvent;
use crate::mail::templates::{self, RenderedMail, TokenMail};
use crate::service::rate_limits::Action;
use crate::service::{ClientOrigin, Viewer};
use crate::store::{NewOneTimeToken, TokenPurpose};

/// One refusal for every token that does not work (unknown, used, superseded, expired, for
/// the other purpose): which one it was would only help someone guessing.
fn invalid_token() -> AppError {
    AppError::bad_input("token", "is invalid, used or expired")
}

impl UserService {
    /// Mails a password-reset link to `email` when it belongs to an active account. The
    /// answer is the same whether it does or not (`true`, or `RATE_LIMITED`, which counts
    /// unknown addresses exactly like known ones), so it cannot be used to find accounts.
    ///
    /// The work behind the answer differs (a token and an outbox write for a real account),
    /// which a patient attacker could time; registration already answers "taken" for a known
    /// email, so hiding existence here any harder would protect nothing.
    pub async fn request_password_reset(
        &self,
        email: &str,
        origin: &ClientOrigin,
    ) -> AppResult<bool> {
        let limits = (Action::PasswordResetPerIp, Action::PasswordResetPerEmail);
        let parsed = limit_attempt(&self.limits, limits, origin, email).await?;
        let Some(email) = parsed else {
            return Ok(true);
        };
        let user = self.store.find_user_by_email(email.as_str()).await?;
        if let Some(user) = user.filter(|u| u.active) {
            self.mail_token(
                &user,
                TokenPurpose::PasswordReset,
                self.settings.password_reset_ttl,
                "reset-password",
                templates::password_reset,
            )
            .await?;
        }
        Ok(true)
    }

    /// Sets a new password with a mailed reset token, then ends every session of the user
    /// (open sockets close through the usual revocation event). The token is checked before
    /// any password hashing, so invalid tokens cost no argon2 work; a new password that breaks
    /// the policy or is guessable for the token's user is refused before the token is used
    /// up, so the link still works for a better one.
    ///
    /// Following the link also proves the user reads mail at this address, so the address
    /// counts as verified afterwards.
    pub async fn reset_password(&self, token: &str, new: &NewPassword) -> AppResult<bool> {
        let token_hash = RefreshToken::hash(token);
        let purpose = TokenPurpose::PasswordReset;
        let owner = self
            .one_time_tokens
            .peek(&token_hash, purpose, now())
            .await?
            .ok_or_else(invalid_token)?;
        let user = self
            .store
            .get_user(&owner)
            .await?
            .ok_or_else(invalid_token)?;
        self.require_strong(new, &user).await?;
        let user_id = self
            .one_time_tokens
            .consume(&token_hash, purpose, now())
            .await?
            .ok_or_else(invalid_token)?;
        let hash = self.hasher.hash(new.expose()).await?;
        self.store.set_password_hash(&user_id, &hash, now()).await?;
        self.revoker.revoke(&user_id, None).await?;
        if !user.email_verified
            && let Some(user) = self.store.set_email_verified(&user_id, true, now()).await?
        {
            self.events.publish(DomainEvent::UserUpdated(user)).await;
        }
        Ok(true)
    }

    /// Mails the viewer a new verification link (superseding earlier ones). Nothing is sent
    /// when the address is already verified; the answer is `true` either way.
    pub async fn request_email_verification(&self, viewer: &Viewer) -> AppResult<bool> {
        self.limits
            .check(Action::VerificationEmailPerUser, viewer.id().as_str())
            .await?;
        if !viewer.user.email_verified {
            self.mail_verification_link(&viewer.user).await?;
        }
        Ok(true)
    }

    /// Marks the address of the token's user as verified. Needs no login: the link is often
    /// opened on another device than the one that registered.
    pub async fn verify_email(&self, token: &str) -> AppResult<bool> {
        let user_id = self
            .one_time_tokens
            .consume(
                &RefreshToken::hash(token),
                TokenPurpose::EmailVerification,
                now(),
            )
            .await?
            .ok_or_else(invalid_token)?;
        let user = self.store.set_email_verified(&user_id, true, now()).await?;
        self.announce(user).await?;
        Ok(true)
    }

    /// The email rule for publishing listings, for the listings use cases to call: when
    /// `mail.require_verified_seller` is on, a viewer whose address is unverified is
    /// `FORBIDDEN`. Whether the viewer is a seller at all is the caller's check.
    pub fn require_verified_seller(&self, viewer: &Viewer) -> AppResult<()> {
        if self.settings.require_verified_seller && !viewer.user.email_verified {
            return Err(AppError::Forbidden(
                "verify your email address before publishing listings",
            ));
        }
        Ok(())
    }

    /// Issues a verification token for `user` and queues the mail carrying it.
    pub(super) async fn mail_verification_link(&self, user: &User) -> AppResult<()> {
        self.mail_token(
            user,
            TokenPurpose::EmailVerification,
            self.settings.email_verification_ttl,
            "verify-email",
            templates::email_verification,
        )
        .await
    }

    /// Issues a token (replacing the user's previous one of this purpose) and queues a mail
    /// with a link to `{public_url}/{path}?token=…` and the token itself.
    async fn mail_token(
        &self,
        user: &User,
        purpose: TokenPurpose,
        valid_for: Duration,
        path: &str,
        render: fn(&TokenMail<'_>) -> RenderedMail,
    ) -> AppResult<()> {
        let secret = RefreshToken::generate();
        let at = now();
        self.one_time_tokens
            .issue(&NewOneTimeToken {
                user_id: user.id.clone(),
                purpose,
                token_hash: secret.hash,
                created_at: at,
                expires_at: at + valid_for,
            })
            .await?;
        // base64url needs no escaping in a query string.
        let link = format!("{}/{path}?token={}", self.settings.public_url, secret.token);
        let rendered = render(&TokenMail {
            display_name: &user.display_name,
            link: &link,
            token: &secret.token,
            valid_for,
        });
        self.outbox
            .enqueue(&OutgoingMail {
                id: MailId::generate(),
                to: user.email.clone(),
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                created_at: at,
            })
            .await?;
        Ok(())
    }
}
