//! [`AccountStore`] on SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use super::{AccountStore, NewSession, RETIRED_TOKENS_KEPT, Session, SessionRotation, UserSearch};
use crate::clock::{from_millis, to_millis};
use crate::domain::{
    Address, AddressId, CardBrand, CardId, CountryCode, Email, PaymentCard, ProfilePatch, Role,
    SessionId, User, UserId, Username,
};
use crate::store::sqlite::{SqliteDb, StatementExt, from_count, ids_json, map_unique};
use crate::store::{Page, PageRequest, StoreResult};

pub struct SqliteAccountStore {
    db: SqliteDb,
}

impl SqliteAccountStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
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

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        created_at: from_millis(row.get(2)?),
        expires_at: from_millis(row.get(3)?),
        revoked_at: row.get::<_, Option<i64>>(4)?.map(from_millis),
    })
}

fn address_from_row(row: &Row<'_>) -> rusqlite::Result<Address> {
    Ok(Address {
        id: AddressId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        recipient: row.get(2)?,
        phone: row.get(3)?,
        line1: row.get(4)?,
        line2: row.get(5)?,
        city: row.get(6)?,
        region: row.get(7)?,
        postal_code: row.get(8)?,
        country: CountryCode::from_trusted(row.get(9)?),
        created_at: from_millis(row.get(10)?),
    })
}

fn card_from_row(row: &Row<'_>) -> rusqlite::Result<PaymentCard> {
    let brand: String = row.get(2)?;
    Ok(PaymentCard {
        id: CardId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        brand: CardBrand::from_name(&brand),
        last4: row.get(3)?,
        exp_month: row.get(4)?,
        exp_year: row.get(5)?,
        holder: row.get(6)?,
        created_at: from_millis(row.get(7)?),
    })
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

/// Gives the users stored before skeletons existed theirs ([`Username::skeleton`]), in id
/// (so creation) order. Two old names can share a skeleton: the first keeps it and the other
/// gets `skeleton#id`, so both accounts keep working while a new name that looks like either
/// still meets the bare skeleton. Runs in the migration transaction, as the only writer.
pub(crate) fn backfill_username_skeletons(tx: &Transaction<'_>) -> StoreResult<()> {
    let pending: Vec<(String, String)> = tx
        .prepare("SELECT id, username FROM users WHERE username_skeleton IS NULL ORDER BY id")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })?;
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

fn get_user_sync(conn: &rusqlite::Connection, id: &str) -> StoreResult<Option<User>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], user_from_row).optional())?)
}

