//! Notification floods: the same actor toggling the same thing (react/unreact,
//! follow/unfollow) leaves one unread notification, pushed once and replayed once, until the
//! recipient reads it; on the default configuration the rate limits cut the flood off too.

use agora::config::RatePolicy;
use serde_json::{Value, json};

use crate::helpers::{
    Account, NOTIFICATIONS, TestApp, create_post, follow, kind_and_actor, listening,
    next_notification, spawn_app, spawn_app_with,
};

const REACT: &str = "mutation($p: ID!) { react(postId: $p, kind: LOVE) { id } }";
const UNREACT: &str = "mutation($p: ID!) { unreact(postId: $p) { id } }";
const FOLLOW: &str = "mutation($u: ID!) { follow(userId: $u) { id } }";
const UNFOLLOW: &str = "mutation($u: ID!) { unfollow(userId: $u) { id } }";

/// An app whose reaction and follow limits let 200 toggles through.
async fn spawn_app_for_floods() -> TestApp {
    spawn_app_with(|c| {
        c.rate_limits.reaction_per_user = RatePolicy::new(1000, 60);
        c.rate_limits.follow_per_user = RatePolicy::new(1000, 60);
    })
    .await
}

/// `who` runs `on` then `off` (with `variables`) `times` times each, alternating; returns how
/// many of the 2 × `times` were refused with `RATE_LIMITED` (any other error fails the test).
async fn toggle(
    app: &TestApp,
    who: &Account,
    (on, off): (&str, &str),
    variables: Value,
    times: usize,
) -> usize {
    let mut refused = 0;
    for _ in 0..times {
        for mutation in [on, off] {
            let (_, body) = app
                .post(Some(&who.access), mutation, variables.clone())
                .await;
            match body.get("errors") {
                None => {}
                Some(errors) => {
                    assert_eq!(errors[0]["extensions"]["code"], "RATE_LIMITED", "{body}");
                    refused += 1;
                }
            }
        }
    }
    refused
}

/// The viewer's unread notifications as (kind, actor), newest first, and the unread count.
async fn unread(app: &TestApp, who: &Account) -> (Vec<(String, String)>, Value) {
    let data = app
        .data(
            Some(&who.access),
            NOTIFICATIONS,
            json!({ "u": true, "n": 50 }),
        )
        .await;
    let kinds = data["notifications"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| kind_and_actor(&edge["node"]))
        .collect();
    (kinds, data["unreadNotificationsCount"].clone())
}

fn pair(kind: &str, actor: &str) -> (String, String) {
    (kind.to_owned(), actor.to_owned())
}

/// Ann sends `on`/`off` (with `variables`) 100 times each at Bob, between a follow by Dan
/// and one by Cat. Asserts that Ann's `kind` was pushed to Bob once, between the two; that it
/// is his one unread notification from Ann; that a reconnect after Dan's replays it once; and
/// that once Bob has read it, Ann's next `on` is pushed as a new notification.
async fn assert_a_flood_notifies_once(
    app: &TestApp,
    [ann, bob, cat, dan]: [&Account; 4],
    (on, off): (&str, &str),
    variables: Value,
    kind: &str,
) {
    let mut bobs = listening(app, bob, None).await;
    follow(app, dan, bob).await;
    let before = next_notification(&mut bobs).await;
    assert_eq!(kind_and_actor(&before), pair("FOLLOWED", "dan"));

    let refused = toggle(app, ann, (on, off), variables.clone(), 100).await;
    assert_eq!(refused, 0);
    // Cat's follow comes after every toggle in the event log: when it arrives, every toggle
    // has been dealt with.
    follow(app, cat, bob).await;

    let pushed = next_notification(&mut bobs).await;
    assert_eq!(kind_and_actor(&pushed), pair(kind, "ann"));
    assert_eq!(
        kind_and_actor(&next_notification(&mut bobs).await),
        pair("FOLLOWED", "cat"),
        "ann's was pushed once"
    );
    let (kinds, count) = unread(app, bob).await;
    assert_eq!(
        kinds,
        [
            pair("FOLLOWED", "cat"),
            pair(kind, "ann"),
            pair("FOLLOWED", "dan")
        ]
    );
    assert_eq!(count, 3);
    let mut again = listening(app, bob, before["cursor"].as_str()).await;
    assert_eq!(next_notification(&mut again).await["id"], pushed["id"]);
    assert_eq!(
        kind_and_actor(&next_notification(&mut again).await),
        pair("FOLLOWED", "cat")
    );

    let marked = app
        .data(
            Some(&bob.access),
            "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }",
            json!({ "ids": [pushed["id"]] }),
        )
        .await;
    assert_eq!(marked["markNotificationsRead"], 1);
    app.data(Some(&ann.access), on, variables).await;
    let news = next_notification(&mut bobs).await;
    assert_eq!(kind_and_actor(&news), pair(kind, "ann"));
    assert_ne!(news["id"], pushed["id"]);
    assert_eq!(unread(app, bob).await.1, 3);
}

/// Four users for a flood: Ann floods Bob; Cat and Dan follow him.
async fn ann_bob_cat_dan(app: &TestApp) -> [Account; 4] {
    [
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
        app.register("dan").await,
    ]
}

#[tokio::test]
async fn two_hundred_reaction_toggles_leave_one_unread_notification_pushed_once() {
    let app = spawn_app_for_floods().await;
    let users = ann_bob_cat_dan(&app).await;
    let post = create_post(&app, &users[1], "bob's post").await;
    assert_a_flood_notifies_once(
        &app,
        users.each_ref(),
        (REACT, UNREACT),
        json!({ "p": post }),
        "POST_REACTED",
    )
    .await;
}

#[tokio::test]
async fn two_hundred_follow_toggles_leave_one_unread_notification_pushed_once() {
    let app = spawn_app_for_floods().await;
    let users = ann_bob_cat_dan(&app).await;
    let bob = json!({ "u": users[1].id });
    assert_a_flood_notifies_once(&app, users.each_ref(), (FOLLOW, UNFOLLOW), bob, "FOLLOWED").await;
}

#[tokio::test]
async fn two_hundred_toggles_on_the_default_configuration_are_cut_off_and_notify_once() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let post = create_post(&app, &bob, "bob's post").await;
    let mut bobs = listening(&app, &bob, None).await;

    let started = std::time::Instant::now();
    let refused = toggle(&app, &ann, (REACT, UNREACT), json!({ "p": post }), 100).await;
    let refused_follows = toggle(&app, &ann, (FOLLOW, UNFOLLOW), json!({ "u": bob.id }), 100).await;
    println!("400 toggles answered in {:?}", started.elapsed());

    let defaults = agora::config::RateLimitConfig::default();
    assert_eq!(refused, 200 - defaults.reaction_per_user.limit as usize);
    assert_eq!(
        refused_follows,
        200 - defaults.follow_per_user.limit as usize
    );
    follow(&app, &cat, &bob).await;
    assert_eq!(
        kind_and_actor(&next_notification(&mut bobs).await),
        pair("POST_REACTED", "ann")
    );
    assert_eq!(
        kind_and_actor(&next_notification(&mut bobs).await),
        pair("FOLLOWED", "ann")
    );
    assert_eq!(
        kind_and_actor(&next_notification(&mut bobs).await),
        pair("FOLLOWED", "cat")
    );
    assert_eq!(unread(&app, &bob).await.1, 3);
    // The server still answers at once.
    let answered = app.data(None, "{ __typename }", json!({})).await;
    assert_eq!(answered["__typename"], "Query");
}
