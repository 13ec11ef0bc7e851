//! [`UserStore`] on MongoDB: the `users` collection and its indexes.
//!
//! Every document's `_id` is the domain's string id. Uniqueness (email, username, username
//! skeleton) lives in unique indexes, so concurrent writers cannot create duplicates.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::action::Find;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::Deserialize;

use super::{UserSearch, UserStore};
use crate::domain::{Email, ProfilePatch, Role, User, UserId, Username};
use crate::store::mongo::{
    create_indexes, fetch_limit, from_bson_time, index, is_duplicate_key_on, map_write_error,
    partial_unique_index, to_bson_time,
};
use crate::store::{Page, PageRequest, StoreResult};

/// The unique index on usernames' confusable skeletons.
const SKELETON_INDEX: &str = "users_username_skeleton_unique";

/// Unique indexes of `users` and the field each one guards, for [`map_write_error`].
const USER_UNIQUE_INDEXES: &[(&str, &str)] = &[
    ("users_email_unique", "email"),
    ("users_username_unique", "username"),
    (SKELETON_INDEX, "username"),
];

pub struct MongoUserStore {
    users: Collection<UserDoc>,
}

/// A user as read back. The stored document also holds `password_hash` (read only through
/// [`UserStore::get_password_hash`]),
/// `display_name_lc` (for search) and `username_skeleton` (for its unique index); reads
/// project them away so hashes do not travel with every profile.
#[derive(Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: String,
    email: String,
    username: String,
    display_name: String,
    bio: Option<String>,
    avatar_url: Option<String>,
    phone: Option<String>,
    roles: Vec<String>,
    active: bool,
    email_verified: bool,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
    /// Maintained by the social store. Missing in documents written before the social graph
    /// existed, which have no edges, so absent reads as 0.
    #[serde(default)]
    followers_count: i64,
    #[serde(default)]
    following_count: i64,
}

impl From<UserDoc> for User {
    fn from(d: UserDoc) -> Self {
        User {
            id: UserId::from_trusted(d.id),
            email: Email::from_trusted(d.email),
            username: Username::from_trusted(d.username),
            display_name: d.display_name,
            bio: d.bio,
            avatar_url: d.avatar_url,
            phone: d.phone,
            roles: d.roles.iter().filter_map(|r| Role::from_name(r)).collect(),
            active: d.active,
            email_verified: d.email_verified,
            created_at: from_bson_time(d.created_at),
            updated_at: from_bson_time(d.updated_at),
            // Counters never go below zero (the social store decrements only edges it
            // deleted); a negative value cannot occur and reads as 0 if it did.
            followers_count: u64::try_from(d.followers_count).unwrap_or(0),
            following_count: u64::try_from(d.following_count).unwrap_or(0),
        }
    }
}

fn user_projection() -> Document {
    doc! { "password_hash": 0, "display_name_lc": 0, "username_skeleton": 0 }
}

fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// Only the password hash, for the login path.
#[derive(Deserialize)]
struct PasswordHashDoc {
    password_hash: String,
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

impl MongoUserStore {
    pub fn new(db: &Database) -> Self {
        Self {
            users: db.collection("users"),
        }
    }

    /// Creates the indexes this store relies on, then gives users stored before skeletons
    /// existed theirs, which the skeleton index needs to guard them.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        // Partial, so documents from before skeletons existed do not all collide as "null"
        // until the backfill reaches them.
        let skeletons = partial_unique_index(
            doc! { "username_skeleton": 1 },
            SKELETON_INDEX,
            doc! { "username_skeleton": { "$type": "string" } },
        );
        let models = vec![
            index(doc! { "email": 1 }, "users_email_unique", true),
            index(doc! { "username": 1 }, "users_username_unique", true),
            skeletons,
        ];
        create_indexes(&self.users, models).await?;
        self.backfill_username_skeletons().await
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
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    async fn find_user(&self, filter: Document) -> StoreResult<Option<User>> {
        let found = self
            .users
            .find_one(filter)
            .projection(user_projection())
            .await?;
        Ok(found.map(User::from))
    }

    /// Every user `find` yields, read through the user projection.
    async fn find_users(find: Find<'_, UserDoc>) -> StoreResult<Vec<User>> {
        Ok(find
            .projection(user_projection())
            .await?
            .map_ok(User::from)
            .try_collect()
            .await?)
    }

    /// Applies `$set` to one user, with `updated_at`, and returns it as it is afterwards.
    async fn update_user(
        &self,
        id: &UserId,
        mut set: Document,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        set.insert("updated_at", to_bson_time(now));
        let updated = self
            .users
            .find_one_and_update(doc! { "_id": id.as_str() }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .projection(user_projection())
            .await?;
        Ok(updated.map(User::from))
    }
}

#[async_trait::async_trait]
impl UserStore for MongoUserStore {
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
        Self::find_users(self.users.find(doc! { "_id": { "$in": ids } })).await
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
        Self::find_users(self.users.find(doc! { "username": { "$in": usernames } })).await
    }

    async fn get_password_hash(&self, id: &UserId) -> StoreResult<Option<String>> {
        let found = self
            .users
            .clone_with_type::<PasswordHashDoc>()
            .find_one(doc! { "_id": id.as_str() })
            .projection(doc! { "_id": 0, "password_hash": 1 })
            .await?;
        Ok(found.map(|d| d.password_hash))
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let set = doc! { "password_hash": hash };
        self.update_user(id, set, now).await.map(drop)
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
        let find = self
            .users
            .find(filter)
            .sort(doc! { "username": 1 })
            .limit(fetch_limit(page.limit));
        let items = Self::find_users(find).await?;
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
        let mut set = Document::new();
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
        self.update_user(id, set, now).await
    }

    async fn set_roles(
        &self,
        id: &UserId,
        roles: &[Role],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let set = doc! { "roles": role_names(roles) };
        self.update_user(id, set, now).await
    }

    async fn set_active(
        &self,
        id: &UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.update_user(id, doc! { "active": active }, now).await
    }

    async fn set_email_verified(
        &self,
        id: &UserId,
        verified: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let set = doc! { "email_verified": verified };
        self.update_user(id, set, now).await
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

    #[test]
    fn a_user_document_from_before_the_social_graph_reads_zero_counts() {
        let stored = doc! {
            "_id": "u1", "email": "ann@example.com", "username": "ann", "display_name": "Ann",
            "bio": null, "avatar_url": null, "phone": null, "roles": ["BUYER"], "active": true,
            "email_verified": false, "created_at": bson::DateTime::from_millis(1),
            "updated_at": bson::DateTime::from_millis(2),
        };

        let user = User::from(bson::from_document::<UserDoc>(stored).expect("it deserialises"));

        assert_eq!((user.followers_count, user.following_count), (0, 0));
    }
}
