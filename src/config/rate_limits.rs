//! `[rate_limits]`: one policy per limited action, written as `"<limit>/<window>"`
//! (`"5/1m"`: five per minute; units `s`, `m`, `h`, `d`), so each fits one environment
//! variable (`APP__RATE_LIMITS__LOGIN_PER_EMAIL=10/1m`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// At most `limit` attempts in any `window_secs`-long interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    pub limit: u32,
    pub window_secs: u64,
}

impl RatePolicy {
    pub const fn new(limit: u32, window_secs: u64) -> Self {
        Self { limit, window_secs }
    }

    pub fn window(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.window_secs).unwrap_or(i64::MAX / 1000))
    }
}

impl FromStr for RatePolicy {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let invalid =
            || format!("expected a rate like \"5/1m\" (limit/window, units s m h d), got {raw:?}");
        let (limit, window) = raw.trim().split_once('/').ok_or_else(invalid)?;
        let limit: u32 = limit.trim().parse().map_err(|_| invalid())?;
        let window = window.trim();
        let unit_at = window
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let (count, unit) = window.split_at(unit_at);
        let count: u64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| invalid())?
        };
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        let window_secs = count
            .checked_mul(unit_secs)
            .filter(|secs| (1..=366 * 86_400).contains(secs))
            .ok_or_else(|| format!("the window of {raw:?} must be between 1 s and a year"))?;
        Ok(Self { limit, window_secs })
    }
}

impl fmt::Display for RatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.window_secs;
        let (count, unit) = match secs {
            s if s % 86_400 == 0 => (s / 86_400, "d"),
            s if s % 3600 == 0 => (s / 3600, "h"),
            s if s % 60 == 0 => (s / 60, "m"),
            s => (s, "s"),
        };
        write!(f, "{}/{count}{unit}", self.limit)
    }
}

impl Serialize for RatePolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RatePolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// The limits of each action. Counters live in the store, so every instance on one database
/// shares them. Per-IP limits see the peer address, or the `X-Forwarded-For` address when
/// `http.trust_forwarded_for` is set; keep them generous, since offices and mobile carriers
/// put many people behind one address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Switches every limit off (load tests, trusted internal deployments).
    pub enabled: bool,
    /// Login attempts for one email address, whoever makes them.
    pub login_per_email: RatePolicy,
    /// Login attempts from one client address, whatever the email.
    pub login_per_ip: RatePolicy,
    /// Registrations from one client address.
    pub register_per_ip: RatePolicy,
    /// `requestPasswordReset` for one email address (known or not: both count alike).
    pub password_reset_per_email: RatePolicy,
    /// `requestPasswordReset` from one client address.
    pub password_reset_per_ip: RatePolicy,
    /// `requestEmailVerification` by one user.
    pub verification_email_per_user: RatePolicy,
    /// Posts (and listings) created by one user.
    pub post_per_user: RatePolicy,
    /// Comments written by one user.
    pub comment_per_user: RatePolicy,
    /// Chat messages sent by one user.
    pub message_per_user: RatePolicy,
    /// Typing announcements by one user (clients repeat one every few seconds while typing).
    pub typing_per_user: RatePolicy,
    /// Operations started over WebSocket (`subscribe` / legacy `start`) by one user, or by
    /// one client address when anonymous.
    pub subscription_start_per_user: RatePolicy,
    /// Checkouts by one user: each takes stock until its order is paid or expires, so a
    /// flood of them would hold listings away from other buyers.
    pub checkout_per_user: RatePolicy,
    /// Payment attempts (charges sent to the gateway) by one user: bounds card testing,
    /// trying stolen card numbers one order at a time.
    pub payment_per_user: RatePolicy,
    /// `react` and `unreact` by one user, on one counter: a toggle is one gesture, and a
    /// script alternating the two would otherwise get twice the rate.
    pub reaction_per_user: RatePolicy,
    /// `follow` and `unfollow` by one user, on one counter (a follow/unfollow loop is the
    /// toggle that follow-back spam and notification floods are made of).
    pub follow_per_user: RatePolicy,
    /// `block` and `unblock` by one user, on one counter. Blocking is how a user defends
    /// themself against a pile-on, so this one stays generous.
    pub block_per_user: RatePolicy,
    /// `addFavorite` and `removeFavorite` by one user, on one counter.
    pub favorite_per_user: RatePolicy,
    /// `addToCart` and `updateCartItem` by one user, on one counter: each re-reads the
    /// listing to check its stock.
    pub cart_per_user: RatePolicy,
    /// `createReview` by one user: each notifies a seller and moves a listing's rating.
    pub review_per_user: RatePolicy,
    /// `openChat` by one user (opening a room that exists already counts too): bounds
    /// cold messaging of strangers.
    pub open_chat_per_user: RatePolicy,
    /// `createGroupChat` by one user: each puts up to 49 people in a room they did not ask
    /// for.
    pub group_chat_per_user: RatePolicy,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            login_per_email: RatePolicy::new(5, 60),
            login_per_ip: RatePolicy::new(30, 60),
            register_per_ip: RatePolicy::new(20, 3600),
            password_reset_per_email: RatePolicy::new(3, 3600),
            password_reset_per_ip: RatePolicy::new(20, 3600),
            verification_email_per_user: RatePolicy::new(5, 3600),
            post_per_user: RatePolicy::new(30, 3600),
            comment_per_user: RatePolicy::new(30, 60),
            message_per_user: RatePolicy::new(60, 60),
            typing_per_user: RatePolicy::new(30, 60),
            subscription_start_per_user: RatePolicy::new(60, 60),
            checkout_per_user: RatePolicy::new(20, 3600),
            payment_per_user: RatePolicy::new(10, 3600),
            reaction_per_user: RatePolicy::new(60, 60),
            follow_per_user: RatePolicy::new(60, 3600),
            block_per_user: RatePolicy::new(60, 3600),
            favorite_per_user: RatePolicy::new(60, 60),
            cart_per_user: RatePolicy::new(60, 60),
            review_per_user: RatePolicy::new(20, 3600),
            open_chat_per_user: RatePolicy::new(30, 3600),
            group_chat_per_user: RatePolicy::new(10, 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_any_unit_and_print_canonically() {
        assert_eq!("5/1m".parse(), Ok(RatePolicy::new(5, 60)));
        assert_eq!("5/m".parse(), Ok(RatePolicy::new(5, 60)));
        assert_eq!(" 20 / 90s ".parse(), Ok(RatePolicy::new(20, 90)));
        assert_eq!("3/2h".parse(), Ok(RatePolicy::new(3, 7200)));
        assert_eq!("0/1d".parse(), Ok(RatePolicy::new(0, 86_400)));
        assert_eq!(RatePolicy::new(5, 60).to_string(), "5/1m");
        assert_eq!(RatePolicy::new(20, 90).to_string(), "20/90s");
        assert_eq!(RatePolicy::new(3, 7200).to_string(), "3/2h");
    }

    #[test]
    fn malformed_rates_are_refused() {
        for raw in [
            "5",
            "5/",
            "x/1m",
            "5/1w",
            "5/0s",
            "-1/1m",
            "5/1m1",
            "5/999999d",
        ] {
            assert!(raw.parse::<RatePolicy>().is_err(), "{raw}");
        }
    }
}
