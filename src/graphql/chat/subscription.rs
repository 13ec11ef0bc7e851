//! `messageAdded(roomId, after)` and `typing(roomId)`.
//!
//! Both subscribe to the event bus *before* anything else, then check that the viewer is a
//! member (`UNAUTHENTICATED` when anonymous, `NOT_FOUND` for a room they are not in), so an
//! event published while the check runs waits in the receiver. Events carry the room's
//! members: deciding whether one concerns this subscriber is an id comparison, never a store
//! read, and the GraphQL selection runs only for the events that pass.
//!
//! `messageAdded` delivers each message once, in room order, with no gaps:
//! - with `after` (a message cursor) it first replays the stored messages after it, oldest
//!   first, then continues live; without it, it starts after the room's last message at
//!   subscription time;
//! - it tracks the number of the next message it owes (`next_seq`). Numbers follow commit
//!   order without gaps, so a live event numbered below it was already replayed (skipped),
//!   one numbered above it means earlier messages' events are late or were lost (a lagging
//!   receiver, a publisher that died after committing): those are read from the store, where
//!   they already are, and delivered first.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::room_id as parse_room_id;
use super::types::{Message, TypingEvent};
use crate::domain::{self, ChatRoomId, UserId};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::ContextExt;
use crate::graphql::connection::decode_cursor;
use crate::service::ChatService;

/// Messages read from the store per round trip while catching up.
const REPLAY_PAGE: usize = 100;

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
        let feed = MessageFeed {
            receiver,
            chat: services.chat.clone(),
            viewer: viewer.id().clone(),
            room: room.id,
            next_seq: after_seq.unwrap_or(room.last_seq) + 1,
            ready: VecDeque::new(),
            catching_up: after_seq.is_some(),
            failed: false,
        };
        Ok(futures_util::stream::unfold(feed, |mut feed| async move {
            let item = feed.next().await?;
            Some((item.map(Message).map_err(Into::into), feed))
        }))
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
    decode_cursor(cursor)?
        .split_once(':')
        .and_then(|(seq, _)| seq.parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| AppError::bad_input("after", "is not a message cursor"))
}

/// The state of one `messageAdded` subscription.
struct MessageFeed {
    receiver: broadcast::Receiver<Arc<DomainEvent>>,
    chat: ChatService,
    viewer: UserId,
    room: ChatRoomId,
    /// The number of the next message owed: every earlier one was delivered or precedes the
    /// subscription's starting point.
    next_seq: i64,
    /// Read from the store, in order, not yet delivered.
    ready: VecDeque<domain::Message>,
    /// Reading the store until it has nothing after `next_seq - 1`.
    catching_up: bool,
    /// A store read failed: the error was delivered and the stream ends.
    failed: bool,
}

impl MessageFeed {
    async fn next(&mut self) -> Option<Result<domain::Message, AppError>> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Some(Ok(message));
            }
            if self.failed {
                return None;
            }
            if self.catching_up {
                if let Err(err) = self.read_store().await {
                    self.failed = true;
                    return Some(Err(err));
                }
                continue;
            }
            match self.receiver.recv().await {
                Ok(event) => {
                    let DomainEvent::MessageSent { message, members } = &*event else {
                        continue;
                    };
                    if message.room_id != self.room
                        || !members.contains(&self.viewer)
                        || message.seq < self.next_seq
                    {
                        continue;
                    }
                    if message.seq == self.next_seq {
                        self.next_seq += 1;
                        return Some(Ok(message.clone()));
                    }
                    // Earlier messages are committed but their events have not come.
                    self.catching_up = true;
                }
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next page of stored messages owed; stops catching up when none follow.
    async fn read_store(&mut self) -> Result<(), AppError> {
        let page = self
            .chat
            .messages_after(&self.room, self.next_seq - 1, REPLAY_PAGE)
            .await?;
        if let Some(last) = page.items.last() {
            self.next_seq = last.seq + 1;
        }
        self.ready.extend(page.items);
        self.catching_up = page.has_next;
        Ok(())
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
