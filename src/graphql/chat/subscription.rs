//! `messageAdded(roomId, after)` and `typing(roomId)`.
//!
//! Both subscribe to the event bus *before* anything else, then check that the viewer is a
//! member (`UNAUTHENTICATED` when anonymous, `NOT_FOUND` for a room they are not in), so an
//! event published while the check runs waits in the receiver. Events carry the room's
//! members: deciding whether one concerns this subscriber is an id comparison, never a store
//! read, and the GraphQL selection runs only for the events that pass.
//!
//! `messageAdded` delivers each message once, in room order, with no gaps, replaying the
//! stored ones after `after` first (see [`crate::graphql::replay`]).

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::room_id as parse_room_id;
use super::types::{Message, TypingEvent};
use crate::domain::{self, ChatRoomId, UserId};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::ContextExt;
use crate::graphql::replay::{NumberedSource, cursor_seq, gapless};
use crate::service::ChatService;
use crate::store::Page;

#[derive(Default)]
pub struct ChatSubscription;

#[Subscription]
impl ChatSubscription {
    /// Messages of a room the viewer is a member of, as they arrive. With `after` (a
    /// message's `cursor`), first every stored message after that one, oldest first.
    async fn message_added(
        &self,
        ctx: &Context<'_>,
        room_id: ID,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Message>> + use<>> {
        let services = ctx.services();
        // First, so nothing published from here on is missed (see the module docs).
        let receiver = services.events.subscribe();
        let viewer = ctx.require_viewer()?;
        let room = parse_room_id(&room_id)?;
        let after_seq = after.as_deref().map(message_seq).transpose()?;
        let room = services.chat.room_of_member(viewer, &room).await?;
        let source = RoomMessages {
            chat: services.chat.clone(),
            viewer: viewer.id().clone(),
            room: room.id,
        };
        let start = after_seq.unwrap_or(room.last_seq);
        Ok(gapless(receiver, source, start, after_seq.is_some())
            .map(|item| item.map(Message).map_err(Into::into)))
    }

    /// Who starts typing in a room the viewer is a member of (never the viewer themself).
    async fn typing(
        &self,
        ctx: &Context<'_>,
        room_id: ID,
    ) -> Result<impl Stream<Item = TypingEvent> + use<>> {
        let services = ctx.services();
        let receiver = services.events.subscribe();
        let viewer = ctx.require_viewer()?;
        let room = parse_room_id(&room_id)?;
        let room = services.chat.room_of_member(viewer, &room).await?.id;
        let viewer = viewer.id().clone();
        Ok(futures_util::stream::unfold(
            receiver,
            move |mut receiver| {
                let (room, viewer) = (room.clone(), viewer.clone());
                async move {
                    loop {
                        match receiver.recv().await {
                            Ok(event) => {
                                if let Some(typing) = typing_for(&event, &room, &viewer) {
                                    return Some((typing, receiver));
                                }
                            }
                            // Typing is ephemeral: what was skipped is stale anyway.
                            Err(RecvError::Lagged(_)) => {}
                            Err(RecvError::Closed) => return None,
                        }
                    }
                }
            },
        ))
    }
}

/// The typing event for a subscriber of `room` who is `viewer`, if `event` is one.
fn typing_for(event: &DomainEvent, room: &ChatRoomId, viewer: &UserId) -> Option<TypingEvent> {
    match event {
        DomainEvent::Typing {
            room_id,
            user_id,
            members,
        } if room_id == room && user_id != viewer && members.contains(viewer) => {
            Some(TypingEvent {
                room_id: room_id.clone(),
                user_id: user_id.clone(),
            })
        }
        _ => None,
    }
}

/// The message number inside a message cursor.
fn message_seq(cursor: &str) -> Result<i64, AppError> {
    cursor_seq(cursor, "message")
}

/// The messages of one room, for a subscriber who is a member.
struct RoomMessages {
    chat: ChatService,
    viewer: UserId,
    room: ChatRoomId,
}

impl NumberedSource for RoomMessages {
    type Item = domain::Message;

    fn pick<'e>(&self, event: &'e DomainEvent) -> Option<&'e domain::Message> {
        match event {
            DomainEvent::MessageSent { message, members }
                if message.room_id == self.room && members.contains(&self.viewer) =>
            {
                Some(message)
            }
            _ => None,
        }
    }

    fn seq(message: &domain::Message) -> i64 {
        message.seq
    }

    async fn after(&self, seq: i64, limit: usize) -> Result<Page<domain::Message>, AppError> {
        self.chat.messages_after(&self.room, seq, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::connection::encode_cursor;

    #[test]
    fn a_message_cursor_gives_its_number_and_anything_else_is_bad_input() {
        assert_eq!(message_seq(&encode_cursor("42:abc")).ok(), Some(42));
        for bad in [
            encode_cursor("x:abc"),
            encode_cursor("-1:abc"),
            encode_cursor("42"),
            "%%".into(),
        ] {
            assert!(
                matches!(message_seq(&bad), Err(AppError::BadUserInput { field, .. }) if field == "after"),
                "{bad}"
            );
        }
    }

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
