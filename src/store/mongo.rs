//! The MongoDB connection and what every Mongo adapter shares: client options, the start-up
//! checks (ping, indexes), readiness, timestamp conversion, reading a query's documents
//! ([`collect`]), transactions ([`transaction`]), writes that lost a race run again
//! ([`retry_lost_race`]), and the mapping of duplicate-key errors to
//! [`StoreError::Conflict`].
//!
//! Each area's adapter (`store/<area>/mongo.rs`) owns its collections and their indexes; this
//! module only opens the database and asks each adapter to create its indexes before the app
//! serves a request, so uniqueness is enforced by the server from the first write on.

use std::collections::{BTreeSet, HashSet};
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error as DriverError, ErrorKind, InsertManyError, WriteFailure};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, ClientSession, Collection, Database, IndexModel, bson};

use super::chat::MongoChatStore;
use super::engagement::MongoEngagementStore;
use super::event_log::MongoEventLogStore;
use super::notifications::MongoNotificationStore;
use super::one_time_tokens::MongoOneTimeTokenStore;
use super::orders::MongoOrderStore;
use super::outbox::MongoOutboxStore;
use super::posts::MongoPostStore;
use super::rate_limits::MongoRateLimitStore;
use super::reviews::MongoReviewStore;
use super::sessions::MongoSessionStore;
use super::social::MongoSocialStore;
use super::users::MongoUserStore;
use super::wallet::MongoWalletStore;
use super::{Page, RoundTrips, StoreError, StoreHealth, StoreResult, Stores};

/// How long an operation waits for a usable server before failing. The driver's default is
/// 30 s; a request that cannot reach the database should fail well before a client or load
/// balancer gives up on it, and `/ready` should turn red quickly.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// MongoDB's `DuplicateKey` error code, reported when a write would break a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// Which indexes [`open_with`] creates at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSet {
    /// Every index: what production and [`open`] use.
    All,
    /// Only the indexes that carry part of the contract — the unique ones and the text index —
    /// leaving out those that only make lists fast. Results are the same, only slower on large
    /// collections. This exists for test servers that cannot build every index: nx-27017
    /// 0.8.1 (the text-search stand-in) accepts a compound index whose key contains `_id`,
    /// then fails every insert into that collection ("JSON path error near '_id'").
    /// Never use it against a real deployment.
    ContractOnly,
}

impl IndexSet {
    /// The indexes to create on one collection: `contract` (unique indexes, the text index)
    /// always, `speed` (those that only make lists fast) only with [`IndexSet::All`].
    pub(crate) fn pick(
        self,
        contract: impl IntoIterator<Item = IndexModel>,
        speed: impl IntoIterator<Item = IndexModel>,
    ) -> Vec<IndexModel> {
        let mut models: Vec<IndexModel> = contract.into_iter().collect();
        if self == IndexSet::All {
            models.extend(speed);
        }
        models
    }
}

/// Connects to `uri`, checks the server answers, creates every index, and wires every store
/// to `database`.
///
/// Options given in the URI win over the defaults set here (application name, server
/// selection timeout), so operators can tune them without a rebuild.
pub async fn open(uri: &str, database: &str) -> StoreResult<Stores> {
    open_with(uri, database, IndexSet::All).await
}

