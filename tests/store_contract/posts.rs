//! Contract of `PostStore`: posts, listings, feed, search and tags.

use agora::domain::{Amount, CategoryId, Currency, ListingStatus, Post, PostId, PostKind, UserId};
use agora::store::{ListingPatch, PostOrder, PostPatch, PostQuery, Stores};
use chrono::Duration;

use crate::fixtures::{listing, ms, now, page, person, text_post};

fn ids(posts: &[Post]) -> Vec<PostId> {
    posts.iter().map(|p| p.id.clone()).collect()
}

fn cursor(post: &Post) -> String {
    format!("{}:{}", post.created_at.timestamp_millis(), post.id)
}

pub async fn a_created_post_reads_back_exactly(stores: Stores) {
    let ann = person(&stores, "ann").await;
    let mut text = text_post(&ann, now(), "Hello #world @bob", &["world"]);
    text.mentions = vec![UserId::generate()];
    text.title = Some("Greeting".into());
    let item = listing(&ann, now() + ms(1), "1999.50", 3, "cameras");
    stores.posts.create_post(&text).await.unwrap();
    stores.posts.create_post(&item).await.unwrap();
    assert_eq!(
        stores.posts.get_post(&text.id).await.unwrap(),
        Some(text.clone())
    );
    assert_eq!(
        stores.posts.get_post(&item.id).await.unwrap(),
        Some(item.clone())
    );
    let mut many = stores
        .posts
        .get_many_posts(&[item.id.clone(), text.id.clone(), PostId::generate()])
        .await
        .unwrap();
    many.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(many, vec![text, item]);
    assert_eq!(
        stores.posts.get_post(&PostId::generate()).await.unwrap(),
        None
    );
}

