//! Posts and listings, comments, reactions, favorites, search and tags over the API.

use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, spawn_app};

const CREATE: &str = "mutation($i: CreatePostInput!) { createPost(input: $i) { id kind title body tags
    mentions { username } media { url } editedAt
    listing { price { amount currency } stock status category { id name parent { id } } attributes { key value } } } }";

async fn create(app: &TestApp, who: &Account, input: Value) -> Value {
    app.data(Some(&who.access), CREATE, json!({ "i": input }))
        .await["createPost"]
        .clone()
}

fn camera_listing(price: &str, stock: i64) -> Value {
    json!({ "kind": "LISTING", "title": "Canon EOS R", "body": "Mirrorless #camera, barely used",
        "mediaUrls": ["https://cdn.example.com/r.jpg"],
        "listing": { "price": { "amount": price, "currency": "KZT" }, "stock": stock, "categoryId": "cameras",
            "attributes": [{ "key": "Brand", "value": "Canon" }, { "key": "Condition", "value": "Used" }] } })
}

#[tokio::test]
async fn a_seller_publishes_a_listing_that_anyone_can_read() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let post = create(&app, &sam, camera_listing("450000.5", 2)).await;
    assert_eq!(post["kind"], "LISTING");
    assert_eq!(post["tags"], json!(["camera"]));
    assert_eq!(
        post["listing"],
        json!({ "price": { "amount": "450000.50", "currency": "KZT" }, "stock": 2, "status": "ACTIVE",
            "category": { "id": "cameras", "name": "Cameras & Photo", "parent": { "id": "electronics" } },
            "attributes": [{ "key": "Brand", "value": "Canon" }, { "key": "Condition", "value": "Used" }] })
    );
    let read = app
        .data(None, "query($id: ID!) { post(id: $id) { title author { username } commentsCount favoritesCount reactionCounts { kind } viewerReaction viewerFavorited } }", json!({ "id": post["id"] }))
        .await;
    assert_eq!(
        read["post"],
        json!({ "title": "Canon EOS R", "author": { "username": "sam" }, "commentsCount": 0, "favoritesCount": 0,
            "reactionCounts": [], "viewerReaction": null, "viewerFavorited": false })
    );
}

