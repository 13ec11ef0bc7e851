//! The embedded SQLite database: connections, pragmas, migrations (run by [`migrate`], from
//! the SQL files in `migrations/sqlite/`), and the bridge that keeps blocking SQLite calls off
//! the async runtime.
//!
//! Concurrency model: SQLite in WAL mode allows many readers and one writer. We keep one
//! write connection (behind a mutex, so writers queue here instead of spinning on
//! `SQLITE_BUSY`) and a small pool of read connections. Another process on the same file (a
//! second instance) is serialised by SQLite's own locking with `busy_timeout`, and writes use
//! `BEGIN IMMEDIATE` so they never deadlock on a lock upgrade.
//!
//! Where calls run: writes and scans ([`SqliteDb::write`], [`SqliteDb::scan`]: full-text
//! search, counts, anything whose cost grows with the table) run on tokio's blocking pool.
//! Bounded reads ([`SqliteDb::read`]: primary-key and index-range lookups whose size is capped
//! by a page or a batch) run on the calling worker: they take 5–60 µs here, less than the
//! two thread hand-offs of the blocking pool cost them (measured on the feed bench: 8 hand-offs
//! per request were ~13 % of its CPU). A read that can wait on a lock held by another process
//! is not bounded — but readers in WAL mode never wait for a writer.
//!
//! One SQLite habit to keep: write `LIMIT ?n + 0`, never `LIMIT ?n`. A bare bound `LIMIT`
//! makes the query plan depend on the bound value, so SQLite re-prepares the statement on
//! every execution, cache or not (measured on the feed page: 85 µs instead of 62 µs).

mod migrate;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

use super::chat::SqliteChatStore;
use super::engagement::SqliteEngagementStore;
use super::event_log::SqliteEventLogStore;
use super::notifications::SqliteNotificationStore;
use super::one_time_tokens::SqliteOneTimeTokenStore;
use super::orders::SqliteOrderStore;
use super::outbox::SqliteOutboxStore;
use super::posts::SqlitePostStore;
use super::rate_limits::SqliteRateLimitStore;
use super::reviews::SqliteReviewStore;
use super::sessions::SqliteSessionStore;
use super::social::SqliteSocialStore;
use super::users::SqliteUserStore;
use super::wallet::SqliteWalletStore;
use super::{RoundTrips, StoreError, StoreHealth, StoreResult, Stores};
use migrate::migrate;

/// Read connections per database. Two cores here; more readers than that only queue in
/// SQLite's page cache.
const READERS: usize = 4;

/// A handle to one SQLite database file. Cheap to clone.
#[derive(Clone)]
pub struct SqliteDb {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    round_trips: RoundTrips,
    /// The only connection that writes. A mutex rather than a pool: SQLite admits one writer
    /// at a time anyway, and queueing here is cheaper than retrying on `SQLITE_BUSY`.
    writer: Mutex<Connection>,
    /// Idle read connections. `read_slots` has one permit per connection, so a task that
    /// holds a permit always finds one here.
    readers: Mutex<Vec<Connection>>,
    read_slots: Semaphore,
}

impl SqliteDb {
    /// Opens (creating if needed) the database at `path`, sets the pragmas and runs pending
    /// migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(path)).await?
    }

    fn open_blocking(path: PathBuf) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            crate::data_dir::create_private_dir(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        // Created owner-only before SQLite opens it: SQLite gives the `-wal` and `-shm` files
        // the database file's permissions (an empty file is an empty database).
        crate::data_dir::private_file_options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", path.display())))?;
        let mut writer = connect(&path, false)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| connect(&path, true))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                round_trips: RoundTrips::default(),
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
                read_slots: Semaphore::new(READERS),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a read connection on the calling thread. Only for bounded reads (see the
    /// module docs): `f` must not scan a table.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        self.inner.round_trips.record();
        let _slot = self.inner.read_slots.acquire().await?;
        let conn = ReaderGuard::take(&self.inner);
        f(conn.conn())
    }

    /// Runs `f` on a read connection off the async runtime, for reads whose cost grows with
    /// the data (search, counts, aggregates).
    pub async fn scan<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.inner.round_trips.record();
        let _slot = self.inner.read_slots.acquire().await?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = ReaderGuard::take(&inner);
            f(conn.conn())
        })
        .await?
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction on the write connection, off the
    /// async runtime. The transaction commits when `f` returns `Ok` and rolls back otherwise,
    /// so a failed use case writes nothing.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.inner.round_trips.record();
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await?
    }

    /// The rows `sql` selects with `params`, each read by `row`: a bounded read of one query
    /// (see [`SqliteDb::read`]).
    pub(crate) async fn select<T, P, F>(&self, sql: &str, params: P, row: F) -> StoreResult<Vec<T>>
    where
        P: rusqlite::Params,
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.read(|conn| conn.prepare_cached(sql)?.query_vec(params, row))
            .await
    }

    /// A page of up to `limit` rows: `sql` selects at most as many rows as its last parameter,
    /// which `params` sets to [`super::fetch_limit`]`(limit)`, one more than the page holds.
    pub(crate) async fn select_page<T, P, F>(
        &self,
        sql: &str,
        params: P,
        limit: usize,
        row: F,
    ) -> StoreResult<super::Page<T>>
    where
        P: rusqlite::Params,
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        let items = self.select(sql, params, row).await?;
        Ok(super::Page::from_overfetch(items, limit))
    }

    /// Runs the one statement `sql` with `params` in its own write transaction (see
    /// [`SqliteDb::write`]); returns how many rows it changed.
    pub(crate) async fn execute<P>(&self, sql: &'static str, params: P) -> StoreResult<usize>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.write(move |tx| Ok(tx.prepare_cached(sql)?.execute(params)?))
            .await
    }

    /// The number `sql` (a `SELECT COUNT(*)`) gives with `params`, counted off the runtime
    /// (see [`SqliteDb::scan`]).
    pub(crate) async fn count<P>(
        &self,
        sql: impl AsRef<str> + Send + 'static,
        params: P,
    ) -> StoreResult<u64>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.scan(move |conn| {
            let count: i64 = conn
                .prepare_cached(sql.as_ref())?
                .query_row(params, |row| row.get(0))?;
            Ok(from_count(count))
        })
        .await
    }
}

