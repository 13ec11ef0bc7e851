//! Per-request dataloaders: one per entity, each over a batch store method, so a list of N
//! items costs one round trip per relation, not N.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use super::batch::Batcher;
use crate::domain::{
    ChatRoom, ChatRoomId, Comment, CommentId, Message, MessageId, Order, OrderId, Post, PostId,
    RatingSummary, ReactionKind, User, UserId,
};
use crate::error::AppError;
use crate::service::{
    ChatService, EngagementService, OrderService, PostService, ReviewService, Services,
    SocialService, UserService, Viewer,
};
use crate::store::Page;

/// A loader failure, shared by every field that waited on the batch.
#[derive(Clone, Debug)]
pub struct LoadError(Arc<AppError>);

impl From<LoadError> for async_graphql::Error {
    fn from(err: LoadError) -> Self {
        // Every loader error is a store failure; rebuild it as an internal error so it is
        // masked and logged like any other.
        match &*err.0 {
            AppError::Internal(cause) => AppError::Internal(cause.clone()).into(),
            other => AppError::Internal(format!("{other:?}")).into(),
        }
    }
}

/// The loaders of one request. Created fresh per request so their caches never leak data
/// between viewers.
pub struct Loaders {
    pub users: Batcher<UserId, UserLoader>,
    pub posts: Batcher<PostId, PostLoader>,
    pub comments: Batcher<CommentId, CommentLoader>,
    /// The first page of top-level comments, keyed by post and page size.
    pub first_comments: Batcher<(PostId, usize), FirstCommentsLoader>,
    /// The viewer's reaction per post. `None` for anonymous requests: there is none, and no
    /// store call.
    pub viewer_reactions: Option<Batcher<PostId, ViewerReactionLoader>>,
    /// Whether the viewer favorited each post; `None` for anonymous requests, as above.
    pub viewer_favorites: Option<Batcher<PostId, ViewerFavoriteLoader>>,
    /// Whether the viewer follows a user. `None` for anonymous requests: the answer is
    /// `false` and needs no store call.
    pub viewer_follows: Option<Batcher<UserId, ViewerFollowsLoader>>,
    /// Whether the viewer has blocked a user; `None` for anonymous requests, as above.
    pub viewer_blocked: Option<Batcher<UserId, ViewerBlockedLoader>>,
    /// Chat rooms by id (`Message.room`).
    pub chat_rooms: Batcher<ChatRoomId, ChatRoomLoader>,
    /// Chat messages by id (`ChatRoom.lastMessage`).
    pub messages: Batcher<MessageId, MessageLoader>,
    /// The viewer's unread count per room; `None` for anonymous requests, which see no room.
    pub unread_counts: Option<Batcher<ChatRoomId, UnreadCountLoader>>,
    /// Orders the viewer may see, by id; `None` for anonymous requests, which see none.
    pub orders: Option<Batcher<OrderId, OrderLoader>>,
    /// A listing's rating counters (`Post.rating`).
    pub post_ratings: Batcher<PostId, PostRatingLoader>,
    /// A seller's rating over their listings (`User.sellerRating`).
    pub seller_ratings: Batcher<UserId, SellerRatingLoader>,
    /// Whether an author has a delivered order of a listing (`Review.verifiedPurchase`).
    pub verified_purchases: Batcher<(UserId, PostId), VerifiedPurchaseLoader>,
}

fn loader<K, T>(inner: T) -> Batcher<K, T>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    T: Loader<K>,
    T::Error: Clone + Sync,
{
    Batcher::new(inner)
}

impl Loaders {
    pub fn new(services: &Services, viewer: Option<&Viewer>) -> Self {
        let for_viewer = |v: &Viewer| ViewerRelation {
            social: services.social.clone(),
            engagement: services.engagement.clone(),
            viewer: v.clone(),
        };
        Self {
            users: loader(UserLoader(services.users.clone())),
            posts: loader(PostLoader {
                posts: services.posts.clone(),
                viewer: viewer.cloned(),
            }),
            comments: loader(CommentLoader(services.engagement.clone())),
            first_comments: loader(FirstCommentsLoader {
                engagement: services.engagement.clone(),
                viewer: viewer.cloned(),
            }),
            viewer_reactions: viewer.map(|v| loader(ViewerReactionLoader(for_viewer(v)))),
            viewer_favorites: viewer.map(|v| loader(ViewerFavoriteLoader(for_viewer(v)))),
            viewer_follows: viewer.map(|v| loader(ViewerFollowsLoader(for_viewer(v)))),
            viewer_blocked: viewer.map(|v| loader(ViewerBlockedLoader(for_viewer(v)))),
            chat_rooms: loader(ChatRoomLoader {
                chat: services.chat.clone(),
                viewer: viewer.map(|v| v.id().clone()),
            }),
            messages: loader(MessageLoader(services.chat.clone())),
            unread_counts: viewer.map(|v| {
                loader(UnreadCountLoader {
                    chat: services.chat.clone(),
                    viewer: v.id().clone(),
                })
            }),
            orders: viewer.map(|v| {
                loader(OrderLoader {
                    orders: services.orders.clone(),
                    viewer: v.clone(),
                })
            }),
            post_ratings: loader(PostRatingLoader(services.reviews.clone())),
            seller_ratings: loader(SellerRatingLoader(services.reviews.clone())),
            verified_purchases: loader(VerifiedPurchaseLoader(services.orders.clone())),
        }
    }
}

