//! Contract of `NotificationStore`: gapless numbers per recipient, once per event and
//! recipient, newest-first pages, replay after a number, unread counts and marking read, and
//! coalescing: one unread notification per repeated toggle, race-free, until it is read.

use std::collections::HashSet;

use agora::domain::{
    CommentId, MessageId, Notification, NotificationId, NotificationKind, OrderId, PostId, UserId,
};
use agora::store::{PageRequest, Stores};

use crate::fixtures::{first, ms, now, users};

fn notification(recipient: &UserId, event_seq: i64) -> Notification {
    Notification {
        id: NotificationId::generate(),
        recipient: recipient.clone(),
        seq: 0,
        event_seq,
        kind: NotificationKind::PostCommented,
        actor_id: Some(UserId::generate()),
        post_id: Some(PostId::generate()),
        comment_id: Some(CommentId::generate()),
        message_id: Some(MessageId::generate()),
        order_id: Some(OrderId::generate()),
        created_at: now() - ms(event_seq),
        read_at: None,
    }
}

pub async fn a_notification_reads_back_exactly_with_the_next_number(stores: Stores) {
    let ids = users(&stores, &["ann", "bob"]).await;
    let store = &stores.notifications;
    assert_eq!(store.last_seq(&ids[0]).await.unwrap(), 0);
    let n = notification(&ids[0], 7);
    let stored = store.add(&n).await.unwrap().expect("a new notification");
    assert_eq!(
        stored,
        Notification {
            seq: 1,
            ..n.clone()
        }
    );
    let sparse = Notification {
        kind: NotificationKind::Followed,
        post_id: None,
        comment_id: None,
        message_id: None,
        order_id: None,
        ..notification(&ids[0], 8)
    };
    assert_eq!(store.add(&sparse).await.unwrap().unwrap().seq, 2);
    // Numbers are per recipient.
    assert_eq!(
        store
            .add(&notification(&ids[1], 8))
            .await
            .unwrap()
            .unwrap()
            .seq,
        1
    );

    let page = store.list(&ids[0], false, &first(10)).await.unwrap();
    assert_eq!(page.items, vec![Notification { seq: 2, ..sparse }, stored]);
    assert!(!page.has_next);
    assert_eq!(store.last_seq(&ids[0]).await.unwrap(), 2);
}

pub async fn one_event_notifies_a_recipient_once_even_concurrently(stores: Stores) {
    let ids = users(&stores, &["ann", "bob"]).await;
    let adds = (0..10).map(|_| {
        let store = stores.notifications.clone();
        let n = notification(&ids[0], 42);
        tokio::spawn(async move { store.add(&n).await.unwrap() })
    });
    let mut stored = 0;
    for add in adds {
        stored += usize::from(add.await.unwrap().is_some());
    }
    assert_eq!(stored, 1);
    // The same event still notifies someone else, and a later event the same recipient.
    assert!(
        stores
            .notifications
            .add(&notification(&ids[1], 42))
            .await
            .unwrap()
            .is_some()
    );
    let next = stores
        .notifications
        .add(&notification(&ids[0], 43))
        .await
        .unwrap();
    assert_eq!(next.unwrap().seq, 2, "a refused duplicate takes no number");
}

pub async fn twenty_concurrent_notifications_get_distinct_gapless_numbers(stores: Stores) {
    let ids = users(&stores, &["ann"]).await;
    let adds = (1..=20).map(|event| {
        let store = stores.notifications.clone();
        let n = notification(&ids[0], event);
        tokio::spawn(async move { store.add(&n).await.unwrap().unwrap().seq })
    });
    let mut numbers = HashSet::new();
    for add in adds {
        numbers.insert(add.await.unwrap());
    }
    assert_eq!(numbers, (1..=20).collect::<HashSet<i64>>());
}

pub async fn pages_are_newest_first_and_replay_is_oldest_first(stores: Stores) {
    let ids = users(&stores, &["ann"]).await;
    for event in 1..=5 {
        stores
            .notifications
            .add(&notification(&ids[0], event))
            .await
            .unwrap();
    }
    let page = stores
        .notifications
        .list(&ids[0], false, &first(2))
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|n| n.seq).collect::<Vec<_>>(), [5, 4]);
    assert!(page.has_next);
    let cursor = format!("{}:{}", page.items[1].seq, page.items[1].id);
    let rest = stores
        .notifications
        .list(
            &ids[0],
            false,
            &PageRequest {
                after: Some(cursor),
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|n| n.seq).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert!(!rest.has_next);

    let replay = stores.notifications.after(&ids[0], 2, 2).await.unwrap();
    assert_eq!(
        replay.items.iter().map(|n| n.seq).collect::<Vec<_>>(),
        [3, 4]
    );
    assert!(replay.has_next);
    let replay = stores.notifications.after(&ids[0], 4, 10).await.unwrap();
    assert_eq!(replay.items.iter().map(|n| n.seq).collect::<Vec<_>>(), [5]);
    assert!(!replay.has_next);
}

