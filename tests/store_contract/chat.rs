//! Contract of `ChatStore`: unique direct rooms, gapless message numbers, newest-first pages,
//! rooms by last activity and unread counts from read positions.

use std::collections::HashSet;

use agora::domain::{ChatRoom, ChatRoomId, ChatRoomKind, Message, MessageId, PostId, UserId};
use agora::store::Stores;
use chrono::{DateTime, Utc};

use crate::fixtures::{listing, ms, now, page, users};

fn direct(a: &UserId, b: &UserId, listing: Option<&PostId>, at: DateTime<Utc>) -> ChatRoom {
    ChatRoom {
        id: ChatRoomId::generate(),
        kind: ChatRoomKind::Direct,
        title: None,
        members: vec![a.clone(), b.clone()],
        listing_id: listing.cloned(),
        created_by: a.clone(),
        created_at: at,
        last_activity_at: at,
        last_seq: 0,
        last_message_id: None,
    }
}

fn group(title: &str, members: &[UserId], at: DateTime<Utc>) -> ChatRoom {
    ChatRoom {
        id: ChatRoomId::generate(),
        kind: ChatRoomKind::Group,
        title: Some(title.to_owned()),
        members: members.to_vec(),
        listing_id: None,
        created_by: members[0].clone(),
        created_at: at,
        last_activity_at: at,
        last_seq: 0,
        last_message_id: None,
    }
}

fn message(room: &ChatRoomId, author: &UserId, body: &str, at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::generate(),
        room_id: room.clone(),
        seq: 0,
        author_id: author.clone(),
        body: body.to_owned(),
        created_at: at,
    }
}

async fn send(
    stores: &Stores,
    room: &ChatRoomId,
    author: &UserId,
    body: &str,
    at: DateTime<Utc>,
) -> Message {
    stores
        .chat
        .add_message(&message(room, author, body, at))
        .await
        .unwrap()
        .expect("a member's message is stored")
}

async fn room(stores: &Stores, id: &ChatRoomId) -> ChatRoom {
    stores
        .chat
        .get_many_rooms(std::slice::from_ref(id))
        .await
        .unwrap()
        .pop()
        .expect("the room exists")
}

async fn unread(stores: &Stores, user: &UserId, room: &ChatRoomId) -> Option<u64> {
    stores
        .chat
        .unread_counts(user, std::slice::from_ref(room))
        .await
        .unwrap()
        .into_iter()
        .find(|(id, _)| id == room)
        .map(|(_, n)| n)
}

pub async fn a_direct_room_is_one_per_pair_and_listing_whoever_opens_it(stores: Stores) {
    let u = users(&stores, &["ann", "bob"]).await;
    let item = listing(&u[1], now(), "100", 1, "phones");
    stores.posts.create_post(&item).await.unwrap();
    let at = now();

    let (first, created) = stores
        .chat
        .open_direct_room(&direct(&u[0], &u[1], None, at))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.members, vec![u[0].clone(), u[1].clone()]);
    assert_eq!((first.last_seq, first.last_message_id.clone()), (0, None));
    assert_eq!(first.last_activity_at, at);
    let (again, created) = stores
        .chat
        .open_direct_room(&direct(&u[1], &u[0], None, at + ms(5)))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, first);

    let (about_item, created) = stores
        .chat
        .open_direct_room(&direct(&u[1], &u[0], Some(&item.id), at))
        .await
        .unwrap();
    assert!(created);
    assert_ne!(about_item.id, first.id);
    assert_eq!(about_item.listing_id, Some(item.id.clone()));
    assert_eq!(room(&stores, &about_item.id).await, about_item);

    let unknown = PostId::generate();
    let refused = stores
        .chat
        .open_direct_room(&direct(&u[0], &u[1], Some(&unknown), at))
        .await;
    assert!(refused.is_err(), "a room about an unknown post is refused");
    let ghost = stores
        .chat
        .open_direct_room(&direct(&u[0], &UserId::generate(), None, at))
        .await;
    assert!(ghost.is_err(), "a room with an unknown user is refused");
    assert_eq!(stores.chat.count_rooms_of(&u[0]).await.unwrap(), 2);
}

