//! Users: creation, lookups, uniqueness, password hashes and profile updates.

use agora::domain::{AddressId, CardId, ProfilePatch, Role, SessionId, User, UserId};
use agora::store::{StoreError, Stores, UserSearch};

use crate::fixtures::{by_id, create, ms, now, user};

const EVERYONE: UserSearch = UserSearch {
    text: None,
    match_email: false,
    include_inactive: true,
};

pub async fn a_created_user_reads_back_exactly(stores: Stores) {
    let ann = User {
        roles: vec![Role::Buyer, Role::Seller],
        email_verified: true,
        ..user("ann")
    };
    create(&stores, &ann).await;

    let accounts = &stores.accounts;
    assert_eq!(accounts.get_user(&ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(
        accounts
            .find_user_by_email("ann@example.com")
            .await
            .unwrap(),
        Some(ann.clone())
    );
    assert_eq!(
        accounts.find_user_by_username("ann").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(
        accounts
            .get_many_users(std::slice::from_ref(&ann.id))
            .await
            .unwrap(),
        vec![ann]
    );
}

pub async fn optional_profile_fields_read_back_as_none(stores: Stores) {
    let bare = User {
        bio: None,
        avatar_url: None,
        phone: None,
        ..user("bare")
    };
    create(&stores, &bare).await;

    assert_eq!(
        stores.accounts.get_user(&bare.id).await.unwrap(),
        Some(bare)
    );
}

pub async fn unknown_ids_find_nothing(stores: Stores) {
    create(&stores, &user("ann")).await;
    let accounts = &stores.accounts;
    let nobody = UserId::generate();
    let t = now();

    assert_eq!(accounts.get_user(&nobody).await.unwrap(), None);
    assert!(
        accounts
            .get_many_users(std::slice::from_ref(&nobody))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(accounts.get_many_users(&[]).await.unwrap().is_empty());
    assert_eq!(
        accounts
            .find_user_by_email("nobody@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        accounts.find_user_by_username("nobody").await.unwrap(),
        None
    );
    assert_eq!(accounts.get_password_hash(&nobody).await.unwrap(), None);
    accounts.set_password_hash(&nobody, "x", t).await.unwrap();
    assert_eq!(accounts.get_password_hash(&nobody).await.unwrap(), None);
    let patch = ProfilePatch {
        display_name: Some("Ghost".into()),
        ..ProfilePatch::default()
    };
    assert_eq!(
        accounts.update_profile(&nobody, &patch, t).await.unwrap(),
        None
    );
    assert_eq!(
        accounts
            .set_roles(&nobody, &[Role::Admin], t)
            .await
            .unwrap(),
        None
    );
    assert_eq!(accounts.set_active(&nobody, false, t).await.unwrap(), None);
    assert_eq!(
        accounts.get_session(&SessionId::generate()).await.unwrap(),
        None
    );
    assert!(accounts.list_addresses(&nobody).await.unwrap().is_empty());
    assert!(accounts.list_cards(&nobody).await.unwrap().is_empty());
    let address = AddressId::generate();
    assert!(!accounts.remove_address(&nobody, &address).await.unwrap());
    assert!(
        !accounts
            .remove_card(&nobody, &CardId::generate())
            .await
            .unwrap()
    );
    assert_eq!(accounts.count_users(&EVERYONE).await.unwrap(), 1);
}

pub async fn emails_are_unique(stores: Stores) {
    create(&stores, &user("ann")).await;
    let clash = User {
        email: user("ann").email,
        ..user("annette")
    };

    let err = stores
        .accounts
        .create_user(&clash, "hash")
        .await
        .expect_err("a second account with the same email is refused");

    assert!(
        matches!(err, StoreError::Conflict { field: "email" }),
        "{err:?}"
    );
    assert_eq!(stores.accounts.get_user(&clash.id).await.unwrap(), None);
    assert_eq!(
        stores
            .accounts
            .find_user_by_username("annette")
            .await
            .unwrap(),
        None
    );
    assert_eq!(stores.accounts.count_users(&EVERYONE).await.unwrap(), 1);
}

pub async fn usernames_are_unique(stores: Stores) {
    create(&stores, &user("ann")).await;
    let clash = User {
        username: user("ann").username,
        ..user("annette")
    };

    let err = stores
        .accounts
        .create_user(&clash, "hash")
        .await
        .expect_err("a second account with the same username is refused");

    assert!(
        matches!(err, StoreError::Conflict { field: "username" }),
        "{err:?}"
    );
    assert_eq!(stores.accounts.get_user(&clash.id).await.unwrap(), None);
    assert_eq!(
        stores
            .accounts
            .find_user_by_email("annette@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(stores.accounts.count_users(&EVERYONE).await.unwrap(), 1);
}

pub async fn a_username_that_looks_like_a_taken_one_is_a_username_conflict(stores: Stores) {
    create(&stores, &user("ann_l")).await;

    // `1` looks like `l`; stored names are trusted, so one in Cyrillic (U+0430) is checked
    // by its skeleton too.
    for look_alike in ["ann_1", "\u{430}nn_l"] {
        let clash = user(look_alike);
        let err = stores
            .accounts
            .create_user(&clash, "hash")
            .await
            .expect_err(look_alike);
        assert!(
            matches!(err, StoreError::Conflict { field: "username" }),
            "{look_alike}: {err:?}"
        );
        assert_eq!(stores.accounts.get_user(&clash.id).await.unwrap(), None);
    }
    // `0` and `o` do not look alike.
    create(&stores, &user("ann_o")).await;
    create(&stores, &user("ann_0")).await;
    assert_eq!(stores.accounts.count_users(&EVERYONE).await.unwrap(), 3);
}

pub async fn of_two_concurrent_look_alike_usernames_exactly_one_is_created(stores: Stores) {
    for round in 0..10 {
        let pair = [
            user(&format!("rn_{round}_1")),
            user(&format!("m_{round}_l")),
        ];
        let attempts: Vec<_> = pair
            .iter()
            .map(|candidate| {
                let (accounts, candidate) = (stores.accounts.clone(), candidate.clone());
                tokio::spawn(async move { accounts.create_user(&candidate, "hash").await })
            })
            .collect();
        let mut created = 0;
        for attempt in attempts {
            match attempt.await.expect("the create task finishes") {
                Ok(()) => created += 1,
                Err(StoreError::Conflict { field: "username" }) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(created, 1, "round {round}");
    }
    assert_eq!(stores.accounts.count_users(&EVERYONE).await.unwrap(), 10);
}

pub async fn get_many_users_skips_unknown_ids_and_duplicates(stores: Stores) {
    let (ann, bob, cid) = (user("ann"), user("bob"), user("cid"));
    for u in [&ann, &bob, &cid] {
        create(&stores, u).await;
    }

    let found = stores
        .accounts
        .get_many_users(&[
            bob.id.clone(),
            UserId::generate(),
            ann.id.clone(),
            bob.id.clone(),
        ])
        .await
        .unwrap();

    assert_eq!(by_id(found), by_id(vec![ann, bob]));
}

pub async fn password_hashes_are_stored_and_replaced(stores: Stores) {
    let ann = user("ann");
    stores.accounts.create_user(&ann, "hash-1").await.unwrap();
    assert_eq!(
        stores
            .accounts
            .get_password_hash(&ann.id)
            .await
            .unwrap()
            .as_deref(),
        Some("hash-1")
    );

    let later = now() + ms(5);
    stores
        .accounts
        .set_password_hash(&ann.id, "hash-2", later)
        .await
        .unwrap();

    assert_eq!(
        stores
            .accounts
            .get_password_hash(&ann.id)
            .await
            .unwrap()
            .as_deref(),
        Some("hash-2")
    );
    let stored = stores.accounts.get_user(&ann.id).await.unwrap().unwrap();
    assert_eq!(stored.updated_at, later);
}

pub async fn update_profile_sets_clears_and_leaves_fields(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let later = now() + ms(9);
    let patch = ProfilePatch {
        display_name: Some("Anna Karenina".into()),
        bio: Some(Some("New bio".into())),
        avatar_url: None,
        phone: Some(None),
    };

    let updated = stores
        .accounts
        .update_profile(&ann.id, &patch, later)
        .await
        .unwrap();

    let expected = User {
        display_name: "Anna Karenina".into(),
        bio: Some("New bio".into()),
        phone: None,
        updated_at: later,
        ..ann.clone()
    };
    assert_eq!(updated, Some(expected.clone()));
    assert_eq!(
        stores.accounts.get_user(&ann.id).await.unwrap(),
        Some(expected)
    );
    // The search copy of the display name follows the change.
    let search = |text: &str| UserSearch {
        text: Some(text.into()),
        ..UserSearch::default()
    };
    assert_eq!(
        stores
            .accounts
            .count_users(&search("karenina"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        stores
            .accounts
            .count_users(&search("display"))
            .await
            .unwrap(),
        0
    );
}

pub async fn an_empty_profile_patch_only_touches_updated_at(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let later = now() + ms(3);

    let updated = stores
        .accounts
        .update_profile(&ann.id, &ProfilePatch::default(), later)
        .await
        .unwrap();

    assert_eq!(
        updated,
        Some(User {
            updated_at: later,
            ..ann
        })
    );
}

pub async fn roles_and_activation_are_updated(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let (t1, t2) = (now() + ms(1), now() + ms(2));

    let promoted = stores
        .accounts
        .set_roles(&ann.id, &[Role::Buyer, Role::Admin], t1)
        .await
        .unwrap()
        .expect("ann exists");
    assert_eq!(promoted.roles, vec![Role::Buyer, Role::Admin]);
    assert_eq!(promoted.updated_at, t1);

    let deactivated = stores
        .accounts
        .set_active(&ann.id, false, t2)
        .await
        .unwrap()
        .expect("ann exists");
    assert!(!deactivated.active);
    assert_eq!(deactivated.updated_at, t2);
    assert_eq!(deactivated.roles, vec![Role::Buyer, Role::Admin]);
    assert_eq!(
        stores.accounts.get_user(&ann.id).await.unwrap(),
        Some(deactivated)
    );
}

pub async fn email_verification_is_recorded_and_unknown_users_find_nothing(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now() + ms(3);

    let verified = stores
        .accounts
        .set_email_verified(&ann.id, true, t)
        .await
        .unwrap()
        .expect("ann exists");

    assert_eq!(
        verified,
        User {
            email_verified: true,
            updated_at: t,
            ..ann.clone()
        }
    );
    assert_eq!(
        stores.accounts.get_user(&ann.id).await.unwrap(),
        Some(verified)
    );
    let unverified = stores
        .accounts
        .set_email_verified(&ann.id, false, t + ms(1))
        .await
        .unwrap()
        .expect("ann exists");
    assert!(!unverified.email_verified);
    assert_eq!(
        stores
            .accounts
            .set_email_verified(&UserId::generate(), true, t)
            .await
            .unwrap(),
        None
    );
}

pub async fn users_are_found_by_many_usernames_at_once(stores: Stores) {
    let (ann, bob) = (user("ann"), user("bob"));
    create(&stores, &ann).await;
    create(&stores, &bob).await;
    let names = ["bob".to_owned(), "nobody".to_owned(), "ann".to_owned()];
    let found = by_id(
        stores
            .accounts
            .find_users_by_usernames(&names)
            .await
            .unwrap(),
    );
    assert_eq!(found, by_id(vec![ann, bob]));
    assert!(
        stores
            .accounts
            .find_users_by_usernames(&[])
            .await
            .unwrap()
            .is_empty()
    );
}
