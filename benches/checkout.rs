//! Checkout benchmark: seeds sellers, listings and buyers straight through the stores, then
//! runs the checkout use case (`OrderService::checkout`: cart read, listing read, the one
//! checkout transaction, events) at concurrency 1 and 32 and prints checkouts/s, orders/s and
//! latency percentiles. It reports figures; it asserts nothing about speed.
//!
//! ```sh
//! cargo bench --bench checkout
//! BENCH_SECONDS=10 BENCH_LISTINGS=2000 cargo bench --bench checkout
//! BENCH_MONGODB_URI=mongodb://127.0.0.1:27017/?directConnection=true cargo bench --bench checkout
//! ```
//!
//! Each checkout carts one unit of two listings of two different sellers (so it places two
//! orders); filling the cart is not timed. Every worker has its own buyers, so checkouts
//! contend only on the store (and on listings that happen to be shared). After each checkout
//! its orders are marked paid straight through the store (not timed either, but part of the
//! wall time, like filling the cart): a buyer may hold only a few unpaid orders, and each
//! checkout counts the ones they hold, so buyers who never paid would soon be refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agora::app::{App, Core};
use agora::config::Config;
use agora::domain::{
    Address, AddressId, Amount, CountryCode, Currency, Email, Listing, ListingStatus, Money,
    OrderStatus, Post, PostCounts, PostId, PostKind, Role, SessionId, User, UserId, Username,
};
use agora::service::{CheckoutCommand, Viewer};
use chrono::Utc;

const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-0123456789";
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
const SELLERS: usize = 50;
const BUYERS_PER_WORKER: usize = 4;
const CONCURRENCY: [usize; 2] = [1, 32];

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number"))
        })
        .unwrap_or(default)
}

fn user(i: usize, seller: bool) -> User {
    let now = agora::clock::now();
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
        email_verified: true,
        created_at: now,
        updated_at: now,
        followers_count: 0,
        following_count: 0,
    }
}

struct Buyer {
    viewer: Viewer,
    address: AddressId,
}

/// Sellers with `listings` listings between them (stock large enough never to run out), and
/// `buyers` buyers with an address each.
async fn seed(core: &Core, listings: usize, buyers: usize) -> (Vec<(PostId, UserId)>, Vec<Buyer>) {
    let stores = &core.stores;
    let kzt = Currency::parse("currency", "KZT").expect("KZT is a currency");
    let mut sellers = Vec::new();
    for i in 0..SELLERS {
        let seller = user(i, true);
        stores
            .users
            .create_user(&seller, DUMMY_HASH)
            .await
            .expect("a seller");
        sellers.push(seller.id);
    }
    let mut posts = Vec::new();
    for i in 0..listings {
        let seller = &sellers[i % SELLERS];
        let post = Post {
            id: PostId::generate(),
            author_id: seller.clone(),
            kind: PostKind::Listing,
            title: Some(format!("Item {i}")),
            body: "for sale".into(),
            media: vec![],
            tags: vec![],
            mentions: vec![],
            listing: Some(Listing {
                price: Money {
                    amount: Amount::from_scaled((100 + i as i64) * Amount::SCALE),
                    currency: kzt,
                },
                stock: 1_000_000,
                status: ListingStatus::Active,
                category_id: None,
                attributes: vec![],
            }),
            counts: PostCounts::default(),
            created_at: agora::clock::now(),
            edited_at: None,
            deleted_at: None,
        };
        stores.posts.create_post(&post).await.expect("a listing");
        posts.push((post.id, seller.clone()));
    }
    let mut seeded = Vec::new();
    for i in 0..buyers {
        let buyer = user(SELLERS + i, false);
        stores
            .users
            .create_user(&buyer, DUMMY_HASH)
            .await
            .expect("a buyer");
        let address = Address {
            id: AddressId::generate(),
            user_id: buyer.id.clone(),
            recipient: "Bench Buyer".into(),
            phone: "+77011234567".into(),
            line1: "1 Abay Avenue".into(),
            line2: None,
            city: "Almaty".into(),
            region: None,
            postal_code: "050000".into(),
            country: CountryCode::from_trusted("KZ".into()),
            created_at: agora::clock::now(),
        };
        stores
            .wallet
            .add_address(&address)
            .await
            .expect("an address");
        seeded.push(Buyer {
            viewer: Viewer::new(
                buyer,
                SessionId::generate(),
                Utc::now() + chrono::Duration::hours(6),
            ),
            address: address.id,
        });
    }
    (posts, seeded)
}

