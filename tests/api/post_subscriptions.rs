//! `postUpdated` (open to anonymous clients) and `feedPostAdded` over the real WebSocket.

use serde_json::{Value, json};

use crate::helpers::{
    Account, TestApp, WsClient, block, create_post, follow, next_payload, spawn_app, subscribed,
};

const POST_UPDATED: &str =
    "subscription($p: ID!) { postUpdated(postId: $p) { id body reactionCounts { kind count } } }";
const FEED_POST_ADDED: &str = "subscription { feedPostAdded { body author { username } } }";

async fn edit(app: &TestApp, who: &Account, post: &str, body: &str) {
    app.data(
        Some(&who.access),
        "mutation($id: ID!, $b: String!) { updatePost(id: $id, input: { body: $b }) { id } }",
        json!({ "id": post, "b": body }),
    )
    .await;
}

async fn next_data(ws: &mut WsClient) -> Value {
    next_payload(ws, "s").await["data"].clone()
}

#[tokio::test]
async fn post_updated_reaches_anonymous_subscribers_of_that_post_only() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let watched = create_post(&app, &ann, "watched").await;
    let other = create_post(&app, &ann, "other").await;
    let mut on_watched = subscribed(&app, None, "s", POST_UPDATED, json!({ "p": watched })).await;
    let mut on_other = subscribed(&app, None, "s", POST_UPDATED, json!({ "p": other })).await;

    edit(&app, &ann, &watched, "edited").await;
    app.data(
        Some(&bob.access),
        "mutation($p: ID!) { react(postId: $p, kind: LIKE) { id } }",
        json!({ "p": watched }),
    )
    .await;

    let first = next_data(&mut on_watched).await;
    assert_eq!(first["postUpdated"]["body"], "edited");
    let second = next_data(&mut on_watched).await;
    let likes = second["postUpdated"]["reactionCounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "LIKE")
        .cloned()
        .unwrap();
    assert_eq!(likes["count"], 1);
    // The other post's subscriber hears only of its own post.
    edit(&app, &ann, &other, "other edited").await;
    assert_eq!(
        next_data(&mut on_other).await["postUpdated"]["body"],
        "other edited"
    );
}

#[tokio::test]
async fn post_updated_is_not_found_for_an_unknown_or_deleted_post() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let post = create_post(&app, &ann, "soon gone").await;
    app.data(
        Some(&ann.access),
        "mutation($id: ID!) { deletePost(id: $id) }",
        json!({ "id": post }),
    )
    .await;
    for id in [post.as_str(), "nope"] {
        let mut ws = app.ws("graphql-transport-ws").await;
        ws.init(None).await;
        ws.send(json!({ "id": "s", "type": "subscribe", "payload": { "query": POST_UPDATED, "variables": { "p": id } } }))
            .await;
        let refused = ws.next_json().await;
        assert_eq!(
            refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{refused}"
        );
    }
}

#[tokio::test]
async fn deleting_a_post_completes_its_subscriptions() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let post = create_post(&app, &ann, "soon gone").await;
    let kept = create_post(&app, &ann, "kept").await;
    // Anonymous (a shared execution) and signed in (its own).
    let mut anonymous = subscribed(&app, None, "s", POST_UPDATED, json!({ "p": post })).await;
    let mut signed_in = subscribed(&app, Some(&bob), "s", POST_UPDATED, json!({ "p": post })).await;
    let mut on_kept = subscribed(&app, None, "s", POST_UPDATED, json!({ "p": kept })).await;

    edit(&app, &ann, &post, "last words").await;
    app.data(
        Some(&ann.access),
        "mutation($id: ID!) { deletePost(id: $id) }",
        json!({ "id": post }),
    )
    .await;
    edit(&app, &ann, &kept, "still here").await;

    for ws in [&mut anonymous, &mut signed_in] {
        assert_eq!(next_data(ws).await["postUpdated"]["body"], "last words");
        assert_eq!(
            ws.next_json().await,
            json!({ "type": "complete", "id": "s" })
        );
    }
    // Another post's subscribers are unaffected.
    assert_eq!(
        next_data(&mut on_kept).await["postUpdated"]["body"],
        "still here"
    );
}

