//! [`UserStore`] on SQLite: the `users` table.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, ToSql, Transaction, params};

use super::{UserSearch, UserStore};
use crate::clock::{from_millis, to_millis};
use crate::domain::{Email, ProfilePatch, Role, User, UserId, Username};
use crate::store::sqlite::{SqliteDb, StatementExt, from_count, ids_json, map_unique};
use crate::store::{Page, PageRequest, StoreResult};

pub struct SqliteUserStore {
    db: SqliteDb,
}

impl SqliteUserStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }

    /// The user whose `column` (a unique one) holds `value`.
    async fn find_one(&self, column: &'static str, value: &str) -> StoreResult<Option<User>> {
        self.db.read(|conn| find_user(conn, column, value)).await
    }

    /// The users whose `column` holds any of `values`, in one statement: `json_each` takes the
    /// whole list as one parameter, so the statement text (and its cache entry) does not
    /// depend on how many there are.
    async fn find_many(
        &self,
        column: &'static str,
        values: &[impl AsRef<str>],
    ) -> StoreResult<Vec<User>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let json = ids_json(values);
        self.db
            .read(|conn| {
                conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users \
                     WHERE {column} IN (SELECT value FROM json_each(?1))"
                ))?
                .query_vec([json], user_from_row)
            })
            .await
    }

    /// Sets one column of a user (and `updated_at`) and reads the user back.
    async fn set_column(
        &self,
        id: &UserId,
        column: &'static str,
        value: impl ToSql + Send + 'static,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    &format!("UPDATE users SET {column} = ?2, updated_at = ?3 WHERE id = ?1"),
                    params![id.as_str(), value, to_millis(now)],
                )?;
                find_user(tx, "id", id.as_str())
            })
            .await
    }
}

const USER_COLUMNS: &str = "id, email, username, display_name, bio, avatar_url, phone, roles, \
                            active, email_verified, created_at, updated_at, followers_count, \
                            following_count";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let roles: String = row.get(7)?;
    Ok(User {
        id: UserId::from_trusted(row.get(0)?),
        email: Email::from_trusted(row.get(1)?),
        username: Username::from_trusted(row.get(2)?),
        display_name: row.get(3)?,
        bio: row.get(4)?,
        avatar_url: row.get(5)?,
        phone: row.get(6)?,
        roles: roles.split(',').filter_map(Role::from_name).collect(),
        active: row.get(8)?,
        email_verified: row.get(9)?,
        created_at: from_millis(row.get(10)?),
        updated_at: from_millis(row.get(11)?),
        followers_count: from_count(row.get(12)?),
        following_count: from_count(row.get(13)?),
    })
}

fn roles_column(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `%text%` for LIKE, with the LIKE metacharacters escaped by `\`.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The WHERE clause shared by search and count. Parameters: ?1 pattern (or NULL), ?2 match
/// email, ?3 include inactive.
const SEARCH_WHERE: &str = "(?1 IS NULL OR username LIKE ?1 ESCAPE '\\' \
                              OR display_name_lc LIKE ?1 ESCAPE '\\' \
                              OR (?2 AND email LIKE ?1 ESCAPE '\\')) \
                             AND (?3 OR active = 1)";

/// The parameters of [`SEARCH_WHERE`].
fn search_params(search: &UserSearch) -> (Option<String>, bool, bool) {
    (
        search.text.as_deref().map(like_pattern),
        search.match_email,
        search.include_inactive,
    )
}

/// Gives the users stored before skeletons existed theirs ([`Username::skeleton`]), in id
/// (so creation) order. Two old names can share a skeleton: the first keeps it and the other
/// gets `skeleton#id`, so both accounts keep working while a new name that looks like either
/// still meets the bare skeleton. Runs in the migration transaction, as the only writer.
pub(crate) fn backfill_username_skeletons(tx: &Transaction<'_>) -> StoreResult<()> {
    let pending: Vec<(String, String)> = tx
        .prepare("SELECT id, username FROM users WHERE username_skeleton IS NULL ORDER BY id")?
        .query_vec([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    for (id, username) in pending {
        let skeleton = Username::from_trusted(username).skeleton();
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE username_skeleton = ?1)",
            [&skeleton],
            |row| row.get(0),
        )?;
        let stored = if taken {
            format!("{skeleton}#{id}")
        } else {
            skeleton
        };
        tx.execute(
            "UPDATE users SET username_skeleton = ?1 WHERE id = ?2",
            params![stored, id],
        )?;
    }
    Ok(())
}

fn find_user(conn: &Connection, column: &str, value: &str) -> StoreResult<Option<User>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"
        ))?
        .query_row([value], user_from_row)
        .optional()?)
}

