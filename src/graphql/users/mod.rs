//! Users over GraphQL: who you are, finding and listing users, your profile and password,
//! the email lifecycle (password reset, verification), and your own account's updates.

mod inputs;
mod types;

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, Object, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use self::inputs::UpdateProfileInput;
pub use self::types::{Role, User};
use super::ContextExt;
use super::connection::{encode_cursor, page_request};
use crate::domain::{NewPassword, UserId};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::parse_id;
use crate::store::UserSearch;

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
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
            // Through the users loader, so a request that also shows this user elsewhere
            // (as an author, a follower) reads them once; who may see them is the service's
            // rule.
            (Some(id), None) => ctx
                .loaders()
                .users
                .load_one(parse_id::<UserId>("id", &id)?)
                .await?
                .filter(|user| crate::service::visible_to(ctx.viewer(), user)),
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

/// The email lifecycle: password reset and address verification by mailed tokens.
#[derive(Default)]
pub struct LifecycleMutation;

#[Object]
impl LifecycleMutation {
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
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
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
}

#[derive(Default)]
pub struct UserSubscription;

#[Subscription]
impl UserSubscription {
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
