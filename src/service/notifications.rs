//! Notifications: who is told about what ([`Notifier`]), and reading and marking them
//! ([`NotificationService`]).
//!
//! Rules owned here:
//! - Never for your own actions, and never between a blocked pair (either direction, checked
//!   when the event is processed).
//! - Stored first, then announced: the [`Notifier`] stores a notification, then publishes
//!   `NotificationAdded`, so a subscriber that reconnects with its last cursor reads from the
//!   store whatever it missed.
//! - Once per event and recipient, however many instances run a notifier: each notification
//!   carries the log number of its event, unique per recipient in the store; the instance that
//!   loses the race stores nothing and announces nothing.
//! - Once per unread toggle: the same actor following the viewer, or reacting to the same
//!   post, again while the earlier notification is unread updates that one (the store
//!   coalesces them, see `NotificationStore`) and announces nothing, so 200 react/unreact
//!   toggles leave one unread notification, pushed once. Reading it ends that: the next
//!   repeat is news again.
//! - A viewer reads and marks only their own notifications.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::{NumberedFeed, Viewer};
use crate::clock::now;
use crate::domain::{
    CommentId, MessageId, Notification, NotificationId, NotificationKind, OrderId, PostId, UserId,
};
use crate::error::AppResult;
use crate::events::{DomainEvent, EventBus, LoggedEvent};
use crate::store::{NotificationStore, Page, PageRequest, SocialStore, StoreResult};

/// Events re-read from the log per round trip when the notifier lagged behind the bus.
const REPLAY_BATCH: usize = 256;

#[derive(Clone)]
pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
}

impl NotificationService {
    pub fn new(store: Arc<dyn NotificationStore>) -> Self {
        Self { store }
    }

    /// The viewer's notifications, newest first.
    pub async fn list(
        &self,
        viewer: &Viewer,
        unread_only: bool,
        page: &PageRequest,
    ) -> AppResult<Page<Notification>> {
        Ok(self.store.list(viewer.id(), unread_only, page).await?)
    }

    pub async fn count_unread(&self, viewer: &Viewer) -> AppResult<u64> {
        Ok(self.store.count_unread(viewer.id()).await?)
    }

    /// Marks the viewer's notifications among `ids` (all when `None`) read; returns how many
    /// were unread.
    pub async fn mark_read(
        &self,
        viewer: &Viewer,
        ids: Option<&[NotificationId]>,
    ) -> AppResult<u64> {
        Ok(self.store.mark_read(viewer.id(), ids, now()).await?)
    }

    /// The viewer's notifications to follow live (`notificationAdded`), and the number after
    /// which they start: `after` (a notification number) when the client resumes, otherwise
    /// the viewer's last notification now.
    pub async fn feed(
        &self,
        viewer: &Viewer,
        after: Option<i64>,
    ) -> AppResult<(NotificationFeed, i64)> {
        let start = match after {
            Some(seq) => seq,
            None => self.store.last_seq(viewer.id()).await?,
        };
        let feed = NotificationFeed {
            store: Arc::clone(&self.store),
            recipient: viewer.id().clone(),
        };
        Ok((feed, start))
    }
}

/// One viewer's notifications, followed live: which events carry them, and the stored ones a
/// subscriber missed. Only [`NotificationService::feed`] makes one.
pub struct NotificationFeed {
    store: Arc<dyn NotificationStore>,
    recipient: UserId,
}

impl NumberedFeed for NotificationFeed {
    type Item = Notification;

    fn pick<'e>(&self, event: &'e DomainEvent) -> Option<&'e Notification> {
        match event {
            DomainEvent::NotificationAdded(n) if n.recipient == self.recipient => Some(n),
            _ => None,
        }
    }

    fn seq(notification: &Notification) -> i64 {
        notification.seq
    }

    async fn after(&self, seq: i64, limit: usize) -> AppResult<Page<Notification>> {
        Ok(self.store.after(&self.recipient, seq, limit).await?)
    }
}

