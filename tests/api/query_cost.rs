//! The cost model and the per-client budget through the real API: attacks are refused before
//! anything runs, every answer carries `extensions.cost`, budgets refill, are shared by
//! instances and price subscriptions at their start, and oversized answers are refused.

use serde_json::{Value, json};

use crate::helpers::{TestApp, counting_config, follow, spawn_app, spawn_app_with, store_quiet};

/// The audit's first document: five levels of `followers(first: 20)` from one user (`$u`).
pub const FAN_OUT_ATTACK: &str = include_str!("../fixtures/fan-out.attack.graphql");

/// The audit's second document: 31 aliased `__schema` selections in 4.5 KB.
pub const ALIASED_SCHEMA_ATTACK: &str = include_str!("../fixtures/aliased-schema.attack.graphql");

/// Some users who all follow each other, so every level of the fan-out has 20 to show.
async fn follow_ring(app: &TestApp, size: usize) -> Vec<crate::helpers::Account> {
    let mut users = Vec::new();
    for i in 0..size {
        users.push(app.register(&format!("ring{i}")).await);
    }
    for follower in &users {
        for followed in &users {
            if follower.id != followed.id {
                follow(app, follower, followed).await;
            }
        }
    }
    users
}

async fn assert_answers_at_once(app: &TestApp) {
    let data = app.data(None, "{ __typename }", json!({})).await;
    assert_eq!(data, json!({ "__typename": "Query" }));
}

#[tokio::test]
async fn the_fan_out_attack_is_refused_as_too_costly_and_the_server_answers_at_once() {
    let app = spawn_app_with(|config| {
        // The ring's follows are the setup, not the attack.
        config.rate_limits.enabled = false;
    })
    .await;
    let users = follow_ring(&app, 4).await;

    let (status, body) = app
        .post(None, FAN_OUT_ATTACK, json!({ "u": users[0].id }))
        .await;

    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null, "{body}");
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "QUERY_TOO_COSTLY", "{body}");
    let requested = error["extensions"]["cost"]["requested"].as_u64().unwrap();
    assert!(requested > 3_000_000, "{body}");
    assert_eq!(error["extensions"]["cost"]["limit"], 50_000);
    // The answer still carries its price.
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], requested, "{body}");
    assert_eq!(cost["actualQueryCost"], 0, "{body}");
    assert!(
        cost["throttleStatus"].is_null(),
        "budgets are off here: {body}"
    );
    assert_answers_at_once(&app).await;
}

#[tokio::test]
async fn the_fan_out_attack_is_refused_on_the_default_configuration() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;

    let (code, body) = app
        .error_code(None, FAN_OUT_ATTACK, json!({ "u": ann.id }))
        .await;

    assert_eq!(code, "QUERY_TOO_COSTLY", "{body}");
    let throttle = &body["extensions"]["cost"]["throttleStatus"];
    assert_eq!(
        throttle["currentlyAvailable"], 100_000,
        "nothing was drawn: {body}"
    );
    assert_answers_at_once(&app).await;
}

#[tokio::test]
async fn a_document_too_costly_makes_no_store_call() {
    let app = spawn_app_with(counting_config).await;
    let ann = app.register("ann").await;
    store_quiet(&app).await;

    let before = app.core.stores.round_trips.count();
    let (code, _) = app
        .error_code(None, FAN_OUT_ATTACK, json!({ "u": ann.id }))
        .await;
    let after = app.core.stores.round_trips.count();

    assert_eq!(code, "QUERY_TOO_COSTLY");
    assert_eq!(after - before, 0, "store round trips");
}

#[tokio::test]
async fn thirty_one_aliased_schema_selections_are_refused_and_the_server_answers_at_once() {
    let app = spawn_app().await;
    assert!(ALIASED_SCHEMA_ATTACK.len() < 4_600);

    let (code, body) = app.error_code(None, ALIASED_SCHEMA_ATTACK, json!({})).await;

    assert_eq!(code, "QUERY_TOO_COSTLY", "{body}");
    assert_answers_at_once(&app).await;
}

