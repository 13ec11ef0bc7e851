//! Rate-limit counters: the sliding window, independent keys, concurrency.

use agora::store::{Decision, Stores};
use chrono::Duration;

use crate::fixtures::{ms, now};

const MINUTE: i64 = 60_000;

pub async fn hits_beyond_the_limit_are_refused_until_the_oldest_leaves_the_window(stores: Stores) {
    let t = now();
    let window = Duration::minutes(1);
    let limits = &stores.rate_limits;
    for i in 0..5 {
        let decision = limits
            .hit("login:ann", window, 5, t + ms(i * 1000))
            .await
            .unwrap();
        assert_eq!(decision, Decision::Allowed, "hit {}", i + 1);
    }

    let sixth = limits
        .hit("login:ann", window, 5, t + ms(10_000))
        .await
        .unwrap();
    assert_eq!(
        sixth,
        Decision::Refused {
            retry_after: Duration::seconds(50)
        }
    );
    // Refused hits are not counted: once the first hit is a minute old, one more fits.
    let just_before = limits
        .hit("login:ann", window, 5, t + ms(MINUTE - 1))
        .await
        .unwrap();
    assert_eq!(just_before, Decision::Refused { retry_after: ms(1) });
    assert_eq!(
        limits
            .hit("login:ann", window, 5, t + ms(MINUTE))
            .await
            .unwrap(),
        Decision::Allowed
    );
    assert!(
        !limits
            .hit("login:ann", window, 5, t + ms(MINUTE))
            .await
            .unwrap()
            .is_allowed()
    );
}

pub async fn keys_are_counted_independently(stores: Stores) {
    let t = now();
    let window = Duration::minutes(1);
    let limits = &stores.rate_limits;
    assert!(limits.hit("a", window, 1, t).await.unwrap().is_allowed());
    assert!(
        !limits
            .hit("a", window, 1, t + ms(1))
            .await
            .unwrap()
            .is_allowed()
    );

    assert!(
        limits
            .hit("b", window, 1, t + ms(2))
            .await
            .unwrap()
            .is_allowed()
    );
}

pub async fn a_quiet_key_starts_over_after_a_whole_window(stores: Stores) {
    let t = now();
    let window = Duration::seconds(10);
    let limits = &stores.rate_limits;
    for i in 0..3 {
        assert!(
            limits
                .hit("k", window, 3, t + ms(i))
                .await
                .unwrap()
                .is_allowed()
        );
    }
    assert!(
        !limits
            .hit("k", window, 3, t + ms(5))
            .await
            .unwrap()
            .is_allowed()
    );

    let later = t + Duration::hours(1);
    for i in 0..3 {
        assert!(
            limits
                .hit("k", window, 3, later + ms(i))
                .await
                .unwrap()
                .is_allowed()
        );
    }
    assert!(
        !limits
            .hit("k", window, 3, later + ms(5))
            .await
            .unwrap()
            .is_allowed()
    );
}

pub async fn a_zero_limit_refuses_every_hit(stores: Stores) {
    let decision = stores
        .rate_limits
        .hit("off", Duration::seconds(30), 0, now())
        .await
        .unwrap();
    assert_eq!(
        decision,
        Decision::Refused {
            retry_after: Duration::seconds(30)
        }
    );
}

pub async fn exactly_the_limit_of_thirty_concurrent_hits_is_allowed(stores: Stores) {
    let t = now();
    let hits: Vec<_> = (0..30)
        .map(|i| {
            let limits = stores.rate_limits.clone();
            tokio::spawn(async move {
                limits
                    .hit("contested", Duration::minutes(1), 7, t + ms(i % 3))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut allowed = 0;
    for hit in hits {
        allowed += usize::from(hit.await.expect("the hit task finishes").is_allowed());
    }

    assert_eq!(allowed, 7);
}

pub async fn a_budget_spend_starts_from_now_or_from_its_time_whichever_is_later(stores: Stores) {
    let t = now();
    let limits = &stores.rate_limits;
    let spend = |key: &str, by_ms: i64| (key.to_owned(), ms(by_ms));

    let first = limits
        .spend_budgets(&[spend("cost:a", 300), spend("cost:b", 50)], t)
        .await
        .unwrap();
    assert_eq!(first, [t + ms(300), t + ms(50)], "new keys start at now");

    let later = limits
        .spend_budgets(&[spend("cost:a", 100)], t + ms(100))
        .await
        .unwrap();
    assert_eq!(later, [t + ms(400)], "a time in the future grows");

    let idle = limits
        .spend_budgets(&[spend("cost:b", 10)], t + ms(1000))
        .await
        .unwrap();
    assert_eq!(idle, [t + ms(1010)], "a time in the past restarts from now");

    let read = limits
        .spend_budgets(&[spend("cost:a", 0)], t + ms(100))
        .await
        .unwrap();
    assert_eq!(read, [t + ms(400)], "a spend of nothing reads the time");
}

pub async fn concurrent_budget_spends_all_count(stores: Stores) {
    let t = now();
    let spends: Vec<_> = (0..20)
        .map(|_| {
            let limits = stores.rate_limits.clone();
            tokio::spawn(async move {
                limits
                    .spend_budgets(&[("cost:shared".to_owned(), ms(5))], t)
                    .await
                    .unwrap()
            })
        })
        .collect();
    for spend in spends {
        spend.await.expect("the spend task finishes");
    }
    let total = stores
        .rate_limits
        .spend_budgets(&[("cost:shared".to_owned(), ms(0))], t)
        .await
        .unwrap();
    assert_eq!(total, [t + ms(100)]);
}
