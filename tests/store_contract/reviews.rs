//! Contract of `ReviewStore`: one review per author and listing, counters exact under
//! concurrent writes, newest-first lists and seller sums.

use std::sync::Arc;

use agora::domain::{OrderStatus, Rating, RatingSummary, Review, ReviewId};
use agora::store::{
    OrderUpdate, PageRequest, PostOrder, PostQuery, ReviewQuery, StoreError, Stores, cursor_of,
};

use crate::fixtures::{advance, bought, first, listed, listing, ms, now, person, review, summary};

pub async fn a_review_reads_back_and_a_second_by_the_same_author_conflicts(stores: Stores) {
    let (ann, sam) = (person(&stores, "ann").await, person(&stores, "sam").await);
    let post = listed(&stores, &sam, "10", 5).await;
    let first = review(&post, &ann, 4, now());
    stores.reviews.create_review(&first).await.unwrap();
    assert_eq!(
        stores.reviews.get_review(&post.id, &ann).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        stores
            .reviews
            .get_many_reviews(&[first.id.clone(), ReviewId::generate()])
            .await
            .unwrap(),
        vec![first.clone()]
    );
    let err = stores
        .reviews
        .create_review(&review(&post, &ann, 1, now()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { field: "postId" }),
        "{err:?}"
    );
    assert_eq!(
        summary(&stores, &post.id).await,
        RatingSummary {
            count: 1,
            sum: 4,
            histogram: [0, 0, 0, 1, 0],
            ..RatingSummary::default()
        }
    );
    let stored = stores.posts.get_post(&post.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.counts.rating_count, stored.counts.rating_sum),
        (1, 4)
    );
}

pub async fn updating_and_deleting_move_the_counters(stores: Stores) {
    let (ann, bob, sam) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "sam").await,
    );
    let post = listed(&stores, &sam, "10", 5).await;
    let mut a = review(&post, &ann, 5, now());
    let b = review(&post, &bob, 2, now() + ms(1));
    stores.reviews.create_review(&a).await.unwrap();
    stores.reviews.create_review(&b).await.unwrap();
    a.rating = Rating::parse("rating", 3).unwrap();
    a.body = None;
    a.edited_at = Some(now());
    assert!(stores.reviews.update_review(&a).await.unwrap());
    assert_eq!(
        stores.reviews.get_review(&post.id, &ann).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        summary(&stores, &post.id).await,
        RatingSummary {
            count: 2,
            sum: 5,
            histogram: [0, 1, 1, 0, 0],
            ..RatingSummary::default()
        }
    );
    assert_eq!(
        stores.reviews.delete_review(&b.id).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(stores.reviews.delete_review(&b.id).await.unwrap(), None);
    assert!(!stores.reviews.update_review(&b).await.unwrap());
    assert_eq!(
        summary(&stores, &post.id).await,
        RatingSummary {
            count: 1,
            sum: 3,
            histogram: [0, 0, 1, 0, 0],
            ..RatingSummary::default()
        }
    );
    let stored = stores.posts.get_post(&post.id).await.unwrap().unwrap();
    assert_eq!(stored.counts.verified_rating_average_milli(), 0);
}

