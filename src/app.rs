//! Wiring: configuration in, a bound listener and a running server out.
//!
//! `App::build` does everything `main` needs and binds the listener, so tests start the real
//! app on port 0 and read the port back.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use chrono::Duration;
use tokio::net::TcpListener;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::config::{Config, Environment};
use crate::graphql::{self, AppSchema};
use crate::http::{self, AppState};
use crate::mail::{MailDelivery, RetryPolicy};
use crate::service::Services;
use crate::store::Stores;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error("the store is unavailable: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The services and schema, without a listener: what the CLI commands and the server share.
#[derive(Clone)]
pub struct Core {
    pub config: Arc<Config>,
    pub stores: Stores,
    pub services: Services,
    pub schema: AppSchema,
    /// The mail delivery worker, not yet running: [`App::run_until`] runs it beside the
    /// server; commands that only enqueue mail leave it for the server to deliver.
    pub mail: MailDelivery,
}

impl Core {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        crate::data_dir::secure_existing(&config.store.data_dir)?;
        let secret = jwt_secret(&config)?;
        check_public_url(&config.mail.public_url)?;
        check_cost_budget(&config)?;
        let mailer = crate::mail::mailer_from_config(&config.mail, &config.store.data_dir)
            .map_err(StartupError::Config)?;
        let stores = Stores::open(&config.store).await?;
        let mail = MailDelivery::new(
            stores.outbox.clone(),
            mailer,
            RetryPolicy::from_config(&config.mail),
        );
        let tokens = TokenKeys::new(
            &secret,
            &config.auth.issuer,
            &config.auth.audience,
            Duration::seconds(config.auth.access_token_ttl_secs as i64),
        );
        let hasher = tokio::task::spawn_blocking(PasswordHasher::owasp)
            .await
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let services = Services::new(stores.clone(), hasher, tokens, mail.outbox(), &config);
        let schema = graphql::build_schema(services.clone(), &config.graphql, config.environment);
        Ok(Self {
            config: Arc::new(config),
            stores,
            services,
            schema,
            mail,
        })
    }
}

/// A budget smaller than the costliest document allowed would refuse that document forever
/// with a `retryAfter` that never comes true.
fn check_cost_budget(config: &Config) -> Result<(), StartupError> {
    let graphql = &config.graphql;
    if config.rate_limits.enabled && graphql.cost_budget_maximum < graphql.max_cost {
        return Err(StartupError::Config(format!(
            "graphql.cost_budget_maximum ({}) must be at least graphql.max_cost ({})",
            graphql.cost_budget_maximum, graphql.max_cost
        )));
    }
    Ok(())
}

/// Links in mails are built on `mail.public_url`; a value that is not an absolute HTTP(S)
/// URL would mail broken links to every user, so it stops start-up instead.
fn check_public_url(url: &str) -> Result<(), StartupError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !url.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(StartupError::Config(format!(
            "mail.public_url must be an absolute http(s) URL, got {url:?}"
        ))),
    }
}

/// The HS256 key: configured, or (development only) generated once and kept in the data
/// directory so tokens survive restarts.
fn jwt_secret(config: &Config) -> Result<Vec<u8>, StartupError> {
    if let Some(secret) = config.auth.jwt_secret.as_deref().filter(|s| !s.is_empty()) {
        if secret.len() < 32 {
            return Err(StartupError::Config(
                "auth.jwt_secret must be at least 32 bytes".into(),
            ));
        }
        return Ok(secret.as_bytes().to_vec());
    }
    if config.environment == Environment::Production {
        return Err(StartupError::Config(
            "auth.jwt_secret (APP__AUTH__JWT_SECRET) is required in production".into(),
        ));
    }
    if config
        .store
        .mongodb_uri
        .as_deref()
        .is_some_and(|u| !u.is_empty())
    {
        // Several instances share a MongoDB; a key generated on one disk would not verify
        // tokens issued by another.
        return Err(StartupError::Config(
            "auth.jwt_secret (APP__AUTH__JWT_SECRET) is required with MongoDB".into(),
        ));
    }
    load_or_create_key(&config.store.data_dir.join("jwt-secret"))
}

