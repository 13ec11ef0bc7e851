//! Output types of chat. Every relation field goes through a per-request loader.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use crate::domain;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::connection::{connection_of, cursor_of, page_request};
use crate::graphql::posts::Post;
use crate::graphql::users::User;
use crate::service::Viewer;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ChatRoomKind {
    /// Two people, optionally about a listing.
    Direct,
    /// A titled room of several people.
    Group,
}

impl From<domain::ChatRoomKind> for ChatRoomKind {
    fn from(kind: domain::ChatRoomKind) -> Self {
        match kind {
            domain::ChatRoomKind::Direct => ChatRoomKind::Direct,
            domain::ChatRoomKind::Group => ChatRoomKind::Group,
        }
    }
}

/// A chat room the viewer is a member of.
pub struct ChatRoom(pub domain::ChatRoom);

/// `totalCount` of a room's messages: messages are never deleted and are numbered without
/// gaps, so the count is the last number.
pub struct MessagesTotal(i64);

#[Object]
impl MessagesTotal {
    async fn total_count(&self) -> i64 {
        self.0
    }
}

pub type MessageConnection = Connection<String, Message, MessagesTotal, EmptyFields>;
pub type ChatRoomConnection = Connection<String, ChatRoom, RoomsTotal, EmptyFields>;

/// `totalCount` of the viewer's rooms, counted only when a client asks for it.
pub struct RoomsTotal(pub Viewer);

#[Object]
impl RoomsTotal {
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(ctx.services().chat.count_rooms(&self.0).await?)
    }
}

#[Object]
impl ChatRoom {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> ChatRoomKind {
        self.0.kind.into()
    }
    /// The group's title; `null` for direct rooms.
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    /// Every member, the creator first.
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let members = ctx.loaders().users.load_in_order(&self.0.members).await?;
        Ok(members.into_iter().map(User::new).collect())
    }
    /// The listing a direct room is about; `null` when none (or it is no longer visible).
    async fn listing(&self, ctx: &Context<'_>) -> Result<Option<Post>> {
        Post::load_live(ctx, self.0.listing_id.as_ref()).await
    }
    async fn last_message(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let message = ctx
            .loaders()
            .messages
            .load_opt(self.0.last_message_id.as_ref());
        Ok(message.await?.map(Message))
    }
    /// Messages the viewer has not read: those after their read position, which moves on
    /// `markRoomRead` and whenever they send a message.
    async fn unread_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let Some(loader) = &ctx.loaders().unread_counts else {
            return Ok(0);
        };
        Ok(loader.load_one(self.0.id.clone()).await?.unwrap_or(0))
    }
    /// Newest first.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<MessageConnection> {
        let viewer = ctx.require_viewer()?;
        let page = page_request(first, after)?;
        let messages = ctx.services().chat.messages(viewer, &self.0, &page).await?;
        let total = MessagesTotal(self.0.last_seq);
        Ok(connection_of(&page, messages, total, Message))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the last message arrived (the creation time before any).
    async fn last_activity_at(&self) -> DateTime<Utc> {
        self.0.last_activity_at
    }
}

/// A message in a chat room.
pub struct Message(pub domain::Message);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn room(&self, ctx: &Context<'_>) -> Result<ChatRoom> {
        let room = ctx.loaders().chat_rooms.load_one(self.0.room_id.clone());
        Ok(ChatRoom(
            room.await?.ok_or(AppError::NotFound("chat room"))?,
        ))
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<User> {
        user(ctx, &self.0.author_id).await
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Where this message sits in its room, for `messages(after:)` and
    /// `messageAdded(after:)`.
    async fn cursor(&self) -> String {
        cursor_of(&self.0)
    }
}

/// Someone in the room is typing. Ephemeral: never stored with the room.
pub struct TypingEvent {
    pub room_id: domain::ChatRoomId,
    pub user_id: domain::UserId,
}

#[Object]
impl TypingEvent {
    async fn room_id(&self) -> ID {
        ID(self.room_id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        user(ctx, &self.user_id).await
    }
}

/// A user a message or an announcement names; `NOT_FOUND` should they be gone.
async fn user(ctx: &Context<'_>, id: &domain::UserId) -> Result<User> {
    let user = ctx.loaders().users.load_one(id.clone()).await?;
    Ok(User::new(user.ok_or(AppError::NotFound("user"))?))
}
