//! Following and blocking over the API: the mutations, their refusals, the graph fields of
//! `User` and the followers / following connections.

use agora::events::DomainEvent;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, spawn_app};

const GRAPH_FIELDS: &str =
    "id username followersCount followingCount viewerFollows isBlockedByViewer";

/// Runs one of the four graph mutations as `who` on `target` and returns the user it
/// answers with.
async fn mutate(app: &TestApp, who: &Account, mutation: &str, target: &str) -> Value {
    let query = format!("mutation($u: ID!) {{ {mutation}(userId: $u) {{ {GRAPH_FIELDS} }} }}");
    app.data(Some(&who.access), &query, json!({ "u": target }))
        .await[mutation]
        .clone()
}

/// The first error's code and `extensions.field` of a graph mutation.
async fn refusal(
    app: &TestApp,
    token: Option<&str>,
    mutation: &str,
    target: &str,
) -> (String, Value) {
    let query = format!("mutation($u: ID!) {{ {mutation}(userId: $u) {{ id }} }}");
    let (code, body) = app.error_code(token, &query, json!({ "u": target })).await;
    (code, body["errors"][0]["extensions"]["field"].clone())
}

/// `user(id:)` with the graph fields, as `who` sees it.
async fn user_as(app: &TestApp, who: Option<&Account>, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ user(id: $id) {{ {GRAPH_FIELDS} }} }}");
    app.data(who.map(|a| a.access.as_str()), &query, json!({ "id": id }))
        .await["user"]
        .clone()
}

#[tokio::test]
async fn following_is_idempotent_and_shows_on_both_users() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);

    let first = mutate(&app, &ann, "follow", &bob.id).await;
    let again = mutate(&app, &ann, "follow", &bob.id).await;

    for bob_seen in [&first, &again] {
        assert_eq!(bob_seen["followersCount"], 1);
        assert_eq!(bob_seen["viewerFollows"], true);
        assert_eq!(bob_seen["isBlockedByViewer"], false);
    }
    let ann_seen = user_as(&app, Some(&bob), &ann.id).await;
    assert_eq!(ann_seen["followingCount"], 1);
    assert_eq!(ann_seen["followersCount"], 0);
    assert_eq!(ann_seen["viewerFollows"], false);
}

#[tokio::test]
async fn unfollowing_is_idempotent_and_drops_the_counts() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    mutate(&app, &ann, "follow", &bob.id).await;

    let first = mutate(&app, &ann, "unfollow", &bob.id).await;
    let again = mutate(&app, &ann, "unfollow", &bob.id).await;

    for bob_seen in [&first, &again] {
        assert_eq!(bob_seen["followersCount"], 0);
        assert_eq!(bob_seen["viewerFollows"], false);
    }
    assert_eq!(user_as(&app, None, &ann.id).await["followingCount"], 0);
}

#[tokio::test]
async fn blocking_and_unblocking_return_the_user_with_the_viewers_block() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);

    let blocked = mutate(&app, &ann, "block", &bob.id).await;
    assert_eq!(blocked["isBlockedByViewer"], true);
    assert_eq!(mutate(&app, &ann, "block", &bob.id).await, blocked);

    let unblocked = mutate(&app, &ann, "unblock", &bob.id).await;
    assert_eq!(unblocked["isBlockedByViewer"], false);
    assert_eq!(mutate(&app, &ann, "unblock", &bob.id).await, unblocked);
}

#[tokio::test]
async fn every_graph_mutation_needs_a_login() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;

    for mutation in ["follow", "unfollow", "block", "unblock"] {
        for target in [bob.id.as_str(), "not an id!"] {
            let (code, _) = refusal(&app, None, mutation, target).await;
            assert_eq!(code, "UNAUTHENTICATED", "{mutation} {target}");
        }
    }
}

#[tokio::test]
async fn targeting_yourself_or_a_malformed_id_is_bad_input_on_user_id() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;

    for mutation in ["follow", "unfollow", "block", "unblock"] {
        for target in [ann.id.as_str(), "not an id!"] {
            let (code, field) = refusal(&app, Some(&ann.access), mutation, target).await;
            assert_eq!(code, "BAD_USER_INPUT", "{mutation} {target}");
            assert_eq!(field, "userId", "{mutation} {target}");
        }
    }
    assert_eq!(user_as(&app, None, &ann.id).await["followingCount"], 0);
}

#[tokio::test]
async fn unknown_and_deactivated_users_are_not_found() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let admin = app.admin().await;
    app.data(
        Some(&admin.access),
        "mutation($u: ID!) { setUserActive(userId: $u, active: false) { id } }",
        json!({ "u": bob.id }),
    )
    .await;

    for mutation in ["follow", "unfollow", "block", "unblock"] {
        for target in [bob.id.as_str(), "0000000000000000000000000000dead"] {
            let (code, _) = refusal(&app, Some(&ann.access), mutation, target).await;
            assert_eq!(code, "NOT_FOUND", "{mutation} {target}");
        }
    }
}

