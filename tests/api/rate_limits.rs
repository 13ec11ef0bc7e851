//! Per-action rate limits over the real API: per email, per client address, per user for
//! each limited mutation, across aliases and transports, with `RATE_LIMITED` and
//! `extensions.retryAfter`.

use agora::config::RatePolicy;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, spawn_app, spawn_app_with};

const LOGIN: &str =
    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";

/// Asserts a `RATE_LIMITED` error with a plausible `retryAfter` (1 s up to `window_secs`).
fn assert_rate_limited(error: &Value, window_secs: u64) {
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{error}");
    let retry_after = error["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("a numeric retryAfter: {error}"));
    assert!((1..=window_secs).contains(&retry_after), "{error}");
}

async fn login_error(app: &TestApp, email: &str, password: &str) -> Value {
    let (_, body) = app
        .post(None, LOGIN, json!({ "e": email, "p": password }))
        .await;
    body["errors"][0].clone()
}

async fn post_with_forwarded_for(app: &TestApp, forwarded_for: &str, email: &str) -> Value {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": "wrong-password" } }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["errors"][0]["extensions"]["code"].clone()
}

#[tokio::test]
async fn the_sixth_login_attempt_in_a_minute_for_one_email_is_rate_limited_and_others_are_not() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;

    for attempt in 1..=5 {
        let error = login_error(&app, &ann.email, "wrong-password").await;
        assert_eq!(
            error["extensions"]["code"], "UNAUTHENTICATED",
            "attempt {attempt}"
        );
    }
    // Even the right password: the limit counts attempts, not failures.
    let sixth = login_error(&app, &ann.email, &ann.password).await;

    assert_rate_limited(&sixth, 60);
    // Another spelling of the same address shares the counter.
    let shouted = login_error(&app, "  ANN@Example.com ", &ann.password).await;
    assert_rate_limited(&shouted, 60);
    app.login(&bob.email, &bob.password).await;
}

#[tokio::test]
async fn aliases_in_one_document_count_as_separate_attempts() {
    let app = spawn_app().await;
    let cat = app.register("cat").await;
    let fields: String = (1..=6)
        .map(|i| format!("a{i}: login(email: $e, password: \"wrong-password\") {{ accessToken }} "))
        .collect();

    let (_, body) = app
        .post(
            None,
            &format!("mutation($e: String!) {{ {fields} }}"),
            json!({ "e": cat.email }),
        )
        .await;

    let errors = body["errors"].as_array().expect("errors");
    let by_alias = |alias: &str| {
        errors
            .iter()
            .find(|e| e["path"][0] == alias)
            .unwrap_or_else(|| panic!("an error for {alias}: {body}"))
    };
    for i in 1..=5 {
        assert_eq!(
            by_alias(&format!("a{i}"))["extensions"]["code"],
            "UNAUTHENTICATED"
        );
    }
    assert_rate_limited(by_alias("a6"), 60);
    assert_rate_limited(&login_error(&app, &cat.email, &cat.password).await, 60);
}

#[tokio::test]
async fn a_batch_is_refused_before_any_attempt_counts() {
    let app = spawn_app().await;
    let dan = app.register("dan").await;
    let attempt = json!({ "query": LOGIN, "variables": { "e": dan.email, "p": "wrong-password" } });

    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&Value::Array(vec![attempt; 10]))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    app.login(&dan.email, &dan.password).await;
}

#[tokio::test]
async fn the_login_limit_per_client_address_spans_emails() {
    let app = spawn_app_with(|c| c.rate_limits.login_per_ip = RatePolicy::new(3, 60)).await;

    for i in 1..=3 {
        let error = login_error(&app, &format!("user{i}@example.com"), "wrong-password").await;
        assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED");
    }

    assert_rate_limited(
        &login_error(&app, "user4@example.com", "wrong-password").await,
        60,
    );
}

#[tokio::test]
async fn registrations_are_limited_per_client_address() {
    let app = spawn_app_with(|c| c.rate_limits.register_per_ip = RatePolicy::new(2, 3600)).await;
    app.register("eve").await;
    app.register("fay").await;

    let (_, body) = app
        .post(
            None,
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            json!({ "i": { "email": "gus@example.com", "password": "long-enough-pw", "username": "gus", "displayName": "Gus" } }),
        )
        .await;

    assert_rate_limited(&body["errors"][0], 3600);
}