fn failed(err: AppError) -> LoadError {
    LoadError(Arc::new(err))
}

pub struct PostLoader {
    posts: PostService,
    viewer: Option<Viewer>,
}

impl Loader<PostId> for PostLoader {
    type Value = Post;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, Post>, LoadError> {
        let posts = self
            .posts
            .get_many_posts(self.viewer.as_ref(), keys)
            .await
            .map_err(failed)?;
        Ok(posts.into_iter().map(|p| (p.id.clone(), p)).collect())
    }
}

pub struct CommentLoader(EngagementService);

impl Loader<CommentId> for CommentLoader {
    type Value = Comment;
    type Error = LoadError;

    async fn load(&self, keys: &[CommentId]) -> Result<HashMap<CommentId, Comment>, LoadError> {
        let comments = self.0.get_many_comments(keys).await.map_err(failed)?;
        Ok(comments.into_iter().map(|c| (c.id.clone(), c)).collect())
    }
}

pub struct FirstCommentsLoader {
    engagement: EngagementService,
    viewer: Option<Viewer>,
}

impl Loader<(PostId, usize)> for FirstCommentsLoader {
    type Value = Page<Comment>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(PostId, usize)],
    ) -> Result<HashMap<(PostId, usize), Page<Comment>>, LoadError> {
        // Clients almost always ask every post for the same page size: one query per size.
        let mut sizes: Vec<usize> = keys.iter().map(|(_, n)| *n).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut found = HashMap::new();
        for size in sizes {
            let posts: Vec<PostId> = keys
                .iter()
                .filter(|(_, n)| *n == size)
                .map(|(p, _)| p.clone())
                .collect();
            let pages = self
                .engagement
                .first_comments(self.viewer.as_ref(), &posts, size)
                .await
                .map_err(failed)?;
            found.extend(pages.into_iter().map(|(post, page)| ((post, size), page)));
        }
        Ok(found)
    }
}

/// `Post.viewerReaction` for a whole level of posts in one `reactions_of` call.
pub struct ViewerReactionLoader(ViewerRelation);

impl Loader<PostId> for ViewerReactionLoader {
    type Value = ReactionKind;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, ReactionKind>, LoadError> {
        let ViewerRelation {
            engagement, viewer, ..
        } = &self.0;
        let reactions = engagement
            .reactions_of(viewer, keys)
            .await
            .map_err(failed)?;
        Ok(reactions.into_iter().collect())
    }
}

/// `Post.viewerFavorited` for a whole level of posts in one `favorited_among` call.
pub struct ViewerFavoriteLoader(ViewerRelation);

impl Loader<PostId> for ViewerFavoriteLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, bool>, LoadError> {
        let ViewerRelation {
            engagement, viewer, ..
        } = &self.0;
        let favorited = engagement
            .favorited_among(viewer, keys)
            .await
            .map_err(failed)?;
        Ok(membership(keys, favorited))
    }
}

pub struct UserLoader(UserService);

impl Loader<UserId> for UserLoader {
    type Value = User;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, User>, LoadError> {
        let users = self
            .0
            .get_many_users(keys)
            .await
            .map_err(|e| LoadError(Arc::new(e)))?;
        Ok(users.into_iter().map(|u| (u.id.clone(), u)).collect())
    }
}

/// What the viewer-relative loaders need: the services and whose point of view to take.
pub struct ViewerRelation {
    social: SocialService,
    engagement: EngagementService,
    viewer: Viewer,
}

/// Answers every key: `true` for those in `found`, `false` for the rest.
fn membership<K: Clone + Eq + std::hash::Hash>(keys: &[K], found: Vec<K>) -> HashMap<K, bool> {
    let found: HashSet<K> = found.into_iter().collect();
    keys.iter()
        .map(|key| (key.clone(), found.contains(key)))
        .collect()
}

