//! [`EngagementStore`] on MongoDB: the `comments`, `reactions` and `favorites` collections,
//! and the counters they keep on `posts`.
//!
//! Why transactions: every write here changes two documents — the engagement record and the
//! post's counter (and, for a reply, the parent's `replies_count`). An `$inc` on its own is
//! atomic, but the pair is not: a crash, a failover or a network error between the two writes
//! would leave a reaction without its count or a count without its reaction, and the counters
//! would drift for good. So each write runs in one multi-document transaction (snapshot reads,
//! majority commit), which commits both changes or neither. Concurrent writers on the same
//! documents conflict inside the server (`WriteConflict`, labelled `TransientTransactionError`)
//! and the driver reruns the whole transaction, so counts stay exact under any
//! concurrency. This needs a replica set, as production runs.
//!
//! Like the SQLite adapter's foreign keys, writes refuse a user or post that does not exist.

mod documents;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Client, ClientSession, Collection, Database};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use self::documents::{CommentDoc, FavoriteDoc, ReactionDoc, reaction_projection};
use super::{EngagementStore, Favorite, known_reactions, pages_per_post};
use crate::domain::{Comment, CommentId, PostId, ReactionKind, UserId};
use crate::store::cursor::split;
use crate::store::mongo::{
    IndexSet, after_cursor, collect, collect_page, create_indexes, ensure_exist, fetch_limit,
    id_in, id_strs, index, is_duplicate_key_on, to_bson_time, transaction, update_existing,
};
use crate::store::posts::{COMMENTS_COUNT, FAVORITES_COUNT, reaction_count};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

/// The unique index that makes a user's favorite of a post a single document.
const FAVORITES_UNIQUE: &str = "favorites_user_post_unique";

pub struct MongoEngagementStore {
    /// Transactions need a session, which only the client can start.
    client: Client,
    comments: Collection<CommentDoc>,
    reactions: Collection<Document>,
    favorites: Collection<Document>,
    posts: Collection<Document>,
    users: Collection<Document>,
}

/// The stages that keep only the favorites whose post is not deleted: a `$lookup` of each
/// one's post, which streams (a post is looked up only when a later stage asks for more).
fn with_visible_post() -> [Document; 2] {
    [
        doc! { "$lookup": {
            "from": "posts",
            "localField": "post_id",
            "foreignField": "_id",
            "pipeline": [
                { "$match": { "deleted_at": null } },
                { "$project": { "_id": 1 } },
            ],
            "as": "visible",
        } },
        doc! { "$match": { "visible": { "$ne": [] } } },
    ]
}

impl MongoEngagementStore {
    pub fn new(client: Client, db: &Database) -> Self {
        Self {
            client,
            comments: db.collection("comments"),
            reactions: db.collection("reactions"),
            favorites: db.collection("favorites"),
            posts: db.collection("posts"),
            users: db.collection("users"),
        }
    }

    /// Creates the indexes: the two unique ones that make a reaction and a favorite single
    /// per user and post, and those that serve the lists — a thread's comments in
    /// `(created_at, _id)` order, a user's reactions and favorites among some posts, and a
    /// user's favorites newest first (walked backwards).
    pub async fn create_indexes(&self, which: IndexSet) -> StoreResult<()> {
        let thread = index(
            doc! { "post_id": 1, "parent_id": 1, "created_at": 1, "_id": 1 },
            "comments_by_thread",
            false,
        );
        create_indexes(&self.comments, which.pick([], [thread])).await?;
        let reactions = which.pick(
            [index(
                doc! { "post_id": 1, "user_id": 1 },
                "reactions_post_user_unique",
                true,
            )],
            [index(
                doc! { "user_id": 1, "post_id": 1 },
                "reactions_by_user",
                false,
            )],
        );
        create_indexes(&self.reactions, reactions).await?;
        let favorites = which.pick(
            [index(
                doc! { "user_id": 1, "post_id": 1 },
                FAVORITES_UNIQUE,
                true,
            )],
            [index(
                doc! { "user_id": 1, "created_at": 1, "post_id": 1 },
                "favorites_by_time",
                false,
            )],
        );
        create_indexes(&self.favorites, favorites).await
    }

