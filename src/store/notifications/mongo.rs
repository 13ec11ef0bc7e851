//! [`NotificationStore`] on MongoDB: `notifications`, and one counter document per recipient
//! in `notification_counters`. Taking the number and inserting the notification is one
//! multi-document transaction, so a notification refused as a duplicate of its event takes
//! no number and numbers stay gapless.
//!
//! Coalescing: an unread notification carries `unread: true` (unset when it is read) and, when
//! it has one, its `coalesce_key`; a unique index on `(recipient, coalesce_key)` filtered on
//! `{ unread: true, coalesce_key: { $type: "string" } }` allows one unread notification per
//! key. (A partial filter cannot say `read_at: null`, hence the `unread` flag.) A repeat is
//! folded into the unread one inside the add's transaction. Two adds racing to store the
//! first one collide on the recipient's counter (a write conflict, which the driver reruns)
//! and then on that index; the loser looks again and folds into the winner's.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::{FutureExt, TryStreamExt};
use mongodb::bson::{self, Document, doc};
use mongodb::error::Error as DriverError;
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection, Database};
use serde::{Deserialize, Serialize};

use super::NotificationStore;
use crate::domain::{
    CommentId, MessageId, Notification, NotificationId, NotificationKind, OrderId, PostId, UserId,
};
use crate::store::mongo::{
    NUMBERING_ATTEMPTS, collect_page, create_indexes, ensure_exist, fetch_limit, from_bson_time,
    id_in, index, is_duplicate_key_on, partial_index, partial_unique_index, retry_lost_race,
    to_bson_time, transaction,
};
use crate::store::{Page, PageRequest, StoreError, StoreResult, cursor};

const SEQ_UNIQUE: &str = "notifications_recipient_seq_unique";
const EVENT_UNIQUE: &str = "notifications_event_recipient_unique";
const COALESCE_UNIQUE: &str = "notifications_unread_coalesce_unique";

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
    /// `Some(true)` while unread, absent once read: the equality the partial unique index on
    /// coalescing keys filters on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unread: Option<bool>,
    /// [`Notification::coalescing_key`]; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    coalesce_key: Option<String>,
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
            unread: n.read_at.is_none().then_some(true),
            coalesce_key: n.coalescing_key(),
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

/// A notification [`MongoNotificationStore::not_yet_stored`] let through.
struct Fresh<'a> {
    notification: &'a Notification,
    /// Whether its recipient had an unread notification with its coalescing key.
    unread_repeat: bool,
}

pub struct MongoNotificationStore {
    client: Client,
    users: Collection<Document>,
    notifications: Collection<NotificationDoc>,
    counters: Collection<Document>,
}

