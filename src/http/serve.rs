//! The accept loop: TCP connections in, HTTP/1.1 (and WebSocket upgrades) served by hyper.
//!
//! `axum::serve` has no per-connection timeouts and no connection cap, so a client trickling
//! a header line every few seconds, or simply holding idle sockets, kept them forever. This
//! loop owns what axum's did (TCP_NODELAY, the peer address as `ConnectInfo`, upgrades,
//! graceful shutdown) and adds, per connection:
//!
//! - **header read timeout** (`http.header_read_timeout_secs`): a request head must arrive
//!   whole within it, counted from the accept for the first request and from its first byte
//!   for later ones. Trickling bytes does not restart it.
//! - **idle timeout** (`http.idle_timeout_secs`): a keep-alive connection with no request in
//!   flight and no byte of a next request is closed this long after its last response.
//! - **connection cap** (`http.max_connections`): at the cap the loop stops accepting until a
//!   connection closes (see [`serve`] for why it holds off rather than refusing).
//!
//! Both timers live in [`TimedIo`], around the socket, because hyper 1.x has a single
//! `header_read_timeout` whose clock (since hyperium/hyper#3828) starts whenever the
//! connection waits for a request head, the wait after a response included, so it cannot
//! keep idle keep-alive connections longer than it gives a slow head; and it only runs with
//! a timer installed, which `axum::serve` never did (hence no timeout at all before). A
//! request in flight is bounded by `http.request_timeout_secs` instead, and a connection
//! upgraded to a WebSocket by the WebSocket's own init timeout and keep-alives: neither timer
//! applies to them.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::HttpConfig;

/// The per-connection limits, read once from [`HttpConfig`].
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    header_read: Duration,
    idle: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (idle connections close at once) and returns when they have, or
/// after `http.shutdown_grace_secs`.
///
/// At `http.max_connections` open connections the loop holds off accepting instead of
/// accepting and closing: new connections wait in the kernel's listen backlog and are served
/// as soon as a slot frees, the server spends nothing on them meanwhile (no accept, no TLS or
/// HTTP work, no log line per refusal), and a flood cannot turn the cap into a busy loop of
/// accept-and-close. Once the backlog is full the kernel refuses connections itself. Every
/// held slot is bounded in time by the timeouts above, so a client that fills the cap with
/// silent sockets loses them within `header_read_timeout_secs`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = ConnectionLimits {
        header_read: Duration::from_secs(config.header_read_timeout_secs.max(1)),
        idle: Duration::from_secs(config.idle_timeout_secs.max(1)),
    };
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    // `true` tells every connection to finish its request and close.
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a receiver; `closed()` completes when the last one ends.
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => {
                permit.expect("the connection semaphore is never closed")
            }
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY a small write (a subscription's `next`, a keep-alive) waits
        // behind Nagle's algorithm for the client's delayed ACK of the previous one: tens of
        // milliseconds per message on a busy socket.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY on an accepted connection");
        }
        tokio::spawn(serve_connection(
            TimedIo::new(tcp, permit, limits),
            peer,
            router.clone(),
            stop_rx.clone(),
            open_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    if tokio::time::timeout(grace, open_tx.closed()).await.is_err() {
        tracing::warn!(
            ?grace,
            "in-flight requests did not finish within the grace period"
        );
    }
    Ok(())
}

/// An accept error: a connection reset before we took it is nothing; anything else (most
/// often EMFILE, out of file descriptors) is logged and waited out for a second, so the loop
/// does not spin while no descriptor can be had.
async fn accept_failed(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%err, "cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    io: TimedIo,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
) {
    let activity = io.activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        // Peer addresses reach the handlers for per-address limits (`ClientIp`).
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::start(activity.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                in_flight.upgraded();
            }
            drop(in_flight);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // `TimedIo` keeps the time instead (see the module docs); without a timer hyper would only
    // warn that its default cannot run.
    builder.header_read_timeout(None);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%err, %peer, "connection ended with an error");
                }
                break;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || *stop.borrow() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What the connection's service tells its socket: whether a request is being handled, and