pub async fn marking_read_counts_only_the_recipients_unread_ones(stores: Stores) {
    let ids = users(&stores, &["ann", "bob"]).await;
    let mut ann = Vec::new();
    for event in 1..=4 {
        ann.push(
            stores
                .notifications
                .add(&notification(&ids[0], event))
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let bobs = stores
        .notifications
        .add(&notification(&ids[1], 1))
        .await
        .unwrap()
        .unwrap();
    let store = &stores.notifications;
    assert_eq!(store.count_unread(&ids[0]).await.unwrap(), 4);

    let at = now();
    let marked = store
        .mark_read(
            &ids[0],
            Some(&[ann[0].id.clone(), ann[1].id.clone(), bobs.id.clone()]),
            at,
        )
        .await
        .unwrap();
    assert_eq!(marked, 2, "bob's notification is not ann's to mark");
    assert_eq!(store.count_unread(&ids[1]).await.unwrap(), 1);
    assert_eq!(store.count_unread(&ids[0]).await.unwrap(), 2);
    let unread = store.list(&ids[0], true, &first(10)).await.unwrap();
    assert_eq!(
        unread.items.iter().map(|n| n.seq).collect::<Vec<_>>(),
        [4, 3]
    );

    let later = at + ms(5000);
    assert_eq!(store.mark_read(&ids[0], None, later).await.unwrap(), 2);
    assert_eq!(store.mark_read(&ids[0], None, later).await.unwrap(), 0);
    assert_eq!(store.count_unread(&ids[0]).await.unwrap(), 0);
    let all = store.list(&ids[0], false, &first(10)).await.unwrap();
    let read_at: Vec<_> = all.items.iter().map(|n| n.read_at).collect();
    assert_eq!(
        read_at,
        [Some(later), Some(later), Some(at), Some(at)],
        "never re-marked"
    );
}

pub async fn a_batch_numbers_each_recipient_and_skips_what_is_stored(stores: Stores) {
    let ids = users(&stores, &["ann", "bob", "cid"]).await;
    let store = &stores.notifications;
    let ann_first = store.add(&notification(&ids[0], 5)).await.unwrap().unwrap();
    let batch = [
        notification(&ids[0], 5), // ann already has event 5
        notification(&ids[1], 5),
        notification(&ids[2], 5),
        notification(&ids[1], 6),
        notification(&ids[2], 5), // a repeat within the batch
    ];
    let stored = store.add_all(&batch).await.unwrap();
    assert_eq!(
        stored,
        [
            Notification {
                seq: 1,
                ..batch[1].clone()
            },
            Notification {
                seq: 1,
                ..batch[2].clone()
            },
            Notification {
                seq: 2,
                ..batch[3].clone()
            },
        ]
    );
    assert!(store.add_all(&batch).await.unwrap().is_empty());
    assert!(store.add_all(&[]).await.unwrap().is_empty());
    assert_eq!(store.last_seq(&ids[0]).await.unwrap(), ann_first.seq);
    assert_eq!(store.last_seq(&ids[1]).await.unwrap(), 2);
    assert_eq!(store.last_seq(&ids[2]).await.unwrap(), 1);
}

pub async fn concurrent_batches_of_one_event_notify_each_recipient_once(stores: Stores) {
    let ids = users(&stores, &["ann", "bob", "cid", "dan"]).await;
    let adds = (0..6).map(|_| {
        let store = stores.notifications.clone();
        let batch: Vec<Notification> = ids.iter().map(|id| notification(id, 77)).collect();
        tokio::spawn(async move { store.add_all(&batch).await.unwrap() })
    });
    let mut stored = Vec::new();
    for add in adds {
        stored.extend(add.await.unwrap());
    }
    let mut recipients: Vec<&UserId> = stored.iter().map(|n| &n.recipient).collect();
    recipients.sort();
    let mut expected: Vec<&UserId> = ids.iter().collect();
    expected.sort();
    assert_eq!(recipients, expected);
    assert!(stored.iter().all(|n| n.seq == 1), "{stored:?}");
    // A later batch takes the next numbers: the refused duplicates took none.
    let next = stores
        .notifications
        .add_all(&[notification(&ids[0], 78), notification(&ids[3], 78)])
        .await
        .unwrap();
    assert_eq!(next.iter().map(|n| n.seq).collect::<Vec<_>>(), [2, 2]);
}

pub async fn a_batch_naming_an_unknown_recipient_stores_none_of_it(stores: Stores) {
    let ids = users(&stores, &["ann"]).await;
    let store = &stores.notifications;
    let ghost = UserId::generate();
    let batch = [notification(&ids[0], 9), notification(&ghost, 9)];
    assert!(store.add_all(&batch).await.is_err());
    assert_eq!(store.last_seq(&ids[0]).await.unwrap(), 0, "all or nothing");
    // The same event still notifies ann once the batch is right.
    let stored = store.add_all(&batch[..1]).await.unwrap();
    assert_eq!(stored.iter().map(|n| n.seq).collect::<Vec<_>>(), [1]);
}

/// A notification of `actor` reacting to `post` (or following, without a post), which
/// coalesces with its repeats.
fn repeat(
    recipient: &UserId,
    actor: &UserId,
    post: Option<&PostId>,
    event_seq: i64,
) -> Notification {
    Notification {
        kind: if post.is_some() {
            NotificationKind::PostReacted
        } else {
            NotificationKind::Followed
        },
        actor_id: Some(actor.clone()),
        post_id: post.cloned(),
        comment_id: None,
        message_id: None,
        order_id: None,
        ..notification(recipient, event_seq)
    }
}

pub async fn a_repeat_while_unread_updates_that_notification_instead_of_adding_one(stores: Stores) {
    let ids = users(&stores, &["ann", "bob", "cid"]).await;
    let (ann, bob, cid) = (&ids[0], &ids[1], &ids[2]);
    let store = &stores.notifications;
    let post = PostId::generate();
    let at = now();
    let original = store
        .add(&Notification {
            created_at: at,
            ..repeat(ann, bob, Some(&post), 10)
        })
        .await
        .unwrap()
        .expect("the first one is new");

    let again = Notification {
        created_at: at + ms(5000),
        ..repeat(ann, bob, Some(&post), 11)
    };
    assert_eq!(store.add(&again).await.unwrap(), None, "folded, not new");

    let updated = Notification {
        event_seq: 11,
        created_at: at + ms(5000),
        ..original.clone()
    };
    let page = store.list(ann, false, &first(10)).await.unwrap();
    assert_eq!(
        page.items,
        std::slice::from_ref(&updated),
        "same id and number, new event and time"
    );
    assert_eq!(store.count_unread(ann).await.unwrap(), 1);
    assert_eq!(store.last_seq(ann).await.unwrap(), 1, "took no number");
    // A late copy of an older event changes nothing, not even the time.
    let late = Notification {
        created_at: at + ms(9000),
        ..repeat(ann, bob, Some(&post), 9)
    };
    assert_eq!(store.add(&late).await.unwrap(), None);
    assert_eq!(
        store.list(ann, false, &first(10)).await.unwrap().items,
        [updated]
    );

    // Anything else in the key makes another notification: another post, another actor,
    // another kind, another recipient.
    let other_post = store
        .add(&repeat(ann, bob, Some(&PostId::generate()), 12))
        .await
        .unwrap();
    let other_actor = store.add(&repeat(ann, cid, Some(&post), 13)).await.unwrap();
    let followed = store.add(&repeat(ann, bob, None, 14)).await.unwrap();
    let for_cid = store.add(&repeat(cid, bob, Some(&post), 15)).await.unwrap();
    assert_eq!(
        [&other_post, &other_actor, &followed, &for_cid].map(|n| n.as_ref().map(|n| n.seq)),
        [Some(2), Some(3), Some(4), Some(1)]
    );
    assert_eq!(store.add(&repeat(ann, bob, None, 16)).await.unwrap(), None);
    // Kinds that say something new each time never coalesce, whoever sends them.
    let comment = |event_seq| Notification {
        actor_id: Some(bob.clone()),
        post_id: Some(post.clone()),
        ..notification(ann, event_seq)
    };
    assert!(store.add(&comment(17)).await.unwrap().is_some());
    assert!(store.add(&comment(18)).await.unwrap().is_some());

    let replay = store.after(ann, 0, 100).await.unwrap();
    assert_eq!(
        replay.items.iter().map(|n| n.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6],
        "gapless, each once"
    );
    assert_eq!(store.count_unread(ann).await.unwrap(), 6);
}

pub async fn marking_a_coalesced_notification_read_ends_its_coalescing(stores: Stores) {
    let ids = users(&stores, &["ann", "bob"]).await;
    let (ann, bob) = (&ids[0], &ids[1]);
    let store = &stores.notifications;
    let original = store
        .add(&repeat(ann, bob, None, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.add(&repeat(ann, bob, None, 2)).await.unwrap(), None);
    let at = now();
    assert_eq!(
        store
            .mark_read(ann, Some(std::slice::from_ref(&original.id)), at)
            .await
            .unwrap(),
        1
    );

    let next = store
        .add(&repeat(ann, bob, None, 3))
        .await
        .unwrap()
        .expect("after a read, a repeat is news again");
    assert_eq!(next.seq, 2);
    assert_ne!(next.id, original.id);
    // A late copy of an event the read one told of stays told.
    assert_eq!(store.add(&repeat(ann, bob, None, 2)).await.unwrap(), None);
    // The new one coalesces in turn; the read one is left as it was.
    assert_eq!(store.add(&repeat(ann, bob, None, 4)).await.unwrap(), None);
    let page = store.list(ann, false, &first(10)).await.unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|n| (n.seq, n.event_seq, n.read_at))
            .collect::<Vec<_>>(),
        [(2, 4, None), (1, 2, Some(at))]
    );
    assert_eq!(store.count_unread(ann).await.unwrap(), 1);
    // Marking everything read, then repeating: news again.
    store.mark_read(ann, None, at).await.unwrap();
    assert_eq!(
        store
            .add(&repeat(ann, bob, None, 5))
            .await
            .unwrap()
            .map(|n| n.seq),
        Some(3)
    );
}

pub async fn concurrent_repeats_converge_on_one_unread_notification(stores: Stores) {
    let ids = users(&stores, &["ann", "bob", "cid"]).await;
    let post = PostId::generate();
    let at = now();
    // Twenty instances' worth of repeats at once, of twenty events, to two recipients.
    let adds = (1..=20).map(|event_seq| {
        let store = stores.notifications.clone();
        let batch = [
            Notification {
                created_at: at + ms(event_seq),
                ..repeat(&ids[0], &ids[1], Some(&post), event_seq)
            },
            repeat(&ids[2], &ids[1], None, event_seq),
        ];
        tokio::spawn(async move { store.add_all(&batch).await.unwrap() })
    });
    let mut added = Vec::new();
    for add in adds {
        added.extend(add.await.unwrap());
    }

    let mut recipients: Vec<(&UserId, i64)> = added.iter().map(|n| (&n.recipient, n.seq)).collect();
    recipients.sort();
    let mut expected = vec![(&ids[0], 1), (&ids[2], 1)];
    expected.sort();
    assert_eq!(recipients, expected, "one new notification each: {added:?}");
    for recipient in [&ids[0], &ids[2]] {
        let page = stores
            .notifications
            .list(recipient, false, &first(10))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].event_seq, 20, "the latest event wins");
        assert_eq!(
            stores.notifications.count_unread(recipient).await.unwrap(),
            1
        );
        assert_eq!(stores.notifications.last_seq(recipient).await.unwrap(), 1);
    }
    let anns = stores
        .notifications
        .list(&ids[0], false, &first(1))
        .await
        .unwrap();
    assert_eq!(
        anns.items[0].created_at,
        at + ms(20),
        "the latest time wins"
    );
}

