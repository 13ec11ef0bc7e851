//! The event bus: services publish domain events; subscriptions, sockets and the notifier
//! listen, on every instance.
//!
//! Publishing appends the event to the stored event log ([`crate::store::EventLogStore`]);
//! nothing is broadcast directly. Every instance runs one tail ([`EventBus::run`]) that reads
//! the log after the last entry it delivered and broadcasts each entry locally, so an event
//! published on instance A reaches listeners on A and on B alike, in one order (the log's).
//! The tail wakes at once for this instance's publishes, on the adapter's wake-ups for other
//! processes' (a MongoDB change stream; a poll every `store.event_log_poll_ms` on SQLite), and
//! reads by number, so a missed wake-up delays an event but never loses it.
//!
//! Locally, delivery is a `tokio::sync::broadcast` channel: every receiver sees every event
//! delivered after it subscribed. Capacity is fixed ([`EventBus::CAPACITY`]); a receiver that
//! falls that far behind gets `RecvError::Lagged` and skips the oldest events rather than
//! slowing the tail or other receivers. Listeners must treat a lag as "state may have changed"
//! and re-read what they depend on from the store (the socket does this for session checks,
//! the notifier re-reads the log).
//!
//! Gaps: on MongoDB a log number is taken before its entry is inserted, so the tail can see
//! entry 8 while 7 is still being written. It then waits up to [`GAP_GRACE`] for 7 before
//! skipping it (an appender that died between the two steps leaves a gap forever).
//!
//! If the log cannot be written, the event is broadcast on this instance only (logged as an
//! error): local subscribers still hear of a write that did commit.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

use crate::domain::{
    ChatRoomId, Comment, Message, Notification, OrderId, OrderStatus, Post, PostId, ReactionKind,
    ReviewId, SessionId, User, UserId,
};
use crate::store::{EventLogStore, LogEntry, Retention, StoreResult};

/// How long the tail waits for a missing log number before skipping it.
pub const GAP_GRACE: Duration = Duration::from_secs(2);
/// Entries read from the log per round trip.
const READ_BATCH: usize = 256;
/// How long entries are kept in the log (MongoDB's TTL index keeps the same).
const RETENTION: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How often the tail prunes entries older than [`RETENTION`].
const PRUNE_EVERY: Duration = Duration::from_secs(5 * 60);
/// How long ephemeral entries (typing) are kept in the log: long enough for every running
/// tail to deliver them.
pub const EPHEMERAL_RETENTION: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// How often the tail prunes ephemeral entries older than [`EPHEMERAL_RETENTION`].
const PRUNE_EPHEMERAL_EVERY: Duration = Duration::from_secs(30);

/// Everything that happens and that someone may listen to. Serialised into the event log,
/// so a change to a variant's shape must stay readable by instances still running the old
/// shape during a rolling deploy (an entry that does not parse is skipped and logged).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// A post was deleted (soft delete: it is gone for everyone), so its live updates end.
    PostDeleted { post_id: PostId },
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
    /// `follower` stopped following `followee` (only when there was an edge), so live feeds
    /// stop showing the followee's posts.
    Unfollowed { follower: UserId, followee: UserId },
    /// `blocker` blocked `blocked` (only for a new block; it also removed their follows both
    /// ways), so live feeds of either stop showing the other's posts.
    Blocked { blocker: UserId, blocked: UserId },
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
    /// `user_id` is typing in `room_id`, for the other `members` listening now. Ephemeral:
    /// never stored with the room; it crosses instances as an ephemeral log entry, which the
    /// tails prune after [`EPHEMERAL_RETENTION`].
    Typing {
        room_id: ChatRoomId,
        user_id: UserId,
        members: Vec<UserId>,
    },
    /// A notification was stored for its recipient.
    NotificationAdded(Notification),
}

impl DomainEvent {
    /// How long its log entry is kept: typing only matters to those listening right now
    /// (see [`crate::store::EventLogStore::prune_ephemeral`]).
    pub fn retention(&self) -> Retention {
        match self {
            DomainEvent::Typing { .. } => Retention::Ephemeral,
            _ => Retention::Durable,
        }
    }

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

/// An event with its number in the log: what the notifier needs to act on each event once.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub seq: i64,
    pub event: Arc<DomainEvent>,
}

