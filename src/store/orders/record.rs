//! The stored form of an order, shared by both adapters: SQLite keeps it as one JSON column
//! next to the indexed columns, MongoDB as the document itself. One shape means an order
//! reads back the same from either.
//!
//! Money is kept as scaled integers (exact) with the currency code; times as milliseconds
//! since the epoch, the precision every store keeps.

use serde::{Deserialize, Serialize};

use crate::clock::{from_millis, to_millis};
use crate::domain::{
    Address, AddressId, Amount, CardId, CountryCode, Currency, Money, Order, OrderId, OrderItem,
    OrderStatus, PaymentAttempt, PaymentOutcome, PostId, StatusChange, UserId,
};
use crate::store::{StoreError, StoreResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct OrderRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub number: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub status: OrderStatus,
    pub revision: i64,
    pub currency: String,
    pub total: i64,
    pub items: Vec<ItemRecord>,
    pub history: Vec<ChangeRecord>,
    pub address: AddressRecord,
    pub note: Option<String>,
    pub payment: Option<AttemptRecord>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ItemRecord {
    pub post_id: String,
    pub title: String,
    pub unit_price: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ChangeRecord {
    pub status: OrderStatus,
    pub at: i64,
    pub by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AddressRecord {
    pub id: String,
    pub user_id: String,
    pub recipient: String,
    pub phone: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AttemptRecord {
    #[serde(rename = "_id")]
    pub id: String,
    pub order_id: String,
    pub card_id: String,
    pub card_last4: String,
    pub currency: String,
    pub amount: i64,
    pub outcome: PaymentOutcome,
    pub reference: String,
    pub at: i64,
}

fn currency(code: &str) -> StoreResult<Currency> {
    Currency::parse("currency", code)
        .map_err(|_| StoreError::Backend(format!("stored currency {code} is unknown")))
}

impl From<&PaymentAttempt> for AttemptRecord {
    fn from(a: &PaymentAttempt) -> Self {
        AttemptRecord {
            id: a.id.clone(),
            order_id: a.order_id.to_string(),
            card_id: a.card_id.to_string(),
            card_last4: a.card_last4.clone(),
            currency: a.amount.currency.code().to_owned(),
            amount: a.amount.amount.scaled(),
            outcome: a.outcome,
            reference: a.reference.clone(),
            at: to_millis(a.at),
        }
    }
}

impl TryFrom<AttemptRecord> for PaymentAttempt {
    type Error = StoreError;

    fn try_from(r: AttemptRecord) -> StoreResult<Self> {
        Ok(PaymentAttempt {
            id: r.id,
            order_id: OrderId::from_trusted(r.order_id),
            card_id: CardId::from_trusted(r.card_id),
            card_last4: r.card_last4,
            amount: Money {
                amount: Amount::from_scaled(r.amount),
                currency: currency(&r.currency)?,
            },
            outcome: r.outcome,
            reference: r.reference,
            at: from_millis(r.at),
        })
    }
}

impl From<&Order> for OrderRecord {
    fn from(o: &Order) -> Self {
        let a = &o.shipping_address;
        OrderRecord {
            id: o.id.to_string(),
            number: o.number.clone(),
            buyer_id: o.buyer_id.to_string(),
            seller_id: o.seller_id.to_string(),
            status: o.status,
            revision: o.revision,
            currency: o.total.currency.code().to_owned(),
            total: o.total.amount.scaled(),
            items: o
                .items
                .iter()
                .map(|i| ItemRecord {
                    post_id: i.post_id.to_string(),
                    title: i.title.clone(),
                    unit_price: i.unit_price.amount.scaled(),
                    quantity: i.quantity,
                })
                .collect(),
            history: o
                .history
                .iter()
                .map(|c| ChangeRecord {
                    status: c.status,
                    at: to_millis(c.at),
                    by: c.by.as_ref().map(UserId::to_string),
                })
                .collect(),
            address: AddressRecord {
                id: a.id.to_string(),
                user_id: a.user_id.to_string(),
                recipient: a.recipient.clone(),
                phone: a.phone.clone(),
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                city: a.city.clone(),
                region: a.region.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.as_str().to_owned(),
                created_at: to_millis(a.created_at),
            },
            note: o.note.clone(),
            payment: o.payment.as_ref().map(AttemptRecord::from),
            created_at: to_millis(o.created_at),
            updated_at: to_millis(o.updated_at),
        }
    }
}

impl TryFrom<OrderRecord> for Order {
    type Error = StoreError;

    fn try_from(r: OrderRecord) -> StoreResult<Self> {
        let currency = currency(&r.currency)?;
        let money = |scaled| Money {
            amount: Amount::from_scaled(scaled),
            currency,
        };
        let a = r.address;
        Ok(Order {
            id: OrderId::from_trusted(r.id),
            number: r.number,
            buyer_id: UserId::from_trusted(r.buyer_id),
            seller_id: UserId::from_trusted(r.seller_id),
            items: r
                .items
                .into_iter()
                .map(|i| OrderItem {
                    post_id: PostId::from_trusted(i.post_id),
                    title: i.title,
                    unit_price: money(i.unit_price),
                    quantity: i.quantity,
                })
                .collect(),
            total: money(r.total),
            status: r.status,
            history: r
                .history
                .into_iter()
                .map(|c| StatusChange {
                    status: c.status,
                    at: from_millis(c.at),
                    by: c.by.map(UserId::from_trusted),
                })
                .collect(),
            shipping_address: Address {
                id: AddressId::from_trusted(a.id),
                user_id: UserId::from_trusted(a.user_id),
                recipient: a.recipient,
                phone: a.phone,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
                country: CountryCode::from_trusted(a.country),
                created_at: from_millis(a.created_at),
            },
            note: r.note,
            payment: r.payment.map(PaymentAttempt::try_from).transpose()?,
            revision: r.revision,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
        })
    }
}
