//! MongoDB only: reviews and listings stored before verified-purchase ratings existed read as
//! unverified until the store's start-up backfill computes their flags, counters and sort key
//! from the orders. (SQLite's migration is tested beside it, in `store::sqlite`.)

use agora::domain::PostId;
use agora::store::{PageRequest, PostOrder, PostQuery, Stores};
use mongodb::bson::{Document, doc};

use crate::fixtures::now;
use crate::harness::{MongoDatabase, on_mongo_database};
use crate::posts::listing;
use crate::reviews::{bought, person, review, summary};

async fn verified(stores: &Stores, post: &PostId) -> (i64, i64, i64) {
    let s = summary(stores, post).await;
    (s.count, s.verified_count, s.verified_sum)
}

async fn data_from_before_verified_ratings_is_backfilled_at_start_up(
    stores: Stores,
    database: MongoDatabase,
) {
    let (ann, carl, sam) = (
        person(&stores, "ann").await,
        person(&stores, "carl").await,
        person(&stores, "sam").await,
    );
    let [p, q, r] = ["10", "20", "30"].map(|price| listing(&sam, now(), price, 5, "cameras"));
    for post in [&p, &q, &r] {
        stores.posts.create_post(post).await.unwrap();
    }
    bought(&stores, &ann, &p, true).await;
    for (post, author, stars) in [(&p, &ann, 5), (&p, &carl, 1), (&q, &carl, 4)] {
        stores
            .reviews
            .create_review(&review(post, author, stars, now()))
            .await
            .unwrap();
    }

    // Make the documents look as an older version left them.
    let client = mongodb::Client::with_uri_str(&database.uri).await.unwrap();
    let db = client.database(&database.name);
    db.collection::<Document>("reviews")
        .update_many(doc! {}, doc! { "$unset": { "verified": "" } })
        .await
        .unwrap();
    let posts = db.collection::<Document>("posts");
    posts
        .update_many(
            doc! {},
            doc! {
                "$unset": {
                    "counts.verified_rating_count": "",
                    "counts.verified_rating_sum": "",
                    "verified_rating_avg": "",
                },
                "$set": { "rating_avg": 3000_i64 },
            },
        )
        .await
        .unwrap();
    assert_eq!(
        verified(&stores, &p.id).await,
        (2, 0, 0),
        "missing counters read as zero"
    );

    // The next start-up computes them.
    let stores = agora::store::mongo::open(&database.uri, &database.name)
        .await
        .unwrap();
    assert_eq!(verified(&stores, &p.id).await, (2, 1, 5));
    assert_eq!(verified(&stores, &q.id).await, (1, 0, 0));
    assert_eq!(verified(&stores, &r.id).await, (0, 0, 0));
    assert_eq!(
        posts
            .count_documents(doc! { "rating_avg": { "$exists": true } })
            .await
            .unwrap(),
        0,
        "the old sort key is gone"
    );
    let page = stores
        .posts
        .search_posts(
            &PostQuery::default(),
            PostOrder::Rating,
            &PageRequest {
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    let ids: Vec<&PostId> = page.items.iter().map(|post| &post.id).collect();
    assert_eq!(ids.len(), 3, "every listing is in the rating order");
    assert_eq!(ids[0], &p.id);

    // Later writes build on the backfilled flags: editing an unverified review leaves the
    // verified counters alone.
    let mut carls = stores
        .reviews
        .get_review(&q.id, &carl)
        .await
        .unwrap()
        .unwrap();
    carls.rating = agora::domain::Rating::parse("rating", 2).unwrap();
    assert!(stores.reviews.update_review(&carls).await.unwrap());
    assert_eq!(verified(&stores, &q.id).await, (1, 0, 0));
}

#[tokio::test]
async fn mongo_data_from_before_verified_ratings_is_backfilled_at_start_up() {
    on_mongo_database(
        "data_from_before_verified_ratings_is_backfilled_at_start_up",
        data_from_before_verified_ratings_is_backfilled_at_start_up,
    )
    .await;
}
