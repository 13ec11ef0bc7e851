//! [`SocialStore`] on MongoDB: the `follows` and `blocks` collections and the counters on
//! `users`.
//!
//! Why transactions: following, unfollowing and blocking each change an edge document *and*
//! the counters on two user documents. MongoDB makes single-document writes atomic only, so
//! without a multi-document transaction a crash or a concurrent writer between the two
//! writes would leave counts that disagree with the edges. Each write therefore runs in one
//! transaction through the driver's `and_run`, which retries the whole callback on a
//! `TransientTransactionError` (a write conflict with a concurrent transaction) and the
//! commit on an `UnknownTransactionCommitResult`.
//!
//! Why those transactions cannot let a follow and a block of the same pair both succeed:
//! transactions are snapshot-isolated, so a follow's "is this pair blocked?" read does not
//! conflict with a block committing concurrently. Both are made to *write* the same two user
//! documents instead (the follow moves their counters, a new block bumps their
//! `social_revision`), and MongoDB lets only one of two transactions that write the same
//! document commit; the other is retried on a fresh snapshot and sees the winner's work.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{Document, doc};
use mongodb::error::Error as DriverError;
use mongodb::options::{IndexOptions, ReadConcern, WriteConcern};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};

use super::{FollowCursor, FollowEdge, MALFORMED_CURSOR, SocialStore, ViewerGraph};
use crate::domain::UserId;
use crate::store::mongo::{from_bson_time, is_duplicate_key_on, map_write_error, to_bson_time};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

/// The unique index that keeps one edge per (follower, followee), even between racing
/// transactions that each saw no edge.
const FOLLOWS_UNIQUE: &str = "follows_pair_unique";
/// One block document per (blocker, blocked).
const BLOCKS_UNIQUE: &str = "blocks_pair_unique";

/// Why a transaction callback gave up; carried through the driver's error as a custom
/// payload, because `and_run` only speaks `mongodb::error::Error`.
#[derive(Debug)]
enum Abort {
    /// A counter update matched no user: the edge or block would dangle.
    UnknownUser,
}

pub struct MongoSocialStore {
    client: Client,
    graph: Graph,
}

/// The collections a social write touches, borrowed by transaction callbacks.
struct Graph {
    follows: Collection<Document>,
    blocks: Collection<Document>,
    users: Collection<Document>,
}

fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(
            IndexOptions::builder()
                .name(name.to_owned())
                .unique(unique)
                .build(),
        )
        .build()
}

fn either_way(a: &UserId, b: &UserId) -> Document {
    doc! { "$or": [
        { "blocker_id": a.as_str(), "blocked_id": b.as_str() },
        { "blocker_id": b.as_str(), "blocked_id": a.as_str() },
    ] }
}

fn unknown_user() -> DriverError {
    DriverError::custom(Abort::UnknownUser)
}

/// Maps what a transaction returned: our own aborts and the listed unique index (whose
/// duplicate key means a concurrent transaction committed the same document first, so the
/// write was not ours to make: `Ok(false)`) become their store meaning.
fn transaction_outcome(
    result: mongodb::error::Result<bool>,
    unique_index: &'static str,
) -> StoreResult<bool> {
    match result {
        Ok(created) => Ok(created),
        Err(err) if err.get_custom::<Abort>().is_some() => {
            Err(StoreError::Backend("the user does not exist".into()))
        }
        Err(err) => match map_write_error(err, &[(unique_index, "pair")]) {
            StoreError::Conflict { .. } => Ok(false),
            other => Err(other),
        },
    }
}

impl Graph {
    /// Applies `(user, following delta, followers delta)` to each user and adds `bump` to
    /// their `social_revision` (see the module docs). Fails with [`Abort::UnknownUser`] when
    /// a user is missing, which aborts the transaction.
    async fn adjust_counts(
        &self,
        session: &mut ClientSession,
        changes: [(&UserId, i64, i64); 2],
        bump: i64,
    ) -> mongodb::error::Result<()> {
        for (user, following, followers) in changes {
            let updated = self
                .users
                .update_one(
                    doc! { "_id": user.as_str() },
                    doc! { "$inc": {
                        "following_count": following,
                        "followers_count": followers,
                        "social_revision": bump,
                    } },
                )
                .session(&mut *session)
                .await?;
            if updated.matched_count == 0 {
                return Err(unknown_user());
            }
        }
        Ok(())
    }

