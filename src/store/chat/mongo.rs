//! [`ChatStore`] on MongoDB: the `chat_rooms` and `chat_messages` collections.
//!
//! A room document embeds its members (a multikey index serves "rooms of a user by last
//! activity") and its members' read positions (`read.<user id>`: the `seq` read up to), so a
//! page of rooms with their unread counts is one query. User ids are alphanumeric with `-`
//! and `_`, so they are safe as field names.
//!
//! Why a transaction for sending: the message insert and the room update (`last_seq`,
//! `last_message_id`, `last_activity_at`, the author's read position) must commit together,
//! or a crash between them would leave a numbered gap or a room pointing at no message.
//! Concurrent senders in one room write the same room document, so MongoDB lets one commit
//! and the driver reruns the other on a fresh snapshot: sequence numbers follow commit order
//! without gaps.
//!
//! Direct rooms are unique by a partial unique index on `direct_key` (present on direct rooms
//! only): two concurrent `openChat` calls both insert, one gets a duplicate key and reads the
//! winner's room.

use futures_util::FutureExt;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::error::Error as DriverError;
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection, Database};
use serde::{Deserialize, Serialize};

use super::ChatStore;
use crate::domain::{ChatRoom, ChatRoomId, ChatRoomKind, Message, MessageId, PostId, UserId};
use crate::store::mongo::{
    IndexSet, NUMBERING_ATTEMPTS, after_cursor, collect, collect_page, create_indexes,
    ensure_exist, fetch_limit, from_bson_time, id_in, index, is_duplicate_key_on,
    partial_unique_index, retry_lost_race, to_bson_time, transaction,
};
use crate::store::{Page, PageRequest, StoreError, StoreResult, cursor};

const DIRECT_KEY_UNIQUE: &str = "chat_rooms_direct_key_unique";
const MESSAGE_SEQ_UNIQUE: &str = "chat_messages_room_seq_unique";

#[derive(Serialize, Deserialize)]
struct RoomDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: String,
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direct_key: Option<String>,
    listing_id: Option<String>,
    members: Vec<String>,
    created_by: String,
    created_at: bson::DateTime,
    last_activity_at: bson::DateTime,
    last_seq: i64,
    last_message_id: Option<String>,
}

impl RoomDoc {
    fn new(room: &ChatRoom) -> Self {
        RoomDoc {
            id: room.id.as_str().to_owned(),
            kind: room.kind.as_str().to_owned(),
            title: room.title.clone(),
            direct_key: room.direct_key(),
            listing_id: room.listing_id.as_ref().map(|l| l.as_str().to_owned()),
            members: room.members.iter().map(|m| m.as_str().to_owned()).collect(),
            created_by: room.created_by.as_str().to_owned(),
            created_at: to_bson_time(room.created_at),
            last_activity_at: to_bson_time(room.created_at),
            last_seq: 0,
            last_message_id: None,
        }
    }
}

impl From<RoomDoc> for ChatRoom {
    fn from(d: RoomDoc) -> Self {
        ChatRoom {
            id: ChatRoomId::from_trusted(d.id),
            kind: ChatRoomKind::from_name(&d.kind).unwrap_or(ChatRoomKind::Group),
            title: d.title,
            members: d.members.into_iter().map(UserId::from_trusted).collect(),
            listing_id: d.listing_id.map(PostId::from_trusted),
            created_by: UserId::from_trusted(d.created_by),
            created_at: from_bson_time(d.created_at),
            last_activity_at: from_bson_time(d.last_activity_at),
            last_seq: d.last_seq,
            last_message_id: d.last_message_id.map(MessageId::from_trusted),
        }
    }
}

/// The room fields the domain reads (the read positions stay in the database).
fn room_projection() -> Document {
    doc! { "read": 0 }
}

#[derive(Serialize, Deserialize)]
struct MessageDoc {
    #[serde(rename = "_id")]
    id: String,
    room_id: String,
    seq: i64,
    author_id: String,
    body: String,
    created_at: bson::DateTime,
}

impl MessageDoc {
    fn new(message: &Message) -> Self {
        MessageDoc {
            id: message.id.as_str().to_owned(),
            room_id: message.room_id.as_str().to_owned(),
            seq: message.seq,
            author_id: message.author_id.as_str().to_owned(),
            body: message.body.clone(),
            created_at: to_bson_time(message.created_at),
        }
    }
}

impl From<MessageDoc> for Message {
    fn from(d: MessageDoc) -> Self {
        Message {
            id: MessageId::from_trusted(d.id),
            room_id: ChatRoomId::from_trusted(d.room_id),
            seq: d.seq,
            author_id: UserId::from_trusted(d.author_id),
            body: d.body,
            created_at: from_bson_time(d.created_at),
        }
    }
}

