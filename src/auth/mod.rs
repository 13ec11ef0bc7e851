//! Credentials: password hashing and access/refresh tokens. Pure mechanisms; the rules of
//! who may log in live in `service::sessions`.

mod password;
mod tokens;

pub use password::PasswordHasher;
pub use tokens::{AccessClaims, IssuedAccessToken, RefreshToken, TokenError, TokenKeys};
