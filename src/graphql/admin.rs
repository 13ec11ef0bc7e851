//! Administration over GraphQL: roles and activation of accounts. Admins only; the service
//! says so.

use async_graphql::{Context, ID, Object, Result};

use super::ContextExt;
use super::users::{Role, User};
use crate::domain::{self, UserId};
use crate::graphql::parse_id;

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
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
        let user = ctx
            .services()
            .admin
            .set_user_roles(viewer, &user_id, &roles)
            .await?;
        Ok(User::new(user))
    }

    /// Activates or deactivates an account; deactivation ends all its sessions. Admins only.
    async fn set_user_active(&self, ctx: &Context<'_>, user_id: ID, active: bool) -> Result<User> {
        let viewer = ctx.require_viewer()?;
        let user_id = parse_id::<UserId>("userId", &user_id)?;
        let user = ctx
            .services()
            .admin
            .set_user_active(viewer, &user_id, active)
            .await?;
        Ok(User::new(user))
    }
}
