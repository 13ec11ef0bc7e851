use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CommentId, MessageId, NotificationId, OrderId, PostId, UserId};

/// Why a user is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationKind {
    Followed,
    PostReacted,
    PostCommented,
    CommentReplied,
    Mentioned,
    MessageReceived,
    ReviewAdded,
    OrderPlaced,
    OrderStatusChanged,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 9] = [
        NotificationKind::Followed,
        NotificationKind::PostReacted,
        NotificationKind::PostCommented,
        NotificationKind::CommentReplied,
        NotificationKind::Mentioned,
        NotificationKind::MessageReceived,
        NotificationKind::ReviewAdded,
        NotificationKind::OrderPlaced,
        NotificationKind::OrderStatusChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Followed => "FOLLOWED",
            NotificationKind::PostReacted => "POST_REACTED",
            NotificationKind::PostCommented => "POST_COMMENTED",
            NotificationKind::CommentReplied => "COMMENT_REPLIED",
            NotificationKind::Mentioned => "MENTIONED",
            NotificationKind::MessageReceived => "MESSAGE_RECEIVED",
            NotificationKind::ReviewAdded => "REVIEW_ADDED",
            NotificationKind::OrderPlaced => "ORDER_PLACED",
            NotificationKind::OrderStatusChanged => "ORDER_STATUS_CHANGED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Something that happened to `recipient`, stored before it is pushed.
///
/// `seq` numbers a recipient's notifications from 1 without gaps, in commit order; it is the
/// cursor of `notifications` and `notificationAdded`. `event_seq` is the event-log entry that
/// caused it: one event notifies a recipient at most once, however many instances process it.
///
/// Coalescing: while a notification is unread, a repeat of it (same recipient and
/// [`Notification::coalescing_key`]) updates it instead of adding another: `event_seq` and
/// `created_at` become the repeat's, while `id` and `seq` stay, so it keeps its place and its
/// cursor, a subscriber's replay stays gapless, and it is pushed once. Once read, the next
/// repeat is a new notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: NotificationId,
    pub recipient: UserId,
    pub seq: i64,
    pub event_seq: i64,
    pub kind: NotificationKind,
    pub actor_id: Option<UserId>,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
    pub message_id: Option<MessageId>,
    pub order_id: Option<OrderId>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl Notification {
    /// What makes a later notification a repeat of this one: the same actor doing the same
    /// thing to the same target (the recipient is the rest of the key). Only toggles have one
    /// — following, reacting to a post — since toggling them again and again is how a
    /// notification flood is made; a comment, a message, a review or an order move each says
    /// something new and is never folded into another. `None` also when there is no actor.
    ///
    /// Stored beside the notification, so the string is part of the storage format: change
    /// it only with a migration.
    pub fn coalescing_key(&self) -> Option<String> {
        let actor = self.actor_id.as_ref()?;
        match self.kind {
            NotificationKind::Followed => Some(format!("FOLLOWED:{actor}")),
            NotificationKind::PostReacted => {
                Some(format!("POST_REACTED:{actor}:{}", self.post_id.as_ref()?))
            }
            NotificationKind::PostCommented
            | NotificationKind::CommentReplied
            | NotificationKind::Mentioned
            | NotificationKind::MessageReceived
            | NotificationKind::ReviewAdded
            | NotificationKind::OrderPlaced
            | NotificationKind::OrderStatusChanged => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(NotificationKind::from_name("ORDER_SHIPPED"), None);
    }

    #[test]
    fn only_toggles_coalesce_keyed_by_actor_kind_and_subject() {
        let (ann, bob) = (UserId::generate(), UserId::generate());
        let post = PostId::generate();
        let of = |kind, actor: &UserId, post: Option<&PostId>| Notification {
            id: NotificationId::generate(),
            recipient: UserId::generate(),
            seq: 0,
            event_seq: 1,
            kind,
            actor_id: Some(actor.clone()),
            post_id: post.cloned(),
            comment_id: None,
            message_id: None,
            order_id: None,
            created_at: Utc::now(),
            read_at: None,
        };
        let reacted = of(NotificationKind::PostReacted, &ann, Some(&post)).coalescing_key();
        assert!(reacted.is_some());
        // The recipient, the time and the event are not part of the key.
        assert_eq!(
            of(NotificationKind::PostReacted, &ann, Some(&post)).coalescing_key(),
            reacted
        );
        let others = [
            of(NotificationKind::PostReacted, &bob, Some(&post)).coalescing_key(),
            of(
                NotificationKind::PostReacted,
                &ann,
                Some(&PostId::generate()),
            )
            .coalescing_key(),
            of(NotificationKind::Followed, &ann, None).coalescing_key(),
        ];
        assert!(others.iter().all(|key| key.is_some() && *key != reacted));
        for kind in NotificationKind::ALL {
            if !matches!(
                kind,
                NotificationKind::Followed | NotificationKind::PostReacted
            ) {
                assert_eq!(
                    of(kind, &ann, Some(&post)).coalescing_key(),
                    None,
                    "{kind:?}"
                );
            }
        }
        let no_actor = Notification {
            actor_id: None,
            ..of(NotificationKind::Followed, &ann, None)
        };
        assert_eq!(no_actor.coalescing_key(), None);
    }
}