struct Run {
    concurrency: usize,
    checkouts: usize,
    orders: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1].as_secs_f64() * 1000.0
    }

    fn print(&self) {
        let secs = self.elapsed.as_secs_f64();
        println!(
            "concurrency {:>2}: {} checkouts ({} failed) in {:.1} s = {:.0} checkouts/s, {:.0} orders/s; \
             p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.concurrency,
            self.checkouts,
            self.failed,
            secs,
            self.checkouts as f64 / secs,
            self.orders as f64 / secs,
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.percentile(100.0),
        );
    }
}

/// `concurrency` workers, each with its own buyers, checking out until `duration` is over.
async fn run(
    core: &Core,
    posts: &Arc<Vec<(PostId, UserId)>>,
    buyers: &Arc<Vec<Buyer>>,
    concurrency: usize,
    duration: Duration,
    round: usize,
) -> Run {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (core, posts, buyers) = (core.clone(), Arc::clone(posts), Arc::clone(buyers));
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut orders, mut failed) = (0, 0);
            let mut n = 0usize;
            while Instant::now() < deadline {
                let buyer = &buyers[worker * BUYERS_PER_WORKER + n % BUYERS_PER_WORKER];
                // Two listings of two different sellers (listings alternate sellers).
                let first = (worker * 7919 + n * 104_729) % posts.len();
                let second = (first + 1) % posts.len();
                for index in [first, second] {
                    core.stores
                        .orders
                        .set_cart_line(buyer.viewer.id(), &posts[index].0, 1, agora::clock::now())
                        .await
                        .expect("the cart line is stored");
                }
                let command = CheckoutCommand {
                    address_id: buyer.address.clone(),
                    idempotency_key: format!("r{round}-w{worker}-n{n}"),
                    note: None,
                };
                let at = Instant::now();
                match core.services.orders.checkout(&buyer.viewer, command).await {
                    Ok(placed) => {
                        latencies.push(at.elapsed());
                        orders += placed.len();
                        for order in &placed {
                            let paid = order.moved(OrderStatus::Paid, agora::clock::now(), None);
                            core.stores
                                .orders
                                .update_order(&paid, false)
                                .await
                                .expect("a new order is marked paid");
                        }
                    }
                    Err(err) => {
                        failed += 1;
                        eprintln!("checkout failed: {err:?}");
                    }
                }
                n += 1;
            }
            (latencies, orders, failed)
        }));
    }
    let mut result = Run {
        concurrency,
        checkouts: 0,
        orders: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in workers {
        let (latencies, orders, failed) = worker.await.expect("a worker finishes");
        result.checkouts += latencies.len();
        result.latencies.extend(latencies);
        result.orders += orders;
        result.failed += failed;
    }
    result.elapsed = started.elapsed();
    result.latencies.sort_unstable();
    result
}

#[tokio::main]
async fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("agora=warn")
        .try_init();
    let seconds = number("BENCH_SECONDS", 5).max(1);
    let listings = number("BENCH_LISTINGS", 1000).max(2) as usize;
    let temp_dir = tempfile::tempdir().expect("a temp dir");
    let mut config = Config::default();
    config.http.bind = "127.0.0.1:0".parse().expect("an address");
    config.store.data_dir = temp_dir.path().to_owned();
    config.auth.jwt_secret = Some(JWT_SECRET.into());
    config.rate_limits.enabled = false;
    let mongodb_uri = std::env::var("BENCH_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty());
    let database = format!("agora_bench_{}", uuid::Uuid::now_v7().simple());
    if let Some(uri) = &mongodb_uri {
        config.store.mongodb_uri = Some(uri.clone());
        config.store.mongodb_database = database.clone();
    }
    let backend = if mongodb_uri.is_some() {
        "mongodb"
    } else {
        "sqlite"
    };
    let app = App::build(config).await.expect("the app starts");
    let core = app.core().clone();
    let max = CONCURRENCY.into_iter().max().unwrap_or(1);
    let seeding = Instant::now();
    let (posts, buyers) = seed(&core, listings, max * BUYERS_PER_WORKER).await;
    println!(
        "checkout bench on {backend}: {SELLERS} sellers, {listings} listings, {} buyers, {seconds} s per run (seeded in {:.1} s)",
        buyers.len(),
        seeding.elapsed().as_secs_f64()
    );
    let (posts, buyers) = (Arc::new(posts), Arc::new(buyers));
    // A short warm-up fills caches and the statement cache of every connection.
    run(&core, &posts, &buyers, max, Duration::from_millis(500), 0).await;
    for (round, concurrency) in CONCURRENCY.into_iter().enumerate() {
        run(
            &core,
            &posts,
            &buyers,
            concurrency,
            Duration::from_secs(seconds),
            round + 1,
        )
        .await
        .print();
    }
    if let Some(uri) = mongodb_uri
        && let Ok(client) = mongodb::Client::with_uri_str(&uri).await
    {
        let _ = client.database(&database).drop().await;
    }
}
