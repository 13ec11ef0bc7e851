//! Feed benchmark: seeds a social graph straight through the stores, then drives the feed
//! query over real HTTP at concurrency 1 and 64 and prints throughput, latency percentiles
//! and store round trips per request. It reports figures; it asserts nothing about speed.
//!
//! ```sh
//! cargo bench --bench feed
//! BENCH_USERS=500 BENCH_POSTS=5000 BENCH_FOLLOWS_PER_USER=10 BENCH_SECONDS=2 cargo bench --bench feed
//! BENCH_MONGODB_URI=mongodb://localhost:27017 cargo bench --bench feed
//! ```
//!
//! The load generator shares the machine (and the tokio runtime) with the server, so the
//! figures are a lower bound of what the server alone could do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agora::app::{App, Core};
use agora::config::Config;
use agora::domain::{
    Amount, Attribute, CategoryId, Comment, CommentId, Currency, DisplayName, Email, Listing,
    ListingStatus, Money, NewPassword, Post, PostCounts, PostId, PostKind, ReactionKind, Role,
    User, UserId, Username,
};
use agora::service::{ClientOrigin, RegisterCommand};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// The query of `tests/api/round_trips.rs`.
const FEED: &str = "query($n: Int) { feed(first: $n) { edges { node { id body
    author { username followersCount viewerFollows }
    listing { price { amount currency } category { name } }
    reactionCounts { kind count } viewerReaction commentsCount
    comments(first: 3) { edges { node { body author { username } } } } } } } }";

const PAGE_SIZE: i64 = 20;
const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-0123456789";
/// A well-formed PHC string nobody can log in with: seeding must not pay argon2 per user.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
/// How many store writes are in flight while seeding. SQLite serialises them on its one
/// writer anyway; this keeps the writer busy while the blocking pool hands calls over.
const SEED_CONCURRENCY: usize = 32;
/// The most prolific users: half of all posts come from them, and the viewer follows some.
const ACTIVE_AUTHORS: usize = 1000;
const VIEWER_FOLLOWS: usize = 50;
/// The newest posts that get comments and reactions.
const ENGAGED_POSTS: usize = 5000;

struct Settings {
    users: usize,
    posts: usize,
    follows_per_user: usize,
    seconds: u64,
    mongodb_uri: Option<String>,
}

impl Settings {
    fn from_env() -> Self {
        fn number(name: &str, default: u64) -> u64 {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name} must be a whole number, got {v:?}")),
                Err(_) => default,
            }
        }
        Self {
            users: number("BENCH_USERS", 10_000).max(2) as usize,
            posts: number("BENCH_POSTS", 100_000) as usize,
            follows_per_user: number("BENCH_FOLLOWS_PER_USER", 50) as usize,
            seconds: number("BENCH_SECONDS", 10).max(1),
            mongodb_uri: std::env::var("BENCH_MONGODB_URI")
                .ok()
                .filter(|u| !u.is_empty()),
        }
    }
}

/// xorshift64*: deterministic, dependency-free, good enough to spread a graph.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).expect("in range")
}

/// Runs `job(i)` for every `i` in `0..n`, `SEED_CONCURRENCY` at a time.
async fn concurrently<F, Fut>(n: usize, job: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    futures_util::stream::iter(0..n)
        .for_each_concurrent(SEED_CONCURRENCY, job)
        .await;
}

