//! [`ChatStore`] on SQLite: `chat_rooms`, `chat_members` (with read positions) and
//! `chat_messages`. A message, its room's counters and the author's read position change in
//! one transaction.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::ChatStore;
use crate::clock::{from_millis, to_millis};
use crate::domain::{ChatRoom, ChatRoomId, ChatRoomKind, Message, MessageId, PostId, UserId};
use crate::store::sqlite::{SqliteDb, StatementExt, from_count, ids_json};
use crate::store::{Page, PageRequest, StoreError, StoreResult, cursor, fetch_limit};

pub struct SqliteChatStore {
    db: SqliteDb,
}

impl SqliteChatStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }
}

const ROOM_COLUMNS: &str = "r.id, r.kind, r.title, r.listing_id, r.created_by, r.created_at, \
                            r.last_activity_at, r.last_seq, r.last_message_id";
const MESSAGE_COLUMNS: &str = "m.id, m.room_id, m.seq, m.author_id, m.body, m.created_at";

/// A room row without its members, which [`with_members`] fills in.
fn room_from_row(row: &Row<'_>) -> rusqlite::Result<ChatRoom> {
    let kind: String = row.get(1)?;
    Ok(ChatRoom {
        id: ChatRoomId::from_trusted(row.get(0)?),
        // Only this module writes `kind`; an unknown name cannot occur.
        kind: ChatRoomKind::from_name(&kind).unwrap_or(ChatRoomKind::Group),
        title: row.get(2)?,
        members: Vec::new(),
        listing_id: row.get::<_, Option<String>>(3)?.map(PostId::from_trusted),
        created_by: UserId::from_trusted(row.get(4)?),
        created_at: from_millis(row.get(5)?),
        last_activity_at: from_millis(row.get(6)?),
        last_seq: row.get(7)?,
        last_message_id: row
            .get::<_, Option<String>>(8)?
            .map(MessageId::from_trusted),
    })
}

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: MessageId::from_trusted(row.get(0)?),
        room_id: ChatRoomId::from_trusted(row.get(1)?),
        seq: row.get(2)?,
        author_id: UserId::from_trusted(row.get(3)?),
        body: row.get(4)?,
        created_at: from_millis(row.get(5)?),
    })
}

/// Fills in the members of `rooms` with one query, in each room's member order.
fn with_members(conn: &Connection, mut rooms: Vec<ChatRoom>) -> StoreResult<Vec<ChatRoom>> {
    if rooms.is_empty() {
        return Ok(rooms);
    }
    let ids: Vec<&str> = rooms.iter().map(|r| r.id.as_str()).collect();
    let mut stmt = conn.prepare_cached(
        "SELECT room_id, user_id FROM chat_members \
             WHERE room_id IN (SELECT value FROM json_each(?1)) ORDER BY room_id, position",
    )?;
    let members = stmt.query_vec([ids_json(&ids)], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    for room in &mut rooms {
        room.members = members
            .iter()
            .filter(|(r, _)| r == room.id.as_str())
            .map(|(_, u)| UserId::from_trusted(u.clone()))
            .collect();
    }
    Ok(rooms)
}

fn rooms_by_ids(conn: &Connection, ids_json: &str) -> StoreResult<Vec<ChatRoom>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROOM_COLUMNS} FROM chat_rooms r WHERE r.id IN (SELECT value FROM json_each(?1))"
    ))?;
    let rooms = stmt.query_vec([ids_json], room_from_row)?;
    with_members(conn, rooms)
}

fn insert_room(tx: &rusqlite::Transaction<'_>, room: &ChatRoom) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO chat_rooms (id, kind, title, direct_key, listing_id, created_by, created_at, \
         last_activity_at, last_seq, last_message_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, NULL)",
        params![
            room.id.as_str(),
            room.kind.as_str(),
            room.title,
            room.direct_key(),
            room.listing_id.as_ref().map(PostId::as_str),
            room.created_by.as_str(),
            to_millis(room.created_at),
            to_millis(room.created_at),
        ],
    )?;
    for (position, member) in room.members.iter().enumerate() {
        tx.execute(
            "INSERT INTO chat_members (room_id, user_id, position) VALUES (?1, ?2, ?3)",
            params![room.id.as_str(), member.as_str(), position as i64],
        )?;
    }
    Ok(())
}

/// A new room as stored: no messages yet, active since its creation.
fn fresh(room: &ChatRoom) -> ChatRoom {
    ChatRoom {
        last_activity_at: room.created_at,
        last_seq: 0,
        last_message_id: None,
        ..room.clone()
    }
}

