//! Start-up on data stored by earlier versions. The SQLite migrations have unit tests beside
//! them (`src/store/sqlite.rs`); these cover MongoDB, whose documents change shape in place.

use agora::domain::{User, UserId};
use agora::store::StoreError;
use mongodb::Database;
use mongodb::bson::{Document, doc};

use crate::fixtures::user;
use crate::harness::on_mongo_seeded;

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
async fn mongo_users_stored_before_skeletons_get_them_at_start_up() {
    // Created in this order, so ids (UUID v7) sort the same way; the first two look alike.
    let old = [user("ann_l"), user("ann_1"), user("bob")];
    let seeded = old.clone();
    on_mongo_seeded(
        "mongo_users_stored_before_skeletons_get_them_at_start_up",
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
                let found = stores.accounts.get_user(&old.id).await.unwrap();
                assert_eq!(found.map(|u| u.username), Some(old.username.clone()));
            }
            let err = stores
                .accounts
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
