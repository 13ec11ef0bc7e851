//! Chat: direct rooms (optionally about a listing), group rooms, messages, read positions and
//! typing announcements.
//!
//! Rules owned here:
//! - Only members see a room, its messages and its events. A room the viewer is not in is
//!   `NOT_FOUND`, exactly like a room that does not exist, so ids cannot be probed.
//! - A blocked pair (either direction) cannot open a direct room together, nor send or type
//!   into the direct room they already share (`FORBIDDEN`).
//! - Groups: the creator cannot put in a group anyone they block or who blocks them
//!   (`FORBIDDEN`). A block made later does not stop either from writing in the group: a
//!   group is a shared space, and silencing a member for everyone because of one pair's block
//!   would let any member mute another. Each still sees the other's messages there; leaving
//!   groups is the way out (not built yet).
//! - Opening direct rooms, creating groups, sending and typing are rate-limited per user.
//!
//! Events: `MessageSent` after a message is stored, `Typing` (never stored), each with the
//! room's members so subscribers filter by id comparison.

use std::sync::Arc;

use super::posts::PostService;
use super::users::UserService;
use super::{Action, NumberedFeed, RateLimiter, Viewer};
use crate::clock::now;
use crate::domain::{
    ChatRoom, ChatRoomId, ChatRoomKind, GroupTitle, MAX_GROUP_MEMBERS, Message, MessageId, PostId,
    PostKind, UserId,
};
use crate::error::{AppError, AppResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::{ChatStore, Page, PageRequest, SocialStore};

const BLOCKED: &str = "you cannot message this user";

#[derive(Clone)]
pub struct ChatService {
    chat: Arc<dyn ChatStore>,
    social: Arc<dyn SocialStore>,
    users: UserService,
    posts: PostService,
    rate_limits: RateLimiter,
    events: EventBus,
}

impl ChatService {
    pub fn new(
        chat: Arc<dyn ChatStore>,
        social: Arc<dyn SocialStore>,
        users: UserService,
        posts: PostService,
        rate_limits: RateLimiter,
        events: EventBus,
    ) -> Self {
        Self {
            chat,
            social,
            users,
            posts,
            rate_limits,
            events,
        }
    }

    /// The direct room of the viewer and `other` (about `listing`, if given): the existing
    /// one, or a new one.
    pub async fn open_chat(
        &self,
        viewer: &Viewer,
        other: &UserId,
        listing: Option<&PostId>,
    ) -> AppResult<ChatRoom> {
        self.rate_limits
            .check(Action::OpenChat, viewer.id().as_str())
            .await?;
        if other == viewer.id() {
            return Err(AppError::bad_input("userId", "cannot be yourself"));
        }
        self.users
            .get_user(Some(viewer), other)
            .await?
            .filter(|u| u.active)
            .ok_or(AppError::NotFound("user"))?;
        if self
            .social
            .is_blocked_either_way(viewer.id(), other)
            .await?
        {
            return Err(AppError::Forbidden(BLOCKED));
        }
        if let Some(listing) = listing {
            let post = self
                .posts
                .get_post(Some(viewer), listing)
                .await?
                .ok_or(AppError::NotFound("listing"))?;
            if post.kind != PostKind::Listing {
                return Err(AppError::bad_input("listingId", "is not a listing"));
            }
        }
        let at = now();
        let room = ChatRoom {
            id: ChatRoomId::generate(),
            kind: ChatRoomKind::Direct,
            title: None,
            members: vec![viewer.id().clone(), other.clone()],
            listing_id: listing.cloned(),
            created_by: viewer.id().clone(),
            created_at: at,
            last_activity_at: at,
            last_seq: 0,
            last_message_id: None,
        };
        let (room, _created) = self.chat.open_direct_room(&room).await?;
        Ok(room)
    }

    /// A new group of the viewer and `member_ids` (duplicates and the viewer themself are
    /// ignored in the list): at least one other member, at most [`MAX_GROUP_MEMBERS`] in all,
    /// every one an active user outside a block with the viewer.
    pub async fn create_group(
        &self,
        viewer: &Viewer,
        title: GroupTitle,
        member_ids: Vec<UserId>,
    ) -> AppResult<ChatRoom> {
        self.rate_limits
            .check(Action::CreateGroupChat, viewer.id().as_str())
            .await?;
        let mut members = vec![viewer.id().clone()];
        for id in member_ids {
            if !members.contains(&id) {
                members.push(id);
            }
        }
        if members.len() < 2 {
            return Err(AppError::bad_input(
                "memberIds",
                "must name at least one other user",
            ));
        }
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(AppError::bad_input(
                "memberIds",
                format!("must name at most {} other users", MAX_GROUP_MEMBERS - 1),
            ));
        }
        let found = self.users.get_many_users(&members[1..]).await?;
        let all_active = members[1..]
            .iter()
            .all(|id| found.iter().any(|u| &u.id == id && u.active));
        if !all_active {
            return Err(AppError::bad_input("memberIds", "names an unknown user"));
        }
        let partners = self.social.block_partners(viewer.id()).await?;
        if members[1..].iter().any(|m| partners.contains(m)) {
            return Err(AppError::Forbidden(BLOCKED));
        }
        let at = now();
        let room = ChatRoom {
            id: ChatRoomId::generate(),
            kind: ChatRoomKind::Group,
            title: Some(title.into_string()),
            members,
            listing_id: None,
            created_by: viewer.id().clone(),
            created_at: at,
            last_activity_at: at,
            last_seq: 0,
            last_message_id: None,
        };
        self.chat.create_group_room(&room).await?;
        Ok(room)
    }

    /// The room, when the viewer is a member; `None` otherwise (also for unknown ids).
    pub async fn room(&self, viewer: &Viewer, id: &ChatRoomId) -> AppResult<Option<ChatRoom>> {
        let rooms = self.chat.get_many_rooms(std::slice::from_ref(id)).await?;
        Ok(rooms.into_iter().find(|room| room.has_member(viewer.id())))
    }

    /// [`ChatService::room`], `NOT_FOUND` when there is none: a room the viewer is not in
    /// looks exactly like one that does not exist.
    async fn room_of_member(&self, viewer: &Viewer, id: &ChatRoomId) -> AppResult<ChatRoom> {
        self.room(viewer, id)
            .await?
            .ok_or(AppError::NotFound("chat room"))
    }

    /// A room of the viewer's to follow live (`messageAdded`, `typing`); `NOT_FOUND` unless the
    /// viewer is a member.
    pub async fn room_feed(&self, viewer: &Viewer, id: &ChatRoomId) -> AppResult<RoomFeed> {
        Ok(RoomFeed {
            chat: Arc::clone(&self.chat),
            viewer: viewer.id().clone(),
            room: self.room_of_member(viewer, id).await?,
        })
    }

    /// `FORBIDDEN` when `room` is a direct room whose two members block each other.
    async fn ensure_not_blocked(&self, viewer: &Viewer, room: &ChatRoom) -> AppResult<()> {
        if let Some(other) = room.other_member(viewer.id())
            && self
                .social
                .is_blocked_either_way(viewer.id(), other)
                .await?
        {
            return Err(AppError::Forbidden(BLOCKED));
        }
        Ok(())
    }

    /// Stores a message from the viewer (`body` already parsed) and announces it.
    pub async fn send_message(
        &self,
        viewer: &Viewer,
        room_id: &ChatRoomId,
        body: String,
    ) -> AppResult<Message> {
        self.rate_limits
            .check(Action::SendMessage, viewer.id().as_str())
            .await?;
        let room = self.room_of_member(viewer, room_id).await?;
        self.ensure_not_blocked(viewer, &room).await?;
        let message = Message {
            id: MessageId::generate(),
            room_id: room.id.clone(),
            seq: 0,
            author_id: viewer.id().clone(),
            body,
            created_at: now(),
        };
        let message = self
            .chat
            .add_message(&message)
            .await?
            .ok_or(AppError::NotFound("chat room"))?;
        self.events
            .publish(DomainEvent::MessageSent {
                message: message.clone(),
                members: room.members,
            })
            .await;
        Ok(message)
    }

    /// Announces to the room's other members that the viewer is typing. Nothing is stored
    /// with the room; the announcement crosses instances as an ephemeral event-log entry,
    /// pruned within [`crate::events::EPHEMERAL_RETENTION`] and a prune interval.
    pub async fn typing(&self, viewer: &Viewer, room_id: &ChatRoomId) -> AppResult<()> {
        self.rate_limits
            .check(Action::Typing, viewer.id().as_str())
            .await?;
        let room = self.room_of_member(viewer, room_id).await?;
        self.ensure_not_blocked(viewer, &room).await?;
        self.events
            .publish(DomainEvent::Typing {
                room_id: room.id,
                user_id: viewer.id().clone(),
                members: room.members,
            })
            .await;
        Ok(())
    }

    /// Marks everything in the room read for the viewer; returns the room.
    pub async fn mark_room_read(
        &self,
        viewer: &Viewer,
        room_id: &ChatRoomId,
    ) -> AppResult<ChatRoom> {
        let room = self.room_of_member(viewer, room_id).await?;
        self.chat.mark_room_read(&room.id, viewer.id()).await?;
        Ok(room)
    }

    /// The viewer's rooms, most recent activity first.
    pub async fn rooms(&self, viewer: &Viewer, page: &PageRequest) -> AppResult<Page<ChatRoom>> {
        Ok(self.chat.rooms_of(viewer.id(), page).await?)
    }

    /// How many rooms the viewer is a member of.
    pub async fn count_rooms(&self, viewer: &Viewer) -> AppResult<u64> {
        Ok(self.chat.count_rooms_of(viewer.id()).await?)
    }

    /// Messages of `room`, newest first, when the viewer is a member (`NOT_FOUND` otherwise).
    pub async fn messages(
        &self,
        viewer: &Viewer,
        room: &ChatRoom,
        page: &PageRequest,
    ) -> AppResult<Page<Message>> {
        if !room.has_member(viewer.id()) {
            return Err(AppError::NotFound("chat room"));
        }
        Ok(self.chat.messages(&room.id, page).await?)
    }

    /// The rooms among `ids` that `viewer` is a member of, for loaders.
    pub async fn get_many_rooms(
        &self,
        viewer: &UserId,
        ids: &[ChatRoomId],
    ) -> AppResult<Vec<ChatRoom>> {
        let mut rooms = self.chat.get_many_rooms(ids).await?;
        rooms.retain(|room| room.has_member(viewer));
        Ok(rooms)
    }

    /// Messages by id for loaders. Their ids come from a room the viewer is a member of
    /// (`lastMessage`) or from a notification the viewer received as one (members never
    /// change), so what is found may be shown.
    pub async fn get_many_messages(&self, ids: &[MessageId]) -> AppResult<Vec<Message>> {
        Ok(self.chat.get_many_messages(ids).await?)
    }

    /// How many messages the viewer has not read in each of `rooms` they are a member of.
    pub async fn unread_counts(
        &self,
        viewer: &UserId,
        rooms: &[ChatRoomId],
    ) -> AppResult<Vec<(ChatRoomId, u64)>> {
        Ok(self.chat.unread_counts(viewer, rooms).await?)
    }
}