/// [`open`], creating only the indexes in `indexes`.
pub async fn open_with(uri: &str, database: &str, indexes: IndexSet) -> StoreResult<Stores> {
    // The URI may carry credentials: it never goes into an error message.
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| StoreError::Backend(format!("invalid MongoDB connection string: {e}")))?;
    options.app_name.get_or_insert_with(|| "agora".to_owned());
    options
        .server_selection_timeout
        .get_or_insert(SERVER_SELECTION_TIMEOUT);
    // Every command the driver starts is one round trip.
    let round_trips = RoundTrips::default();
    let counter = round_trips.clone();
    options.command_event_handler = Some(EventHandler::callback(move |event: CommandEvent| {
        if let CommandEvent::Started(_) = event {
            counter.record();
        }
    }));
    let client = Client::with_options(options)?;
    let db = MongoDb {
        db: client.database(database),
    };
    db.ping()
        .await
        .map_err(|e| StoreError::Backend(format!("MongoDB is unreachable: {e}")))?;

    let users = MongoUserStore::new(&db.db);
    users.create_indexes().await?;
    let sessions = MongoSessionStore::new(&db.db);
    sessions.create_indexes().await?;
    let wallet = MongoWalletStore::new(&db.db);
    wallet.create_indexes().await?;
    let one_time_tokens = MongoOneTimeTokenStore::new(db.db.clone());
    one_time_tokens.create_indexes().await?;
    let outbox = MongoOutboxStore::new(db.db.clone());
    outbox.create_indexes().await?;
    let rate_limits = MongoRateLimitStore::new(db.db.clone());
    rate_limits.create_indexes().await?;

    let social = MongoSocialStore::new(db.db.clone());
    social.create_indexes().await?;

    let mut posts = MongoPostStore::new(&db.db);
    posts.create_indexes(indexes).await?;
    let engagement = MongoEngagementStore::new(client.clone(), &db.db);
    engagement.create_indexes(indexes).await?;
    let notifications = MongoNotificationStore::new(client.clone(), &db.db);
    notifications.create_indexes().await?;
    // The TTL index is part of the contract (the log must not grow forever).
    let event_log = MongoEventLogStore::new(&db.db);
    event_log.create_indexes().await?;
    let chat = MongoChatStore::new(client.clone(), &db.db);
    chat.create_indexes(indexes).await?;
    let orders = MongoOrderStore::new(client.clone(), &db.db);
    orders.create_indexes(indexes).await?;
    let reviews = MongoReviewStore::new(client, &db.db);
    reviews.create_indexes(indexes).await?;
    reviews.backfill_verified().await?;

    Ok(Stores {
        users: Arc::new(users),
        sessions: Arc::new(sessions),
        wallet: Arc::new(wallet),
        posts: Arc::new(posts),
        engagement: Arc::new(engagement),
        chat: Arc::new(chat),
        event_log: Arc::new(event_log),
        notifications: Arc::new(notifications),
        social: Arc::new(social),
        one_time_tokens: Arc::new(one_time_tokens),
        orders: Arc::new(orders),
        reviews: Arc::new(reviews),
        outbox: Arc::new(outbox),
        rate_limits: Arc::new(rate_limits),
        round_trips,
        health: Arc::new(db),
    })
}

/// An index with a stable name (duplicate-key errors are matched by name, see
/// [`map_write_error`]), unique or not.
pub(crate) fn index(keys: Document, name: &str, unique: bool) -> IndexModel {
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

/// A unique index over only the documents matching `filter`, named like [`index`]: for fields
/// some documents lack, which a plain unique index would treat as all equal to `null`.
pub(crate) fn partial_unique_index(keys: Document, name: &str, filter: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(
            IndexOptions::builder()
                .name(name.to_owned())
                .unique(true)
                .partial_filter_expression(filter)
                .build(),
        )
        .build()
}

/// A non-unique index over only the documents matching `filter`, named like [`index`].
pub(crate) fn partial_index(keys: Document, name: &str, filter: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(
            IndexOptions::builder()
                .name(name.to_owned())
                .partial_filter_expression(filter)
                .build(),
        )
        .build()
}

/// A TTL index on the date field `field`: the server deletes a document `expire_after` past
/// that date (at once for zero, when the field holds the expiry itself). Deletion runs about
/// once a minute, so it only tidies: an adapter never relies on an expired document being
/// gone.
pub(crate) fn ttl_index(field: &str, name: &str, expire_after: Duration) -> IndexModel {
    IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(
            IndexOptions::builder()
                .name(name.to_owned())
                .expire_after(expire_after)
                .build(),
        )
        .build()
}

/// Creates `models` on `collection` in one `createIndexes` command. Idempotent: an index that
/// already exists with the same definition is left alone; one whose definition changed under
/// the same name fails start-up instead of silently running without the intended guarantee.
pub(crate) async fn create_indexes<T: Send + Sync>(
    collection: &mongodb::Collection<T>,
    models: Vec<IndexModel>,
) -> StoreResult<()> {
    if models.is_empty() {
        return Ok(());
    }
    collection
        .create_indexes(models)
        .await
        .map(|_| ())
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot create the indexes of {}: {e}",
                collection.name()
            ))
        })
}

/// Narrows `filter` to what comes after a keyset cursor `(at, id)` in `(time_field,
/// id_field)` order: older, or as old with a smaller id, when the list is newest first
/// (`descending`); later, or as old with a greater id, otherwise.
pub(crate) fn after_cursor(
    filter: &mut Document,
    (time_field, at): (&str, Bson),
    (id_field, id): (&str, &str),
    descending: bool,
) {
    let past = if descending { "$lt" } else { "$gt" };
    filter.insert(
        "$or",
        vec![
            doc! { time_field: { past: at.clone() } },
            doc! { time_field: at, id_field: { past: id } },
        ],
    );
}

