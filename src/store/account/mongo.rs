//! [`AccountStore`] on MongoDB: the `users`, `sessions`, `addresses` and `payment_cards`
//! collections and their indexes.
//!
//! Every document's `_id` is the domain's string id. Uniqueness (email, username, username
//! skeleton, current refresh-token hash) lives in unique indexes, so concurrent writers cannot
//! create duplicates; token rotation is a single conditional `findAndModify`, so it needs no transaction.

mod documents;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};

use self::documents::{
    AddressDoc, CardDoc, PasswordHashDoc, SessionDoc, UserDoc, role_names, session_projection,
    user_projection,
};
use super::{AccountStore, NewSession, RETIRED_TOKENS_KEPT, Session, SessionRotation, UserSearch};
use crate::domain::{
    Address, AddressId, CardId, PaymentCard, ProfilePatch, Role, SessionId, User, UserId, Username,
};
use crate::store::mongo::{
    ensure_users_exist, index, is_duplicate_key_on, map_write_error, partial_unique_index,
    to_bson_time,
};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

/// The unique index on usernames' confusable skeletons.
const SKELETON_INDEX: &str = "users_username_skeleton_unique";

/// Unique indexes of `users` and the field each one guards, for [`map_write_error`].
const USER_UNIQUE_INDEXES: &[(&str, &str)] = &[
    ("users_email_unique", "email"),
    ("users_username_unique", "username"),
    (SKELETON_INDEX, "username"),
];

/// `$slice` for `retired_hashes`: keep the most recent [`RETIRED_TOKENS_KEPT`] hashes.
const RETIRED_SLICE: i64 = -(RETIRED_TOKENS_KEPT as i64);

pub struct MongoAccountStore {
    users: Collection<UserDoc>,
    sessions: Collection<SessionDoc>,
    addresses: Collection<AddressDoc>,
    cards: Collection<CardDoc>,
}

/// The filter shared by search and count: a case-insensitive substring match done as a
/// case-sensitive regex over lower-cased text (usernames and emails are stored lower-case,
/// display names also as `display_name_lc`). Lower-casing in Rust on both sides, rather than
/// the regex `i` flag, keeps the case rules identical to the SQLite adapter's, including for
/// non-ASCII names.
fn search_filter(search: &UserSearch) -> Document {
    let mut filter = Document::new();
    if let Some(text) = &search.text {
        let pattern = regex_literal(&text.to_lowercase());
        let mut any = vec![
            doc! { "username": { "$regex": &pattern } },
            doc! { "display_name_lc": { "$regex": &pattern } },
        ];
        if search.match_email {
            any.push(doc! { "email": { "$regex": &pattern } });
        }
        filter.insert("$or", any);
    }
    if !search.include_inactive {
        filter.insert("active", true);
    }
    filter
}

