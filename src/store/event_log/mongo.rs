//! [`EventLogStore`] on MongoDB: the `event_log` collection, numbered by a counter document
//! (`event_log_counter`), with a TTL index that drops entries after an hour.
//!
//! Wake-ups come from a change stream on the log (inserts only), resumed from its last token
//! after an error; readers always read the log itself by number, so the stream only says
//! "look now" and an event it missed is found by the next poll (every [`STREAM_POLL`] while
//! the stream works, every `poll` while it cannot be opened).

use std::future::IntoFuture;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use mongodb::bson::{Document, doc};
use mongodb::change_stream::event::ResumeToken;
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{EventLogStore, LogEntry, Retention};
use crate::store::mongo::{
    collect, create_indexes, from_bson_time, index, to_bson_time, ttl_index, upsert,
};
use crate::store::{StoreError, StoreResult};

/// How long entries stay: far longer than any tail falls behind, short enough that the log
/// stays small.
const RETENTION: Duration = Duration::from_secs(60 * 60);
/// How long a tail polls before trying again to open a change stream that failed to open.
const REOPEN_AFTER: Duration = Duration::from_secs(30);
/// How often a tail with a working change stream still reads the log, in case the stream
/// missed an insert: rarely, since the stream is the wake-up and each read is a round trip.
const STREAM_POLL: Duration = Duration::from_secs(5);
const COUNTER_ID: &str = "event_log";

#[derive(Debug, Serialize, Deserialize)]
struct EntryDoc {
    #[serde(rename = "_id")]
    seq: i64,
    at: mongodb::bson::DateTime,
    body: String,
    /// Set on ephemeral entries only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    ephemeral: bool,
}

impl From<EntryDoc> for LogEntry {
    fn from(entry: EntryDoc) -> Self {
        LogEntry {
            seq: entry.seq,
            at: from_bson_time(entry.at),
            body: entry.body,
        }
    }
}

pub struct MongoEventLogStore {
    log: Collection<EntryDoc>,
    counter: Collection<Document>,
}

impl MongoEventLogStore {
    pub fn new(db: &Database) -> Self {
        Self {
            log: db.collection("event_log"),
            counter: db.collection("event_log_counter"),
        }
    }

    pub async fn create_indexes(&self) -> StoreResult<()> {
        create_indexes(
            &self.log,
            vec![
                ttl_index("at", "event_log_ttl", RETENTION),
                index(
                    doc! { "ephemeral": 1, "at": 1 },
                    "event_log_ephemeral_by_time",
                    false,
                ),
            ],
        )
        .await
    }

    /// Takes the next `count` numbers; returns the last. The upsert that creates the counter
    /// can race another one on the first append ever (see [`upsert`]).
    async fn take_seqs(&self, count: i64) -> StoreResult<i64> {
        let counter = upsert(|| {
            self.counter
                .find_one_and_update(
                    doc! { "_id": COUNTER_ID },
                    doc! { "$inc": { "seq": count } },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .into_future()
        })
        .await?
        .ok_or_else(|| StoreError::Backend("the counter upsert returned nothing".into()))?;
        Ok(counter.get_i64("seq")?)
    }
}

#[async_trait::async_trait]
impl EventLogStore for MongoEventLogStore {
    async fn append_entries(
        &self,
        bodies: &[String],
        at: DateTime<Utc>,
        retention: Retention,
    ) -> StoreResult<Vec<i64>> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let count = i64::try_from(bodies.len())?;
        let last = self.take_seqs(count).await?;
        let seqs: Vec<i64> = (last - count + 1..=last).collect();
        // Ordered: entries become visible in number order, so a tail never sees a later
        // number of the batch before an earlier one.
        self.log
            .insert_many(seqs.iter().zip(bodies).map(|(seq, body)| EntryDoc {
                seq: *seq,
                at: to_bson_time(at),
                body: body.clone(),
                ephemeral: retention == Retention::Ephemeral,
            }))
            .ordered(true)
            .await?;
        Ok(seqs)
    }

    async fn read_after(&self, after: i64, limit: usize) -> StoreResult<Vec<LogEntry>> {
        let after = self.log.find(doc! { "_id": { "$gt": after } });
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        collect(after.sort(doc! { "_id": 1 }).limit(limit)).await
    }

    async fn last_seq(&self) -> StoreResult<i64> {
        // The last stored entry, not the counter: a number taken whose entry is not inserted
        // yet must still be read by the new tail. The counter only serves an empty log (all
        // pruned), where it is the right starting point.
        let last = self.log.find_one(doc! {}).sort(doc! { "_id": -1 }).await?;
        if let Some(entry) = last {
            return Ok(entry.seq);
        }
        let counter = self.counter.find_one(doc! { "_id": COUNTER_ID }).await?;
        Ok(counter.and_then(|c| c.get_i64("seq").ok()).unwrap_or(0))
    }

    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(self
            .log
            .delete_many(doc! { "at": { "$lt": to_bson_time(before) } })
            .await
            .map(|result| result.deleted_count)?)
    }

    async fn prune_ephemeral(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(self
            .log
            .delete_many(doc! { "ephemeral": true, "at": { "$lt": to_bson_time(before) } })
            .await
            .map(|result| result.deleted_count)?)
    }

    fn wake_ups(&self, poll: Duration) -> mpsc::Receiver<()> {
        let (sender, receiver) = mpsc::channel(1);
        let log = self.log.clone();
        tokio::spawn(async move {
            let mut resume: Option<ResumeToken> = None;
            loop {
                let mut watch = log
                    .watch()
                    .pipeline([doc! { "$match": { "operationType": "insert" } }]);
                if let Some(token) = resume.clone() {
                    watch = watch.resume_after(token);
                }
                let mut stream = match watch.await {
                    Ok(stream) => Some(stream),
                    Err(err) => {
                        tracing::warn!(%err, "cannot open the event log change stream; polling");
                        // A stale resume token must not keep failing every reopen.
                        resume = None;
                        None
                    }
                };
                if stream.is_some() {
                    // Entries appended before the stream was watching raise no change event:
                    // one wake-up now has the reader look for them at once instead of at the
                    // next poll.
                    let _ = sender.try_send(());
                }
                // Without a stream, reopening is retried after a while, polling meanwhile.
                let mut polls_until_reopen =
                    (REOPEN_AFTER.as_millis() / poll.as_millis().max(1)).max(1);
                let tick = if stream.is_some() {
                    poll.max(STREAM_POLL)
                } else {
                    poll
                };
                loop {
                    let next = async {
                        match stream.as_mut() {
                            Some(stream) => stream.next().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = sender.closed() => return,
                        () = tokio::time::sleep(tick) => {
                            if stream.is_none() {
                                polls_until_reopen -= 1;
                                if polls_until_reopen == 0 {
                                    let _ = sender.try_send(());
                                    break;
                                }
                            }
                        }
                        change = next => match change {
                            Some(Ok(_)) => {
                                if let Some(s) = stream.as_ref() {
                                    resume = s.resume_token();
                                }
                            }
                            Some(Err(err)) => {
                                tracing::warn!(%err, "the event log change stream failed; reopening");
                                let _ = sender.try_send(());
                                tokio::time::sleep(poll).await;
                                break;
                            }
                            None => break,
                        }
                    }
                    // Full means a wake-up is already pending: nothing is lost by dropping it.
                    let _ = sender.try_send(());
                }
            }
        });
        receiver
    }
}