/// A room the viewer was found to be a member of, followed live: which events concern the
/// viewer there, and the stored messages a subscriber missed. Only
/// [`ChatService::room_feed`] makes one, so reading through it needs no further check
/// (members never change).
pub struct RoomFeed {
    chat: Arc<dyn ChatStore>,
    viewer: UserId,
    room: ChatRoom,
}

impl RoomFeed {
    pub fn room(&self) -> &ChatRoom {
        &self.room
    }

    /// The number after which a subscription starts: `after` (a message number) when the
    /// client resumes, otherwise the room's last message now.
    pub fn start(&self, after: Option<i64>) -> i64 {
        after.unwrap_or(self.room.last_seq)
    }

    /// Who `event` says is typing in this room, unless it is the viewer themself.
    pub fn typing_in<'e>(&self, event: &'e DomainEvent) -> Option<&'e UserId> {
        typing_for(event, &self.room.id, &self.viewer)
    }
}

impl NumberedFeed for RoomFeed {
    type Item = Message;

    fn pick<'e>(&self, event: &'e DomainEvent) -> Option<&'e Message> {
        match event {
            DomainEvent::MessageSent { message, members }
                if message.room_id == self.room.id && members.contains(&self.viewer) =>
            {
                Some(message)
            }
            _ => None,
        }
    }

    fn seq(message: &Message) -> i64 {
        message.seq
    }

    async fn after(&self, seq: i64, limit: usize) -> AppResult<Page<Message>> {
        Ok(self.chat.messages_after(&self.room.id, seq, limit).await?)
    }
}

/// Who is typing, when `event` is a typing announcement in `room` for a subscriber who is
/// `viewer`: another member of the room.
fn typing_for<'e>(
    event: &'e DomainEvent,
    room: &ChatRoomId,
    viewer: &UserId,
) -> Option<&'e UserId> {
    match event {
        DomainEvent::Typing {
            room_id,
            user_id,
            members,
        } if room_id == room && user_id != viewer && members.contains(viewer) => Some(user_id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_reaches_other_members_of_the_room_only() {
        let (room, ann, bob, eve) = (
            ChatRoomId::generate(),
            UserId::generate(),
            UserId::generate(),
            UserId::generate(),
        );
        let event = DomainEvent::Typing {
            room_id: room.clone(),
            user_id: ann.clone(),
            members: vec![ann.clone(), bob.clone()],
        };
        assert!(typing_for(&event, &room, &bob).is_some());
        assert!(typing_for(&event, &room, &ann).is_none(), "not the typer");
        assert!(typing_for(&event, &room, &eve).is_none(), "not an outsider");
        assert!(typing_for(&event, &ChatRoomId::generate(), &bob).is_none());
    }
}
