//! Subscription fan-out benchmark: N anonymous subscribers on one stream (`postUpdated` of one
//! post), one event, then a sustained stream of events. Prints delivery latency (from sending
//! the mutation to each subscriber receiving the update) p50/p99/max, loss, deliveries per
//! second and the server's RSS per idle subscription. It reports figures; it asserts nothing.
//!
//! ```sh
//! cargo bench --bench subscriptions
//! BENCH_SUBSCRIBERS=1000,10000 BENCH_EVENTS=20 BENCH_EVENT_INTERVAL_MS=100 cargo bench --bench subscriptions
//! ```
//!
//! Before each size it measures the machine's floor for the same fan-out: plain TCP on
//! loopback, one 100-byte message written to each of N connections by two threads (one per
//! core, as the server's runtime has) and read by one, with no WebSocket, no GraphQL and no
//! async runtime. Over loopback the kernel runs both ends of every message (the sender's
//! `write` also runs the receiver's TCP input, the reader's ACK runs the sender's), so that
//! floor bounds what any server can reach on this machine. After each run it prints the CPU
//! time per delivery of the server process and of the client process.
//!
//! The server runs in a child process (this binary again, with `BENCH_ROLE=server`) so its
//! RSS is its own and each process needs only N file descriptors: 10k subscribers need
//! `ulimit -n` above 10 100 (20 000 here). The clients run on one tokio worker thread, so the
//! server keeps most of the second core; on this 2-core machine they still compete for it.

use std::io::Write;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

mod common;

use common::{cpu_time, rss_kib, server, spawn_role, stop};

const SUBSCRIPTION: &str = "subscription($p: ID!) { postUpdated(postId: $p) { id body } }";
/// The server binary's allocator (see `src/main.rs`), so the server child's RSS per
/// subscription is what production would show.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Connections being opened at once (the listen backlog is 1024).
const CONNECT_CONCURRENCY: usize = 256;

fn main() {
    match std::env::var("BENCH_ROLE").as_deref() {
        Ok("server") => server(),
        Ok("floor") => floor_writer(),
        _ => client(),
    }
}

