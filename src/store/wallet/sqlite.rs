//! [`WalletStore`] on SQLite: the `addresses` and `payment_cards` tables.

use rusqlite::{Row, params};

use super::WalletStore;
use crate::clock::{from_millis, to_millis};
use crate::domain::{Address, AddressId, CardBrand, CardId, CountryCode, PaymentCard, UserId};
use crate::store::StoreResult;
use crate::store::sqlite::{SqliteDb, StatementExt};

pub struct SqliteWalletStore {
    db: SqliteDb,
}

/// A table of records owned by one user each, and how to read its rows.
struct Owned<T> {
    table: &'static str,
    columns: &'static str,
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
}

const ADDRESSES: Owned<Address> = Owned {
    table: "addresses",
    columns: "id, user_id, recipient, phone, line1, line2, city, region, postal_code, country, \
              created_at",
    from_row: address_from_row,
};

const CARDS: Owned<PaymentCard> = Owned {
    table: "payment_cards",
    columns: "id, user_id, brand, last4, exp_month, exp_year, holder, created_at",
    from_row: card_from_row,
};

impl SqliteWalletStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }

    /// Inserts one row into `owned`'s table, its values in `owned.columns` order.
    async fn add<T, P>(&self, owned: &Owned<T>, values: P) -> StoreResult<()>
    where
        P: rusqlite::Params + Send + 'static,
    {
        let placeholders = vec!["?"; owned.columns.split(',').count()].join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({placeholders})",
            owned.table, owned.columns
        );
        self.db
            .write(move |tx| {
                tx.execute(&sql, values)?;
                Ok(())
            })
            .await
    }

    /// A user's records, oldest first.
    async fn list<T>(&self, owned: &Owned<T>, user_id: &UserId) -> StoreResult<Vec<T>> {
        self.db
            .read(|conn| {
                conn.prepare_cached(&format!(
                    "SELECT {} FROM {} WHERE user_id = ?1 ORDER BY created_at, id",
                    owned.columns, owned.table
                ))?
                .query_vec([user_id.as_str()], owned.from_row)
            })
            .await
    }

    /// Deletes the record `id` when `user_id` owns it; tells whether one was deleted.
    async fn remove<T>(&self, owned: &Owned<T>, user_id: &UserId, id: &str) -> StoreResult<bool> {
        let sql = format!("DELETE FROM {} WHERE id = ?1 AND user_id = ?2", owned.table);
        let (user_id, id) = (user_id.clone(), id.to_owned());
        self.db
            .write(move |tx| Ok(tx.execute(&sql, params![id, user_id.as_str()])? > 0))
            .await
    }
}

fn address_from_row(row: &Row<'_>) -> rusqlite::Result<Address> {
    Ok(Address {
        id: AddressId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        recipient: row.get(2)?,
        phone: row.get(3)?,
        line1: row.get(4)?,
        line2: row.get(5)?,
        city: row.get(6)?,
        region: row.get(7)?,
        postal_code: row.get(8)?,
        country: CountryCode::from_trusted(row.get(9)?),
        created_at: from_millis(row.get(10)?),
    })
}

fn card_from_row(row: &Row<'_>) -> rusqlite::Result<PaymentCard> {
    let brand: String = row.get(2)?;
    Ok(PaymentCard {
        id: CardId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        brand: CardBrand::from_name(&brand),
        last4: row.get(3)?,
        exp_month: row.get(4)?,
        exp_year: row.get(5)?,
        holder: row.get(6)?,
        created_at: from_millis(row.get(7)?),
    })
}

#[async_trait::async_trait]
impl WalletStore for SqliteWalletStore {
    async fn add_address(&self, address: &Address) -> StoreResult<()> {
        let a = address.clone();
        let values = (
            a.id.to_string(),
            a.user_id.to_string(),
            a.recipient,
            a.phone,
            a.line1,
            a.line2,
            a.city,
            a.region,
            a.postal_code,
            a.country.as_str().to_owned(),
            to_millis(a.created_at),
        );
        self.add(&ADDRESSES, values).await
    }

    async fn list_addresses(&self, user_id: &UserId) -> StoreResult<Vec<Address>> {
        self.list(&ADDRESSES, user_id).await
    }

    async fn remove_address(&self, user_id: &UserId, id: &AddressId) -> StoreResult<bool> {
        self.remove(&ADDRESSES, user_id, id.as_str()).await
    }

    async fn add_card(&self, card: &PaymentCard) -> StoreResult<()> {
        let c = card.clone();
        let values = (
            c.id.to_string(),
            c.user_id.to_string(),
            c.brand.as_str(),
            c.last4,
            c.exp_month,
            c.exp_year,
            c.holder,
            to_millis(c.created_at),
        );
        self.add(&CARDS, values).await
    }

    async fn list_cards(&self, user_id: &UserId) -> StoreResult<Vec<PaymentCard>> {
        self.list(&CARDS, user_id).await
    }

    async fn remove_card(&self, user_id: &UserId, id: &CardId) -> StoreResult<bool> {
        self.remove(&CARDS, user_id, id.as_str()).await
    }
}
