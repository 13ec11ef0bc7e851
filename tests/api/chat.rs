//! Chat over the API: opening direct rooms, groups, membership, blocks, messages, unread
//! counts and validation.

use serde_json::{Value, json};

use crate::helpers::{
    Account, OPEN_CHAT, SEND_MESSAGE, TestApp, block, create_post, open_chat, send_message,
    spawn_app,
};

const GROUP: &str =
    "mutation($t: String!, $m: [ID!]!) { createGroupChat(title: $t, memberIds: $m) {
    id kind title members { username } } }";
const ROOM: &str = "query($id: ID!) { chatRoom(id: $id) { id unreadCount lastMessage { body author { username } }
    messages(first: 2) { totalCount edges { cursor node { body } } pageInfo { hasNextPage endCursor } } } }";

async fn room(app: &TestApp, who: &Account, id: &str) -> Value {
    app.data(Some(&who.access), ROOM, json!({ "id": id })).await["chatRoom"].clone()
}

#[tokio::test]
async fn opening_a_chat_twice_from_either_side_returns_the_same_room() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let opened = app
        .data(Some(&ann.access), OPEN_CHAT, json!({ "u": bob.id }))
        .await["openChat"]
        .clone();
    assert_eq!(
        opened,
        json!({ "id": opened["id"], "kind": "DIRECT", "title": null,
            "members": [{ "username": "ann" }, { "username": "bob" }],
            "listing": null, "unreadCount": 0, "lastMessage": null })
    );
    assert_eq!(open_chat(&app, &ann, &bob).await, opened["id"]);
    assert_eq!(open_chat(&app, &bob, &ann).await, opened["id"]);
    let rooms = app
        .data(
            Some(&bob.access),
            "{ chatRooms { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(rooms["chatRooms"]["edges"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_chat_about_a_listing_is_its_own_room_and_text_posts_are_refused() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let bea = app.register("bea").await;
    let listing = app
        .data(
            Some(&sam.access),
            "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }",
            json!({ "i": { "kind": "LISTING", "title": "Canon EOS R", "body": "Mirrorless",
                "listing": { "price": { "amount": "100", "currency": "KZT" }, "stock": 1 } } }),
        )
        .await["createPost"]["id"]
        .clone();
    let text = create_post(&app, &sam, "hello").await;
    let about = app
        .data(
            Some(&bea.access),
            OPEN_CHAT,
            json!({ "u": sam.id, "l": listing }),
        )
        .await["openChat"]
        .clone();
    assert_eq!(about["listing"], json!({ "title": "Canon EOS R" }));
    assert_ne!(about["id"], open_chat(&app, &bea, &sam).await);
    let again = app
        .data(
            Some(&sam.access),
            OPEN_CHAT,
            json!({ "u": bea.id, "l": listing }),
        )
        .await;
    assert_eq!(again["openChat"]["id"], about["id"]);

    let (code, body) = app
        .error_code(
            Some(&bea.access),
            OPEN_CHAT,
            json!({ "u": sam.id, "l": text }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "listingId");
    let (code, _) = app
        .error_code(
            Some(&bea.access),
            OPEN_CHAT,
            json!({ "u": sam.id, "l": "nope" }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn opening_a_chat_needs_a_login_and_another_existing_user() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let (code, _) = app
        .error_code(None, OPEN_CHAT, json!({ "u": ann.id }))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    let (code, body) = app
        .error_code(Some(&ann.access), OPEN_CHAT, json!({ "u": ann.id }))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("userId"))
    );
    let (code, _) = app
        .error_code(Some(&ann.access), OPEN_CHAT, json!({ "u": "unknown" }))
        .await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = app
        .error_code(Some(&ann.access), OPEN_CHAT, json!({ "u": "{\"$ne\":1}" }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_group_includes_its_creator_and_validates_title_and_members() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let group = app
        .data(
            Some(&ann.access),
            GROUP,
            json!({ "t": " Camera club ", "m": [bob.id, cat.id, bob.id, ann.id] }),
        )
        .await["createGroupChat"]
        .clone();
    assert_eq!(group["kind"], "GROUP");
    assert_eq!(group["title"], "Camera club");
    assert_eq!(
        group["members"],
        json!([{ "username": "ann" }, { "username": "bob" }, { "username": "cat" }])
    );
    send_message(&app, &cat, group["id"].as_str().unwrap(), "hi all").await;
    assert_eq!(
        room(&app, &bob, group["id"].as_str().unwrap()).await["unreadCount"],
        1
    );

    for (variables, field) in [
        (json!({ "t": "", "m": [bob.id] }), "title"),
        (json!({ "t": "Solo", "m": [ann.id] }), "memberIds"),
        (
            json!({ "t": "Ghosts", "m": [bob.id, "ghost"] }),
            "memberIds",
        ),
        (json!({ "t": "Bad id", "m": ["a b"] }), "memberIds"),
    ] {
        let (code, body) = app.error_code(Some(&ann.access), GROUP, variables).await;
        assert_eq!(code, "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let crowd: Vec<String> = (0..50)
        .map(|_| bob.id.clone())
        .chain([cat.id.clone()])
        .collect();
    let deduplicated = app
        .data(Some(&ann.access), GROUP, json!({ "t": "Dup", "m": crowd }))
        .await;
    assert_eq!(
        deduplicated["createGroupChat"]["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let rooms = app
        .data(
            Some(&ann.access),
            "{ chatRooms { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(rooms["chatRooms"]["edges"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_group_cannot_have_more_than_fifty_members() {
    let app = spawn_app_with_many_users().await;
    let (app, users) = app;
    let others: Vec<&str> = users[1..].iter().map(|u| u.id.as_str()).collect();
    assert_eq!(others.len(), 50);
    let (code, body) = app
        .error_code(
            Some(&users[0].access),
            GROUP,
            json!({ "t": "Big", "m": others }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "memberIds");
    let fits = app
        .data(
            Some(&users[0].access),
            GROUP,
            json!({ "t": "Big", "m": &others[..49] }),
        )
        .await;
    assert_eq!(
        fits["createGroupChat"]["members"].as_array().unwrap().len(),
        50
    );
}

/// An app with 51 registered users (registrations from one address are limited by default).
async fn spawn_app_with_many_users() -> (TestApp, Vec<Account>) {
    let app = crate::helpers::spawn_app_with(|config| config.rate_limits.enabled = false).await;
    let mut users = Vec::new();
    for i in 0..51 {
        users.push(app.register(&format!("user{i}")).await);
    }
    (app, users)
}

#[tokio::test]
async fn outsiders_cannot_read_post_to_or_mark_a_room() {
    let app = spawn_app().await;
    let (ann, bob, eve) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("eve").await,
    );
    let room_id = open_chat(&app, &ann, &bob).await;
    send_message(&app, &ann, &room_id, "secret").await;

    assert_eq!(
        app.data(Some(&eve.access), ROOM, json!({ "id": room_id }))
            .await["chatRoom"],
        Value::Null
    );
    let (code, _) = app
        .error_code(
            Some(&eve.access),
            SEND_MESSAGE,
            json!({ "r": room_id, "b": "let me in" }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = app
        .error_code(
            Some(&eve.access),
            "mutation($r: ID!) { markRoomRead(roomId: $r) { id } }",
            json!({ "r": room_id }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = app.error_code(None, ROOM, json!({ "id": room_id })).await;
    assert_eq!(code, "UNAUTHENTICATED");
    let eves = app
        .data(
            Some(&eve.access),
            "{ chatRooms { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(eves["chatRooms"]["edges"], json!([]));
    // The outsider's attempt wrote nothing.
    assert_eq!(
        room(&app, &bob, &room_id).await["messages"]["totalCount"],
        1
    );
}

#[tokio::test]
async fn a_blocked_pair_can_neither_open_a_chat_nor_message_in_their_room() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let room_id = open_chat(&app, &ann, &bob).await;
    let group = app
        .data(
            Some(&ann.access),
            GROUP,
            json!({ "t": "Trio", "m": [bob.id, cat.id] }),
        )
        .await["createGroupChat"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    block(&app, &bob, &ann).await;

    for (who, other) in [(&ann, &bob), (&bob, &ann)] {
        let (code, _) = app
            .error_code(Some(&who.access), OPEN_CHAT, json!({ "u": other.id }))
            .await;
        assert_eq!(code, "FORBIDDEN");
        let (code, _) = app
            .error_code(
                Some(&who.access),
                SEND_MESSAGE,
                json!({ "r": room_id, "b": "hello?" }),
            )
            .await;
        assert_eq!(code, "FORBIDDEN");
    }
    assert_eq!(
        room(&app, &ann, &room_id).await["messages"]["totalCount"],
        0
    );
    // A group they share stays writable (see the chat service's docs), but a new group
    // cannot bring a blocked pair together.
    send_message(&app, &ann, &group, "still here").await;
    let (code, _) = app
        .error_code(
            Some(&ann.access),
            GROUP,
            json!({ "t": "Again", "m": [bob.id] }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
}

#[tokio::test]
async fn unread_counts_rise_with_others_messages_and_reset_on_mark_room_read() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room_id = open_chat(&app, &ann, &bob).await;
    for body in ["one", "two", "three"] {
        send_message(&app, &bob, &room_id, body).await;
    }
    assert_eq!(room(&app, &ann, &room_id).await["unreadCount"], 3);
    assert_eq!(room(&app, &bob, &room_id).await["unreadCount"], 0);

    let marked = app
        .data(
            Some(&ann.access),
            "mutation($r: ID!) { markRoomRead(roomId: $r) { id unreadCount } }",
            json!({ "r": room_id }),
        )
        .await;
    assert_eq!(marked["markRoomRead"]["unreadCount"], 0);
    send_message(&app, &bob, &room_id, "four").await;
    assert_eq!(room(&app, &ann, &room_id).await["unreadCount"], 1);
    send_message(&app, &ann, &room_id, "my reply").await;
    assert_eq!(room(&app, &ann, &room_id).await["unreadCount"], 0);
    assert_eq!(room(&app, &bob, &room_id).await["unreadCount"], 1);
}

#[tokio::test]
async fn messages_page_newest_first_with_stable_cursors() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room_id = open_chat(&app, &ann, &bob).await;
    for i in 1..=5 {
        send_message(
            &app,
            if i % 2 == 0 { &bob } else { &ann },
            &room_id,
            &format!("m{i}"),
        )
        .await;
    }
    let first = room(&app, &bob, &room_id).await;
    assert_eq!(
        first["lastMessage"],
        json!({ "body": "m5", "author": { "username": "ann" } })
    );
    let messages = &first["messages"];
    assert_eq!(messages["totalCount"], 5);
    assert_eq!(messages["edges"][0]["node"]["body"], "m5");
    assert_eq!(messages["edges"][1]["node"]["body"], "m4");
    assert_eq!(messages["pageInfo"]["hasNextPage"], true);

    // A message arriving between pages does not shift the next page.
    send_message(&app, &bob, &room_id, "m6").await;
    let mut bodies = Vec::new();
    let mut after = messages["pageInfo"]["endCursor"].clone();
    loop {
        let page = app
            .data(
                Some(&ann.access),
                "query($id: ID!, $a: String) { chatRoom(id: $id) { messages(first: 2, after: $a) {
                    edges { node { body } } pageInfo { hasNextPage endCursor } } } }",
                json!({ "id": room_id, "a": after }),
            )
            .await["chatRoom"]["messages"]
            .clone();
        for edge in page["edges"].as_array().unwrap() {
            bodies.push(edge["node"]["body"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(bodies, ["m3", "m2", "m1"]);

    let (code, body) = app
        .error_code(
            Some(&ann.access),
            "query($id: ID!) { chatRoom(id: $id) { messages(first: 101) { totalCount } } }",
            json!({ "id": room_id }),
        )
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("first"))
    );
}

#[tokio::test]
async fn rooms_are_listed_by_latest_message() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let with_bob = open_chat(&app, &ann, &bob).await;
    let with_cat = open_chat(&app, &ann, &cat).await;
    send_message(&app, &bob, &with_bob, "bump").await;
    let listed = app
        .data(
            Some(&ann.access),
            "{ chatRooms(first: 1) { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await["chatRooms"]
        .clone();
    assert_eq!(listed["totalCount"], 2);
    assert_eq!(listed["edges"][0]["node"]["id"], with_bob.as_str());
    assert_eq!(listed["pageInfo"]["hasNextPage"], true);
    let rest = app
        .data(
            Some(&ann.access),
            "query($a: String) { chatRooms(first: 5, after: $a) { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({ "a": listed["pageInfo"]["endCursor"] }),
        )
        .await["chatRooms"]
        .clone();
    assert_eq!(rest["edges"], json!([{ "node": { "id": with_cat } }]));
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn message_bodies_are_validated_and_a_bad_body_writes_nothing() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let room_id = open_chat(&app, &ann, &bob).await;
    for bad in ["   ".to_owned(), "x".repeat(4001)] {
        let (code, body) = app
            .error_code(
                Some(&ann.access),
                SEND_MESSAGE,
                json!({ "r": room_id, "b": bad }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], "body");
    }
    let (code, body) = app
        .error_code(
            Some(&ann.access),
            SEND_MESSAGE,
            json!({ "r": "bad id!", "b": "hi" }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "roomId");
    assert_eq!(
        room(&app, &bob, &room_id).await["messages"]["totalCount"],
        0
    );
    let sent = send_message(&app, &ann, &room_id, "  trimmed \n").await;
    assert_eq!(sent["body"], "trimmed");
    assert_eq!(sent["room"]["id"], room_id.as_str());
}
