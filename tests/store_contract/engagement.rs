//! Contract of `EngagementStore`: comments, reactions and favorites with exact counters.

use std::sync::Arc;

use agora::domain::{Comment, CommentId, PostId, ReactionKind, UserId};
use agora::store::Stores;
use chrono::{DateTime, Utc};

use crate::fixtures::{ms, now, page, text_post, users};

fn comment(
    post: &PostId,
    author: &UserId,
    parent: Option<&CommentId>,
    at: DateTime<Utc>,
    body: &str,
) -> Comment {
    Comment {
        id: CommentId::generate(),
        post_id: post.clone(),
        author_id: author.clone(),
        parent_id: parent.cloned(),
        body: body.to_owned(),
        replies_count: 0,
        created_at: at,
        deleted_at: None,
    }
}

async fn post_by(stores: &Stores, author: &UserId) -> PostId {
    let post = text_post(author, now(), "a post", &[]);
    stores.posts.create_post(&post).await.unwrap();
    post.id
}

async fn counts(stores: &Stores, post: &PostId) -> agora::domain::PostCounts {
    stores.posts.get_post(post).await.unwrap().unwrap().counts
}

pub async fn comments_are_counted_and_threaded_oldest_first(stores: Stores) {
    let u = users(&stores, &["ann", "bob"]).await;
    let post = post_by(&stores, &u[0]).await;
    let at = now();
    let first = comment(&post, &u[1], None, at, "first");
    let second = comment(&post, &u[0], None, at + ms(1), "second");
    let reply = comment(&post, &u[0], Some(&first.id), at + ms(2), "reply");
    for c in [&first, &second, &reply] {
        stores.engagement.add_comment(c).await.unwrap();
    }
    assert_eq!(counts(&stores, &post).await.comments, 3);
    let top = stores
        .engagement
        .comments(&post, None, &[], &page(1, None))
        .await
        .unwrap();
    assert!(top.has_next);
    assert_eq!(top.items[0].body, "first");
    assert_eq!(top.items[0].replies_count, 1);
    let after = format!("{}:{}", first.created_at.timestamp_millis(), first.id);
    let rest = stores
        .engagement
        .comments(&post, None, &[], &page(5, Some(after)))
        .await
        .unwrap();
    assert_eq!((rest.items.len(), rest.has_next), (1, false));
    assert_eq!(rest.items[0].id, second.id);
    let replies = stores
        .engagement
        .comments(&post, Some(&first.id), &[], &page(5, None))
        .await
        .unwrap();
    assert_eq!(replies.items, vec![reply]);
    let without_bob = stores
        .engagement
        .comments(&post, None, &[u[1].clone()], &page(5, None))
        .await
        .unwrap();
    assert_eq!(
        without_bob
            .items
            .iter()
            .map(|c| &c.body)
            .collect::<Vec<_>>(),
        ["second"]
    );
}

pub async fn a_deleted_comment_keeps_its_place_and_stops_counting(stores: Stores) {
    let u = users(&stores, &["ann"]).await;
    let post = post_by(&stores, &u[0]).await;
    let parent = comment(&post, &u[0], None, now(), "parent");
    let reply = comment(&post, &u[0], Some(&parent.id), now() + ms(1), "reply");
    stores.engagement.add_comment(&parent).await.unwrap();
    stores.engagement.add_comment(&reply).await.unwrap();
    let deleted = stores
        .engagement
        .delete_comment(&parent.id, now())
        .await
        .unwrap();
    assert_eq!(deleted.map(|c| c.body), Some("parent".to_owned()));
    assert_eq!(
        stores
            .engagement
            .delete_comment(&parent.id, now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(counts(&stores, &post).await.comments, 1);
    let listed = stores
        .engagement
        .comments(&post, None, &[], &page(5, None))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].body, "");
    assert!(listed.items[0].deleted_at.is_some());
    let found = stores
        .engagement
        .get_many_comments(&[reply.id.clone(), parent.id.clone(), CommentId::generate()])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
}

pub async fn first_comments_come_in_one_batch_per_post(stores: Stores) {
    let u = users(&stores, &["ann"]).await;
    let (p1, p2, p3) = (
        post_by(&stores, &u[0]).await,
        post_by(&stores, &u[0]).await,
        post_by(&stores, &u[0]).await,
    );
    for i in 0..4 {
        stores
            .engagement
            .add_comment(&comment(&p1, &u[0], None, now() + ms(i), &format!("c{i}")))
            .await
            .unwrap();
    }
    stores
        .engagement
        .add_comment(&comment(&p2, &u[0], None, now(), "only"))
        .await
        .unwrap();
    let batch = stores
        .engagement
        .first_comments(&[p1.clone(), p2.clone(), p3.clone()], 3, &[])
        .await
        .unwrap();
    let of = |id: &PostId| {
        batch
            .iter()
            .find(|(p, _)| p == id)
            .map(|(_, page)| page.clone())
            .unwrap()
    };
    assert_eq!(
        of(&p1)
            .items
            .iter()
            .map(|c| c.body.as_str())
            .collect::<Vec<_>>(),
        ["c0", "c1", "c2"]
    );
    assert!(of(&p1).has_next);
    assert_eq!((of(&p2).items.len(), of(&p2).has_next), (1, false));
    assert!(of(&p3).items.is_empty());
}