    async fn is_blocked(
        &self,
        session: &mut ClientSession,
        a: &UserId,
        b: &UserId,
    ) -> mongodb::error::Result<bool> {
        let found = self
            .blocks
            .find_one(either_way(a, b))
            .projection(doc! { "_id": 1 })
            .session(session)
            .await?;
        Ok(found.is_some())
    }

    async fn follow(
        &self,
        session: &mut ClientSession,
        follower: &UserId,
        followee: &UserId,
        now: DateTime<Utc>,
    ) -> mongodb::error::Result<bool> {
        if self.is_blocked(session, follower, followee).await? {
            return Ok(false);
        }
        let upserted = self
            .follows
            .update_one(
                doc! { "follower_id": follower.as_str(), "followee_id": followee.as_str() },
                doc! { "$setOnInsert": { "created_at": to_bson_time(now) } },
            )
            .upsert(true)
            .session(&mut *session)
            .await?
            .upserted_id
            .is_some();
        if upserted {
            self.adjust_counts(session, [(follower, 1, 0), (followee, 0, 1)], 0)
                .await?;
        }
        Ok(upserted)
    }

    /// Deletes one edge; `Ok(1)` when there was one, else `Ok(0)`. Counters are the caller's.
    async fn delete_edge(
        &self,
        session: &mut ClientSession,
        follower: &UserId,
        followee: &UserId,
    ) -> mongodb::error::Result<i64> {
        let deleted = self
            .follows
            .delete_one(doc! { "follower_id": follower.as_str(), "followee_id": followee.as_str() })
            .session(session)
            .await?
            .deleted_count;
        Ok(i64::from(deleted > 0))
    }

    async fn unfollow(
        &self,
        session: &mut ClientSession,
        follower: &UserId,
        followee: &UserId,
    ) -> mongodb::error::Result<bool> {
        let deleted = self.delete_edge(session, follower, followee).await?;
        if deleted > 0 {
            self.adjust_counts(session, [(follower, -1, 0), (followee, 0, -1)], 0)
                .await?;
        }
        Ok(deleted > 0)
    }

    async fn block(
        &self,
        session: &mut ClientSession,
        blocker: &UserId,
        blocked: &UserId,
        now: DateTime<Utc>,
    ) -> mongodb::error::Result<bool> {
        let created = self
            .blocks
            .update_one(
                doc! { "blocker_id": blocker.as_str(), "blocked_id": blocked.as_str() },
                doc! { "$setOnInsert": { "created_at": to_bson_time(now) } },
            )
            .upsert(true)
            .session(&mut *session)
            .await?
            .upserted_id
            .is_some();
        let forward = self.delete_edge(session, blocker, blocked).await?;
        let backward = self.delete_edge(session, blocked, blocker).await?;
        // Runs even when nothing changes: it is also the check that both users exist. The
        // blocker loses `forward` followings and `backward` followers; the blocked the mirror.
        self.adjust_counts(
            session,
            [
                (blocker, -forward, -backward),
                (blocked, -backward, -forward),
            ],
            i64::from(created),
        )
        .await?;
        Ok(created)
    }
}

impl MongoSocialStore {
    pub fn new(db: Database) -> Self {
        Self {
            client: db.client().clone(),
            graph: Graph {
                follows: db.collection("follows"),
                blocks: db.collection("blocks"),
                users: db.collection("users"),
            },
        }
    }