#[tokio::test]
async fn reset_requests_are_limited_per_email_alike_for_known_and_unknown_addresses() {
    let app = spawn_app().await;
    let hal = app.register("hal").await;

    for email in [hal.email.as_str(), "nobody@example.com"] {
        for _ in 0..3 {
            let data = app.data(None, REQUEST_RESET, json!({ "e": email })).await;
            assert_eq!(data["requestPasswordReset"], true);
        }
        let (_, body) = app.post(None, REQUEST_RESET, json!({ "e": email })).await;
        assert_rate_limited(&body["errors"][0], 3600);
        assert_eq!(body["data"], Value::Null);
    }
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_trusted() {
    let limit = |c: &mut agora::config::Config| c.rate_limits.login_per_ip = RatePolicy::new(2, 60);
    let untrusted = spawn_app_with(limit).await;
    let trusted = spawn_app_with(|c| {
        limit(c);
        c.http.trust_forwarded_for = true;
    })
    .await;

    // Untrusted: a client cannot escape its limit by inventing addresses.
    for (i, forwarded) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        let code =
            post_with_forwarded_for(&untrusted, forwarded, &format!("u{i}@example.com")).await;
        let expected = if i < 2 {
            "UNAUTHENTICATED"
        } else {
            "RATE_LIMITED"
        };
        assert_eq!(code, expected, "untrusted attempt {}", i + 1);
    }
    // Trusted: the address our proxy appended (the last one) is the client.
    for i in 0..2 {
        let code = post_with_forwarded_for(
            &trusted,
            "10.0.0.9, 203.0.113.1",
            &format!("t{i}@example.com"),
        )
        .await;
        assert_eq!(code, "UNAUTHENTICATED");
    }
    assert_eq!(
        post_with_forwarded_for(&trusted, "203.0.113.1", "t2@example.com").await,
        "RATE_LIMITED"
    );
    assert_eq!(
        post_with_forwarded_for(&trusted, "203.0.113.1, 203.0.113.2", "t3@example.com").await,
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn subscription_starts_are_limited_per_user_across_sockets() {
    let app = spawn_app_with(|c| {
        c.rate_limits.subscription_start_per_user = RatePolicy::new(2, 60);
    })
    .await;
    let ivy = app.register("ivy").await;
    let subscribe = |id: &str| json!({ "id": id, "type": "subscribe", "payload": { "query": "subscription { viewerUpdated { id } }" } });
    let mut socket = app.ws("graphql-transport-ws").await;
    socket.init(Some(&ivy.access)).await;

    socket.send(subscribe("1")).await;
    socket.send(subscribe("2")).await;
    socket.send(subscribe("3")).await;

    let refused = socket.next_json().await;
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("error"), &json!("3")),
        "{refused}"
    );
    assert_rate_limited(&refused["payload"][0], 60);
    // The socket stays open.
    socket.send(json!({ "type": "ping" })).await;
    assert_eq!(socket.next_json().await["type"], "pong");
    // A new socket does not reset the count.
    let mut another = app.ws("graphql-transport-ws").await;
    another.init(Some(&ivy.access)).await;
    another.send(subscribe("1")).await;
    assert_rate_limited(&another.next_json().await["payload"][0], 60);
}

#[tokio::test]
async fn checkouts_and_payment_attempts_are_limited_per_buyer() {
    use crate::helpers::{CHECKOUT, PAY, add_to_cart, address, buy, card, listing};
    let app = spawn_app_with(|c| {
        c.rate_limits.checkout_per_user = RatePolicy::new(2, 3600);
        c.rate_limits.payment_per_user = RatePolicy::new(2, 3600);
    })
    .await;
    let sam = app.seller("sam").await;
    let post = listing(&app, &sam, "10.00", 100).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);

    // Card testing: declined charges count, and the third attempt never reaches the gateway.
    let order = buy(&app, &ann, &post, 1, "first").await;
    let declined = card(&app, &ann, "4000 0000 0000 0002").await;
    for _ in 0..2 {
        let (code, _) = app
            .error_code(Some(&ann.access), PAY, json!({ "o": order, "c": declined }))
            .await;
        assert_eq!(code, "PAYMENT_DECLINED");
    }
    let good = card(&app, &ann, "4242 4242 4242 4242").await;
    let (_, body) = app
        .post(Some(&ann.access), PAY, json!({ "o": order, "c": good }))
        .await;
    assert_rate_limited(&body["errors"][0], 3600);

    // Ann's second checkout fits; the third is refused and takes no stock.
    buy(&app, &ann, &post, 1, "second").await;
    add_to_cart(&app, &ann, &post, 5).await;
    let ann_address = address(&app, &ann).await;
    let (_, body) = app
        .post(
            Some(&ann.access),
            CHECKOUT,
            json!({ "a": ann_address, "k": "third" }),
        )
        .await;
    assert_rate_limited(&body["errors"][0], 3600);
    let stock = crate::helpers::stock(&app, &post).await;
    assert_eq!(stock["stock"], 98, "{stock}");

    // The limits are per buyer: Bob checks out and pays.
    let bobs = buy(&app, &bob, &post, 1, "bob").await;
    let bobs_card = card(&app, &bob, "4242 4242 4242 4242").await;
    let paid = app
        .data(Some(&bob.access), PAY, json!({ "o": bobs, "c": bobs_card }))
        .await;
    assert_eq!(paid["payOrder"]["status"], "PAID", "{paid}");
}

