//! `/graphql/ws`: GraphQL over WebSocket, both `graphql-transport-ws` and the legacy
//! `graphql-ws`, chosen by the `Sec-WebSocket-Protocol` header.
//!
//! One task per connection owns the socket and every operation on it: client frames, the
//! operations' result streams, the init deadline, keep-alives, token expiry and session
//! revocation are all branches of one `select!`. A slow client therefore only slows its own
//! streams (writes are awaited inline), and nothing is shared between connections but the
//! schema and the event bus.
//!
//! Rules (close codes from graphql-ws PROTOCOL.md): no `connection_init` within the timeout
//! → 4408; a second `connection_init` → 4429 (except re-authentication in the legacy protocol,
//! below); a user already holding `websocket.max_connections_per_user` sockets on this
//! instance → 4429 "Too many connections for this user"; `subscribe` before `connection_ack`
//! → 4401; an anonymous `connection_init` on a socket opened while its client address already held
//! `websocket.max_anonymous_connections_per_address` anonymous sockets on this instance → 4429
//! "Too many anonymous connections from this address" (a socket counts as anonymous from its
//! upgrade until a token authenticates it, so one address cannot pile up silent sockets
//! either; a token still lets a socket in over that cap); an invalid or expired token in the init payload → 4403; a malformed message → 4400; a
//! `subscribe` whose id is still running → 4409. The socket is closed with 4403 when the
//! access token expires or its session is revoked (logout everywhere, password change,
//! password reset, deactivation), also when that happens on another instance: revocations
//! come through the shared event log.
//!
//! Re-authentication: a client whose access token is about to expire sends a fresh one for
//! the same user — in `graphql-transport-ws` as the payload of a `ping` (`{ "authorization":
//! "Bearer …" }`, answered by `pong`), in the legacy protocol as a repeated `connection_init`
//! (answered by `connection_ack`). The socket's expiry moves to the new token's; an invalid
//! token or another user's closes it with 4403. Running operations keep going.
//!
//! Starting operations is rate-limited per user (per client address when anonymous): an
//! operation over the limit gets an `error` message with `RATE_LIMITED` and `retryAfter`, and
//! the socket stays open.

mod protocol;
mod registry;
mod shared;

pub use registry::SocketRegistry;
pub use shared::SharedSubscriptions;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::WebSocketProtocols;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header::SEC_WEBSOCKET_PROTOCOL;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use serde_json::{Map, Value as Json};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, Sleep};

use self::protocol::{ClientMessage, close};
use self::registry::{Holder, SocketSlot};
use self::shared::SharedItem;
use super::AppState;
use super::auth::{ClientIp, authenticate, request_id};
use super::negotiate::Rejection;
use crate::error::AppError;
use crate::events::DomainEvent;
use crate::graphql::{self, RequestId, is_request_error};
use crate::service::{Action, ClientOrigin, RateLimiter, Viewer};

/// Per-connection socket buffers. tokio-tungstenite's defaults (128 KiB read buffer, 128 KiB
/// write buffer) dominate memory per idle connection; GraphQL messages are small, so 4 KiB
/// buffers serve them with far less memory per subscriber (messages larger than the buffer
/// still work, the buffer just grows while one is in flight).
const READ_BUFFER_BYTES: usize = 4 * 1024;
const WRITE_BUFFER_BYTES: usize = 4 * 1024;

pub async fn upgrade(
    State(state): State<AppState>,
    ClientIp(origin): ClientIp,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = chosen_protocol(&headers) else {
        return Rejection::bad_request(
            "choose the graphql-transport-ws or graphql-ws subprotocol (Sec-WebSocket-Protocol)",
        )
        .into_response();
    };
    let request_id = request_id(&headers);
    let config = &state.config.websocket;
    upgrade
        .protocols([protocol.sec_websocket_protocol()])
        .max_message_size(config.max_message_bytes)
        .max_frame_size(config.max_message_bytes)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| Connection::new(state, protocol, request_id, origin).run(socket))
}

