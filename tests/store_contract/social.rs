//! The social graph: follows, blocks, the counters on users, batch helpers and list pages.

use std::collections::HashSet;

use agora::domain::{User, UserId};
use agora::store::{FollowEdge, Keyed, PageRequest, Stores};

use crate::fixtures::{create, create_users, first, ms, now, user};

/// `(followers_count, following_count)` of a stored user.
async fn counts(stores: &Stores, id: &UserId) -> (u64, u64) {
    let stored = stores
        .users
        .get_user(id)
        .await
        .unwrap()
        .expect("the user exists");
    (stored.followers_count, stored.following_count)
}

fn sorted(mut ids: Vec<UserId>) -> Vec<UserId> {
    ids.sort();
    ids
}

fn after(edge: &FollowEdge, limit: usize) -> PageRequest {
    PageRequest {
        after: Some(edge.cursor()),
        limit,
    }
}

pub async fn following_is_idempotent_and_counted_on_both_users(stores: Stores) {
    let [ann, bob] = <[User; 2]>::try_from(create_users(&stores, &["ann", "bob"]).await).unwrap();
    let social = &stores.social;

    assert!(social.follow(&ann.id, &bob.id, now()).await.unwrap());
    assert!(!social.follow(&ann.id, &bob.id, now()).await.unwrap());

    assert_eq!(counts(&stores, &ann.id).await, (0, 1));
    assert_eq!(counts(&stores, &bob.id).await, (1, 0));
    assert_eq!(
        social.followee_ids(&ann.id).await.unwrap(),
        vec![bob.id.clone()]
    );
    assert!(social.followee_ids(&bob.id).await.unwrap().is_empty());
    let followers = social.followers(&bob.id, &first(10)).await.unwrap();
    assert_eq!(followers.items.len(), 1);
    assert_eq!(followers.items[0].user_id, ann.id);
    assert!(!followers.has_next);
    // The rest of the account reads back untouched.
    let stored = stores.users.get_user(&bob.id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        User {
            followers_count: 1,
            ..bob
        }
    );
}

