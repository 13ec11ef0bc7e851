//! Values the contract tests build on: millisecond-precision clocks and complete domain
//! records with every field set.

use agora::domain::{
    Address, AddressId, CardBrand, CardId, CountryCode, Email, PaymentCard, Role, SessionId, User,
    UserId, Username,
};
use agora::store::NewSession;
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
pub async fn create(stores: &agora::store::Stores, user: &User) {
    stores
        .accounts
        .create_user(user, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        .await
        .expect("the user is created");
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