/// `User.viewerFollows` for a whole level of users in one `followed_among` call (none when
/// the request already read the viewer's graph).
pub struct ViewerFollowsLoader(ViewerRelation);

impl Loader<UserId> for ViewerFollowsLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, bool>, LoadError> {
        let ViewerRelation { social, viewer, .. } = &self.0;
        let followed = social.followed_among(viewer, keys).await.map_err(failed)?;
        Ok(membership(keys, followed))
    }
}

/// `User.isBlockedByViewer` for a whole level of users in one `blocked_among` call.
pub struct ViewerBlockedLoader(ViewerRelation);

impl Loader<UserId> for ViewerBlockedLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, bool>, LoadError> {
        let ViewerRelation { social, viewer, .. } = &self.0;
        let blocked = social.blocked_among(viewer, keys).await.map_err(failed)?;
        Ok(membership(keys, blocked))
    }
}

/// Rooms the viewer is a member of (`Message.room`); none without a viewer.
pub struct ChatRoomLoader {
    chat: ChatService,
    viewer: Option<UserId>,
}

impl Loader<ChatRoomId> for ChatRoomLoader {
    type Value = ChatRoom;
    type Error = LoadError;

    async fn load(&self, keys: &[ChatRoomId]) -> Result<HashMap<ChatRoomId, ChatRoom>, LoadError> {
        let Some(viewer) = &self.viewer else {
            return Ok(HashMap::new());
        };
        let rooms = self
            .chat
            .get_many_rooms(viewer, keys)
            .await
            .map_err(failed)?;
        Ok(rooms.into_iter().map(|r| (r.id.clone(), r)).collect())
    }
}

pub struct MessageLoader(ChatService);

impl Loader<MessageId> for MessageLoader {
    type Value = Message;
    type Error = LoadError;

    async fn load(&self, keys: &[MessageId]) -> Result<HashMap<MessageId, Message>, LoadError> {
        let messages = self.0.get_many_messages(keys).await.map_err(failed)?;
        Ok(messages.into_iter().map(|m| (m.id.clone(), m)).collect())
    }
}

/// `ChatRoom.unreadCount` for a whole page of rooms in one `unread_counts` call.
pub struct UnreadCountLoader {
    chat: ChatService,
    viewer: UserId,
}

impl Loader<ChatRoomId> for UnreadCountLoader {
    type Value = u64;
    type Error = LoadError;

    async fn load(&self, keys: &[ChatRoomId]) -> Result<HashMap<ChatRoomId, u64>, LoadError> {
        let counts = self
            .chat
            .unread_counts(&self.viewer, keys)
            .await
            .map_err(failed)?;
        Ok(counts.into_iter().collect())
    }
}

pub struct OrderLoader {
    orders: OrderService,
    viewer: Viewer,
}

impl Loader<OrderId> for OrderLoader {
    type Value = Order;
    type Error = LoadError;

    async fn load(&self, keys: &[OrderId]) -> Result<HashMap<OrderId, Order>, LoadError> {
        let orders = self
            .orders
            .get_many_orders(&self.viewer, keys)
            .await
            .map_err(failed)?;
        Ok(orders.into_iter().map(|o| (o.id.clone(), o)).collect())
    }
}

pub struct PostRatingLoader(ReviewService);

impl Loader<PostId> for PostRatingLoader {
    type Value = RatingSummary;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, RatingSummary>, LoadError> {
        let found = self.0.rating_summaries(keys).await.map_err(failed)?;
        Ok(found.into_iter().collect())
    }
}

pub struct SellerRatingLoader(ReviewService);

impl Loader<UserId> for SellerRatingLoader {
    type Value = RatingSummary;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, RatingSummary>, LoadError> {
        let found = self.0.seller_ratings(keys).await.map_err(failed)?;
        Ok(found.into_iter().collect())
    }
}

/// Answers every key: `true` where the author has a delivered order of the listing.
pub struct VerifiedPurchaseLoader(OrderService);

impl Loader<(UserId, PostId)> for VerifiedPurchaseLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(UserId, PostId)],
    ) -> Result<HashMap<(UserId, PostId), bool>, LoadError> {
        let found: HashSet<(UserId, PostId)> = self
            .0
            .delivered_purchases(keys)
            .await
            .map_err(failed)?
            .into_iter()
            .collect();
        Ok(keys
            .iter()
            .map(|key| (key.clone(), found.contains(key)))
            .collect())
    }
}
