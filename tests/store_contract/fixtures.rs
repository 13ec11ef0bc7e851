//! Values and steps the contract tests build on: millisecond-precision clocks, complete domain
//! records with every field set, page requests, and the stored users, listings, orders and
//! reviews that tests of several stores need.

use agora::domain::{
    Address, AddressId, Amount, Attribute, CardBrand, CardId, CategoryId, CheckoutLine,
    CountryCode, Currency, Email, Listing, ListingStatus, Money, Order, OrderStatus, PaymentCard,
    Post, PostCounts, PostId, PostKind, Rating, RatingSummary, Review, ReviewId, Role, SessionId,
    User, UserId, Username, split_cart,
};
use agora::store::{
    CheckoutOutcome, NewCheckout, NewSession, OrderUpdate, PageRequest, Stores, UnpaidLimits,
};
use chrono::{DateTime, Duration, Utc};

/// Now, truncated to milliseconds: the precision both adapters store.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis())
        .expect("the current time is within chrono's range")
}

pub fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

/// An active buyer named `username`, email `<username>@example.com`, with every optional
/// profile field set and distinct creation and update times.
pub fn user(username: &str) -> User {
    let created_at = now() - Duration::days(3) - ms(123);
    User {
        id: UserId::generate(),
        email: Email::from_trusted(format!("{username}@example.com")),
        username: Username::from_trusted(username.to_owned()),
        display_name: format!("Display {username}"),
        bio: Some(format!("About {username}\nsecond line")),
        avatar_url: Some(format!("https://cdn.example.com/{username}.png")),
        phone: Some("+77011234567".to_owned()),
        roles: vec![Role::Buyer],
        active: true,
        email_verified: false,
        created_at,
        updated_at: created_at + Duration::hours(5) + ms(7),
        followers_count: 0,
        following_count: 0,
    }
}

/// A user with the given display name (and otherwise [`user`]'s values).
pub fn user_named(username: &str, display_name: &str) -> User {
    User {
        display_name: display_name.to_owned(),
        ..user(username)
    }
}

