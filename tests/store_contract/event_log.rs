//! Contract of `EventLogStore`: increasing numbers in append order, reads after a position,
//! numbering that survives pruning, and wake-ups for tails.

use std::collections::HashSet;
use std::time::Duration;

use agora::store::{EventLogStore, Retention, StoreResult, Stores};
use chrono::{DateTime, Utc};

use crate::fixtures::now;

/// Shorthands over [`EventLogStore::append_entries`], the one append the bus uses: these tests
/// append one entry at a time or one durable batch.
#[async_trait::async_trait]
trait Append {
    async fn append(&self, body: &str, at: DateTime<Utc>) -> StoreResult<i64>;
    async fn append_all(&self, bodies: &[String], at: DateTime<Utc>) -> StoreResult<Vec<i64>>;
    async fn append_ephemeral(&self, body: &str, at: DateTime<Utc>) -> StoreResult<i64>;
}

#[async_trait::async_trait]
impl<L: EventLogStore + ?Sized> Append for L {
    async fn append(&self, body: &str, at: DateTime<Utc>) -> StoreResult<i64> {
        Ok(self.append_all(&[body.to_owned()], at).await?[0])
    }

    async fn append_all(&self, bodies: &[String], at: DateTime<Utc>) -> StoreResult<Vec<i64>> {
        self.append_entries(bodies, at, Retention::Durable).await
    }

    async fn append_ephemeral(&self, body: &str, at: DateTime<Utc>) -> StoreResult<i64> {
        let numbers = self
            .append_entries(&[body.to_owned()], at, Retention::Ephemeral)
            .await?;
        Ok(numbers[0])
    }
}