#[async_trait::async_trait]
impl UserStore for SqliteUserStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        let user = user.clone();
        let hash = password_hash.to_owned();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO users (id, email, username, display_name, display_name_lc, bio, \
                     avatar_url, phone, roles, active, email_verified, password_hash, created_at, \
                     updated_at, username_skeleton) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    params![
                        user.id.as_str(),
                        user.email.as_str(),
                        user.username.as_str(),
                        user.display_name,
                        user.display_name.to_lowercase(),
                        user.bio,
                        user.avatar_url,
                        user.phone,
                        roles_column(&user.roles),
                        user.active,
                        user.email_verified,
                        hash,
                        to_millis(user.created_at),
                        to_millis(user.updated_at),
                        user.username.skeleton(),
                    ],
                )
                .map_err(|e| {
                    map_unique(
                        e,
                        &[
                            ("users.email", "email"),
                            ("users.username_skeleton", "username"),
                            ("users.username", "username"),
                        ],
                    )
                })?;
                Ok(())
            })
            .await
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        self.find_one("id", id.as_str()).await
    }

    async fn get_many_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        self.find_many("id", ids).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.find_one("email", email).await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.find_one("username", username).await
    }

    async fn find_users_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<User>> {
        self.find_many("username", usernames).await
    }

    async fn get_password_hash(&self, id: &UserId) -> StoreResult<Option<String>> {
        self.db
            .read(|conn| {
                Ok(conn
                    .prepare_cached("SELECT password_hash FROM users WHERE id = ?1")?
                    .query_row([id.as_str()], |row| row.get(0))
                    .optional()?)
            })
            .await
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.set_column(id, "password_hash", hash.to_owned(), now)
            .await
            .map(drop)
    }

    async fn search_users(
        &self,
        search: &UserSearch,
        page: &PageRequest,
    ) -> StoreResult<Page<User>> {
        let (pattern, match_email, include_inactive) = search_params(search);
        let (after, limit) = (page.after.clone(), page.limit);
        self.db
            .scan(move |conn| {
                let items = conn
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE {SEARCH_WHERE} \
                         AND (?4 IS NULL OR username > ?4) ORDER BY username LIMIT ?5 + 0"
                    ))?
                    .query_vec(
                        params![
                            pattern,
                            match_email,
                            include_inactive,
                            after,
                            limit as i64 + 1
                        ],
                        user_from_row,
                    )?;
                Ok(Page::from_overfetch(items, limit))
            })
            .await
    }

    async fn count_users(&self, search: &UserSearch) -> StoreResult<u64> {
        let (pattern, match_email, include_inactive) = search_params(search);
        self.db
            .scan(move |conn| {
                let count: i64 = conn
                    .prepare_cached(&format!("SELECT COUNT(*) FROM users WHERE {SEARCH_WHERE}"))?
                    .query_row(params![pattern, match_email, include_inactive], |row| {
                        row.get(0)
                    })?;
                Ok(from_count(count))
            })
            .await
    }

    async fn update_profile(
        &self,
        id: &UserId,
        patch: &ProfilePatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let (id, patch) = (id.clone(), patch.clone());
        self.db
            .write(move |tx| {
                // `?n IS NULL` cannot tell "leave alone" from "clear", so each optional field
                // carries a separate "touch" flag.
                tx.execute(
                    "UPDATE users SET \
                       display_name    = COALESCE(?2, display_name), \
                       display_name_lc = COALESCE(?3, display_name_lc), \
                       bio        = CASE WHEN ?4 THEN ?5 ELSE bio END, \
                       avatar_url = CASE WHEN ?6 THEN ?7 ELSE avatar_url END, \
                       phone      = CASE WHEN ?8 THEN ?9 ELSE phone END, \
                       updated_at = ?10 \
                     WHERE id = ?1",
                    params![
                        id.as_str(),
                        patch.display_name,
                        patch.display_name.as_ref().map(|n| n.to_lowercase()),
                        patch.bio.is_some(),
                        patch.bio.flatten(),
                        patch.avatar_url.is_some(),
                        patch.avatar_url.flatten(),
                        patch.phone.is_some(),
                        patch.phone.flatten(),
                        to_millis(now),
                    ],
                )?;
                find_user(tx, "id", id.as_str())
            })
            .await
    }

    async fn set_roles(
        &self,
        id: &UserId,
        roles: &[Role],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.set_column(id, "roles", roles_column(roles), now).await
    }

    async fn set_active(
        &self,
        id: &UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.set_column(id, "active", active, now).await
    }

    async fn set_email_verified(
        &self,
        id: &UserId,
        verified: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.set_column(id, "email_verified", verified, now).await
    }
}
