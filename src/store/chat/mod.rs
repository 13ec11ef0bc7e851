//! Chat rooms, their members' read positions, and messages.
//!
//! A message and the room's `last_seq`, `last_message_id` and `last_activity_at` change
//! together (one SQLite transaction; one MongoDB multi-document transaction), so a room's
//! sequence numbers have no gaps and follow commit order. Unread counts fall out of that:
//! a member's read position is a sequence number, and sending a message moves the sender's
//! position to it, so what a member has not read is exactly `last_seq - last_read`.
//!
//! Authorization is not this module's business: it stores and finds.

mod mongo;
mod sqlite;

pub use mongo::MongoChatStore;
pub use sqlite::SqliteChatStore;

use super::{Page, PageRequest, StoreResult};
use crate::domain::{ChatRoom, ChatRoomId, Message, MessageId, UserId};

impl super::Keyed for Message {
    /// A message's number in its room: the same cursor pages a room's messages and resumes
    /// a `messageAdded(after:)` subscription.
    fn cursor(&self) -> String {
        super::cursor::keyset(self.seq, &self.id)
    }
}

impl super::Keyed for ChatRoom {
    /// Rooms list by last activity.
    fn cursor(&self) -> String {
        super::cursor::keyset(self.last_activity_at.timestamp_millis(), &self.id)
    }
}

/// Storage of chat.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - A direct room is unique per unordered pair of members and listing
///   ([`crate::domain::direct_key`]); opening it again, even concurrently, returns the one room.
/// - Members and their order never change after creation.
/// - Messages of a room are numbered from 1 without gaps (`seq`), in commit order.
/// - Message pages are newest first; the cursor is `"{seq}:{id}"` of the last one seen.
/// - Room lists are by last activity, most recent first; the cursor is
///   `"{last_activity millis}:{room id}"` of the last one seen.
/// - Unknown ids find nothing; a message is added only by a member of an existing room.
#[async_trait::async_trait]
pub trait ChatStore: Send + Sync {
    /// Stores `room` (a direct room with two members) unless a room with its direct key
    /// exists; returns the stored room either way, and whether it was created now.
    async fn open_direct_room(&self, room: &ChatRoom) -> StoreResult<(ChatRoom, bool)>;
    /// Stores a new group room.
    async fn create_group_room(&self, room: &ChatRoom) -> StoreResult<()>;
    async fn get_many_rooms(&self, ids: &[ChatRoomId]) -> StoreResult<Vec<ChatRoom>>;
    /// The rooms `user` is a member of, most recent activity first.
    async fn rooms_of(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<ChatRoom>>;
    /// How many rooms `rooms_of` lists in all.
    async fn count_rooms_of(&self, user: &UserId) -> StoreResult<u64>;

    /// Adds `message` (its `seq` is ignored) as the room's next message, moves the room's
    /// last activity to the message's time and the author's read position to the message.
    /// Returns the message with its `seq`, or `None` when the room does not exist or the
    /// author is not a member (then nothing is written).
    async fn add_message(&self, message: &Message) -> StoreResult<Option<Message>>;
    async fn get_many_messages(&self, ids: &[MessageId]) -> StoreResult<Vec<Message>>;
    /// A room's messages, newest first.
    async fn messages(&self, room: &ChatRoomId, page: &PageRequest) -> StoreResult<Page<Message>>;
    /// A room's messages numbered above `after_seq`, oldest first, at most `limit`: the
    /// replay of what a subscriber missed.
    async fn messages_after(
        &self,
        room: &ChatRoomId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Page<Message>>;

    /// How many messages of each room `user` has not read, for the rooms among `rooms` that
    /// `user` is a member of (others are left out).
    async fn unread_counts(
        &self,
        user: &UserId,
        rooms: &[ChatRoomId],
    ) -> StoreResult<Vec<(ChatRoomId, u64)>>;
    /// Moves `user`'s read position to the room's last message. Returns `false` when the
    /// room does not exist or `user` is not a member. Never moves a position backwards.
    async fn mark_room_read(&self, room: &ChatRoomId, user: &UserId) -> StoreResult<bool>;
}
