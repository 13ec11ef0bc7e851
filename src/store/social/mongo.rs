//! [`SocialStore`] on MongoDB: the `follows` and `blocks` collections and the counters on
//! `users`.
//!
//! Why transactions: following, unfollowing and blocking each change an edge document *and*
//! the counters on two user documents. MongoDB makes single-document writes atomic only, so
//! without a multi-document transaction a crash or a concurrent writer between the two
//! writes would leave counts that disagree with the edges. Each write therefore runs in one
//! transaction ([`crate::store::mongo::transaction`]), which the driver reruns on a
//! `TransientTransactionError` (a write conflict with a concurrent transaction) and whose
//! commit it retries on an `UnknownTransactionCommitResult`.
//!
//! Why those transactions cannot let a follow and a block of the same pair both succeed:
//! transactions are snapshot-isolated, so a follow's "is this pair blocked?" read does not
//! conflict with a block committing concurrently. Both are made to *write* the same two user
//! documents instead (the follow moves their counters, a new block bumps their
//! `social_revision`), and MongoDB lets only one of two transactions that write the same
//! document commit; the other is retried on a fresh snapshot and sees the winner's work.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::{Client, ClientSession, Collection, Database};

use super::{FollowEdge, SocialStore, ViewerGraph, page_start};
use crate::domain::UserId;
use crate::store::mongo::{
    after_cursor, collect, create_indexes, fetch_limit, from_bson_time, id_strs, index,
    is_duplicate_key_on, map_write_error, retry_lost_race, to_bson_time, transaction,
    update_existing,
};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

/// The unique index that keeps one edge per (follower, followee), even between racing
/// transactions that each saw no edge.
const FOLLOWS_UNIQUE: &str = "follows_pair_unique";
/// One block document per (blocker, blocked).
const BLOCKS_UNIQUE: &str = "blocks_pair_unique";

/// How many times a write runs when SecantusDB misreports a write conflict (see
/// [`misreported_conflict`]).
const ATTEMPTS: usize = 5;

pub struct MongoSocialStore {
    client: Client,
    graph: Graph,
}

/// The collections a social write touches, borrowed by transaction bodies.
struct Graph {
    follows: Collection<Document>,
    blocks: Collection<Document>,
    users: Collection<Document>,
}

/// A write to the graph between two users, each run in one transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Follow(DateTime<Utc>),
    Unfollow,
    Block(DateTime<Utc>),
}

/// Inserts the edge or block `key` made at `now` unless it exists; whether it was new.
async fn insert_once(
    collection: &Collection<Document>,
    key: Document,
    now: DateTime<Utc>,
    session: &mut ClientSession,
) -> mongodb::error::Result<bool> {
    let set = doc! { "$setOnInsert": { "created_at": to_bson_time(now) } };
    let written = collection
        .update_one(key, set)
        .upsert(true)
        .session(session)
        .await?;
    Ok(written.upserted_id.is_some())
}

fn either_way(a: &UserId, b: &UserId) -> Document {
    doc! { "$or": [
        { "blocker_id": a.as_str(), "blocked_id": b.as_str() },
        { "blocker_id": b.as_str(), "blocked_id": a.as_str() },
    ] }
}

impl Graph {
    /// Runs `change` of `a` (the follower, the blocker) and `b`: whether it created or
    /// removed the edge or block.
    async fn apply(
        &self,
        session: &mut ClientSession,
        change: Change,
        a: &UserId,
        b: &UserId,
    ) -> mongodb::error::Result<bool> {
        match change {
            Change::Follow(now) => self.follow(session, a, b, now).await,
            Change::Unfollow => self.unfollow(session, a, b).await,
            Change::Block(now) => self.block(session, a, b, now).await,
        }
    }