/// Creates `user` with a placeholder password hash, failing the test if the store refuses.
pub async fn create(stores: &Stores, user: &User) {
    stores
        .users
        .create_user(user, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        .await
        .expect("the user is created");
}

/// Creates a [`user`] for each of `names`, in order.
pub async fn create_users(stores: &Stores, names: &[&str]) -> Vec<User> {
    let mut made = Vec::new();
    for name in names {
        let u = user(name);
        create(stores, &u).await;
        made.push(u);
    }
    made
}

/// The ids of [`create_users`].
pub async fn users(stores: &Stores, names: &[&str]) -> Vec<UserId> {
    let made = create_users(stores, names).await;
    made.into_iter().map(|u| u.id).collect()
}

/// Creates a [`user`] named `name`; its id.
pub async fn person(stores: &Stores, name: &str) -> UserId {
    let u = user(name);
    create(stores, &u).await;
    u.id
}

/// A session of `user_id` whose current token hash is `token_hash`, live for a week.
pub fn session(user_id: &UserId, token_hash: &str) -> NewSession {
    let created_at = now();
    NewSession {
        id: SessionId::generate(),
        user_id: user_id.clone(),
        token_hash: token_hash.to_owned(),
        created_at,
        expires_at: created_at + Duration::days(7),
    }
}

pub fn address(user_id: &UserId, created_at: DateTime<Utc>) -> Address {
    Address {
        id: AddressId::generate(),
        user_id: user_id.clone(),
        recipient: "Ann Example".to_owned(),
        phone: "+77011234567".to_owned(),
        line1: "1 Abay Avenue".to_owned(),
        line2: Some("Flat 42".to_owned()),
        city: "Almaty".to_owned(),
        region: Some("Almaty Region".to_owned()),
        postal_code: "050000".to_owned(),
        country: CountryCode::from_trusted("KZ".to_owned()),
        created_at,
    }
}

pub fn card(user_id: &UserId, created_at: DateTime<Utc>) -> PaymentCard {
    PaymentCard {
        id: CardId::generate(),
        user_id: user_id.clone(),
        brand: CardBrand::Visa,
        last4: "4242".to_owned(),
        exp_month: 12,
        exp_year: 2031,
        holder: Some("ANN EXAMPLE".to_owned()),
        created_at,
    }
}

/// Sorts users by id, for comparing results whose order the contract leaves open.
pub fn by_id(mut users: Vec<User>) -> Vec<User> {
    users.sort_by(|a, b| a.id.cmp(&b.id));
    users
}

/// The first page of `limit` items.
pub fn first(limit: usize) -> PageRequest {
    PageRequest { after: None, limit }
}

/// The page of `limit` items after the cursor `after` (the first page without one).
pub fn page(limit: usize, after: Option<String>) -> PageRequest {
    PageRequest { after, limit }
}

// Posts and listings.

/// A text post by `author` created at `at`, tagged `tags`.
pub fn text_post(author: &UserId, at: DateTime<Utc>, body: &str, tags: &[&str]) -> Post {
    Post {
        id: PostId::generate(),
        author_id: author.clone(),
        kind: PostKind::Text,
        title: None,
        body: body.to_owned(),
        media: vec!["https://cdn.example.com/1.jpg".into()],
        tags: tags.iter().map(|t| t.to_string()).collect(),
        mentions: vec![],
        listing: None,
        counts: PostCounts::default(),
        created_at: at,
        edited_at: None,
        deleted_at: None,
    }
}

/// A listing priced `price` KZT with `stock` units in `category`.
pub fn listing(
    author: &UserId,
    at: DateTime<Utc>,
    price: &str,
    stock: i64,
    category: &str,
) -> Post {
    let kzt = Currency::parse("currency", "KZT").unwrap();
    Post {
        kind: PostKind::Listing,
        title: Some(format!("Item at {price}")),
        listing: Some(Listing {
            price: Money {
                amount: Amount::parse("price", price, kzt).unwrap(),
                currency: kzt,
            },
            stock,
            status: ListingStatus::Active,
            category_id: Some(CategoryId::from_trusted(category.into())),
            attributes: vec![Attribute {
                key: "Brand".into(),
                value: "Canon".into(),
            }],
        }),
        ..text_post(author, at, &format!("Selling for {price}"), &["sale"])
    }
}

/// Creates a [`listing`] of `seller` in "cameras", created now.
pub async fn listed(stores: &Stores, seller: &UserId, price: &str, stock: i64) -> Post {
    let post = listing(seller, now(), price, stock, "cameras");
    stores.posts.create_post(&post).await.unwrap();
    post
}

// Orders and reviews.

/// A checkout line of `quantity` units of the listing `post`, at its price.
pub fn line(post: &Post, quantity: i64) -> CheckoutLine {
    let l = post.listing.as_ref().expect("a listing");
    CheckoutLine {
        post_id: post.id.clone(),
        seller_id: post.author_id.clone(),
        title: post.title.clone().unwrap_or_default(),
        unit_price: l.price,
        quantity,
    }
}

/// Limits no test but those of the limits themselves comes near.
pub const ROOMY: UnpaidLimits = UnpaidLimits {
    units_per_listing: 1_000,
    orders: 1_000,
};

/// A checkout of `lines` by `buyer` under the idempotency key `key`, split into one order per
/// seller, within [`ROOMY`] limits.
pub fn checkout(
    buyer: &UserId,
    key: &str,
    lines: &[CheckoutLine],
    at: DateTime<Utc>,
) -> NewCheckout {
    // One address per buyer, so that a replay of a request has the same fingerprint.
    let address = agora::domain::Address {
        id: agora::domain::AddressId::from_trusted(format!("a{buyer}")),
        ..address(buyer, at)
    };
    let orders = split_cart(lines, buyer, &address, Some("ring twice"), at).expect("totals fit");
    let pairs: Vec<(PostId, i64)> = lines
        .iter()
        .map(|l| (l.post_id.clone(), l.quantity))
        .collect();
    NewCheckout {
        buyer_id: buyer.clone(),
        idempotency_key: key.to_owned(),
        fingerprint: agora::domain::cart_fingerprint(&pairs, &address.id),
        orders,
        limits: ROOMY,
        at,
    }
}

/// The orders of a placed checkout, failing the test on any other outcome.
pub fn placed(outcome: CheckoutOutcome) -> Vec<Order> {
    match outcome {
        CheckoutOutcome::Placed { orders, .. } => orders,
        other => panic!("expected the checkout to be placed, got {other:?}"),
    }
}

/// Moves `order` to `status` (one step), panicking if the write is stale.
pub async fn advance(stores: &Stores, order: &Order, status: OrderStatus, restock: bool) -> Order {
    match stores
        .orders
        .update_order(&order.moved(status, now(), None), restock)
        .await
        .unwrap()
    {
        OrderUpdate::Updated { order, .. } => *order,
        OrderUpdate::Stale => panic!("a fresh revision is written"),
    }
}

/// A `DELIVERED` order of one unit of `post` bought by `buyer`, moved there one step at a time;
/// with `last_step: false`, left `OUT_FOR_DELIVERY`.
pub async fn bought(stores: &Stores, buyer: &UserId, post: &Post, last_step: bool) -> Order {
    let request = checkout(
        buyer,
        &format!("{buyer}{}", post.id),
        &[line(post, 1)],
        now(),
    );
    let mut order = placed(stores.orders.checkout(&request).await.unwrap()).remove(0);
    let mut steps = vec![
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::OutForDelivery,
    ];
    if last_step {
        steps.push(OrderStatus::Delivered);
    }
    for status in steps {
        order = advance(stores, &order, status, false).await;
    }
    order
}

/// A review of `post` by `author` with `stars`, a body and a photo.
pub fn review(post: &Post, author: &UserId, stars: i64, at: DateTime<Utc>) -> Review {
    Review {
        id: ReviewId::generate(),
        post_id: post.id.clone(),
        author_id: author.clone(),
        seller_id: post.author_id.clone(),
        rating: Rating::parse("rating", stars).unwrap(),
        body: Some(format!("{stars} stars")),
        media: vec!["https://cdn.example.com/r.jpg".into()],
        created_at: at,
        edited_at: None,
    }
}

/// The rating summary of a stored `post`.
pub async fn summary(stores: &Stores, post: &PostId) -> RatingSummary {
    stores
        .reviews
        .rating_summaries(std::slice::from_ref(post))
        .await
        .unwrap()
        .pop()
        .expect("the post exists")
        .1
}