    /// Applies `inc` to the post's counters, failing the transaction when the post does not
    /// exist (SQLite's foreign key). A soft-deleted post still exists and is still counted.
    async fn bump(
        &self,
        session: &mut ClientSession,
        post_id: &PostId,
        inc: Document,
    ) -> mongodb::error::Result<()> {
        update_existing(&self.posts, post_id.as_str(), doc! { "$inc": inc }, session).await
    }

    /// Deletes the user's document about the post in `collection` (read through
    /// `projection`) and, when there was one, takes one off the post's counter that `counter`
    /// names for it, in one transaction; the document deleted.
    async fn remove_counted<T>(
        &self,
        collection: &Collection<Document>,
        (post_id, user_id): (&PostId, &UserId),
        projection: Document,
        counter: impl Fn(&T) -> Option<String> + Send + Sync,
    ) -> StoreResult<Option<T>>
    where
        T: DeserializeOwned + Send + Sync,
    {
        let key = doc! { "post_id": post_id.as_str(), "user_id": user_id.as_str() };
        let collection = collection.clone_with_type::<T>();
        let context = (self, &collection, &key, &projection, post_id, &counter);
        Ok(transaction(&self.client, context, |session, context| {
            let (store, collection, key, projection, post_id, counter) = *context;
            async move {
                let removed = collection
                    .find_one_and_delete(key.clone())
                    .projection(projection.clone())
                    .session(&mut *session)
                    .await?;
                if let Some(counter) = removed.as_ref().and_then(counter) {
                    store
                        .bump(session, post_id, doc! { counter: -1_i64 })
                        .await?;
                }
                Ok(removed)
            }
            .boxed()
        })
        .await?)
    }

    /// The user's documents in `collection` about any of `post_ids`, read through
    /// `projection`; no query for no posts.
    async fn of_user_among<T>(
        collection: &Collection<Document>,
        user_id: &UserId,
        post_ids: &[PostId],
        projection: Document,
    ) -> StoreResult<Vec<T>>
    where
        T: DeserializeOwned + Send + Sync + Unpin,
    {
        if post_ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = doc! { "user_id": user_id.as_str(), "post_id": { "$in": id_strs(post_ids) } };
        collect(
            collection
                .clone_with_type::<T>()
                .find(filter)
                .projection(projection),
        )
        .await
    }
}

#[async_trait::async_trait]
impl EngagementStore for MongoEngagementStore {
    async fn add_comment(&self, comment: &Comment) -> StoreResult<()> {
        let document = CommentDoc::new(comment);
        let context = (self, comment, &document);
        Ok(transaction(&self.client, context, |session, context| {
            let (store, comment, document) = *context;
            async move {
                ensure_exist(&store.users, &[&comment.author_id], Some(session)).await?;
                store
                    .comments
                    .insert_one(document)
                    .session(&mut *session)
                    .await?;
                store
                    .bump(session, &comment.post_id, doc! { COMMENTS_COUNT: 1_i64 })
                    .await?;
                if let Some(parent) = &comment.parent_id {
                    let inc = doc! { "$inc": { "replies_count": 1_i64 } };
                    update_existing(&store.comments, parent.as_str(), inc, session).await?;
                }
                Ok(())
            }
            .boxed()
        })
        .await?)
    }

