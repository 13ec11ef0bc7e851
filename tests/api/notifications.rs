//! Notifications over the real app: who is notified of what, reading and marking them, and
//! `notificationAdded` over both WebSocket protocols, with replay after a cursor.

use serde_json::{Value, json};

use crate::helpers::{
    Account, NOTIFICATION_ADDED, NOTIFICATIONS, TestApp, block, create_post, follow,
    kind_and_actor, listening, next_notification, open_chat, send_message, spawn_app,
    subscribed_legacy,
};

async fn comment(app: &TestApp, who: &Account, post: &str, parent: Option<&str>) -> String {
    app.data(
        Some(&who.access),
        "mutation($p: ID!, $parent: ID) { addComment(postId: $p, body: \"nice\", parentId: $parent) { id } }",
        json!({ "p": post, "parent": parent }),
    )
    .await["addComment"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn react(app: &TestApp, who: &Account, post: &str) {
    app.data(
        Some(&who.access),
        "mutation($p: ID!) { react(postId: $p, kind: LOVE) { id } }",
        json!({ "p": post }),
    )
    .await;
}

#[tokio::test]
async fn each_kind_reaches_its_recipient_and_nobody_else() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let mut bobs = listening(&app, &bob, None).await;
    let mut cats = listening(&app, &cat, None).await;

    follow(&app, &ann, &bob).await;
    let post = create_post(&app, &bob, "bob's post").await;
    let bobs_comment = comment(&app, &bob, &post, None).await;
    comment(&app, &ann, &post, Some(&bobs_comment)).await;
    comment(&app, &ann, &post, None).await;
    react(&app, &ann, &post).await;
    create_post(&app, &ann, "hello @bob").await;
    let room = open_chat(&app, &ann, &bob).await;
    send_message(&app, &ann, &room, "hi bob").await;
    // Bob's own actions (his post, his comment, his message) notify nobody but the others.
    send_message(&app, &bob, &room, "hi ann").await;

    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(next_notification(&mut bobs).await);
    }
    let kinds: Vec<(String, String)> = seen.iter().map(kind_and_actor).collect();
    let expected = [
        "FOLLOWED",
        "COMMENT_REPLIED",
        "POST_COMMENTED",
        "POST_REACTED",
        "MENTIONED",
        "MESSAGE_RECEIVED",
    ];
    assert_eq!(
        kinds,
        expected
            .iter()
            .map(|k| (k.to_string(), "ann".to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(seen[2]["post"]["body"], "bob's post");
    assert_eq!(seen[4]["post"]["body"], "hello @bob");
    assert_eq!(seen[5]["message"]["body"], "hi bob");

    // Cat was not involved: the first thing cat hears of is being followed now.
    follow(&app, &ann, &cat).await;
    assert_eq!(
        kind_and_actor(&next_notification(&mut cats).await),
        ("FOLLOWED".into(), "ann".into())
    );
    // And the stored list says the same as the stream, newest first.
    let list = app.data(Some(&bob.access), NOTIFICATIONS, json!({})).await;
    let stored: Vec<&str> = list["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    let mut newest_first = expected.to_vec();
    newest_first.reverse();
    assert_eq!(stored, newest_first);
    // Ann hears only of bob's message.
    let anns = app.data(Some(&ann.access), NOTIFICATIONS, json!({})).await;
    assert_eq!(anns["unreadNotificationsCount"], 1);
    assert_eq!(
        anns["notifications"]["edges"][0]["node"]["message"]["body"],
        "hi ann"
    );
}

#[tokio::test]
async fn a_blocked_pair_is_not_notified_of_each_other_in_a_shared_group() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let group = app
        .data(
            Some(&ann.access),
            "mutation($m: [ID!]!) { createGroupChat(title: \"trio\", memberIds: $m) { id } }",
            json!({ "m": [bob.id, cat.id] }),
        )
        .await["createGroupChat"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    block(&app, &bob, &ann).await;
    let mut bobs = listening(&app, &bob, None).await;
    let mut cats = listening(&app, &cat, None).await;

    send_message(&app, &ann, &group, "from ann").await;
    send_message(&app, &cat, &group, "from cat").await;

    let to_cat = next_notification(&mut cats).await;
    assert_eq!(to_cat["message"]["body"], "from ann");
    // Bob's first notification is cat's message: ann's never reached him.
    let to_bob = next_notification(&mut bobs).await;
    assert_eq!(to_bob["message"]["body"], "from cat");
}

#[tokio::test]
async fn marking_read_counts_what_was_unread_and_without_ids_marks_everything() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;
    let mut bobs = listening(&app, &bob, None).await;
    let mut followers = Vec::new();
    let mut accounts = Vec::new();
    for name in ["ann", "cat", "dan"] {
        let who = app.register(name).await;
        follow(&app, &who, &bob).await;
        followers.push(next_notification(&mut bobs).await);
        accounts.push(who);
    }
    let mark = "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }";
    let first_id = followers[0]["id"].clone();

    let marked = app
        .data(
            Some(&bob.access),
            mark,
            json!({ "ids": [first_id, first_id] }),
        )
        .await;
    assert_eq!(marked["markNotificationsRead"], 1);
    let unread = app
        .data(Some(&bob.access), NOTIFICATIONS, json!({ "u": true }))
        .await;
    assert_eq!(unread["unreadNotificationsCount"], 2);
    let unread_users: Vec<&str> = unread["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["actor"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(unread_users, ["dan", "cat"]);

    // Someone else's ids mark nothing of theirs.
    let ann = &accounts[0];
    let foreign = app
        .data(
            Some(&ann.access),
            mark,
            json!({ "ids": [followers[1]["id"]] }),
        )
        .await;
    assert_eq!(foreign["markNotificationsRead"], 0);

    let all = app.data(Some(&bob.access), mark, json!({})).await;
    assert_eq!(all["markNotificationsRead"], 2);
    let after = app.data(Some(&bob.access), NOTIFICATIONS, json!({})).await;
    assert_eq!(after["unreadNotificationsCount"], 0);
    assert!(
        after["notifications"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["readAt"].is_string())
    );
}

#[tokio::test]
async fn notifications_need_a_viewer() {
    let app = spawn_app().await;
    let (_, body) = app
        .post(None, "{ unreadNotificationsCount }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(None).await;
    ws.send(json!({ "id": "n", "type": "subscribe", "payload": { "query": NOTIFICATION_ADDED } }))
        .await;
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
    assert_eq!(
        ws.next_json().await,
        json!({ "type": "complete", "id": "n" })
    );
}

#[tokio::test]
async fn reconnecting_with_the_last_cursor_replays_exactly_what_was_missed_then_continues_live() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;
    let mut bobs = listening(&app, &bob, None).await;
    // Bob's other device stays online: it tells when the missed notifications are stored.
    let mut other_device = listening(&app, &bob, None).await;
    let first = app.register("first").await;
    follow(&app, &first, &bob).await;
    let last_seen = next_notification(&mut bobs).await;
    drop(bobs);

    let mut missed = Vec::new();
    for i in 0..5 {
        let who = app.register(&format!("missed{i}")).await;
        follow(&app, &who, &bob).await;
        missed.push(format!("missed{i}"));
    }
    for _ in 0..6 {
        next_notification(&mut other_device).await;
    }

    let mut again = listening(&app, &bob, last_seen["cursor"].as_str()).await;
    let mut replayed = Vec::new();
    for _ in 0..5 {
        replayed.push(kind_and_actor(&next_notification(&mut again).await).1);
    }
    assert_eq!(replayed, missed);
    let live = app.register("live").await;
    follow(&app, &live, &bob).await;
    assert_eq!(
        kind_and_actor(&next_notification(&mut again).await),
        ("FOLLOWED".into(), "live".into())
    );
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_delivers_notification_added() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let mut ws = subscribed_legacy(&app, &bob, json!({ "query": NOTIFICATION_ADDED })).await;

    follow(&app, &ann, &bob).await;
    let message = ws.next_json().await;
    assert_eq!(
        (message["type"].as_str(), message["id"].as_str()),
        (Some("data"), Some("1"))
    );
    assert_eq!(
        kind_and_actor(&message["payload"]["data"]["notificationAdded"]),
        ("FOLLOWED".into(), "ann".into())
    );
}

/// The marketplace's notifications: a new order tells the seller; a move tells the buyer
/// unless the buyer made it, and the buyer's own moves (paying, confirming delivery) tell the
/// seller; a review tells the seller. Each carries its order or listing.
#[tokio::test]
async fn orders_and_reviews_notify_the_other_party_with_the_order_or_listing() {
    use crate::helpers::{PAY, buy, card, listing, move_to};

    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let ann = app.register("ann").await;
    let post = listing(&app, &sam, "100.00", 2).await;
    let mut sams = listening(&app, &sam, None).await;
    let mut anns = listening(&app, &ann, None).await;

    let order = buy(&app, &ann, &post, 1, "notify-1").await;
    let placed = next_notification(&mut sams).await;
    assert_eq!(
        kind_and_actor(&placed),
        ("ORDER_PLACED".into(), "ann".into())
    );
    let card = card(&app, &ann, "4242424242424242").await;
    app.data(Some(&ann.access), PAY, json!({ "o": order, "c": card }))
        .await;
    let paid = next_notification(&mut sams).await;
    assert_eq!(
        kind_and_actor(&paid),
        ("ORDER_STATUS_CHANGED".into(), "ann".into())
    );
    for status in ["PROCESSING", "SHIPPED", "OUT_FOR_DELIVERY"] {
        move_to(&app, &sam, &order, status).await;
        let moved = next_notification(&mut anns).await;
        assert_eq!(
            kind_and_actor(&moved),
            ("ORDER_STATUS_CHANGED".into(), "sam".into())
        );
    }
    move_to(&app, &ann, &order, "DELIVERED").await;
    let delivered = next_notification(&mut sams).await;
    assert_eq!(
        kind_and_actor(&delivered),
        ("ORDER_STATUS_CHANGED".into(), "ann".into())
    );
    app.data(
        Some(&ann.access),
        "mutation($p: ID!) { createReview(input: { postId: $p, rating: 4 }) { id } }",
        json!({ "p": post }),
    )
    .await;
    let reviewed = next_notification(&mut sams).await;
    assert_eq!(
        kind_and_actor(&reviewed),
        ("REVIEW_ADDED".into(), "ann".into())
    );

    // The stored list resolves the order (the seller's view of it) and the listing.
    let list = app
        .data(
            Some(&sam.access),
            "{ notifications(first: 10) { edges { node { kind
                order { id status buyer { username } } post { id } } } } }",
            json!({}),
        )
        .await;
    let nodes: Vec<&Value> = list["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    let kinds: Vec<&str> = nodes.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "REVIEW_ADDED",
            "ORDER_STATUS_CHANGED",
            "ORDER_STATUS_CHANGED",
            "ORDER_PLACED"
        ]
    );
    assert_eq!(nodes[0]["post"]["id"], post.as_str());
    assert_eq!(nodes[0]["order"], Value::Null);
    for node in &nodes[1..] {
        assert_eq!(node["order"]["id"], order.as_str());
        assert_eq!(node["order"]["status"], "DELIVERED");
        assert_eq!(node["order"]["buyer"]["username"], "ann");
    }
    // Ann heard of the seller's three moves and nothing of her own.
    let anns_list = app
        .data(Some(&ann.access), "{ unreadNotificationsCount }", json!({}))
        .await;
    assert_eq!(anns_list["unreadNotificationsCount"], 3);
}
