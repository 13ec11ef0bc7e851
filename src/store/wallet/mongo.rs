//! [`WalletStore`] on MongoDB: the `addresses` and `payment_cards` collections and their
//! indexes. Each record is one document whose `_id` is the domain's id.

use futures_util::TryStreamExt;
use mongodb::bson::{self, Document, doc};
use mongodb::{Collection, Database};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::WalletStore;
use crate::domain::{Address, AddressId, CardBrand, CardId, CountryCode, PaymentCard, UserId};
use crate::store::mongo::{create_indexes, ensure_exist, from_bson_time, index, to_bson_time};
use crate::store::{StoreError, StoreResult};

pub struct MongoWalletStore {
    addresses: Collection<AddressDoc>,
    cards: Collection<CardDoc>,
    /// Only to check that a new record's owner exists.
    users: Collection<Document>,
}

impl MongoWalletStore {
    pub fn new(db: &Database) -> Self {
        Self {
            addresses: db.collection("addresses"),
            cards: db.collection("payment_cards"),
            users: db.collection("users"),
        }
    }

    /// Creates the indexes this store relies on: each collection listed by owner.
    pub async fn create_indexes(&self) -> StoreResult<()> {
        let by_user = |name: &str| vec![index(doc! { "user_id": 1, "created_at": 1 }, name, false)];
        create_indexes(&self.addresses, by_user("addresses_by_user")).await?;
        create_indexes(&self.cards, by_user("payment_cards_by_user")).await
    }

    /// Stores `record` once its owner is known to exist.
    async fn add<D: Serialize + Send + Sync>(
        &self,
        records: &Collection<D>,
        owner: &UserId,
        record: D,
    ) -> StoreResult<()> {
        ensure_exist(&self.users, &[owner], None).await?;
        records.insert_one(record).await?;
        Ok(())
    }
}

/// A user's records, oldest first.
async fn list<D>(records: &Collection<D>, user_id: &UserId) -> StoreResult<Vec<D>>
where
    D: DeserializeOwned + Send + Sync + Unpin,
{
    Ok(records
        .find(doc! { "user_id": user_id.as_str() })
        .sort(doc! { "created_at": 1, "_id": 1 })
        .await?
        .try_collect()
        .await?)
}

/// Deletes the record `id` when `user_id` owns it; tells whether one was deleted.
async fn remove<D: Send + Sync>(
    records: &Collection<D>,
    user_id: &UserId,
    id: &str,
) -> StoreResult<bool> {
    let result = records
        .delete_one(doc! { "_id": id, "user_id": user_id.as_str() })
        .await?;
    Ok(result.deleted_count > 0)
}

#[derive(Serialize, Deserialize)]
struct AddressDoc {
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
struct CardDoc {
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

#[async_trait::async_trait]
impl WalletStore for MongoWalletStore {
    async fn add_address(&self, address: &Address) -> StoreResult<()> {
        self.add(&self.addresses, &address.user_id, address.into())
            .await
    }

    async fn list_addresses(&self, user_id: &UserId) -> StoreResult<Vec<Address>> {
        let docs = list(&self.addresses, user_id).await?;
        Ok(docs.into_iter().map(Address::from).collect())
    }

    async fn remove_address(&self, user_id: &UserId, id: &AddressId) -> StoreResult<bool> {
        remove(&self.addresses, user_id, id.as_str()).await
    }

    async fn add_card(&self, card: &PaymentCard) -> StoreResult<()> {
        self.add(&self.cards, &card.user_id, card.into()).await
    }

    async fn list_cards(&self, user_id: &UserId) -> StoreResult<Vec<PaymentCard>> {
        let docs = list(&self.cards, user_id).await?;
        docs.into_iter().map(PaymentCard::try_from).collect()
    }

    async fn remove_card(&self, user_id: &UserId, id: &CardId) -> StoreResult<bool> {
        remove(&self.cards, user_id, id.as_str()).await
    }
}
