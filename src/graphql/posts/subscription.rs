//! `postUpdated(postId)` and `feedPostAdded`.
//!
//! Both subscribe to the event bus *before* anything else, then ask the post service what the
//! viewer may see, so an event published while the check runs waits in the receiver. The
//! service's watch decides which events pass; the GraphQL selection runs only for those.

use std::ops::ControlFlow;
use std::sync::Arc;

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::types::Post;
use crate::domain::PostId;
use crate::events::DomainEvent;
use crate::graphql::{ContextExt, parse_id};

#[derive(Default)]
pub struct PostSubscription;

#[Subscription]
impl PostSubscription {
    /// A post each time it changes: edits, price, stock and status, reactions, comments. Open to
    /// anonymous clients; a post the viewer cannot see is `NOT_FOUND`. When the post is
    /// deleted the subscription completes; while it is invisible to the viewer for another
    /// reason (back to draft) it produces no updates.
    async fn post_updated(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
    ) -> Result<impl Stream<Item = Post> + use<>> {
        let services = ctx.services();
        let receiver = services.events.subscribe();
        let id = parse_id::<PostId>("postId", &post_id)?;
        let watch = services.posts.watch_post(ctx.viewer(), &id).await?;
        Ok(events(receiver, move |event| {
            watch.accept(event).map_continue(|post| post.map(Post))
        }))
    }

    /// New posts by the people the viewer follows (also those followed after subscribing,
    /// and no longer those unfollowed), never by a user the viewer blocked or who blocked the
    /// viewer (also after subscribing).
    async fn feed_post_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Post> + use<>> {
        let services = ctx.services();
        let receiver = services.events.subscribe();
        let viewer = ctx.require_viewer()?;
        let mut watch = services.posts.watch_feed(viewer).await?;
        Ok(events(receiver, move |event| {
            ControlFlow::Continue(watch.accept(event).map(Post))
        }))
    }
}

/// The items `select` picks out of the bus (`Continue(Some(item))`), until it says `Break`.
/// Lagging skips what was missed: these streams carry the latest state (or new posts), not a
/// history a client could ask to replay.
fn events<T: Send + 'static, F>(
    receiver: broadcast::Receiver<Arc<DomainEvent>>,
    select: F,
) -> impl Stream<Item = T> + use<T, F>
where
    F: FnMut(&DomainEvent) -> ControlFlow<(), Option<T>> + Send + 'static,
{
    futures_util::stream::unfold(
        (receiver, select),
        |(mut receiver, mut select)| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => match select(&event) {
                        ControlFlow::Continue(Some(item)) => {
                            return Some((item, (receiver, select)));
                        }
                        ControlFlow::Continue(None) => {}
                        ControlFlow::Break(()) => return None,
                    },
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    )
}