/// The first subprotocol the client offers that we speak.
fn chosen_protocol(headers: &HeaderMap) -> Option<WebSocketProtocols> {
    headers
        .get(SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| p.trim().parse().ok())
}

/// A result of one operation's stream; `None` when the stream ended.
type OperationItem = (String, Option<OperationResult>);

/// A result run for this socket, or one serialised once for every socket sharing it.
enum OperationResult {
    Own(async_graphql::Response),
    Shared(SharedItem),
}

struct Connection {
    state: AppState,
    protocol: WebSocketProtocols,
    request_id: RequestId,
    origin: ClientOrigin,
    init_received: bool,
    acked: bool,
    viewer: Option<Viewer>,
    /// Running operations by client id; aborting the handle ends the stream silently.
    operations: HashMap<String, AbortHandle>,
    streams: SelectAll<BoxStream<'static, OperationItem>>,
    /// Set once authenticated: session revocations arrive here.
    events: Option<broadcast::Receiver<Arc<DomainEvent>>>,
    /// This socket's place in a connection count, held while it is open: its client
    /// address's while anonymous, its user's once authenticated.
    slot: Option<SocketSlot>,
    /// Opened while its address held its cap of anonymous sockets: only a token lets it in.
    over_address_cap: bool,
}

/// What the connection does after handling something.
enum Step {
    Continue,
    Send(Vec<String>),
    /// Send `before`, then close with this code and reason.
    Close {
        before: Vec<String>,
        code: u16,
        reason: String,
    },
}

impl Step {
    fn close(code: u16, reason: impl Into<String>) -> Self {
        Step::Close {
            before: Vec::new(),
            code,
            reason: reason.into(),
        }
    }
}

impl Connection {
    fn new(
        state: AppState,
        protocol: WebSocketProtocols,
        request_id: RequestId,
        origin: ClientOrigin,
    ) -> Self {
        Self {
            state,
            protocol,
            request_id,
            origin,
            init_received: false,
            acked: false,
            viewer: None,
            operations: HashMap::new(),
            streams: SelectAll::new(),
            events: None,
            slot: None,
            over_address_cap: false,
        }
    }

