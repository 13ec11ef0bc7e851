//! Accounts: who you are, logging in and out, your profile, addresses and cards, and
//! account administration.

mod inputs;
mod types;

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, Object, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use self::inputs::{AddressInput, CardInput, RegisterInput, UpdateProfileInput};
pub use self::types::{Address, User};
use self::types::{AuthPayload, PaymentCard, Role};
use super::ContextExt;
use super::connection::{encode_cursor, page_request};
use crate::domain::{self, AddressId, CardId, NewPassword, UserId};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::parse_id;
use crate::store::UserSearch;

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The logged-in user; `null` when anonymous.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<User> {
        ctx.viewer().map(|v| User::new(v.user.clone()))
    }

    /// A user by id or by username (exactly one of them).
    async fn user(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        username: Option<String>,
    ) -> Result<Option<User>> {
        let users = &ctx.services().users;
        let user = match (id, username) {
            (Some(id), None) => ctx
                .loaders()
                .users
                .load_one(parse_id::<UserId>("id", &id)?)
                .await?
                .filter(|u| u.active || ctx.viewer().is_some_and(|v| v.is_admin())),
            (None, Some(username)) => users.find_user_by_username(ctx.viewer(), &username).await?,
            _ => {
                return Err(
                    AppError::bad_input("id", "give exactly one of id and username").into(),
                );
            }
        };
        Ok(user.map(User::new))
    }

    /// Users whose username or display name contains `search` (admins also match emails and
    /// see deactivated accounts), ordered by username.
    async fn users(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        let page = page_request(first, after)?;
        let users = &ctx.services().users;
        let search = users.user_search(ctx.viewer(), search.as_deref());
        let result = users.search_users(&search, &page).await?;
        let mut connection = Connection::with_additional_fields(
            page.after.is_some(),
            result.has_next,
            UsersTotal::Search(search),
        );
        connection.edges.extend(
            result
                .items
                .into_iter()
                .map(|u| Edge::new(encode_cursor(u.username.as_str()), User::new(u))),
        );
        Ok(connection)
    }
}

/// Every list of users is this one GraphQL type, `UserConnection`; async-graphql requires
/// one Rust type per GraphQL name, so the lists differ only in how they know their total.
pub(super) type UserConnection = Connection<String, User, UsersTotal, EmptyFields>;

/// `totalCount` of a user list.
pub enum UsersTotal {
    /// A search, counted only when a client asks for it.
    Search(UserSearch),
    /// A number the list already knows, such as a user's denormalised followers count.
    Known(u64),
}

#[Object]
impl UsersTotal {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        match self {
            UsersTotal::Search(search) => Ok(ctx.services().users.count_users(search).await?),
            UsersTotal::Known(total) => Ok(*total),
        }
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
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