#[tokio::test]
async fn feed_post_added_delivers_posts_of_followed_users_only() {
    let app = spawn_app().await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    follow(&app, &bob, &ann).await;
    let mut bobs = subscribed(&app, Some(&bob), "s", FEED_POST_ADDED, json!({})).await;

    create_post(&app, &cat, "not followed").await;
    create_post(&app, &bob, "bob's own").await;
    create_post(&app, &ann, "from ann").await;
    assert_eq!(
        next_data(&mut bobs).await["feedPostAdded"],
        json!({ "body": "from ann", "author": { "username": "ann" } })
    );
    // Following cat now lets cat's next post through.
    follow(&app, &bob, &cat).await;
    create_post(&app, &cat, "now followed").await;
    assert_eq!(
        next_data(&mut bobs).await["feedPostAdded"]["body"],
        "now followed"
    );
}

#[tokio::test]
async fn unfollows_and_blocks_after_subscribing_take_effect_on_the_live_feed() {
    let app = spawn_app().await;
    let (ann, bob, cat, dan) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
        app.register("dan").await,
    );
    for whom in [&bob, &cat, &dan] {
        follow(&app, &ann, whom).await;
    }
    let mut anns = subscribed(&app, Some(&ann), "s", FEED_POST_ADDED, json!({})).await;

    app.data(
        Some(&ann.access),
        "mutation($u: ID!) { unfollow(userId: $u) { id } }",
        json!({ "u": bob.id }),
    )
    .await;
    // Blocked by cat: cat's posts leave ann's feed as the block removed ann's follow.
    block(&app, &cat, &ann).await;
    create_post(&app, &bob, "unfollowed").await;
    create_post(&app, &cat, "blocked").await;
    create_post(&app, &dan, "still followed").await;
    assert_eq!(
        next_data(&mut anns).await["feedPostAdded"]["body"],
        "still followed"
    );
}

#[tokio::test]
async fn feed_post_added_needs_a_viewer() {
    let app = spawn_app().await;
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(None).await;
    ws.send(json!({ "id": "s", "type": "subscribe", "payload": { "query": FEED_POST_ADDED } }))
        .await;
    let refused = ws.next_json().await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
}

#[tokio::test]
async fn anonymous_subscribers_of_one_post_share_its_updates_and_leave_independently() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let post = create_post(&app, &ann, "shared").await;
    let mut first = subscribed(&app, None, "s", POST_UPDATED, json!({ "p": post })).await;
    let mut second = subscribed(&app, None, "s", POST_UPDATED, json!({ "p": post })).await;

    edit(&app, &ann, &post, "for both").await;
    for ws in [&mut first, &mut second] {
        assert_eq!(next_data(ws).await["postUpdated"]["body"], "for both");
    }

    // The first leaves; the second still gets updates, and a newcomer joins.
    first.send(json!({ "id": "s", "type": "complete" })).await;
    drop(first);
    let mut third = subscribed(&app, None, "s", POST_UPDATED, json!({ "p": post })).await;
    edit(&app, &ann, &post, "after one left").await;
    for ws in [&mut second, &mut third] {
        assert_eq!(next_data(ws).await["postUpdated"]["body"], "after one left");
    }
}

#[tokio::test]
async fn post_updated_carries_the_comment_count_as_comments_come_and_go() {
    let app = spawn_app().await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let post = create_post(&app, &ann, "discuss").await;
    let mut ws = subscribed(
        &app,
        None,
        "s",
        "subscription($p: ID!) { postUpdated(postId: $p) { id commentsCount } }",
        json!({ "p": post }),
    )
    .await;

    let comment = app
        .data(
            Some(&bob.access),
            "mutation($p: ID!) { addComment(postId: $p, body: \"first\") { id } }",
            json!({ "p": post }),
        )
        .await["addComment"]["id"]
        .clone();
    assert_eq!(
        next_data(&mut ws).await["postUpdated"],
        json!({ "id": post, "commentsCount": 1 })
    );
    app.data(
        Some(&bob.access),
        "mutation($c: ID!) { deleteComment(id: $c) }",
        json!({ "c": comment }),
    )
    .await;
    assert_eq!(
        next_data(&mut ws).await["postUpdated"],
        json!({ "id": post, "commentsCount": 0 })
    );
}
