//! Typed configuration: defaults for the zero-setup case, overridden by an optional TOML
//! file, then by `APP__SECTION__KEY` environment variables (`APP__HTTP__BIND=0.0.0.0:3000`).
//!
//! Unknown keys are errors, so a typo in a variable name fails at start-up instead of being
//! silently ignored. Secrets are never printed: `Debug` of `AuthConfig` and `MailConfig`
//! redacts them.

mod rate_limits;

pub use rate_limits::{RateLimitConfig, RatePolicy};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub environment: Environment,
    pub http: HttpConfig,
    pub store: StoreConfig,
    pub auth: AuthConfig,
    pub graphql: GraphqlConfig,
    pub websocket: WebSocketConfig,
    pub mail: MailConfig,
    pub orders: OrdersConfig,
    pub rate_limits: RateLimitConfig,
}

/// The lifecycle of orders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrdersConfig {
    /// How long an order may wait for payment before the expiry task cancels it and
    /// releases its stock. Unpaid orders hold stock nobody else can buy, so this is short.
    pub unpaid_ttl_secs: u64,
    /// How often the expiry task looks for unpaid orders past their time.
    pub expiry_interval_secs: u64,
    /// How many units of one listing a buyer may hold in unpaid (`PENDING_PAYMENT`) orders
    /// at once: without it one unpaid checkout can take a listing's whole stock off the
    /// market for the unpaid window.
    pub max_unpaid_units_per_listing: u32,
    /// How many unpaid orders a buyer may have at once.
    pub max_unpaid_orders: u32,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        Self {
            unpaid_ttl_secs: 900,
            expiry_interval_secs: 60,
            max_unpaid_units_per_listing: 3,
            max_unpaid_orders: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Zero-setup: a JWT key is generated and kept in the data directory.
    #[default]
    Development,
    /// A JWT secret must be configured; start-up fails without one.
    Production,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    /// Upper bound on one HTTP request, from first byte to last.
    pub request_timeout_secs: u64,
    /// Largest accepted JSON request body.
    pub body_limit_bytes: usize,
    /// Origins allowed by CORS. Empty allows any origin (tokens travel in a header, not a
    /// cookie, so there is no ambient credential to protect).
    pub cors_allowed_origins: Vec<String>,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// Take the client address for per-IP rate limits from the last `X-Forwarded-For` entry
    /// (the one our own proxy appended). Only behind a proxy that sets it: otherwise any
    /// client could claim any address.
    pub trust_forwarded_for: bool,
    /// How long a client has to send a whole request head: from the accept for the first
    /// request on a connection, from its first byte for later ones. Sending it slowly does
    /// not extend it (a slowloris client is cut off).
    pub header_read_timeout_secs: u64,
    /// How long a keep-alive connection may wait, after a response, for the first byte of
    /// its next request. Longer than the usual 60 s of load balancers in front, so the
    /// server never closes a pooled connection a balancer is about to reuse.
    pub idle_timeout_secs: u64,
    /// Open connections (WebSockets included) one instance serves at once. At the cap it
    /// stops accepting until one closes; new connections wait in the listen backlog.
    pub max_connections: usize,
    /// Longest request target (path and query) accepted; longer ones get a 414 with a
    /// GraphQL error body. hyper itself answers a bare 414 above 64 KiB.
    pub max_uri_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            request_timeout_secs: 30,
            body_limit_bytes: 128 * 1024,
            cors_allowed_origins: Vec::new(),
            shutdown_grace_secs: 10,
            trust_forwarded_for: false,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 75,
            max_connections: 16_384,
            max_uri_bytes: 8 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Where the embedded SQLite database and the generated JWT key live.
    pub data_dir: PathBuf,
    /// When set, MongoDB is used instead of the embedded store.
    pub mongodb_uri: Option<String>,
    pub mongodb_database: String,
    /// How often an instance looks for events other processes appended to the event log
    /// (its own appear at once). On MongoDB a change stream wakes it sooner; this bounds the
    /// delay when a wake-up is missed.
    pub event_log_poll_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            mongodb_uri: None,
            mongodb_database: "agora".into(),
            event_log_poll_ms: 100,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 key for access tokens, at least 32 bytes. Required in production.
    pub jwt_secret: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "agora".into(),
            audience: "agora-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
        }
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_days", &self.refresh_token_ttl_days)
            .finish()
    }
}