/// Cheap-to-clone handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    /// Local delivery of every event; what subscriptions and sockets receive.
    sender: broadcast::Sender<Arc<DomainEvent>>,
    /// The same events with their log numbers, for listeners that must not act twice on one
    /// event (the notifier).
    logged: broadcast::Sender<LoggedEvent>,
    log: Arc<dyn EventLogStore>,
    /// Wakes this instance's tail right after one of its own appends.
    appended: Notify,
    poll: Duration,
}

impl EventBus {
    /// Events a receiver may fall behind before it starts losing the oldest.
    pub const CAPACITY: usize = 4096;

    pub fn new(log: Arc<dyn EventLogStore>, poll: Duration) -> Self {
        let (sender, _) = broadcast::channel(Self::CAPACITY);
        let (logged, _) = broadcast::channel(Self::CAPACITY);
        Self {
            inner: Arc::new(BusInner {
                sender,
                logged,
                log,
                appended: Notify::new(),
                poll,
            }),
        }
    }

    /// Appends the event to the log, from which every instance's tail delivers it to its
    /// listeners. Having no listener is normal, not an error.
    ///
    /// Callers publish after their write has committed.
    pub async fn publish(&self, event: DomainEvent) {
        self.publish_all(vec![event]).await;
    }

    /// Appends `events` to the log in order (see [`EventBus::publish`]), each run of events
    /// with the same [`Retention`] in one write.
    pub async fn publish_all(&self, events: Vec<DomainEvent>) {
        let mut run: Vec<(String, DomainEvent)> = Vec::with_capacity(events.len());
        let mut run_retention = Retention::Durable;
        for event in events {
            let body = match serde_json::to_string(&event) {
                Ok(body) => body,
                Err(err) => {
                    tracing::error!(%err, ?event, "cannot serialise an event; delivering it locally only");
                    let _ = self.inner.sender.send(Arc::new(event));
                    continue;
                }
            };
            let retention = event.retention();
            if retention != run_retention {
                self.append_run(std::mem::take(&mut run), run_retention)
                    .await;
                run_retention = retention;
            }
            run.push((body, event));
        }
        self.append_run(run, run_retention).await;
    }

