//! Users: creation, lookups, uniqueness, password hashes, profile updates, and search
//! (substring matching, filters, metacharacters and keyset pagination).

use agora::domain::{ProfilePatch, Role, User, UserId};
use agora::store::{PageRequest, StoreError, Stores, UserSearch};

use crate::fixtures::{by_id, create, first, ms, now, page, user, user_named};

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

    let users = &stores.users;
    assert_eq!(users.get_user(&ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(
        users.find_user_by_email("ann@example.com").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(
        users.find_user_by_username("ann").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(
        users
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

    assert_eq!(stores.users.get_user(&bare.id).await.unwrap(), Some(bare));
}

pub async fn unknown_ids_find_nothing(stores: Stores) {
    create(&stores, &user("ann")).await;
    let users = &stores.users;
    let nobody = UserId::generate();
    let t = now();

    assert_eq!(users.get_user(&nobody).await.unwrap(), None);
    assert!(
        users
            .get_many_users(std::slice::from_ref(&nobody))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(users.get_many_users(&[]).await.unwrap().is_empty());
    assert_eq!(
        users
            .find_user_by_email("nobody@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(users.find_user_by_username("nobody").await.unwrap(), None);
    assert_eq!(users.get_password_hash(&nobody).await.unwrap(), None);
    users.set_password_hash(&nobody, "x", t).await.unwrap();
    assert_eq!(users.get_password_hash(&nobody).await.unwrap(), None);
    let patch = ProfilePatch {
        display_name: Some("Ghost".into()),
        ..ProfilePatch::default()
    };
    assert_eq!(
        users.update_profile(&nobody, &patch, t).await.unwrap(),
        None
    );
    assert_eq!(
        users.set_roles(&nobody, &[Role::Admin], t).await.unwrap(),
        None
    );
    assert_eq!(users.set_active(&nobody, false, t).await.unwrap(), None);
    assert_eq!(users.count_users(&EVERYONE).await.unwrap(), 1);
}

pub async fn emails_are_unique(stores: Stores) {
    create(&stores, &user("ann")).await;
    let clash = User {
        email: user("ann").email,
        ..user("annette")
    };

    let err = stores
        .users
        .create_user(&clash, "hash")
        .await
        .expect_err("a second account with the same email is refused");

    assert!(
        matches!(err, StoreError::Conflict { field: "email" }),
        "{err:?}"
    );
    assert_eq!(stores.users.get_user(&clash.id).await.unwrap(), None);
    assert_eq!(
        stores.users.find_user_by_username("annette").await.unwrap(),
        None
    );
    assert_eq!(stores.users.count_users(&EVERYONE).await.unwrap(), 1);
}

pub async fn usernames_are_unique(stores: Stores) {
    create(&stores, &user("ann")).await;
    let clash = User {
        username: user("ann").username,
        ..user("annette")
    };

    let err = stores
        .users
        .create_user(&clash, "hash")
        .await
        .expect_err("a second account with the same username is refused");

    assert!(
        matches!(err, StoreError::Conflict { field: "username" }),
        "{err:?}"
    );
    assert_eq!(stores.users.get_user(&clash.id).await.unwrap(), None);
    assert_eq!(
        stores
            .users
            .find_user_by_email("annette@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(stores.users.count_users(&EVERYONE).await.unwrap(), 1);
}

pub async fn a_username_that_looks_like_a_taken_one_is_a_username_conflict(stores: Stores) {
    create(&stores, &user("ann_l")).await;

    // `1` looks like `l`; stored names are trusted, so one in Cyrillic (U+0430) is checked
    // by its skeleton too.
    for look_alike in ["ann_1", "\u{430}nn_l"] {
        let clash = user(look_alike);
        let err = stores
            .users
            .create_user(&clash, "hash")
            .await
            .expect_err(look_alike);
        assert!(
            matches!(err, StoreError::Conflict { field: "username" }),
            "{look_alike}: {err:?}"
        );
        assert_eq!(stores.users.get_user(&clash.id).await.unwrap(), None);
    }
    // `0` and `o` do not look alike.
    create(&stores, &user("ann_o")).await;
    create(&stores, &user("ann_0")).await;
    assert_eq!(stores.users.count_users(&EVERYONE).await.unwrap(), 3);
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
                let (users, candidate) = (stores.users.clone(), candidate.clone());
                tokio::spawn(async move { users.create_user(&candidate, "hash").await })
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
    assert_eq!(stores.users.count_users(&EVERYONE).await.unwrap(), 10);
}

pub async fn get_many_users_skips_unknown_ids_and_duplicates(stores: Stores) {
    let (ann, bob, cid) = (user("ann"), user("bob"), user("cid"));
    for u in [&ann, &bob, &cid] {
        create(&stores, u).await;
    }

    let found = stores
        .users
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
    stores.users.create_user(&ann, "hash-1").await.unwrap();
    assert_eq!(
        stores
            .users
            .get_password_hash(&ann.id)
            .await
            .unwrap()
            .as_deref(),
        Some("hash-1")
    );

    let later = now() + ms(5);
    stores
        .users
        .set_password_hash(&ann.id, "hash-2", later)
        .await
        .unwrap();

    assert_eq!(
        stores
            .users
            .get_password_hash(&ann.id)
            .await
            .unwrap()
            .as_deref(),
        Some("hash-2")
    );
    let stored = stores.users.get_user(&ann.id).await.unwrap().unwrap();
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
        .users
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
        stores.users.get_user(&ann.id).await.unwrap(),
        Some(expected)
    );
    // The search copy of the display name follows the change.
    let search = |text: &str| UserSearch {
        text: Some(text.into()),
        ..UserSearch::default()
    };
    assert_eq!(
        stores.users.count_users(&search("karenina")).await.unwrap(),
        1
    );
    assert_eq!(
        stores.users.count_users(&search("display")).await.unwrap(),
        0
    );
}

pub async fn an_empty_profile_patch_only_touches_updated_at(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let later = now() + ms(3);

    let updated = stores
        .users
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
        .users
        .set_roles(&ann.id, &[Role::Buyer, Role::Admin], t1)
        .await
        .unwrap()
        .expect("ann exists");
    assert_eq!(promoted.roles, vec![Role::Buyer, Role::Admin]);
    assert_eq!(promoted.updated_at, t1);

    let deactivated = stores
        .users
        .set_active(&ann.id, false, t2)
        .await
        .unwrap()
        .expect("ann exists");
    assert!(!deactivated.active);
    assert_eq!(deactivated.updated_at, t2);
    assert_eq!(deactivated.roles, vec![Role::Buyer, Role::Admin]);
    assert_eq!(
        stores.users.get_user(&ann.id).await.unwrap(),
        Some(deactivated)
    );
}

pub async fn email_verification_is_recorded_and_unknown_users_find_nothing(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now() + ms(3);

    let verified = stores
        .users
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
        stores.users.get_user(&ann.id).await.unwrap(),
        Some(verified)
    );
    let unverified = stores
        .users
        .set_email_verified(&ann.id, false, t + ms(1))
        .await
        .unwrap()
        .expect("ann exists");
    assert!(!unverified.email_verified);
    assert_eq!(
        stores
            .users
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
    let found = by_id(stores.users.find_users_by_usernames(&names).await.unwrap());
    assert_eq!(found, by_id(vec![ann, bob]));
    assert!(
        stores
            .users
            .find_users_by_usernames(&[])
            .await
            .unwrap()
            .is_empty()
    );
}

// Search.

fn text(text: &str) -> UserSearch {
    UserSearch {
        text: Some(text.to_owned()),
        ..UserSearch::default()
    }
}

/// The usernames of the first 100 matches, in the store's order, after checking that
/// `count_users` agrees with the number of matches.
async fn usernames(stores: &Stores, search: &UserSearch) -> Vec<String> {
    let page = stores
        .users
        .search_users(search, &first(100))
        .await
        .unwrap();
    let names: Vec<String> = page
        .items
        .iter()
        .map(|u| u.username.as_str().to_owned())
        .collect();
    assert_eq!(
        stores.users.count_users(search).await.unwrap(),
        names.len() as u64,
        "count_users disagrees with search_users for {search:?}"
    );
    names
}

pub async fn search_matches_username_and_display_name_case_insensitively(stores: Stores) {
    for u in [
        user_named("carol", "Carol Danvers"),
        user_named("alice_w", "Alice Wonder"),
        user_named("bob", "Robert Marley"),
    ] {
        create(&stores, &u).await;
    }

    assert_eq!(usernames(&stores, &text("lic")).await, ["alice_w"]);
    assert_eq!(usernames(&stores, &text("ALICE")).await, ["alice_w"]);
    assert_eq!(usernames(&stores, &text("wONDer")).await, ["alice_w"]);
    assert_eq!(usernames(&stores, &text("ar")).await, ["bob", "carol"]);
    assert_eq!(usernames(&stores, &text("zzz")).await, Vec::<String>::new());
    assert_eq!(
        usernames(&stores, &UserSearch::default()).await,
        ["alice_w", "bob", "carol"]
    );
    assert_eq!(
        usernames(&stores, &text("")).await,
        ["alice_w", "bob", "carol"]
    );
}

pub async fn non_ascii_display_names_match_in_any_case(stores: Stores) {
    create(&stores, &user_named("aliya", "Әлия Нұрланқызы")).await;
    create(&stores, &user_named("ali", "Ali")).await;

    for query in ["әлия", "ӘЛИЯ", "Әлия", "нұрлан", "ҚЫЗЫ"] {
        assert_eq!(usernames(&stores, &text(query)).await, ["aliya"], "{query}");
    }
}

pub async fn emails_match_only_when_asked(stores: Stores) {
    let dave = user_named("dave", "Dave");
    let dave = User {
        email: agora::domain::Email::from_trusted("d.hidden@corp.example".into()),
        ..dave
    };
    create(&stores, &dave).await;
    create(&stores, &user("erin")).await;

    assert!(usernames(&stores, &text("hidden")).await.is_empty());
    let with_email = UserSearch {
        match_email: true,
        ..text("HIDDEN@corp")
    };
    assert_eq!(usernames(&stores, &with_email).await, ["dave"]);
}

pub async fn inactive_users_are_hidden_unless_included(stores: Stores) {
    let (ann, bob) = (user("ann"), user("bob"));
    create(&stores, &ann).await;
    create(&stores, &bob).await;
    stores
        .users
        .set_active(&bob.id, false, now())
        .await
        .unwrap();

    assert_eq!(usernames(&stores, &UserSearch::default()).await, ["ann"]);
    assert!(usernames(&stores, &text("bob")).await.is_empty());
    let admin_view = UserSearch {
        include_inactive: true,
        ..UserSearch::default()
    };
    assert_eq!(usernames(&stores, &admin_view).await, ["ann", "bob"]);
    let admin_search = UserSearch {
        include_inactive: true,
        ..text("bob")
    };
    assert_eq!(usernames(&stores, &admin_search).await, ["bob"]);
}

pub async fn search_metacharacters_are_literal(stores: Stores) {
    for u in [
        user_named("percent", "50% off"),
        user_named("digits", "500 off"),
        user_named("underscore", "a_b"),
        user_named("plain", "axb"),
        user_named("regex", "fan of .* globs"),
        user_named("dots", "fan of ... dots"),
        user_named("slash", r"back\slash"),
        user_named("parens", "smile (: [x]"),
    ] {
        create(&stores, &u).await;
    }

    assert_eq!(usernames(&stores, &text("0%")).await, ["percent"]);
    assert_eq!(usernames(&stores, &text("%")).await, ["percent"]);
    assert_eq!(usernames(&stores, &text("a_b")).await, ["underscore"]);
    assert_eq!(usernames(&stores, &text(".*")).await, ["regex"]);
    assert_eq!(usernames(&stores, &text("...")).await, ["dots"]);
    assert_eq!(usernames(&stores, &text(r"\")).await, ["slash"]);
    assert_eq!(usernames(&stores, &text(r"k\s")).await, ["slash"]);
    assert_eq!(usernames(&stores, &text("(: [")).await, ["parens"]);
    assert_eq!(
        usernames(&stores, &text("^fan")).await,
        Vec::<String>::new()
    );
    assert_eq!(usernames(&stores, &text("s$")).await, Vec::<String>::new());
}

/// Walks every page of `search` with `limit` items per page, checking each page's size and
/// `has_next`, and returns the usernames in the order seen.
async fn walk(stores: &Stores, search: &UserSearch, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = stores
            .users
            .search_users(search, &page(limit, after))
            .await
            .unwrap();
        assert!(page.items.len() <= limit);
        if page.has_next {
            assert_eq!(page.items.len(), limit, "only the last page may be short");
        }
        seen.extend(page.items.iter().map(|u| u.username.as_str().to_owned()));
        if !page.has_next {
            return seen;
        }
        after = seen.last().cloned();
    }
}

pub async fn pages_cover_every_match_once_in_username_order(stores: Stores) {
    // Created out of order, with one user that does not match.
    for name in [
        "user_05", "user_02", "user_07", "user_01", "someone", "user_06", "user_03", "user_04",
    ] {
        create(&stores, &user(name)).await;
    }
    let search = text("user_");
    let expected: Vec<String> = (1..=7).map(|n| format!("user_{n:02}")).collect();

    for limit in [1, 2, 3, 6, 7, 8, 100] {
        assert_eq!(
            walk(&stores, &search, limit).await,
            expected,
            "limit {limit}"
        );
    }
    assert_eq!(stores.users.count_users(&search).await.unwrap(), 7);

    let second = stores
        .users
        .search_users(&search, &page(3, Some("user_03".into())))
        .await
        .unwrap();
    let names: Vec<_> = second.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["user_04", "user_05", "user_06"]);
    assert!(second.has_next);
}

pub async fn an_exactly_full_last_page_has_no_next(stores: Stores) {
    for name in ["ann", "bob", "cid", "dan"] {
        create(&stores, &user(name)).await;
    }

    let page = stores
        .users
        .search_users(&UserSearch::default(), &first(4))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);
    assert!(!page.has_next);

    let after_last = stores
        .users
        .search_users(
            &UserSearch::default(),
            &PageRequest {
                after: Some("dan".into()),
                limit: 4,
            },
        )
        .await
        .unwrap();
    assert!(after_last.items.is_empty());
    assert!(!after_last.has_next);
}