    /// Creates the indexes this store relies on; idempotent, like the account store's.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        let follows = [
            index(
                doc! { "follower_id": 1, "followee_id": 1 },
                FOLLOWS_UNIQUE,
                true,
            ),
            // Followers lists in keyset order; also answers "who follows X".
            index(
                doc! { "followee_id": 1, "created_at": -1, "follower_id": -1 },
                "follows_by_followee",
                false,
            ),
            // Following lists in keyset order.
            index(
                doc! { "follower_id": 1, "created_at": -1, "followee_id": -1 },
                "follows_by_follower",
                false,
            ),
        ];
        for model in follows {
            self.graph.follows.create_index(model).await?;
        }
        let blocks = [
            index(
                doc! { "blocker_id": 1, "blocked_id": 1 },
                BLOCKS_UNIQUE,
                true,
            ),
            index(doc! { "blocked_id": 1 }, "blocks_by_blocked", false),
        ];
        for model in blocks {
            self.graph.blocks.create_index(model).await?;
        }
        Ok(())
    }

    async fn session(&self) -> StoreResult<ClientSession> {
        Ok(self.client.start_session().await?)
    }

    /// The other side's ids of the documents `filter` matches in `collection`.
    async fn ids(
        collection: &Collection<Document>,
        filter: Document,
        field: &str,
    ) -> StoreResult<Vec<UserId>> {
        let docs: Vec<Document> = collection
            .find(filter)
            .projection(doc! { field: 1, "_id": 0 })
            .await?
            .try_collect()
            .await?;
        docs.iter()
            .map(|d| Ok(UserId::from_trusted(d.get_str(field)?.to_owned())))
            .collect()
    }

    /// A followers (`own` = followee) or following (`own` = follower) page.
    async fn list(
        &self,
        own: &str,
        other: &str,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Page<FollowEdge>> {
        let mut filter = doc! { own: user.as_str() };
        if let Some(key) = page.after.as_deref() {
            let after = FollowCursor::parse(key)
                .ok_or_else(|| StoreError::Backend(MALFORMED_CURSOR.into()))?;
            let at = mongodb::bson::DateTime::from_millis(after.at_millis);
            filter.insert(
                "$or",
                vec![
                    doc! { "created_at": { "$lt": at } },
                    doc! { "created_at": at, other: { "$lt": after.user_id.as_str() } },
                ],
            );
        }
        let docs: Vec<Document> = self
            .graph
            .follows
            .find(filter)
            .sort(doc! { "created_at": -1, other: -1 })
            .limit(page.limit as i64 + 1)
            .projection(doc! { other: 1, "created_at": 1, "_id": 0 })
            .await?
            .try_collect()
            .await?;
        let has_next = docs.len() > page.limit;
        let items = docs
            .iter()
            .take(page.limit)
            .map(|d| {
                Ok(FollowEdge {
                    user_id: UserId::from_trusted(d.get_str(other)?.to_owned()),
                    followed_at: from_bson_time(*d.get_datetime("created_at")?),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, has_next })
    }
}

/// Runs `$body` (an expression over `graph` and `session`) as one transaction with snapshot
/// reads and majority commit, so the checks it makes and the writes it does are one
/// consistent unit; see the module docs for the retries.
macro_rules! in_transaction {
    ($store:expr, |$graph:ident, $session:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut session = $store.session().await?;
            let result = session
                .start_transaction()
                .read_concern(ReadConcern::snapshot())
                .write_concern(WriteConcern::majority())
                .and_run(&$store.graph, |$session, $graph| {
                    async move { $body.await }.boxed()
                })
                .await;
            match result {
                Err(ref err) if attempt < 5 && misreported_conflict(err) => continue,
                outcome => break outcome,
            }
        }
    }};
}

/// Social transactions never write a user's email or username, so a duplicate key on those
/// unique indexes during one can only be a write conflict with a concurrent transaction
/// reported under the wrong code. MongoDB reports such conflicts as `WriteConflict` with the
/// `TransientTransactionError` label, which `and_run` already retries; the SecantusDB
/// stand-in was seen to report one as E11000 on `users_email_unique` under a follow racing a
/// block. The transaction was aborted either way, so running it again is safe, and on MongoDB
/// this never triggers.
fn misreported_conflict(err: &mongodb::error::Error) -> bool {
    ["users_email_unique", "users_username_unique"]
        .iter()
        .any(|index| is_duplicate_key_on(err, index))
}

#[async_trait::async_trait]
impl SocialStore for MongoSocialStore {
    async fn follow(
        &self,
        follower: &UserId,
        followee: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if follower == followee {
            return Err(StoreError::Backend("a user cannot follow themself".into()));
        }
        let result = in_transaction!(self, |graph, session| graph
            .follow(session, follower, followee, now));
        transaction_outcome(result, FOLLOWS_UNIQUE)
    }

