//! Time as every layer keeps it: UTC at millisecond precision, the precision both stores
//! hold, so a value read back equals the value written.

use chrono::{DateTime, Utc};

/// The current time, truncated to milliseconds.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Milliseconds since the epoch: the stored form of every timestamp.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`]. A value beyond chrono's range (±262,000 years) cannot have
/// been written by us; it reads as the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
