//! [`NotificationStore`] on MongoDB: `notifications`, and one counter document per recipient
//! in `notification_counters`. Taking the number and inserting the notification is one
//! multi-document transaction, so a notification refused as a duplicate of its event takes
//! no number and numbers stay gapless.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{self, Document, doc};
use mongodb::options::{ReadConcern, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection, Database};
use serde::{Deserialize, Serialize};

use super::NotificationStore;
use crate::domain::{
    CommentId, MessageId, Notification, NotificationId, NotificationKind, OrderId, PostId, UserId,
};
use crate::store::mongo::{
    create_indexes, ensure_users_exist, fetch_limit, from_bson_time, index, is_duplicate_key_on,
    to_bson_time,
};
use crate::store::{Page, PageRequest, StoreError, StoreResult, split_cursor};

const SEQ_UNIQUE: &str = "notifications_recipient_seq_unique";
const EVENT_UNIQUE: &str = "notifications_event_recipient_unique";

/// How often an add is rerun when the server reports a write conflict on the recipient's
/// number as a duplicate `seq` (as in the chat adapter: MongoDB labels such conflicts
/// transient and the driver reruns them; this covers servers that report E11000).
const ADD_ATTEMPTS: usize = 5;

#[derive(Serialize, Deserialize)]
struct NotificationDoc {
    #[serde(rename = "_id")]
    id: String,
    recipient: String,
    seq: i64,
    event_seq: i64,
    kind: String,
    actor_id: Option<String>,
    post_id: Option<String>,
    comment_id: Option<String>,
    message_id: Option<String>,
    #[serde(default)]
    order_id: Option<String>,
    created_at: bson::DateTime,
    read_at: Option<bson::DateTime>,
}

impl NotificationDoc {
    fn new(n: &Notification, seq: i64) -> Self {
        Self {
            id: n.id.as_str().to_owned(),
            recipient: n.recipient.as_str().to_owned(),
            seq,
            event_seq: n.event_seq,
            kind: n.kind.as_str().to_owned(),
            actor_id: n.actor_id.as_ref().map(|id| id.as_str().to_owned()),
            post_id: n.post_id.as_ref().map(|id| id.as_str().to_owned()),
            comment_id: n.comment_id.as_ref().map(|id| id.as_str().to_owned()),
            message_id: n.message_id.as_ref().map(|id| id.as_str().to_owned()),
            order_id: n.order_id.as_ref().map(|id| id.as_str().to_owned()),
            created_at: to_bson_time(n.created_at),
            read_at: n.read_at.map(to_bson_time),
        }
    }

    fn into_domain(self) -> StoreResult<Notification> {
        Ok(Notification {
            kind: NotificationKind::from_name(&self.kind).ok_or_else(|| {
                StoreError::Backend(format!("unknown notification kind {:?}", self.kind))
            })?,
            id: NotificationId::from_trusted(self.id),
            recipient: UserId::from_trusted(self.recipient),
            seq: self.seq,
            event_seq: self.event_seq,
            actor_id: self.actor_id.map(UserId::from_trusted),
            post_id: self.post_id.map(PostId::from_trusted),
            comment_id: self.comment_id.map(CommentId::from_trusted),
            message_id: self.message_id.map(MessageId::from_trusted),
            order_id: self.order_id.map(OrderId::from_trusted),
            created_at: from_bson_time(self.created_at),
            read_at: self.read_at.map(from_bson_time),
        })
    }
}

pub struct MongoNotificationStore {
    client: Client,
    db: Database,
    notifications: Collection<NotificationDoc>,
    counters: Collection<Document>,
}

impl MongoNotificationStore {
    pub fn new(client: Client, db: &Database) -> Self {
        Self {
            client,
            db: db.clone(),
            notifications: db.collection("notifications"),
            counters: db.collection("notification_counters"),
        }
    }

    pub async fn create_indexes(&self) -> StoreResult<()> {
        create_indexes(
            &self.notifications,
            vec![
                index(doc! { "recipient": 1, "seq": 1 }, SEQ_UNIQUE, true),
                index(doc! { "event_seq": 1, "recipient": 1 }, EVENT_UNIQUE, true),
            ],
        )
        .await
    }

