//! Administration: roles and activation of accounts, and making admins. Only admins may use
//! the API half; `create_admin` is for the operator's command line.

use std::sync::Arc;

use super::sessions::{SessionRevoker, Viewer};
use super::users::UserService;
use crate::clock::now;
use crate::domain::{DisplayName, Email, NewPassword, Role, User, UserId, Username};
use crate::error::{AppError, AppResult};
use crate::store::UserStore;

#[derive(Clone)]
pub struct AdminService {
    store: Arc<dyn UserStore>,
    users: UserService,
    revoker: SessionRevoker,
}

impl AdminService {
    pub fn new(store: Arc<dyn UserStore>, users: UserService, revoker: SessionRevoker) -> Self {
        Self {
            store,
            users,
            revoker,
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
            .await?;
        self.users.announce(user).await
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
        let user = self.store.set_active(user_id, active, now()).await?;
        if !active && user.is_some() {
            self.revoker.revoke(user_id, None).await?;
        }
        self.users.announce(user).await
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
            .users
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

fn require_admin(viewer: &Viewer) -> AppResult<()> {
    if viewer.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden("only admins may do this"))
    }
}