#[tokio::test]
async fn a_page_size_from_a_variable_is_priced_with_its_value_or_the_maximum() {
    let app = spawn_app_with(|config| config.graphql.max_cost = 500).await;
    let query = "query($n: Int) { posts(first: $n) { nodes { id author { id } } } }";

    // 1 + 50 × 2 = 101
    let (_, body) = app.post(None, query, json!({ "n": 50 })).await;
    assert_eq!(
        body["extensions"]["cost"]["requestedQueryCost"], 101,
        "{body}"
    );
    // Unknown: the maximum page, 1 + 100 × 2 = 201.
    let (_, body) = app.post(None, query, json!({})).await;
    assert_eq!(
        body["extensions"]["cost"]["requestedQueryCost"], 201,
        "{body}"
    );
    // Nested under another page it passes the limit.
    let nested =
        "query($n: Int) { posts(first: $n) { nodes { comments(first: $n) { nodes { id } } } } }";
    let (code, body) = app.error_code(None, nested, json!({})).await;
    assert_eq!(code, "QUERY_TOO_COSTLY", "{body}");
    assert!(app.post(None, nested, json!({ "n": 5 })).await.1["errors"].is_null());
}

#[tokio::test]
async fn every_answer_carries_its_price_what_it_held_and_the_budget_left() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    for body in ["one", "two"] {
        app.data(
            Some(&ann.access),
            "mutation($b: String!) { createPost(input: { kind: TEXT, body: $b }) { id } }",
            json!({ "b": body }),
        )
        .await;
    }

    let (status, body) = app
        .post(
            Some(&ann.access),
            "{ posts(first: 50) { nodes { id author { id } } } }",
            json!({}),
        )
        .await;

    assert_eq!(status, 200);
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 101, "{body}");
    // The connection, two posts and their author.
    assert_eq!(cost["actualQueryCost"], 5, "{body}");
    let throttle = &cost["throttleStatus"];
    assert_eq!(throttle["maximumAvailable"], 100_000);
    assert_eq!(throttle["restoreRate"], 5_000);
    let available = throttle["currentlyAvailable"].as_u64().unwrap();
    assert!(
        (99_000..=100_000).contains(&available),
        "only what the answer held is kept: {body}"
    );
}

/// A budget of 10 points refilling at one a second, and a limit of 5 per document.
fn small_budget(config: &mut agora::config::Config) {
    config.graphql.max_cost = 5;
    config.graphql.cost_budget_maximum = 10;
    config.graphql.cost_budget_restore_rate = 1;
}

/// Costs 5, and its answer holds 5: nothing comes back. A refill of 5 points takes 5 s, so a
/// slow machine cannot make the refusals below pass by itself.
const FIVE: &str = "{ a: viewer { id } b: viewer { id } c: viewer { id } d: viewer { id } \
                    e: viewer { id } }";