fn client() {
    let subscriber_counts: Vec<usize> = std::env::var("BENCH_SUBSCRIBERS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let interval = Duration::from_millis(
        std::env::var("BENCH_EVENT_INTERVAL_MS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(100),
    );

    // Every subscriber is anonymous and on 127.0.0.1: raise the per-address cap of anonymous
    // sockets (64 by default) above the largest run.
    let most = subscriber_counts.iter().copied().max().unwrap_or(0);
    let (child, port) = spawn_role(
        "server",
        &[(
            "APP__WEBSOCKET__MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS",
            (most + 100).to_string(),
        )],
    );

    // One worker thread for all the clients, so the server keeps most of the other core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(&child, port, &subscriber_counts, events, interval));
    stop(child);
}

async fn graphql(
    http: &reqwest::Client,
    port: u16,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let body = common::post(http, port, token, query, variables).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

async fn run(child: &Child, port: u16, counts: &[usize], events: usize, interval: Duration) {
    let http = reqwest::Client::new();
    let registered = graphql(
        &http,
        port,
        None,
        "mutation { register(input: { email: \"bench@example.com\", password: \"bench-password-1\", username: \"bench\", displayName: \"Bench\" }) { accessToken } }",
        json!({}),
    )
    .await;
    let token = registered["register"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = graphql(
        &http,
        port,
        Some(&token),
        "mutation { createPost(input: { body: \"start\" }) { id } }",
        json!({}),
    )
    .await["createPost"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let publisher = Publisher {
        http,
        port,
        token,
        post,
    };
    let mut next_event = 0usize;
    // Let the server settle before its baseline RSS: registering hashed a password (19 MiB
    // for argon2id) on a blocking-pool thread, whose memory goes back when that idle thread
    // exits after tokio's 10 s keep-alive.
    tokio::time::sleep(Duration::from_secs(11)).await;

    println!(
        "subscriptions bench: postUpdated on one post, anonymous subscribers, {events} sustained events every {} ms",
        interval.as_millis()
    );
    for &n in counts {
        let floor = loopback_floor(n);
        let rss_before = rss_kib(child.id());
        let (stop_tx, stop_rx) = watch::channel(false);
        let connected = Instant::now();
        let clients = connect_all(port, &publisher.post, n, stop_rx).await;
        let connect_time = connected.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_after = rss_kib(child.id());
        let per_sub = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;

        // One event.
        let cpu_before = (cpu_time(child.id()), cpu_time(std::process::id()));
        let single = next_event;
        let mut sent = vec![(single, publisher.publish(single).await)];
        next_event += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
        // A sustained stream.
        let sustained_from = next_event;
        let started = Instant::now();
        for _ in 0..events {
            let at = publisher.publish(next_event).await;
            sent.push((next_event, at));
            next_event += 1;
            tokio::time::sleep(interval.saturating_sub(at.elapsed())).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cpu_used = (
            cpu_time(child.id()) - cpu_before.0,
            cpu_time(std::process::id()) - cpu_before.1,
        );
        let _ = stop_tx.send(true);
        let mut receipts = Vec::with_capacity(n);
        for client in clients {
            receipts.push(client.await.unwrap_or_default());
        }

        let latencies = |events: std::ops::Range<usize>| {
            let mut all = Vec::new();
            let mut last = started;
            for receipt in &receipts {
                for (event, at) in receipt {
                    if events.contains(event) {
                        let sent_at = sent.iter().find(|(e, _)| e == event).unwrap().1;
                        all.push(at.duration_since(sent_at));
                        last = last.max(*at);
                    }
                }
            }
            all.sort();
            (all, last)
        };
        let (single_lat, _) = latencies(single..single + 1);
        let (sustained_lat, last) = latencies(sustained_from..next_event);
        let expected_sustained = n * events;
        println!(
            "\n{n} subscribers (connected in {:.1} s)",
            connect_time.as_secs_f64()
        );
        println!(
            "  server RSS: {rss_before} KiB before, {rss_after} KiB with {n} idle subscriptions: {per_sub:.1} KiB per subscription"
        );
        println!(
            "  loopback TCP floor (no WebSocket, no runtime): last of {n} messages read after {}",
            floor
                .iter()
                .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        report("single event", &single_lat, n);
        report("sustained", &sustained_lat, expected_sustained);
        println!(
            "  sustained deliveries/s: {:.0}",
            sustained_lat.len() as f64 / last.duration_since(started).as_secs_f64().max(1e-9)
        );
        let deliveries = (single_lat.len() + sustained_lat.len()).max(1) as f64;
        println!(
            "  CPU per delivery (all the process did from the first event on): server {:.1} µs, bench client {:.1} µs",
            cpu_used.0.as_secs_f64() * 1e6 / deliveries,
            cpu_used.1.as_secs_f64() * 1e6 / deliveries,
        );
    }
}

fn report(name: &str, sorted: &[Duration], expected: usize) {
    let pick = |q: f64| {
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "  {name}: {} of {expected} delivered (loss {}), latency min {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sorted.len(),
        expected - sorted.len().min(expected),
        sorted
            .first()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        pick(0.5),
        pick(0.99),
        sorted.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
    );
}

struct Publisher {
    http: reqwest::Client,
    port: u16,
    token: String,
    post: String,
}

impl Publisher {
    /// Edits the post to body `e{n}`; returns when the mutation was sent.
    async fn publish(&self, n: usize) -> Instant {
        let at = Instant::now();
        graphql(
            &self.http,
            self.port,
            Some(&self.token),
            "mutation($id: ID!, $b: String!) { updatePost(id: $id, input: { body: $b }) { id } }",
            json!({ "id": self.post, "b": format!("e{n}") }),
        )
        .await;
        at
    }
}

/// Connects `n` subscribers, each subscribed and confirmed listening, and returns their tasks;
/// each collects (event number, receive time) until `stop`.
async fn connect_all(
    port: u16,
    post: &str,
    n: usize,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<Vec<(usize, Instant)>>> {
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let subscribe = Arc::<str>::from(
        json!({ "id": "s", "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": { "p": post } } })
            .to_string(),
    );
    let mut clients = Vec::with_capacity(n);
    let mut ready = Vec::with_capacity(n);
    for _ in 0..n {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (gate, subscribe, mut stop) = (gate.clone(), subscribe.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let mut request = format!("ws://127.0.0.1:{port}/graphql/ws")
                .into_client_request()
                .unwrap();
            request.headers_mut().insert(
                "sec-websocket-protocol",
                "graphql-transport-ws".parse().unwrap(),
            );
            let config = WebSocketConfig::default()
                .read_buffer_size(4096)
                .write_buffer_size(0);
            let (mut ws, _) =
                tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                    .await
                    .expect("connects");
            ws.send(Message::Text(r#"{"type":"connection_init"}"#.into()))
                .await
                .unwrap();
            ws.next().await.unwrap().unwrap();
            ws.send(Message::Text(subscribe.as_ref().into()))
                .await
                .unwrap();
            // Answered after the subscription started (operations start in order).
            ws.send(Message::Text(
                r#"{"id":"r","type":"subscribe","payload":{"query":"{ categories { id } }"}}"#
                    .into(),
            ))
            .await
            .unwrap();
            ws.next().await.unwrap().unwrap();
            ws.next().await.unwrap().unwrap();
            drop(permit);
            let _ = ready_tx.send(());
            let mut receipts = Vec::new();
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            if let Some(event) = event_number(text.as_str()) {
                                receipts.push((event, Instant::now()));
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            receipts
        }));
        ready.push(ready_rx);
    }
    for r in ready {
        r.await.expect("a subscriber is ready");
    }
    clients
}

/// The `n` of a `"body":"e{n}"` update, found without parsing the JSON.
fn event_number(text: &str) -> Option<usize> {
    let start = text.find(r#""body":"e"#)? + r#""body":"e"#.len();
    let digits = &text[start..];
    let end = digits.find('"')?;
    digits[..end].parse().ok()
}

/// Size of the floor's message, about a `next` message of this bench's subscription.
const FLOOR_MESSAGE_BYTES: usize = 100;
/// Rounds of the floor measurement per size.
const FLOOR_ROUNDS: usize = 3;

/// The loopback floor for `n` subscribers: a child process (so each process holds only `n`
/// sockets) accepts `n` plain TCP connections from this one and, on each line it reads from
/// stdin, writes one message to every connection from two threads. Returns, per round, when
/// the last message was read here (blocking reads, in connection order).
fn loopback_floor(n: usize) -> Vec<Duration> {
    use std::io::Read;
    let (mut child, port) = spawn_role("floor", &[("BENCH_FLOOR_CONNECTIONS", n.to_string())]);
    let mut connections: Vec<std::net::TcpStream> = (0..n)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects"))
        .collect();
    let mut go = child.stdin.take().unwrap();
    let mut rounds = Vec::with_capacity(FLOOR_ROUNDS);
    let mut buffer = [0u8; FLOOR_MESSAGE_BYTES];
    for _ in 0..FLOOR_ROUNDS {
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        go.write_all(b"go\n").and_then(|()| go.flush()).unwrap();
        for connection in &mut connections {
            connection.read_exact(&mut buffer).expect("a floor message");
        }
        rounds.push(started.elapsed());
    }
    drop(go);
    let _ = child.wait();
    rounds
}

/// The floor's writer (see [`loopback_floor`]).
fn floor_writer() {
    let n: usize = std::env::var("BENCH_FLOOR_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .expect("BENCH_FLOOR_CONNECTIONS");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    println!("port {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let mut connections: Vec<std::net::TcpStream> = (0..n)
        .map(|_| {
            let (connection, _) = listener.accept().expect("accepts");
            connection.set_nodelay(true).unwrap();
            connection
        })
        .collect();
    let message = [b'x'; FLOOR_MESSAGE_BYTES];
    let half = n.div_ceil(2).max(1);
    for _ in std::io::stdin().lines().map_while(Result::ok) {
        std::thread::scope(|scope| {
            for part in connections.chunks_mut(half) {
                scope.spawn(move || {
                    for connection in part {
                        connection.write_all(&message).expect("writes");
                    }
                });
            }
        });
    }
}