fn read_field(user: &UserId) -> String {
    format!("read.{user}")
}

pub struct MongoChatStore {
    /// Transactions need a session, which only the client can start.
    client: Client,
    rooms: Collection<RoomDoc>,
    /// The same collection, for reads and writes of counters and read positions only.
    room_counters: Collection<Document>,
    messages: Collection<MessageDoc>,
    users: Collection<Document>,
    posts: Collection<Document>,
}

impl MongoChatStore {
    pub fn new(client: Client, db: &Database) -> Self {
        Self {
            client,
            rooms: db.collection("chat_rooms"),
            room_counters: db.collection("chat_rooms"),
            messages: db.collection("chat_messages"),
            users: db.collection("users"),
            posts: db.collection("posts"),
        }
    }

    /// The partial unique index on direct keys and the unique `(room_id, seq)` carry the
    /// contract; a member's rooms by activity and the room lookups by id need no more.
    pub async fn create_indexes(&self, which: IndexSet) -> StoreResult<()> {
        let direct = partial_unique_index(
            doc! { "direct_key": 1 },
            DIRECT_KEY_UNIQUE,
            doc! { "direct_key": { "$type": "string" } },
        );
        let mut rooms = vec![direct];
        if which == IndexSet::All {
            rooms.push(index(
                doc! { "members": 1, "last_activity_at": -1, "_id": -1 },
                "chat_rooms_by_member_activity",
                false,
            ));
        }
        create_indexes(&self.rooms, rooms).await?;
        create_indexes(
            &self.messages,
            vec![index(
                doc! { "room_id": 1, "seq": 1 },
                MESSAGE_SEQ_UNIQUE,
                true,
            )],
        )
        .await
    }

    /// Refuses members that do not exist, as the SQLite adapter's foreign keys do.
    async fn ensure_members(&self, room: &ChatRoom) -> StoreResult<()> {
        let members: Vec<&UserId> = room.members.iter().collect();
        Ok(ensure_exist(&self.users, &members, None).await?)
    }

    /// Refuses a listing that does not exist, like the SQLite adapter's foreign key (posts
    /// are only ever soft-deleted, so checking before the insert cannot race).
    async fn ensure_post(&self, id: &PostId) -> StoreResult<()> {
        let found = self
            .posts
            .find_one(doc! { "_id": id.as_str() })
            .projection(doc! { "_id": 1 })
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(StoreError::Backend(format!("post {id} does not exist"))),
        }
    }

    async fn find_rooms(&self, filter: Document) -> StoreResult<Vec<ChatRoom>> {
        collect(self.rooms.find(filter).projection(room_projection())).await
    }

    /// One attempt at [`ChatStore::add_message`], in one transaction.
    async fn add_message_once(&self, message: &Message) -> mongodb::error::Result<Option<Message>> {
        transaction(&self.client, (self, message), |session, context| {
            let (store, message) = *context;
            async move {
                let room = doc! {
                    "_id": message.room_id.as_str(),
                    "members": message.author_id.as_str(),
                };
                let next = doc! {
                    "$inc": { "last_seq": 1_i64 },
                    "$set": { "last_message_id": message.id.as_str() },
                    "$max": { "last_activity_at": to_bson_time(message.created_at) },
                };
                let room = store
                    .room_counters
                    .find_one_and_update(room, next)
                    .projection(doc! { "last_seq": 1 })
                    .return_document(ReturnDocument::After)
                    .session(&mut *session)
                    .await?;
                let Some(room) = room else {
                    return Ok(None);
                };
                let seq = room.get_i64("last_seq").unwrap_or_default();
                let stored = Message {
                    seq,
                    ..message.clone()
                };
                store
                    .messages
                    .insert_one(MessageDoc::new(&stored))
                    .session(&mut *session)
                    .await?;
                store
                    .rooms
                    .update_one(
                        doc! { "_id": stored.room_id.as_str() },
                        doc! { "$max": { read_field(&stored.author_id): seq } },
                    )
                    .session(&mut *session)
                    .await?;
                Ok(Some(stored))
            }
            .boxed()
        })
        .await
    }
}

