//! `postUpdated(postId)` and `feedPostAdded`.
//!
//! Both subscribe to the event bus *before* anything else, then check what the viewer may
//! see, so an event published while the check runs waits in the receiver. Filtering an event
//! is an id comparison against what was decided at the start; the GraphQL selection runs only
//! for the events that pass.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use async_graphql::{Context, ID, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::types::Post;
use crate::domain::{PostId, UserId};
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::ContextExt;
use crate::service::{PostService, Viewer};

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
        let id = crate::graphql::parse_id::<PostId>("postId", &post_id)?;
        let viewer = ctx.viewer().cloned();
        services
            .posts
            .get_post(viewer.as_ref(), &id)
            .await?
            .filter(|p| p.deleted_at.is_none())
            .ok_or(AppError::NotFound("post"))?;
        Ok(events(receiver, move |event| {
            let post = match event {
                DomainEvent::PostUpdated(post) | DomainEvent::Reacted { post, .. } => post,
                DomainEvent::PostDeleted { post_id } if *post_id == id => {
                    return ControlFlow::Break(());
                }
                _ => return ControlFlow::Continue(None),
            };
            ControlFlow::Continue(
                (post.id == id && PostService::visible_now(viewer.as_ref(), post))
                    .then(|| Post(post.clone())),
            )
        }))
    }

    /// New posts by the people the viewer follows (also those followed after subscribing,
    /// and no longer those unfollowed), never by a user the viewer blocked or who blocked the
    /// viewer (also after subscribing).
    async fn feed_post_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Post> + use<>> {
        let services = ctx.services();
        let receiver = services.events.subscribe();
        let viewer = ctx.require_viewer()?.clone();
        let followees: HashSet<UserId> = services
            .social
            .followee_ids(viewer.id())
            .await?
            .into_iter()
            .collect();
        let blocked: HashSet<UserId> = services
            .social
            .block_partners(viewer.id())
            .await?
            .into_iter()
            .collect();
        let mut feed = FeedFilter {
            viewer,
            followees,
            blocked,
        };
        Ok(events(receiver, move |event| {
            ControlFlow::Continue(feed.accept(event))
        }))
    }
}

/// What `feedPostAdded` lets through. The viewer's follows, unfollows and blocks (by or of
/// the viewer) made after subscribing apply as their events pass.
struct FeedFilter {
    viewer: Viewer,
    followees: HashSet<UserId>,
    blocked: HashSet<UserId>,
}

impl FeedFilter {
    fn accept(&mut self, event: &DomainEvent) -> Option<Post> {
        match event {
            DomainEvent::Followed { follower, followee } if follower == self.viewer.id() => {
                self.followees.insert(followee.clone());
                None
            }
            DomainEvent::Unfollowed { follower, followee } if follower == self.viewer.id() => {
                self.followees.remove(followee);
                None
            }
            DomainEvent::Blocked { blocker, blocked } => {
                let partner = if blocker == self.viewer.id() {
                    blocked
                } else if blocked == self.viewer.id() {
                    blocker
                } else {
                    return None;
                };
                self.followees.remove(partner);
                self.blocked.insert(partner.clone());
                None
            }
            DomainEvent::PostCreated(post)
                if self.followees.contains(&post.author_id)
                    && !self.blocked.contains(&post.author_id)
                    && PostService::visible_now(Some(&self.viewer), post) =>
            {
                Some(Post(post.clone()))
            }
            _ => None,
        }
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