    async fn find(
        &self,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> StoreResult<Page<Notification>> {
        let docs: Vec<NotificationDoc> = self
            .notifications
            .find(filter)
            .sort(sort)
            .limit(fetch_limit(limit))
            .await
            .map_err(StoreError::backend)?
            .try_collect()
            .await
            .map_err(StoreError::backend)?;
        let items = docs
            .into_iter()
            .map(NotificationDoc::into_domain)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, limit))
    }

    /// One attempt at [`NotificationStore::add_all`], in one transaction: each recipient's
    /// counter is incremented, then the batch is inserted. Returns the numbers, in order.
    async fn add_once(&self, batch: &[&Notification]) -> mongodb::error::Result<Vec<i64>> {
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .and_run((self, batch), |session, context| {
                let (store, batch) = *context;
                async move {
                    let mut seqs = Vec::with_capacity(batch.len());
                    for n in batch {
                        let counter = store
                            .counters
                            .find_one_and_update(
                                doc! { "_id": n.recipient.as_str() },
                                doc! { "$inc": { "seq": 1_i64 } },
                            )
                            .upsert(true)
                            .return_document(ReturnDocument::After)
                            .session(&mut *session)
                            .await?;
                        seqs.push(
                            counter
                                .and_then(|c| c.get_i64("seq").ok())
                                .unwrap_or_default(),
                        );
                    }
                    let docs = batch
                        .iter()
                        .zip(&seqs)
                        .map(|(n, seq)| NotificationDoc::new(n, *seq));
                    store
                        .notifications
                        .insert_many(docs)
                        .session(&mut *session)
                        .await?;
                    Ok(seqs)
                }
                .boxed()
            })
            .await
    }

    /// The part of `batch` not stored yet: without the notifications whose recipient already
    /// has one for their event, and without repeats within the batch.
    async fn not_yet_stored<'a>(
        &self,
        batch: &'a [Notification],
    ) -> StoreResult<Vec<&'a Notification>> {
        let keys: Vec<Document> = batch
            .iter()
            .map(|n| doc! { "event_seq": n.event_seq, "recipient": n.recipient.as_str() })
            .collect();
        let stored: Vec<Document> = self
            .notifications
            .clone_with_type::<Document>()
            .find(doc! { "$or": keys })
            .projection(doc! { "_id": 0, "event_seq": 1, "recipient": 1 })
            .await
            .map_err(StoreError::backend)?
            .try_collect()
            .await
            .map_err(StoreError::backend)?;
        let mut seen: HashSet<(i64, &str)> = stored
            .iter()
            .filter_map(|d| Some((d.get_i64("event_seq").ok()?, d.get_str("recipient").ok()?)))
            .collect();
        Ok(batch
            .iter()
            .filter(|n| seen.insert((n.event_seq, n.recipient.as_str())))
            .collect())
    }
}

#[async_trait::async_trait]
impl NotificationStore for MongoNotificationStore {
    async fn add_all(&self, notifications: &[Notification]) -> StoreResult<Vec<Notification>> {
        if notifications.is_empty() {
            // (`$or` needs at least one term.)
            return Ok(Vec::new());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let fresh = self.not_yet_stored(notifications).await?;
            if fresh.is_empty() {
                return Ok(Vec::new());
            }
            let recipients: Vec<&UserId> = fresh.iter().map(|n| &n.recipient).collect();
            ensure_users_exist(&self.db.collection::<Document>("users"), &recipients).await?;
            match self.add_once(&fresh).await {
                Ok(seqs) => {
                    return Ok(fresh
                        .into_iter()
                        .zip(seqs)
                        .map(|(n, seq)| Notification { seq, ..n.clone() })
                        .collect());
                }
                // Another instance stored some of these between the check and the insert
                // (the transaction rolled back, taking no number): check again without them.
                // A duplicate `seq` is a write conflict some servers report as E11000.
                Err(err)
                    if attempt < ADD_ATTEMPTS
                        && (is_duplicate_key_on(&err, EVENT_UNIQUE)
                            || is_duplicate_key_on(&err, SEQ_UNIQUE)) =>
                {
                    continue;
                }
                // Some servers report a write conflict on the event key as a duplicate of
                // another index or a plain error; what is stored by now decides.
                Err(err) => {
                    if self.not_yet_stored(notifications).await?.is_empty() {
                        return Ok(Vec::new());
                    }
                    return Err(StoreError::backend(err));
                }
            }
        }
    }

    async fn list(
        &self,
        recipient: &UserId,
        unread_only: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        let mut filter = doc! { "recipient": recipient.as_str() };
        if let Some((seq, _)) = split_cursor(page.after.as_deref()) {
            filter.insert("seq", doc! { "$lt": seq });
        }
        if unread_only {
            filter.insert("read_at", bson::Bson::Null);
        }
        self.find(filter, doc! { "seq": -1 }, page.limit).await
    }

    async fn after(
        &self,
        recipient: &UserId,
        after_seq: i64,
        limit: usize,
    ) -> StoreResult<Page<Notification>> {
        self.find(
            doc! { "recipient": recipient.as_str(), "seq": { "$gt": after_seq } },
            doc! { "seq": 1 },
            limit,
        )
        .await
    }

    async fn last_seq(&self, recipient: &UserId) -> StoreResult<i64> {
        let last = self
            .notifications
            .clone_with_type::<Document>()
            .find_one(doc! { "recipient": recipient.as_str() })
            .sort(doc! { "seq": -1 })
            .projection(doc! { "seq": 1 })
            .await
            .map_err(StoreError::backend)?;
        Ok(last.and_then(|n| n.get_i64("seq").ok()).unwrap_or(0))
    }

    async fn count_unread(&self, recipient: &UserId) -> StoreResult<u64> {
        self.notifications
            .count_documents(doc! { "recipient": recipient.as_str(), "read_at": bson::Bson::Null })
            .await
            .map_err(StoreError::backend)
    }

    async fn mark_read(
        &self,
        recipient: &UserId,
        ids: Option<&[NotificationId]>,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut filter = doc! { "recipient": recipient.as_str(), "read_at": bson::Bson::Null };
        if let Some(ids) = ids {
            let ids: Vec<&str> = ids.iter().map(NotificationId::as_str).collect();
            filter.insert("_id", doc! { "$in": ids });
        }
        self.notifications
            .update_many(filter, doc! { "$set": { "read_at": to_bson_time(at) } })
            .await
            .map(|result| result.modified_count)
            .map_err(StoreError::backend)
    }
}