    /// Mails a single-use link (and code) for `resetPassword` when the address belongs to an
    /// account. Always `true`, for unknown addresses too, so it reveals nothing about who
    /// has an account. A newer request makes the previous link stop working.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        Ok(ctx
            .services()
            .users
            .request_password_reset(&email, &ctx.origin())
            .await?)
    }

    /// Sets a new password with the token from a reset mail, and ends every session of the
    /// account (on every device). A used, expired or superseded token is `BAD_USER_INPUT` on
    /// `token`; a guessable new password is `BAD_USER_INPUT` on `newPassword`, with the
    /// reason, and leaves the token usable.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        let new = NewPassword::parse("newPassword", &new_password).map_err(AppError::from)?;
        Ok(ctx.services().users.reset_password(&token, &new).await?)
    }

    /// Mails the viewer a new link to verify their email address (earlier links stop
    /// working). `true` without a mail when the address is already verified.
    async fn request_email_verification(&self, ctx: &Context<'_>) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        Ok(ctx
            .services()
            .users
            .request_email_verification(viewer)
            .await?)
    }

    /// Marks the email address of the token's account as verified; no login needed. A used,
    /// expired or superseded token is `BAD_USER_INPUT` on `token`.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        Ok(ctx.services().users.verify_email(&token).await?)
    }

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

    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let viewer = ctx.require_viewer()?;
        let user = ctx
            .services()
            .users
            .update_profile(viewer, input.parse()?)
            .await?;
        Ok(User::new(user))
    }

    /// Changes the password and ends every other session of the viewer. A guessable new
    /// password is `BAD_USER_INPUT` on `newPassword`, with the reason.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let new = NewPassword::parse("newPassword", &new_password).map_err(AppError::from)?;
        Ok(ctx
            .services()
            .users
            .change_password(viewer, &current_password, &new)
            .await?)
    }

    async fn add_address(&self, ctx: &Context<'_>, input: AddressInput) -> Result<Address> {
        let viewer = ctx.require_viewer()?;
        let address = ctx
            .services()
            .wallet
            .add_address(viewer, input.parse()?)
            .await?;
        Ok(Address(address))
    }

    async fn remove_address(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<AddressId>("id", &id)?;
        Ok(ctx.services().wallet.remove_address(viewer, &id).await?)
    }

    /// Saves a card: the number is checked and discarded; brand, last four digits and
    /// expiry are kept.
    async fn add_payment_card(&self, ctx: &Context<'_>, input: CardInput) -> Result<PaymentCard> {
        let viewer = ctx.require_viewer()?;
        let (number, expiry, holder) = input.parse()?;
        let card = ctx
            .services()
            .wallet
            .add_card(viewer, number, expiry, holder)
            .await?;
        Ok(PaymentCard(card))
    }

    async fn remove_payment_card(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<CardId>("id", &id)?;
        Ok(ctx.services().wallet.remove_card(viewer, &id).await?)
    }

    /// Replaces a user's roles (`BUYER` is always kept). Admins only.
    async fn set_user_roles(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        roles: Vec<Role>,
    ) -> Result<User> {
        let viewer = ctx.require_viewer()?;
        let user_id = parse_id::<UserId>("userId", &user_id)?;
        let roles: Vec<domain::Role> = roles.into_iter().map(Into::into).collect();
        Ok(User::new(
            ctx.services()
                .admin
                .set_user_roles(viewer, &user_id, &roles)
                .await?,
        ))
    }

    /// Activates or deactivates an account; deactivation ends all its sessions. Admins only.
    async fn set_user_active(&self, ctx: &Context<'_>, user_id: ID, active: bool) -> Result<User> {
        let viewer = ctx.require_viewer()?;
        let user_id = parse_id::<UserId>("userId", &user_id)?;
        Ok(User::new(
            ctx.services()
                .admin
                .set_user_active(viewer, &user_id, active)
                .await?,
        ))
    }
}

#[derive(Default)]
pub struct AccountSubscription;

#[Subscription]
impl AccountSubscription {
    /// The viewer's own account whenever it changes (profile, roles, activation), for
    /// example when edited from another device.
    async fn viewer_updated(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = User> + use<>> {
        let viewer_id = ctx.require_viewer()?.id().clone();
        let services = ctx.services().clone();
        let receiver = services.events.subscribe();
        Ok(futures_util::stream::unfold(
            receiver,
            move |mut receiver| {
                let (viewer_id, services) = (viewer_id.clone(), services.clone());
                async move {
                    loop {
                        match receiver.recv().await {
                            Ok(event) => match &*event {
                                DomainEvent::UserUpdated(user) if user.id == viewer_id => {
                                    return Some((User::new(user.clone()), receiver));
                                }
                                _ => {}
                            },
                            // Missed events may have included an update: send the current state.
                            Err(RecvError::Lagged(_)) => {
                                if let Ok(Some(user)) =
                                    services.users.get_user(None, &viewer_id).await
                                {
                                    return Some((User::new(user), receiver));
                                }
                            }
                            Err(RecvError::Closed) => return None,
                        }
                    }
                }
            },
        ))
    }
}