pub async fn twenty_concurrent_opens_of_one_pair_make_one_room(stores: Stores) {
    let u = users(&stores, &["ann", "bob"]).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let stores = stores.clone();
            let (a, b) = if i % 2 == 0 {
                (u[0].clone(), u[1].clone())
            } else {
                (u[1].clone(), u[0].clone())
            };
            tokio::spawn(async move {
                stores
                    .chat
                    .open_direct_room(&direct(&a, &b, None, now()))
                    .await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (room, new) = task.await.unwrap().expect("opening succeeds");
        ids.insert(room.id);
        created += usize::from(new);
    }
    assert_eq!((ids.len(), created), (1, 1));
    let listed = stores.chat.rooms_of(&u[0], &page(50, None)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
}

pub async fn a_group_room_reads_back_with_its_members_in_order(stores: Stores) {
    let u = users(&stores, &["ann", "bob", "cat"]).await;
    let g = group(
        "Camera club",
        &[u[2].clone(), u[0].clone(), u[1].clone()],
        now(),
    );
    stores.chat.create_group_room(&g).await.unwrap();
    assert_eq!(room(&stores, &g.id).await, g);
    assert!(
        stores
            .chat
            .get_many_rooms(&[ChatRoomId::generate()])
            .await
            .unwrap()
            .is_empty()
    );
    let ghost = group("Ghosts", &[u[0].clone(), UserId::generate()], now());
    assert!(stores.chat.create_group_room(&ghost).await.is_err());
    assert!(
        stores
            .chat
            .get_many_rooms(&[ghost.id])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn messages_are_numbered_and_paged_newest_first(stores: Stores) {
    let u = users(&stores, &["ann", "bob"]).await;
    let (r, _) = stores
        .chat
        .open_direct_room(&direct(&u[0], &u[1], None, now()))
        .await
        .unwrap();
    let at = now();
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            send(
                &stores,
                &r.id,
                &u[i % 2],
                &format!("m{i}"),
                at + ms(i as i64),
            )
            .await,
        );
    }
    assert_eq!(
        sent.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    let stored = room(&stores, &r.id).await;
    assert_eq!(
        (stored.last_seq, stored.last_message_id),
        (5, Some(sent[4].id.clone()))
    );
    assert_eq!(stored.last_activity_at, at + ms(4));

    let first = stores.chat.messages(&r.id, &page(2, None)).await.unwrap();
    assert!(first.has_next);
    assert_eq!(first.items, vec![sent[4].clone(), sent[3].clone()]);
    let cursor = format!("{}:{}", sent[3].seq, sent[3].id);
    let rest = stores
        .chat
        .messages(&r.id, &page(5, Some(cursor)))
        .await
        .unwrap();
    assert!(!rest.has_next);
    assert_eq!(
        rest.items,
        vec![sent[2].clone(), sent[1].clone(), sent[0].clone()]
    );

    let replay = stores.chat.messages_after(&r.id, 2, 2).await.unwrap();
    assert!(replay.has_next);
    assert_eq!(replay.items, vec![sent[2].clone(), sent[3].clone()]);
    let tail = stores.chat.messages_after(&r.id, 4, 10).await.unwrap();
    assert_eq!((tail.items, tail.has_next), (vec![sent[4].clone()], false));

    let mut ids: Vec<MessageId> = sent.iter().map(|m| m.id.clone()).collect();
    ids.push(MessageId::generate());
    let mut found = stores.chat.get_many_messages(&ids).await.unwrap();
    found.sort_by_key(|m| m.seq);
    assert_eq!(found, sent);
}

pub async fn only_members_of_an_existing_room_add_messages(stores: Stores) {
    let u = users(&stores, &["ann", "bob", "eve"]).await;
    let (r, _) = stores
        .chat
        .open_direct_room(&direct(&u[0], &u[1], None, now()))
        .await
        .unwrap();
    let outsider = stores
        .chat
        .add_message(&message(&r.id, &u[2], "hi", now()))
        .await
        .unwrap();
    assert_eq!(outsider, None);
    let nowhere = stores
        .chat
        .add_message(&message(&ChatRoomId::generate(), &u[0], "hi", now()))
        .await
        .unwrap();
    assert_eq!(nowhere, None);
    let stored = room(&stores, &r.id).await;
    assert_eq!((stored.last_seq, stored.last_message_id), (0, None));
    assert!(
        stores
            .chat
            .messages(&r.id, &page(10, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub async fn twenty_concurrent_messages_get_distinct_gapless_numbers(stores: Stores) {
    let u = users(&stores, &["ann", "bob"]).await;
    let (r, _) = stores
        .chat
        .open_direct_room(&direct(&u[0], &u[1], None, now()))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (stores, room, author) = (stores.clone(), r.id.clone(), u[i % 2].clone());
            tokio::spawn(async move {
                stores
                    .chat
                    .add_message(&message(&room, &author, &format!("m{i}"), now()))
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(
            task.await
                .unwrap()
                .expect("sending succeeds")
                .expect("a member sends")
                .seq,
        );
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
    assert_eq!(room(&stores, &r.id).await.last_seq, 20);
    let all = stores.chat.messages(&r.id, &page(50, None)).await.unwrap();
    assert_eq!(all.items.len(), 20);
}

pub async fn unread_counts_follow_read_positions_and_own_messages(stores: Stores) {
    let u = users(&stores, &["ann", "bob", "cat", "eve"]).await;
    let g = group("Trio", &u[..3], now());
    stores.chat.create_group_room(&g).await.unwrap();
    let (d, _) = stores
        .chat
        .open_direct_room(&direct(&u[0], &u[1], None, now()))
        .await
        .unwrap();
    for body in ["one", "two"] {
        send(&stores, &g.id, &u[1], body, now()).await;
    }
    send(&stores, &d.id, &u[1], "psst", now()).await;

    let mut counts = stores
        .chat
        .unread_counts(&u[0], &[g.id.clone(), d.id.clone(), ChatRoomId::generate()])
        .await
        .unwrap();
    counts.sort();
    let mut expected = vec![(g.id.clone(), 2), (d.id.clone(), 1)];
    expected.sort();
    assert_eq!(counts, expected);
    assert_eq!(
        unread(&stores, &u[1], &g.id).await,
        Some(0),
        "own messages are read"
    );
    assert_eq!(
        unread(&stores, &u[3], &g.id).await,
        None,
        "non-members get no count"
    );

    send(&stores, &g.id, &u[2], "three", now()).await;
    assert_eq!(unread(&stores, &u[1], &g.id).await, Some(1));
    assert!(stores.chat.mark_room_read(&g.id, &u[0]).await.unwrap());
    assert_eq!(unread(&stores, &u[0], &g.id).await, Some(0));
    assert_eq!(
        unread(&stores, &u[0], &d.id).await,
        Some(1),
        "other rooms keep their count"
    );
    send(&stores, &g.id, &u[0], "four", now()).await;
    send(&stores, &g.id, &u[2], "five", now()).await;
    assert_eq!(unread(&stores, &u[0], &g.id).await, Some(1));
    assert_eq!(unread(&stores, &u[1], &g.id).await, Some(3));

    assert!(!stores.chat.mark_room_read(&g.id, &u[3]).await.unwrap());
    assert!(
        !stores
            .chat
            .mark_room_read(&ChatRoomId::generate(), &u[0])
            .await
            .unwrap()
    );
}

pub async fn rooms_are_listed_by_last_activity_without_gaps(stores: Stores) {
    let u = users(&stores, &["ann", "bob", "cat", "dan", "eve"]).await;
    let at = now();
    let mut rooms = Vec::new();
    for (i, other) in u[1..].iter().enumerate() {
        let (r, _) = stores
            .chat
            .open_direct_room(&direct(&u[0], other, None, at + ms(i as i64)))
            .await
            .unwrap();
        rooms.push(r.id);
    }
    // Activity order, most recent first: rooms[1] (a message), then rooms[3], [2], [0].
    send(&stores, &rooms[1], &u[2], "hello", at + ms(100)).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let listed = stores
            .chat
            .rooms_of(&u[0], &page(2, after.clone()))
            .await
            .unwrap();
        for r in &listed.items {
            assert_eq!(r.members.len(), 2);
            seen.push(r.id.clone());
        }
        let last = listed.items.last().expect("a page is not empty here");
        after = Some(format!(
            "{}:{}",
            last.last_activity_at.timestamp_millis(),
            last.id
        ));
        if !listed.has_next {
            break;
        }
        // A message in an already-listed room moves it to the top, not into later pages.
        send(&stores, &rooms[1], &u[2], "again", at + ms(200)).await;
    }
    assert_eq!(
        seen,
        vec![
            rooms[1].clone(),
            rooms[3].clone(),
            rooms[2].clone(),
            rooms[0].clone()
        ]
    );
    assert_eq!(stores.chat.count_rooms_of(&u[0]).await.unwrap(), 4);
    assert_eq!(stores.chat.count_rooms_of(&u[1]).await.unwrap(), 1);
    let bobs = stores.chat.rooms_of(&u[1], &page(10, None)).await.unwrap();
    assert_eq!(
        bobs.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![rooms[0].clone()]
    );
}
