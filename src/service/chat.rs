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
use super::{Action, RateLimiter, Viewer};
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

    /// The room, when the viewer is a member; `NOT_FOUND` otherwise (also for unknown ids).
    pub async fn room_of_member(&self, viewer: &Viewer, id: &ChatRoomId) -> AppResult<ChatRoom> {
        self.chat
            .get_many_rooms(std::slice::from_ref(id))
            .await?
            .into_iter()
            .find(|room| room.has_member(viewer.id()))
            .ok_or(AppError::NotFound("chat room"))
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

    pub async fn count_rooms(&self, viewer: &UserId) -> AppResult<u64> {
        Ok(self.chat.count_rooms_of(viewer).await?)
    }

    /// Messages of a room the caller has already shown the viewer is a member of, newest
    /// first.
    pub async fn messages(&self, room: &ChatRoom, page: &PageRequest) -> AppResult<Page<Message>> {
        Ok(self.chat.messages(&room.id, page).await?)
    }

    /// Messages numbered above `after_seq`, oldest first, of a room the caller has already
    /// authorized.
    pub async fn messages_after(
        &self,
        room: &ChatRoomId,
        after_seq: i64,
        limit: usize,
    ) -> AppResult<Page<Message>> {
        Ok(self.chat.messages_after(room, after_seq, limit).await?)
    }

    /// Rooms by id for loaders; callers only ask for rooms they reached through an
    /// authorized room or message.
    pub async fn get_many_rooms(&self, ids: &[ChatRoomId]) -> AppResult<Vec<ChatRoom>> {
        Ok(self.chat.get_many_rooms(ids).await?)
    }

    pub async fn get_many_messages(&self, ids: &[MessageId]) -> AppResult<Vec<Message>> {
        Ok(self.chat.get_many_messages(ids).await?)
    }

    pub async fn unread_counts(
        &self,
        viewer: &UserId,
        rooms: &[ChatRoomId],
    ) -> AppResult<Vec<(ChatRoomId, u64)>> {
        Ok(self.chat.unread_counts(viewer, rooms).await?)
    }
}
