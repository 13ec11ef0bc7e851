//! Connection hygiene: slow and idle clients are cut off, an instance serves a bounded number
//! of connections, one address holds a bounded number of anonymous WebSockets, and after each
//! attack the server still answers at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, WsEvent, spawn_app, spawn_app_with};

const TRANSPORT_WS: &str = "graphql-transport-ws";
const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: agora\r\n\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connects")
}

/// Reads until the server closes the connection (an end of stream, or a reset when it closed
/// with our bytes unread), at most `bound`; returns what was read and how long it took.
async fn read_until_closed(
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    bound: Duration,
) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout_at((started + bound).into(), stream.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("the connection is still open after {bound:?}"));
        match read {
            Ok(0) | Err(_) => return (received, started.elapsed()),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Asks `/health` on a keep-alive connection and reads the answer.
async fn ask_health(stream: &mut TcpStream) {
    stream.write_all(HEALTH).await.unwrap();
    read_health_answer(stream).await;
}

/// Reads one `/health` answer off a keep-alive connection.
async fn read_health_answer(stream: &mut TcpStream) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains(r#"{"status":"ok"}"#) {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "closed before answering: {}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
}

async fn answers_at_once(app: &TestApp) {
    let started = Instant::now();
    let data = app.data(None, "{ __typename }", json!({})).await;
    assert_eq!(data["__typename"], "Query");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_trickling_header_lines_and_a_silent_one_are_cut_off_by_the_header_timeout() {
    let app = spawn_app().await;
    let limit = Duration::from_secs(app.core.config.http.header_read_timeout_secs);

    // The issue's slowloris: one header line every 3 s, forever.
    let (mut trickle_read, mut trickle_write) = connect(&app).await.into_split();
    let lines = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn({
        let lines = lines.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_secs(3));
            let mut line: &[u8] = b"GET /health HTTP/1.1\r\n";
            loop {
                every.tick().await;
                if trickle_write.write_all(line).await.is_err() {
                    return;
                }
                lines.fetch_add(1, Ordering::Relaxed);
                line = b"X-Slow: 1\r\n";
            }
        }
    });
    // And a connection that never sends a byte.
    let (mut silent_read, _silent_write) = connect(&app).await.into_split();

    let bound = limit + Duration::from_secs(3);
    let ((trickled, trickle_open), (silence, silent_open)) = tokio::join!(
        read_until_closed(&mut trickle_read, bound),
        read_until_closed(&mut silent_read, bound),
    );
    assert!(
        trickled.is_empty() && silence.is_empty(),
        "no answer to either"
    );
    assert!(trickle_open <= bound && silent_open <= bound);
    writer.abort();
    // Trickling did not buy time: the head's clock never restarted.
    assert!(
        lines.load(Ordering::Relaxed) >= 3,
        "it kept sending lines while the server waited"
    );
    assert!(
        trickle_open < limit + Duration::from_secs(2),
        "closed after {trickle_open:?}"
    );
    answers_at_once(&app).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_app_with(|config| config.http.idle_timeout_secs = 2).await;
    let mut stream = connect(&app).await;
    // Kept alive between requests within the timeout…
    ask_health(&mut stream).await;
    ask_health(&mut stream).await;
    // …and closed once idle for it.
    let (mut read, _write) = stream.into_split();
    let (rest, open) = read_until_closed(&mut read, Duration::from_secs(6)).await;
    assert!(rest.is_empty());
    assert!(
        open >= Duration::from_millis(1500),
        "closed after {open:?}, before the idle timeout"
    );
    answers_at_once(&app).await;
}

#[tokio::test]
async fn a_websocket_outlives_the_http_idle_and_header_timeouts() {
    let app = spawn_app_with(|config| {
        config.http.idle_timeout_secs = 1;
        config.http.header_read_timeout_secs = 1;
        // No keep-alive traffic: only the WebSocket's own rules may close it.
        config.websocket.keepalive_secs = 0;
    })
    .await;
    let mut ws = app.ws(TRANSPORT_WS).await;
    ws.init(None).await;
    let quiet = tokio::time::timeout(Duration::from_secs(3), ws.next()).await;
    assert!(quiet.is_err(), "the socket was closed: {quiet:?}");
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ __typename }" } }))
        .await;
    let answer = ws.next_json().await;
    assert_eq!(answer["payload"]["data"]["__typename"], "Query", "{answer}");
}

#[tokio::test]
async fn connections_over_the_instance_cap_wait_unserved_until_a_slot_frees() {
    let app = spawn_app_with(|config| config.http.max_connections = 2).await;
    let mut first = connect(&app).await;
    ask_health(&mut first).await;
    let mut second = connect(&app).await;
    ask_health(&mut second).await;

    // The third connects (the kernel's backlog takes it) but is not served.
    let mut third = connect(&app).await;
    third.write_all(HEALTH).await.unwrap();
    let mut byte = [0u8; 1];
    let unserved = tokio::time::timeout(Duration::from_secs(1), third.read(&mut byte)).await;
    assert!(unserved.is_err(), "served over the cap: {unserved:?}");

    // A slot frees: the waiting connection is taken and answered.
    drop(first);
    read_health_answer(&mut third).await;
    drop((second, third));
    answers_at_once(&app).await;
}

/// Sends `connection_init` without a token and returns the close code, or 0 when acked.
async fn anonymous_init(ws: &mut crate::helpers::WsClient) -> u16 {
    ws.send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    match ws.next().await {
        WsEvent::Json(ack) => {
            assert_eq!(ack["type"], "connection_ack", "{ack}");
            0
        }
        WsEvent::Closed(code, reason) => {
            assert_eq!(reason, "Too many anonymous connections from this address");
            code
        }
    }
}

#[tokio::test]
async fn anonymous_websockets_over_the_per_address_cap_get_4429_and_a_token_still_connects() {
    let app = spawn_app().await;
    let cap = app
        .core
        .config
        .websocket
        .max_anonymous_connections_per_address;
    let lia = app.register("lia").await;

    // Half the cap initialised anonymously, half never initialised: both count.
    let mut held = Vec::new();
    for i in 0..cap {
        let mut ws = app.ws(TRANSPORT_WS).await;
        if i % 2 == 0 {
            assert_eq!(
                anonymous_init(&mut ws).await,
                0,
                "socket {i} is under the cap"
            );
        }
        held.push(ws);
    }
    // The issue's attack went to 3,000 sockets; each one over the cap is closed with 4429.
    for _ in cap..3_000 {
        let mut ws = app.ws(TRANSPORT_WS).await;
        assert_eq!(anonymous_init(&mut ws).await, 4429);
    }
    // The legacy protocol says why before closing.
    let mut legacy = app.ws("graphql-ws").await;
    legacy
        .send(json!({ "type": "connection_init", "payload": {} }))
        .await;
    assert_eq!(legacy.next_json().await["type"], "connection_error");
    assert_eq!(legacy.expect_close().await.0, 4429);

    // A signed-in user on the same address is not anonymous.
    let mut signed_in = app.ws(TRANSPORT_WS).await;
    signed_in.init(Some(&lia.access)).await;
    answers_at_once(&app).await;

    // Closing an anonymous socket frees its slot (the server sees the close frame first).
    drop(held.pop());
    loop {
        let mut ws = app.ws(TRANSPORT_WS).await;
        match anonymous_init(&mut ws).await {
            0 => break,
            code => assert_eq!(code, 4429),
        }
        tokio::task::yield_now().await;
    }
}