    /// Counts the new socket as anonymous for its client address (not at all when the
    /// address is unknown, as in router-level tests).
    fn count_as_anonymous(&mut self) {
        let Some(address) = self.origin.rate_subject() else {
            return;
        };
        let max = self
            .state
            .config
            .websocket
            .max_anonymous_connections_per_address;
        match self.state.sockets.try_open(Holder::Address(address), max) {
            Some(slot) => self.slot = Some(slot),
            None => self.over_address_cap = true,
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        self.count_as_anonymous();
        let config = self.state.config.websocket.clone();
        let init_deadline = tokio::time::sleep(Duration::from_secs(config.init_timeout_secs));
        tokio::pin!(init_deadline);
        let keepalive_every = Duration::from_secs(config.keepalive_secs.max(1));
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + keepalive_every, keepalive_every);
        // Armed when a viewer is set; until then it never fires.
        let mut token_expiry: Pin<Box<Sleep>> =
            Box::pin(tokio::time::sleep(Duration::from_secs(86_400 * 365)));

        loop {
            let step = tokio::select! {
                // Cancel-safe: a frame read in part stays buffered in the socket. Writes
                // happen below, outside the `select!`, so the socket is not split (no lock
                // between a read half and a write half on every wake-up).
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let expiry_before = self.viewer.as_ref().map(|v| v.token_expires_at);
                        // Boxed: handling a message (authentication, starting an operation)
                        // is a large future, and inline it would sit in every idle
                        // connection's task for the socket's whole life.
                        let step = Box::pin(self.on_text(text.as_str())).await;
                        // Set on init, moved by a re-authentication.
                        if let Some(viewer) = &self.viewer
                            && Some(viewer.token_expires_at) != expiry_before
                        {
                            token_expiry.as_mut().reset(instant_at(viewer.token_expires_at));
                        }
                        step
                    }
                    Some(Ok(Message::Binary(_))) => Step::close(close::INVALID_MESSAGE, "binary messages are not supported"),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Step::Continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                },
                Some((id, item)) = self.streams.next(), if !self.streams.is_empty() => self.on_result(id, item),
                () = &mut init_deadline, if !self.init_received => {
                    Step::close(close::INIT_TIMEOUT, "Connection initialisation timeout")
                }
                _ = keepalive.tick(), if self.acked && config.keepalive_secs > 0 => {
                    Step::Send(vec![protocol::keepalive(self.protocol)])
                }
                () = &mut token_expiry, if self.viewer.is_some() => {
                    Step::close(close::FORBIDDEN, "Token expired")
                }
                event = recv_event(&mut self.events), if self.events.is_some() => Box::pin(self.on_event(event)).await,
            };
            match step {
                Step::Continue => {}
                Step::Send(messages) => {
                    for message in messages {
                        if socket.send(Message::Text(message.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Step::Close {
                    before,
                    code,
                    reason,
                } => {
                    for message in before {
                        if socket.send(Message::Text(message.into())).await.is_err() {
                            return;
                        }
                    }
                    let frame = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
        }
        // Dropping `self.streams` ends every running operation.
    }

    async fn on_text(&mut self, text: &str) -> Step {
        let message = match protocol::parse(self.protocol, text) {
            Ok(message) => message,
            Err(reason) => return Step::close(close::INVALID_MESSAGE, reason),
        };
        match message {
            ClientMessage::Init(payload) => self.on_init(payload).await,
            ClientMessage::Ping(payload) => {
                // A ping carrying a token refreshes the socket's authentication.
                if self.viewer.is_some()
                    && let Some(token) = payload.as_ref().and_then(token_from_init_payload)
                    && let Some(refused) = self.reauthenticate(&token).await
                {
                    return refused;
                }
                Step::Send(vec![protocol::pong(payload)])
            }
            ClientMessage::Pong => Step::Continue,
            ClientMessage::Subscribe { id, payload } => self.on_subscribe(id, payload).await,
            ClientMessage::Complete { id } => {
                if let Some(handle) = self.operations.remove(&id) {
                    handle.abort();
                }
                Step::Continue
            }
            ClientMessage::Terminate => Step::close(1000, "terminated"),
        }
    }

    async fn on_init(&mut self, payload: Option<Json>) -> Step {
        let token = payload.as_ref().and_then(token_from_init_payload);
        if self.init_received {
            // The legacy protocol has no ping from the client: a repeated `connection_init`
            // with a fresh token is how its clients re-authenticate.
            if self.protocol == WebSocketProtocols::SubscriptionsTransportWS
                && self.viewer.is_some()
                && let Some(token) = token
            {
                return match self.reauthenticate(&token).await {
                    Some(refused) => refused,
                    None => Step::Send(vec![protocol::ack(self.protocol)]),
                };
            }
            return Step::close(close::TOO_MANY_INITS, "Too many initialisation requests");
        }
        self.init_received = true;
        if let Some(token) = token {
            match authenticate(&self.state.services, &token).await {
                Ok(viewer) => {
                    let max = self.state.config.websocket.max_connections_per_user;
                    let Some(slot) = self
                        .state
                        .sockets
                        .try_open(Holder::User(viewer.id().clone()), max)
                    else {
                        return self.refuse_init_with(
                            close::TOO_MANY_CONNECTIONS,
                            "Too many connections for this user",
                        );
                    };
                    // No longer anonymous: the address's slot is freed.
                    self.slot = Some(slot);
                    self.events = Some(self.state.services.events.subscribe());
                    self.viewer = Some(viewer);
                }
                Err(rejection) => return self.refuse_init(&rejection.message),
            }
        } else if self.over_address_cap {
            return self.refuse_init_with(
                close::TOO_MANY_CONNECTIONS,
                "Too many anonymous connections from this address",
            );
        }
        self.acked = true;
        Step::Send(vec![protocol::ack(self.protocol)])
    }

    /// Replaces the viewer with the one `token` authenticates, which must be the same user
    /// (a refreshed access token), so the socket outlives the old token's expiry. `None` when
    /// accepted; otherwise the close step (4403: invalid token or someone else's).
    async fn reauthenticate(&mut self, token: &str) -> Option<Step> {
        let current = self.viewer.as_ref()?.id().clone();
        match authenticate(&self.state.services, token).await {
            Ok(viewer) if viewer.id() == &current => {
                self.viewer = Some(viewer);
                None
            }
            Ok(_) => Some(Step::close(
                close::FORBIDDEN,
                "The token belongs to another user",
            )),
            Err(_) => Some(Step::close(close::FORBIDDEN, "Forbidden")),
        }
    }

    fn refuse_init_with(&self, code: u16, message: &str) -> Step {
        match self.protocol {
            WebSocketProtocols::SubscriptionsTransportWS => Step::Close {
                before: vec![protocol::connection_error(message)],
                code,
                reason: message.into(),
            },
            WebSocketProtocols::GraphQLWS => Step::close(code, message),
        }
    }

    fn refuse_init(&self, message: &str) -> Step {
        match self.protocol {
            // The legacy protocol reports the reason in a message before closing.
            WebSocketProtocols::SubscriptionsTransportWS => Step::Close {
                before: vec![protocol::connection_error(message)],
                code: close::FORBIDDEN,
                reason: "Forbidden".into(),
            },
            WebSocketProtocols::GraphQLWS => Step::close(close::FORBIDDEN, "Forbidden"),
        }
    }

    async fn on_subscribe(&mut self, id: String, payload: Map<String, Json>) -> Step {
        if !self.acked {
            return Step::close(close::UNAUTHORIZED, "Unauthorized");
        }
        if self.operations.contains_key(&id) {
            return Step::close(
                close::DUPLICATE_SUBSCRIBER,
                format!("Subscriber for {id} already exists"),
            );
        }
        if self.operations.len() >= self.state.config.websocket.max_subscriptions {
            let errors =
                protocol::error_list("too many operations on this connection", "LIMIT_EXCEEDED");
            return Step::Send(vec![protocol::error(self.protocol, &id, errors)]);
        }
        let (limiter, subject) = self.operation_start_subject();
        let counted = match subject {
            Some(subject) => limiter.check(Action::StartSubscription, &subject).await,
            None => Ok(()),
        };
        if let Err(err) = counted {
            return Step::Send(vec![protocol::error(
                self.protocol,
                &id,
                app_error_list(err),
            )]);
        }
        // Anonymous subscriptions with identical payloads share one execution.
        let share_key = if self.viewer.is_none() {
            shared::share_key(&payload)
        } else {
            None
        };
        let request = match super::graphql::request_from_json(payload) {
            Ok(request) => request,
            Err(rejection) => {
                let errors = protocol::error_list(&rejection.message, rejection.code);
                return Step::Send(vec![protocol::error(self.protocol, &id, errors)]);
            }
        };
        let request = graphql::prepare_request(
            request,
            &self.state.services,
            self.viewer.clone(),
            self.request_id.clone(),
            self.origin,
        );
        let (handle, registration) = AbortHandle::new_pair();
        let item_id = id.clone();
        let end_id = id.clone();
        let results: BoxStream<'static, OperationResult> = match share_key {
            Some(key) => {
                // Each socket pays for its own start; the execution itself is shared.
                let mut request = request;
                if let Err(refused) =
                    graphql::admit(&self.state.schema, &mut request, &self.request_id)
                {
                    let errors = serde_json::to_value(&refused.errors).unwrap_or_else(|_| {
                        protocol::error_list("internal server error", "INTERNAL_SERVER_ERROR")
                    });
                    return Step::Send(vec![protocol::error(self.protocol, &id, errors)]);
                }
                let (schema, request_id) = (self.state.schema.clone(), self.request_id.clone());
                let (shared, receiver) = self.state.shared.join(key, move || {
                    graphql::execute_admitted_stream(&schema, request, request_id)
                });
                shared_results(shared, receiver)
            }
            None => graphql::execute_stream(&self.state.schema, request, self.request_id.clone())
                .map(OperationResult::Own)
                .boxed(),
        };
        let stream = results
            .map(move |result| (item_id.clone(), Some(result)))
            .chain(futures_util::stream::once(async move { (end_id, None) }));
        self.streams
            .push(Abortable::new(stream, registration).boxed());
        self.operations.insert(id, handle);
        Step::Continue
    }

    /// Who an operation start is counted for: the viewer, or the client address when
    /// anonymous (`None` when even that is unknown). Reconnecting does not reset the count:
    /// it is not kept per socket. Returned with an owned limiter so the check does not hold
    /// a borrow of the connection (which is not `Sync`) across an await.
    fn operation_start_subject(&self) -> (RateLimiter, Option<String>) {
        let subject = match &self.viewer {
            Some(viewer) => Some(viewer.id().to_string()),
            None => self.origin.rate_subject(),
        };
        (self.state.services.rate_limits.clone(), subject)
    }

    fn on_result(&mut self, id: String, item: Option<OperationResult>) -> Step {
        if !self.operations.contains_key(&id) {
            return Step::Continue;
        }
        let item = match item {
            Some(OperationResult::Shared(shared)) => return self.on_shared_result(id, shared),
            Some(OperationResult::Own(response)) => Some(response),
            None => None,
        };
        match item {
            Some(response) if is_request_error(&response) => {
                if let Some(handle) = self.operations.remove(&id) {
                    handle.abort();
                }
                let errors = serde_json::to_value(&response.errors).unwrap_or_else(|_| {
                    protocol::error_list("internal server error", "INTERNAL_SERVER_ERROR")
                });
                Step::Send(vec![protocol::error(self.protocol, &id, errors)])
            }
            Some(response) => {
                let message = protocol::next(self.protocol, &id, &response);
                if message.len() > self.state.config.graphql.max_response_bytes {
                    return self.end_too_large(&id);
                }
                Step::Send(vec![message])
            }
            None => {
                self.operations.remove(&id);
                Step::Send(vec![protocol::complete(&id)])
            }
        }
    }

    /// Ends operation `id`, whose result is over `graphql.max_response_bytes`, with a coded
    /// error instead of the result, as HTTP answers one.
    fn end_too_large(&mut self, id: &str) -> Step {
        if let Some(handle) = self.operations.remove(id) {
            handle.abort();
        }
        let limit = self.state.config.graphql.max_response_bytes;
        tracing::warn!(request_id = %self.request_id.0, limit, "a result over graphql.max_response_bytes was refused");
        let errors = protocol::error_list(
            &super::graphql::too_large_message(limit),
            "RESPONSE_TOO_LARGE",
        );
        Step::Send(vec![protocol::error(self.protocol, id, errors)])
    }

    /// A shared result: the payload was serialised once for every socket; only the
    /// envelope is this socket's.
    fn on_shared_result(&mut self, id: String, item: SharedItem) -> Step {
        match item {
            SharedItem::Next(payload) => {
                if payload.len() > self.state.config.graphql.max_response_bytes {
                    return self.end_too_large(&id);
                }
                Step::Send(vec![protocol::next_raw(self.protocol, &id, &payload)])
            }
            SharedItem::Error(errors) => {
                if let Some(handle) = self.operations.remove(&id) {
                    handle.abort();
                }
                let errors = serde_json::from_str(&errors).unwrap_or_else(|_| {
                    protocol::error_list("internal server error", "INTERNAL_SERVER_ERROR")
                });
                Step::Send(vec![protocol::error(self.protocol, &id, errors)])
            }
            // The stream's own end follows and completes the operation.
            SharedItem::End => Step::Continue,
        }
    }

    /// Closes the socket when the viewer's session ends. After a lag the events that were
    /// skipped may have included a revocation, so the session is checked in the store.
    async fn on_event(&mut self, event: Result<Arc<DomainEvent>, RecvError>) -> Step {
        let Some(viewer) = &self.viewer else {
            return Step::Continue;
        };
        let ended = match event {
            Ok(event) => event.revokes(viewer.id(), &viewer.session_id),
            Err(RecvError::Lagged(_)) => {
                let sessions = self.state.services.sessions.clone();
                let session_id = viewer.session_id.clone();
                // A store hiccup is not proof the session ended; keep the socket.
                !sessions.session_is_live(&session_id).await.unwrap_or(true)
            }
            Err(RecvError::Closed) => {
                self.events = None;
                false
            }
        };
        if ended {
            Step::close(close::FORBIDDEN, "Session ended")
        } else {
            Step::Continue
        }
    }
}

/// An `AppError` as the `errors` list of an `error` message, with the same `code` (and
/// `retryAfter`) an HTTP response would carry. Internal causes are logged, never sent.
fn app_error_list(err: AppError) -> Json {
    if let AppError::Internal(cause) = &err {
        tracing::error!(cause, "internal error while starting a WebSocket operation");
    }
    let error = async_graphql::Error::from(err).into_server_error(async_graphql::Pos::default());
    serde_json::to_value([error])
        .unwrap_or_else(|_| protocol::error_list("internal server error", "INTERNAL_SERVER_ERROR"))
}

/// The results of a shared operation as this socket receives them, holding its share of the
/// operation while it runs. A socket that fell behind skips the payloads it missed (see
/// [`shared`]); an error or the operation's end ends the stream.
fn shared_results(
    shared: Arc<shared::SharedStream>,
    receiver: broadcast::Receiver<SharedItem>,
) -> BoxStream<'static, OperationResult> {
    futures_util::stream::unfold(Some((shared, receiver)), |state| async move {
        let (shared, mut receiver) = state?;
        loop {
            match receiver.recv().await {
                Ok(SharedItem::End) | Err(RecvError::Closed) => return None,
                Ok(item @ SharedItem::Error(_)) => {
                    return Some((OperationResult::Shared(item), None));
                }
                Ok(item) => {
                    return Some((OperationResult::Shared(item), Some((shared, receiver))));
                }
                Err(RecvError::Lagged(_)) => {}
            }
        }
    })
    .boxed()
}

async fn recv_event(
    events: &mut Option<broadcast::Receiver<Arc<DomainEvent>>>,
) -> Result<Arc<DomainEvent>, RecvError> {
    match events {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// The access token from a `connection_init` payload. Clients put it in different places:
/// `{ "authorization": "Bearer …" }` (Apollo, urql), `{ "Authorization": … }`,
/// `{ "headers": { "Authorization": … } }`, `{ "token": … }` or `{ "accessToken": … }`.
fn token_from_init_payload(payload: &Json) -> Option<String> {
    let field = |object: &Json, names: &[&str]| -> Option<String> {
        names
            .iter()
            .find_map(|name| object.get(*name).and_then(Json::as_str))
            .map(str::to_owned)
    };
    let raw = field(
        payload,
        &["authorization", "Authorization", "token", "accessToken"],
    )
    .or_else(|| {
        payload
            .get("headers")
            .and_then(|h| field(h, &["authorization", "Authorization"]))
    })?;
    let raw = raw.trim();
    let token = match raw.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => raw,
    };
    Some(token.to_owned())
}

fn instant_at(at: chrono::DateTime<chrono::Utc>) -> Instant {
    let remaining = (at - chrono::Utc::now()).to_std().unwrap_or_default();
    Instant::now() + remaining
}
