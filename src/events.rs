//! The in-process event bus: services publish domain events, subscriptions and sockets
//! listen.
//!
//! A `tokio::sync::broadcast` channel: every receiver sees every event published after it
//! subscribed. Capacity is fixed ([`EventBus::CAPACITY`]); a receiver that falls that far
//! behind gets `RecvError::Lagged` and skips the oldest events rather than slowing the
//! publisher or other receivers. Listeners must treat a lag as "state may have changed" and
//! re-read what they depend on from the store (the socket does this for session checks).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::domain::{
    ChatRoomId, Comment, Message, OrderId, OrderStatus, Post, PostId, ReactionKind, ReviewId,
    SessionId, User, UserId,
};

#[derive(Debug, Clone)]
pub enum DomainEvent {
    /// A user's profile, roles or active flag changed.
    UserUpdated(User),
    /// Sessions of `user_id` were revoked: all of them except `keep`, or only `only`.
    SessionsRevoked {
        user_id: UserId,
        keep: Option<SessionId>,
        only: Option<SessionId>,
    },
    /// A post or listing was published.
    PostCreated(Post),
    /// A post was edited (text, price, stock, status…).
    PostUpdated(Post),
    /// A comment was added; the authors it concerns ride along so listeners need no lookup.
    CommentAdded {
        comment: Comment,
        post_author: UserId,
        parent_author: Option<UserId>,
    },
    /// `user_id` reacted to `post` (a new reaction or a changed kind).
    Reacted {
        post: Post,
        user_id: UserId,
        kind: ReactionKind,
    },
    /// `follower` started following `followee` (only for a new edge, never for a repeated
    /// follow), for the followee's notifications.
    Followed { follower: UserId, followee: UserId },
    /// A chat message was stored. `members` are the room's members (author included), so a
    /// subscriber decides whether it concerns its viewer by comparing ids, without a lookup.
    MessageSent {
        message: Message,
        members: Vec<UserId>,
    },
    /// A checkout placed an order (one per seller).
    OrderPlaced {
        order_id: OrderId,
        buyer: UserId,
        seller: UserId,
    },
    /// An order moved to `status`. `actor` is who moved it; `None` is the system (the expiry
    /// of unpaid orders).
    OrderStatusChanged {
        order_id: OrderId,
        buyer: UserId,
        seller: UserId,
        actor: Option<UserId>,
        status: OrderStatus,
    },
    /// `author` reviewed `post_id`, a listing of `seller`.
    ReviewAdded {
        review_id: ReviewId,
        post_id: PostId,
        author: UserId,
        seller: UserId,
    },
    /// `user_id` is typing in `room_id`. Ephemeral: never stored, only fanned out to the
    /// other `members` listening now.
    Typing {
        room_id: ChatRoomId,
        user_id: UserId,
        members: Vec<UserId>,
    },
}

impl DomainEvent {
    /// Whether this event ends the given session.
    pub fn revokes(&self, user_id: &UserId, session_id: &SessionId) -> bool {
        match self {
            DomainEvent::SessionsRevoked {
                user_id: u,
                keep,
                only,
            } => {
                u == user_id
                    && keep.as_ref() != Some(session_id)
                    && only.as_ref().is_none_or(|only| only == session_id)
            }
            DomainEvent::UserUpdated(user) => &user.id == user_id && !user.active,
            _ => false,
        }
    }
}

/// Cheap-to-clone handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<DomainEvent>>,
}

impl EventBus {
    /// Events a receiver may fall behind before it starts losing the oldest.
    pub const CAPACITY: usize = 4096;

    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(Self::CAPACITY);
        Self { sender }
    }

    /// Publishes to everyone listening now. Having no listener is normal, not an error.
    ///
    /// Async because publishing is allowed to do I/O (appending to a shared event log, so
    /// other instances see the event too); callers publish after their write has committed.
    pub async fn publish(&self, event: DomainEvent) {
        let _ = self.sender.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DomainEvent>> {
        self.sender.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}