#[tokio::test]
async fn a_block_ends_follows_both_ways_and_stops_new_ones_until_lifted() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    mutate(&app, &ann, "follow", &bob.id).await;
    mutate(&app, &bob, "follow", &ann.id).await;

    let bob_seen = mutate(&app, &ann, "block", &bob.id).await;

    assert_eq!(bob_seen["isBlockedByViewer"], true);
    assert_eq!(bob_seen["viewerFollows"], false);
    assert_eq!(
        (&bob_seen["followersCount"], &bob_seen["followingCount"]),
        (&json!(0), &json!(0))
    );
    let ann_seen = user_as(&app, Some(&bob), &ann.id).await;
    assert_eq!(
        (&ann_seen["followersCount"], &ann_seen["followingCount"]),
        (&json!(0), &json!(0))
    );
    // Bob did not block ann, and is not told that she blocked him.
    assert_eq!(ann_seen["isBlockedByViewer"], false);
    for (who, target) in [(&bob, &ann), (&ann, &bob)] {
        let (code, _) = refusal(&app, Some(&who.access), "follow", &target.id).await;
        assert_eq!(code, "FORBIDDEN");
    }
    assert_eq!(user_as(&app, None, &bob.id).await["followersCount"], 0);

    let bob_seen = mutate(&app, &ann, "unblock", &bob.id).await;
    assert_eq!(bob_seen["isBlockedByViewer"], false);
    assert_eq!(
        bob_seen["followersCount"], 0,
        "unblocking restores no follows"
    );
    let ann_seen = mutate(&app, &bob, "follow", &ann.id).await;
    assert_eq!(ann_seen["followersCount"], 1);
    assert_eq!(ann_seen["viewerFollows"], true);
}

const FOLLOWERS_PAGE: &str = "query($id: ID!, $after: String) { user(id: $id) {
    followers(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { cursor node { username viewerFollows } } } } }";

#[tokio::test]
async fn follower_pages_neither_repeat_nor_skip_when_someone_follows_in_between() {
    let app = spawn_app().await;
    let star = app.register("star").await;
    let mut fans = Vec::new();
    for name in ["fan_a", "fan_b", "fan_c", "fan_d", "fan_e"] {
        let fan = app.register(name).await;
        mutate(&app, &fan, "follow", &star.id).await;
        fans.push(name);
    }
    let late = app.register("late").await;

    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = app
            .data(
                Some(&star.access),
                FOLLOWERS_PAGE,
                json!({ "id": star.id, "after": after }),
            )
            .await["user"]["followers"]
            .clone();
        pages += 1;
        if pages == 1 {
            assert_eq!(page["totalCount"], 5);
            mutate(&app, &late, "follow", &star.id).await;
        }
        for edge in page["edges"].as_array().expect("edges") {
            seen.push(edge["node"]["username"].as_str().unwrap().to_owned());
            assert_eq!(edge["node"]["viewerFollows"], false);
        }
        if page["pageInfo"]["hasNextPage"] != true {
            assert_eq!(page["totalCount"], 6);
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }

    fans.reverse();
    assert_eq!(seen, fans);
    assert_eq!(pages, 3);
    let fresh = app
        .data(
            None,
            FOLLOWERS_PAGE,
            json!({ "id": star.id, "after": null }),
        )
        .await;
    assert_eq!(
        fresh["user"]["followers"]["edges"][0]["node"]["username"],
        "late"
    );
}

#[tokio::test]
async fn following_lists_followees_and_a_foreign_cursor_is_bad_input() {
    let app = spawn_app().await;
    let (ann, bob, cid) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cid").await,
    );
    mutate(&app, &ann, "follow", &bob.id).await;
    mutate(&app, &ann, "follow", &cid.id).await;
    mutate(&app, &bob, "follow", &cid.id).await;

    let query = "query($id: ID!) { user(id: $id) { following(first: 10) {
        totalCount edges { node { username viewerFollows isBlockedByViewer } } } } }";
    let following = app
        .data(Some(&bob.access), query, json!({ "id": ann.id }))
        .await["user"]["following"]
        .clone();

    assert_eq!(following["totalCount"], 2);
    assert_eq!(
        following["edges"],
        json!([
            { "node": { "username": "cid", "viewerFollows": true, "isBlockedByViewer": false } },
            { "node": { "username": "bob", "viewerFollows": false, "isBlockedByViewer": false } },
        ])
    );
    // A `users` search cursor (base64 of a username) is not a position in this list.
    let (code, body) = app
        .error_code(
            None,
            "query($id: ID!) { user(id: $id) { following(after: \"Ym9i\") { totalCount } } }",
            json!({ "id": ann.id }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "after");
}

#[tokio::test]
async fn anonymous_viewers_follow_and_block_nobody() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    mutate(&app, &ann, "follow", &bob.id).await;
    mutate(&app, &bob, "block", &ann.id).await;

    let data = app
        .data(
            None,
            "{ users(first: 10) { nodes { username viewerFollows isBlockedByViewer } } }",
            json!({}),
        )
        .await;

    assert_eq!(
        data["users"]["nodes"],
        json!([
            { "username": "ann", "viewerFollows": false, "isBlockedByViewer": false },
            { "username": "bob", "viewerFollows": false, "isBlockedByViewer": false },
        ])
    );
}

#[tokio::test]
async fn only_a_new_follow_announces_followed() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let mut events = app.core.services.events.subscribe();

    mutate(&app, &ann, "follow", &bob.id).await;
    mutate(&app, &ann, "follow", &bob.id).await;
    mutate(&app, &ann, "unfollow", &bob.id).await;

    // Services publish before the mutation answers, and the log delivers in publish order:
    // once a marker published now arrives, every event of the mutations above has.
    let marker = agora::domain::ChatRoomId::generate();
    app.core
        .services
        .events
        .publish(DomainEvent::Typing {
            room_id: marker.clone(),
            user_id: agora::domain::UserId::generate(),
            members: Vec::new(),
        })
        .await;
    let mut followed = Vec::new();
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv())
            .await
            .expect("the marker arrives")
            .expect("the bus stays open");
        match &*event {
            DomainEvent::Followed { follower, followee } => {
                followed.push((follower.to_string(), followee.to_string()));
            }
            DomainEvent::Typing { room_id, .. } if *room_id == marker => break,
            _ => {}
        }
    }
    assert_eq!(followed, vec![(ann.id.clone(), bob.id.clone())]);
}