/// whether the connection became a WebSocket. Shared between the service (which hyper polls
/// on the connection's task) and [`TimedIo`].
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    /// Requests started so far (wrapping): a request that starts and ends between two looks
    /// of the socket still ends the phase it was read in.
    started: AtomicUsize,
    upgraded: AtomicBool,
}

/// One request being handled; the count goes down when it is dropped, also when hyper drops
/// the handler's future because the client went away.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.started.fetch_add(1, Ordering::Relaxed);
        Self(activity)
    }

    /// Marks the connection as switched to another protocol (set before the request ends,
    /// so the socket never sees the connection as idle HTTP in between).
    fn upgraded(&self) {
        self.0.upgraded.store(true, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a connection is in its life, for the timer that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head: the first since the accept, or one whose first byte came.
    ReadingHead,
    /// Between requests on a keep-alive connection, nothing of the next one received yet.
    Idle,
    /// A request is being handled (`request_timeout_secs` bounds it).
    InFlight,
    /// A WebSocket now: its own keep-alive decides.
    Upgraded,
}

/// The socket with the header-read and idle timers, and the connection's slot under
/// `http.max_connections` (held for the socket's whole life, so an upgraded WebSocket keeps
/// counting after hyper hands it over).
struct TimedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    limits: ConnectionLimits,
    phase: Phase,
    /// `Activity::started` when last looked at.
    seen_started: usize,
    /// When the current phase's time is up; `None` once upgraded (freed, as a WebSocket may
    /// live for hours).
    deadline: Option<Pin<Box<Sleep>>>,
    _slot: OwnedSemaphorePermit,
}

impl TimedIo {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, limits: ConnectionLimits) -> Self {
        Self {
            stream,
            activity: Arc::default(),
            limits,
            phase: Phase::ReadingHead,
            seen_started: 0,
            deadline: Some(Box::pin(tokio::time::sleep(limits.header_read))),
            _slot: slot,
        }
    }

    fn restart_timer(&mut self, after: Duration) {
        if let Some(deadline) = &mut self.deadline {
            deadline.as_mut().reset(Instant::now() + after);
        }
    }

    /// Follows what the service reports: a request started, ended, or upgraded the
    /// connection. The idle time counts from the end of a request (and from each write of its
    /// response after that, see [`TimedIo::response_written`]).
    fn observe(&mut self) {
        if self.phase == Phase::Upgraded {
            return;
        }
        let started = self.activity.started.load(Ordering::Relaxed);
        let new_request = started != self.seen_started;
        self.seen_started = started;
        if self.activity.upgraded.load(Ordering::Relaxed) {
            self.phase = Phase::Upgraded;
            self.deadline = None;
        } else if self.activity.in_flight.load(Ordering::Relaxed) > 0 {
            self.phase = Phase::InFlight;
        } else if self.phase == Phase::InFlight || new_request {
            self.phase = Phase::Idle;
            self.restart_timer(self.limits.idle);
        }
    }

    /// Between requests, the idle time counts from the last write of the response. The
    /// timer is polled here too, not only when a read finds nothing: hyper may have polled
    /// its last read before the response ended, and an unpolled timer wakes no one.
    fn response_written(&mut self, cx: &mut Context<'_>) {
        if self.phase != Phase::Idle {
            return;
        }
        self.restart_timer(self.limits.idle);
        if let Some(deadline) = &mut self.deadline {
            // Just reset to a future instant: this only registers the wake-up.
            let _ = deadline.as_mut().poll(cx);
        }
    }

    /// Whether the phase's time is up, registering for a wake-up when it is not.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let reason = match self.phase {
            Phase::ReadingHead => "the request head did not arrive in time",
            Phase::Idle => "the keep-alive connection was idle too long",
            Phase::InFlight | Phase::Upgraded => return None,
        };
        let deadline = self.deadline.as_mut()?;
        deadline
            .as_mut()
            .poll(cx)
            .is_ready()
            .then(|| io::Error::new(io::ErrorKind::TimedOut, reason))
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.observe();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.phase = Phase::ReadingHead;
                    this.restart_timer(this.limits.header_read);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.timed_out(cx) {
                Some(err) => Poll::Ready(Err(err)),
                None => Poll::Pending,
            },
            failed => failed,
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.observe();
        this.response_written(cx);
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.observe();
        this.response_written(cx);
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