/// The same allocator as the server binary (`src/main.rs`), so the in-process server is
/// measured as it runs in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("agora=warn")
        .try_init();
    let settings = Settings::from_env();

    // `BENCH_DATA_DIR` keeps the seeded SQLite store, so the release binary can be measured
    // against it with an external load generator (see the README).
    let temp_dir = tempfile::tempdir().expect("a temp dir");
    let data_dir = std::env::var_os("BENCH_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp_dir.path().to_owned());
    let mut config = Config::default();
    config.http.bind = "127.0.0.1:0".parse().unwrap();
    config.store.data_dir = data_dir.clone();
    config.auth.jwt_secret = Some(JWT_SECRET.into());
    // Seeding a large store can take longer than the default 15 minutes.
    config.auth.access_token_ttl_secs = 6 * 3600;
    config.rate_limits.enabled = false;
    let mongo_database = settings.mongodb_uri.as_ref().map(|uri| {
        let database = format!("agora_bench_{}", uuid::Uuid::now_v7().simple());
        config.store.mongodb_uri = Some(uri.clone());
        config.store.mongodb_database = database.clone();
        database
    });
    let backend = if mongo_database.is_some() {
        "mongodb"
    } else {
        "sqlite"
    };
    println!(
        "feed bench on {backend}: {} users, {} posts, {} follows per user, {} s per run",
        settings.users, settings.posts, settings.follows_per_user, settings.seconds
    );

    let app = App::build(config).await.expect("the app starts");
    let port = app.port();
    let core = app.core().clone();

    let seeding = Instant::now();
    let users = seed(&core, &settings).await;
    let seed_time = seeding.elapsed();
    println!("seeded in {:.1} s", seed_time.as_secs_f64());

    let token = viewer_token(&core, &users).await;

    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stop.await;
    }));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .expect("an HTTP client");
    let target = Arc::new(Target {
        client,
        url: format!("http://127.0.0.1:{port}/graphql"),
        token,
        body: serde_json::to_vec(&json!({ "query": FEED, "variables": { "n": PAGE_SIZE } }))
            .unwrap(),
    });

    warm_up(&target).await;
    let trips = round_trips(&core, &target).await;

    let duration = Duration::from_secs(settings.seconds);
    let mut runs = Vec::new();
    for concurrency in [1usize, 64] {
        let before = core.stores.round_trips.count();
        let run = drive(&target, concurrency, duration).await;
        let trips_during = core.stores.round_trips.count() - before;
        run.print(trips_during);
        runs.push(run);
    }

    println!();
    println!("== summary ({backend}) ==");
    println!(
        "data: {} users, {} posts, {} follows/user; seeding {:.1} s",
        settings.users,
        settings.posts,
        settings.follows_per_user,
        seed_time.as_secs_f64()
    );
    println!(
        "round trips per feed request (first: {PAGE_SIZE}): {} over HTTP (authentication included), {} in GraphQL execution",
        trips.http, trips.graphql
    );
    println!(
        "{:>5} | {:>8} | {:>6} | {:>9} | {:>7} | {:>7} | {:>7} | {:>7}",
        "conc", "requests", "failed", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for run in &runs {
        println!(
            "{:>5} | {:>8} | {:>6} | {:>9.0} | {:>7.2} | {:>7.2} | {:>7.2} | {:>7.2}",
            run.concurrency,
            run.latencies.len(),
            run.failures,
            run.rate(),
            run.percentile(50.0),
            run.percentile(90.0),
            run.percentile(99.0),
            run.percentile(100.0),
        );
    }
    println!(
        "targets: >= 3000 req/s at concurrency 64, p50 <= 2 ms at concurrency 1 (not asserted)"
    );

    let _ = shutdown.send(());
    let _ = server.await;
    if let (Some(uri), Some(database)) = (&settings.mongodb_uri, &mongo_database)
        && let Ok(client) = mongodb::Client::with_uri_str(uri).await
    {
        let _ = client.database(database).drop().await;
    }
}