/// Locks a mutex, recovering the data if a previous holder panicked: a connection stays
/// usable after a panic in a closure because every write runs in a transaction that is rolled
/// back on drop.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A read connection borrowed from the pool; returned on drop, also when the closure using
/// it panics.
struct ReaderGuard<'a> {
    conn: Option<Connection>,
    inner: &'a Inner,
}

impl<'a> ReaderGuard<'a> {
    /// Takes an idle connection. The caller holds a `read_slots` permit, which guarantees one.
    fn take(inner: &'a Inner) -> ReaderGuard<'a> {
        let conn = lock(&inner.readers)
            .pop()
            .expect("a read slot permit guarantees an idle connection");
        ReaderGuard {
            conn: Some(conn),
            inner,
        }
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.inner.readers).push(conn);
        }
    }
}

fn connect(path: &Path, read_only: bool) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let pragmas = if read_only {
        "PRAGMA foreign_keys = ON;"
    } else {
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
    };
    conn.execute_batch(pragmas)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Opens the database file and wires every store to it.
pub async fn open_file(path: &Path) -> StoreResult<Stores> {
    let db = SqliteDb::open(path).await?;
    Ok(Stores {
        users: Arc::new(SqliteUserStore::new(db.clone())),
        sessions: Arc::new(SqliteSessionStore::new(db.clone())),
        wallet: Arc::new(SqliteWalletStore::new(db.clone())),
        posts: Arc::new(SqlitePostStore::new(db.clone())),
        chat: Arc::new(SqliteChatStore::new(db.clone())),
        engagement: Arc::new(SqliteEngagementStore::new(db.clone())),
        event_log: Arc::new(SqliteEventLogStore::new(db.clone())),
        notifications: Arc::new(SqliteNotificationStore::new(db.clone())),
        round_trips: db.inner.round_trips.clone(),
        social: Arc::new(SqliteSocialStore::new(db.clone())),
        one_time_tokens: Arc::new(SqliteOneTimeTokenStore::new(db.clone())),
        orders: Arc::new(SqliteOrderStore::new(db.clone())),
        reviews: Arc::new(SqliteReviewStore::new(db.clone())),
        outbox: Arc::new(SqliteOutboxStore::new(db.clone())),
        rate_limits: Arc::new(SqliteRateLimitStore::new(db.clone())),
        health: Arc::new(db),
    })
}

#[async_trait::async_trait]
impl StoreHealth for SqliteDb {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

/// A stored counter as the domain's `u64`. SQLite integers are signed; the social store only
/// decrements a counter for an edge it deleted, so a negative value cannot occur and would
/// read as 0.
pub(crate) fn from_count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Maps a UNIQUE violation on `table.column` to a conflict on the client-facing field name;
/// anything else is a backend failure.
pub(crate) fn map_unique(err: rusqlite::Error, fields: &[(&str, &'static str)]) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, Some(message)) = &err
        && code.code == rusqlite::ErrorCode::ConstraintViolation
    {
        for (column, field) in fields {
            if message.contains(column) {
                return StoreError::Conflict { field };
            }
        }
    }
    StoreError::backend(err)
}

/// Runs a prepared query and maps every row with `row`, all or nothing: the one way adapters
/// read a list of rows.
pub(crate) trait StatementExt {
    fn query_vec<T, P, F>(&mut self, params: P, row: F) -> StoreResult<Vec<T>>
    where
        P: rusqlite::Params,
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl StatementExt for rusqlite::Statement<'_> {
    fn query_vec<T, P, F>(&mut self, params: P, row: F) -> StoreResult<Vec<T>>
    where
        P: rusqlite::Params,
        F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        Ok(self.query_map(params, row)?.collect::<Result<_, _>>()?)
    }
}

/// A list of ids as one JSON array parameter, for `IN (SELECT value FROM json_each(?))`: the
/// statement text, and so its cached plan, does not depend on how many ids there are.
pub(crate) fn ids_json(ids: &[impl AsRef<str>]) -> String {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
}
