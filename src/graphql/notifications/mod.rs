//! Notifications over GraphQL: the viewer's list and unread count, marking read, and the
//! `notificationAdded` subscription.
//!
//! Thin like every resolver here: read the viewer, parse, call `NotificationService`, convert.

mod subscription;
mod types;

use async_graphql::connection::EmptyFields;
use async_graphql::{Context, ID, Object, Result};

pub use self::subscription::NotificationSubscription;
use self::types::{Notification, NotificationConnection};
use super::ContextExt;
use super::connection::{connection_of, page_request};
use crate::domain::NotificationId;
use crate::error::AppError;
use crate::graphql::parse_id;

/// Ids a client may pass to `markNotificationsRead` at once.
const MAX_MARK_IDS: usize = 100;

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The viewer's notifications, newest first; only unread ones with `unreadOnly`.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        unread_only: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<NotificationConnection> {
        let viewer = ctx.require_viewer()?;
        let page = page_request(first, after)?;
        let unread_only = unread_only.unwrap_or(false);
        let notifications = &ctx.services().notifications;
        let found = notifications.list(viewer, unread_only, &page).await?;
        Ok(connection_of(&page, found, EmptyFields, Notification))
    }

    /// How many of the viewer's notifications are unread.
    async fn unread_notifications_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let viewer = ctx.require_viewer()?;
        Ok(ctx.services().notifications.count_unread(viewer).await?)
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks the viewer's notifications among `ids` read, or all of them without `ids`.
    /// Returns how many were unread. Ids of other users' notifications are ignored.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
    ) -> Result<u64> {
        let viewer = ctx.require_viewer()?;
        let ids = ids
            .map(|ids| {
                if ids.len() > MAX_MARK_IDS {
                    return Err(AppError::bad_input(
                        "ids",
                        format!("must name at most {MAX_MARK_IDS} notifications"),
                    ));
                }
                ids.iter()
                    .map(|id| parse_id::<NotificationId>("ids", id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(ctx
            .services()
            .notifications
            .mark_read(viewer, ids.as_deref())
            .await?)
    }
}