#[tokio::test]
async fn a_client_over_its_budget_is_rate_limited_until_it_refills_and_others_are_not() {
    let app = spawn_app_with(small_budget).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    for _ in 0..2 {
        let (_, body) = app.post(Some(&ann.access), FIVE, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }

    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&ann.access)
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": FIVE }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((4..=5).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{body}");
    assert_eq!(error["extensions"]["retryAfter"], retry_after, "{body}");
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 5);
    assert_eq!(cost["throttleStatus"]["maximumAvailable"], 10);
    assert_eq!(cost["throttleStatus"]["restoreRate"], 1);
    assert!(
        cost["throttleStatus"]["currentlyAvailable"]
            .as_u64()
            .unwrap()
            < 5
    );

    // Bob's budget is his own; anonymous requests draw from their address's.
    let (_, body) = app.post(Some(&bob.access), FIVE, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let (_, body) = app.post(None, "{ __typename }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");

    // Refused requests draw nothing: however many, the wait never grows, and the points
    // arrive on time.
    for _ in 0..5 {
        let (code, body) = app.error_code(Some(&ann.access), FIVE, json!({})).await;
        assert_eq!(code, "RATE_LIMITED");
        let wait = body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap();
        assert!(wait <= retry_after, "{body}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, body) = app.post(Some(&ann.access), FIVE, json!({})).await;
        if body["errors"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never refilled: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn what_an_answer_does_not_use_of_its_price_goes_back_to_the_budget() {
    let app = spawn_app_with(|config| {
        config.graphql.max_cost = 101;
        // Without refunds the second request would not fit.
        config.graphql.cost_budget_maximum = 110;
        config.graphql.cost_budget_restore_rate = 1;
    })
    .await;
    let ann = app.register("ann").await;
    // 1 + 100 × 1, answered by an empty connection (1): 100 points come back each time.
    for _ in 0..5 {
        let (_, body) = app
            .post(
                Some(&ann.access),
                "{ posts(first: 100) { nodes { id } } }",
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(body["extensions"]["cost"]["actualQueryCost"], 1, "{body}");
    }
}

#[tokio::test]
async fn a_budget_may_not_be_smaller_than_the_costliest_document_allowed() {
    let mut config = agora::config::Config::default();
    let dir = tempfile::tempdir().unwrap();
    config.store.data_dir = dir.path().to_owned();
    config.http.bind = "127.0.0.1:0".parse().unwrap();
    config.graphql.cost_budget_maximum = config.graphql.max_cost - 1;
    let refused = agora::App::build(config)
        .await
        .err()
        .expect("a start-up error");
    assert!(
        refused.to_string().contains("cost_budget_maximum"),
        "{refused}"
    );
}

#[tokio::test]
async fn instances_on_one_store_share_each_clients_budget() {
    let budget = |config: &mut agora::config::Config| {
        config.graphql.max_cost = 10_000;
        config.graphql.cost_budget_maximum = 10_000;
        config.graphql.cost_budget_restore_rate = 1;
    };
    let a = spawn_app_with(budget).await;
    let dir = a.data_dir.path().to_owned();
    let b = spawn_app_with(move |config| {
        budget(config);
        config.store.data_dir = dir;
    })
    .await;
    let ann = a.register("ann").await;
    // Every category with its children: the answer holds every one of them, so nearly the
    // whole price is kept.
    let catalogue = "{ categories { id children { id } } }";
    let mut spent = 0;
    for _ in 0..5 {
        let (_, body) = a.post(Some(&ann.access), catalogue, json!({})).await;
        spent += body["extensions"]["cost"]["actualQueryCost"]
            .as_u64()
            .unwrap();
    }
    assert!(spent > 100, "{spent}");

    // b spends 1 a request; within a few sync intervals it knows of a's spends too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, body) = b
            .post(Some(&ann.access), "{ viewer { id } }", json!({}))
            .await;
        let left = body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
            .as_u64()
            .unwrap();
        if left <= 10_000 - spent {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "b never learnt of a's spends: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn subscriptions_are_priced_and_paid_for_at_their_start() {
    let app = spawn_app_with(|config| {
        config.graphql.max_cost = 50;
        config.graphql.cost_budget_maximum = 50;
        config.graphql.cost_budget_restore_rate = 1;
    })
    .await;
    let ann = app.register("ann").await;
    let post = app
        .data(
            Some(&ann.access),
            "mutation { createPost(input: { kind: TEXT, body: \"hi\" }) { id } }",
            json!({}),
        )
        .await["createPost"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(None).await;
    // 1 + author 1 + comments (1 + 100 × (1 + 1)): over the limit of 50.
    let costly = "subscription($p: ID!) { postUpdated(postId: $p) { id author { id } \
                  comments(first: 100) { nodes { id author { id } } } } }";
    ws.send(json!({ "id": "1", "type": "subscribe",
                     "payload": { "query": costly, "variables": { "p": post } } }))
        .await;
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "QUERY_TOO_COSTLY"
    );

    // 1 + author 1 + comments (1 + 4) = 7 a start, drawn from the anonymous address's
    // budget for each socket, though identical anonymous subscriptions share one execution.
    let cheap = "subscription($p: ID!) { postUpdated(postId: $p) { id author { id } \
                 comments(first: 4) { nodes { id } } } }";
    let (_, body) = app.post(None, "{ __typename }", json!({})).await;
    let left = body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
        .as_u64()
        .unwrap();
    let paid = left / 7;
    assert!(paid >= 5, "{body}");
    let mut sockets = Vec::new();
    for i in 0..paid {
        let mut socket = app.ws("graphql-transport-ws").await;
        socket.init(None).await;
        socket
            .send(json!({ "id": format!("s{i}"), "type": "subscribe",
                          "payload": { "query": cheap, "variables": { "p": post } } }))
            .await;
        sockets.push(socket);
    }
    // 1 + 1 + (1 + 30): what is left (under 7) would take half a minute to pay for it.
    let pricier = "subscription($p: ID!) { postUpdated(postId: $p) { id author { id } \
                   comments(first: 30) { nodes { id } } } }";
    ws.send(json!({ "id": "over", "type": "subscribe",
                     "payload": { "query": pricier, "variables": { "p": post } } }))
        .await;
    let message = ws.next_json().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "over", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "RATE_LIMITED",
        "{message}"
    );

    // The paid ones run: an update reaches every socket.
    app.data(
        Some(&ann.access),
        "mutation($p: ID!) { updatePost(id: $p, input: { body: \"edited\" }) { id } }",
        json!({ "p": post }),
    )
    .await;
    for socket in &mut sockets {
        let next = socket.next_json().await;
        assert_eq!(next["type"], "next", "{next}");
    }
}

#[tokio::test]
async fn an_answer_over_max_response_bytes_is_an_error_instead_of_the_data() {
    let app = spawn_app_with(|config| config.graphql.max_response_bytes = 512).await;

    let (status, body) = app
        .post(
            None,
            "{ categories { id name children { id name } } }",
            json!({}),
        )
        .await;

    assert_eq!(status, 200);
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("512 bytes")
    );
    assert_answers_at_once(&app).await;
}

#[tokio::test]
async fn a_result_over_max_response_bytes_over_websocket_is_an_error_instead() {
    let app = spawn_app_with(|config| config.graphql.max_response_bytes = 512).await;
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(None).await;

    ws.send(json!({ "id": "big", "type": "subscribe",
                     "payload": { "query": "{ categories { id name children { id name } } }" } }))
        .await;

    let message = ws.next_json().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "big");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );
    ws.send(json!({ "id": "small", "type": "subscribe",
                     "payload": { "query": "{ __typename }" } }))
        .await;
    let message = ws.next_json().await;
    assert_eq!(message["type"], "next", "{message}");
}

#[tokio::test]
async fn graphql_answers_are_never_cached() {
    let app = spawn_app().await;
    let ann = app.register("ann").await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                       "variables": { "e": ann.email, "p": ann.password } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn production_turns_off_introspection_graphiql_and_suggestions_unless_switched_on() {
    let app = spawn_app_with(|config| {
        config.environment = agora::config::Environment::Production;
    })
    .await;
    crate::helpers::assert_introspection_and_suggestions_are_off(&app).await;
    let page = app.client.get(&app.address).send().await.unwrap();
    assert_eq!(page.status(), 404);

    let opted_in = spawn_app_with(|config| {
        config.environment = agora::config::Environment::Production;
        config.graphql.introspection = true.into();
        config.graphql.graphiql = true.into();
    })
    .await;
    let data = opted_in
        .data(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    let page = opted_in.client.get(&opted_in.address).send().await.unwrap();
    assert_eq!(page.status(), 200);
}