pub async fn reacting_again_replaces_the_kind(stores: Stores) {
    let u = users(&stores, &["ann", "bob"]).await;
    let post = post_by(&stores, &u[0]).await;
    assert_eq!(
        stores
            .engagement
            .react(&post, &u[1], ReactionKind::Like, now())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .engagement
            .react(&post, &u[1], ReactionKind::Like, now())
            .await
            .unwrap(),
        Some(ReactionKind::Like)
    );
    assert_eq!(
        stores
            .engagement
            .react(&post, &u[1], ReactionKind::Wow, now())
            .await
            .unwrap(),
        Some(ReactionKind::Like)
    );
    let c = counts(&stores, &post).await;
    assert_eq!(
        (
            c.reactions[ReactionKind::Like.index()],
            c.reactions[ReactionKind::Wow.index()]
        ),
        (0, 1)
    );
    assert_eq!(
        stores
            .engagement
            .reactions_of(&u[1], &[post.clone(), PostId::generate()])
            .await
            .unwrap(),
        vec![(post.clone(), ReactionKind::Wow)]
    );
    assert_eq!(
        stores.engagement.unreact(&post, &u[1]).await.unwrap(),
        Some(ReactionKind::Wow)
    );
    assert_eq!(stores.engagement.unreact(&post, &u[1]).await.unwrap(), None);
    assert_eq!(counts(&stores, &post).await.reactions, [0; 6]);
}

pub async fn concurrent_reactions_keep_counts_exact(stores: Stores) {
    let names: Vec<String> = (0..20).map(|i| format!("user{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let u = users(&stores, &names).await;
    let post = post_by(&stores, &u[0]).await;
    let store = Arc::clone(&stores.engagement);
    let tasks: Vec<_> = u
        .iter()
        .cloned()
        .map(|user| {
            let (store, post) = (Arc::clone(&store), post.clone());
            tokio::spawn(async move {
                store
                    .react(&post, &user, ReactionKind::Like, now())
                    .await
                    .unwrap();
                store
                    .react(&post, &user, ReactionKind::Love, now())
                    .await
                    .unwrap();
                store
                    .react(&post, &user, ReactionKind::Love, now())
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let c = counts(&stores, &post).await;
    assert_eq!(c.reactions[ReactionKind::Like.index()], 0);
    assert_eq!(c.reactions[ReactionKind::Love.index()], 20);
}

pub async fn favorites_are_idempotent_and_listed_newest_first(stores: Stores) {
    let u = users(&stores, &["ann", "bob"]).await;
    let (p1, p2) = (post_by(&stores, &u[0]).await, post_by(&stores, &u[0]).await);
    let at = now();
    assert!(
        stores
            .engagement
            .add_favorite(&p1, &u[1], at)
            .await
            .unwrap()
    );
    assert!(
        !stores
            .engagement
            .add_favorite(&p1, &u[1], at)
            .await
            .unwrap()
    );
    assert!(
        stores
            .engagement
            .add_favorite(&p2, &u[1], at + ms(1))
            .await
            .unwrap()
    );
    assert_eq!(counts(&stores, &p1).await.favorites, 1);
    let first = stores
        .engagement
        .favorites(&u[1], &page(1, None))
        .await
        .unwrap();
    assert_eq!(
        (first.items[0].post_id.clone(), first.has_next),
        (p2.clone(), true)
    );
    let after = format!(
        "{}:{}",
        first.items[0].added_at.timestamp_millis(),
        first.items[0].post_id
    );
    let second = stores
        .engagement
        .favorites(&u[1], &page(1, Some(after)))
        .await
        .unwrap();
    assert_eq!(
        (second.items[0].post_id.clone(), second.has_next),
        (p1.clone(), false)
    );
    let mut among = stores
        .engagement
        .favorited_among(&u[1], &[p1.clone(), p2.clone(), PostId::generate()])
        .await
        .unwrap();
    among.sort();
    let mut want = vec![p1.clone(), p2.clone()];
    want.sort();
    assert_eq!(among, want);
    assert!(stores.engagement.remove_favorite(&p1, &u[1]).await.unwrap());
    assert!(!stores.engagement.remove_favorite(&p1, &u[1]).await.unwrap());
    assert_eq!(counts(&stores, &p1).await.favorites, 0);
    assert_eq!(stores.engagement.count_favorites(&u[1]).await.unwrap(), 1);
    stores.posts.delete_post(&p2, now()).await.unwrap();
    assert_eq!(stores.engagement.count_favorites(&u[1]).await.unwrap(), 0);
    assert!(
        stores
            .engagement
            .favorites(&u[1], &page(5, None))
            .await
            .unwrap()
            .items
            .is_empty(),
        "deleted posts drop out"
    );
}
