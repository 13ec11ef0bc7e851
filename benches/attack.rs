//! Hostile-query benchmark: the audit's fan-out document (five levels of
//! `followers(first: 20)` over 20 users who all follow each other) and its 31 aliased
//! `__schema` selections, each sent 100 times to a server child. Prints the server's CPU time
//! per refusal, the wall time per refusal, the server's RSS before and after, and how long a
//! `{ __typename }` takes right after. It reports figures; it asserts nothing.
//!
//! ```sh
//! cargo bench --bench attack
//! BENCH_REPEATS=1000 cargo bench --bench attack
//! ```
//!
//! Before the cost model the fan-out document answered 138 MB after 13–17 s with the server
//! near 2 GB; the targets now are under 1 ms of server CPU per refusal and the RSS within 10 %.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{cpu_time, post, rss_kib, server, spawn_role, stop};

/// Accounts in the follow ring: every one follows every other.
const RING: usize = 20;

fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("server") {
        return server();
    }
    let repeats: usize = std::env::var("BENCH_REPEATS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let (child, port) = spawn_role("server", &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let target = seed_ring(&http, port).await;
        let attacks = [
            (
                "fan-out, 5 × followers(first: 20)",
                include_str!("../tests/fixtures/fan-out.attack.graphql"),
                json!({ "u": target }),
            ),
            (
                "31 aliased __schema selections",
                include_str!("../tests/fixtures/aliased-schema.attack.graphql"),
                json!({}),
            ),
        ];
        for (name, document, variables) in &attacks {
            measure(&http, port, child.id(), name, document, variables, repeats).await;
        }
    });
    stop(child);
}

/// Registers the ring and makes everyone follow everyone; returns the first user's id.
async fn seed_ring(http: &reqwest::Client, port: u16) -> String {
    let mut users = Vec::new();
    for i in 0..RING {
        let body = post(
            http,
            port,
            None,
            "mutation($e: String!, $u: String!) { register(input: { email: $e, \
             password: \"a long attack-bench password\", username: $u, displayName: $u }) \
             { accessToken user { id } } }",
            json!({ "e": format!("ring{i}@bench.example.com"), "u": format!("ring{i}") }),
        )
        .await;
        let auth = &body["data"]["register"];
        assert!(auth.is_object(), "registration failed: {body}");
        users.push((
            auth["user"]["id"].as_str().unwrap().to_owned(),
            auth["accessToken"].as_str().unwrap().to_owned(),
        ));
    }
    for (_, token) in &users {
        for (followed, _) in &users {
            post(
                http,
                port,
                Some(token),
                "mutation($u: ID!) { follow(userId: $u) { id } }",
                json!({ "u": followed }),
            )
            .await;
        }
    }
    users[0].0.clone()
}

async fn measure(
    http: &reqwest::Client,
    port: u16,
    pid: u32,
    name: &str,
    document: &str,
    variables: &Value,
    repeats: usize,
) {
    // Warm: connections, the document cache, the allocator's first pages.
    for _ in 0..5 {
        post(http, port, None, document, variables.clone()).await;
    }
    let rss_before = rss_kib(pid);
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    let mut bytes = 0;
    for _ in 0..repeats {
        let body = post(http, port, None, document, variables.clone()).await;
        bytes += body.to_string().len();
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("(answered)")
            .to_owned();
        *codes.entry(code).or_default() += 1;
    }
    let wall = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    let rss_after = rss_kib(pid);
    let simple = Instant::now();
    post(http, port, None, "{ __typename }", json!({})).await;
    let simple = simple.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / repeats as f64;
    println!("{name}: {} bytes of document", document.len());
    println!(
        "  answers: {codes:?}, {} bytes each",
        bytes / repeats.max(1)
    );
    println!(
        "  server CPU per refusal: {:.0} µs; wall per request: {:.0} µs ({repeats} requests)",
        per(cpu),
        per(wall)
    );
    println!(
        "  server RSS: {rss_before} KiB before, {rss_after} KiB after ({:+.1} %)",
        (rss_after as f64 - rss_before as f64) * 100.0 / rss_before.max(1) as f64
    );
    println!(
        "  {{ __typename }} right after: {:.2} ms",
        simple.as_secs_f64() * 1e3
    );
}
