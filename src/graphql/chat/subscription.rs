//! `messageAdded(roomId, after)` and `typing(roomId)`.
//!
//! Both subscribe to the event bus *before* anything else, then ask `ChatService` for the
//! room's feed, which checks that the viewer is a member (`UNAUTHENTICATED` when anonymous,
//! `NOT_FOUND` for a room they are not in), so an event published while the check runs waits
//! in the receiver. Events carry the room's members: deciding whether one concerns this
//! subscriber is an id comparison (the feed's), never a store read, and the GraphQL selection
//! runs only for the events that pass.
//!
//! `messageAdded` delivers each message once, in room order, with no gaps, replaying the
//! stored ones after `after` first (see [`crate::graphql::replay`]).

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::room_id as parse_room_id;
use super::types::{Message, TypingEvent};
use crate::graphql::ContextExt;
use crate::graphql::replay::{cursor_seq, gapless};

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
        let after_seq = after
            .as_deref()
            .map(|cursor| cursor_seq(cursor, "message"))
            .transpose()?;
        let feed = services.chat.room_feed(viewer, &room).await?;
        let start = feed.start(after_seq);
        Ok(gapless(receiver, feed, start, after_seq.is_some())
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
        let feed = services.chat.room_feed(viewer, &room).await?;
        Ok(futures_util::stream::unfold(
            (receiver, feed),
            |(mut receiver, feed)| async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) => {
                            if let Some(user_id) = feed.typing_in(&event) {
                                let typing = TypingEvent {
                                    room_id: feed.room().id.clone(),
                                    user_id: user_id.clone(),
                                };
                                return Some((typing, (receiver, feed)));
                            }
                        }
                        // Typing is ephemeral: what was skipped is stale anyway.
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