/// `who` runs each of `allowed` (mutation, variables), each answered without errors, then
/// `refused`, which must be `RATE_LIMITED` with a `retryAfter` within `window_secs`.
async fn limited_after(
    app: &TestApp,
    who: &Account,
    allowed: &[(&str, Value)],
    refused: (&str, Value),
    window_secs: u64,
) {
    for (mutation, variables) in allowed {
        app.data(Some(&who.access), mutation, variables.clone())
            .await;
    }
    let (_, body) = app.post(Some(&who.access), refused.0, refused.1).await;
    assert_rate_limited(&body["errors"][0], window_secs);
    assert!(
        body["data"].is_null(),
        "a refused mutation returns nothing: {body}"
    );
}

const REACT: &str = "mutation($p: ID!) { react(postId: $p, kind: LOVE) { id } }";
const UNREACT: &str = "mutation($p: ID!) { unreact(postId: $p) { id } }";
const FAVORITE: &str = "mutation($p: ID!) { addFavorite(postId: $p) { id } }";
const UNFAVORITE: &str = "mutation($p: ID!) { removeFavorite(postId: $p) { id } }";
const FOLLOW: &str = "mutation($u: ID!) { follow(userId: $u) { id } }";
const UNFOLLOW: &str = "mutation($u: ID!) { unfollow(userId: $u) { id } }";
const BLOCK: &str = "mutation($u: ID!) { block(userId: $u) { id } }";
const UNBLOCK: &str = "mutation($u: ID!) { unblock(userId: $u) { id } }";
const ADD_TO_CART: &str =
    "mutation($p: ID!, $q: Int) { addToCart(postId: $p, quantity: $q) { itemCount } }";
const UPDATE_CART_ITEM: &str =
    "mutation($p: ID!, $q: Int!) { updateCartItem(postId: $p, quantity: $q) { itemCount } }";
const CREATE_REVIEW: &str =
    "mutation($p: ID!) { createReview(input: { postId: $p, rating: 4 }) { id } }";
const OPEN_CHAT: &str = "mutation($u: ID!) { openChat(userId: $u) { id } }";
const CREATE_GROUP_CHAT: &str =
    "mutation($m: [ID!]!) { createGroupChat(title: \"team\", memberIds: $m) { id } }";

#[tokio::test]
async fn reacting_and_unreacting_share_one_counter_per_user_and_favorites_another() {
    let app = spawn_app_with(|c| {
        c.rate_limits.reaction_per_user = RatePolicy::new(3, 60);
        c.rate_limits.favorite_per_user = RatePolicy::new(2, 60);
    })
    .await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let post = crate::helpers::create_post(&app, &bob, "bob's").await;
    let p = json!({ "p": post });

    limited_after(
        &app,
        &ann,
        &[(REACT, p.clone()), (UNREACT, p.clone()), (REACT, p.clone())],
        (UNREACT, p.clone()),
        60,
    )
    .await;
    // Ann's reaction stands: the refused unreact changed nothing.
    let counts = app
        .data(
            None,
            "query($p: ID!) { post(id: $p) { reactionCounts { kind count } } }",
            p.clone(),
        )
        .await;
    assert_eq!(
        counts["post"]["reactionCounts"],
        json!([{ "kind": "LOVE", "count": 1 }])
    );
    // Favorites count apart from reactions, and other users apart from Ann.
    limited_after(
        &app,
        &ann,
        &[(FAVORITE, p.clone()), (UNFAVORITE, p.clone())],
        (FAVORITE, p.clone()),
        60,
    )
    .await;
    app.data(Some(&cat.access), REACT, p.clone()).await;
}

