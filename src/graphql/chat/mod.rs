//! Chat over GraphQL: the viewer's rooms, opening direct rooms and making groups, sending,
//! reading, typing, and the `messageAdded` and `typing` subscriptions.
//!
//! Thin like every resolver here: read the viewer, parse ids and values, call `ChatService`,
//! convert. Rooms the viewer is not in do not exist as far as these fields tell.

mod subscription;
mod types;

use async_graphql::{Context, ID, Object, Result};

pub use self::subscription::ChatSubscription;
pub use self::types::Message;
use self::types::{ChatRoom, ChatRoomConnection, RoomsTotal};
use super::ContextExt;
use super::connection::{connection_of, page_request};
use crate::domain::{self, ChatRoomId, GroupTitle, MAX_GROUP_MEMBERS, PostId, UserId};
use crate::error::AppError;
use crate::graphql::parse_id;

fn room_id(id: &ID) -> Result<ChatRoomId, AppError> {
    parse_id::<ChatRoomId>("roomId", id)
}

#[derive(Default)]
pub struct ChatQuery;

#[Object]
impl ChatQuery {
    /// The viewer's chat rooms, most recent activity first.
    async fn chat_rooms(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ChatRoomConnection> {
        let viewer = ctx.require_viewer()?;
        let page = page_request(first, after)?;
        let rooms = ctx.services().chat.rooms(viewer, &page).await?;
        let total = RoomsTotal(viewer.clone());
        Ok(connection_of(&page, rooms, total, ChatRoom))
    }

    /// A room of the viewer's; `null` when it does not exist or the viewer is not a member.
    async fn chat_room(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ChatRoom>> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id::<ChatRoomId>("id", &id)?;
        let room = ctx.services().chat.room(viewer, &id).await?;
        Ok(room.map(ChatRoom))
    }
}

#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    /// The direct room with `userId` (about `listingId`, when given): the existing one, or a
    /// new one. Yourself or a post that is not a listing is `BAD_USER_INPUT`; an unknown user
    /// or listing `NOT_FOUND`; a user you block or who blocks you `FORBIDDEN`.
    async fn open_chat(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
        listing_id: Option<ID>,
    ) -> Result<ChatRoom> {
        let viewer = ctx.require_viewer()?;
        let other = parse_id::<UserId>("userId", &user_id)?;
        let listing = listing_id
            .as_ref()
            .map(|id| parse_id::<PostId>("listingId", id))
            .transpose()?;
        let room = ctx
            .services()
            .chat
            .open_chat(viewer, &other, listing.as_ref())
            .await?;
        Ok(ChatRoom(room))
    }

    /// A group of the viewer and `memberIds` (at most 49 others), titled `title`.
    async fn create_group_chat(
        &self,
        ctx: &Context<'_>,
        title: String,
        member_ids: Vec<ID>,
    ) -> Result<ChatRoom> {
        let viewer = ctx.require_viewer()?;
        let title = GroupTitle::parse("title", &title)?;
        // Bounded before parsing, so a huge list costs nothing; duplicates are fine below it.
        if member_ids.len() > 2 * MAX_GROUP_MEMBERS {
            return Err(AppError::bad_input(
                "memberIds",
                format!("must name at most {} other users", MAX_GROUP_MEMBERS - 1),
            )
            .into());
        }
        let members = member_ids
            .iter()
            .map(|id| parse_id::<UserId>("memberIds", id))
            .collect::<Result<Vec<_>, _>>()?;
        let room = ctx
            .services()
            .chat
            .create_group(viewer, title, members)
            .await?;
        Ok(ChatRoom(room))
    }

    /// Sends a message to a room of the viewer's (1 to 4000 characters, trimmed).
    async fn send_message(&self, ctx: &Context<'_>, room_id: ID, body: String) -> Result<Message> {
        let viewer = ctx.require_viewer()?;
        let room = self::room_id(&room_id)?;
        let body = domain::parse_message_body("body", &body)?;
        let message = ctx
            .services()
            .chat
            .send_message(viewer, &room, body)
            .await?;
        Ok(Message(message))
    }

    /// Marks every message of the room read for the viewer.
    async fn mark_room_read(&self, ctx: &Context<'_>, room_id: ID) -> Result<ChatRoom> {
        let viewer = ctx.require_viewer()?;
        let room = self::room_id(&room_id)?;
        let room = ctx.services().chat.mark_room_read(viewer, &room).await?;
        Ok(ChatRoom(room))
    }

    /// Tells the room's other members (through `typing`) that the viewer is typing. Send it
    /// every few seconds while typing; it is rate-limited and never stored with the room.
    async fn send_typing(&self, ctx: &Context<'_>, room_id: ID) -> Result<bool> {
        let viewer = ctx.require_viewer()?;
        let room = self::room_id(&room_id)?;
        ctx.services().chat.typing(viewer, &room).await?;
        Ok(true)
    }
}