/// Ids as the strings they are stored as, for `$in` and `$nin`.
pub(crate) fn id_strs<T: AsRef<str>>(ids: &[T]) -> Vec<&str> {
    ids.iter().map(AsRef::as_ref).collect()
}

pub(crate) use super::fetch_limit;

/// Every document a query (`find`, `aggregate`) returns, each turned into a `T`.
pub(crate) async fn collect<D, T>(
    query: impl IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<D>>>,
) -> StoreResult<Vec<T>>
where
    D: serde::de::DeserializeOwned + Unpin + Send + Sync,
    T: From<D>,
{
    use futures_util::TryStreamExt;
    Ok(query.await?.map_ok(T::from).try_collect().await?)
}

/// A page of up to `limit` items from a query limited to [`fetch_limit`]`(limit)` documents
/// (see [`Page::from_overfetch`]).
pub(crate) async fn collect_page<D, T>(
    query: impl IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<D>>>,
    limit: usize,
) -> StoreResult<Page<T>>
where
    D: serde::de::DeserializeOwned + Unpin + Send + Sync,
    T: From<D>,
{
    Ok(Page::from_overfetch(collect(query).await?, limit))
}

/// A handle to the application's database, used for readiness. Cheap to clone: the driver's
/// `Database` shares one connection pool.
#[derive(Clone)]
pub struct MongoDb {
    db: Database,
}

#[async_trait::async_trait]
impl StoreHealth for MongoDb {
    async fn ping(&self) -> StoreResult<()> {
        Ok(self
            .db
            .run_command(bson::doc! { "ping": 1 })
            .await
            .map(|_| ())?)
    }

    fn backend_name(&self) -> &'static str {
        "mongodb"
    }
}

/// The stored form of every timestamp: a BSON datetime, which has the domain's millisecond
/// precision, so a value reads back exactly as it was written.
pub(crate) fn to_bson_time(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

/// Why a transaction body gave up on purpose (a referenced document is missing, as SQLite's
/// foreign keys would say): carried through the driver's error as a custom payload, so the
/// driver aborts the transaction, and turned into [`StoreError::Backend`] with this message by
/// `?` (see `From<mongodb::error::Error> for StoreError`).
#[derive(Debug)]
pub(crate) struct Abort(pub(crate) String);

/// Gives up the running transaction with `message` (see [`Abort`]).
pub(crate) fn abort(message: impl Into<String>) -> DriverError {
    DriverError::custom(Abort(message.into()))
}

/// Runs `body` in one transaction on a new session: snapshot reads, majority commit. Every
/// write that changes several documents together goes through here.
///
/// The driver reruns `body` on `TransientTransactionError` and retries the commit on
/// `UnknownTransactionCommitResult`, so `body` must only read and write through the session
/// and return every error it meets (an error it swallowed might have aborted the transaction
/// on the server). A body gives up with [`abort`], or with its own payload
/// (`DriverError::custom`) when the caller must tell outcomes apart (`get_custom`).
///
/// `body` gets its inputs through `context` and returns a boxed future (the driver's
/// `and_run`): the async-closure form, `and_run2`, trips rustc's "`Send` is not general
/// enough" limitation inside `async_trait` methods, whose futures must be `Send`.
pub(crate) async fn transaction<C, R, F>(
    client: &Client,
    context: C,
    body: F,
) -> mongodb::error::Result<R>
where
    C: Send,
    F: for<'s> FnMut(
            &'s mut mongodb::ClientSession,
            &'s mut C,
        ) -> futures_util::future::BoxFuture<'s, mongodb::error::Result<R>>
        + Send,
{
    let mut session = client.start_session().await?;
    session
        .start_transaction()
        .read_concern(mongodb::options::ReadConcern::snapshot())
        .write_concern(mongodb::options::WriteConcern::majority())
        .and_run(context, body)
        .await
}

/// The inverse of [`to_bson_time`]. A BSON datetime beyond chrono's range (±262,000 years)
/// cannot have been written by us; it reads as the epoch, as in the SQLite adapter.
pub(crate) fn from_bson_time(t: bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}