pub async fn concurrent_reviews_keep_the_counters_exact(stores: Stores) {
    let sam = person(&stores, "sam").await;
    let post = listed(&stores, &sam, "10", 5).await;
    let mut authors = Vec::new();
    for i in 0..20 {
        authors.push(person(&stores, &format!("rev{i:02}")).await);
    }
    let stores = Arc::new(stores);
    let tasks: Vec<_> = authors
        .iter()
        .enumerate()
        .map(|(i, author)| {
            let stores = Arc::clone(&stores);
            let r = review(&post, author, (i % 5) as i64 + 1, now());
            tokio::spawn(async move {
                stores.reviews.create_review(&r).await.unwrap();
                if r.rating.value() == 1 {
                    // Half of the one-star reviews change their mind, racing the others.
                    let mut changed = r.clone();
                    changed.rating = Rating::parse("rating", 5).unwrap();
                    assert!(stores.reviews.update_review(&changed).await.unwrap());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // 4 of each star, then every one-star became five-star.
    assert_eq!(
        summary(&stores, &post.id).await,
        RatingSummary {
            count: 20,
            sum: 4 * (2 + 3 + 4) + 8 * 5,
            histogram: [0, 4, 4, 4, 8],
            ..RatingSummary::default()
        }
    );
}

pub async fn reviews_are_listed_newest_first_by_filter(stores: Stores) {
    let (ann, bob, sam) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "sam").await,
    );
    let (p, q) = (
        listed(&stores, &sam, "10", 5).await,
        listed(&stores, &sam, "10", 5).await,
    );
    let t = now();
    let all = [
        review(&p, &ann, 5, t),
        review(&p, &bob, 3, t + ms(1)),
        review(&q, &ann, 5, t + ms(2)),
    ];
    for r in &all {
        stores.reviews.create_review(r).await.unwrap();
    }
    let ids =
        |page: agora::store::Page<Review>| page.items.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let first = first(2);
    let page = stores
        .reviews
        .reviews(&ReviewQuery::default(), &first)
        .await
        .unwrap();
    assert!(page.has_next);
    let last = page.items.last().unwrap().clone();
    assert_eq!(ids(page), [all[2].id.clone(), all[1].id.clone()]);
    let next = PageRequest {
        after: Some(format!(
            "{}:{}",
            last.created_at.timestamp_millis(),
            last.id
        )),
        limit: 2,
    };
    let page = stores
        .reviews
        .reviews(&ReviewQuery::default(), &next)
        .await
        .unwrap();
    assert!(!page.has_next);
    assert_eq!(ids(page), [all[0].id.clone()]);

    let five = ReviewQuery {
        rating: Some(Rating::parse("rating", 5).unwrap()),
        ..Default::default()
    };
    assert_eq!(stores.reviews.count_reviews(&five).await.unwrap(), 2);
    let of_p_by_ann = ReviewQuery {
        post_id: Some(p.id.clone()),
        author_id: Some(ann.clone()),
        ..Default::default()
    };
    let page = stores.reviews.reviews(&of_p_by_ann, &first).await.unwrap();
    assert_eq!(ids(page), [all[0].id.clone()]);
}

pub async fn a_sellers_rating_sums_their_listings(stores: Stores) {
    let (ann, bob, sam, sue) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "sam").await,
        person(&stores, "sue").await,
    );
    let (p, q) = (
        listed(&stores, &sam, "10", 5).await,
        listed(&stores, &sam, "10", 5).await,
    );
    stores
        .reviews
        .create_review(&review(&p, &ann, 5, now()))
        .await
        .unwrap();
    stores
        .reviews
        .create_review(&review(&q, &ann, 2, now()))
        .await
        .unwrap();
    stores
        .reviews
        .create_review(&review(&q, &bob, 4, now()))
        .await
        .unwrap();
    let ratings = stores
        .reviews
        .seller_ratings(&[sam.clone(), sue.clone()])
        .await
        .unwrap();
    assert_eq!(
        ratings,
        [(
            sam,
            RatingSummary {
                count: 3,
                sum: 11,
                histogram: [0, 1, 0, 1, 1],
                ..RatingSummary::default()
            }
        )]
    );
}

pub async fn a_review_counts_as_verified_exactly_when_its_author_received_the_listing(
    stores: Stores,
) {
    let (ann, bob, carl, sam) = (
        person(&stores, "ann").await,
        person(&stores, "bob").await,
        person(&stores, "carl").await,
        person(&stores, "sam").await,
    );
    let (p, q) = (
        listed(&stores, &sam, "10", 5).await,
        listed(&stores, &sam, "10", 5).await,
    );

    // A stranger's one star and a buyer's five stars written before the delivery: neither
    // is verified yet.
    stores
        .reviews
        .create_review(&review(&p, &carl, 1, now()))
        .await
        .unwrap();
    let on_the_way = bought(&stores, &ann, &p, false).await;
    let mut anns = review(&p, &ann, 5, now());
    stores.reviews.create_review(&anns).await.unwrap();
    let s = summary(&stores, &p.id).await;
    assert_eq!(
        (s.count, s.sum, s.verified_count, s.verified_sum),
        (2, 6, 0, 0)
    );

    // The delivery verifies Ann's review, in the order's own write.
    advance(&stores, &on_the_way, OrderStatus::Delivered, false).await;
    let s = summary(&stores, &p.id).await;
    assert_eq!(
        (s.count, s.sum, s.verified_count, s.verified_sum),
        (2, 6, 1, 5)
    );
    assert_eq!(s.average(), Some(3.0));
    assert_eq!(s.verified_average(), Some(5.0));

    // A review written after the delivery is verified at once; edits and deletes move the
    // verified counters of verified reviews only.
    bought(&stores, &bob, &p, true).await;
    let mut bobs = review(&p, &bob, 4, now());
    stores.reviews.create_review(&bobs).await.unwrap();
    bobs.rating = Rating::parse("rating", 2).unwrap();
    assert!(stores.reviews.update_review(&bobs).await.unwrap());
    anns.rating = Rating::parse("rating", 4).unwrap();
    assert!(stores.reviews.update_review(&anns).await.unwrap());
    let mut carls = stores
        .reviews
        .get_review(&p.id, &carl)
        .await
        .unwrap()
        .unwrap();
    carls.rating = Rating::parse("rating", 2).unwrap();
    assert!(stores.reviews.update_review(&carls).await.unwrap());
    assert_eq!(
        summary(&stores, &p.id).await,
        RatingSummary {
            count: 3,
            sum: 8,
            histogram: [0, 2, 0, 1, 0],
            verified_count: 2,
            verified_sum: 6,
        }
    );
    stores.reviews.delete_review(&carls.id).await.unwrap();
    stores.reviews.delete_review(&bobs.id).await.unwrap();
    let s = summary(&stores, &p.id).await;
    assert_eq!((s.count, s.verified_count, s.verified_sum), (1, 1, 4));
    // The flag agrees with the delivered orders.
    assert_eq!(
        stores
            .orders
            .delivered_purchases(&[(ann.clone(), p.id.clone()), (carl.clone(), p.id.clone())])
            .await
            .unwrap(),
        [(ann.clone(), p.id.clone())]
    );

    // `Rating` sorts by the verified average: Q's stranger five stars count for nothing.
    stores
        .reviews
        .create_review(&review(&q, &carl, 5, now()))
        .await
        .unwrap();
    let first = first(1);
    let page = stores
        .posts
        .search_posts(&PostQuery::default(), PostOrder::Rating, &first)
        .await
        .unwrap();
    assert_eq!(page.items[0].id, p.id);
    assert_eq!(page.items[0].counts.verified_rating_average_milli(), 4000);
    let next = PageRequest {
        after: Some(cursor_of(&page.items[0], PostOrder::Rating)),
        limit: 1,
    };
    let page = stores
        .posts
        .search_posts(&PostQuery::default(), PostOrder::Rating, &next)
        .await
        .unwrap();
    assert_eq!(page.items[0].id, q.id);

    // A seller's rating sums the verified counters too.
    let ratings = stores.reviews.seller_ratings(&[sam]).await.unwrap();
    let s = ratings[0].1;
    assert_eq!(
        (s.count, s.verified_count, s.verified_sum),
        (2, 1, 4),
        "{ratings:?}"
    );
}

pub async fn deliveries_racing_reviews_still_count_every_verified_purchase(stores: Stores) {
    let sam = person(&stores, "sam").await;
    let post = listing(&sam, now(), "10", 10, "cameras");
    stores.posts.create_post(&post).await.unwrap();
    let mut orders = Vec::new();
    for i in 0..10 {
        let buyer = person(&stores, &format!("buyer{i}")).await;
        orders.push(bought(&stores, &buyer, &post, false).await);
    }
    let stores = Arc::new(stores);
    let mut tasks = Vec::new();
    for order in &orders {
        let (delivery, review) = (
            order.moved(OrderStatus::Delivered, now(), None),
            review(&post, &order.buyer_id, 4, now()),
        );
        let stores_a = Arc::clone(&stores);
        tasks.push(tokio::spawn(async move {
            assert!(matches!(
                stores_a
                    .orders
                    .update_order(&delivery, false)
                    .await
                    .unwrap(),
                OrderUpdate::Updated { .. }
            ));
        }));
        let stores_b = Arc::clone(&stores);
        tasks.push(tokio::spawn(async move {
            stores_b.reviews.create_review(&review).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let s = summary(&stores, &post.id).await;
    assert_eq!((s.count, s.verified_count, s.verified_sum), (10, 10, 40));
}
