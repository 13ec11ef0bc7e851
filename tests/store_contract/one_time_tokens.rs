//! Contract of `OneTimeTokenStore`: single use, expiry, supersession, purposes, concurrency.

use agora::domain::UserId;
use agora::store::{NewOneTimeToken, Stores, TokenPurpose};
use chrono::{DateTime, Duration, Utc};

use crate::fixtures::{create, ms, now, user};

fn token(
    user_id: &UserId,
    purpose: TokenPurpose,
    hash: &str,
    at: DateTime<Utc>,
) -> NewOneTimeToken {
    NewOneTimeToken {
        user_id: user_id.clone(),
        purpose,
        token_hash: hash.to_owned(),
        created_at: at,
        expires_at: at + Duration::minutes(30),
    }
}

const RESET: TokenPurpose = TokenPurpose::PasswordReset;
const VERIFY: TokenPurpose = TokenPurpose::EmailVerification;

pub async fn a_token_is_consumed_once_for_its_user(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();
    let tokens = &stores.one_time_tokens;
    tokens
        .issue(&token(&ann.id, RESET, "hash-a", t))
        .await
        .unwrap();

    assert_eq!(
        tokens.consume("hash-a", RESET, t + ms(1)).await.unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(
        tokens.consume("hash-a", RESET, t + ms(2)).await.unwrap(),
        None
    );
    assert_eq!(tokens.consume("unknown", RESET, t).await.unwrap(), None);
}

pub async fn a_token_expires_at_its_expiry(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();
    let issued = token(&ann.id, RESET, "hash-a", t);
    stores.one_time_tokens.issue(&issued).await.unwrap();

    // `expires_at` itself is already too late; a millisecond before still works.
    assert_eq!(
        stores
            .one_time_tokens
            .consume("hash-a", RESET, issued.expires_at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .one_time_tokens
            .consume("hash-a", RESET, issued.expires_at - ms(1))
            .await
            .unwrap(),
        Some(ann.id)
    );
}

pub async fn a_newer_token_supersedes_the_previous_one_of_that_purpose_only(stores: Stores) {
    let (ann, bob) = (user("ann"), user("bob"));
    create(&stores, &ann).await;
    create(&stores, &bob).await;
    let t = now();
    let tokens = &stores.one_time_tokens;
    tokens
        .issue(&token(&ann.id, RESET, "reset-1", t))
        .await
        .unwrap();
    tokens
        .issue(&token(&ann.id, VERIFY, "verify-1", t))
        .await
        .unwrap();
    tokens
        .issue(&token(&bob.id, RESET, "bob-reset", t))
        .await
        .unwrap();

    tokens
        .issue(&token(&ann.id, RESET, "reset-2", t + ms(5)))
        .await
        .unwrap();

    let later = t + ms(10);
    assert_eq!(tokens.consume("reset-1", RESET, later).await.unwrap(), None);
    assert_eq!(
        tokens.consume("reset-2", RESET, later).await.unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(
        tokens.consume("verify-1", VERIFY, later).await.unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(
        tokens.consume("bob-reset", RESET, later).await.unwrap(),
        Some(bob.id)
    );
}

pub async fn a_used_token_is_replaced_by_a_new_request(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();
    let tokens = &stores.one_time_tokens;
    tokens
        .issue(&token(&ann.id, VERIFY, "first", t))
        .await
        .unwrap();
    tokens.consume("first", VERIFY, t + ms(1)).await.unwrap();

    tokens
        .issue(&token(&ann.id, VERIFY, "second", t + ms(2)))
        .await
        .unwrap();

    assert_eq!(
        tokens.consume("second", VERIFY, t + ms(3)).await.unwrap(),
        Some(ann.id)
    );
}

pub async fn a_token_never_works_for_the_other_purpose(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();
    let tokens = &stores.one_time_tokens;
    tokens
        .issue(&token(&ann.id, VERIFY, "verify", t))
        .await
        .unwrap();

    assert_eq!(
        tokens.consume("verify", RESET, t + ms(1)).await.unwrap(),
        None
    );
    // The refused attempt did not use it up.
    assert_eq!(
        tokens.consume("verify", VERIFY, t + ms(2)).await.unwrap(),
        Some(ann.id)
    );
}

pub async fn tokens_need_an_existing_user(stores: Stores) {
    let result = stores
        .one_time_tokens
        .issue(&token(&UserId::generate(), RESET, "orphan", now()))
        .await;
    assert!(result.is_err(), "{result:?}");
}

pub async fn only_one_of_twenty_concurrent_consumes_wins(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();
    stores
        .one_time_tokens
        .issue(&token(&ann.id, RESET, "contested", t))
        .await
        .unwrap();

    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let tokens = stores.one_time_tokens.clone();
            tokio::spawn(
                async move { tokens.consume("contested", RESET, t + ms(1)).await.unwrap() },
            )
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        if let Some(user_id) = attempt.await.expect("the consume task finishes") {
            winners.push(user_id);
        }
    }

    assert_eq!(winners, vec![ann.id]);
}

pub async fn concurrent_issues_leave_exactly_one_working_token(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();

    let issues: Vec<_> = (0..10)
        .map(|i| {
            let tokens = stores.one_time_tokens.clone();
            let new = token(&ann.id, RESET, &format!("racer-{i}"), t);
            tokio::spawn(async move { tokens.issue(&new).await.unwrap() })
        })
        .collect();
    for issue in issues {
        issue.await.expect("the issue task finishes");
    }

    let mut working = 0;
    for i in 0..10 {
        let consumed = stores
            .one_time_tokens
            .consume(&format!("racer-{i}"), RESET, t + ms(1))
            .await
            .unwrap();
        working += usize::from(consumed.is_some());
    }
    assert_eq!(working, 1);
}

pub async fn peeking_answers_like_consume_without_using_the_token_up(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();
    let tokens = &stores.one_time_tokens;
    let issued = token(&ann.id, RESET, "peeked", t);
    tokens.issue(&issued).await.unwrap();

    assert_eq!(
        tokens.peek("peeked", RESET, t + ms(1)).await.unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(
        tokens.peek("peeked", RESET, t + ms(2)).await.unwrap(),
        Some(ann.id.clone())
    );
    assert_eq!(tokens.peek("peeked", VERIFY, t).await.unwrap(), None);
    assert_eq!(tokens.peek("unknown", RESET, t).await.unwrap(), None);
    assert_eq!(
        tokens
            .peek("peeked", RESET, issued.expires_at)
            .await
            .unwrap(),
        None
    );

    assert_eq!(
        tokens.consume("peeked", RESET, t + ms(3)).await.unwrap(),
        Some(ann.id)
    );
    assert_eq!(tokens.peek("peeked", RESET, t + ms(4)).await.unwrap(), None);
}