/// A regex (PCRE, as MongoDB uses) matching `text` literally. Every regex metacharacter is
/// ASCII punctuation, and in PCRE a backslash before a non-alphanumeric character always
/// stands for that character, so escaping all ASCII punctuation leaves no input able to change
/// the pattern's meaning; every other character, whitespace and non-ASCII included, already
/// matches itself.
fn regex_literal(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

impl MongoAccountStore {
    pub fn new(db: Database) -> Self {
        Self {
            users: db.collection("users"),
            sessions: db.collection("sessions"),
            addresses: db.collection("addresses"),
            cards: db.collection("payment_cards"),
        }
    }

    /// Creates the indexes this store relies on, then gives users stored before skeletons
    /// existed theirs, which the skeleton index needs to guard them. Idempotent: an index that
    /// already exists with the same definition is left alone; one whose definition changed
    /// under the same name fails start-up instead of silently running without the intended
    /// guarantee.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        // Partial, so documents from before skeletons existed do not all collide as "null"
        // until the backfill reaches them.
        let skeletons = partial_unique_index(
            doc! { "username_skeleton": 1 },
            SKELETON_INDEX,
            doc! { "username_skeleton": { "$type": "string" } },
        );
        let users = [
            index(doc! { "email": 1 }, "users_email_unique", true),
            index(doc! { "username": 1 }, "users_username_unique", true),
            skeletons,
        ];
        for model in users {
            self.users.create_index(model).await?;
        }
        self.backfill_username_skeletons().await?;
        let sessions = [
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
        for model in sessions {
            self.sessions.create_index(model).await?;
        }
        self.addresses
            .create_index(index(
                doc! { "user_id": 1, "created_at": 1 },
                "addresses_by_user",
                false,
            ))
            .await?;
        self.cards
            .create_index(index(
                doc! { "user_id": 1, "created_at": 1 },
                "payment_cards_by_user",
                false,
            ))
            .await?;
        Ok(())
    }

    /// Gives every user without a skeleton its skeleton ([`Username::skeleton`]), in `_id`
    /// (so creation) order. Two old names can share a skeleton: the first keeps it and the
    /// other gets `skeleton#id`, so both accounts keep working while a new name that looks
    /// like either still meets the bare skeleton. Each update is conditional on the field
    /// still being absent, so instances starting together agree, and a document they race on
    /// is decided by the unique index.
    async fn backfill_username_skeletons(&self) -> StoreResult<()> {
        #[derive(serde::Deserialize)]
        struct Pending {
            #[serde(rename = "_id")]
            id: String,
            username: String,
        }
        let mut pending = self
            .users
            .clone_with_type::<Pending>()
            .find(doc! { "username_skeleton": { "$exists": false } })
            .projection(doc! { "_id": 1, "username": 1 })
            .sort(doc! { "_id": 1 })
            .await?;
        while let Some(user) = pending.try_next().await? {
            let skeleton = Username::from_trusted(user.username).skeleton();
            let unset = doc! { "_id": &user.id, "username_skeleton": { "$exists": false } };
            let set = |value: String| doc! { "$set": { "username_skeleton": value } };
            match self
                .users
                .update_one(unset.clone(), set(skeleton.clone()))
                .await
            {
                Ok(_) => {}
                Err(err) if is_duplicate_key_on(&err, SKELETON_INDEX) => {
                    self.users
                        .update_one(unset, set(format!("{skeleton}#{}", user.id)))
                        .await?;
                }
                Err(err) => return Err(StoreError::backend(err)),
            }
        }
        Ok(())
    }

    /// Applies `$set` to one user and returns it as it is afterwards.
    async fn update_user(&self, id: &UserId, set: Document) -> StoreResult<Option<User>> {
        Ok(self
            .users
            .find_one_and_update(doc! { "_id": id.as_str() }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .projection(user_projection())
            .await
            .map(|found| found.map(User::from))?)
    }

    async fn find_user(&self, filter: Document) -> StoreResult<Option<User>> {
        Ok(self
            .users
            .find_one(filter)
            .projection(user_projection())
            .await
            .map(|found| found.map(User::from))?)
    }
}

#[async_trait::async_trait]
impl AccountStore for MongoAccountStore {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        let document = doc! {
            "_id": user.id.as_str(),
            "email": user.email.as_str(),
            "username": user.username.as_str(),
            "username_skeleton": user.username.skeleton(),
            "display_name": &user.display_name,
            "display_name_lc": user.display_name.to_lowercase(),
            "bio": user.bio.as_deref(),
            "avatar_url": user.avatar_url.as_deref(),
            "phone": user.phone.as_deref(),
            "roles": role_names(&user.roles),
            "active": user.active,
            "email_verified": user.email_verified,
            "password_hash": password_hash,
            "created_at": to_bson_time(user.created_at),
            "updated_at": to_bson_time(user.updated_at),
            // A new account has no edges yet; the social store owns the counters from here.
            "followers_count": 0_i64,
            "following_count": 0_i64,
        };
        self.users
            .clone_with_type::<Document>()
            .insert_one(document)
            .await
            .map(|_| ())
            .map_err(|e| map_write_error(e, USER_UNIQUE_INDEXES))
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        self.find_user(doc! { "_id": id.as_str() }).await
    }

    async fn get_many_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        Ok(self
            .users
            .find(doc! { "_id": { "$in": ids } })
            .projection(user_projection())
            .await?
            .map_ok(User::from)
            .try_collect()
            .await?)
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.find_user(doc! { "email": email }).await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.find_user(doc! { "username": username }).await
    }

    async fn find_users_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<User>> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .users
            .find(doc! { "username": { "$in": usernames } })
            .projection(user_projection())
            .await?
            .map_ok(User::from)
            .try_collect()
            .await?)
    }

    async fn get_password_hash(&self, id: &UserId) -> StoreResult<Option<String>> {
        Ok(self
            .users
            .clone_with_type::<PasswordHashDoc>()
            .find_one(doc! { "_id": id.as_str() })
            .projection(doc! { "_id": 0, "password_hash": 1 })
            .await
            .map(|found| found.map(|d| d.password_hash))?)
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        Ok(self
            .users
            .update_one(
                doc! { "_id": id.as_str() },
                doc! { "$set": { "password_hash": hash, "updated_at": to_bson_time(now) } },
            )
            .await
            .map(|_| ())?)
    }

    async fn search_users(
        &self,
        search: &UserSearch,
        page: &PageRequest,
    ) -> StoreResult<Page<User>> {
        let mut filter = search_filter(search);
        if let Some(after) = &page.after {
            filter.insert("username", doc! { "$gt": after });
        }
        // One more than asked tells whether another page follows.
        let fetch = i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let items: Vec<User> = self
            .users
            .find(filter)
            .sort(doc! { "username": 1 })
            .limit(fetch)
            .projection(user_projection())
            .await?
            .map_ok(User::from)
            .try_collect()
            .await?;
        Ok(Page::from_overfetch(items, page.limit))
    }

    async fn count_users(&self, search: &UserSearch) -> StoreResult<u64> {
        Ok(self.users.count_documents(search_filter(search)).await?)
    }

    async fn update_profile(
        &self,
        id: &UserId,
        patch: &ProfilePatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let mut set = doc! { "updated_at": to_bson_time(now) };
        if let Some(name) = &patch.display_name {
            set.insert("display_name", name);
            set.insert("display_name_lc", name.to_lowercase());
        }
        // `Some(None)` clears the field by storing null, which reads back as `None`.
        let optional = [
            ("bio", &patch.bio),
            ("avatar_url", &patch.avatar_url),
            ("phone", &patch.phone),
        ];
        for (field, value) in optional {
            if let Some(value) = value {
                set.insert(field, value.as_deref().map_or(Bson::Null, Bson::from));
            }
        }
        self.update_user(id, set).await
    }

    async fn set_roles(
        &self,
        id: &UserId,
        roles: &[Role],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let set = doc! { "roles": role_names(roles), "updated_at": to_bson_time(now) };
        self.update_user(id, set).await
    }

    async fn set_active(
        &self,
        id: &UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let set = doc! { "active": active, "updated_at": to_bson_time(now) };
        self.update_user(id, set).await
    }

    async fn set_email_verified(
        &self,
        id: &UserId,
        verified: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let set = doc! { "email_verified": verified, "updated_at": to_bson_time(now) };
        self.update_user(id, set).await
    }

    async fn create_session(&self, session: &NewSession) -> StoreResult<()> {
        ensure_users_exist(&self.users, &[&session.user_id]).await?;
        let document = doc! {
            "_id": session.id.as_str(),
            "user_id": session.user_id.as_str(),
            "current_hash": &session.token_hash,
            "retired_hashes": [],
            "created_at": to_bson_time(session.created_at),
            "expires_at": to_bson_time(session.expires_at),
            "revoked_at": Bson::Null,
        };
        Ok(self
            .sessions
            .clone_with_type::<Document>()
            .insert_one(document)
            .await
            .map(|_| ())?)
    }

    async fn get_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        Ok(self
            .sessions
            .find_one(doc! { "_id": id.as_str() })
            .projection(session_projection())
            .await
            .map(|found| found.map(Session::from))?)
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
                doc! { "$set": { "revoked_at": to_bson_time(now) } },
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
        Ok(self
            .sessions
            .update_one(
                doc! { "current_hash": token_hash, "revoked_at": null },
                doc! { "$set": { "revoked_at": to_bson_time(now) } },
            )
            .await
            .map(|result| result.matched_count > 0)?)
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
        Ok(self
            .sessions
            .update_many(filter, doc! { "$set": { "revoked_at": to_bson_time(now) } })
            .await
            .map(|result| result.matched_count)?)
    }

    async fn add_address(&self, address: &Address) -> StoreResult<()> {
        ensure_users_exist(&self.users, &[&address.user_id]).await?;
        Ok(self
            .addresses
            .insert_one(AddressDoc::from(address))
            .await
            .map(|_| ())?)
    }

    async fn list_addresses(&self, user_id: &UserId) -> StoreResult<Vec<Address>> {
        Ok(self
            .addresses
            .find(doc! { "user_id": user_id.as_str() })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await?
            .map_ok(Address::from)
            .try_collect()
            .await?)
    }

    async fn remove_address(&self, user_id: &UserId, id: &AddressId) -> StoreResult<bool> {
        Ok(self
            .addresses
            .delete_one(doc! { "_id": id.as_str(), "user_id": user_id.as_str() })
            .await
            .map(|result| result.deleted_count > 0)?)
    }

    async fn add_card(&self, card: &PaymentCard) -> StoreResult<()> {
        ensure_users_exist(&self.users, &[&card.user_id]).await?;
        Ok(self
            .cards
            .insert_one(CardDoc::from(card))
            .await
            .map(|_| ())?)
    }

    async fn list_cards(&self, user_id: &UserId) -> StoreResult<Vec<PaymentCard>> {
        let docs: Vec<CardDoc> = self
            .cards
            .find(doc! { "user_id": user_id.as_str() })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?;
        docs.into_iter().map(PaymentCard::try_from).collect()
    }

    async fn remove_card(&self, user_id: &UserId, id: &CardId) -> StoreResult<bool> {
        Ok(self
            .cards
            .delete_one(doc! { "_id": id.as_str(), "user_id": user_id.as_str() })
            .await
            .map(|result| result.deleted_count > 0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_literals_escape_every_metacharacter() {
        assert_eq!(regex_literal("a.*b"), r"a\.\*b");
        assert_eq!(regex_literal("50%_off"), r"50\%\_off");
        assert_eq!(regex_literal("a b"), "a b");
        assert_eq!(regex_literal("әлия"), "әлия");
        assert_eq!(regex_literal(r"(\d+)"), r"\(\\d\+\)");
    }
}
