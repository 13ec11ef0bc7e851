//! Output types of notifications. Every relation field goes through a per-request loader.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::domain;
use crate::graphql::ContextExt;
use crate::graphql::chat::Message;
use crate::graphql::connection::cursor_of;
use crate::graphql::orders::Order;
use crate::graphql::posts::Post;
use crate::graphql::users::User;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NotificationKind {
    /// Someone started following the viewer.
    Followed,
    /// Someone reacted to the viewer's post.
    PostReacted,
    /// Someone commented on the viewer's post.
    PostCommented,
    /// Someone replied to the viewer's comment.
    CommentReplied,
    /// Someone mentioned the viewer in a post.
    Mentioned,
    /// Someone wrote in a chat room of the viewer's.
    MessageReceived,
    /// Someone reviewed one of the viewer's listings.
    ReviewAdded,
    /// A buyer placed an order with the viewer (a seller).
    OrderPlaced,
    /// One of the viewer's orders moved: for the buyer, any move they did not make; for the
    /// seller, the buyer's moves.
    OrderStatusChanged,
}

impl From<domain::NotificationKind> for NotificationKind {
    fn from(kind: domain::NotificationKind) -> Self {
        match kind {
            domain::NotificationKind::Followed => NotificationKind::Followed,
            domain::NotificationKind::PostReacted => NotificationKind::PostReacted,
            domain::NotificationKind::PostCommented => NotificationKind::PostCommented,
            domain::NotificationKind::CommentReplied => NotificationKind::CommentReplied,
            domain::NotificationKind::Mentioned => NotificationKind::Mentioned,
            domain::NotificationKind::MessageReceived => NotificationKind::MessageReceived,
            domain::NotificationKind::ReviewAdded => NotificationKind::ReviewAdded,
            domain::NotificationKind::OrderPlaced => NotificationKind::OrderPlaced,
            domain::NotificationKind::OrderStatusChanged => NotificationKind::OrderStatusChanged,
        }
    }
}

pub type NotificationConnection = Connection<String, Notification, EmptyFields, EmptyFields>;

/// Something that happened to the viewer.
pub struct Notification(pub domain::Notification);

/// Something that happened to the viewer.
///
/// A repeated toggle (the same user following the viewer, or reacting to the same post,
/// again) while this is unread updates this one instead of adding another: `createdAt`
/// moves to the latest time, while `id`, `cursor` and place in the list stay, and it is not
/// pushed again. Once it is read, the next repeat is a new notification.
#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> NotificationKind {
        self.0.kind.into()
    }
    /// Who caused it; `null` when unknown.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let actor = ctx.loaders().users.load_opt(self.0.actor_id.as_ref());
        Ok(actor.await?.map(User::new))
    }
    /// The post it is about; `null` when none, or when the post is gone.
    async fn post(&self, ctx: &Context<'_>) -> Result<Option<Post>> {
        Post::load_live(ctx, self.0.post_id.as_ref()).await
    }
    /// The chat message it is about (`MESSAGE_RECEIVED`).
    async fn message(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let message = ctx.loaders().messages.load_opt(self.0.message_id.as_ref());
        Ok(message.await?.map(Message))
    }
    /// The order it is about (`ORDER_PLACED`, `ORDER_STATUS_CHANGED`).
    async fn order(&self, ctx: &Context<'_>) -> Result<Option<Order>> {
        let (Some(id), Some(orders)) = (&self.0.order_id, &ctx.loaders().orders) else {
            return Ok(None);
        };
        Ok(orders.load_one(id.clone()).await?.map(Order))
    }
    /// When it happened; for a notification that repeats coalesced into, the latest time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the viewer marked it read; `null` while unread.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    /// Where this notification sits among the viewer's, for `notifications(after:)` and
    /// `notificationAdded(after:)`.
    async fn cursor(&self) -> String {
        cursor_of(&self.0)
    }
}
