//! [`OneTimeTokenStore`] on MongoDB: collection `one_time_tokens`, one document per user and
//! purpose (`_id` = `"<purpose>:<user id>"`), so issuing a token is one upsert that replaces
//! the previous one and consuming is one conditional `findAndModify`.

use std::future::IntoFuture;
use std::time::Duration;

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};
use mongodb::{Collection, Database};
use serde::Deserialize;

use super::{NewOneTimeToken, OneTimeTokenStore, TokenPurpose};
use crate::domain::UserId;
use crate::store::StoreResult;
use crate::store::mongo::{create_indexes, ensure_exist, index, to_bson_time, ttl_index, upsert};

pub struct MongoOneTimeTokenStore {
    tokens: Collection<Document>,
    /// The same collection, read as the owners of tokens ([`owner_projection`]).
    owners: Collection<ConsumedDoc>,
    users: Collection<Document>,
}

#[derive(Deserialize)]
struct ConsumedDoc {
    user_id: String,
}

impl MongoOneTimeTokenStore {
    pub fn new(db: Database) -> Self {
        Self {
            tokens: db.collection("one_time_tokens"),
            owners: db.collection("one_time_tokens"),
            users: db.collection("users"),
        }
    }

    /// Creates the indexes this store relies on (idempotent).
    ///
    /// The TTL index only tidies up: expiry is checked by `consume` itself, so a server that
    /// deletes late (or never) changes nothing a client can see.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        create_indexes(
            &self.tokens,
            vec![
                index(
                    doc! { "token_hash": 1 },
                    "one_time_tokens_hash_unique",
                    true,
                ),
                ttl_index("expires_at", "one_time_tokens_expiry_ttl", Duration::ZERO),
            ],
        )
        .await
    }
}

/// The filter matching a token that `consume` may use up at `now`.
fn usable_token(token_hash: &str, purpose: TokenPurpose, now: DateTime<Utc>) -> Document {
    doc! {
        "token_hash": token_hash,
        "purpose": purpose.as_str(),
        "used_at": Bson::Null,
        "expires_at": { "$gt": to_bson_time(now) },
    }
}

/// Reads only the owner of a token, as [`ConsumedDoc`].
fn owner_projection() -> Document {
    doc! { "_id": 0, "user_id": 1 }
}

impl From<ConsumedDoc> for UserId {
    fn from(d: ConsumedDoc) -> Self {
        UserId::from_trusted(d.user_id)
    }
}

fn document_id(user_id: &UserId, purpose: TokenPurpose) -> String {
    format!("{}:{}", purpose.as_str(), user_id.as_str())
}

#[async_trait::async_trait]
impl OneTimeTokenStore for MongoOneTimeTokenStore {
    async fn issue(&self, token: &NewOneTimeToken) -> StoreResult<()> {
        ensure_exist(&self.users, &[&token.user_id], None).await?;
        let id = document_id(&token.user_id, token.purpose);
        let replacement = doc! {
            "_id": &id,
            "user_id": token.user_id.as_str(),
            "purpose": token.purpose.as_str(),
            "token_hash": &token.token_hash,
            "created_at": to_bson_time(token.created_at),
            "expires_at": to_bson_time(token.expires_at),
            "used_at": Bson::Null,
        };
        // Two upserts of a missing document may both try to insert; the loser, run again,
        // replaces the winner's token.
        upsert(|| {
            self.tokens
                .replace_one(doc! { "_id": &id }, replacement.clone())
                .upsert(true)
                .into_future()
        })
        .await?;
        Ok(())
    }

    async fn peek(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        let usable = usable_token(token_hash, purpose, now);
        let found = self.owners.find_one(usable).projection(owner_projection());
        Ok(found.await?.map(UserId::from))
    }

    async fn consume(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        let used = doc! { "$set": { "used_at": to_bson_time(now) } };
        let usable = usable_token(token_hash, purpose, now);
        let found = self.owners.find_one_and_update(usable, used);
        Ok(found
            .projection(owner_projection())
            .await?
            .map(UserId::from))
    }
}