/// A feature that is on in development and off in production unless set either way:
/// `auto` (the default), `true` or `false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Switch {
    #[default]
    Auto,
    On,
    Off,
}

impl Switch {
    /// Whether the feature is on in `environment`.
    pub fn enabled(self, environment: Environment) -> bool {
        match self {
            Switch::Auto => environment == Environment::Development,
            Switch::On => true,
            Switch::Off => false,
        }
    }
}

impl From<bool> for Switch {
    fn from(on: bool) -> Self {
        if on { Switch::On } else { Switch::Off }
    }
}

impl Serialize for Switch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Switch::Auto => serializer.serialize_str("auto"),
            Switch::On => serializer.serialize_bool(true),
            Switch::Off => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bool(on) => Ok(on.into()),
            Raw::Text(text) => match text.trim() {
                "auto" => Ok(Switch::Auto),
                "true" | "1" | "yes" | "on" => Ok(Switch::On),
                "false" | "0" | "no" | "off" => Ok(Switch::Off),
                other => Err(serde::de::Error::custom(format!(
                    "expected auto, true or false, got {other:?}"
                ))),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlConfig {
    /// Serve GraphiQL at `/`. `auto`: in development only.
    pub graphiql: Switch,
    /// Answer introspection queries. `auto`: in development only.
    pub introspection: Switch,
    /// "Did you mean …?" hints in validation errors. `auto`: in development only.
    pub suggestions: Switch,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_recursive_depth: usize,
    pub max_directives: usize,
    /// Fields one document may select, fragments expanded, `__typename` included.
    pub max_fields: usize,
    pub max_aliases: usize,
    /// The most a document may cost: its estimated number of objects, page sizes multiplied
    /// through (see `graphql::cost`). Over it: `QUERY_TOO_COSTLY`, before anything runs.
    pub max_cost: u64,
    /// The largest response body; a larger answer is replaced by an error.
    pub max_response_bytes: usize,
    /// Each client's query-cost budget (a user, or a client address when anonymous): the
    /// points a full bucket holds. At least `max_cost`, so every allowed query can run.
    /// Off with `rate_limits.enabled = false`.
    pub cost_budget_maximum: u64,
    /// Points restored to each budget per second.
    pub cost_budget_restore_rate: u64,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            graphiql: Switch::Auto,
            introspection: Switch::Auto,
            suggestions: Switch::Auto,
            // GraphiQL's introspection query nests 13 levels deep.
            max_depth: 15,
            max_complexity: 1000,
            max_recursive_depth: 32,
            max_directives: 10,
            max_fields: 500,
            max_aliases: 50,
            max_cost: 50_000,
            max_response_bytes: 8 * 1024 * 1024,
            cost_budget_maximum: 100_000,
            cost_budget_restore_rate: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// How long a client may take to send `connection_init` (close 4408 after).
    pub init_timeout_secs: u64,
    /// Interval of server pings (`ping` / legacy `ka`); 0 disables them.
    pub keepalive_secs: u64,
    /// Largest accepted message.
    pub max_message_bytes: usize,
    /// Subscriptions one connection may run at once.
    pub max_subscriptions: usize,
    /// Authenticated sockets one user may hold open on one instance; the connection over the
    /// cap is closed with 4429.
    pub max_connections_per_user: usize,
    /// Anonymous sockets one client address (as `http.trust_forwarded_for` decides it; an
    /// IPv6 /64 counts as one) may hold open on one instance. A socket counts from its upgrade
    /// until it authenticates in `connection_init`; over the cap an anonymous
    /// `connection_init` is closed with 4429, while a token still lets a socket in.
    pub max_anonymous_connections_per_address: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            init_timeout_secs: 10,
            keepalive_secs: 25,
            max_message_bytes: 64 * 1024,
            max_subscriptions: 100,
            max_connections_per_user: 16,
            max_anonymous_connections_per_address: 64,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The sender of every message: `Name <address>` or a bare address.
    pub from: String,
    /// SMTP server, e.g. `smtp://mailpit:1025`, `smtp://user:pass@host:587?tls=required` or
    /// `smtps://host`. Unset: every message is written as an `.eml` file under
    /// `<store.data_dir>/outbox/` instead.
    pub smtp_url: Option<String>,
    /// Base URL of the links in mails: the web app, or this server, which serves minimal
    /// `/reset-password` and `/verify-email` pages.
    pub public_url: String,
    /// How long a password-reset link works.
    pub password_reset_ttl_secs: u64,
    /// How long an email-verification link works. Longer than a reset by default: proving a
    /// mailbox is low-risk, and people open welcome mail late.
    pub email_verification_ttl_secs: u64,
    /// Refuse `login` until the email address is verified.
    pub require_verified_email_to_log_in: bool,
    /// Sellers must verify their email address before publishing listings.
    pub require_verified_seller: bool,
    /// Delivery attempts before a message is given up as failed.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; it doubles after each further failure, up to
    /// `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// How often the delivery worker looks for mail it was not woken for: retries that came
    /// due, and mail enqueued by other instances.
    pub poll_interval_secs: u64,
    /// Upper bound on one delivery attempt.
    pub send_timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Agora <no-reply@agora.localhost>".into(),
            smtp_url: None,
            public_url: "http://127.0.0.1:3000".into(),
            password_reset_ttl_secs: 30 * 60,
            email_verification_ttl_secs: 24 * 3600,
            require_verified_email_to_log_in: false,
            require_verified_seller: true,
            max_attempts: 8,
            retry_base_secs: 30,
            retry_max_secs: 3600,
            poll_interval_secs: 10,
            send_timeout_secs: 30,
        }
    }
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SMTP URL may carry a password.
        f.debug_struct("MailConfig")
            .field("from", &self.from)
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<redacted>"))
            .field("public_url", &self.public_url)
            .field("password_reset_ttl_secs", &self.password_reset_ttl_secs)
            .field(
                "email_verification_ttl_secs",
                &self.email_verification_ttl_secs,
            )
            .field(
                "require_verified_email_to_log_in",
                &self.require_verified_email_to_log_in,
            )
            .field("require_verified_seller", &self.require_verified_seller)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base_secs", &self.retry_base_secs)
            .field("retry_max_secs", &self.retry_max_secs)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("send_timeout_secs", &self.send_timeout_secs)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the TOML file at `file` (if given), then `APP__…` variables from
    /// `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let defaults = toml::Value::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut merged = defaults.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let overrides: toml::Value = toml::from_str(&text)
                .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
            merge(&mut merged, overrides);
        }
        for (name, value) in env {
            let Some(path) = name.strip_prefix("APP__") else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
            let typed = typed_env_value(&defaults, &keys, &value)
                .map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
            set_path(&mut merged, &keys, typed);
        }
        merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
    }
}

