//! The embedded SQLite database: connections, pragmas, migrations, and the bridge that keeps
//! blocking SQLite calls off the async runtime.
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

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

use super::account::{SqliteAccountStore, backfill_username_skeletons};
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
use super::social::SqliteSocialStore;
use super::{RoundTrips, StoreError, StoreHealth, StoreResult, Stores};

/// Read connections per database. Two cores here; more readers than that only queue in
/// SQLite's page cache.
const READERS: usize = 4;

/// Schema migrations, applied in order at start-up; `PRAGMA user_version` records how many
/// have run. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: accounts
    r#"
    CREATE TABLE users (
        id              TEXT PRIMARY KEY,
        email           TEXT NOT NULL UNIQUE,
        username        TEXT NOT NULL UNIQUE,
        display_name    TEXT NOT NULL,
        display_name_lc TEXT NOT NULL,
        bio             TEXT,
        avatar_url      TEXT,
        phone           TEXT,
        roles           TEXT NOT NULL,
        active          INTEGER NOT NULL DEFAULT 1,
        email_verified  INTEGER NOT NULL DEFAULT 0,
        password_hash   TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE sessions (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users(id),
        current_hash TEXT NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        revoked_at   INTEGER
    ) STRICT;
    CREATE INDEX sessions_by_user ON sessions(user_id);

    CREATE TABLE retired_refresh_tokens (
        hash       TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        retired_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX retired_refresh_tokens_by_session ON retired_refresh_tokens(session_id, retired_at);

    CREATE TABLE addresses (
        id          TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL REFERENCES users(id),
        recipient   TEXT NOT NULL,
        phone       TEXT NOT NULL,
        line1       TEXT NOT NULL,
        line2       TEXT,
        city        TEXT NOT NULL,
        region      TEXT,
        postal_code TEXT NOT NULL,
        country     TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX addresses_by_user ON addresses(user_id, created_at);

    CREATE TABLE payment_cards (
        id         TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id),
        brand      TEXT NOT NULL,
        last4      TEXT NOT NULL,
        exp_month  INTEGER NOT NULL,
        exp_year   INTEGER NOT NULL,
        holder     TEXT,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX payment_cards_by_user ON payment_cards(user_id, created_at);
    "#,
    // 2: social graph. The counters on `users` are denormalised from `follows` and changed in
    // the same transaction as the edge, so profiles show them without counting rows.
    r#"
    ALTER TABLE users ADD COLUMN followers_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN following_count INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE follows (
        follower_id TEXT NOT NULL REFERENCES users(id),
        followee_id TEXT NOT NULL REFERENCES users(id),
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (follower_id, followee_id),
        CHECK (follower_id <> followee_id)
    ) STRICT, WITHOUT ROWID;
    -- Followers lists: newest first, ties broken by the follower's id (the keyset order).
    CREATE INDEX follows_by_followee ON follows(followee_id, created_at, follower_id);
    -- Following lists, same order.
    CREATE INDEX follows_by_follower ON follows(follower_id, created_at, followee_id);

    CREATE TABLE blocks (
        blocker_id TEXT NOT NULL REFERENCES users(id),
        blocked_id TEXT NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (blocker_id, blocked_id),
        CHECK (blocker_id <> blocked_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX blocks_by_blocked ON blocks(blocked_id);
    "#,
    // 3: posts, listings and engagement
    r#"
    CREATE TABLE posts (
        id              TEXT PRIMARY KEY,
        author_id       TEXT NOT NULL REFERENCES users(id),
        kind            TEXT NOT NULL,
        title           TEXT,
        body            TEXT NOT NULL,
        media           TEXT NOT NULL,
        tags            TEXT NOT NULL,
        mentions        TEXT NOT NULL,
        price           INTEGER,
        currency        TEXT,
        stock           INTEGER,
        status          TEXT,
        category_id     TEXT,
        attributes      TEXT,
        comments_count  INTEGER NOT NULL DEFAULT 0,
        favorites_count INTEGER NOT NULL DEFAULT 0,
        r_like          INTEGER NOT NULL DEFAULT 0,
        r_love          INTEGER NOT NULL DEFAULT 0,
        r_laugh         INTEGER NOT NULL DEFAULT 0,
        r_wow           INTEGER NOT NULL DEFAULT 0,
        r_sad           INTEGER NOT NULL DEFAULT 0,
        r_angry         INTEGER NOT NULL DEFAULT 0,
        rating_count    INTEGER NOT NULL DEFAULT 0,
        rating_sum      INTEGER NOT NULL DEFAULT 0,
        rating_avg      INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        edited_at       INTEGER,
        deleted_at      INTEGER
    ) STRICT;
    -- Covers the feed's page selection (status included), so only the page's rows are read.
    CREATE INDEX posts_by_author ON posts(author_id, created_at, id, status) WHERE deleted_at IS NULL;
    CREATE INDEX posts_by_created ON posts(created_at, id) WHERE deleted_at IS NULL;
    CREATE INDEX posts_by_price ON posts(price, id) WHERE deleted_at IS NULL AND price IS NOT NULL;
    CREATE INDEX posts_by_category ON posts(category_id, created_at) WHERE deleted_at IS NULL;
    CREATE INDEX posts_by_rating ON posts(rating_avg, id) WHERE deleted_at IS NULL;

    CREATE TABLE post_tags (
        tag        TEXT NOT NULL,
        post_id    TEXT NOT NULL REFERENCES posts(id),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tag, post_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX post_tags_by_time ON post_tags(created_at);
    CREATE INDEX post_tags_by_post ON post_tags(post_id);

    CREATE VIRTUAL TABLE posts_fts USING fts5(
        title, body, tags, content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );

    CREATE TABLE comments (
        id            TEXT PRIMARY KEY,
        post_id       TEXT NOT NULL REFERENCES posts(id),
        author_id     TEXT NOT NULL REFERENCES users(id),
        parent_id     TEXT REFERENCES comments(id),
        body          TEXT NOT NULL,
        replies_count INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL,
        deleted_at    INTEGER
    ) STRICT;
    CREATE INDEX comments_by_thread ON comments(post_id, parent_id, created_at, id);

    CREATE TABLE reactions (
        post_id    TEXT NOT NULL REFERENCES posts(id),
        user_id    TEXT NOT NULL REFERENCES users(id),
        kind       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (post_id, user_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX reactions_by_user ON reactions(user_id, post_id);

    CREATE TABLE favorites (
        user_id    TEXT NOT NULL REFERENCES users(id),
        post_id    TEXT NOT NULL REFERENCES posts(id),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, post_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX favorites_by_time ON favorites(user_id, created_at, post_id);
    "#,
    // 4: one-time tokens, the mail outbox, rate-limit counters
    r#"
    CREATE TABLE one_time_tokens (
        user_id    TEXT NOT NULL REFERENCES users(id),
        purpose    TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER,
        PRIMARY KEY (user_id, purpose)
    ) STRICT;

    CREATE TABLE mail_outbox (
        id              TEXT PRIMARY KEY,
        recipient       TEXT NOT NULL,
        subject         TEXT NOT NULL,
        text_body       TEXT,
        html_body       TEXT,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        lease_id        TEXT,
        lease_until     INTEGER,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        settled_at      INTEGER
    ) STRICT;
    CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);
    CREATE INDEX mail_outbox_leases ON mail_outbox(status, lease_until);

    CREATE TABLE rate_limit_hits (
        key        TEXT NOT NULL,
        at         INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX rate_limit_hits_by_key ON rate_limit_hits(key, at);
    CREATE INDEX rate_limit_hits_by_expiry ON rate_limit_hits(expires_at);
    "#,
    // chat: rooms, members with their read positions, messages numbered per room
    r#"
    CREATE TABLE chat_rooms (
        id               TEXT PRIMARY KEY,
        kind             TEXT NOT NULL,
        title            TEXT,
        -- Set for direct rooms only (see domain::direct_key); UNIQUE admits many NULLs.
        direct_key       TEXT UNIQUE,
        listing_id       TEXT REFERENCES posts(id),
        created_by       TEXT NOT NULL REFERENCES users(id),
        created_at       INTEGER NOT NULL,
        last_activity_at INTEGER NOT NULL,
        last_seq         INTEGER NOT NULL DEFAULT 0,
        last_message_id  TEXT
    ) STRICT;

    CREATE TABLE chat_members (
        room_id       TEXT NOT NULL REFERENCES chat_rooms(id),
        user_id       TEXT NOT NULL REFERENCES users(id),
        position      INTEGER NOT NULL,
        last_read_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (room_id, user_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX chat_members_by_user ON chat_members(user_id, room_id);

    CREATE TABLE chat_messages (
        id         TEXT PRIMARY KEY,
        room_id    TEXT NOT NULL REFERENCES chat_rooms(id),
        seq        INTEGER NOT NULL,
        author_id  TEXT NOT NULL REFERENCES users(id),
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (room_id, seq)
    ) STRICT;
    "#,
    // event log: every published domain event, tailed by every instance on this file.
    // AUTOINCREMENT so numbers are never reused after old entries are pruned.
    r#"
    CREATE TABLE event_log (
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        at   INTEGER NOT NULL,
        body TEXT NOT NULL
    ) STRICT;
    CREATE INDEX event_log_by_time ON event_log(at);
    "#,
    // notifications, numbered per recipient; one per (event, recipient) whichever instance
    // processes the event
    r#"
    CREATE TABLE notifications (
        id           TEXT PRIMARY KEY,
        recipient_id TEXT NOT NULL REFERENCES users(id),
        seq          INTEGER NOT NULL,
        event_seq    INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        actor_id     TEXT,
        post_id      TEXT,
        comment_id   TEXT,
        message_id   TEXT,
        order_id     TEXT,
        created_at   INTEGER NOT NULL,
        read_at      INTEGER,
        UNIQUE (recipient_id, seq),
        UNIQUE (event_seq, recipient_id)
    ) STRICT;
    CREATE INDEX notifications_unread ON notifications(recipient_id, seq) WHERE read_at IS NULL;
    "#,
    // marketplace: carts, checkouts (idempotency records), orders with their items, payment
    // attempts. An order is stored whole as JSON (`record`, the shape of
    // `store::orders::record`) beside the columns lists filter and sort by.
    r#"
    CREATE TABLE cart_items (
        user_id  TEXT NOT NULL REFERENCES users(id),
        post_id  TEXT NOT NULL REFERENCES posts(id),
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        added_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, post_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE checkouts (
        buyer_id    TEXT NOT NULL REFERENCES users(id),
        idem_key    TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        order_ids   TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (buyer_id, idem_key)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE orders (
        id         TEXT PRIMARY KEY,
        buyer_id   TEXT NOT NULL REFERENCES users(id),
        seller_id  TEXT NOT NULL REFERENCES users(id),
        status     TEXT NOT NULL,
        revision   INTEGER NOT NULL,
        currency   TEXT NOT NULL,
        total      INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        record     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX orders_by_buyer ON orders(buyer_id, created_at, id);
    CREATE INDEX orders_by_buyer_status ON orders(buyer_id, status, created_at, id);
    CREATE INDEX orders_by_seller ON orders(seller_id, created_at, id);
    CREATE INDEX orders_by_seller_status ON orders(seller_id, status, created_at, id);
    CREATE INDEX orders_by_status ON orders(status, created_at);

    -- One row per listing in an order (a cart has one line per listing), for "has this buyer
    -- a delivered order containing this listing".
    CREATE TABLE order_items (
        order_id TEXT NOT NULL REFERENCES orders(id),
        post_id  TEXT NOT NULL REFERENCES posts(id),
        buyer_id TEXT NOT NULL,
        PRIMARY KEY (order_id, post_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX order_items_by_buyer ON order_items(buyer_id, post_id);

    CREATE TABLE payment_attempts (
        id       TEXT PRIMARY KEY,
        order_id TEXT NOT NULL REFERENCES orders(id),
        at       INTEGER NOT NULL,
        record   TEXT NOT NULL
    ) STRICT;
    CREATE INDEX payment_attempts_by_order ON payment_attempts(order_id, at);
    "#,
    // reviews: one per author and listing; the listing's rating histogram beside the count and
    // sum it already has, all changed in the review's transaction
    r#"
    CREATE TABLE reviews (
        id         TEXT PRIMARY KEY,
        post_id    TEXT NOT NULL REFERENCES posts(id),
        author_id  TEXT NOT NULL REFERENCES users(id),
        seller_id  TEXT NOT NULL REFERENCES users(id),
        rating     INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
        body       TEXT,
        media      TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        edited_at  INTEGER,
        UNIQUE (author_id, post_id)
    ) STRICT;
    CREATE INDEX reviews_by_post ON reviews(post_id, created_at, id);
    CREATE INDEX reviews_by_created ON reviews(created_at, id);

    ALTER TABLE posts ADD COLUMN rating_h1 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN rating_h2 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN rating_h3 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN rating_h4 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN rating_h5 INTEGER NOT NULL DEFAULT 0;
    "#,
    // ephemeral event-log entries (typing), pruned within a minute or two
    r#"
    ALTER TABLE event_log ADD COLUMN ephemeral INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX event_log_ephemeral_by_time ON event_log(at) WHERE ephemeral = 1;
    "#,
    // query-cost budgets: each client's theoretical arrival time (GCRA), in microseconds
    r#"
    CREATE TABLE cost_budgets (
        key    TEXT PRIMARY KEY,
        tat_us INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX cost_budgets_by_tat ON cost_budgets(tat_us);
    "#,
    // verified-purchase ratings: each review's flag (its author has a DELIVERED order of the
    // listing), the listing's verified count and sum beside the overall ones, and the
    // verified average as the `RATING` order's key instead of the overall one. Existing
    // reviews and listings are backfilled from the orders here.
    r#"
    ALTER TABLE reviews ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
    UPDATE reviews SET verified = 1 WHERE EXISTS (
        SELECT 1 FROM order_items i JOIN orders o ON o.id = i.order_id AND o.status = 'DELIVERED'
        WHERE i.buyer_id = reviews.author_id AND i.post_id = reviews.post_id);

    DROP INDEX posts_by_rating;
    ALTER TABLE posts DROP COLUMN rating_avg;
    ALTER TABLE posts ADD COLUMN rating_verified_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN rating_verified_sum INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN rating_verified_avg INTEGER NOT NULL DEFAULT 0;
    UPDATE posts SET
        rating_verified_count = (SELECT COUNT(*) FROM reviews r
                                 WHERE r.post_id = posts.id AND r.verified = 1),
        rating_verified_sum = (SELECT COALESCE(SUM(r.rating), 0) FROM reviews r
                               WHERE r.post_id = posts.id AND r.verified = 1)
    WHERE id IN (SELECT post_id FROM reviews WHERE verified = 1);
    UPDATE posts SET rating_verified_avg = rating_verified_sum * 1000 / rating_verified_count
    WHERE rating_verified_count > 0;
    CREATE INDEX posts_by_verified_rating ON posts(rating_verified_avg, id) WHERE deleted_at IS NULL;
    "#,
    // usernames' confusable skeletons (Unicode TR39), unique so that two names that look
    // alike cannot both exist; `migrate` fills them in for the users stored before
    r#"
    ALTER TABLE users ADD COLUMN username_skeleton TEXT;
    CREATE UNIQUE INDEX users_username_skeleton ON users(username_skeleton);
    "#,
    // notification coalescing: one unread notification per recipient and coalescing key.
    // Rows stored before have no key and never coalesce (giving them one could break the new
    // UNIQUE index on the duplicates the flood left behind).
    r#"
    ALTER TABLE notifications ADD COLUMN coalesce_key TEXT;
    CREATE UNIQUE INDEX notifications_coalesce_unread
        ON notifications(recipient_id, coalesce_key)
        WHERE read_at IS NULL AND coalesce_key IS NOT NULL;
    CREATE INDEX notifications_by_coalesce_key
        ON notifications(recipient_id, coalesce_key, event_seq)
        WHERE coalesce_key IS NOT NULL;
    "#,
];

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

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let applied: usize = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database schema is version {applied}, newer than this build knows ({}); \
             refusing to run an older binary on it",
            MIGRATIONS.len()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Backend(format!("migration {} failed: {e}", index + 1)))?;
        tx.pragma_update(None, "user_version", index + 1)?;
    }
    // Values SQL cannot compute, for rows stored before their column existed. Each is one
    // index probe once done.
    backfill_username_skeletons(&tx)?;
    Ok(tx.commit()?)
}

/// Opens the database file and wires every store to it.
pub async fn open_file(path: &Path) -> StoreResult<Stores> {
    let db = SqliteDb::open(path).await?;
    Ok(Stores {
        accounts: Arc::new(SqliteAccountStore::new(db.clone())),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrading_a_version_1_database_starts_every_follower_count_at_zero() {
        let mut conn = Connection::open_in_memory().expect("an in-memory database opens");
        conn.execute_batch(MIGRATIONS[0])
            .expect("migration 1 applies");
        conn.pragma_update(None, "user_version", 1)
            .expect("the version is recorded");
        conn.execute(
            "INSERT INTO users (id, email, username, display_name, display_name_lc, roles, \
             password_hash, created_at, updated_at) \
             VALUES ('u1', 'ann@example.com', 'ann', 'Ann', 'ann', 'BUYER', 'hash', 1, 1)",
            [],
        )
        .expect("a version 1 user is stored");

        migrate(&mut conn).expect("the pending migrations apply");

        let counts: (i64, i64) = conn
            .query_row(
                "SELECT followers_count, following_count FROM users WHERE id = 'u1'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("the user is still there");
        assert_eq!(counts, (0, 0));
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("the version is readable");
        assert_eq!(version, MIGRATIONS.len());
    }

    #[test]
    fn upgrading_to_verified_ratings_backfills_flags_counters_and_the_sort_key() {
        let verified_ratings = MIGRATIONS
            .iter()
            .position(|sql| sql.contains("rating_verified_count"))
            .expect("the verified-ratings migration exists");
        let mut conn = Connection::open_in_memory().expect("an in-memory database opens");
        for sql in &MIGRATIONS[..verified_ratings] {
            conn.execute_batch(sql)
                .expect("an earlier migration applies");
        }
        conn.pragma_update(None, "user_version", verified_ratings)
            .expect("the version is recorded");
        // Sam sells p and q; Ann received p, Bob's order of p is unpaid, Carl never bought.
        // Reviews of p: Ann 5, Bob 1, Carl 2; of q: Carl 4.
        conn.execute_batch(
            "INSERT INTO users (id, email, username, display_name, display_name_lc, roles, \
             password_hash, created_at, updated_at) VALUES \
             ('sam', 's@example.com', 'sam', 'Sam', 'sam', 'SELLER', 'h', 1, 1), \
             ('ann', 'a@example.com', 'ann', 'Ann', 'ann', 'BUYER', 'h', 1, 1), \
             ('bob', 'b@example.com', 'bob', 'Bob', 'bob', 'BUYER', 'h', 1, 1), \
             ('carl', 'c@example.com', 'carl', 'Carl', 'carl', 'BUYER', 'h', 1, 1); \
             INSERT INTO posts (id, author_id, kind, body, media, tags, mentions, price, \
             currency, stock, status, created_at, rating_count, rating_sum, rating_avg) VALUES \
             ('p', 'sam', 'LISTING', 'p', '[]', '[]', '[]', 100, 'KZT', 5, 'ACTIVE', 1, 3, 8, 2666), \
             ('q', 'sam', 'LISTING', 'q', '[]', '[]', '[]', 100, 'KZT', 5, 'ACTIVE', 1, 1, 4, 4000); \
             INSERT INTO orders (id, buyer_id, seller_id, status, revision, currency, total, \
             created_at, record) VALUES \
             ('o1', 'ann', 'sam', 'DELIVERED', 5, 'KZT', 100, 1, '{}'), \
             ('o2', 'bob', 'sam', 'PENDING_PAYMENT', 0, 'KZT', 100, 1, '{}'); \
             INSERT INTO order_items (order_id, post_id, buyer_id) VALUES \
             ('o1', 'p', 'ann'), ('o2', 'p', 'bob'); \
             INSERT INTO reviews (id, post_id, author_id, seller_id, rating, media, created_at) \
             VALUES ('r1', 'p', 'ann', 'sam', 5, '[]', 1), ('r2', 'p', 'bob', 'sam', 1, '[]', 1), \
             ('r3', 'p', 'carl', 'sam', 2, '[]', 1), ('r4', 'q', 'carl', 'sam', 4, '[]', 1);",
        )
        .expect("data of the earlier schema is stored");

        migrate(&mut conn).expect("the pending migrations apply");

        let flags: Vec<(String, bool)> = conn
            .prepare("SELECT id, verified FROM reviews ORDER BY id")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<Result<_, _>>()
            })
            .expect("the flags are readable");
        assert_eq!(
            flags,
            [
                ("r1".to_owned(), true),
                ("r2".to_owned(), false),
                ("r3".to_owned(), false),
                ("r4".to_owned(), false)
            ]
        );
        let counters: Vec<(String, i64, i64, i64, i64)> = conn
            .prepare(
                "SELECT id, rating_count, rating_verified_count, rating_verified_sum, \
                 rating_verified_avg FROM posts ORDER BY rating_verified_avg DESC, id DESC",
            )
            .and_then(|mut stmt| {
                stmt.query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })?
                .collect::<Result<_, _>>()
            })
            .expect("the counters are readable");
        assert_eq!(
            counters,
            [
                ("p".to_owned(), 3, 1, 5, 5000),
                ("q".to_owned(), 1, 0, 0, 0)
            ]
        );
    }

    #[test]
    fn upgrading_gives_existing_users_unique_skeletons_and_keeps_look_alikes_apart() {
        let skeletons = MIGRATIONS
            .iter()
            .position(|sql| sql.contains("username_skeleton"))
            .expect("a migration adds the skeletons");
        let mut conn = Connection::open_in_memory().expect("an in-memory database opens");
        for sql in &MIGRATIONS[..skeletons] {
            conn.execute_batch(sql)
                .expect("an earlier migration applies");
        }
        conn.pragma_update(None, "user_version", skeletons)
            .expect("the version is recorded");
        // Three names allowed before skeletons existed; the first two look alike.
        for (id, username) in [("u1", "ann_l"), ("u2", "ann_1"), ("u3", "bob")] {
            conn.execute(
                "INSERT INTO users (id, email, username, display_name, display_name_lc, roles, \
                 password_hash, created_at, updated_at) \
                 VALUES (?1, ?1 || '@example.com', ?2, ?2, ?2, 'BUYER', 'hash', 1, 1)",
                [id, username],
            )
            .expect("an old user is stored");
        }

        migrate(&mut conn).expect("the pending migrations apply");

        let stored: Vec<(String, String)> = conn
            .prepare("SELECT id, username_skeleton FROM users ORDER BY id")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .expect("the skeletons are readable");
        assert_eq!(
            stored,
            [
                ("u1".to_owned(), "ann_l".to_owned()),
                ("u2".to_owned(), "ann_l#u2".to_owned()),
                ("u3".to_owned(), "bob".to_owned()),
            ]
        );
        // Migrating again (the next start) changes nothing.
        migrate(&mut conn).expect("an up-to-date database migrates");
        let again: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM users WHERE username_skeleton = 'ann_l#u2'",
                [],
                |row| row.get(0),
            )
            .expect("countable");
        assert_eq!(again, 1);
    }
}
