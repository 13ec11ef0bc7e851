//! Chat rooms and messages: what a room is, the canonical key that makes a direct room single
//! per pair (and listing), and the rules on message bodies and group titles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, clean_text};
use super::{ChatRoomId, MessageId, PostId, UserId};

/// The longest message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// The longest group title, in characters.
pub const MAX_GROUP_TITLE_CHARS: usize = 100;
/// The most members a group room holds, its creator included: enough for a club or a shop's
/// team, few enough that every message's event can carry the member list.
pub const MAX_GROUP_MEMBERS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatRoomKind {
    /// Two people, optionally about one listing; at most one room per pair and listing.
    Direct,
    /// A titled room of several people, made by one of them.
    Group,
}

impl ChatRoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatRoomKind::Direct => "DIRECT",
            ChatRoomKind::Group => "GROUP",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "DIRECT" => Some(ChatRoomKind::Direct),
            "GROUP" => Some(ChatRoomKind::Group),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRoom {
    pub id: ChatRoomId,
    pub kind: ChatRoomKind,
    /// Set for groups, `None` for direct rooms.
    pub title: Option<String>,
    /// Every member, in the order the room was made with (the creator first). Membership
    /// never changes after creation.
    pub members: Vec<UserId>,
    /// The listing a direct room is about, if any.
    pub listing_id: Option<PostId>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    /// When the last message arrived (the creation time until then): the order of a
    /// member's room list.
    pub last_activity_at: DateTime<Utc>,
    /// The sequence number of the last message (0: none yet). Messages of a room are
    /// numbered 1, 2, 3… without gaps, in commit order.
    pub last_seq: i64,
    pub last_message_id: Option<MessageId>,
}

impl ChatRoom {
    pub fn has_member(&self, user: &UserId) -> bool {
        self.members.contains(user)
    }

    /// The other member of a direct room, from `user`'s side.
    pub fn other_member(&self, user: &UserId) -> Option<&UserId> {
        match self.kind {
            ChatRoomKind::Direct => self.members.iter().find(|m| *m != user),
            ChatRoomKind::Group => None,
        }
    }

    /// The unique key of a direct room; `None` for groups.
    pub fn direct_key(&self) -> Option<String> {
        match (self.kind, self.members.as_slice()) {
            (ChatRoomKind::Direct, [a, b]) => Some(direct_key(a, b, self.listing_id.as_ref())),
            _ => None,
        }
    }
}

/// The key that identifies a direct room: the pair in a fixed order (so it does not matter
/// who opens the chat) and the listing. A unique index on it makes concurrent `openChat`
/// calls for the same pair and listing converge on one room.
pub fn direct_key(a: &UserId, b: &UserId, listing: Option<&PostId>) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!(
        "{low}|{high}|{}",
        listing.map(PostId::as_str).unwrap_or("-")
    )
}

/// A stored message. `seq` is its number within the room (see [`ChatRoom::last_seq`]); the
/// store assigns it when the message is added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub room_id: ChatRoomId,
    pub seq: i64,
    pub author_id: UserId,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A message body: trimmed, 1 to [`MAX_MESSAGE_CHARS`] characters, line breaks allowed.
pub fn parse_message_body(field: &str, raw: &str) -> Result<String, ValidationError> {
    clean_text(field, raw, 1, MAX_MESSAGE_CHARS, true)
}

/// A group room's title: trimmed, one line, 1 to [`MAX_GROUP_TITLE_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTitle(String);

impl GroupTitle {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        clean_text(field, raw, 1, MAX_GROUP_TITLE_CHARS, false).map(GroupTitle)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_key_ignores_who_opens_the_chat_and_names_the_listing() {
        let (ann, bob) = (UserId::generate(), UserId::generate());
        let listing = PostId::generate();
        assert_eq!(direct_key(&ann, &bob, None), direct_key(&bob, &ann, None));
        assert_ne!(
            direct_key(&ann, &bob, None),
            direct_key(&ann, &bob, Some(&listing))
        );
        assert_eq!(
            direct_key(&ann, &bob, Some(&listing)),
            direct_key(&bob, &ann, Some(&listing))
        );
    }

    #[test]
    fn bodies_and_titles_are_trimmed_and_bounded() {
        assert_eq!(
            parse_message_body("body", "  hi\nthere ").unwrap(),
            "hi\nthere"
        );
        assert_eq!(parse_message_body("body", "   ").unwrap_err().field, "body");
        assert!(parse_message_body("body", &"x".repeat(MAX_MESSAGE_CHARS + 1)).is_err());
        assert!(GroupTitle::parse("title", "Camera club").is_ok());
        assert!(GroupTitle::parse("title", "two\nlines").is_err());
        assert!(GroupTitle::parse("title", "").is_err());
    }
}