#[tokio::test]
async fn following_and_blocking_are_limited_per_user_each_toggle_on_one_counter() {
    let app = spawn_app_with(|c| {
        c.rate_limits.follow_per_user = RatePolicy::new(2, 3600);
        c.rate_limits.block_per_user = RatePolicy::new(2, 3600);
    })
    .await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );
    let u = json!({ "u": bob.id });

    limited_after(
        &app,
        &ann,
        &[(FOLLOW, u.clone()), (UNFOLLOW, u.clone())],
        (FOLLOW, u.clone()),
        3600,
    )
    .await;
    limited_after(
        &app,
        &ann,
        &[(BLOCK, u.clone()), (UNBLOCK, u.clone())],
        (BLOCK, json!({ "u": cat.id })),
        3600,
    )
    .await;
    // Cat's counters are her own.
    app.data(Some(&cat.access), FOLLOW, u.clone()).await;
    app.data(Some(&cat.access), BLOCK, json!({ "u": ann.id }))
        .await;
}

#[tokio::test]
async fn cart_writes_are_limited_per_buyer() {
    use crate::helpers::listing;
    let app = spawn_app_with(|c| c.rate_limits.cart_per_user = RatePolicy::new(2, 60)).await;
    let sam = app.seller("sam").await;
    let post = listing(&app, &sam, "10.00", 10).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);

    limited_after(
        &app,
        &ann,
        &[
            (ADD_TO_CART, json!({ "p": post, "q": 1 })),
            (UPDATE_CART_ITEM, json!({ "p": post, "q": 3 })),
        ],
        (ADD_TO_CART, json!({ "p": post, "q": 1 })),
        60,
    )
    .await;
    let cart = app
        .data(Some(&ann.access), "{ cart { itemCount } }", json!({}))
        .await;
    assert_eq!(cart["cart"]["itemCount"], 3, "{cart}");
    app.data(Some(&bob.access), ADD_TO_CART, json!({ "p": post, "q": 1 }))
        .await;
}

#[tokio::test]
async fn new_reviews_are_limited_per_author() {
    use crate::helpers::listing;
    let app = spawn_app_with(|c| c.rate_limits.review_per_user = RatePolicy::new(1, 3600)).await;
    let sam = app.seller("sam").await;
    let (first, second) = (
        listing(&app, &sam, "10.00", 10).await,
        listing(&app, &sam, "20.00", 10).await,
    );
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);

    limited_after(
        &app,
        &ann,
        &[(CREATE_REVIEW, json!({ "p": first }))],
        (CREATE_REVIEW, json!({ "p": second })),
        3600,
    )
    .await;
    let reviews = app
        .data(
            None,
            "query($p: ID!) { post(id: $p) { reviews(first: 5) { totalCount } } }",
            json!({ "p": second }),
        )
        .await;
    assert_eq!(reviews["post"]["reviews"]["totalCount"], 0, "{reviews}");
    app.data(Some(&bob.access), CREATE_REVIEW, json!({ "p": second }))
        .await;
}

#[tokio::test]
async fn opening_chats_and_creating_groups_are_limited_per_user() {
    let app = spawn_app_with(|c| {
        c.rate_limits.open_chat_per_user = RatePolicy::new(2, 3600);
        c.rate_limits.group_chat_per_user = RatePolicy::new(1, 3600);
    })
    .await;
    let (ann, bob, cat) = (
        app.register("ann").await,
        app.register("bob").await,
        app.register("cat").await,
    );

    // Opening the room that exists already counts too: it is the same request.
    limited_after(
        &app,
        &ann,
        &[
            (OPEN_CHAT, json!({ "u": bob.id })),
            (OPEN_CHAT, json!({ "u": bob.id })),
        ],
        (OPEN_CHAT, json!({ "u": cat.id })),
        3600,
    )
    .await;
    limited_after(
        &app,
        &ann,
        &[(CREATE_GROUP_CHAT, json!({ "m": [bob.id, cat.id] }))],
        (CREATE_GROUP_CHAT, json!({ "m": [bob.id] })),
        3600,
    )
    .await;
    let rooms = app
        .data(
            Some(&ann.access),
            "{ chatRooms(first: 10) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(rooms["chatRooms"]["totalCount"], 2, "{rooms}");
    app.data(Some(&cat.access), OPEN_CHAT, json!({ "u": ann.id }))
        .await;
}
