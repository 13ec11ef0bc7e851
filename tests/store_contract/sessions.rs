//! Login sessions: refresh-token rotation, reuse detection and revocation.

use agora::domain::{SessionId, UserId};
use agora::store::sessions::RETIRED_TOKENS_KEPT;
use agora::store::{NewSession, Session, SessionRotation, Stores};
use chrono::Duration;

use crate::fixtures::{create, ms, now, session, user};

/// A session as the store should report it right after creation.
fn as_created(new: &NewSession) -> Session {
    Session {
        id: new.id.clone(),
        user_id: new.user_id.clone(),
        created_at: new.created_at,
        expires_at: new.expires_at,
        revoked_at: None,
    }
}

pub async fn sessions_are_created_and_read_back(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let s = session(&ann.id, "hash-1");

    stores.sessions.create_session(&s).await.unwrap();

    assert_eq!(
        stores.sessions.get_session(&s.id).await.unwrap(),
        Some(as_created(&s))
    );
}

pub async fn rotating_the_current_token_moves_it_and_the_expiry(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let s = session(&ann.id, "hash-1");
    stores.sessions.create_session(&s).await.unwrap();
    let t = now() + ms(10);
    let new_expiry = t + Duration::days(7);

    let outcome = stores
        .sessions
        .rotate_session("hash-1", "hash-2", t, new_expiry)
        .await
        .unwrap();

    let rotated = Session {
        expires_at: new_expiry,
        ..as_created(&s)
    };
    assert_eq!(outcome, SessionRotation::Rotated(rotated.clone()));
    assert_eq!(
        stores.sessions.get_session(&s.id).await.unwrap(),
        Some(rotated)
    );
    // The replacement is now the current token and rotates in turn.
    let again = stores
        .sessions
        .rotate_session("hash-2", "hash-3", t + ms(1), new_expiry + ms(1))
        .await
        .unwrap();
    assert!(matches!(again, SessionRotation::Rotated(ref s) if s.expires_at == new_expiry + ms(1)));
}

pub async fn replaying_a_retired_token_revokes_the_family(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let s = session(&ann.id, "hash-1");
    stores.sessions.create_session(&s).await.unwrap();
    let t = now();
    let expiry = t + Duration::days(7);
    stores
        .sessions
        .rotate_session("hash-1", "hash-2", t, expiry)
        .await
        .unwrap();

    let replay = stores
        .sessions
        .rotate_session("hash-1", "hash-x", t + ms(1), expiry)
        .await
        .unwrap();

    let reuse = SessionRotation::ReuseDetected {
        session_id: s.id.clone(),
        user_id: ann.id.clone(),
    };
    assert_eq!(replay, reuse);
    let stored = stores.sessions.get_session(&s.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(t + ms(1)));
    // The legitimate holder's current token dies with the family.
    assert_eq!(
        stores
            .sessions
            .rotate_session("hash-2", "hash-3", t + ms(2), expiry)
            .await
            .unwrap(),
        SessionRotation::Rejected
    );
    // A further replay is still recognised, and keeps the first revocation time.
    assert_eq!(
        stores
            .sessions
            .rotate_session("hash-1", "hash-y", t + ms(3), expiry)
            .await
            .unwrap(),
        reuse
    );
    let stored = stores.sessions.get_session(&s.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(t + ms(1)));
}

pub async fn unknown_expired_and_revoked_tokens_are_rejected(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let t = now();
    let expiry = t + Duration::days(7);
    let expired = NewSession {
        created_at: t - Duration::days(8),
        expires_at: t,
        ..session(&ann.id, "expired")
    };
    stores.sessions.create_session(&expired).await.unwrap();
    let revoked = session(&ann.id, "revoked");
    stores.sessions.create_session(&revoked).await.unwrap();
    assert!(
        stores
            .sessions
            .revoke_session_by_token("revoked", t)
            .await
            .unwrap()
    );

    for presented in ["unknown", "expired", "revoked"] {
        let outcome = stores
            .sessions
            .rotate_session(presented, &format!("{presented}-next"), t, expiry)
            .await
            .unwrap();
        assert_eq!(outcome, SessionRotation::Rejected, "{presented}");
    }
    // Refusals change nothing.
    assert_eq!(
        stores.sessions.get_session(&expired.id).await.unwrap(),
        Some(as_created(&expired))
    );
    let stored = stores
        .sessions
        .get_session(&revoked.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, Some(t));
}

pub async fn only_one_of_twenty_concurrent_rotations_wins(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let s = session(&ann.id, "contested");
    stores.sessions.create_session(&s).await.unwrap();
    let t = now();
    let expiry = t + Duration::days(7);

    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let sessions = stores.sessions.clone();
            tokio::spawn(async move {
                sessions
                    .rotate_session("contested", &format!("next-{i}"), t, expiry)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.expect("the rotation task finishes"));
    }

    let winners = outcomes
        .iter()
        .filter(|o| matches!(o, SessionRotation::Rotated(_)))
        .count();
    let reuses = outcomes
        .iter()
        .filter(|o| matches!(o, SessionRotation::ReuseDetected { session_id, .. } if *session_id == s.id))
        .count();
    assert_eq!((winners, reuses), (1, 19), "{outcomes:#?}");
    let stored = stores.sessions.get_session(&s.id).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some());
}