pub async fn unfollowing_removes_the_edge_and_its_counts_once(stores: Stores) {
    let [ann, bob] = <[User; 2]>::try_from(create_users(&stores, &["ann", "bob"]).await).unwrap();
    let social = &stores.social;
    social.follow(&ann.id, &bob.id, now()).await.unwrap();

    assert!(social.unfollow(&ann.id, &bob.id).await.unwrap());
    assert!(!social.unfollow(&ann.id, &bob.id).await.unwrap());
    assert!(!social.unfollow(&bob.id, &ann.id).await.unwrap());

    assert_eq!(counts(&stores, &ann.id).await, (0, 0));
    assert_eq!(counts(&stores, &bob.id).await, (0, 0));
    assert!(social.followee_ids(&ann.id).await.unwrap().is_empty());
    assert!(
        social
            .followers(&bob.id, &first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub async fn blocking_removes_follows_both_ways_and_keeps_them_out(stores: Stores) {
    let [ann, bob, cid] =
        <[User; 3]>::try_from(create_users(&stores, &["ann", "bob", "cid"]).await).unwrap();
    let social = &stores.social;
    for (a, b) in [(&ann, &bob), (&bob, &ann), (&cid, &ann), (&bob, &cid)] {
        social.follow(&a.id, &b.id, now()).await.unwrap();
    }

    assert!(social.block(&ann.id, &bob.id, now()).await.unwrap());
    assert!(!social.block(&ann.id, &bob.id, now()).await.unwrap());

    // Only the edges between the pair went, with their counts.
    assert_eq!(counts(&stores, &ann.id).await, (1, 0));
    assert_eq!(counts(&stores, &bob.id).await, (0, 1));
    assert_eq!(counts(&stores, &cid.id).await, (1, 1));
    assert!(social.followee_ids(&ann.id).await.unwrap().is_empty());
    assert_eq!(
        social.followee_ids(&bob.id).await.unwrap(),
        vec![cid.id.clone()]
    );
    assert!(
        social
            .is_blocked_either_way(&ann.id, &bob.id)
            .await
            .unwrap()
    );
    assert!(
        social
            .is_blocked_either_way(&bob.id, &ann.id)
            .await
            .unwrap()
    );
    assert!(
        !social
            .is_blocked_either_way(&ann.id, &cid.id)
            .await
            .unwrap()
    );

    // Neither side can follow the other while the block stands.
    assert!(!social.follow(&bob.id, &ann.id, now()).await.unwrap());
    assert!(!social.follow(&ann.id, &bob.id, now()).await.unwrap());
    assert_eq!(counts(&stores, &ann.id).await, (1, 0));
    assert_eq!(counts(&stores, &bob.id).await, (0, 1));

    // Unblocking lifts the ban but does not restore the removed follows.
    assert!(social.unblock(&ann.id, &bob.id).await.unwrap());
    assert!(!social.unblock(&ann.id, &bob.id).await.unwrap());
    assert!(
        !social
            .is_blocked_either_way(&ann.id, &bob.id)
            .await
            .unwrap()
    );
    assert!(social.followee_ids(&ann.id).await.unwrap().is_empty());
    assert!(social.follow(&bob.id, &ann.id, now()).await.unwrap());
    assert_eq!(counts(&stores, &ann.id).await, (2, 0));
}

pub async fn batch_helpers_answer_for_known_ids_only(stores: Stores) {
    let [ann, bob, cid, dan] =
        <[User; 4]>::try_from(create_users(&stores, &["ann", "bob", "cid", "dan"]).await).unwrap();
    let social = &stores.social;
    let ghost = UserId::generate();
    social.follow(&ann.id, &bob.id, now()).await.unwrap();
    social.follow(&ann.id, &cid.id, now()).await.unwrap();
    social.block(&ann.id, &dan.id, now()).await.unwrap();
    social.block(&cid.id, &ann.id, now()).await.unwrap();
    social.block(&ann.id, &cid.id, now()).await.unwrap();

    let candidates = [
        bob.id.clone(),
        ghost.clone(),
        cid.id.clone(),
        dan.id.clone(),
        bob.id.clone(),
    ];
    // The block between ann and cid removed her follow of cid.
    assert_eq!(
        social.followed_among(&ann.id, &candidates).await.unwrap(),
        vec![bob.id.clone()]
    );
    assert_eq!(
        sorted(social.blocked_among(&ann.id, &candidates).await.unwrap()),
        sorted(vec![cid.id.clone(), dan.id.clone()])
    );
    // dan did not block ann: blocks are reported from the blocker's side only.
    assert!(
        social
            .blocked_among(&dan.id, std::slice::from_ref(&ann.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        social
            .followed_among(&ann.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(social.blocked_among(&ann.id, &[]).await.unwrap().is_empty());
    assert!(
        social
            .followed_among(&ghost, &candidates)
            .await
            .unwrap()
            .is_empty()
    );

    // Partners both ways, cid once although the block is mutual.
    assert_eq!(
        sorted(social.block_partners(&ann.id).await.unwrap()),
        sorted(vec![cid.id.clone(), dan.id.clone()])
    );
    assert_eq!(
        social.block_partners(&dan.id).await.unwrap(),
        vec![ann.id.clone()]
    );
    assert!(social.block_partners(&bob.id).await.unwrap().is_empty());
    assert!(social.block_partners(&ghost).await.unwrap().is_empty());
    assert!(social.followee_ids(&ghost).await.unwrap().is_empty());
    assert!(!social.is_blocked_either_way(&ghost, &ann.id).await.unwrap());
}

/// Edges and blocks join two distinct, existing users; anything else is refused and leaves
/// nothing behind.
pub async fn edges_need_two_distinct_existing_users(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let social = &stores.social;
    let ghost = UserId::generate();

    assert!(social.follow(&ann.id, &ghost, now()).await.is_err());
    assert!(social.follow(&ghost, &ann.id, now()).await.is_err());
    assert!(social.follow(&ann.id, &ann.id, now()).await.is_err());
    assert!(social.block(&ann.id, &ghost, now()).await.is_err());
    assert!(social.block(&ghost, &ann.id, now()).await.is_err());
    assert!(social.block(&ann.id, &ann.id, now()).await.is_err());

    assert_eq!(counts(&stores, &ann.id).await, (0, 0));
    assert!(social.followee_ids(&ann.id).await.unwrap().is_empty());
    assert!(social.followee_ids(&ghost).await.unwrap().is_empty());
    assert!(social.block_partners(&ann.id).await.unwrap().is_empty());
    assert!(!social.unfollow(&ann.id, &ghost).await.unwrap());
    assert!(!social.unblock(&ann.id, &ghost).await.unwrap());
}

/// Pages are newest first; a follow made between two page reads sorts before the cursor, so
/// the walk neither repeats nor skips anyone. Equal times are ordered by id, descending.
pub async fn follower_pages_cover_every_edge_once_with_follows_in_between(stores: Stores) {
    let target = user("target");
    create(&stores, &target).await;
    let social = &stores.social;
    let t0 = now();
    let mut expected = Vec::new();
    for i in 0..7 {
        let fan = user(&format!("fan{i}"));
        create(&stores, &fan).await;
        // fan5 and fan6 follow in the same millisecond: the id breaks the tie.
        let at = t0 + ms(i.min(5));
        social.follow(&fan.id, &target.id, at).await.unwrap();
        expected.push((at, fan.id.clone()));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<UserId> = expected.into_iter().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut page = social.followers(&target.id, &first(3)).await.unwrap();
    let late = user("late");
    create(&stores, &late).await;
    social
        .follow(&late.id, &target.id, t0 + ms(60))
        .await
        .unwrap();
    loop {
        seen.extend(page.items.iter().map(|e| e.user_id.clone()));
        let Some(last) = page.items.last().filter(|_| page.has_next) else {
            break;
        };
        page = social.followers(&target.id, &after(last, 3)).await.unwrap();
    }

    assert_eq!(seen, expected);
    assert_eq!(counts(&stores, &target.id).await.0, 8);
    let fresh = social.followers(&target.id, &first(1)).await.unwrap();
    assert_eq!(fresh.items[0].user_id, late.id);
    assert_eq!(fresh.items[0].followed_at, t0 + ms(60));
    assert!(fresh.has_next);
    let malformed = PageRequest {
        after: Some("not-a-cursor".into()),
        limit: 3,
    };
    assert!(social.followers(&target.id, &malformed).await.is_err());
}

pub async fn following_pages_list_followees_newest_first(stores: Stores) {
    let fan = user("fan");
    create(&stores, &fan).await;
    let social = &stores.social;
    let t0 = now();
    let mut expected = Vec::new();
    for i in 0..5 {
        let star = user(&format!("star{i}"));
        create(&stores, &star).await;
        social.follow(&fan.id, &star.id, t0 + ms(i)).await.unwrap();
        expected.insert(0, star.id.clone());
    }

    let one = social.following(&fan.id, &first(2)).await.unwrap();
    let two = social
        .following(&fan.id, &after(&one.items[1], 2))
        .await
        .unwrap();
    let three = social
        .following(&fan.id, &after(&two.items[1], 2))
        .await
        .unwrap();

    let seen: Vec<UserId> = [one.items, two.items, three.items.clone()]
        .concat()
        .into_iter()
        .map(|e| e.user_id)
        .collect();
    assert_eq!(seen, expected);
    assert!(!three.has_next);
    assert_eq!(three.items.len(), 1);
    let empty = social.following(&fan.id, &first(0)).await.unwrap();
    assert!(empty.items.is_empty() && empty.has_next);
}

pub async fn twenty_concurrent_follows_of_one_pair_make_one_edge(stores: Stores) {
    let [ann, bob] = <[User; 2]>::try_from(create_users(&stores, &["ann", "bob"]).await).unwrap();

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (stores, ann, bob) = (stores.clone(), ann.id.clone(), bob.id.clone());
            tokio::spawn(async move { stores.social.follow(&ann, &bob, now()).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        created += usize::from(task.await.unwrap().expect("a follow succeeds"));
    }

    assert_eq!(created, 1);
    assert_eq!(counts(&stores, &bob.id).await, (1, 0));
    assert_eq!(counts(&stores, &ann.id).await, (0, 1));
    let followers = stores.social.followers(&bob.id, &first(50)).await.unwrap();
    assert_eq!(followers.items.len(), 1);
}

pub async fn twenty_concurrent_followers_are_all_counted(stores: Stores) {
    let star = user("star");
    create(&stores, &star).await;
    let mut fans = Vec::new();
    for i in 0..20 {
        let fan = user(&format!("fan{i}"));
        create(&stores, &fan).await;
        fans.push(fan.id);
    }

    let tasks: Vec<_> = fans
        .iter()
        .map(|fan| {
            let (stores, fan, star) = (stores.clone(), fan.clone(), star.id.clone());
            tokio::spawn(async move { stores.social.follow(&fan, &star, now()).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().expect("a follow succeeds"));
    }

    assert_eq!(counts(&stores, &star.id).await, (20, 0));
    let listed: HashSet<UserId> = stores
        .social
        .followers(&star.id, &first(50))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.user_id)
        .collect();
    assert_eq!(listed, fans.into_iter().collect());
}

/// A follow racing a block of the same pair either lands first (and the block removes it)
/// or sees the block (and is refused): never an edge, never a stray count.
pub async fn a_follow_racing_a_block_never_leaves_an_edge(stores: Stores) {
    let [ann, bob] = <[User; 2]>::try_from(create_users(&stores, &["ann", "bob"]).await).unwrap();

    for _ in 0..10 {
        let follow = {
            let (stores, ann, bob) = (stores.clone(), ann.id.clone(), bob.id.clone());
            tokio::spawn(async move { stores.social.follow(&ann, &bob, now()).await })
        };
        let block = {
            let (stores, ann, bob) = (stores.clone(), ann.id.clone(), bob.id.clone());
            tokio::spawn(async move { stores.social.block(&bob, &ann, now()).await })
        };
        follow.await.unwrap().expect("the follow is answered");
        assert!(block.await.unwrap().expect("the block is recorded"));

        assert!(
            stores
                .social
                .followee_ids(&ann.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(counts(&stores, &ann.id).await, (0, 0));
        assert_eq!(counts(&stores, &bob.id).await, (0, 0));
        assert!(stores.social.unblock(&bob.id, &ann.id).await.unwrap());
    }
}