fn merge(base: &mut toml::Value, overrides: toml::Value) {
    match (base, overrides) {
        (toml::Value::Table(base), toml::Value::Table(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, value) => *base = value,
    }
}

fn set_path(root: &mut toml::Value, keys: &[String], value: toml::Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        let toml::Value::Table(table) = node else {
            return;
        };
        node = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    if let toml::Value::Table(table) = node {
        table.insert(last.clone(), value);
    }
}

/// Environment values are strings; give them the type the default has at that path
/// (numbers, booleans, comma-separated lists). Unknown paths stay strings and are reported
/// by deserialisation.
fn typed_env_value(
    defaults: &toml::Value,
    keys: &[String],
    raw: &str,
) -> Result<toml::Value, String> {
    let default = keys.iter().try_fold(defaults, |node, key| node.get(key));
    Ok(match default {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected a whole number, got {raw:?}"))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(format!("expected true or false, got {raw:?}")),
        }),
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_serve_the_zero_setup_case() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.http.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(config.environment, Environment::Development);
        assert!(config.store.mongodb_uri.is_none());
        assert_eq!(config.http.body_limit_bytes, 131072);
    }

    #[test]
    fn env_vars_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agora.toml");
        std::fs::write(
            &file,
            "[http]\nbind = \"0.0.0.0:4000\"\nrequest_timeout_secs = 5\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&file),
            env(&[
                ("APP__HTTP__REQUEST_TIMEOUT_SECS", "7"),
                ("APP__GRAPHQL__INTROSPECTION", "false"),
                ("APP__STORE__MONGODB_URI", "mongodb://db:27017"),
                (
                    "APP__HTTP__CORS_ALLOWED_ORIGINS",
                    "https://a.example, https://b.example",
                ),
                ("APP__ENVIRONMENT", "production"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.http.bind.to_string(), "0.0.0.0:4000");
        assert_eq!(config.http.request_timeout_secs, 7);
        assert_eq!(config.graphql.introspection, Switch::Off);
        assert_eq!(
            config.store.mongodb_uri.as_deref(),
            Some("mongodb://db:27017")
        );
        assert_eq!(config.http.cors_allowed_origins.len(), 2);
        assert_eq!(config.environment, Environment::Production);
    }

    #[test]
    fn production_turns_off_introspection_graphiql_and_suggestions_unless_switched_on() {
        let development = Config::load(None, env(&[])).unwrap();
        assert!(
            development
                .graphql
                .introspection
                .enabled(development.environment)
        );
        assert!(
            development
                .graphql
                .graphiql
                .enabled(development.environment)
        );
        assert!(
            development
                .graphql
                .suggestions
                .enabled(development.environment)
        );

        let production = Config::load(None, env(&[("APP__ENVIRONMENT", "production")])).unwrap();
        assert!(
            !production
                .graphql
                .introspection
                .enabled(production.environment)
        );
        assert!(!production.graphql.graphiql.enabled(production.environment));
        assert!(
            !production
                .graphql
                .suggestions
                .enabled(production.environment)
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agora.toml");
        std::fs::write(
            &file,
            "environment = \"production\"\n[graphql]\ngraphiql = true\n",
        )
        .unwrap();
        let opted_in =
            Config::load(Some(&file), env(&[("APP__GRAPHQL__INTROSPECTION", "true")])).unwrap();
        assert!(opted_in.graphql.introspection.enabled(opted_in.environment));
        assert!(opted_in.graphql.graphiql.enabled(opted_in.environment));
        assert!(!opted_in.graphql.suggestions.enabled(opted_in.environment));
        assert!(Config::load(None, env(&[("APP__GRAPHQL__GRAPHIQL", "maybe")])).is_err());
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(Config::load(None, env(&[("APP__HTTP__BINDD", "x")])).is_err());
        assert!(Config::load(None, env(&[("APP__HTTP__REQUEST_TIMEOUT_SECS", "soon")])).is_err());
        assert!(Config::load(None, env(&[("APP__HTTP__BIND", "not an address")])).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = Config::load(
            None,
            env(&[
                ("APP__AUTH__JWT_SECRET", "hunter2hunter2"),
                (
                    "APP__MAIL__SMTP_URL",
                    "smtp://mailer:hunter3@smtp.example.com:587",
                ),
            ]),
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(!format!("{config:?}").contains("hunter3"));
    }

    #[test]
    fn mail_and_rate_limits_are_set_from_the_environment() {
        let config = Config::load(
            None,
            env(&[
                ("APP__MAIL__SMTP_URL", "smtp://mailpit:1025"),
                ("APP__MAIL__REQUIRE_VERIFIED_SELLER", "false"),
                ("APP__RATE_LIMITS__LOGIN_PER_EMAIL", "10/5m"),
                ("APP__HTTP__TRUST_FORWARDED_FOR", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(config.mail.smtp_url.as_deref(), Some("smtp://mailpit:1025"));
        assert!(!config.mail.require_verified_seller);
        assert_eq!(config.rate_limits.login_per_email, RatePolicy::new(10, 300));
        assert!(config.http.trust_forwarded_for);
        assert!(
            Config::load(None, env(&[("APP__RATE_LIMITS__LOGIN_PER_EMAIL", "often")])).is_err()
        );
    }

    #[test]
    fn the_default_limits_allow_five_logins_a_minute_per_email() {
        let config = Config::load(None, env(&[])).unwrap();
        assert!(config.rate_limits.enabled);
        assert_eq!(config.rate_limits.login_per_email, RatePolicy::new(5, 60));
        assert!(config.mail.smtp_url.is_none());
        assert!(!config.mail.require_verified_email_to_log_in);
        assert!(config.mail.require_verified_seller);
    }
}