/// Maps a failed write to a store error: a duplicate key on one of `unique_indexes` (pairs of
/// index name and the client-facing field it guards) becomes
/// [`StoreError::Conflict`]; anything else, including a duplicate key on an index not listed
/// (such as `_id`), is a [`StoreError::Backend`] carrying the driver's text for the logs (or
/// the reason of an [`abort`]).
///
/// Indexes are matched by name, which is why every unique index is created with an explicit
/// one: the name is stable, unlike the key pattern's rendering in the server's message.
pub(crate) fn map_write_error(
    err: DriverError,
    unique_indexes: &[(&str, &'static str)],
) -> StoreError {
    let conflict = duplicate_key_index(&err).and_then(|index| {
        unique_indexes
            .iter()
            .find(|(name, _)| *name == index)
            .map(|(_, field)| *field)
    });
    match conflict {
        Some(field) => StoreError::Conflict { field },
        None => StoreError::from(err),
    }
}

/// Whether a write failed on a unique index (any index, `_id` included). Upserts use it to
/// retry a lost insert race, which MongoDB reports as a duplicate key.
pub(crate) fn is_duplicate_key(err: &DriverError) -> bool {
    duplicate_key_index(err).is_some()
        || matches!(err.kind.as_ref(), ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY)
        || matches!(err.kind.as_ref(), ErrorKind::Command(e) if e.code == DUPLICATE_KEY)
}

/// How many times [`upsert`] runs an upsert that keeps losing insert races. One retry finds
/// the winner's document; more is only for a key many instances create at the same moment.
const UPSERT_ATTEMPTS: usize = 3;

/// How many times a transaction that numbers from a counter document runs when the server
/// keeps reporting its write conflict as a duplicate of the number (see [`retry_lost_race`]):
/// a number taken from the counter inside the transaction can only collide with a concurrent
/// transaction's.
pub(crate) const NUMBERING_ATTEMPTS: usize = 5;

/// Runs `write` again while it fails with an error `lost_race` recognises, at most `attempts`
/// times in all; returns the last outcome (success, another error, or the race lost too
/// often). Errors convert into [`StoreError`] through `?`.
///
/// For writes that lose a race to a concurrent instance and succeed when simply run again:
///
/// - An upsert of a missing document: two concurrent upserts may both insert, and the loser
///   gets a duplicate key on `_id` (or another unique index); run again, it finds the
///   winner's document and updates that one. [`upsert`] is this case.
/// - A transaction that numbers from a counter document: concurrent ones conflict on the
///   counter, which MongoDB labels transient and the driver reruns by itself, but some servers
///   report the conflict as a duplicate of the number instead (`lost_race` names that index).
///
/// `write` must be safe to run again: each run starts from what is stored, never from what an
/// earlier run read.
pub(crate) async fn retry_lost_race<T, E, Fut>(
    attempts: usize,
    lost_race: impl Fn(&E) -> bool,
    mut write: impl FnMut() -> Fut,
) -> Result<T, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(err) if attempt < attempts && lost_race(&err) => attempt += 1,
            outcome => return outcome,
        }
    }
}

/// Runs an upsert (`update_one`, `replace_one` or `find_one_and_update` with `upsert(true)`),
/// again when it lost an insert race to a concurrent upsert of the same missing document (see
/// [`retry_lost_race`]). Usage: `upsert(|| collection.update_one(filter, update).upsert(true)
/// .into_future()).await?`.
pub(crate) async fn upsert<T, Fut>(write: impl FnMut() -> Fut) -> StoreResult<T>
where
    Fut: std::future::Future<Output = mongodb::error::Result<T>>,
{
    Ok(retry_lost_race(UPSERT_ATTEMPTS, is_duplicate_key, write).await?)
}

