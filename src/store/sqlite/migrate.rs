//! Schema migrations: the numbered SQL files in `migrations/sqlite/` at the repository root,
//! compiled in and applied in order at start-up. `PRAGMA user_version` records how many have
//! run, so a migration's number is its place in [`MIGRATIONS`].
//!
//! Append only: never edit or renumber a migration that has shipped. To change the schema,
//! add `migrations/sqlite/NNNN_<what>.sql` with the next number and its line at the end of
//! [`MIGRATIONS`] (a test fails when a file is missing from the list or the numbers have a
//! gap).

use rusqlite::{Connection, TransactionBehavior};

use crate::store::users::backfill_username_skeletons;
use crate::store::{StoreError, StoreResult};

/// One migration: its file name without `.sql`, and its SQL.
pub(super) struct Migration {
    pub(super) name: &'static str,
    pub(super) sql: &'static str,
}

/// Every migration, in order, each compiled in from `migrations/sqlite/<name>.sql`.
macro_rules! migrations {
    ($($name:literal),* $(,)?) => {
        &[$(Migration {
            name: $name,
            sql: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/sqlite/",
                $name,
                ".sql"
            )),
        }),*]
    };
}

pub(super) const MIGRATIONS: &[Migration] = migrations![
    "0001_accounts",
    "0002_social_graph",
    "0003_posts_and_engagement",
    "0004_one_time_tokens_outbox_rate_limits",
    "0005_chat",
    "0006_event_log",
    "0007_notifications",
    "0008_marketplace",
    "0009_reviews",
    "0010_ephemeral_events",
    "0011_cost_budgets",
    "0012_verified_ratings",
    "0013_username_skeletons",
    "0014_notification_coalescing",
];

/// Applies the pending migrations and the backfills in one exclusive transaction.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let applied: usize = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database schema is version {applied}, newer than this build knows ({}); \
             refusing to run an older binary on it",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(migration.sql).map_err(|e| {
            StoreError::Backend(format!(
                "migration {} ({}) failed: {e}",
                index + 1,
                migration.name
            ))
        })?;
        tx.pragma_update(None, "user_version", index + 1)?;
    }
    // Values SQL cannot compute, for rows stored before their column existed. Each is one
    // index probe once done.
    backfill_username_skeletons(&tx)?;
    Ok(tx.commit()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies the first `count` migrations to a new in-memory database, the way a build that
    /// knew only those left it.
    fn database_at_version(count: usize) -> Connection {
        let conn = Connection::open_in_memory().expect("an in-memory database opens");
        for migration in &MIGRATIONS[..count] {
            conn.execute_batch(migration.sql)
                .expect("an earlier migration applies");
        }
        conn.pragma_update(None, "user_version", count)
            .expect("the version is recorded");
        conn
    }

    /// The number of the migration whose SQL contains `text`.
    fn version_adding(text: &str) -> usize {
        MIGRATIONS
            .iter()
            .position(|migration| migration.sql.contains(text))
            .unwrap_or_else(|| panic!("a migration contains {text:?}"))
    }

    #[test]
    fn the_list_names_every_migration_file_numbered_from_one_without_gaps() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("the migrations folder is readable")
            .map(|entry| {
                entry
                    .expect("a folder entry")
                    .file_name()
                    .into_string()
                    .expect("a UTF-8 file name")
            })
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.name))
            .collect();
        assert_eq!(
            files, listed,
            "every file in migrations/sqlite is a migration, listed in MIGRATIONS in order"
        );
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            let number = format!("{:04}_", index + 1);
            assert!(
                migration.name.starts_with(&number),
                "migration {} is named {:?}: its file name must start with {number} (the \
                 version it brings the database to), then a name",
                index + 1,
                migration.name
            );
            assert!(
                migration.name.len() > number.len(),
                "{} has no name",
                migration.name
            );
        }
    }

    #[test]
    fn a_new_database_migrates_to_the_latest_version_and_then_stays() {
        let mut conn = Connection::open_in_memory().expect("an in-memory database opens");
        migrate(&mut conn).expect("every migration applies to a new database");
        migrate(&mut conn).expect("an up-to-date database migrates");
        let version: usize = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("the version is readable");
        assert_eq!(version, MIGRATIONS.len());
    }

    #[test]
    fn upgrading_a_version_1_database_starts_every_follower_count_at_zero() {
        let mut conn = database_at_version(1);
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
        let mut conn = database_at_version(version_adding("rating_verified_count"));
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
        let mut conn = database_at_version(version_adding("username_skeleton"));
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