fn load_or_create_key(path: &Path) -> Result<Vec<u8>, StartupError> {
    use rand::RngCore;
    match std::fs::read(path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => {
            return Err(StartupError::Config(format!(
                "{} is shorter than 32 bytes; delete it to generate a new key",
                path.display()
            )));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    if let Some(dir) = path.parent() {
        crate::data_dir::create_private_dir(dir)?;
    }
    let mut key = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut key);
    match crate::data_dir::private_file_options()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, &key)?;
            tracing::info!(path = %path.display(), "generated a JWT signing key for development");
            Ok(key)
        }
        // Another instance on the same data directory won the race; use its key.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key(path),
        Err(err) => Err(err.into()),
    }
}

/// A built app with its listener bound.
pub struct App {
    listener: TcpListener,
    core: Core,
    /// Where this instance's event-log tail starts (see [`crate::events::EventBus::run`]).
    log_position: i64,
}

impl App {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let addr = config.http.bind;
        let core = Core::build(config).await?;
        let log_position = core.services.events.position().await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Self {
            listener,
            core,
            log_position,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish. The event-log tail, the notifier, the query-budget sync, the mail delivery
    /// worker and the unpaid-order expiry run alongside and stop with the server, the mail worker finishing the message it
    /// is sending (within the grace period).
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
        let (stop_tail, tail_stopped) = tokio::sync::watch::channel(false);
        let budgets_stopped = tail_stopped.clone();
        // Subscribed before the tail starts, so the notifier sees every event it delivers.
        let notifier = crate::service::Notifier::new(
            self.core.stores.notifications.clone(),
            self.core.stores.social.clone(),
            self.core.services.events.clone(),
        );
        let notifier = tokio::spawn(notifier.run(
            self.core.services.events.subscribe_logged(),
            tail_stopped.clone(),
        ));
        let tail = tokio::spawn(
            self.core
                .services
                .events
                .clone()
                .run(self.log_position, tail_stopped),
        );
        let mut mail_worker = tokio::spawn(self.core.mail.clone().run(mail_stopped.clone()));
        let expiry = tokio::spawn(expire_unpaid_orders(
            self.core.services.orders.clone(),
            self.core.config.orders.clone(),
            mail_stopped,
        ));
        let budgets = tokio::spawn(self.core.services.query_budget.clone().run(budgets_stopped));
        let grace = std::time::Duration::from_secs(self.core.config.http.shutdown_grace_secs);
        let served = self.serve(shutdown).await;
        let _ = stop_tail.send(true);
        let _ = tail.await;
        let _ = notifier.await;
        let _ = budgets.await;
        let _ = stop_mail.send(true);
        if tokio::time::timeout(grace, &mut mail_worker).await.is_err() {
            tracing::warn!(
                ?grace,
                "the mail worker did not stop within the grace period"
            );
            mail_worker.abort();
        }
        // The expiry task only waits between passes; a pass cut short is redone by the next
        // one (each cancel is its own compare-and-set write).
        expiry.abort();
        served
    }

    async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = AppState {
            schema: self.core.schema.clone(),
            services: Arc::new(self.core.services.clone()),
            health: self.core.stores.health.clone(),
            config: self.core.config.clone(),
            sockets: http::SocketRegistry::default(),
            shared: http::SharedSubscriptions::default(),
        };
        let router = http::router(state);
        http::serve(self.listener, router, &self.core.config.http, shutdown).await
    }
}

/// Cancels unpaid orders past their time every `expiry_interval_secs`, until `stop` turns
/// true. Safe on several instances at once: each cancel is a compare-and-set on the order, so
/// only one instance cancels (and restocks) a given order.
async fn expire_unpaid_orders(
    orders: crate::service::OrderService,
    config: crate::config::OrdersConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let ttl = chrono::Duration::seconds(i64::try_from(config.unpaid_ttl_secs).unwrap_or(i64::MAX));
    let interval = std::time::Duration::from_secs(config.expiry_interval_secs.max(1));
    while !*stop.borrow() {
        match orders.expire_unpaid(crate::clock::now(), ttl).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(cancelled = n, "cancelled unpaid orders past their time"),
            Err(err) => tracing::error!(error = ?err, "the unpaid-order expiry pass failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