    /// Applies `(user, following delta, followers delta)` to each user and adds `bump` to
    /// their `social_revision` (see the module docs). A missing user gives the transaction up.
    async fn adjust_counts(
        &self,
        session: &mut ClientSession,
        changes: [(&UserId, i64, i64); 2],
        bump: i64,
    ) -> mongodb::error::Result<()> {
        for (user, following, followers) in changes {
            let inc = doc! { "$inc": {
                "following_count": following,
                "followers_count": followers,
                "social_revision": bump,
            } };
            update_existing(&self.users, user.as_str(), inc, session).await?;
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
        let key = doc! { "follower_id": follower.as_str(), "followee_id": followee.as_str() };
        let upserted = insert_once(&self.follows, key, now, session).await?;
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
        let key = doc! { "blocker_id": blocker.as_str(), "blocked_id": blocked.as_str() };
        let created = insert_once(&self.blocks, key, now, session).await?;
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

    /// Creates the indexes this store relies on; idempotent, like the other stores'.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        let follows = vec![
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
        create_indexes(&self.graph.follows, follows).await?;
        let blocks = vec![
            index(
                doc! { "blocker_id": 1, "blocked_id": 1 },
                BLOCKS_UNIQUE,
                true,
            ),
            index(doc! { "blocked_id": 1 }, "blocks_by_blocked", false),
        ];
        create_indexes(&self.graph.blocks, blocks).await
    }

    /// Runs `change` of `a` and `b` in one transaction ([`Graph::apply`]). A duplicate key on
    /// the pair's unique index means a concurrent transaction committed the same document
    /// first, so the write was not this one's to make: `Ok(false)`. A transaction the server
    /// gave up with a misreported conflict runs again, up to [`ATTEMPTS`] times in all.
    async fn change(&self, change: Change, a: &UserId, b: &UserId) -> StoreResult<bool> {
        let (verb, unique_index) = match change {
            Change::Follow(_) => ("follow", FOLLOWS_UNIQUE),
            Change::Unfollow => ("unfollow", FOLLOWS_UNIQUE),
            Change::Block(_) => ("block", BLOCKS_UNIQUE),
        };
        if a == b && change != Change::Unfollow {
            return Err(StoreError::Backend(format!(
                "a user cannot {verb} themself"
            )));
        }
        let context = (&self.graph, change, a, b);
        let result = retry_lost_race(ATTEMPTS, misreported_conflict, || {
            transaction(&self.client, context, |session, context| {
                let (graph, change, a, b) = *context;
                graph.apply(session, change, a, b).boxed()
            })
        })
        .await;
        result.or_else(
            |err| match map_write_error(err, &[(unique_index, "pair")]) {
                StoreError::Conflict { .. } => Ok(false),
                other => Err(other),
            },
        )
    }

    /// The other side's ids of the documents `filter` matches in `collection`.
    async fn ids(
        collection: &Collection<Document>,
        filter: Document,
        field: &str,
    ) -> StoreResult<Vec<UserId>> {
        let docs: Vec<Document> = collect(
            collection
                .find(filter)
                .projection(doc! { field: 1, "_id": 0 }),
        )
        .await?;
        docs.iter()
            .map(|d| Ok(UserId::from_trusted(d.get_str(field)?.to_owned())))
            .collect()
    }

    /// Those of `candidates` that `viewer` is `own` of in `collection`, where the candidate
    /// is `other` (its follows, its blocks); no query for none.
    async fn among(
        collection: &Collection<Document>,
        (own, viewer): (&str, &UserId),
        (other, candidates): (&str, &[UserId]),
    ) -> StoreResult<Vec<UserId>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let filter = doc! { own: viewer.as_str(), other: { "$in": id_strs(candidates) } };
        Self::ids(collection, filter, other).await
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
        if let Some((millis, after)) = page_start(page)? {
            let at = Bson::DateTime(mongodb::bson::DateTime::from_millis(millis));
            after_cursor(
                &mut filter,
                ("created_at", at),
                (other, after.as_str()),
                true,
            );
        }
        let docs: Vec<Document> = collect(
            self.graph
                .follows
                .find(filter)
                .sort(doc! { "created_at": -1, other: -1 })
                .limit(fetch_limit(page.limit))
                .projection(doc! { other: 1, "created_at": 1, "_id": 0 }),
        )
        .await?;
        let items = docs
            .iter()
            .map(|d| {
                Ok(FollowEdge {
                    user_id: UserId::from_trusted(d.get_str(other)?.to_owned()),
                    followed_at: from_bson_time(*d.get_datetime("created_at")?),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.limit))
    }
}

/// Social transactions never write a user's email or username, so a duplicate key on those
/// unique indexes during one can only be a write conflict with a concurrent transaction
/// reported under the wrong code. MongoDB reports such conflicts as `WriteConflict` with the
/// `TransientTransactionError` label, which the driver already reruns; the SecantusDB
/// stand-in was seen to report one as E11000 on `users_email_unique` under a follow racing a
/// block (once in CI, on 0.7.0b3, the version CI still runs; rare enough that a few hundred
/// local races did not show it again). The transaction was aborted either way, so running it
/// again is safe, and on MongoDB this never triggers.
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
        self.change(Change::Follow(now), follower, followee).await
    }

    async fn unfollow(&self, follower: &UserId, followee: &UserId) -> StoreResult<bool> {
        self.change(Change::Unfollow, follower, followee).await
    }

    async fn block(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.change(Change::Block(now), blocker, blocked).await
    }

    async fn unblock(&self, blocker: &UserId, blocked: &UserId) -> StoreResult<bool> {
        // One document, so one atomic delete: no counters depend on blocks.
        let deleted = self
            .graph
            .blocks
            .delete_one(doc! { "blocker_id": blocker.as_str(), "blocked_id": blocked.as_str() })
            .await?;
        Ok(deleted.deleted_count > 0)
    }

    async fn followed_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        let own = ("follower_id", viewer);
        Self::among(&self.graph.follows, own, ("followee_id", candidates)).await
    }

    async fn blocked_among(
        &self,
        viewer: &UserId,
        candidates: &[UserId],
    ) -> StoreResult<Vec<UserId>> {
        let own = ("blocker_id", viewer);
        Self::among(&self.graph.blocks, own, ("blocked_id", candidates)).await
    }

    async fn is_blocked_either_way(&self, a: &UserId, b: &UserId) -> StoreResult<bool> {
        let found = self
            .graph
            .blocks
            .find_one(either_way(a, b))
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(found.is_some())
    }

    async fn block_partners(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let filter =
            doc! { "$or": [{ "blocker_id": user.as_str() }, { "blocked_id": user.as_str() }] };
        let docs: Vec<Document> = collect(
            self.graph
                .blocks
                .find(filter)
                .projection(doc! { "blocker_id": 1, "blocked_id": 1, "_id": 0 }),
        )
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
        let docs: Vec<Document> = collect(self.graph.follows.aggregate(pipeline)).await?;
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
