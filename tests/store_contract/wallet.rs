//! What a user keeps for checkout: shipping addresses and saved cards.

use agora::domain::{Address, AddressId, CardBrand, CardId, PaymentCard, UserId};
use agora::store::Stores;

use crate::fixtures::{address, card, create, ms, now, user};

/// Sorts as the contract lists: oldest first, ties by id.
fn oldest_first<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> (chrono::DateTime<chrono::Utc>, String),
) -> Vec<T> {
    items.sort_by_key(|item| key(item));
    items
}

pub async fn addresses_are_listed_oldest_first_and_removed_only_by_owner(stores: Stores) {
    let (ann, bob) = (user("ann"), user("bob"));
    create(&stores, &ann).await;
    create(&stores, &bob).await;
    let t = now();
    let bare = Address {
        line2: None,
        region: None,
        ..address(&ann.id, t)
    };
    // Inserted newest first, with two sharing a timestamp.
    let added = vec![
        address(&ann.id, t + ms(2)),
        address(&ann.id, t + ms(1)),
        bare,
        address(&ann.id, t),
    ];
    for a in &added {
        stores.wallet.add_address(a).await.unwrap();
    }
    let expected = oldest_first(added, |a| (a.created_at, a.id.as_str().to_owned()));

    assert_eq!(
        stores.wallet.list_addresses(&ann.id).await.unwrap(),
        expected
    );
    assert!(
        stores
            .wallet
            .list_addresses(&bob.id)
            .await
            .unwrap()
            .is_empty()
    );

    let target = &expected[1];
    assert!(
        !stores
            .wallet
            .remove_address(&bob.id, &target.id)
            .await
            .unwrap()
    );
    assert_eq!(
        stores.wallet.list_addresses(&ann.id).await.unwrap().len(),
        4
    );
    assert!(
        stores
            .wallet
            .remove_address(&ann.id, &target.id)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .wallet
            .remove_address(&ann.id, &target.id)
            .await
            .unwrap()
    );
    let remaining: Vec<Address> = expected
        .iter()
        .filter(|a| a.id != target.id)
        .cloned()
        .collect();
    assert_eq!(
        stores.wallet.list_addresses(&ann.id).await.unwrap(),
        remaining
    );
}

/// A card number can never be stored: `PaymentCard` has no field for one. What is stored is
/// the brand, the last four digits, the expiry and the holder's name, and exactly those read
/// back.
pub async fn cards_keep_brand_last4_and_expiry_only(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let mir = PaymentCard {
        brand: CardBrand::Mir,
        last4: "0004".into(),
        exp_month: 1,
        exp_year: 2030,
        holder: None,
        ..card(&ann.id, now())
    };

    stores.wallet.add_card(&mir).await.unwrap();

    let listed = stores.wallet.list_cards(&ann.id).await.unwrap();
    assert_eq!(listed, vec![mir.clone()]);
    let PaymentCard {
        brand,
        last4,
        exp_month,
        exp_year,
        holder,
        ..
    } = &listed[0];
    assert_eq!(
        (*brand, last4.as_str(), *exp_month, *exp_year),
        (CardBrand::Mir, "0004", 1, 2030)
    );
    assert_eq!(holder, &None);
}

pub async fn cards_are_listed_oldest_first_and_removed_only_by_owner(stores: Stores) {
    let (ann, bob) = (user("ann"), user("bob"));
    create(&stores, &ann).await;
    create(&stores, &bob).await;
    let t = now();
    let added = vec![card(&ann.id, t + ms(1)), card(&ann.id, t), card(&ann.id, t)];
    for c in &added {
        stores.wallet.add_card(c).await.unwrap();
    }
    let expected = oldest_first(added, |c| (c.created_at, c.id.as_str().to_owned()));

    assert_eq!(stores.wallet.list_cards(&ann.id).await.unwrap(), expected);
    assert!(stores.wallet.list_cards(&bob.id).await.unwrap().is_empty());

    let target = &expected[0];
    assert!(
        !stores
            .wallet
            .remove_card(&bob.id, &target.id)
            .await
            .unwrap()
    );
    assert!(
        stores
            .wallet
            .remove_card(&ann.id, &target.id)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .wallet
            .remove_card(&ann.id, &target.id)
            .await
            .unwrap()
    );
    assert_eq!(
        stores.wallet.list_cards(&ann.id).await.unwrap(),
        expected[1..]
    );
}

/// Sessions, addresses and cards always belong to an existing user; attaching one to an
/// unknown user is a storage error, and nothing is written.
pub async fn owned_records_need_an_existing_user(stores: Stores) {
    let ghost = UserId::generate();
    let t = now();

    assert!(
        stores
            .wallet
            .add_address(&address(&ghost, t))
            .await
            .is_err()
    );
    assert!(stores.wallet.add_card(&card(&ghost, t)).await.is_err());

    assert!(
        stores
            .wallet
            .list_addresses(&ghost)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(stores.wallet.list_cards(&ghost).await.unwrap().is_empty());
}

pub async fn an_unknown_owner_has_nothing_to_list_or_remove(stores: Stores) {
    let nobody = UserId::generate();
    let wallet = &stores.wallet;

    assert!(wallet.list_addresses(&nobody).await.unwrap().is_empty());
    assert!(wallet.list_cards(&nobody).await.unwrap().is_empty());
    let address = AddressId::generate();
    assert!(!wallet.remove_address(&nobody, &address).await.unwrap());
    assert!(
        !wallet
            .remove_card(&nobody, &CardId::generate())
            .await
            .unwrap()
    );
}