#[async_trait::async_trait]
impl ChatStore for MongoChatStore {
    async fn open_direct_room(&self, room: &ChatRoom) -> StoreResult<(ChatRoom, bool)> {
        let document = RoomDoc::new(room);
        let Some(key) = document.direct_key.clone() else {
            return Err(StoreError::Backend(
                "a direct room has exactly two members".into(),
            ));
        };
        if let Some(existing) = self.find_rooms(doc! { "direct_key": &key }).await?.pop() {
            return Ok((existing, false));
        }
        self.ensure_members(room).await?;
        if let Some(listing) = &room.listing_id {
            self.ensure_post(listing).await?;
        }
        match self.rooms.insert_one(&document).await {
            Ok(_) => Ok((ChatRoom::from(document), true)),
            Err(err) if is_duplicate_key_on(&err, DIRECT_KEY_UNIQUE) => {
                let existing = self.find_rooms(doc! { "direct_key": &key }).await?.pop();
                existing
                    .map(|room| (room, false))
                    .ok_or_else(|| StoreError::Backend("a duplicate direct room vanished".into()))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn create_group_room(&self, room: &ChatRoom) -> StoreResult<()> {
        self.ensure_members(room).await?;
        self.rooms.insert_one(RoomDoc::new(room)).await?;
        Ok(())
    }

    async fn get_many_rooms(&self, ids: &[ChatRoomId]) -> StoreResult<Vec<ChatRoom>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.find_rooms(id_in(ids)).await
    }

    async fn rooms_of(&self, user: &UserId, page: &PageRequest) -> StoreResult<Page<ChatRoom>> {
        let mut filter = doc! { "members": user.as_str() };
        // Most recent first: past the cursor is older, or as old with a smaller id.
        if let Some((millis, id)) = cursor::split(page.after.as_deref()) {
            let at = Bson::DateTime(bson::DateTime::from_millis(millis));
            after_cursor(&mut filter, ("last_activity_at", at), ("_id", &id), true);
        }
        let rooms = self
            .rooms
            .find(filter)
            .projection(room_projection())
            .sort(doc! { "last_activity_at": -1, "_id": -1 })
            .limit(fetch_limit(page.limit));
        collect_page(rooms, page.limit).await
    }

    async fn count_rooms_of(&self, user: &UserId) -> StoreResult<u64> {
        Ok(self
            .rooms
            .count_documents(doc! { "members": user.as_str() })
            .await?)
    }

    async fn add_message(&self, message: &Message) -> StoreResult<Option<Message>> {
        let lost_race = |err: &DriverError| is_duplicate_key_on(err, MESSAGE_SEQ_UNIQUE);
        Ok(retry_lost_race(NUMBERING_ATTEMPTS, lost_race, || {
            self.add_message_once(message)
        })
        .await?)
    }

    async fn get_many_messages(&self, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        collect(self.messages.find(id_in(ids))).await
    }

    async fn messages(&self, room: &ChatRoomId, page: &PageRequest) -> StoreResult<Page<Message>> {
        let mut filter = doc! { "room_id": room.as_str() };
        if let Some((seq, _)) = cursor::split(page.after.as_deref()) {
            filter.insert("seq", doc! { "$lt": seq });
        }
        let newest_first = self.messages.find(filter).sort(doc! { "seq": -1 });
        collect_page(newest_first.limit(fetch_limit(page.limit)), page.limit).await
    }

    async fn messages_after(
        &self,
        room: &ChatRoomId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Page<Message>> {
        let after = doc! { "room_id": room.as_str(), "seq": { "$gt": after_seq } };
        let oldest_first = self.messages.find(after).sort(doc! { "seq": 1 });
        collect_page(oldest_first.limit(fetch_limit(limit)), limit).await
    }

    async fn unread_counts(
        &self,
        user: &UserId,
        rooms: &[ChatRoomId],
    ) -> StoreResult<Vec<(ChatRoomId, u64)>> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let mut mine = id_in(rooms);
        mine.insert("members", user.as_str());
        let counters = self.room_counters.find(mine);
        let found: Vec<Document> =
            collect(counters.projection(doc! { "last_seq": 1, read_field(user): 1 })).await?;
        Ok(found
            .into_iter()
            .filter_map(|room| {
                let id = room.get_str("_id").ok()?.to_owned();
                let last = room.get_i64("last_seq").unwrap_or(0);
                let read = room
                    .get_document("read")
                    .ok()
                    .and_then(|read| read.get_i64(user.as_str()).ok())
                    .unwrap_or(0);
                Some((
                    ChatRoomId::from_trusted(id),
                    u64::try_from(last - read).unwrap_or(0),
                ))
            })
            .collect())
    }

    async fn mark_room_read(&self, room: &ChatRoomId, user: &UserId) -> StoreResult<bool> {
        let filter = doc! { "_id": room.as_str(), "members": user.as_str() };
        let Some(current) = self
            .room_counters
            .find_one(filter.clone())
            .projection(doc! { "last_seq": 1 })
            .await?
        else {
            return Ok(false);
        };
        // `$max`: a concurrent mark that read a later `last_seq` is never undone.
        let seq = current.get_i64("last_seq").unwrap_or(0);
        Ok(self
            .rooms
            .update_one(filter, doc! { "$max": { read_field(user): seq } })
            .await
            .map(|result| result.matched_count == 1)?)
    }
}
