//! Blocking, end to end: a blocked pair disappears from each other's feed, search and
//! comment lists, and cannot comment on, react to, favorite or mention each other.

use serde_json::{Value, json};

use crate::helpers::{create_post, follow, spawn_app};

#[tokio::test]
async fn a_block_hides_each_side_from_the_other_everywhere_until_lifted() {
    let app = spawn_app().await;
    let ann = app.seller("ann").await;
    let bob = app.register("bob").await;
    follow(&app, &bob, &ann).await;
    let post = create_post(&app, &ann, "Vintage #camera for sale").await;
    app.data(
        Some(&bob.access),
        "mutation($p: ID!) { addComment(postId: $p, body: \"Still available?\") { id } }",
        json!({ "p": post }),
    )
    .await;
    let feed = "{ feed { totalCount edges { node { id } } } }";
    assert_eq!(
        app.data(Some(&bob.access), feed, json!({})).await["feed"]["totalCount"],
        1
    );

    app.data(
        Some(&ann.access),
        "mutation($u: ID!) { block(userId: $u) { isBlockedByViewer } }",
        json!({ "u": bob.id }),
    )
    .await;

    // Bob no longer sees Ann's content.
    assert_eq!(
        app.data(Some(&bob.access), feed, json!({})).await["feed"]["totalCount"],
        0
    );
    let one = "query($p: ID!) { post(id: $p) { id } }";
    assert_eq!(
        app.data(Some(&bob.access), one, json!({ "p": post })).await["post"],
        Value::Null
    );
    let search = "query($t: String) { posts(filter: { text: $t }) { totalCount } }";
    assert_eq!(
        app.data(Some(&bob.access), search, json!({ "t": "camera" }))
            .await["posts"]["totalCount"],
        0
    );
    assert_eq!(
        app.data(None, search, json!({ "t": "camera" })).await["posts"]["totalCount"],
        1,
        "others still see it"
    );

    // Bob cannot engage with Ann's post.
    for mutation in [
        "mutation($p: ID!) { addComment(postId: $p, body: \"hello?\") { id } }",
        "mutation($p: ID!) { react(postId: $p, kind: LIKE) { id } }",
        "mutation($p: ID!) { addFavorite(postId: $p) { id } }",
    ] {
        let (code, _) = app
            .error_code(Some(&bob.access), mutation, json!({ "p": post }))
            .await;
        assert_eq!(code, "NOT_FOUND", "{mutation}");
    }

    // Ann no longer sees Bob's comment, and Bob cannot mention Ann.
    let comments = "query($p: ID!) { post(id: $p) { comments { edges { node { body } } } } }";
    let seen = app
        .data(Some(&ann.access), comments, json!({ "p": post }))
        .await;
    assert_eq!(seen["post"]["comments"]["edges"], json!([]));
    let mention = app
        .data(
            Some(&bob.access),
            "mutation { createPost(input: { body: \"Hey @ann\" }) { mentions { username } } }",
            json!({}),
        )
        .await;
    assert_eq!(mention["createPost"]["mentions"], json!([]));

    // Lifting the block restores visibility (the follow is gone for good).
    app.data(
        Some(&ann.access),
        "mutation($u: ID!) { unblock(userId: $u) { id } }",
        json!({ "u": bob.id }),
    )
    .await;
    assert_eq!(
        app.data(Some(&bob.access), one, json!({ "p": post })).await["post"]["id"],
        post
    );
    assert_eq!(
        app.data(Some(&bob.access), feed, json!({})).await["feed"]["totalCount"],
        1,
        "only Bob's own post"
    );
    let seen = app
        .data(Some(&ann.access), comments, json!({ "p": post }))
        .await;
    assert_eq!(
        seen["post"]["comments"]["edges"],
        json!([{ "node": { "body": "Still available?" } }])
    );
}

#[tokio::test]
async fn the_feed_shows_followed_authors_and_the_viewer_newest_first_and_needs_a_login() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let cy = app.register("cyd").await;
    follow(&app, &ann, &bob).await;
    for (who, body) in [
        (&bob, "from bob"),
        (&cy, "from cyd, not followed"),
        (&ann, "from ann herself"),
        (&bob, "bob again"),
    ] {
        app.data(
            Some(&who.access),
            "mutation($b: String!) { createPost(input: { body: $b }) { id } }",
            json!({ "b": body }),
        )
        .await;
    }
    let feed = app
        .data(
            Some(&ann.access),
            "{ feed { edges { node { body author { username viewerFollows } } } } }",
            json!({}),
        )
        .await;
    let bodies: Vec<&str> = feed["feed"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["bob again", "from ann herself", "from bob"]);
    assert_eq!(
        feed["feed"]["edges"][0]["node"]["author"],
        json!({ "username": "bob", "viewerFollows": true })
    );
    let (code, _) = app
        .error_code(None, "{ feed { totalCount } }", json!({}))
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    let (code, _) = app
        .error_code(
            Some(&ann.access),
            "{ feed(first: 500) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}