pub async fn a_batch_mixing_new_and_coalesced_notifications_returns_only_the_new(stores: Stores) {
    let ids = users(&stores, &["ann", "bob", "cid", "dan"]).await;
    let (ann, bob, cid, dan) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let store = &stores.notifications;
    let anns = store
        .add(&repeat(ann, bob, None, 1))
        .await
        .unwrap()
        .unwrap();
    let post = PostId::generate();
    let batch = [
        repeat(ann, bob, None, 2),        // folds into ann's unread one
        repeat(cid, bob, None, 2),        // new
        notification(ann, 3),             // new, of a kind that never coalesces
        repeat(dan, bob, Some(&post), 2), // new
        repeat(dan, bob, Some(&post), 3), // folds into the one just before
    ];

    let added = store.add_all(&batch).await.unwrap();

    let numbered = |n: &Notification, seq| Notification { seq, ..n.clone() };
    assert_eq!(
        added,
        [
            numbered(&batch[1], 1),
            numbered(&batch[2], 2),
            numbered(&batch[3], 1)
        ]
    );
    let page = store.list(ann, false, &first(10)).await.unwrap();
    assert_eq!(
        page.items,
        [
            numbered(&batch[2], 2),
            Notification {
                event_seq: 2,
                created_at: anns.created_at.max(batch[0].created_at),
                ..anns
            }
        ]
    );
    let dans = store.list(dan, false, &first(10)).await.unwrap();
    assert_eq!(
        dans.items
            .iter()
            .map(|n| (n.seq, n.event_seq))
            .collect::<Vec<_>>(),
        [(1, 3)]
    );
    // The whole batch again: all of it is told already.
    assert!(store.add_all(&batch).await.unwrap().is_empty());
    assert_eq!(store.count_unread(ann).await.unwrap(), 2);
}
