//! The stored shapes of the account collections and their conversions to domain types.
//!
//! Read shapes carry only what the domain needs; projections keep the rest (password hashes,
//! token hashes, search copies) in the database.

use mongodb::bson::{self, Document, doc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Address, AddressId, CardBrand, CardId, CountryCode, Email, PaymentCard, Role, SessionId, User,
    UserId, Username,
};
use crate::store::account::Session;
use crate::store::mongo::{from_bson_time, to_bson_time};
use crate::store::{StoreError, StoreResult};

/// A user as read back. The stored document also holds `password_hash` (read only through
/// [`AccountStore::get_password_hash`](crate::store::AccountStore::get_password_hash)),
/// `display_name_lc` (for search) and `username_skeleton` (for its unique index); reads
/// project them away so hashes do not travel with every profile.
#[derive(Deserialize)]
pub(super) struct UserDoc {
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

pub(super) fn user_projection() -> Document {
    doc! { "password_hash": 0, "display_name_lc": 0, "username_skeleton": 0 }
}

pub(super) fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// A session as read back; `current_hash` and `retired_hashes` stay in the database.
#[derive(Deserialize)]
pub(super) struct SessionDoc {
    #[serde(rename = "_id")]
    pub(super) id: String,
    pub(super) user_id: String,
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

pub(super) fn session_projection() -> Document {
    doc! { "current_hash": 0, "retired_hashes": 0 }
}

#[derive(Serialize, Deserialize)]
pub(super) struct AddressDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    recipient: String,
    phone: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    country: String,
    created_at: bson::DateTime,
}

impl From<&Address> for AddressDoc {
    fn from(a: &Address) -> Self {
        AddressDoc {
            id: a.id.as_str().to_owned(),
            user_id: a.user_id.as_str().to_owned(),
            recipient: a.recipient.clone(),
            phone: a.phone.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.as_str().to_owned(),
            created_at: to_bson_time(a.created_at),
        }
    }
}

impl From<AddressDoc> for Address {
    fn from(d: AddressDoc) -> Self {
        Address {
            id: AddressId::from_trusted(d.id),
            user_id: UserId::from_trusted(d.user_id),
            recipient: d.recipient,
            phone: d.phone,
            line1: d.line1,
            line2: d.line2,
            city: d.city,
            region: d.region,
            postal_code: d.postal_code,
            country: CountryCode::from_trusted(d.country),
            created_at: from_bson_time(d.created_at),
        }
    }
}

/// A saved card. There is no number field to fill: only brand, last four digits and expiry
/// are ever stored.
#[derive(Serialize, Deserialize)]
pub(super) struct CardDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    brand: String,
    last4: String,
    exp_month: i64,
    exp_year: i64,
    holder: Option<String>,
    created_at: bson::DateTime,
}

impl From<&PaymentCard> for CardDoc {
    fn from(c: &PaymentCard) -> Self {
        CardDoc {
            id: c.id.as_str().to_owned(),
            user_id: c.user_id.as_str().to_owned(),
            brand: c.brand.as_str().to_owned(),
            last4: c.last4.clone(),
            exp_month: i64::from(c.exp_month),
            exp_year: i64::from(c.exp_year),
            holder: c.holder.clone(),
            created_at: to_bson_time(c.created_at),
        }
    }
}

impl TryFrom<CardDoc> for PaymentCard {
    type Error = StoreError;

    fn try_from(d: CardDoc) -> StoreResult<Self> {
        let out_of_range = |_| StoreError::Backend(format!("card {} has a corrupt expiry", d.id));
        Ok(PaymentCard {
            exp_month: u32::try_from(d.exp_month).map_err(out_of_range)?,
            exp_year: i32::try_from(d.exp_year).map_err(out_of_range)?,
            id: CardId::from_trusted(d.id),
            user_id: UserId::from_trusted(d.user_id),
            brand: CardBrand::from_name(&d.brand),
            last4: d.last4,
            holder: d.holder,
            created_at: from_bson_time(d.created_at),
        })
    }
}

/// Only the password hash, for the login path.
#[derive(Deserialize)]
pub(super) struct PasswordHashDoc {
    pub(super) password_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

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
