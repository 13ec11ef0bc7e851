//! MongoDB start-up on data stored by earlier versions, whose documents change shape in place:
//! usernames without skeletons, and reviews and listings from before verified-purchase
//! ratings, which read as unverified until the start-up backfill computes their flags,
//! counters and sort key from the orders. (The SQLite migrations have unit tests beside them,
//! in `src/store/sqlite/migrate.rs`.)
//!
//! Like the suite's `mongo::` tests, these are ignored unless asked for and need
//! `TEST_MONGODB_URI`.

use agora::domain::{PostId, User, UserId};
use agora::store::{PostOrder, PostQuery, StoreError, Stores};
use mongodb::Database;
use mongodb::bson::{Document, doc};

use crate::fixtures::{bought, first, listing, now, person, review, summary, user};
use crate::harness::{MongoDatabase, on_mongo_database, on_mongo_seeded};

/// A user document as versions before username skeletons wrote it.
fn user_without_skeleton(user: &User) -> Document {
    doc! {
        "_id": user.id.as_str(),
        "email": user.email.as_str(),
        "username": user.username.as_str(),
        "display_name": &user.display_name,
        "display_name_lc": user.display_name.to_lowercase(),
        "roles": ["BUYER"],
        "active": true,
        "email_verified": false,
        "password_hash": "hash",
        "created_at": mongodb::bson::DateTime::now(),
        "updated_at": mongodb::bson::DateTime::now(),
        "followers_count": 0_i64,
        "following_count": 0_i64,
    }
}

async fn skeleton_of(db: &Database, id: &UserId) -> Option<String> {
    db.collection::<Document>("users")
        .find_one(doc! { "_id": id.as_str() })
        .await
        .expect("the user is readable")
        .and_then(|d| d.get_str("username_skeleton").ok().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs TEST_MONGODB_URI: a MongoDB server (see README, Testing)"]
async fn mongo_users_stored_before_skeletons_get_them_at_start_up() {
    // Created in this order, so ids (UUID v7) sort the same way; the first two look alike.
    let old = [user("ann_l"), user("ann_1"), user("bob")];
    let seeded = old.clone();
    on_mongo_seeded(
        |db| async move {
            let docs: Vec<Document> = seeded.iter().map(user_without_skeleton).collect();
            db.collection::<Document>("users")
                .insert_many(docs)
                .await
                .expect("the old users are stored");
        },
        move |stores, db| async move {
            let [ann_l, ann_1, bob] = old;
            assert_eq!(skeleton_of(&db, &ann_l.id).await.as_deref(), Some("ann_l"));
            assert_eq!(
                skeleton_of(&db, &ann_1.id).await,
                Some(format!("ann_l#{}", ann_1.id.as_str()))
            );
            assert_eq!(skeleton_of(&db, &bob.id).await.as_deref(), Some("bob"));
            // Both old look-alikes still work; a new one is refused.
            for old in [&ann_l, &ann_1] {
                let found = stores.users.get_user(&old.id).await.unwrap();
                assert_eq!(found.map(|u| u.username), Some(old.username.clone()));
            }
            let err = stores
                .users
                .create_user(&user("\u{430}nn_l"), "hash")
                .await
                .expect_err("a look-alike of an old name is refused");
            assert!(
                matches!(err, StoreError::Conflict { field: "username" }),
                "{err:?}"
            );
        },
    )
    .await;
}

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
        .search_posts(&PostQuery::default(), PostOrder::Rating, &first(10))
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
#[ignore = "needs TEST_MONGODB_URI: a MongoDB server (see README, Testing)"]
async fn mongo_data_from_before_verified_ratings_is_backfilled_at_start_up() {
    on_mongo_database(data_from_before_verified_ratings_is_backfilled_at_start_up).await;
}
