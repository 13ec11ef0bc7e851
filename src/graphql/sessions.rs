//! Sessions over GraphQL: signing up and logging in, refreshing tokens and logging out.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::ContextExt;
use super::users::{Role, User};
use crate::domain::{DisplayName, Email, NewPassword, Username, ValidationError};
use crate::error::AppError;
use crate::service::{AuthSession, RegisterCommand};

/// Signing up and logging in. A separate object from [`SessionMutation`] only to keep the
/// order of `Mutation`'s fields in `schema.graphql`: the email lifecycle's mutations stand
/// between the two.
#[derive(Default)]
pub struct LoginMutation;

#[Object]
impl LoginMutation {
    /// Creates an account (`BUYER` or `SELLER`), logs it in and mails a link to verify the
    /// email address.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let session = ctx
            .services()
            .sessions
            .register(input.parse()?, &ctx.origin())
            .await?;
        Ok(session.into())
    }

    /// Logs in. A wrong password and an unknown email give the same `UNAUTHENTICATED`.
    /// Attempts are limited per email address and per client address (`RATE_LIMITED`).
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<AuthPayload> {
        let session = ctx
            .services()
            .sessions
            .login(&email, &password, &ctx.origin())
            .await?;
        Ok(session.into())
    }
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Trades a refresh token for a new access and refresh token. Each refresh token works
    /// once; presenting a used one again ends the whole session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> Result<AuthPayload> {
        let session = ctx.services().sessions.refresh(&refresh_token).await?;
        Ok(session.into())
    }

    /// Ends the session of this refresh token.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        Ok(ctx.services().sessions.logout(&refresh_token).await?)
    }

    /// Ends every session of the viewer, on every device, including this one.
    async fn logout_everywhere(&self, ctx: &Context<'_>) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        Ok(ctx.services().sessions.logout_everywhere(viewer).await?)
    }
}

/// Tokens for a logged-in session.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// A JWT for `Authorization: Bearer …`, valid until `expiresAt` (15 minutes).
    pub access_token: String,
    /// Opaque; trade it for a new pair with `refreshSession`. Single use.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

impl From<AuthSession> for AuthPayload {
    fn from(session: AuthSession) -> Self {
        Self {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            expires_at: session.expires_at,
            user: User::owned(session.user),
        }
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    pub email: String,
    /// 8 to 128 characters, and hard to guess: a password the zxcvbn estimator scores below
    /// 3 of 4 (common passwords, keyboard runs, repeats, the user's own email or username)
    /// is `BAD_USER_INPUT` with the reason.
    pub password: String,
    /// 3 to 30 of `a-z`, `0-9`, `_`, starting with a letter, after NFKC normalisation and
    /// case folding (`ＡＮＮ` is `ann`). A name that looks like a taken one (`ann_1` beside
    /// `ann_l`) is `CONFLICT` like a taken name.
    pub username: String,
    pub display_name: String,
    /// `BUYER` or `SELLER`; `ADMIN` is refused.
    #[graphql(default_with = "Role::Buyer")]
    pub role: Role,
}

impl RegisterInput {
    fn parse(self) -> Result<RegisterCommand, AppError> {
        let under = |e: ValidationError| AppError::from(e.under("input"));
        Ok(RegisterCommand {
            email: Email::parse(&self.email).map_err(under)?,
            password: NewPassword::parse("input.password", &self.password)?,
            username: Username::parse(&self.username).map_err(under)?,
            display_name: DisplayName::parse(&self.display_name).map_err(under)?,
            role: self.role.into(),
        })
    }
}
