//! The wallet: a user's saved shipping addresses and payment cards.

mod mongo;
mod sqlite;

pub use mongo::MongoWalletStore;
pub use sqlite::SqliteWalletStore;

use super::StoreResult;
use crate::domain::{Address, AddressId, CardId, PaymentCard, UserId};

/// Storage of addresses and cards.
///
/// Contract (both adapters, checked by `tests/store_contract`):
/// - Addresses and cards belong to one existing user; listing returns them oldest first, an
///   empty list for an unknown user.
/// - Removing needs the owner: someone else's record is not removed, and the answer is `false`.
#[async_trait::async_trait]
pub trait WalletStore: Send + Sync {
    async fn add_address(&self, address: &Address) -> StoreResult<()>;
    async fn list_addresses(&self, user_id: &UserId) -> StoreResult<Vec<Address>>;
    /// Deletes the address when it belongs to `user_id`; returns whether one was deleted.
    async fn remove_address(&self, user_id: &UserId, id: &AddressId) -> StoreResult<bool>;

    async fn add_card(&self, card: &PaymentCard) -> StoreResult<()>;
    async fn list_cards(&self, user_id: &UserId) -> StoreResult<Vec<PaymentCard>>;
    async fn remove_card(&self, user_id: &UserId, id: &CardId) -> StoreResult<bool>;
}