#[async_trait::async_trait]
impl AccountStore for SqliteAccountStore {
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
        let id = id.clone();
        self.db
            .read(move |conn| get_user_sync(conn, id.as_str()))
            .await
    }

    async fn get_many_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        self.db
            .read(move |conn| {
                // One statement per batch: `json_each` takes the whole id list as one
                // parameter, so the statement text (and its cache entry) does not depend on
                // the batch size.
                let json = serde_json::to_string(&ids)?;
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT value FROM json_each(?1))"
                ))?;
                let rows = stmt.query_vec([json], user_from_row)?;
                Ok(rows)
            })
            .await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_owned();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE email = ?1"
                    ))
                    .and_then(|mut stmt| stmt.query_row([email], user_from_row).optional())?)
            })
            .await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let username = username.to_owned();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!(
                        "SELECT {USER_COLUMNS} FROM users WHERE username = ?1"
                    ))
                    .and_then(|mut stmt| stmt.query_row([username], user_from_row).optional())?)
            })
            .await
    }

    async fn find_users_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<User>> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let json = ids_json(usernames);
        self.db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users \
                         WHERE username IN (SELECT value FROM json_each(?1))"
                ))?;
                stmt.query_vec([json], user_from_row)
            })
            .await
    }

    async fn get_password_hash(&self, id: &UserId) -> StoreResult<Option<String>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT password_hash FROM users WHERE id = ?1")
                    .and_then(|mut stmt| {
                        stmt.query_row([id.as_str()], |row| row.get(0)).optional()
                    })?)
            })
            .await
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, hash) = (id.clone(), hash.to_owned());
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id.as_str(), hash, to_millis(now)],
                )?;
                Ok(())
            })
            .await
    }

    async fn search_users(
        &self,
        search: &UserSearch,
        page: &PageRequest,
    ) -> StoreResult<Page<User>> {
        let pattern = search.text.as_deref().map(like_pattern);
        let (match_email, include_inactive) = (search.match_email, search.include_inactive);
        let (after, limit) = (page.after.clone(), page.limit);
        self.db
            .scan(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE {SEARCH_WHERE} \
                         AND (?4 IS NULL OR username > ?4) ORDER BY username LIMIT ?5 + 0"
                ))?;
                let items = stmt.query_vec(
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
        let pattern = search.text.as_deref().map(like_pattern);
        let (match_email, include_inactive) = (search.match_email, search.include_inactive);
        self.db
            .scan(move |conn| {
                Ok(conn
                    .prepare_cached(&format!("SELECT COUNT(*) FROM users WHERE {SEARCH_WHERE}"))
                    .and_then(|mut stmt| {
                        stmt.query_row(params![pattern, match_email, include_inactive], |row| {
                            row.get::<_, i64>(0)
                        })
                    })
                    .map(|n| n as u64)?)
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
                get_user_sync(tx, id.as_str())
            })
            .await
    }

    async fn set_roles(
        &self,
        id: &UserId,
        roles: &[Role],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let (id, roles) = (id.clone(), roles_column(roles));
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE users SET roles = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id.as_str(), roles, to_millis(now)],
                )?;
                get_user_sync(tx, id.as_str())
            })
            .await
    }

    async fn set_active(
        &self,
        id: &UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE users SET active = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id.as_str(), active, to_millis(now)],
                )?;
                get_user_sync(tx, id.as_str())
            })
            .await
    }

    async fn set_email_verified(
        &self,
        id: &UserId,
        verified: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "UPDATE users SET email_verified = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id.as_str(), verified, to_millis(now)],
                )?;
                get_user_sync(tx, id.as_str())
            })
            .await
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        let s = session.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO sessions (id, user_id, current_hash, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        s.id.as_str(),
                        s.user_id.as_str(),
                        s.token_hash,
                        to_millis(s.created_at),
                        to_millis(s.expires_at)
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                Ok(conn.prepare_cached(
                    "SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.query_row([id.as_str()], session_from_row).optional())?)
            })
            .await
    }

    async fn rotate_session(
        &self,
        token_hash: &str,
        replacement_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<SessionRotation> {
        let (presented, replacement) = (token_hash.to_owned(), replacement_hash.to_owned());
        self.db
            .write(move |tx| {
                let rotated = tx
                    .query_row(
                        "UPDATE sessions SET current_hash = ?2, expires_at = ?4 \
                         WHERE current_hash = ?1 AND revoked_at IS NULL AND expires_at > ?3 \
                         RETURNING id, user_id, created_at, expires_at, revoked_at",
                        params![presented, replacement, to_millis(now), to_millis(expires_at)],
                        session_from_row,
                    )
                    .optional()?;
                if let Some(session) = rotated {
                    tx.execute(
                        "INSERT INTO retired_refresh_tokens (hash, session_id, retired_at) VALUES (?1, ?2, ?3)",
                        params![presented, session.id.as_str(), to_millis(now)],
                    )?;
                    tx.execute(
                        "DELETE FROM retired_refresh_tokens WHERE session_id = ?1 AND hash NOT IN \
                         (SELECT hash FROM retired_refresh_tokens WHERE session_id = ?1 \
                          ORDER BY retired_at DESC, rowid DESC LIMIT ?2 + 0)",
                        params![session.id.as_str(), RETIRED_TOKENS_KEPT as i64],
                    )?;
                    return Ok(SessionRotation::Rotated(session));
                }
                let reused = tx
                    .query_row(
                        "SELECT s.id, s.user_id FROM retired_refresh_tokens r \
                         JOIN sessions s ON s.id = r.session_id WHERE r.hash = ?1",
                        [&presented],
                        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                    )
                    .optional()?;
                match reused {
                    Some((session_id, user_id)) => {
                        tx.execute(
                            "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                            params![session_id, to_millis(now)],
                        )?;
                        Ok(SessionRotation::ReuseDetected {
                            session_id: SessionId::from_trusted(session_id),
                            user_id: UserId::from_trusted(user_id),
                        })
                    }
                    None => Ok(SessionRotation::Rejected),
                }
            })
            .await
    }

    async fn revoke_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let hash = token_hash.to_owned();
        self.db
            .write(move |tx| {
                Ok(tx.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE current_hash = ?1 AND revoked_at IS NULL",
                    params![hash, to_millis(now)],
                )
                .map(|n| n > 0)?)
            })
            .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &UserId,
        keep: Option<&SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let (user_id, keep) = (user_id.clone(), keep.cloned());
        self.db
            .write(move |tx| {
                Ok(tx
                    .execute(
                        "UPDATE sessions SET revoked_at = ?3 \
                     WHERE user_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR id <> ?2)",
                        params![
                            user_id.as_str(),
                            keep.as_ref().map(SessionId::as_str),
                            to_millis(now)
                        ],
                    )
                    .map(|n| n as u64)?)
            })
            .await
    }

    async fn add_address(&self, address: &Address) -> StoreResult<()> {
        let a = address.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO addresses (id, user_id, recipient, phone, line1, line2, city, region, \
                     postal_code, country, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        a.id.as_str(),
                        a.user_id.as_str(),
                        a.recipient,
                        a.phone,
                        a.line1,
                        a.line2,
                        a.city,
                        a.region,
                        a.postal_code,
                        a.country.as_str(),
                        to_millis(a.created_at)
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn list_addresses(&self, user_id: &UserId) -> StoreResult<Vec<Address>> {
        let user_id = user_id.clone();
        self.db
            .read(move |conn| {
                Ok(conn.prepare_cached(
                    "SELECT id, user_id, recipient, phone, line1, line2, city, region, postal_code, \
                     country, created_at FROM addresses WHERE user_id = ?1 ORDER BY created_at, id",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([user_id.as_str()], address_from_row)?
                        .collect::<Result<Vec<_>, _>>()
                })?)
            })
            .await
    }

    async fn remove_address(&self, user_id: &UserId, id: &AddressId) -> StoreResult<bool> {
        let (user_id, id) = (user_id.clone(), id.clone());
        self.db
            .write(move |tx| {
                Ok(tx
                    .execute(
                        "DELETE FROM addresses WHERE id = ?1 AND user_id = ?2",
                        params![id.as_str(), user_id.as_str()],
                    )
                    .map(|n| n > 0)?)
            })
            .await
    }

    async fn add_card(&self, card: &PaymentCard) -> StoreResult<()> {
        let c = card.clone();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO payment_cards (id, user_id, brand, last4, exp_month, exp_year, holder, \
                     created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        c.id.as_str(),
                        c.user_id.as_str(),
                        c.brand.as_str(),
                        c.last4,
                        c.exp_month,
                        c.exp_year,
                        c.holder,
                        to_millis(c.created_at)
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn list_cards(&self, user_id: &UserId) -> StoreResult<Vec<PaymentCard>> {
        let user_id = user_id.clone();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT id, user_id, brand, last4, exp_month, exp_year, holder, created_at \
                     FROM payment_cards WHERE user_id = ?1 ORDER BY created_at, id",
                    )
                    .and_then(|mut stmt| {
                        stmt.query_map([user_id.as_str()], card_from_row)?
                            .collect::<Result<Vec<_>, _>>()
                    })?)
            })
            .await
    }

    async fn remove_card(&self, user_id: &UserId, id: &CardId) -> StoreResult<bool> {
        let (user_id, id) = (user_id.clone(), id.clone());
        self.db
            .write(move |tx| {
                Ok(tx
                    .execute(
                        "DELETE FROM payment_cards WHERE id = ?1 AND user_id = ?2",
                        params![id.as_str(), user_id.as_str()],
                    )
                    .map(|n| n > 0)?)
            })
            .await
    }
}
