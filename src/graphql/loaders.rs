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
use crate::store::{Page, ViewerGraph};

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
    pub graph: Arc<ViewerGraphCell>,
    pub users: Batcher<UserId, UserLoader>,
    pub posts: Batcher<PostId, PostLoader>,
    pub comments: Batcher<CommentId, CommentLoader>,
    /// The first page of top-level comments, keyed by post and page size.
    pub first_comments: Batcher<(PostId, usize), FirstCommentsLoader>,
    /// The viewer's reaction per post (only consulted for a logged-in viewer).
    pub viewer_reactions: Batcher<PostId, ViewerReactionLoader>,
    /// Whether the viewer favorited each post (only consulted for a logged-in viewer).
    pub viewer_favorites: Batcher<PostId, ViewerFavoriteLoader>,
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
        let viewer_id = viewer.map(|v| v.id().clone());
        let graph = Arc::new(ViewerGraphCell {
            social: services.social.clone(),
            viewer: viewer_id.clone(),
            cell: tokio::sync::OnceCell::new(),
        });
        let social = |viewer: &UserId| ViewerRelation {
            social: services.social.clone(),
            viewer: viewer.clone(),
            graph: Arc::clone(&graph),
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
                graph: Arc::clone(&graph),
            }),
            viewer_reactions: loader(ViewerReactionLoader {
                engagement: services.engagement.clone(),
                viewer: viewer_id.clone(),
            }),
            viewer_favorites: loader(ViewerFavoriteLoader {
                engagement: services.engagement.clone(),
                viewer: viewer_id.clone(),
            }),
            viewer_follows: viewer_id
                .as_ref()
                .map(|v| loader(ViewerFollowsLoader(social(v)))),
            viewer_blocked: viewer_id
                .as_ref()
                .map(|v| loader(ViewerBlockedLoader(social(v)))),
            chat_rooms: loader(ChatRoomLoader {
                chat: services.chat.clone(),
                viewer: viewer_id.clone(),
            }),
            messages: loader(MessageLoader(services.chat.clone())),
            unread_counts: viewer_id.as_ref().map(|v| {
                loader(UnreadCountLoader {
                    chat: services.chat.clone(),
                    viewer: v.clone(),
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
            graph,
        }
    }
}

/// The viewer's followees and block partners, loaded at most once per request (one store
/// round trip) and shared by everything that filters or answers by them: the feed, comment
/// lists, post searches and `viewerFollows`.
pub struct ViewerGraphCell {
    social: SocialService,
    viewer: Option<UserId>,
    cell: tokio::sync::OnceCell<Arc<ViewerGraph>>,
}

impl ViewerGraphCell {
    /// The graph; empty for anonymous requests, without a store call.
    pub async fn get(&self) -> Result<Arc<ViewerGraph>, AppError> {
        let Some(viewer) = &self.viewer else {
            return Ok(Arc::default());
        };
        self.cell
            .get_or_try_init(|| async { self.social.viewer_graph(viewer).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The graph if this request has loaded it already.
    fn loaded(&self) -> Option<&Arc<ViewerGraph>> {
        self.cell.get()
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
    graph: Arc<ViewerGraphCell>,
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
        let graph = self.graph.get().await.map_err(failed)?;
        let mut found = HashMap::new();
        for size in sizes {
            let posts: Vec<PostId> = keys
                .iter()
                .filter(|(_, n)| *n == size)
                .map(|(p, _)| p.clone())
                .collect();
            let pages = self
                .engagement
                .first_comments(&graph.block_partners, &posts, size)
                .await
                .map_err(failed)?;
            found.extend(pages.into_iter().map(|(post, page)| ((post, size), page)));
        }
        Ok(found)
    }
}

pub struct ViewerReactionLoader {
    engagement: EngagementService,
    viewer: Option<UserId>,
}

impl Loader<PostId> for ViewerReactionLoader {
    type Value = ReactionKind;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, ReactionKind>, LoadError> {
        let Some(viewer) = &self.viewer else {
            return Ok(HashMap::new());
        };
        let reactions = self
            .engagement
            .reactions_of(viewer, keys)
            .await
            .map_err(failed)?;
        Ok(reactions.into_iter().collect())
    }
}

pub struct ViewerFavoriteLoader {
    engagement: EngagementService,
    viewer: Option<UserId>,
}

impl Loader<PostId> for ViewerFavoriteLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, bool>, LoadError> {
        let Some(viewer) = &self.viewer else {
            return Ok(HashMap::new());
        };
        let favorited = self
            .engagement
            .favorited_among(viewer, keys)
            .await
            .map_err(failed)?;
        Ok(favorited.into_iter().map(|id| (id, true)).collect())
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

/// What the viewer-relative loaders need: the service and whose point of view to take.
pub struct ViewerRelation {
    social: SocialService,
    viewer: UserId,
    graph: Arc<ViewerGraphCell>,
}

/// Answers every key: `true` for those in `found`, `false` for the rest.
fn membership(keys: &[UserId], found: Vec<UserId>) -> HashMap<UserId, bool> {
    let found: HashSet<UserId> = found.into_iter().collect();
    keys.iter()
        .map(|key| (key.clone(), found.contains(key)))
        .collect()
}

/// `User.viewerFollows` for a whole level of users in one `followed_among` call.
pub struct ViewerFollowsLoader(ViewerRelation);

impl Loader<UserId> for ViewerFollowsLoader {
    type Value = bool;
    type Error = LoadError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, bool>, LoadError> {
        let ViewerRelation {
            social,
            viewer,
            graph,
        } = &self.0;
        // When this request already holds the viewer's graph (the feed loads it), the answer
        // costs no round trip.
        if let Some(graph) = graph.loaded() {
            let followed: Vec<UserId> = keys
                .iter()
                .filter(|k| graph.followees.contains(k))
                .cloned()
                .collect();
            return Ok(membership(keys, followed));
        }
        let followed = social
            .followed_among(viewer, keys)
            .await
            .map_err(|e| LoadError(Arc::new(e)))?;
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
        let blocked = social
            .blocked_among(viewer, keys)
            .await
            .map_err(|e| LoadError(Arc::new(e)))?;
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