impl MongoNotificationStore {
    pub fn new(client: Client, db: &Database) -> Self {
        Self {
            client,
            users: db.collection("users"),
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
                partial_unique_index(
                    doc! { "recipient": 1, "coalesce_key": 1 },
                    COALESCE_UNIQUE,
                    doc! { "unread": true, "coalesce_key": { "$type": "string" } },
                ),
                // Whether a stored notification with a key already tells of an event.
                partial_index(
                    doc! { "recipient": 1, "coalesce_key": 1, "event_seq": 1 },
                    "notifications_by_coalesce_key",
                    doc! { "coalesce_key": { "$type": "string" } },
                ),
            ],
        )
        .await
    }

    /// A page of up to `limit` notifications matching `filter`, in `sort` order.
    async fn find(
        &self,
        filter: Document,
        sort: Document,
        limit: usize,
    ) -> StoreResult<Page<Notification>> {
        let query = self.notifications.find(filter).sort(sort);
        let page = collect_page(query.limit(fetch_limit(limit)), limit).await?;
        let items = page.items.into_iter().map(NotificationDoc::into_domain);
        Ok(Page {
            items: items.collect::<StoreResult<_>>()?,
            has_next: page.has_next,
        })
    }

    /// One attempt at [`NotificationStore::add_all`], in one transaction: each notification
    /// is folded into its recipient's unread one with its coalescing key (an earlier one of
    /// the batch included), or takes its recipient's next number; then the new ones are
    /// inserted. Returns, in order, each one's number, `None` for those folded.
    ///
    /// Only those [`Fresh::unread_repeat`] look for an unread one to fold into: the others
    /// had none a moment ago, and if one raced in since, the unique index refuses the insert
    /// and the next attempt folds into it. That saves a round trip on every first one.
    async fn add_once(&self, batch: &[Fresh<'_>]) -> mongodb::error::Result<Vec<Option<i64>>> {
        transaction(&self.client, (self, batch), |session, context| {
            let (store, batch) = *context;
            async move {
                let mut seqs = Vec::with_capacity(batch.len());
                let mut docs: Vec<NotificationDoc> = Vec::with_capacity(batch.len());
                for Fresh {
                    notification: n,
                    unread_repeat,
                } in batch
                {
                    let new = NotificationDoc::new(n, 0);
                    // A repeat within the batch folds into the earlier one.
                    if let Some(key) = &new.coalesce_key
                        && let Some(earlier) = docs.iter_mut().find(|d| {
                            d.unread.is_some()
                                && d.recipient == new.recipient
                                && d.coalesce_key.as_ref() == Some(key)
                        })
                    {
                        earlier.event_seq = earlier.event_seq.max(new.event_seq);
                        earlier.created_at = earlier.created_at.max(new.created_at);
                        seqs.push(None);
                        continue;
                    }
                    if let Some(key) = new.coalesce_key.as_ref().filter(|_| *unread_repeat) {
                        let folded = store
                            .notifications
                            .update_one(
                                doc! {
                                    "recipient": &new.recipient,
                                    "coalesce_key": key,
                                    "unread": true,
                                },
                                doc! { "$max": {
                                    "event_seq": new.event_seq,
                                    "created_at": new.created_at,
                                } },
                            )
                            .session(&mut *session)
                            .await?;
                        if folded.matched_count > 0 {
                            seqs.push(None);
                            continue;
                        }
                    }
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
                    let seq = counter
                        .and_then(|c| c.get_i64("seq").ok())
                        .unwrap_or_default();
                    docs.push(NotificationDoc { seq, ..new });
                    seqs.push(Some(seq));
                }
                if !docs.is_empty() {
                    store
                        .notifications
                        .insert_many(docs)
                        .session(&mut *session)
                        .await?;
                }
                Ok(seqs)
            }
            .boxed()
        })
        .await
    }

    /// Stores `fresh` (see [`Self::add_once`]); returns those that took a number, with it.
    async fn store(&self, fresh: Vec<Fresh<'_>>) -> mongodb::error::Result<Vec<Notification>> {
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let seqs = self.add_once(&fresh).await?;
        Ok(fresh
            .into_iter()
            .zip(seqs)
            .filter_map(|(f, seq)| {
                Some(Notification {
                    seq: seq?,
                    ..f.notification.clone()
                })
            })
            .collect())
    }

    /// The part of `batch` not stored yet: without the notifications whose recipient already
    /// has one for their event, without repeats within the batch, and without those whose
    /// coalescing key is on a stored notification of the same or a later event (a late copy
    /// of an event whose news has been told).
    async fn not_yet_stored<'a>(
        &self,
        batch: &'a [Notification],
    ) -> mongodb::error::Result<Vec<Fresh<'a>>> {
        let keyed: Vec<(&Notification, Option<String>)> =
            batch.iter().map(|n| (n, n.coalescing_key())).collect();
        let mut terms = Vec::with_capacity(batch.len() * 2);
        for (n, key) in &keyed {
            terms.push(doc! { "event_seq": n.event_seq, "recipient": n.recipient.as_str() });
            if let Some(key) = key {
                terms.push(doc! {
                    "recipient": n.recipient.as_str(),
                    "coalesce_key": key,
                    "$or": [{ "event_seq": { "$gte": n.event_seq } }, { "unread": true }],
                });
            }
        }
        let stored: Vec<Document> = self
            .notifications
            .clone_with_type::<Document>()
            .find(doc! { "$or": terms })
            .projection(
                doc! { "_id": 0, "event_seq": 1, "recipient": 1, "coalesce_key": 1, "unread": 1 },
            )
            .await?
            .try_collect()
            .await?;
        let mut seen: HashSet<(i64, &str)> = HashSet::new();
        // The latest event told per (recipient, coalescing key), and the keys with an unread one.
        let mut told: HashMap<(&str, &str), i64> = HashMap::new();
        let mut unread: HashSet<(&str, &str)> = HashSet::new();
        for d in &stored {
            let (Ok(event_seq), Ok(recipient)) = (d.get_i64("event_seq"), d.get_str("recipient"))
            else {
                continue;
            };
            seen.insert((event_seq, recipient));
            if let Ok(key) = d.get_str("coalesce_key") {
                let latest = told.entry((recipient, key)).or_insert(event_seq);
                *latest = (*latest).max(event_seq);
                if d.get_bool("unread").unwrap_or(false) {
                    unread.insert((recipient, key));
                }
            }
        }
        Ok(keyed
            .iter()
            .filter(|(n, key)| {
                let late = key.as_deref().is_some_and(|key| {
                    told.get(&(n.recipient.as_str(), key))
                        .is_some_and(|latest| *latest >= n.event_seq)
                });
                !late && seen.insert((n.event_seq, n.recipient.as_str()))
            })
            .map(|(n, key)| Fresh {
                notification: n,
                unread_repeat: key
                    .as_deref()
                    .is_some_and(|key| unread.contains(&(n.recipient.as_str(), key))),
            })
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
        let fresh = self.not_yet_stored(notifications).await?;
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        // A later attempt stores a part of these, so checking them all once is enough.
        let recipients: Vec<&UserId> = fresh.iter().map(|f| &f.notification.recipient).collect();
        ensure_exist(&self.users, &recipients, None).await?;
        // Another instance may store some of these between the check and the insert (the
        // transaction rolls back, taking no number): the next attempt checks again without
        // them. A duplicate `seq` is a write conflict some servers report as E11000; a
        // duplicate unread coalescing key, another instance's first notification of the key,
        // which the next attempt folds this one into.
        let lost_race = |err: &DriverError| {
            [EVENT_UNIQUE, SEQ_UNIQUE, COALESCE_UNIQUE]
                .iter()
                .any(|index| is_duplicate_key_on(err, index))
        };
        let mut checked = Some(fresh);
        let added = retry_lost_race(NUMBERING_ATTEMPTS, lost_race, || {
            let checked = checked.take();
            async move {
                let fresh = match checked {
                    Some(fresh) => fresh,
                    None => self.not_yet_stored(notifications).await?,
                };
                self.store(fresh).await
            }
        })
        .await;
        match added {
            Ok(added) => Ok(added),
            // Some servers report a write conflict on the event key as a duplicate of another
            // index or a plain error; what is stored by now decides.
            Err(err) => match self.not_yet_stored(notifications).await?.is_empty() {
                true => Ok(Vec::new()),
                false => Err(err.into()),
            },
        }
    }

    async fn list(
        &self,
        recipient: &UserId,
        unread_only: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        let mut filter = doc! { "recipient": recipient.as_str() };
        if let Some((seq, _)) = cursor::split(page.after.as_deref()) {
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
            .await?;
        Ok(last.and_then(|n| n.get_i64("seq").ok()).unwrap_or(0))
    }

    async fn count_unread(&self, recipient: &UserId) -> StoreResult<u64> {
        Ok(self
            .notifications
            .count_documents(doc! { "recipient": recipient.as_str(), "read_at": bson::Bson::Null })
            .await?)
    }

    async fn mark_read(
        &self,
        recipient: &UserId,
        ids: Option<&[NotificationId]>,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut filter = ids.map(id_in).unwrap_or_default();
        filter.insert("recipient", recipient.as_str());
        filter.insert("read_at", bson::Bson::Null);
        Ok(self
            .notifications
            .update_many(
                filter,
                doc! {
                    "$set": { "read_at": to_bson_time(at) },
                    "$unset": { "unread": "" },
                },
            )
            .await
            .map(|result| result.modified_count)?)
    }
}
