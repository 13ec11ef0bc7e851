//! The feed costs a constant, small number of store round trips, whatever the page size.

use serde_json::json;

use crate::helpers::{
    TestApp, assert_round_trips_constant, counting_app_on_mongodb, counting_config, follow,
    round_trips_of, spawn_app_with,
};

const FEED: &str = "query($n: Int) { feed(first: $n) { edges { node { id body
    author { username followersCount viewerFollows }
    listing { price { amount currency } category { name } }
    reactionCounts { kind count } viewerReaction commentsCount
    comments(first: 3) { edges { node { body author { username } } } } } } } }";

/// Round trips of one feed request (see [`round_trips_of`]).
async fn round_trips_of_feed(app: &TestApp, token: &str, first: i64) -> u64 {
    let (count, data) = round_trips_of(app, token, FEED, json!({ "n": first })).await;
    assert_eq!(
        data["feed"]["edges"].as_array().unwrap().len() as i64,
        first.min(100),
        "the page is full, so every relation is exercised"
    );
    count
}

#[tokio::test]
async fn the_feed_costs_the_same_few_round_trips_for_10_20_and_100_posts() {
    // This test is about store cost, not abuse: the per-user comment limit would stop the
    // seeding long before 220 comments.
    let app = spawn_app_with(counting_config).await;
    assert_feed_round_trips_are_constant(&app).await;
}

/// The same on MongoDB, where every driver command counts (each run in a fresh
/// database at `TEST_MONGODB_URI`).
#[tokio::test]
#[ignore = "needs TEST_MONGODB_URI: a MongoDB server (see README, Testing)"]
async fn the_feed_costs_the_same_few_round_trips_on_mongodb() {
    let mongo = counting_app_on_mongodb().await;
    assert_feed_round_trips_are_constant(&mongo.app).await;
    mongo.drop_database().await;
}

async fn assert_feed_round_trips_are_constant(app: &TestApp) {
    let viewer = app.register("viewer").await;
    let mut authors = Vec::new();
    for i in 0..5 {
        let author = app.seller(&format!("seller{i}")).await;
        follow(app, &viewer, &author).await;
        authors.push(author);
    }
    let commenters = [app.register("cara").await, app.register("dan").await];
    for i in 0..110 {
        let author = &authors[i % authors.len()];
        let input = if i % 2 == 0 {
            json!({ "kind": "LISTING", "title": format!("Item {i}"), "body": format!("item {i} #sale"),
                "listing": { "price": { "amount": format!("{}.50", 100 + i), "currency": "KZT" }, "stock": 3, "categoryId": "phones" } })
        } else {
            json!({ "body": format!("post {i} #news") })
        };
        let post = app
            .data(
                Some(&author.access),
                "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }",
                json!({ "i": input }),
            )
            .await;
        let id = post["createPost"]["id"].clone();
        for who in &commenters {
            app.data(
                Some(&who.access),
                "mutation($p: ID!) { addComment(postId: $p, body: \"nice\") { id } }",
                json!({ "p": id }),
            )
            .await;
        }
        app.data(
            Some(&viewer.access),
            "mutation($p: ID!) { react(postId: $p, kind: LOVE) { id } }",
            json!({ "p": id }),
        )
        .await;
    }

    let counts = [
        round_trips_of_feed(app, &viewer.access, 10).await,
        round_trips_of_feed(app, &viewer.access, 20).await,
        round_trips_of_feed(app, &viewer.access, 100).await,
    ];
    assert_round_trips_constant("feed", [10, 20, 100], counts, 6);
}