#[tokio::test]
async fn only_sellers_publish_listings_and_bad_input_names_the_field() {
    let app = spawn_app().await;
    let bea = app.register("bea").await;
    let sam = app.seller("sam").await;
    let (code, _) = app
        .error_code(
            Some(&bea.access),
            CREATE,
            json!({ "i": camera_listing("10", 1) }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let (code, _) = app
        .error_code(None, CREATE, json!({ "i": { "body": "hello" } }))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");

    let mut cases = vec![
        (json!({ "body": "   " }), "input.body"),
        (
            json!({ "body": "x", "mediaUrls": ["ftp://nope"] }),
            "input.mediaUrls.0",
        ),
        (
            json!({ "kind": "LISTING", "title": "T", "body": "x" }),
            "input.listing",
        ),
        (
            json!({ "body": "x", "listing": camera_listing("1", 1)["listing"] }),
            "input.listing",
        ),
    ];
    for (price, field) in [
        ("-5", "input.listing.price.amount"),
        ("1.234", "input.listing.price.amount"),
        ("0", "input.listing.price.amount"),
        ("99999999999", "input.listing.price.amount"),
    ] {
        cases.push((camera_listing(price, 1), field));
    }
    let mut bad_currency = camera_listing("10", 1);
    bad_currency["listing"]["price"]["currency"] = json!("XXX");
    cases.push((bad_currency, "input.listing.price.currency"));
    let mut bad_stock = camera_listing("10", 1);
    bad_stock["listing"]["stock"] = json!(-1);
    cases.push((bad_stock, "input.listing.stock"));
    let mut bad_category = camera_listing("10", 1);
    bad_category["listing"]["categoryId"] = json!("spaceships");
    cases.push((bad_category, "categoryId"));
    let many_tags: String = (0..11).map(|i| format!("#t{i} ")).collect();
    cases.push((json!({ "body": many_tags }), "input.body"));
    for (input, field) in cases {
        let (code, body) = app
            .error_code(Some(&sam.access), CREATE, json!({ "i": input }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let (code, _) = app.error_code(Some(&sam.access), "mutation { createPost(input: { body: \"x\", listing: { price: { amount: 1.5, currency: \"KZT\" }, stock: 1 } }) { id } }", json!({})).await;
    assert_eq!(code, "BAD_USER_INPUT", "a float amount is refused");
}

#[tokio::test]
async fn tags_and_mentions_are_parsed_from_the_body() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    app.register("bob").await;
    let post = create(
        &app,
        &ann,
        json!({ "body": "Coffee with @bob and @nobody_here #Morning #coffee #morning" }),
    )
    .await;
    assert_eq!(post["tags"], json!(["morning", "coffee"]));
    assert_eq!(post["mentions"], json!([{ "username": "bob" }]));
    let tags = app
        .data(None, "{ trendingTags(limit: 5) { tag count } }", json!({}))
        .await;
    assert_eq!(
        tags["trendingTags"],
        json!([{ "tag": "coffee", "count": 1 }, { "tag": "morning", "count": 1 }])
    );
}

#[tokio::test]
async fn only_the_author_or_an_admin_edits_and_deletes() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let eve = app.register("eve").await;
    let post = create(&app, &sam, camera_listing("100", 1)).await;
    let update = "mutation($id: ID!, $i: UpdatePostInput!) { updatePost(id: $id, input: $i) { body editedAt listing { price { amount } stock status } } }";
    let (code, _) = app
        .error_code(
            Some(&eve.access),
            update,
            json!({ "id": post["id"], "i": { "body": "mine now" } }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let edited = app
        .data(
            Some(&sam.access),
            update,
            json!({ "id": post["id"], "i": { "body": "Price drop #camera",
            "listing": { "price": { "amount": "90", "currency": "KZT" }, "stock": 0 } } }),
        )
        .await["updatePost"]
        .clone();
    assert_eq!(edited["body"], "Price drop #camera");
    assert!(edited["editedAt"].is_string());
    assert_eq!(
        edited["listing"],
        json!({ "price": { "amount": "90.00" }, "stock": 0, "status": "SOLD" })
    );

    let delete = "mutation($id: ID!) { deletePost(id: $id) }";
    let (code, _) = app
        .error_code(Some(&eve.access), delete, json!({ "id": post["id"] }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(
        app.data(Some(&sam.access), delete, json!({ "id": post["id"] }))
            .await["deletePost"],
        true
    );
    let gone = app
        .data(
            None,
            "query($id: ID!) { post(id: $id) { id } }",
            json!({ "id": post["id"] }),
        )
        .await;
    assert_eq!(gone["post"], Value::Null);
    let (code, _) = app
        .error_code(Some(&sam.access), delete, json!({ "id": post["id"] }))
        .await;
    assert_eq!(code, "NOT_FOUND");

    let admin = app.admin().await;
    let other = create(&app, &sam, json!({ "body": "moderate me" })).await;
    assert_eq!(
        app.data(Some(&admin.access), delete, json!({ "id": other["id"] }))
            .await["deletePost"],
        true
    );
}

#[tokio::test]
async fn drafts_are_visible_only_to_their_author() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    let mut draft = camera_listing("100", 1);
    draft["listing"]["status"] = json!("DRAFT");
    let post = create(&app, &sam, draft).await;
    let read = "query($id: ID!) { post(id: $id) { id } }";
    assert_eq!(
        app.data(None, read, json!({ "id": post["id"] })).await["post"],
        Value::Null
    );
    assert_eq!(
        app.data(Some(&sam.access), read, json!({ "id": post["id"] }))
            .await["post"]["id"],
        post["id"]
    );
    let list = "query($a: ID) { posts(filter: { authorId: $a }) { totalCount } }";
    assert_eq!(
        app.data(None, list, json!({ "a": sam.id })).await["posts"]["totalCount"],
        0
    );
    assert_eq!(
        app.data(Some(&sam.access), list, json!({ "a": sam.id }))
            .await["posts"]["totalCount"],
        1
    );
}

#[tokio::test]
async fn comments_thread_and_a_deleted_comment_keeps_its_replies() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let post = create(&app, &ann, json!({ "body": "Discuss" })).await;
    let add = "mutation($p: ID!, $b: String!, $parent: ID) { addComment(postId: $p, body: $b, parentId: $parent) { id body parent { id } author { username } } }";
    let question = app
        .data(
            Some(&bob.access),
            add,
            json!({ "p": post["id"], "b": "Is it new?" }),
        )
        .await["addComment"]
        .clone();
    let answer = app
        .data(
            Some(&ann.access),
            add,
            json!({ "p": post["id"], "b": "Yes", "parent": question["id"] }),
        )
        .await["addComment"]
        .clone();
    assert_eq!(answer["parent"]["id"], question["id"]);

    let (code, _) = app
        .error_code(
            Some(&ann.access),
            "mutation($id: ID!) { deleteComment(id: $id) }",
            json!({ "id": "nope" }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let (code, body) = app
        .error_code(Some(&bob.access), add, json!({ "p": post["id"], "b": "" }))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("body"))
    );
    let deleted = app
        .data(
            Some(&ann.access),
            "mutation($id: ID!) { deleteComment(id: $id) }",
            json!({ "id": question["id"] }),
        )
        .await;
    assert_eq!(
        deleted["deleteComment"], true,
        "the post's author may delete a comment on it"
    );

    let thread = app
        .data(None, "query($id: ID!) { post(id: $id) { commentsCount comments(first: 10) { totalCount edges { node { body deleted replies { edges { node { body } } } } } } } }", json!({ "id": post["id"] }))
        .await;
    assert_eq!(thread["post"]["commentsCount"], 1);
    assert_eq!(
        thread["post"]["comments"]["edges"],
        json!([{ "node": { "body": "[deleted]", "deleted": true, "replies": { "edges": [{ "node": { "body": "Yes" } }] } } }])
    );
    let (code, _) = app
        .error_code(
            Some(&bob.access),
            "mutation($id: ID!) { deleteComment(id: $id) }",
            json!({ "id": answer["id"] }),
        )
        .await;
    assert_eq!(
        code, "FORBIDDEN",
        "someone else's reply on someone else's post"
    );
}

#[tokio::test]
async fn reacting_again_replaces_the_reaction_and_favorites_are_listed() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let post = create(&app, &ann, json!({ "body": "React to me" })).await;
    let react = "mutation($p: ID!, $k: ReactionKind!) { react(postId: $p, kind: $k) { reactionCounts { kind count } viewerReaction } }";
    app.data(
        Some(&bob.access),
        react,
        json!({ "p": post["id"], "k": "LIKE" }),
    )
    .await;
    let swapped = app
        .data(
            Some(&bob.access),
            react,
            json!({ "p": post["id"], "k": "WOW" }),
        )
        .await["react"]
        .clone();
    assert_eq!(
        swapped,
        json!({ "reactionCounts": [{ "kind": "WOW", "count": 1 }], "viewerReaction": "WOW" })
    );
    let none = app
        .data(
            Some(&bob.access),
            "mutation($p: ID!) { unreact(postId: $p) { reactionCounts { kind } viewerReaction } }",
            json!({ "p": post["id"] }),
        )
        .await["unreact"]
        .clone();
    assert_eq!(
        none,
        json!({ "reactionCounts": [], "viewerReaction": null })
    );
    let (code, _) = app
        .error_code(None, react, json!({ "p": post["id"], "k": "LIKE" }))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");

    let fav = "mutation($p: ID!) { addFavorite(postId: $p) { favoritesCount viewerFavorited } }";
    app.data(Some(&bob.access), fav, json!({ "p": post["id"] }))
        .await;
    let twice = app
        .data(Some(&bob.access), fav, json!({ "p": post["id"] }))
        .await["addFavorite"]
        .clone();
    assert_eq!(
        twice,
        json!({ "favoritesCount": 1, "viewerFavorited": true })
    );
    let listed = app
        .data(
            Some(&bob.access),
            "{ favorites { edges { node { body } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["favorites"]["edges"],
        json!([{ "node": { "body": "React to me" } }])
    );
    let removed = app
        .data(
            Some(&bob.access),
            "mutation($p: ID!) { removeFavorite(postId: $p) { favoritesCount viewerFavorited } }",
            json!({ "p": post["id"] }),
        )
        .await["removeFavorite"]
        .clone();
    assert_eq!(
        removed,
        json!({ "favoritesCount": 0, "viewerFavorited": false })
    );
    let (code, _) = app
        .error_code(Some(&bob.access), fav, json!({ "p": "missing" }))
        .await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn search_filters_orders_and_pages_listings() {
    let app = spawn_app().await;
    let sam = app.seller("sam").await;
    for (price, category, title) in [
        ("300", "phones", "Pixel phone"),
        ("100", "cameras", "Canon camera"),
        ("200", "shoes", "Running shoes"),
        ("150", "computers", "Old laptop"),
    ] {
        let mut input = camera_listing(price, 1);
        input["title"] = json!(title);
        input["body"] = json!(format!("{title} for sale"));
        input["listing"]["categoryId"] = json!(category);
        create(&app, &sam, input).await;
    }
    create(
        &app,
        &sam,
        json!({ "body": "Just a text post about phones" }),
    )
    .await;
    let search = "query($f: PostFilter, $o: PostOrder, $a: String) { posts(filter: $f, orderBy: $o, first: 2, after: $a) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { title listing { price { amount } } } } } }";
    let titles = |v: &Value| {
        v["posts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap_or("-").to_owned())
            .collect::<Vec<_>>()
    };

    let electronics = app
        .data(
            None,
            search,
            json!({ "f": { "categoryId": "electronics" }, "o": "PRICE_ASC" }),
        )
        .await;
    assert_eq!(
        electronics["posts"]["totalCount"], 3,
        "a category includes its subcategories"
    );
    assert_eq!(titles(&electronics), ["Canon camera", "Old laptop"]);
    let next = app.data(None, search, json!({ "f": { "categoryId": "electronics" }, "o": "PRICE_ASC", "a": electronics["posts"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(titles(&next), ["Pixel phone"]);
    assert_eq!(next["posts"]["pageInfo"]["hasNextPage"], false);

    let ranged = app
        .data(
            None,
            search,
            json!({ "f": { "priceMin": "150", "priceMax": "250" }, "o": "PRICE_DESC" }),
        )
        .await;
    assert_eq!(titles(&ranged), ["Running shoes", "Old laptop"]);
    let text = app
        .data(None, search, json!({ "f": { "text": "PHONE" } }))
        .await;
    assert_eq!(titles(&text), ["Pixel phone"], "whole words, any case");
    let texts = app
        .data(None, search, json!({ "f": { "kind": "TEXT" } }))
        .await;
    assert_eq!(texts["posts"]["totalCount"], 1);
    let (code, body) = app
        .error_code(None, search, json!({ "f": { "priceMin": "abc" } }))
        .await;
    assert_eq!(
        (code.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("filter.priceMin"))
    );
    let categories = app
        .data(None, "{ categories { id children { id } } }", json!({}))
        .await;
    assert!(
        categories["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "electronics" && c["children"].as_array().unwrap().len() >= 3)
    );
}

#[tokio::test]
async fn post_pages_have_no_gaps_or_duplicates_while_posts_arrive() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    for i in 0..5 {
        create(&app, &ann, json!({ "body": format!("post {i}") })).await;
    }
    let list = "query($a: String) { posts(first: 2, after: $a) { pageInfo { hasNextPage endCursor } edges { node { body } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.data(None, list, json!({ "a": after })).await["posts"].clone();
        seen.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["body"].as_str().unwrap().to_owned()),
        );
        create(&app, &ann, json!({ "body": "newer, not in this walk" })).await;
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["post 4", "post 3", "post 2", "post 1", "post 0"]);
}

#[tokio::test]
async fn every_content_mutation_needs_a_login_and_refuses_malformed_ids() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let mutations = [
        (
            "mutation($id: ID!) { updatePost(id: $id, input: { body: \"x\" }) { id } }",
            "id",
        ),
        ("mutation($id: ID!) { deletePost(id: $id) }", "id"),
        (
            "mutation($id: ID!) { addComment(postId: $id, body: \"x\") { id } }",
            "postId",
        ),
        ("mutation($id: ID!) { deleteComment(id: $id) }", "id"),
        (
            "mutation($id: ID!) { react(postId: $id, kind: LIKE) { id } }",
            "postId",
        ),
        (
            "mutation($id: ID!) { unreact(postId: $id) { id } }",
            "postId",
        ),
        (
            "mutation($id: ID!) { addFavorite(postId: $id) { id } }",
            "postId",
        ),
        (
            "mutation($id: ID!) { removeFavorite(postId: $id) { id } }",
            "postId",
        ),
    ];
    for (mutation, field) in mutations {
        let (code, _) = app.error_code(None, mutation, json!({ "id": "abc" })).await;
        assert_eq!(code, "UNAUTHENTICATED", "{mutation}");
        let (code, body) = app
            .error_code(Some(&ann.access), mutation, json!({ "id": "not an id!" }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{mutation}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{mutation}"
        );
        let (code, _) = app
            .error_code(Some(&ann.access), mutation, json!({ "id": "unknown0id" }))
            .await;
        assert_eq!(code, "NOT_FOUND", "{mutation}");
    }
    let (code, _) = app
        .error_code(None, "{ favorites { totalCount } }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
}