/// A notification an event calls for, before the block check and storing.
#[derive(Debug, Clone, PartialEq)]
struct Draft {
    recipient: UserId,
    kind: NotificationKind,
    post_id: Option<PostId>,
    comment_id: Option<CommentId>,
    message_id: Option<MessageId>,
    order_id: Option<OrderId>,
}

impl Draft {
    fn new(recipient: &UserId, kind: NotificationKind) -> Self {
        Self {
            recipient: recipient.clone(),
            kind,
            post_id: None,
            comment_id: None,
            message_id: None,
            order_id: None,
        }
    }
}

/// Who `event` notifies, and who caused it (the actor). Never the actor themself; one
/// notification per recipient, the most specific kind winning (a reply to your comment on
/// your own post is a `COMMENT_REPLIED`, not also a `POST_COMMENTED`).
///
/// Exhaustive on purpose: a new event must decide here whether it notifies anyone.
fn drafts(event: &DomainEvent) -> (Option<&UserId>, Vec<Draft>) {
    match event {
        DomainEvent::UserUpdated(_)
        | DomainEvent::SessionsRevoked { .. }
        | DomainEvent::PostUpdated(_)
        | DomainEvent::PostDeleted { .. }
        | DomainEvent::Unfollowed { .. }
        | DomainEvent::Blocked { .. }
        | DomainEvent::Typing { .. }
        | DomainEvent::NotificationAdded(_) => (None, Vec::new()),
        DomainEvent::PostCreated(post) => {
            let mut mentioned: Vec<&UserId> = post
                .mentions
                .iter()
                .filter(|m| **m != post.author_id)
                .collect();
            mentioned.sort();
            mentioned.dedup();
            let drafts = mentioned
                .into_iter()
                .map(|m| Draft {
                    post_id: Some(post.id.clone()),
                    ..Draft::new(m, NotificationKind::Mentioned)
                })
                .collect();
            (Some(&post.author_id), drafts)
        }
        DomainEvent::CommentAdded {
            comment,
            post_author,
            parent_author,
        } => {
            let actor = &comment.author_id;
            let about = |recipient: &UserId, kind| Draft {
                post_id: Some(comment.post_id.clone()),
                comment_id: Some(comment.id.clone()),
                ..Draft::new(recipient, kind)
            };
            let mut drafts = Vec::new();
            if let Some(parent) = parent_author.as_ref().filter(|p| *p != actor) {
                drafts.push(about(parent, NotificationKind::CommentReplied));
            }
            if post_author != actor && Some(post_author) != parent_author.as_ref() {
                drafts.push(about(post_author, NotificationKind::PostCommented));
            }
            (Some(actor), drafts)
        }
        DomainEvent::Reacted { post, user_id, .. } => {
            let drafts = (post.author_id != *user_id)
                .then(|| Draft {
                    post_id: Some(post.id.clone()),
                    ..Draft::new(&post.author_id, NotificationKind::PostReacted)
                })
                .into_iter()
                .collect();
            (Some(user_id), drafts)
        }
        DomainEvent::Followed { follower, followee } => (
            Some(follower),
            vec![Draft::new(followee, NotificationKind::Followed)],
        ),
        DomainEvent::OrderPlaced {
            order_id,
            buyer,
            seller,
        } => (
            Some(buyer),
            vec![Draft {
                order_id: Some(order_id.clone()),
                ..Draft::new(seller, NotificationKind::OrderPlaced)
            }],
        ),
        // The buyer hears of every move they did not make themself; the seller, of the
        // buyer's moves (payment, delivery confirmed, cancellation). `actor` is `None` for the
        // system (an unpaid order expiring), which tells the buyer.
        DomainEvent::OrderStatusChanged {
            order_id,
            buyer,
            seller,
            actor,
            ..
        } => {
            let recipient = if actor.as_ref() == Some(buyer) {
                seller
            } else {
                buyer
            };
            let drafts = (actor.as_ref() != Some(recipient))
                .then(|| Draft {
                    order_id: Some(order_id.clone()),
                    ..Draft::new(recipient, NotificationKind::OrderStatusChanged)
                })
                .into_iter()
                .collect();
            (actor.as_ref(), drafts)
        }
        DomainEvent::ReviewAdded {
            post_id,
            author,
            seller,
            ..
        } => {
            let drafts = (author != seller)
                .then(|| Draft {
                    post_id: Some(post_id.clone()),
                    ..Draft::new(seller, NotificationKind::ReviewAdded)
                })
                .into_iter()
                .collect();
            (Some(author), drafts)
        }
        DomainEvent::MessageSent { message, members } => {
            let drafts = members
                .iter()
                .filter(|m| **m != message.author_id)
                .map(|m| Draft {
                    message_id: Some(message.id.clone()),
                    ..Draft::new(m, NotificationKind::MessageReceived)
                })
                .collect();
            (Some(&message.author_id), drafts)
        }
    }
}