pub async fn only_the_most_recent_retired_tokens_are_remembered(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let s = session(&ann.id, "token-0");
    stores.sessions.create_session(&s).await.unwrap();
    let t = now();
    let expiry = t + Duration::days(7);
    // Retires token-0 … token-N: one more than the family remembers.
    let rotations = RETIRED_TOKENS_KEPT + 1;
    for i in 0..rotations {
        let outcome = stores
            .sessions
            .rotate_session(
                &format!("token-{i}"),
                &format!("token-{}", i + 1),
                t + ms(i as i64),
                expiry,
            )
            .await
            .unwrap();
        assert!(
            matches!(outcome, SessionRotation::Rotated(_)),
            "rotation {i}"
        );
    }
    let later = t + ms(rotations as i64);

    // The oldest retired token has been forgotten: refused, but the family survives.
    assert_eq!(
        stores
            .sessions
            .rotate_session("token-0", "x", later, expiry)
            .await
            .unwrap(),
        SessionRotation::Rejected
    );
    assert_eq!(
        stores
            .sessions
            .get_session(&s.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    // The oldest one still remembered is recognised as a replay.
    assert!(matches!(
        stores
            .sessions
            .rotate_session("token-1", "y", later, expiry)
            .await
            .unwrap(),
        SessionRotation::ReuseDetected { .. }
    ));
}

pub async fn revoking_by_token_ends_only_that_session(stores: Stores) {
    let ann = user("ann");
    create(&stores, &ann).await;
    let (phone, laptop) = (session(&ann.id, "phone"), session(&ann.id, "laptop"));
    stores.sessions.create_session(&phone).await.unwrap();
    stores.sessions.create_session(&laptop).await.unwrap();
    let t = now();

    assert!(
        stores
            .sessions
            .revoke_session_by_token("phone", t)
            .await
            .unwrap()
    );

    let stored = stores
        .sessions
        .get_session(&phone.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, Some(t));
    assert_eq!(
        stores.sessions.get_session(&laptop.id).await.unwrap(),
        Some(as_created(&laptop))
    );
    assert!(
        !stores
            .sessions
            .revoke_session_by_token("phone", t + ms(1))
            .await
            .unwrap()
    );
    assert!(
        !stores
            .sessions
            .revoke_session_by_token("unknown", t)
            .await
            .unwrap()
    );
    let stored = stores
        .sessions
        .get_session(&phone.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.revoked_at,
        Some(t),
        "a second revocation keeps the first time"
    );
}

pub async fn revoking_a_users_sessions_can_keep_one(stores: Stores) {
    let (ann, bob) = (user("ann"), user("bob"));
    create(&stores, &ann).await;
    create(&stores, &bob).await;
    let anns: Vec<NewSession> = (0..3)
        .map(|i| session(&ann.id, &format!("ann-{i}")))
        .collect();
    for s in &anns {
        stores.sessions.create_session(s).await.unwrap();
    }
    let bobs = session(&bob.id, "bob-0");
    stores.sessions.create_session(&bobs).await.unwrap();
    let t = now();
    let keep: &SessionId = &anns[0].id;

    let revoked = stores
        .sessions
        .revoke_user_sessions(&ann.id, Some(keep), t)
        .await
        .unwrap();

    assert_eq!(revoked, 2);
    let live = |s: Option<Session>| s.expect("the session exists").revoked_at.is_none();
    assert!(live(stores.sessions.get_session(keep).await.unwrap()));
    for s in &anns[1..] {
        assert!(!live(stores.sessions.get_session(&s.id).await.unwrap()));
    }
    assert!(live(stores.sessions.get_session(&bobs.id).await.unwrap()));

    assert_eq!(
        stores
            .sessions
            .revoke_user_sessions(&ann.id, None, t + ms(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        stores
            .sessions
            .revoke_user_sessions(&ann.id, None, t + ms(2))
            .await
            .unwrap(),
        0
    );
    assert!(live(stores.sessions.get_session(&bobs.id).await.unwrap()));
}

pub async fn unknown_session_ids_find_nothing(stores: Stores) {
    assert_eq!(
        stores
            .sessions
            .get_session(&SessionId::generate())
            .await
            .unwrap(),
        None
    );
}

pub async fn a_session_needs_an_existing_user(stores: Stores) {
    let s = session(&UserId::generate(), "ghost-token");

    assert!(stores.sessions.create_session(&s).await.is_err());

    assert_eq!(stores.sessions.get_session(&s.id).await.unwrap(), None);
}