    /// Appends serialised events in one write, then wakes this instance's tail; if the log
    /// cannot be written, delivers them on this instance only.
    async fn append_run(&self, run: Vec<(String, DomainEvent)>, retention: Retention) {
        if run.is_empty() {
            return;
        }
        let (bodies, events): (Vec<String>, Vec<DomainEvent>) = run.into_iter().unzip();
        let appended = self
            .inner
            .log
            .append_entries(&bodies, crate::clock::now(), retention)
            .await;
        match appended {
            Ok(_) => self.inner.appended.notify_one(),
            Err(err) => {
                tracing::error!(%err, "cannot append to the event log; delivering locally only");
                for event in events {
                    let _ = self.inner.sender.send(Arc::new(event));
                }
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DomainEvent>> {
        self.inner.sender.subscribe()
    }

    /// Events with their log numbers (see [`LoggedEvent`]).
    pub fn subscribe_logged(&self) -> broadcast::Receiver<LoggedEvent> {
        self.inner.logged.subscribe()
    }

    /// Re-reads up to `limit` logged events after `after` from the log, for a listener that
    /// lagged. Entries that do not parse are left out.
    pub async fn read_after(&self, after: i64, limit: usize) -> StoreResult<Vec<LoggedEvent>> {
        let entries = self.inner.log.read_after(after, limit).await?;
        Ok(entries.iter().filter_map(parse_entry).collect())
    }

    /// The log position a tail started now would deliver after: read before serving, so an
    /// event published once the app is up is always delivered.
    pub async fn position(&self) -> StoreResult<i64> {
        self.inner.log.last_seq().await
    }

    /// The tail: delivers every entry appended to the log after `start` (see
    /// [`EventBus::position`]) to this instance's listeners, in log order, until `stop` turns
    /// true. Prunes old entries now and then.
    pub async fn run(self, start: i64, mut stop: watch::Receiver<bool>) {
        let mut tail = Tail {
            bus: &self,
            last: start,
            gap_since: None,
        };
        let mut wake_ups = self.inner.log.wake_ups(self.inner.poll);
        let mut next_prune = Instant::now();
        let mut next_ephemeral_prune = Instant::now() + PRUNE_EPHEMERAL_EVERY;
        loop {
            if *stop.borrow() {
                return;
            }
            let recheck = tail.catch_up().await;
            let log = &self.inner.log;
            if due(&mut next_prune, PRUNE_EVERY) {
                let pruned = log.prune(crate::clock::now() - RETENTION).await;
                if let Err(err) = pruned {
                    tracing::warn!(%err, "cannot prune the event log");
                }
            }
            if due(&mut next_ephemeral_prune, PRUNE_EPHEMERAL_EVERY) {
                let pruned = log
                    .prune_ephemeral(crate::clock::now() - EPHEMERAL_RETENTION)
                    .await;
                if let Err(err) = pruned {
                    tracing::warn!(%err, "cannot prune ephemeral entries of the event log");
                }
            }
            let wait = recheck.unwrap_or(Duration::MAX);
            tokio::select! {
                () = self.inner.appended.notified() => {}
                _ = wake_ups.recv() => {}
                () = sleep_for(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    fn deliver(&self, seq: i64, event: Arc<DomainEvent>) {
        let _ = self.inner.sender.send(event.clone());
        let _ = self.inner.logged.send(LoggedEvent { seq, event });
    }
}

/// Whether the time `next` has come; if so, moves it `every` ahead.
fn due(next: &mut Instant, every: Duration) -> bool {
    let now = Instant::now();
    if now < *next {
        return false;
    }
    *next = now + every;
    true
}

/// Sleeps for `d`, or forever for `Duration::MAX`.
async fn sleep_for(d: Duration) {
    if d == Duration::MAX {
        std::future::pending::<()>().await;
    } else {
        tokio::time::sleep(d).await;
    }
}

fn parse_entry(entry: &LogEntry) -> Option<LoggedEvent> {
    match serde_json::from_str::<DomainEvent>(&entry.body) {
        Ok(event) => Some(LoggedEvent {
            seq: entry.seq,
            event: Arc::new(event),
        }),
        Err(err) => {
            tracing::warn!(seq = entry.seq, %err, "skipping an event log entry that does not parse");
            None
        }
    }
}

/// The tail's position in the log.
struct Tail<'a> {
    bus: &'a EventBus,
    /// The last number delivered (or skipped).
    last: i64,
    /// Since when the next number has been missing while a later one is there.
    gap_since: Option<Instant>,
}

impl Tail<'_> {
    /// Delivers every entry after `last` that follows without a gap (or whose gap has been
    /// waited for long enough). Returns how soon to look again when it stopped at a gap.
    async fn catch_up(&mut self) -> Option<Duration> {
        loop {
            let entries = match self.bus.inner.log.read_after(self.last, READ_BATCH).await {
                Ok(entries) => entries,
                Err(err) => {
                    tracing::warn!(%err, "cannot read the event log; retrying");
                    return Some(self.bus.inner.poll.max(Duration::from_millis(100)));
                }
            };
            let full = entries.len() == READ_BATCH;
            for entry in &entries {
                if entry.seq != self.last + 1 {
                    let since = *self.gap_since.get_or_insert_with(Instant::now);
                    let waited = since.elapsed();
                    if waited < GAP_GRACE {
                        return Some((GAP_GRACE - waited).min(Duration::from_millis(20)));
                    }
                    tracing::warn!(
                        from = self.last + 1,
                        to = entry.seq - 1,
                        "skipping event log numbers that never appeared"
                    );
                }
                self.gap_since = None;
                self.last = entry.seq;
                if let Some(logged) = parse_entry(entry) {
                    self.bus.deliver(logged.seq, logged.event);
                }
            }
            if !full {
                return None;
            }
        }
    }
}
