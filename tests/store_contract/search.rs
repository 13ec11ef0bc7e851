//! User search: substring matching, filters, metacharacters and keyset pagination.

use agora::domain::User;
use agora::store::{PageRequest, Stores, UserSearch};

use crate::fixtures::{create, now, user, user_named};

fn text(text: &str) -> UserSearch {
    UserSearch {
        text: Some(text.to_owned()),
        ..UserSearch::default()
    }
}

fn first(limit: usize) -> PageRequest {
    PageRequest { after: None, limit }
}

/// The usernames of the first 100 matches, in the store's order, after checking that
/// `count_users` agrees with the number of matches.
async fn usernames(stores: &Stores, search: &UserSearch) -> Vec<String> {
    let page = stores
        .accounts
        .search_users(search, &first(100))
        .await
        .unwrap();
    let names: Vec<String> = page
        .items
        .iter()
        .map(|u| u.username.as_str().to_owned())
        .collect();
    assert_eq!(
        stores.accounts.count_users(search).await.unwrap(),
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
        .accounts
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
            .accounts
            .search_users(search, &PageRequest { after, limit })
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
    assert_eq!(stores.accounts.count_users(&search).await.unwrap(), 7);

    let second = stores
        .accounts
        .search_users(
            &search,
            &PageRequest {
                after: Some("user_03".into()),
                limit: 3,
            },
        )
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
        .accounts
        .search_users(&UserSearch::default(), &first(4))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);
    assert!(!page.has_next);

    let after_last = stores
        .accounts
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
