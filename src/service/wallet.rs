//! The wallet: the viewer's saved shipping addresses and payment cards.

use std::sync::Arc;

use super::Viewer;
use crate::clock::now;
use crate::domain::{
    Address, AddressId, CardExpiry, CardId, CardNumber, NewAddress, PaymentCard, UserId,
};
use crate::error::{AppError, AppResult};
use crate::store::WalletStore;

#[derive(Clone)]
pub struct WalletService {
    store: Arc<dyn WalletStore>,
}

impl WalletService {
    pub fn new(store: Arc<dyn WalletStore>) -> Self {
        Self { store }
    }

    pub async fn add_address(&self, viewer: &Viewer, new: NewAddress) -> AppResult<Address> {
        let address = new.saved_by(viewer.id(), now());
        self.store.add_address(&address).await?;
        Ok(address)
    }

    pub async fn list_addresses(&self, user_id: &UserId) -> AppResult<Vec<Address>> {
        Ok(self.store.list_addresses(user_id).await?)
    }

    /// Removes one of the viewer's addresses; someone else's address is `NOT_FOUND`.
    pub async fn remove_address(&self, viewer: &Viewer, id: &AddressId) -> AppResult<bool> {
        let removed = self.store.remove_address(viewer.id(), id).await?;
        found(removed, "address")
    }

    /// Saves a card. The number is checked and then dropped: only the brand, the last four
    /// digits and the expiry are stored.
    pub async fn add_card(
        &self,
        viewer: &Viewer,
        number: CardNumber,
        expiry: CardExpiry,
        holder: Option<String>,
    ) -> AppResult<PaymentCard> {
        let card = PaymentCard::saved_by(viewer.id(), &number, expiry, holder, now());
        self.store.add_card(&card).await?;
        Ok(card)
    }

    pub async fn list_cards(&self, user_id: &UserId) -> AppResult<Vec<PaymentCard>> {
        Ok(self.store.list_cards(user_id).await?)
    }

    /// Removes one of the viewer's cards; someone else's card is `NOT_FOUND`.
    pub async fn remove_card(&self, viewer: &Viewer, id: &CardId) -> AppResult<bool> {
        let removed = self.store.remove_card(viewer.id(), id).await?;
        found(removed, "payment card")
    }
}

/// `true`, or `NOT_FOUND` on `what` when nothing of the viewer's was removed.
fn found(removed: bool, what: &'static str) -> AppResult<bool> {
    if removed {
        Ok(true)
    } else {
        Err(AppError::NotFound(what))
    }
}
