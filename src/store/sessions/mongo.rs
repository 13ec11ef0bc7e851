//! [`SessionStore`] on MongoDB: the `sessions` collection and its indexes.
//!
//! A session document carries its current refresh-token hash (unique index, so a hash is
//! current in at most one family) and its recently retired ones (`retired_hashes`). Token
//! rotation is a single conditional `findAndModify`, so it needs no transaction.

use chrono::{DateTime, Utc};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::Deserialize;

use super::{NewSession, RETIRED_TOKENS_KEPT, Session, SessionRotation, SessionStore};
use crate::domain::{SessionId, UserId};
use crate::store::StoreResult;
use crate::store::mongo::{create_indexes, ensure_exist, from_bson_time, index, to_bson_time};

/// `$slice` for `retired_hashes`: keep the most recent [`RETIRED_TOKENS_KEPT`] hashes.
const RETIRED_SLICE: i64 = -(RETIRED_TOKENS_KEPT as i64);

pub struct MongoSessionStore {
    sessions: Collection<SessionDoc>,
    /// Only to check that a new session's user exists.
    users: Collection<Document>,
}

/// A session as read back; `current_hash` and `retired_hashes` stay in the database.
#[derive(Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    created_at: bson::DateTime,
    expires_at: bson::DateTime,
    revoked_at: Option<bson::DateTime>,
}

impl From<SessionDoc> for Session {
    fn from(d: SessionDoc) -> Self {
        Session {
            id: SessionId::from_trusted(d.id),
            user_id: UserId::from_trusted(d.user_id),
            created_at: from_bson_time(d.created_at),
            expires_at: from_bson_time(d.expires_at),
            revoked_at: d.revoked_at.map(from_bson_time),
        }
    }
}

fn session_projection() -> Document {
    doc! { "current_hash": 0, "retired_hashes": 0 }
}

/// The update that revokes a session.
fn revoke_at(now: DateTime<Utc>) -> Document {
    doc! { "$set": { "revoked_at": to_bson_time(now) } }
}

impl MongoSessionStore {
    pub fn new(db: &Database) -> Self {
        Self {
            sessions: db.collection("sessions"),
            users: db.collection("users"),
        }
    }

    /// Creates the indexes this store relies on.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        let models = vec![
            index(
                doc! { "current_hash": 1 },
                "sessions_current_hash_unique",
                true,
            ),
            // Multikey: finds the family a replayed (retired) token belongs to.
            index(
                doc! { "retired_hashes": 1 },
                "sessions_retired_hashes",
                false,
            ),
            index(doc! { "user_id": 1 }, "sessions_by_user", false),
        ];
        create_indexes(&self.sessions, models).await
    }
}

#[async_trait::async_trait]
impl SessionStore for MongoSessionStore {
    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        ensure_exist(&self.users, &[&session.user_id], None).await?;
        let document = doc! {
            "_id": session.id.as_str(),
            "user_id": session.user_id.as_str(),
            "current_hash": &session.token_hash,
            "retired_hashes": [],
            "created_at": to_bson_time(session.created_at),
            "expires_at": to_bson_time(session.expires_at),
            "revoked_at": Bson::Null,
        };
        self.sessions
            .clone_with_type::<Document>()
            .insert_one(document)
            .await?;
        Ok(())
    }

    async fn get_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        let found = self
            .sessions
            .find_one(doc! { "_id": id.as_str() })
            .projection(session_projection())
            .await?;
        Ok(found.map(Session::from))
    }

    async fn rotate_session(
        &self,
        token_hash: &str,
        replacement_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<SessionRotation> {
        // One atomic findAndModify: of concurrent presentations of the same token, exactly
        // one still matches `current_hash` when the server applies it.
        let rotated = self
            .sessions
            .find_one_and_update(
                doc! {
                    "current_hash": token_hash,
                    "revoked_at": null,
                    "expires_at": { "$gt": to_bson_time(now) },
                },
                doc! {
                    "$set": {
                        "current_hash": replacement_hash,
                        "expires_at": to_bson_time(expires_at),
                    },
                    "$push": {
                        "retired_hashes": { "$each": [token_hash], "$slice": RETIRED_SLICE },
                    },
                },
            )
            .return_document(ReturnDocument::After)
            .projection(session_projection())
            .await?;
        if let Some(session) = rotated {
            return Ok(SessionRotation::Rotated(session.into()));
        }
        // Not current anywhere live. A retired token means a replay: revoke its family. The
        // rotation that retired it has already committed (it is why ours did not match), so
        // this read sees it.
        let reused = self
            .sessions
            .find_one(doc! { "retired_hashes": token_hash })
            .projection(session_projection())
            .await?;
        let Some(session) = reused else {
            return Ok(SessionRotation::Rejected);
        };
        self.sessions
            .update_one(
                doc! { "_id": &session.id, "revoked_at": null },
                revoke_at(now),
            )
            .await?;
        Ok(SessionRotation::ReuseDetected {
            session_id: SessionId::from_trusted(session.id),
            user_id: UserId::from_trusted(session.user_id),
        })
    }

    async fn revoke_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let filter = doc! { "current_hash": token_hash, "revoked_at": null };
        let result = self.sessions.update_one(filter, revoke_at(now)).await?;
        Ok(result.matched_count > 0)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &UserId,
        keep: Option<&SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut filter = doc! { "user_id": user_id.as_str(), "revoked_at": null };
        if let Some(keep) = keep {
            filter.insert("_id", doc! { "$ne": keep.as_str() });
        }
        let result = self.sessions.update_many(filter, revoke_at(now)).await?;
        Ok(result.matched_count)
    }
}