/// The background task that turns events into stored notifications (see the module docs).
pub struct Notifier {
    store: Arc<dyn NotificationStore>,
    social: Arc<dyn SocialStore>,
    events: EventBus,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        social: Arc<dyn SocialStore>,
        events: EventBus,
    ) -> Self {
        Self {
            store,
            social,
            events,
        }
    }

    /// Processes the events `receiver` delivers (subscribe it before the bus starts, so none
    /// is missed) until `stop` turns true. After a lag it re-reads the missed events from the
    /// log, so none goes unprocessed on this instance.
    pub async fn run(
        self,
        mut receiver: tokio::sync::broadcast::Receiver<LoggedEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut last: Option<i64> = None;
        loop {
            let received = tokio::select! {
                received = receiver.recv() => received,
                _ = stop.changed() => return,
            };
            match received {
                Ok(logged) => {
                    if last.is_some_and(|last| logged.seq <= last) {
                        continue;
                    }
                    last = Some(logged.seq);
                    self.process(&logged).await;
                }
                Err(RecvError::Lagged(_)) => {
                    let Some(from) = last else {
                        // Nothing processed yet: the lag began before any known position,
                        // so there is nothing to re-read from.
                        continue;
                    };
                    last = Some(self.replay(from).await);
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Processes the logged events after `from`; returns the last number processed.
    async fn replay(&self, mut from: i64) -> i64 {
        loop {
            let batch = match self.events.read_after(from, REPLAY_BATCH).await {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::error!(%err, from, "cannot re-read the event log; notifications of the missed events are lost on this instance");
                    return from;
                }
            };
            let full = batch.len() == REPLAY_BATCH;
            for logged in &batch {
                from = logged.seq;
                self.process(logged).await;
            }
            if !full {
                return from;
            }
        }
    }

    async fn process(&self, logged: &LoggedEvent) {
        if let Err(err) = self.try_process(logged).await {
            tracing::error!(%err, seq = logged.seq, "cannot store the notifications of an event");
        }
    }

    async fn try_process(&self, logged: &LoggedEvent) -> StoreResult<()> {
        let (actor, drafts) = drafts(&logged.event);
        if drafts.is_empty() {
            return Ok(());
        }
        let blocked = match actor {
            Some(actor) => self.social.block_partners(actor).await?,
            None => Vec::new(),
        };
        let created_at = now();
        let notifications: Vec<Notification> = drafts
            .into_iter()
            .filter(|draft| !blocked.contains(&draft.recipient))
            .map(|draft| Notification {
                id: NotificationId::generate(),
                recipient: draft.recipient,
                seq: 0,
                event_seq: logged.seq,
                kind: draft.kind,
                actor_id: actor.cloned(),
                post_id: draft.post_id,
                comment_id: draft.comment_id,
                message_id: draft.message_id,
                order_id: draft.order_id,
                created_at,
                read_at: None,
            })
            .collect();
        // One write for all the event's recipients, then one append announcing them: only
        // the new ones, since a coalesced repeat updated a notification already pushed.
        let stored = self.store.add_all(&notifications).await?;
        self.events
            .publish_all(
                stored
                    .into_iter()
                    .map(DomainEvent::NotificationAdded)
                    .collect(),
            )
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatRoomId, Comment, Message};

    fn comment(author: &UserId) -> Comment {
        Comment {
            id: CommentId::generate(),
            post_id: PostId::generate(),
            author_id: author.clone(),
            parent_id: None,
            body: "hi".into(),
            replies_count: 0,
            created_at: now(),
            deleted_at: None,
        }
    }

    fn recipients(event: &DomainEvent) -> Vec<(UserId, NotificationKind)> {
        drafts(event)
            .1
            .into_iter()
            .map(|d| (d.recipient, d.kind))
            .collect()
    }

    #[test]
    fn an_order_move_tells_the_buyer_unless_the_buyer_made_it_then_the_seller() {
        let (buyer, seller, admin) = (UserId::generate(), UserId::generate(), UserId::generate());
        let moved = |actor: Option<&UserId>| DomainEvent::OrderStatusChanged {
            order_id: crate::domain::OrderId::generate(),
            buyer: buyer.clone(),
            seller: seller.clone(),
            actor: actor.cloned(),
            status: crate::domain::OrderStatus::Cancelled,
        };
        let changed = NotificationKind::OrderStatusChanged;
        assert_eq!(
            recipients(&moved(Some(&seller))),
            [(buyer.clone(), changed)]
        );
        assert_eq!(recipients(&moved(Some(&admin))), [(buyer.clone(), changed)]);
        // The expiry of an unpaid order has no actor: the buyer hears of it.
        assert_eq!(recipients(&moved(None)), [(buyer.clone(), changed)]);
        assert_eq!(
            recipients(&moved(Some(&buyer))),
            [(seller.clone(), changed)]
        );
        let placed = DomainEvent::OrderPlaced {
            order_id: crate::domain::OrderId::generate(),
            buyer: buyer.clone(),
            seller: seller.clone(),
        };
        assert_eq!(
            drafts(&placed),
            (
                Some(&buyer),
                vec![Draft {
                    order_id: match &placed {
                        DomainEvent::OrderPlaced { order_id, .. } => Some(order_id.clone()),
                        _ => None,
                    },
                    ..Draft::new(&seller, NotificationKind::OrderPlaced)
                }]
            )
        );
    }

    #[test]
    fn a_comment_notifies_the_post_author_and_the_parent_author_once_each() {
        let (ann, bob, cat) = (UserId::generate(), UserId::generate(), UserId::generate());
        // A comment by `author` on ann's post, replying to a comment by `parent`.
        let reply = |author: &UserId, parent: &UserId| DomainEvent::CommentAdded {
            comment: comment(author),
            post_author: ann.clone(),
            parent_author: Some(parent.clone()),
        };
        assert_eq!(
            recipients(&reply(&cat, &bob)),
            [
                (bob.clone(), NotificationKind::CommentReplied),
                (ann.clone(), NotificationKind::PostCommented)
            ]
        );
        // A reply to the post author's own comment: one notification, the specific one.
        assert_eq!(
            recipients(&reply(&cat, &ann)),
            [(ann.clone(), NotificationKind::CommentReplied)]
        );
        // Commenting on your own post, replying to yourself: nobody.
        let own = reply(&ann, &ann);
        assert!(recipients(&own).is_empty());
    }

    #[test]
    fn a_message_notifies_every_member_but_its_author() {
        let (ann, bob, cat) = (UserId::generate(), UserId::generate(), UserId::generate());
        let event = DomainEvent::MessageSent {
            message: Message {
                id: MessageId::generate(),
                room_id: ChatRoomId::generate(),
                seq: 1,
                author_id: ann.clone(),
                body: "hi".into(),
                created_at: now(),
            },
            members: vec![ann.clone(), bob.clone(), cat.clone()],
        };
        assert_eq!(
            recipients(&event),
            [
                (bob, NotificationKind::MessageReceived),
                (cat, NotificationKind::MessageReceived)
            ]
        );
        assert_eq!(drafts(&event).0, Some(&ann));
    }
}