/// Users, follows, posts, comments and reactions, written straight to the stores. Returns
/// the users' ids in creation order (the first `ACTIVE_AUTHORS` are the busiest sellers).
async fn seed(core: &Core, settings: &Settings) -> Vec<UserId> {
    let stores = &core.stores;
    let now = millis(Utc::now());

    let phase = Instant::now();
    let users: Vec<User> = (0..settings.users)
        .map(|i| {
            let created_at =
                now - chrono::Duration::days(120) + chrono::Duration::seconds(i as i64);
            let seller = i < ACTIVE_AUTHORS;
            User {
                id: UserId::generate(),
                email: Email::from_trusted(format!("user{i}@bench.example.com")),
                username: Username::from_trusted(format!("user{i}")),
                display_name: format!("User {i}"),
                bio: None,
                avatar_url: None,
                phone: None,
                roles: if seller {
                    vec![Role::Buyer, Role::Seller]
                } else {
                    vec![Role::Buyer]
                },
                active: true,
                email_verified: seller,
                created_at,
                updated_at: created_at,
                followers_count: 0,
                following_count: 0,
            }
        })
        .collect();
    concurrently(users.len(), |i| {
        let user = &users[i];
        async move {
            stores
                .users
                .create_user(user, DUMMY_HASH)
                .await
                .expect("a user is created");
        }
    })
    .await;
    let ids: Vec<UserId> = users.into_iter().map(|u| u.id).collect();
    println!(
        "  users:     {:>7} in {:>6.1} s",
        ids.len(),
        phase.elapsed().as_secs_f64()
    );

    let phase = Instant::now();
    let created = AtomicU64::new(0);
    let follow_at = now - chrono::Duration::days(60);
    concurrently(ids.len(), |i| {
        let ids = &ids;
        let created = &created;
        async move {
            let mut rng = Rng::new(i as u64 + 1);
            for _ in 0..settings.follows_per_user {
                // Half the follows go to the active authors, as on any social network.
                let target = if rng.next().is_multiple_of(2) {
                    rng.below(ACTIVE_AUTHORS.min(ids.len()))
                } else {
                    rng.below(ids.len())
                };
                if target == i {
                    continue;
                }
                if stores
                    .social
                    .follow(&ids[i], &ids[target], follow_at)
                    .await
                    .expect("a follow is stored")
                {
                    created.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
    .await;
    println!(
        "  follows:   {:>7} in {:>6.1} s",
        created.load(Ordering::Relaxed),
        phase.elapsed().as_secs_f64()
    );

    let phase = Instant::now();
    let kzt = Currency::parse("currency", "KZT").unwrap();
    let span_ms = 90 * 24 * 3600 * 1000_i64;
    let step_ms = (span_ms / settings.posts.max(1) as i64).max(1);
    let post_ids: Vec<(PostId, usize)> = (0..settings.posts)
        .map(|i| {
            let mut rng = Rng::new(0xF00D + i as u64);
            let author = if rng.next().is_multiple_of(2) {
                rng.below(ACTIVE_AUTHORS.min(ids.len()))
            } else {
                rng.below(ids.len())
            };
            (PostId::generate(), author)
        })
        .collect();
    concurrently(settings.posts, |i| {
        let (id, author) = &post_ids[i];
        let author_id = ids[*author].clone();
        let id = id.clone();
        async move {
            // Oldest first, so post i+1 is newer than post i; the newest is a minute old.
            let created_at = now
                - chrono::Duration::milliseconds(60_000 + step_ms * (settings.posts - i) as i64);
            let post = if i % 3 == 0 {
                Post {
                    id,
                    author_id,
                    kind: PostKind::Listing,
                    title: Some(format!("Phone {i}")),
                    body: format!("Selling phone {i}, barely used #sale #phones"),
                    media: vec![format!("https://cdn.example.com/p/{i}.jpg")],
                    tags: vec!["sale".into(), "phones".into()],
                    mentions: vec![],
                    listing: Some(Listing {
                        price: Money {
                            amount: Amount::parse(
                                "price",
                                &format!("{}.50", 1000 + i % 90_000),
                                kzt,
                            )
                            .unwrap(),
                            currency: kzt,
                        },
                        stock: 1 + (i % 10) as i64,
                        status: ListingStatus::Active,
                        category_id: Some(CategoryId::from_trusted("phones".into())),
                        attributes: vec![Attribute {
                            key: "Brand".into(),
                            value: ["Apple", "Samsung", "Xiaomi"][i % 3].into(),
                        }],
                    }),
                    counts: PostCounts::default(),
                    created_at,
                    edited_at: None,
                    deleted_at: None,
                }
            } else {
                let tag = format!("topic{}", i % 40);
                Post {
                    id,
                    author_id,
                    kind: PostKind::Text,
                    title: None,
                    body: format!("Post number {i} about #{tag} and #news"),
                    media: vec![],
                    tags: vec![tag, "news".into()],
                    mentions: vec![],
                    listing: None,
                    counts: PostCounts::default(),
                    created_at,
                    edited_at: None,
                    deleted_at: None,
                }
            };
            stores
                .posts
                .create_post(&post)
                .await
                .expect("a post is created");
        }
    })
    .await;
    println!(
        "  posts:     {:>7} in {:>6.1} s",
        settings.posts,
        phase.elapsed().as_secs_f64()
    );

    let phase = Instant::now();
    let engaged = ENGAGED_POSTS.min(post_ids.len());
    let first_engaged = post_ids.len() - engaged;
    let comments = AtomicU64::new(0);
    let reactions = AtomicU64::new(0);
    concurrently(engaged, |k| {
        let i = first_engaged + k;
        let post_id = post_ids[i].0.clone();
        let ids = &ids;
        let (comments, reactions) = (&comments, &reactions);
        async move {
            let mut rng = Rng::new(0xBEEF + i as u64);
            let at = now - chrono::Duration::seconds(30);
            for c in 0..rng.below(5) {
                let comment = Comment {
                    id: CommentId::generate(),
                    post_id: post_id.clone(),
                    author_id: ids[rng.below(ids.len())].clone(),
                    parent_id: None,
                    body: format!("Nice one! ({c})"),
                    replies_count: 0,
                    created_at: at + chrono::Duration::milliseconds(c as i64),
                    deleted_at: None,
                };
                stores
                    .engagement
                    .add_comment(&comment)
                    .await
                    .expect("a comment is stored");
                comments.fetch_add(1, Ordering::Relaxed);
            }
            for _ in 0..rng.below(8) {
                let kind = ReactionKind::ALL[rng.below(ReactionKind::ALL.len())];
                stores
                    .engagement
                    .react(&post_id, &ids[rng.below(ids.len())], kind, at)
                    .await
                    .expect("a reaction is stored");
                reactions.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
    .await;
    println!(
        "  engagement: {} comments, {} reactions on the newest {engaged} posts in {:.1} s",
        comments.load(Ordering::Relaxed),
        reactions.load(Ordering::Relaxed),
        phase.elapsed().as_secs_f64()
    );
    ids
}

/// Registers the viewer through the accounts service (one real argon2 hash), makes it
/// follow `VIEWER_FOLLOWS` active authors, and returns its access token.
async fn viewer_token(core: &Core, users: &[UserId]) -> String {
    let session = core
        .services
        .sessions
        .register(
            RegisterCommand {
                email: Email::parse("viewer@bench.example.com").unwrap(),
                password: NewPassword::parse("password", "viewer-secret-pw").unwrap(),
                username: Username::parse("viewer").unwrap(),
                display_name: DisplayName::parse("Viewer").unwrap(),
                role: Role::Buyer,
            },
            &ClientOrigin::default(),
        )
        .await
        .expect("the viewer registers");
    let viewer = session.user.id.clone();
    let active = ACTIVE_AUTHORS.min(users.len());
    let step = (active / VIEWER_FOLLOWS).max(1);
    let now = millis(Utc::now());
    let mut followed = 0;
    for author in users[..active].iter().step_by(step).take(VIEWER_FOLLOWS) {
        if core
            .stores
            .social
            .follow(&viewer, author, now)
            .await
            .expect("the viewer follows")
        {
            followed += 1;
        }
    }
    // The viewer reacted to some of what it sees, so `viewerReaction` is not always null.
    let page = core
        .stores
        .posts
        .feed(
            &users[..active]
                .iter()
                .step_by(step)
                .take(VIEWER_FOLLOWS)
                .cloned()
                .collect::<Vec<_>>(),
            &[],
            &agora::store::PageRequest {
                after: None,
                limit: 40,
            },
        )
        .await
        .expect("the feed reads");
    for post in page.items.iter().step_by(3) {
        core.stores
            .engagement
            .react(&post.id, &viewer, ReactionKind::Love, now)
            .await
            .expect("the viewer reacts");
    }
    println!("viewer follows {followed} active authors");
    session.access_token
}

struct Target {
    client: reqwest::Client,
    url: String,
    token: String,
    body: Vec<u8>,
}

impl Target {
    async fn send(&self) -> Result<impl AsRef<[u8]> + use<>, String> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("status {status}"));
        }
        Ok(body)
    }

    /// One request that must succeed; true when the body carries no `errors`. Only looks
    /// for the key: parsing every body would load the shared CPU with client work.
    async fn ok(&self) -> bool {
        match self.send().await {
            Ok(body) => !body.as_ref().windows(9).any(|w| w == b"\"errors\":"),
            Err(_) => false,
        }
    }
}

async fn warm_up(target: &Target) {
    // The first answer is parsed in full: the page must be full for the figures to mean
    // anything.
    let body = target.send().await.expect("the feed answers");
    let value: Value = serde_json::from_slice(body.as_ref()).expect("a JSON body");
    assert!(value.get("errors").is_none(), "feed errors: {value}");
    let edges = value["data"]["feed"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    println!("warm-up: the feed answers {edges} posts per page");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        target.ok().await;
    }
}

struct RoundTripCount {
    http: u64,
    graphql: u64,
}

/// Round trips of one feed request, with nothing else running: over HTTP (the viewer's
/// authentication included) and inside GraphQL execution only (as the round-trip test
/// measures it).
async fn round_trips(core: &Core, target: &Target) -> RoundTripCount {
    let before = core.stores.round_trips.count();
    assert!(target.ok().await, "the feed request fails");
    let http = core.stores.round_trips.count() - before;

    let viewer = core
        .services
        .sessions
        .authenticate(&target.token)
        .await
        .expect("the token authenticates");
    let request = agora::graphql::prepare_request(
        async_graphql::Request::new(FEED).variables(async_graphql::Variables::from_json(
            json!({ "n": PAGE_SIZE }),
        )),
        &core.services,
        Some(viewer),
        agora::graphql::RequestId("bench-round-trips".into()),
        ClientOrigin::default(),
    );
    // Inside a spawned task, as the server runs it: the loaders' batching relies on tokio
    // deferring a task's self-wake, which `main`'s `block_on` does not do.
    let (schema, trips) = (core.schema.clone(), core.stores.round_trips.clone());
    let (graphql, response) = tokio::spawn(async move {
        let before = trips.count();
        let response = schema.execute(request).await;
        (trips.count() - before, response)
    })
    .await
    .expect("the feed executes");
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    RoundTripCount { http, graphql }
}

struct Run {
    concurrency: usize,
    elapsed: Duration,
    /// Sorted, in milliseconds.
    latencies: Vec<f64>,
    failures: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`th percentile by nearest rank over the sorted samples; `100` is the maximum.
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn print(&self, round_trips: u64) {
        println!(
            "concurrency {:>2}: {} requests ({} failed) in {:.1} s = {:.0} req/s; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.2} store round trips/request",
            self.concurrency,
            self.latencies.len(),
            self.failures,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.percentile(100.0),
            round_trips as f64 / self.latencies.len().max(1) as f64,
        );
    }
}

/// `concurrency` tasks each loop on the feed request until `duration` has passed; every
/// completed request counts, failed ones are counted apart and not sampled.
async fn drive(target: &Arc<Target>, concurrency: usize, duration: Duration) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(16 * 1024);
                let mut failures = 0u64;
                loop {
                    let sent = Instant::now();
                    if sent >= deadline {
                        break;
                    }
                    if target.ok().await {
                        samples.push(sent.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        failures += 1;
                    }
                }
                (samples, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (samples, failed) = worker.await.expect("a load task");
        latencies.extend(samples);
        failures += failed;
    }
    let elapsed = started.elapsed();
    latencies.sort_by(f64::total_cmp);
    Run {
        concurrency,
        elapsed,
        latencies,
        failures,
    }
}
