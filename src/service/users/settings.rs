//! The user rules the configuration decides, in the units the service works in.

use chrono::Duration;

use crate::config::Config;

/// The user rules the configuration decides.
#[derive(Debug, Clone)]
pub struct UserSettings {
    pub password_reset_ttl: Duration,
    pub email_verification_ttl: Duration,
    /// Sellers must verify their email address before publishing listings.
    pub require_verified_seller: bool,
    /// Base of the links in mails, without a trailing slash.
    pub public_url: String,
}

impl UserSettings {
    pub fn from_config(config: &Config) -> Self {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Self {
            password_reset_ttl: secs(config.mail.password_reset_ttl_secs),
            email_verification_ttl: secs(config.mail.email_verification_ttl_secs),
            require_verified_seller: config.mail.require_verified_seller,
            public_url: config.mail.public_url.trim_end_matches('/').to_owned(),
        }
    }
}