    async fn unfollow(&self, follower: &UserId, followee: &UserId) -> StoreResult<bool> {
        let result = in_transaction!(self, |graph, session| graph
            .unfollow(session, follower, followee));
        transaction_outcome(result, FOLLOWS_UNIQUE)
    }

    async fn block(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if blocker == blocked {
            return Err(StoreError::Backend("a user cannot block themself".into()));
        }
        let result = in_transaction!(self, |graph, session| graph
            .block(session, blocker, blocked, now));
        transaction_outcome(result, BLOCKS_UNIQUE)
    }

    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> StoreResult<bool> {
        // One document, so one atomic delete: no counters depend on blocks.
        Ok(self
            .graph
            .blocks
            .delete_one(doc! { "blocker_id": blocker.as_str(), "blocked_id": blocked.as_str() })
            .await
            .map(|result| result.deleted_count > 0)?)
    }

    async fn followed_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = candidates.iter().map(UserId::as_str).collect();
        let filter = doc! { "follower_id": viewer.as_str(), "followee_id": { "$in": ids } };
        Self::ids(&self.graph.follows, filter, "followee_id").await
    }

    async fn blocked_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = candidates.iter().map(UserId::as_str).collect();
        let filter = doc! { "blocker_id": viewer.as_str(), "blocked_id": { "$in": ids } };
        Self::ids(&self.graph.blocks, filter, "blocked_id").await
    }

    async fn is_blocked_either_way(&self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        Ok(self
            .graph
            .blocks
            .find_one(either_way(a, b))
            .projection(doc! { "_id": 1 })
            .await
            .map(|found| found.is_some())?)
    }

    async fn block_partners(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let filter =
            doc! { "$or": [{ "blocker_id": user.as_str() }, { "blocked_id": user.as_str() }] };
        let docs: Vec<Document> = self
            .graph
            .blocks
            .find(filter)
            .projection(doc! { "blocker_id": 1, "blocked_id": 1, "_id": 0 })
            .await?
            .try_collect()
            .await?;
        // A set: someone blocked both ways is one partner.
        let mut partners = BTreeSet::new();
        for d in &docs {
            let blocker = d.get_str("blocker_id")?;
            let blocked = d.get_str("blocked_id")?;
            let other = if blocker == user.as_str() {
                blocked
            } else {
                blocker
            };
            partners.insert(UserId::from_trusted(other.to_owned()));
        }
        Ok(partners.into_iter().collect())
    }

    /// One aggregation: the user's follow edges, with `$unionWith` bringing in the block
    /// edges on either side, so the whole graph arrives in one round trip.
    async fn viewer_graph(&self, user: &UserId) -> StoreResult<ViewerGraph> {
        let me = user.as_str();
        let pipeline = vec![
            doc! { "$match": { "follower_id": me } },
            doc! { "$project": { "_id": 0, "kind": "f", "other": "$followee_id" } },
            doc! { "$unionWith": {
                "coll": self.graph.blocks.name(),
                "pipeline": [
                    { "$match": { "$or": [{ "blocker_id": me }, { "blocked_id": me }] } },
                    { "$project": { "_id": 0, "kind": "b", "other": {
                        "$cond": [{ "$eq": ["$blocker_id", me] }, "$blocked_id", "$blocker_id"]
                    } } },
                ],
            } },
        ];
        let docs: Vec<Document> = self
            .graph
            .follows
            .aggregate(pipeline)
            .await?
            .try_collect()
            .await?;
        let mut graph = ViewerGraph::default();
        let mut partners = BTreeSet::new();
        for d in &docs {
            let other = UserId::from_trusted(d.get_str("other")?.to_owned());
            match d.get_str("kind")? {
                "f" => graph.followees.push(other),
                _ => {
                    partners.insert(other);
                }
            }
        }
        graph.block_partners = partners.into_iter().collect();
        Ok(graph)
    }

    async fn followee_ids(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let filter = doc! { "follower_id": user.as_str() };
        Self::ids(&self.graph.follows, filter, "followee_id").await
    }

    async fn followers(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<FollowEdge>> {
        self.list("followee_id", "follower_id", user, page).await
    }

    async fn following(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<FollowEdge>> {
        self.list("follower_id", "followee_id", user, page).await
    }
}
