//! Live feeds of numbered items: a room's messages, a recipient's notifications.

use std::future::Future;

use crate::error::AppResult;
use crate::events::DomainEvent;
use crate::store::Page;

/// Items numbered from 1 without gaps, in commit order, that events announce and the store
/// keeps: what gap-free live delivery needs (see `graphql::replay`). Its service makes a feed
/// only for a viewer allowed to follow it, so a feed needs no further check.
pub trait NumberedFeed: Send + Sync + 'static {
    type Item: Clone + Send + 'static;

    /// The item `event` carries when it is one of this feed's (an id comparison, never a
    /// store read).
    fn pick<'e>(&self, event: &'e DomainEvent) -> Option<&'e Self::Item>;

    /// The item's number.
    fn seq(item: &Self::Item) -> i64;

    /// Up to `limit` stored items numbered above `seq`, oldest first.
    fn after(
        &self,
        seq: i64,
        limit: usize,
    ) -> impl Future<Output = AppResult<Page<Self::Item>>> + Send;
}
