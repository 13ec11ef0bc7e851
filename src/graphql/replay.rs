//! Gap-free subscriptions over numbered items: a room's chat messages, a recipient's
//! notifications. Both are numbered from 1 without gaps, in commit order, which is what makes
//! "replay what is stored after a cursor, then continue live, each item once" exact.
//!
//! The subscription takes its bus receiver *before* anything else, so an item stored while it
//! starts waits in the receiver. With `after` (a cursor) it first replays the stored items
//! after it, oldest first; without it, it starts after the last item at subscription time.
//! It then tracks the number of the next item it owes (`next_seq`): a live event numbered
//! below it was already replayed (skipped); one numbered above it means earlier items' events
//! are late or were lost (a lagging receiver, a publisher that died after committing), so
//! those are read from the store, where they already are, and delivered first.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::connection::decode_cursor;
use crate::service::NumberedFeed;

/// Items read from the store per round trip while catching up.
const REPLAY_PAGE: usize = 100;

/// The items of `source` numbered above `start`, live, once each and in order; replaying the
/// stored ones first when `replay` is set (the client gave a cursor). A store error is
/// delivered and ends the stream.
pub fn gapless<S: NumberedFeed>(
    receiver: broadcast::Receiver<Arc<DomainEvent>>,
    source: S,
    start: i64,
    replay: bool,
) -> impl Stream<Item = Result<S::Item, AppError>> + Send {
    let feed = Feed {
        receiver,
        source,
        next_seq: start + 1,
        ready: VecDeque::new(),
        catching_up: replay,
        failed: false,
    };
    futures_util::stream::unfold(feed, |mut feed| async move {
        let item = feed.next().await?;
        Some((item, feed))
    })
}

/// The number inside the opaque cursor of a `what` (see [`crate::store::cursor::seq`]);
/// `BAD_USER_INPUT` on `after` for anything else.
pub fn cursor_seq(cursor: &str, what: &str) -> Result<i64, AppError> {
    crate::store::cursor::seq(&decode_cursor(cursor)?)
        .ok_or_else(|| AppError::bad_input("after", format!("is not a {what} cursor")))
}

struct Feed<S: NumberedFeed> {
    receiver: broadcast::Receiver<Arc<DomainEvent>>,
    source: S,
    /// The number of the next item owed: every earlier one was delivered or precedes the
    /// subscription's starting point.
    next_seq: i64,
    /// Read from the store, in order, not yet delivered.
    ready: VecDeque<S::Item>,
    /// Reading the store until it has nothing after `next_seq - 1`.
    catching_up: bool,
    /// A store read failed: the error was delivered and the stream ends.
    failed: bool,
}

impl<S: NumberedFeed> Feed<S> {
    async fn next(&mut self) -> Option<Result<S::Item, AppError>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(Ok(item));
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
                    let Some(item) = self.source.pick(&event) else {
                        continue;
                    };
                    let seq = S::seq(item);
                    if seq < self.next_seq {
                        continue;
                    }
                    if seq == self.next_seq {
                        self.next_seq += 1;
                        return Some(Ok(item.clone()));
                    }
                    // Earlier items are stored but their events have not come.
                    self.catching_up = true;
                }
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next page of stored items owed; stops catching up when none follow.
    async fn read_store(&mut self) -> Result<(), AppError> {
        let page = self.source.after(self.next_seq - 1, REPLAY_PAGE).await?;
        if let Some(last) = page.items.last() {
            self.next_seq = S::seq(last) + 1;
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

    fn is_bad_after(result: Result<i64, AppError>) -> bool {
        matches!(result, Err(AppError::BadUserInput { field, .. }) if field == "after")
    }

    #[test]
    fn a_message_cursor_gives_its_number_and_anything_else_is_bad_input() {
        let message_seq = |cursor: &str| cursor_seq(cursor, "message");
        assert_eq!(message_seq(&encode_cursor("42:abc")).ok(), Some(42));
        for bad in [
            encode_cursor("x:abc"),
            encode_cursor("-1:abc"),
            encode_cursor("42"),
            "%%".into(),
        ] {
            assert!(is_bad_after(message_seq(&bad)), "{bad}");
        }
    }

    #[test]
    fn a_notification_cursor_gives_its_number_and_anything_else_is_bad_input() {
        let notification_seq = |cursor: &str| cursor_seq(cursor, "notification");
        assert_eq!(notification_seq(&encode_cursor("7:abc")).ok(), Some(7));
        for bad in [encode_cursor("x:abc"), encode_cursor("-3:abc"), "%%".into()] {
            assert!(is_bad_after(notification_seq(&bad)), "{bad}");
        }
    }
}