    async fn get_many_comments(&self, ids: &[CommentId]) -> StoreResult<Vec<Comment>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        collect(self.comments.find(id_in(ids))).await
    }

    async fn delete_comment(
        &self,
        id: &CommentId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Comment>> {
        let before = transaction(&self.client, (self, id, now), |session, context| {
            let (store, id, now) = *context;
            async move {
                let before = store
                    .comments
                    .find_one_and_update(
                        doc! { "_id": id.as_str(), "deleted_at": null },
                        doc! { "$set": { "body": "", "deleted_at": to_bson_time(now) } },
                    )
                    .return_document(ReturnDocument::Before)
                    .session(&mut *session)
                    .await?;
                if let Some(comment) = &before {
                    let post_id = PostId::from_trusted(comment.post_id().to_owned());
                    store
                        .bump(session, &post_id, doc! { COMMENTS_COUNT: -1_i64 })
                        .await?;
                }
                Ok(before)
            }
            .boxed()
        })
        .await?;
        Ok(before.map(Comment::from))
    }

    async fn comments(
        &self,
        post_id: &PostId,
        parent: Option<&CommentId>,
        exclude_authors: &[UserId],
        page: &PageRequest,
    ) -> StoreResult<Page<Comment>> {
        let mut filter = doc! {
            "post_id": post_id.as_str(),
            "parent_id": parent.map(CommentId::as_str),
        };
        if !exclude_authors.is_empty() {
            filter.insert("author_id", doc! { "$nin": id_strs(exclude_authors) });
        }
        // Oldest first: past the cursor is later, or as old with a greater id.
        if let Some((millis, id)) = split(page.after.as_deref()) {
            let at = Bson::DateTime(mongodb::bson::DateTime::from_millis(millis));
            after_cursor(&mut filter, ("created_at", at), ("_id", &id), false);
        }
        let find = self
            .comments
            .find(filter)
            .sort(doc! { "created_at": 1, "_id": 1 })
            .limit(fetch_limit(page.limit));
        collect_page(find, page.limit).await
    }

    /// One aggregation for all posts: the matching top-level comments grouped by post, each
    /// group keeping its first `per_post + 1` by `(created_at, _id)` (`$topN`, which bounds
    /// the memory per group, unlike `$push` of everything).
    async fn first_comments(
        &self,
        post_ids: &[PostId],
        per_post: usize,
        exclude_authors: &[UserId],
    ) -> StoreResult<Vec<(PostId, Page<Comment>)>> {
        #[derive(Deserialize)]
        struct Thread {
            comments: Vec<CommentDoc>,
        }
        if post_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = doc! { "post_id": { "$in": id_strs(post_ids) }, "parent_id": null };
        if !exclude_authors.is_empty() {
            filter.insert("author_id", doc! { "$nin": id_strs(exclude_authors) });
        }
        let pipeline = vec![
            doc! { "$match": filter },
            doc! { "$group": {
                "_id": "$post_id",
                "comments": { "$topN": {
                    "n": fetch_limit(per_post),
                    "sortBy": { "created_at": 1, "_id": 1 },
                    "output": "$$ROOT",
                } },
            } },
        ];
        let threads: Vec<Thread> =
            collect(self.comments.aggregate(pipeline).with_type::<Thread>()).await?;
        let found: Vec<Comment> = threads
            .into_iter()
            .flat_map(|thread| thread.comments)
            .map(Comment::from)
            .collect();
        Ok(pages_per_post(post_ids, &found, per_post))
    }

    async fn react(
        &self,
        post_id: &PostId,
        user_id: &UserId,
        kind: ReactionKind,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ReactionKind>> {
        let key = doc! { "post_id": post_id.as_str(), "user_id": user_id.as_str() };
        let context = (self, &key, post_id, user_id, kind, now);
        Ok(transaction(&self.client, context, |session, context| {
            let (store, key, post_id, user_id, kind, now) = *context;
            async move {
                let previous = store
                    .reactions
                    .clone_with_type::<ReactionDoc>()
                    .find_one(key.clone())
                    .projection(reaction_projection())
                    .session(&mut *session)
                    .await?
                    .and_then(|r| r.kind());
                if previous == Some(kind) {
                    return Ok(previous);
                }
                ensure_exist(&store.users, &[user_id], Some(session)).await?;
                let set = doc! { "kind": kind.as_str(), "created_at": to_bson_time(now) };
                store
                    .reactions
                    .update_one(key.clone(), doc! { "$set": set })
                    .upsert(true)
                    .session(&mut *session)
                    .await?;
                let mut inc = doc! { reaction_count(kind): 1_i64 };
                if let Some(old) = previous {
                    inc.insert(reaction_count(old), -1_i64);
                }
                store.bump(session, post_id, inc).await?;
                Ok(previous)
            }
            .boxed()
        })
        .await?)
    }

    async fn unreact(
        &self,
        post_id: &PostId,
        user_id: &UserId,
    ) -> StoreResult<Option<ReactionKind>> {
        let counter = |r: &ReactionDoc| r.kind().map(reaction_count);
        let removed = self
            .remove_counted(
                &self.reactions,
                (post_id, user_id),
                reaction_projection(),
                counter,
            )
            .await?;
        Ok(removed.and_then(|r| r.kind()))
    }

    async fn reactions_of(
        &self,
        user_id: &UserId,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<(PostId, ReactionKind)>> {
        let found: Vec<ReactionDoc> =
            Self::of_user_among(&self.reactions, user_id, post_ids, reaction_projection()).await?;
        Ok(known_reactions(
            found.into_iter().map(|r| (r.post_id, r.kind)),
        ))
    }

    /// Inserts the favorite; when the unique index says it exists already, the transaction
    /// aborts (nothing was counted) and the answer is `false`.
    async fn add_favorite(
        &self,
        post_id: &PostId,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let favorite = doc! {
            "user_id": user_id.as_str(),
            "post_id": post_id.as_str(),
            "created_at": to_bson_time(now),
        };
        let context = (self, &favorite, post_id, user_id);
        let added = transaction(&self.client, context, |session, context| {
            let (store, favorite, post_id, user_id) = *context;
            async move {
                ensure_exist(&store.users, &[user_id], Some(session)).await?;
                store
                    .favorites
                    .insert_one(favorite)
                    .session(&mut *session)
                    .await?;
                store
                    .bump(session, post_id, doc! { FAVORITES_COUNT: 1_i64 })
                    .await
            }
            .boxed()
        })
        .await;
        match added {
            Ok(()) => Ok(true),
            Err(err) if is_duplicate_key_on(&err, FAVORITES_UNIQUE) => Ok(false),
            Err(err) => Err(StoreError::from(err)),
        }
    }

    async fn remove_favorite(&self, post_id: &PostId, user_id: &UserId) -> StoreResult<bool> {
        let counter = |_: &Document| Some(FAVORITES_COUNT.to_owned());
        let projection = doc! { "_id": 1 };
        let removed = self
            .remove_counted(&self.favorites, (post_id, user_id), projection, counter)
            .await?;
        Ok(removed.is_some())
    }

    async fn favorited_among(
        &self,
        user_id: &UserId,
        post_ids: &[PostId],
    ) -> StoreResult<Vec<PostId>> {
        #[derive(Deserialize)]
        struct Favorited {
            post_id: String,
        }
        let projection = doc! { "_id": 0, "post_id": 1 };
        let found: Vec<Favorited> =
            Self::of_user_among(&self.favorites, user_id, post_ids, projection).await?;
        Ok(found
            .into_iter()
            .map(|f| PostId::from_trusted(f.post_id))
            .collect())
    }

    /// Newest first by `(created_at, post_id)`, leaving out deleted posts. The pipeline
    /// streams: posts are looked up only until the page (plus one) is full, so the cost
    /// follows the page size, not the number of favorites.
    async fn favorites(&self, user_id: &UserId, page: &PageRequest) -> StoreResult<Page<Favorite>> {
        let mut filter = doc! { "user_id": user_id.as_str() };
        if let Some((millis, post)) = split(page.after.as_deref()) {
            let at = Bson::DateTime(mongodb::bson::DateTime::from_millis(millis));
            after_cursor(&mut filter, ("created_at", at), ("post_id", &post), true);
        }
        let mut pipeline = vec![
            doc! { "$match": filter },
            doc! { "$sort": { "created_at": -1, "post_id": -1 } },
        ];
        pipeline.extend(with_visible_post());
        pipeline.extend([
            doc! { "$limit": fetch_limit(page.limit) },
            doc! { "$project": { "_id": 0, "post_id": 1, "created_at": 1 } },
        ]);
        let favorites = self
            .favorites
            .aggregate(pipeline)
            .with_type::<FavoriteDoc>();
        collect_page(favorites, page.limit).await
    }

    async fn count_favorites(&self, user_id: &UserId) -> StoreResult<u64> {
        let mut pipeline = vec![doc! { "$match": { "user_id": user_id.as_str() } }];
        pipeline.extend(with_visible_post());
        pipeline.push(doc! { "$count": "n" });
        let counted: Vec<Document> = collect(self.favorites.aggregate(pipeline)).await?;
        let n = counted
            .first()
            .and_then(|d| d.get("n"))
            .and_then(|n| n.as_i64().or_else(|| n.as_i32().map(i64::from)))
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