/// Refuses to attach records to documents that do not exist, as the SQLite adapter's foreign
/// keys do: fails unless every one of `ids` (repeats allowed) is the `_id` of a document in
/// `collection`, in one query. The one existence check of the MongoDB adapters.
///
/// Inside a transaction pass its `session`: the read joins the transaction's snapshot and a
/// miss gives the transaction up ([`abort`]). Outside one pass `None`; `?` turns a miss into
/// [`StoreError::Backend`] all the same. The message names what is missing by the
/// collection's singular: "user u1 does not exist", "users u1, u2 do not exist".
/// Check-then-write cannot race: users and posts are never deleted (posts only soft-deleted).
pub(crate) async fn ensure_exist<T, I>(
    collection: &Collection<T>,
    ids: &[I],
    session: Option<&mut ClientSession>,
) -> mongodb::error::Result<()>
where
    T: Send + Sync,
    I: AsRef<str>,
{
    let wanted: BTreeSet<&str> = ids.iter().map(AsRef::as_ref).collect();
    let documents = collection.clone_with_type::<Document>();
    let find = documents
        .find(doc! { "_id": { "$in": wanted.iter().collect::<Vec<_>>() } })
        .projection(doc! { "_id": 1 });
    let found: Vec<Document> = match session {
        Some(session) => {
            let mut cursor = find.session(&mut *session).await?;
            cursor.stream(session).try_collect().await?
        }
        None => find.await?.try_collect().await?,
    };
    let found: HashSet<&str> = found.iter().filter_map(|d| d.get_str("_id").ok()).collect();
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|id| !found.contains(id))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing_documents(collection.name(), &missing))
    }
}

/// Applies `update` to the document `_id: id` of `collection` in the running transaction, and
/// gives the transaction up as [`ensure_exist`] does when there is no such document: for the
/// counters kept on a parent (a post's engagement counts, a user's follower counts), one round
/// trip both moves the counter and proves the parent exists.
pub(crate) async fn update_existing<T: Send + Sync>(
    collection: &Collection<T>,
    id: &str,
    update: Document,
    session: &mut ClientSession,
) -> mongodb::error::Result<()> {
    let result = collection
        .update_one(doc! { "_id": id }, update)
        .session(session)
        .await?;
    match result.matched_count {
        0 => Err(missing_documents(collection.name(), &[id])),
        _ => Ok(()),
    }
}

/// The [`abort`] for documents of `collection` that are not there.
fn missing_documents(collection: &str, ids: &[&str]) -> DriverError {
    let singular = collection.strip_suffix('s').unwrap_or(collection);
    match ids {
        [one] => abort(format!("{singular} {one} does not exist")),
        many => abort(format!("{collection} {} do not exist", many.join(", "))),
    }
}

/// The filter matching the documents whose `_id` is one of `ids`.
pub(crate) fn id_in(ids: &[impl AsRef<str>]) -> Document {
    doc! { "_id": { "$in": id_strs(ids) } }
}

/// Whether a failed write broke the unique index named `index`.
pub(crate) fn is_duplicate_key_on(err: &DriverError, index: &str) -> bool {
    duplicate_key_index(err) == Some(index)
}

/// The name of the unique index a duplicate-key error hit, wherever the driver reports it: a
/// single write (`insert_one`, `update_*`), a command (`findAndModify`, `createIndexes`), or a
/// batch (`insert_many`, client bulk write), where the first duplicate key decides.
fn duplicate_key_index(err: &DriverError) -> Option<&str> {
    let message = match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY => &e.message,
        ErrorKind::Command(e) if e.code == DUPLICATE_KEY => &e.message,
        ErrorKind::InsertMany(InsertManyError {
            write_errors: Some(errors),
            ..
        }) => &errors.iter().find(|e| e.code == DUPLICATE_KEY)?.message,
        ErrorKind::BulkWrite(e) => {
            let mut duplicates: Vec<_> = e
                .write_errors
                .iter()
                .filter(|(_, e)| e.code == DUPLICATE_KEY)
                .collect();
            duplicates.sort_by_key(|(index, _)| **index);
            &duplicates.first()?.1.message
        }
        _ => return None,
    };
    index_name_in(message)
}

/// Extracts the index name from the server's duplicate-key message, whose documented shape is
/// `E11000 duplicate key error collection: <db>.<coll> index: <name> dup key: { … }`.
fn index_name_in(message: &str) -> Option<&str> {
    message.split_once(" index: ")?.1.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_name_is_read_from_a_duplicate_key_message() {
        let message = "E11000 duplicate key error collection: agora.users index: \
                       users_email_unique dup key: { email: \"ann@example.com\" }";
        assert_eq!(index_name_in(message), Some("users_email_unique"));
        assert_eq!(index_name_in("E11000 duplicate key error"), None);
    }

    #[test]
    fn timestamps_round_trip_at_millisecond_precision() {
        let t = DateTime::from_timestamp_millis(1_767_225_600_123).expect("in range");
        assert_eq!(from_bson_time(to_bson_time(t)), t);
    }
}