pub async fn entries_are_numbered_in_append_order_and_read_after_a_position(stores: Stores) {
    let log = &stores.event_log;
    assert_eq!(log.last_seq().await.unwrap(), 0, "a new log is empty");
    let mut seqs = Vec::new();
    for body in ["a", "b", "c", "d"] {
        seqs.push(log.append(body, now()).await.unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(log.last_seq().await.unwrap(), seqs[3]);

    let all = log.read_after(0, 10).await.unwrap();
    let bodies: Vec<&str> = all.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(bodies, ["a", "b", "c", "d"]);
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);

    let after_b = log.read_after(seqs[1], 10).await.unwrap();
    assert_eq!(
        after_b.iter().map(|e| e.body.as_str()).collect::<Vec<_>>(),
        ["c", "d"]
    );
    let limited = log.read_after(0, 2).await.unwrap();
    assert_eq!(limited.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[..2]);
    assert!(log.read_after(seqs[3], 10).await.unwrap().is_empty());
}

pub async fn two_tails_read_the_same_sequence_of_concurrent_appends(stores: Stores) {
    let start = stores.event_log.last_seq().await.unwrap();
    let appends = (0..20).map(|i| {
        let log = stores.event_log.clone();
        tokio::spawn(async move { log.append(&format!("event {i}"), now()).await.unwrap() })
    });
    let mut numbers = HashSet::new();
    for append in appends {
        assert!(
            numbers.insert(append.await.unwrap()),
            "numbers are distinct"
        );
    }
    let tail_a = stores.event_log.read_after(start, 100).await.unwrap();
    // The second tail reads in two pages, as a tail catching up does.
    let mut tail_b = stores.event_log.read_after(start, 7).await.unwrap();
    let rest_from = tail_b.last().unwrap().seq;
    tail_b.extend(stores.event_log.read_after(rest_from, 100).await.unwrap());
    assert_eq!(tail_a, tail_b);
    assert_eq!(tail_a.len(), 20);
    assert!(tail_a.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(
        tail_a.iter().map(|e| e.seq).collect::<HashSet<_>>(),
        numbers
    );
    let bodies: HashSet<String> = tail_a.into_iter().map(|e| e.body).collect();
    assert_eq!(bodies.len(), 20);
}

pub async fn a_tail_catches_up_after_a_gap_and_numbers_survive_pruning(stores: Stores) {
    let log = &stores.event_log;
    let first = log.append("seen", now()).await.unwrap();
    // The tail stops here; three events are appended while it is away.
    for body in ["missed 1", "missed 2", "missed 3"] {
        log.append(body, now()).await.unwrap();
    }
    let caught_up = log.read_after(first, 100).await.unwrap();
    assert_eq!(
        caught_up
            .iter()
            .map(|e| e.body.as_str())
            .collect::<Vec<_>>(),
        ["missed 1", "missed 2", "missed 3"]
    );

    let last = log.last_seq().await.unwrap();
    let pruned = log
        .prune(now() + chrono::TimeDelta::seconds(1))
        .await
        .unwrap();
    assert_eq!(pruned, 4);
    assert!(log.read_after(0, 100).await.unwrap().is_empty());
    assert_eq!(
        log.last_seq().await.unwrap(),
        last,
        "pruning keeps the position"
    );
    let next = log.append("after pruning", now()).await.unwrap();
    assert!(next > last, "numbers are never reused");
    assert_eq!(
        log.read_after(last, 10).await.unwrap()[0].body,
        "after pruning"
    );
}

pub async fn a_tail_is_woken_after_an_append(stores: Stores) {
    let mut wake_ups = stores.event_log.wake_ups(Duration::from_millis(50));
    let start = stores.event_log.last_seq().await.unwrap();
    stores.event_log.append("wake", now()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wake_ups.recv())
        .await
        .expect("a wake-up comes within the poll period")
        .expect("the wake-up channel stays open");
    assert_eq!(
        stores.event_log.read_after(start, 10).await.unwrap().len(),
        1
    );
}

pub async fn a_batch_is_appended_in_order_under_consecutive_numbers(stores: Stores) {
    let log = &stores.event_log;
    let before = log.append("before", now()).await.unwrap();
    let batch: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
    let seqs = log.append_all(&batch, now()).await.unwrap();
    assert_eq!(seqs, [before + 1, before + 2, before + 3]);
    assert!(log.append_all(&[], now()).await.unwrap().is_empty());
    let after = log.append("after", now()).await.unwrap();
    assert_eq!(after, before + 4, "an empty batch takes no number");
    let read = log.read_after(before, 10).await.unwrap();
    assert_eq!(
        read.iter()
            .map(|e| (e.seq, e.body.as_str()))
            .collect::<Vec<_>>(),
        [
            (before + 1, "x"),
            (before + 2, "y"),
            (before + 3, "z"),
            (after, "after")
        ]
    );
}

pub async fn concurrent_batches_keep_each_batch_contiguous(stores: Stores) {
    let start = stores.event_log.last_seq().await.unwrap();
    let appends = (0..8).map(|i| {
        let log = stores.event_log.clone();
        tokio::spawn(async move {
            let bodies: Vec<String> = (0..5).map(|j| format!("{i}.{j}")).collect();
            log.append_all(&bodies, now()).await.unwrap()
        })
    });
    let mut numbers = HashSet::new();
    for append in appends {
        let seqs = append.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        numbers.extend(seqs);
    }
    assert_eq!(numbers.len(), 40, "numbers are distinct");
    let read = stores.event_log.read_after(start, 100).await.unwrap();
    assert_eq!(read.len(), 40);
    for entry in &read {
        let (batch, position) = entry.body.split_once('.').unwrap();
        let first = read
            .iter()
            .find(|e| e.body == format!("{batch}.0"))
            .unwrap();
        assert_eq!(entry.seq - first.seq, position.parse::<i64>().unwrap());
    }
}

pub async fn ephemeral_entries_are_read_in_order_and_pruned_on_their_own(stores: Stores) {
    let log = &stores.event_log;
    let old = now() - chrono::Duration::minutes(5);
    let a = log.append("a", old).await.unwrap();
    let typing = log.append_ephemeral("typing", old).await.unwrap();
    let b = log.append("b", old).await.unwrap();
    let fresh = log.append_ephemeral("typing again", now()).await.unwrap();
    assert!(a < typing && typing < b && b < fresh);
    let bodies = |entries: Vec<agora::store::LogEntry>| {
        entries.into_iter().map(|e| e.body).collect::<Vec<_>>()
    };
    assert_eq!(
        bodies(log.read_after(a - 1, 10).await.unwrap()),
        ["a", "typing", "b", "typing again"]
    );
    let minute_ago = now() - chrono::Duration::minutes(1);
    assert_eq!(log.prune_ephemeral(minute_ago).await.unwrap(), 1);
    assert_eq!(
        bodies(log.read_after(a - 1, 10).await.unwrap()),
        ["a", "b", "typing again"],
        "only the stale ephemeral entry goes"
    );
    assert_eq!(log.prune(minute_ago).await.unwrap(), 2);
    assert_eq!(
        bodies(log.read_after(a - 1, 10).await.unwrap()),
        ["typing again"]
    );
    assert_eq!(log.append("c", now()).await.unwrap(), fresh + 1);
}