pub async fn deleted_posts_are_never_returned(stores: Stores) {
    let ann = person(&stores, "ann").await;
    let post = text_post(&ann, now(), "Gone soon #bye", &["bye"]);
    stores.posts.create_post(&post).await.unwrap();
    assert!(stores.posts.delete_post(&post.id, now()).await.unwrap());
    assert!(
        !stores.posts.delete_post(&post.id, now()).await.unwrap(),
        "a second delete finds nothing"
    );
    assert_eq!(stores.posts.get_post(&post.id).await.unwrap(), None);
    assert!(
        stores
            .posts
            .get_many_posts(std::slice::from_ref(&post.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .posts
            .feed(std::slice::from_ref(&ann), &[], &page(10, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let everything = PostQuery::default();
    assert!(
        stores
            .posts
            .search_posts(&everything, PostOrder::Newest, &page(10, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(stores.posts.count_posts(&everything).await.unwrap(), 0);
    assert!(
        stores
            .posts
            .trending_tags(now() - Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let edit = PostPatch {
        body: Some(("x".into(), vec![], vec![])),
        ..PostPatch::default()
    };
    assert_eq!(
        stores
            .posts
            .update_post(&post.id, &edit, now())
            .await
            .unwrap(),
        None
    );
}

pub async fn editing_a_post_sets_edited_at_and_settles_the_listing_status(stores: Stores) {
    let ann = person(&stores, "ann").await;
    let item = listing(&ann, now(), "100", 2, "phones");
    stores.posts.create_post(&item).await.unwrap();
    let at = now() + ms(5);
    let patch = PostPatch {
        title: Some(Some("Phone".into())),
        body: Some(("New body #phone".into(), vec!["phone".into()], vec![])),
        listing: Some(ListingPatch {
            stock: Some(0),
            ..ListingPatch::default()
        }),
        ..PostPatch::default()
    };
    let edited = stores
        .posts
        .update_post(&item.id, &patch, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.edited_at, Some(at));
    assert_eq!(edited.title.as_deref(), Some("Phone"));
    assert_eq!(edited.tags, ["phone"]);
    assert_eq!(
        edited.listing.as_ref().unwrap().status,
        ListingStatus::Sold,
        "no stock: sold"
    );
    let restock = PostPatch {
        listing: Some(ListingPatch {
            stock: Some(5),
            ..ListingPatch::default()
        }),
        ..PostPatch::default()
    };
    let restocked = stores
        .posts
        .update_post(&item.id, &restock, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        restocked.listing.as_ref().unwrap().status,
        ListingStatus::Active,
        "restocked: active again"
    );
    assert_eq!(
        stores.posts.get_post(&item.id).await.unwrap(),
        Some(restocked)
    );
}

pub async fn the_feed_pages_newest_first_without_gaps_while_posts_arrive(stores: Stores) {
    let (ann, bob, cy) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "cyd").await,
    );
    let start = now() - Duration::hours(1);
    let mut expected = Vec::new();
    for i in 0..7 {
        let post = text_post(
            if i % 2 == 0 { &ann } else { &bob },
            start + ms(i * 10),
            &format!("post {i}"),
            &[],
        );
        stores.posts.create_post(&post).await.unwrap();
        expected.push(post);
    }
    stores
        .posts
        .create_post(&text_post(&cy, start + ms(3), "not followed", &[]))
        .await
        .unwrap();
    let mut draft = listing(&ann, start + ms(4), "5", 1, "books");
    draft.listing.as_mut().unwrap().status = ListingStatus::Draft;
    stores.posts.create_post(&draft).await.unwrap();
    expected.reverse();

    let authors = [ann.clone(), bob.clone()];
    let first = stores
        .posts
        .feed(&authors, &[], &page(3, None))
        .await
        .unwrap();
    assert!(first.has_next);
    // A newer post lands between pages: it must not shift the next page.
    stores
        .posts
        .create_post(&text_post(&ann, now(), "fresh", &[]))
        .await
        .unwrap();
    let second = stores
        .posts
        .feed(&authors, &[], &page(3, Some(cursor(&first.items[2]))))
        .await
        .unwrap();
    let third = stores
        .posts
        .feed(&authors, &[], &page(3, Some(cursor(&second.items[2]))))
        .await
        .unwrap();
    assert!(!third.has_next);
    let seen: Vec<PostId> = [first.items, second.items, third.items]
        .concat()
        .iter()
        .map(|p| p.id.clone())
        .collect();
    assert_eq!(seen, ids(&expected));

    let without_bob = stores
        .posts
        .feed(&authors, std::slice::from_ref(&bob), &page(20, None))
        .await
        .unwrap();
    assert!(without_bob.items.iter().all(|p| p.author_id == ann));
}

pub async fn search_filters_narrow_the_results(stores: Stores) {
    let (ann, bob) = (person(&stores, "ann").await, person(&stores, "bob").await);
    let t0 = now() - Duration::days(2);
    let cheap = listing(&ann, t0, "10", 0, "phones");
    let camera = listing(&ann, t0 + Duration::days(1), "500.25", 4, "cameras");
    let shoes = listing(&bob, t0 + Duration::days(1) + ms(1), "80", 1, "shoes");
    let chat = text_post(&bob, t0 + ms(5), "Just chatting #coffee", &["coffee"]);
    let mut draft = listing(&ann, t0 + ms(9), "70", 1, "phones");
    draft.listing.as_mut().unwrap().status = ListingStatus::Draft;
    for p in [&cheap, &camera, &shoes, &chat, &draft] {
        stores.posts.create_post(p).await.unwrap();
    }
    let kzt = Currency::parse("currency", "KZT").unwrap();
    let scaled = |s: &str| Amount::parse("p", s, kzt).unwrap().scaled();
    let ids_of = |posts: &[&Post]| posts.iter().map(|p| p.id.clone()).collect::<Vec<PostId>>();
    let check = |query: PostQuery, mut want: Vec<PostId>| {
        let stores = stores.clone();
        async move {
            let found = stores
                .posts
                .search_posts(&query, PostOrder::Newest, &page(50, None))
                .await
                .unwrap();
            let mut got = ids(&found.items);
            got.sort();
            want.sort();
            assert_eq!(got, want, "{query:?}");
            assert_eq!(
                stores.posts.count_posts(&query).await.unwrap(),
                want.len() as u64,
                "{query:?}"
            );
        }
    };
    check(
        PostQuery::default(),
        ids_of(&[&cheap, &camera, &shoes, &chat]),
    )
    .await;
    check(
        PostQuery {
            author_id: Some(ann.clone()),
            ..Default::default()
        },
        ids_of(&[&cheap, &camera]),
    )
    .await;
    check(
        PostQuery {
            drafts_of: Some(ann.clone()),
            author_id: Some(ann.clone()),
            ..Default::default()
        },
        ids_of(&[&cheap, &camera, &draft]),
    )
    .await;
    check(
        PostQuery {
            kind: Some(PostKind::Text),
            ..Default::default()
        },
        ids_of(&[&chat]),
    )
    .await;
    check(
        PostQuery {
            tag: Some("coffee".into()),
            ..Default::default()
        },
        ids_of(&[&chat]),
    )
    .await;
    check(
        PostQuery {
            category_ids: vec![
                CategoryId::from_trusted("phones".into()),
                CategoryId::from_trusted("cameras".into()),
            ],
            ..Default::default()
        },
        ids_of(&[&cheap, &camera]),
    )
    .await;
    check(
        PostQuery {
            price_min: Some(scaled("80")),
            price_max: Some(scaled("500.25")),
            ..Default::default()
        },
        ids_of(&[&camera, &shoes]),
    )
    .await;
    check(
        PostQuery {
            in_stock: Some(true),
            ..Default::default()
        },
        ids_of(&[&camera, &shoes]),
    )
    .await;
    check(
        PostQuery {
            in_stock: Some(false),
            kind: Some(PostKind::Listing),
            ..Default::default()
        },
        ids_of(&[&cheap]),
    )
    .await;
    check(
        PostQuery {
            status: Some(ListingStatus::Active),
            ..Default::default()
        },
        ids_of(&[&cheap, &camera, &shoes]),
    )
    .await;
    check(
        PostQuery {
            created_after: Some(t0 + Duration::hours(1)),
            ..Default::default()
        },
        ids_of(&[&camera, &shoes]),
    )
    .await;
    check(
        PostQuery {
            created_before: Some(t0 + ms(5)),
            ..Default::default()
        },
        ids_of(&[&cheap]),
    )
    .await;
    check(
        PostQuery {
            authors: vec![bob.clone()],
            ..Default::default()
        },
        ids_of(&[&shoes, &chat]),
    )
    .await;
    check(
        PostQuery {
            exclude_authors: vec![bob.clone()],
            ..Default::default()
        },
        ids_of(&[&cheap, &camera]),
    )
    .await;
}

pub async fn price_orders_page_by_price_and_skip_posts_without_one(stores: Stores) {
    let ann = person(&stores, "ann").await;
    let at = now();
    let mut listings = Vec::new();
    for (i, price) in ["30", "10", "20", "20", "50"].iter().enumerate() {
        let post = listing(&ann, at + ms(i as i64), price, 1, "books");
        stores.posts.create_post(&post).await.unwrap();
        listings.push(post);
    }
    stores
        .posts
        .create_post(&text_post(&ann, at, "no price", &[]))
        .await
        .unwrap();
    let price_cursor = |p: &Post| {
        format!(
            "{}:{}",
            p.listing.as_ref().unwrap().price.amount.scaled(),
            p.id
        )
    };
    for (order, expected) in [
        (PostOrder::PriceAsc, vec!["10", "20", "20", "30", "50"]),
        (PostOrder::PriceDesc, vec!["50", "30", "20", "20", "10"]),
    ] {
        let mut after = None;
        let mut prices = Vec::new();
        loop {
            let found = stores
                .posts
                .search_posts(&PostQuery::default(), order, &page(2, after.clone()))
                .await
                .unwrap();
            prices.extend(found.items.iter().map(|p| {
                p.listing
                    .as_ref()
                    .unwrap()
                    .price
                    .amount
                    .format(p.listing.as_ref().unwrap().price.currency)
            }));
            if !found.has_next {
                break;
            }
            after = found.items.last().map(price_cursor);
        }
        let expected: Vec<String> = expected.iter().map(|p| format!("{p}.00")).collect();
        assert_eq!(prices, expected, "{order:?}");
    }
}

pub async fn trending_tags_count_recent_listed_posts(stores: Stores) {
    let ann = person(&stores, "ann").await;
    let old = now() - Duration::days(3);
    stores
        .posts
        .create_post(&text_post(&ann, old, "#old", &["old"]))
        .await
        .unwrap();
    for i in 0..3 {
        stores
            .posts
            .create_post(&text_post(
                &ann,
                now() - ms(i),
                "#rust #sqlite",
                &["rust", "sqlite"],
            ))
            .await
            .unwrap();
    }
    stores
        .posts
        .create_post(&text_post(&ann, now(), "#rust", &["rust"]))
        .await
        .unwrap();
    let mut draft = listing(&ann, now(), "1", 1, "books");
    draft.tags = vec!["secret".into()];
    draft.listing.as_mut().unwrap().status = ListingStatus::Draft;
    stores.posts.create_post(&draft).await.unwrap();
    let tags = stores
        .posts
        .trending_tags(now() - Duration::days(1), 2)
        .await
        .unwrap();
    assert_eq!(tags, vec![("rust".to_owned(), 4), ("sqlite".to_owned(), 3)]);
}

pub async fn text_search_needs_every_word_in_any_case(stores: Stores) {
    let ann = person(&stores, "ann").await;
    let mut camera = listing(&ann, now(), "100", 1, "cameras");
    camera.title = Some("Canon camera".into());
    camera.body = "Mirrorless body, barely used".into();
    let lens = text_post(&ann, now() + ms(1), "Looking for a Canon lens", &["lens"]);
    let other = text_post(&ann, now() + ms(2), "Nothing to see", &["misc"]);
    for p in [&camera, &lens, &other] {
        stores.posts.create_post(p).await.unwrap();
    }
    let search = |text: &str| {
        let (stores, query) = (
            stores.clone(),
            PostQuery {
                text: Some(text.into()),
                ..Default::default()
            },
        );
        async move {
            let mut found = ids(&stores
                .posts
                .search_posts(&query, PostOrder::Newest, &page(10, None))
                .await
                .unwrap()
                .items);
            found.sort();
            found
        }
    };
    let mut both = vec![camera.id.clone(), lens.id.clone()];
    both.sort();
    assert_eq!(search("canon").await, both);
    assert_eq!(
        search("CANON camera").await,
        vec![camera.id.clone()],
        "every word must match"
    );
    assert_eq!(
        search("lens").await,
        vec![lens.id.clone()],
        "tags and body are searched"
    );
    assert_eq!(search("mirrorless").await, vec![camera.id.clone()]);
    assert!(search("tripod").await.is_empty());
    assert!(
        search("\"; DROP TABLE posts; --").await.is_empty(),
        "operators in the text are literal"
    );
}

/// A server that cannot build text indexes (SecantusDB) says so with `Unsupported`, which
/// reaches clients as a coded error; it never fails as a backend error.
pub async fn text_search_works_or_is_reported_unsupported(stores: Stores) {
    let ann = person(&stores, "ann").await;
    stores
        .posts
        .create_post(&text_post(&ann, now(), "A Canon lens", &["lens"]))
        .await
        .unwrap();
    let query = PostQuery {
        text: Some("canon".into()),
        ..Default::default()
    };
    match stores
        .posts
        .search_posts(&query, PostOrder::Newest, &page(10, None))
        .await
    {
        Ok(found) => assert_eq!(found.items.len(), 1),
        Err(agora::store::StoreError::Unsupported(feature)) => {
            assert!(feature.contains("text search"), "{feature}")
        }
        Err(other) => panic!("text search failed: {other:?}"),
    }
}