#[async_trait::async_trait]
impl ChatStore for SqliteChatStore {
    async fn open_direct_room(&self, room: &ChatRoom) -> StoreResult<(ChatRoom, bool)> {
        let key = room
            .direct_key()
            .ok_or_else(|| StoreError::Backend("a direct room has exactly two members".into()))?;
        let room = room.clone();
        self.db
            .write(move |tx| {
                // The write connection is the only writer, so the lookup and the insert
                // cannot interleave with another opener; the UNIQUE index backs that up
                // against a second process on the same file.
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT id FROM chat_rooms WHERE direct_key = ?1",
                        [&key],
                        |row| row.get(0),
                    )
                    .optional()?;
                match existing {
                    Some(id) => {
                        let found = rooms_by_ids(tx, &ids_json(&[id]))?;
                        let room = found.into_iter().next().ok_or_else(|| {
                            StoreError::Backend("a room vanished inside a transaction".into())
                        })?;
                        Ok((room, false))
                    }
                    None => {
                        insert_room(tx, &room)?;
                        Ok((fresh(&room), true))
                    }
                }
            })
            .await
    }

    async fn create_group_room(&self, room: &ChatRoom) -> StoreResult<()> {
        let room = room.clone();
        self.db.write(move |tx| insert_room(tx, &room)).await
    }

    async fn get_many_rooms(&self, ids: &[ChatRoomId]) -> StoreResult<Vec<ChatRoom>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let json = ids_json(ids);
        self.db.read(move |conn| rooms_by_ids(conn, &json)).await
    }

    async fn rooms_of(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<ChatRoom>> {
        let user = user.clone();
        let (after_ms, after_id) = cursor::split(page.after.as_deref())
            .map_or((None, None), |(ms, id)| (Some(ms), Some(id)));
        let limit = page.limit;
        // A scan: the sort covers every room the user is in, not just the page.
        self.db
            .scan(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {ROOM_COLUMNS} FROM chat_members cm JOIN chat_rooms r ON r.id = cm.room_id \
                         WHERE cm.user_id = ?1 \
                           AND (?2 IS NULL OR (r.last_activity_at, r.id) < (?2, ?3)) \
                         ORDER BY r.last_activity_at DESC, r.id DESC LIMIT ?4 + 0"
                    ))?;
                let rooms = stmt
                    .query_vec(
                        params![user.as_str(), after_ms, after_id, limit as i64 + 1],
                        room_from_row,
                    )?;
                let page = Page::from_overfetch(rooms, limit);
                Ok(Page {
                    items: with_members(conn, page.items)?,
                    has_next: page.has_next,
                })
            })
            .await
    }

    async fn count_rooms_of(&self, user: &UserId) -> StoreResult<u64> {
        let sql = "SELECT COUNT(*) FROM chat_members WHERE user_id = ?1";
        self.db.count(sql, [user.as_str().to_owned()]).await
    }

    async fn add_message(&self, message: &Message) -> StoreResult<Option<Message>> {
        let message = message.clone();
        self.db
            .write(move |tx| {
                let member: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM chat_members WHERE room_id = ?1 AND user_id = ?2)",
                        params![message.room_id.as_str(), message.author_id.as_str()],
                        |row| row.get(0),
                    )?;
                if !member {
                    return Ok(None);
                }
                let seq: i64 = tx
                    .query_row(
                        "UPDATE chat_rooms SET last_seq = last_seq + 1, last_message_id = ?2, \
                         last_activity_at = MAX(last_activity_at, ?3) WHERE id = ?1 RETURNING last_seq",
                        params![
                            message.room_id.as_str(),
                            message.id.as_str(),
                            to_millis(message.created_at)
                        ],
                        |row| row.get(0),
                    )?;
                tx.execute(
                    "INSERT INTO chat_messages (id, room_id, seq, author_id, body, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        message.id.as_str(),
                        message.room_id.as_str(),
                        seq,
                        message.author_id.as_str(),
                        message.body,
                        to_millis(message.created_at)
                    ],
                )?;
                tx.execute(
                    "UPDATE chat_members SET last_read_seq = MAX(last_read_seq, ?3) \
                     WHERE room_id = ?1 AND user_id = ?2",
                    params![message.room_id.as_str(), message.author_id.as_str(), seq],
                )?;
                Ok(Some(Message { seq, ..message }))
            })
            .await
    }

    async fn get_many_messages(&self, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages m \
             WHERE m.id IN (SELECT value FROM json_each(?1))"
        );
        let ids = ids_json(ids);
        self.db.select(&sql, [ids], message_from_row).await
    }

    async fn messages(&self, room: &ChatRoomId, page: &PageRequest) -> StoreResult<Page<Message>> {
        let before = cursor::split(page.after.as_deref()).map(|(seq, _)| seq);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages m \
             WHERE m.room_id = ?1 AND (?2 IS NULL OR m.seq < ?2) \
             ORDER BY m.seq DESC LIMIT ?3 + 0"
        );
        let params = (room.as_str(), before, fetch_limit(page.limit));
        self.db
            .select_page(&sql, params, page.limit, message_from_row)
            .await
    }

    async fn messages_after(
        &self,
        room: &ChatRoomId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Page<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages m \
             WHERE m.room_id = ?1 AND m.seq > ?2 ORDER BY m.seq LIMIT ?3 + 0"
        );
        let params = (room.as_str(), after_seq, fetch_limit(limit));
        self.db
            .select_page(&sql, params, limit, message_from_row)
            .await
    }

    async fn unread_counts(
        &self,
        user: &UserId,
        rooms: &[ChatRoomId],
    ) -> StoreResult<Vec<(ChatRoomId, u64)>> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let sql = "SELECT r.id, r.last_seq - cm.last_read_seq FROM chat_members cm \
                   JOIN chat_rooms r ON r.id = cm.room_id \
                   WHERE cm.user_id = ?1 AND cm.room_id IN (SELECT value FROM json_each(?2))";
        let params = (user.as_str(), ids_json(rooms));
        self.db
            .select(sql, params, |row| {
                Ok((
                    ChatRoomId::from_trusted(row.get(0)?),
                    from_count(row.get(1)?),
                ))
            })
            .await
    }

    async fn mark_room_read(&self, room: &ChatRoomId, user: &UserId) -> StoreResult<bool> {
        let sql = "UPDATE chat_members SET last_read_seq = \
                     MAX(last_read_seq, (SELECT last_seq FROM chat_rooms WHERE id = ?1)) \
                   WHERE room_id = ?1 AND user_id = ?2";
        let params = (room.to_string(), user.to_string());
        Ok(self.db.execute(sql, params).await? == 1)
    }
}
