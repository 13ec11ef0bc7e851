//! Starting the real app for tests: a fresh store, port 0, real HTTP and WebSocket clients.

use agora::app::{App, Core};
use agora::config::Config;
use agora::mail::Delivered;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::mailbox::Mail;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub core: Core,
    pub data_dir: tempfile::TempDir,
    /// Deliveries announced by the app's mail worker since start-up, for [`TestApp::mail_to`].
    mail: Mutex<MailWatch>,
    _shutdown: oneshot::Sender<()>,
}

struct MailWatch {
    announcements: broadcast::Receiver<Delivered>,
    /// Announced but not yet returned by `mail_to`, in delivery order.
    unread: Vec<Delivered>,
}

/// The app on a fresh SQLite store.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    // Server logs (masked errors' causes included) go to the failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("agora=warn")
        .with_test_writer()
        .try_init();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.http.bind = "127.0.0.1:0".parse().unwrap();
    config.store.data_dir = data_dir.path().to_owned();
    config.auth.jwt_secret = Some(JWT_SECRET.into());
    configure(&mut config);
    let app = App::build(config).await.expect("the app starts");
    let port = app.port();
    let core = app.core().clone();
    // Subscribed before the server runs, so no delivery can be missed.
    let announcements = core.mail.subscribe();
    let (shutdown, stop) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stop.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
        core,
        data_dir,
        mail: Mutex::new(MailWatch {
            announcements,
            unread: Vec::new(),
        }),
        _shutdown: shutdown,
    }
}

/// A registered user's credentials.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    /// POSTs a GraphQL request and returns the status and JSON body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// POSTs and expects `data` without errors.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// POSTs and returns the first error's `extensions.code` (and the whole body).
    pub async fn error_code(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (String, Value) {
        let (_, body) = self.post(token, query, variables).await;
        let code = body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code: {body}"))
            .to_owned();
        (code, body)
    }

    pub async fn register(&self, username: &str) -> Account {
        self.register_as(username, "BUYER").await
    }

    pub async fn register_as(&self, username: &str, role: &str) -> Account {
        let email = format!("{username}@example.com");
        let password = format!("{username}-secret-pw");
        let data = self
            .data(
                None,
                "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken user { id } } }",
                json!({ "input": { "email": email, "password": password, "username": username, "displayName": username, "role": role } }),
            )
            .await;
        Account {
            id: data["register"]["user"]["id"].as_str().unwrap().to_owned(),
            email,
            password,
            access: data["register"]["accessToken"].as_str().unwrap().to_owned(),
            refresh: data["register"]["refreshToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        }
    }

    /// A seller whose email is verified the way a person verifies it: through the link in
    /// the mail sent at registration. (Unverified sellers may not publish listings.)
    pub async fn seller(&self, username: &str) -> Account {
        let account = self.register_as(username, "SELLER").await;
        let token = self
            .mail_to(&account.email, "Confirm your email address")
            .await
            .token_in_link("verify-email");
        let verified = self
            .data(
                None,
                "mutation($t: String!) { verifyEmail(token: $t) }",
                json!({ "t": token }),
            )
            .await;
        assert_eq!(verified["verifyEmail"], true);
        account
    }

    /// An admin made the way operators make one: through the `create-admin` use case.
    pub async fn admin(&self) -> Account {
        use agora::domain::{DisplayName, Email, NewPassword, Username};
        let password = "admin-secret-pw";
        self.core
            .services
            .admin
            .create_admin(
                Email::parse("root@example.com").unwrap(),
                Username::parse("root").unwrap(),
                DisplayName::parse("Root").unwrap(),
                Some(&NewPassword::parse("password", password).unwrap()),
            )
            .await
            .expect("admin created");
        self.login("root@example.com", password).await
    }

    /// Runs the binary's `create-admin --email <email> --password-stdin` on this app's data
    /// directory, typing `password` on its standard input, and returns how it ended.
    pub fn create_admin_command(&self, email: &str, password: &str) -> std::process::Output {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
            .args(["create-admin", "--email", email, "--password-stdin"])
            .env("APP__STORE__DATA_DIR", self.data_dir.path())
            .env("APP__AUTH__JWT_SECRET", JWT_SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(format!("{password}\n").as_bytes())
            .expect("the password is typed");
        child.wait_with_output().expect("the command ends")
    }

    pub async fn login(&self, email: &str, password: &str) -> Account {
        let data = self
            .data(
                None,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken user { id } } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        Account {
            id: data["login"]["user"]["id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            access: data["login"]["accessToken"].as_str().unwrap().to_owned(),
            refresh: data["login"]["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// The first mail delivered to `to` whose subject contains `subject` that no earlier
    /// call returned, read from the `.eml` file the default (file) mailer wrote. Waits for
    /// the worker's delivery announcements, not for time; bounded so a lost mail fails the
    /// test.
    pub async fn mail_to(&self, to: &str, subject: &str) -> Mail {
        let mut watch = self.mail.lock().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = watch.unread.iter().enumerate().find_map(|(index, d)| {
                let mail = (d.to == to).then(|| Mail::read(&self.eml_path(d)))?;
                mail.subject.contains(subject).then_some((index, mail))
            });
            if let Some((index, mail)) = found {
                watch.unread.remove(index);
                return mail;
            }
            let next = tokio::time::timeout_at(deadline, watch.announcements.recv())
                .await
                .unwrap_or_else(|_| panic!("no mail to {to} about {subject:?} within 10 s"))
                .expect("the mail worker announces every delivery");
            watch.unread.push(next);
        }
    }

    /// Where the file mailer wrote a delivered message.
    pub fn eml_path(&self, delivered: &Delivered) -> std::path::PathBuf {
        self.data_dir
            .path()
            .join("outbox")
            .join(format!("{}.eml", delivered.id))
    }

    /// Everything delivered so far, to anyone, that `mail_to` has not returned; waits for
    /// nothing.
    pub async fn delivered_so_far(&self) -> Vec<Delivered> {
        let mut watch = self.mail.lock().await;
        while let Ok(next) = watch.announcements.try_recv() {
            watch.unread.push(next);
        }
        watch.unread.clone()
    }

    /// Opens a WebSocket on `/graphql/ws` with the given subprotocol.
    pub async fn ws(&self, protocol: &str) -> WsClient {
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", self.port)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (stream, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol)
        );
        WsClient { stream }
    }
}

pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What the server sent next: a JSON message or a close frame.
#[derive(Debug)]
pub enum WsEvent {
    Json(Value),
    Closed(u16, String),
}

impl WsClient {
    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("sent");
    }

    /// The next message the server sends, skipping keep-alives. Bounded so a broken server
    /// fails the test instead of hanging it.
    pub async fn next(&mut self) -> WsEvent {
        loop {
            let frame =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.stream.next())
                    .await
                    .expect("the server answers within 10 s");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if matches!(value["type"].as_str(), Some("ka" | "ping")) {
                        continue;
                    }
                    return WsEvent::Json(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(WsEvent::Closed(1005, String::new()), |f| {
                        WsEvent::Closed(f.code.into(), f.reason.to_string())
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return WsEvent::Closed(1006, String::new()),
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        match self.next().await {
            WsEvent::Json(value) => value,
            WsEvent::Closed(code, reason) => panic!("closed {code} {reason}, expected a message"),
        }
    }

    pub async fn expect_close(&mut self) -> (u16, String) {
        match self.next().await {
            WsEvent::Closed(code, reason) => (code, reason),
            WsEvent::Json(value) => panic!("expected a close, got {value}"),
        }
    }

    /// `connection_init` (with an optional token) and the `connection_ack`.
    pub async fn init(&mut self, token: Option<&str>) {
        let payload = token.map_or(
            json!({}),
            |t| json!({ "authorization": format!("Bearer {t}") }),
        );
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = self.next_json().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }
}

/// The configuration of an app whose store round trips are counted: no rate limits (they
/// are store writes too), room for the many unpaid orders the setups place, and no polling of the event log (the test's app is its store's only
/// writer, and its own publishes wake the tail at once), so the background adds as little as
/// it can to the counter.
pub fn counting_config(config: &mut agora::config::Config) {
    config.rate_limits.enabled = false;
    config.orders.max_unpaid_orders = 100;
    config.store.event_log_poll_ms = 60_000;
}

/// Store round trips of one GraphQL request by the holder of `token`, run straight through
/// the schema so that authentication (once per request, before GraphQL) is not counted: the
/// fewest of three runs, each started once the store has been quiet for a moment. The app's
/// background tasks (the event-log tail, the notifier working off the events the test's setup
/// caused, MongoDB's change stream) share the counter and can only add to a run, never take
/// from it, so the minimum over quiet starts is the request's own cost. Returns it with the
/// data of the last run; an error in the response fails the test.
pub async fn round_trips_of(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
) -> (u64, Value) {
    let mut fewest = u64::MAX;
    let mut data = Value::Null;
    for _ in 0..3 {
        store_quiet(app).await;
        let viewer = app
            .core
            .services
            .sessions
            .authenticate(token)
            .await
            .unwrap();
        let request = agora::graphql::prepare_request(
            async_graphql::Request::new(query)
                .variables(async_graphql::Variables::from_json(variables.clone())),
            &app.core.services,
            Some(viewer),
            agora::graphql::RequestId("round-trips".into()),
            agora::service::ClientOrigin::default(),
        );
        let before = app.core.stores.round_trips.count();
        let response = app.core.schema.execute(request).await;
        let after = app.core.stores.round_trips.count();
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        fewest = fewest.min(after - before);
        data = response.data.into_json().unwrap();
    }
    (fewest, data)
}

/// Checks that one list request cost the same store round trips at each of three page sizes
/// (`counts`, also printed for the record) and at most `most`.
pub fn assert_round_trips_constant(list: &str, sizes: [i64; 3], counts: [u64; 3], most: u64) {
    let [a, b, c] = sizes;
    println!("{list} round trips for first {a}, {b}, {c}: {counts:?}");
    assert_eq!(counts[0], counts[1], "{counts:?}");
    assert_eq!(counts[1], counts[2], "{counts:?}");
    assert!(
        counts[0] <= most,
        "the {list} took {} round trips",
        counts[0]
    );
}

/// A counting app (see [`counting_config`]) on MongoDB in a fresh database at
/// `TEST_MONGODB_URI`. The tests that use it are `#[ignore]`d, so a plain `cargo test` skips
/// them; asked for without the variable, they fail here rather than pass having tested nothing.
pub async fn counting_app_on_mongodb() -> MongoApp {
    let uri = std::env::var("TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "TEST_MONGODB_URI is not set: this test needs a MongoDB server \
                 (see README, Testing); without one, run plain `cargo test`, which skips it"
            )
        });
    let database = format!("agora_api_{}", uuid::Uuid::now_v7().simple());
    let app = spawn_app_with(|config| {
        counting_config(config);
        config.store.mongodb_uri = Some(uri.clone());
        config.store.mongodb_database = database.clone();
    })
    .await;
    MongoApp { app, uri, database }
}

/// An app on its own MongoDB database; [`MongoApp::drop_database`] removes the database.
pub struct MongoApp {
    pub app: TestApp,
    uri: String,
    database: String,
}

impl MongoApp {
    pub async fn drop_database(self) {
        if let Ok(client) = mongodb::Client::with_uri_str(&self.uri).await {
            let _ = client.database(&self.database).drop().await;
        }
    }
}

/// Waits until no store round trip happened for 100 ms (at most 5 s).
pub async fn store_quiet(app: &TestApp) {
    let counter = &app.core.stores.round_trips;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut last = counter.count();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = counter.count();
        if now == last || std::time::Instant::now() >= deadline {
            return;
        }
        last = now;
    }
}

// Steps tests take on the way to what they test, over GraphQL as a client would.

// Posts and the social graph.

/// A text post by `who`; its id.
pub async fn create_post(app: &TestApp, who: &Account, body: &str) -> String {
    app.data(
        Some(&who.access),
        "mutation($b: String!) { createPost(input: { body: $b }) { id } }",
        json!({ "b": body }),
    )
    .await["createPost"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `who` follows `whom`.
pub async fn follow(app: &TestApp, who: &Account, whom: &Account) {
    edge_to(app, who, "follow", whom).await;
}

/// `who` blocks `whom`.
pub async fn block(app: &TestApp, who: &Account, whom: &Account) {
    edge_to(app, who, "block", whom).await;
}

/// `who` runs `mutation($u: ID!) { <mutation>(userId: $u) { id } }` on `whom`.
async fn edge_to(app: &TestApp, who: &Account, mutation: &str, whom: &Account) {
    app.data(
        Some(&who.access),
        &format!("mutation($u: ID!) {{ {mutation}(userId: $u) {{ id }} }}"),
        json!({ "u": whom.id }),
    )
    .await;
}

// Chat.

pub const OPEN_CHAT: &str = "mutation($u: ID!, $l: ID) { openChat(userId: $u, listingId: $l) {
    id kind title members { username } listing { title } unreadCount lastMessage { body } } }";

pub const SEND_MESSAGE: &str =
    "mutation($r: ID!, $b: String!) { sendMessage(roomId: $r, body: $b) {
    id body cursor author { username } room { id } } }";

/// Opens (or finds) the direct room of `who` and `with`; its id.
pub async fn open_chat(app: &TestApp, who: &Account, with: &Account) -> String {
    app.data(Some(&who.access), OPEN_CHAT, json!({ "u": with.id }))
        .await["openChat"]["id"]
        .as_str()
        .expect("a room id")
        .to_owned()
}

/// `who` sends `body` to `room`; the message.
pub async fn send_message(app: &TestApp, who: &Account, room: &str, body: &str) -> Value {
    app.data(
        Some(&who.access),
        SEND_MESSAGE,
        json!({ "r": room, "b": body }),
    )
    .await["sendMessage"]
        .clone()
}

// Marketplace.

pub const ORDER_FIELDS: &str = "id number status total { amount currency } nextStatuses
    items { title quantity unitPrice { amount } lineTotal { amount } post { id } }
    buyer { username } seller { username } payment { cardLast4 status }
    statusHistory { status by { username } } shippingAddress { city }";

/// A listing of `seller`'s at `price` KZT with `stock` units; its id.
pub async fn listing(app: &TestApp, seller: &Account, price: &str, stock: i64) -> String {
    app.data(
        Some(&seller.access),
        "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }",
        json!({ "i": { "kind": "LISTING", "title": "Canon EOS R", "body": "Mirrorless camera",
            "listing": { "price": { "amount": price, "currency": "KZT" }, "stock": stock } } }),
    )
    .await["createPost"]["id"]
        .as_str()
        .expect("a post id")
        .to_owned()
}

/// A new shipping address of `who`; its id.
pub async fn address(app: &TestApp, who: &Account) -> String {
    app.data(
        Some(&who.access),
        "mutation($i: AddressInput!) { addAddress(input: $i) { id } }",
        json!({ "i": { "recipient": "Ann Example", "phone": "+77011234567",
            "line1": "1 Abay Avenue", "city": "Almaty", "postalCode": "050000", "country": "KZ" } }),
    )
    .await["addAddress"]["id"]
    .as_str()
    .expect("an address id")
    .to_owned()
}

/// A new payment card of `who` with the card `number`; its id.
pub async fn card(app: &TestApp, who: &Account, number: &str) -> String {
    app.data(
        Some(&who.access),
        "mutation($i: CardInput!) { addPaymentCard(input: $i) { id } }",
        json!({ "i": { "number": number, "expMonth": 12, "expYear": 2031 } }),
    )
    .await["addPaymentCard"]["id"]
        .as_str()
        .expect("a card id")
        .to_owned()
}

/// Adds `quantity` of `post` to `who`'s cart; the cart.
pub async fn add_to_cart(app: &TestApp, who: &Account, post: &str, quantity: i64) -> Value {
    app.data(
        Some(&who.access),
        "mutation($p: ID!, $q: Int) { addToCart(postId: $p, quantity: $q) {
            items { quantity available lineTotal { amount } post { id } } subtotal { amount currency } itemCount } }",
        json!({ "p": post, "q": quantity }),
    )
    .await["addToCart"]
    .clone()
}

pub const CHECKOUT: &str = "mutation($a: ID!, $k: String!) {
    checkout(input: { addressId: $a, idempotencyKey: $k, note: \"ring twice\" }) { id status } }";

/// Carts `quantity` of `post` and checks out; returns the one order's id.
pub async fn buy(app: &TestApp, buyer: &Account, post: &str, quantity: i64, key: &str) -> String {
    add_to_cart(app, buyer, post, quantity).await;
    let address = address(app, buyer).await;
    let orders = app
        .data(
            Some(&buyer.access),
            CHECKOUT,
            json!({ "a": address, "k": key }),
        )
        .await["checkout"]
        .clone();
    assert_eq!(orders.as_array().map(Vec::len), Some(1), "{orders}");
    orders[0]["id"].as_str().unwrap().to_owned()
}

/// The order `id` as `who` sees it, with [`ORDER_FIELDS`].
pub async fn order(app: &TestApp, who: &Account, id: &str) -> Value {
    app.data(
        Some(&who.access),
        &format!("query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await["order"]
        .clone()
}

pub const MOVE: &str = "mutation($o: ID!, $s: OrderStatus!) { updateOrderStatus(orderId: $o, status: $s) { status nextStatuses } }";

pub const PAY: &str = "mutation($o: ID!, $c: ID!) { payOrder(orderId: $o, cardId: $c) { status payment { cardLast4 status } } }";

/// `who` moves `order` to `status`.
pub async fn move_to(app: &TestApp, who: &Account, order: &str, status: &str) -> Value {
    app.data(Some(&who.access), MOVE, json!({ "o": order, "s": status }))
        .await["updateOrderStatus"]
        .clone()
}

/// The stock and status of the listing `post`.
pub async fn stock(app: &TestApp, post: &str) -> Value {
    app.data(
        None,
        "query($id: ID!) { post(id: $id) { listing { stock status } } }",
        json!({ "id": post }),
    )
    .await["post"]["listing"]
        .clone()
}

// Subscriptions.

pub const MESSAGE_ADDED: &str =
    "subscription($r: ID!, $a: String) { messageAdded(roomId: $r, after: $a) {
    body cursor author { username } } }";

pub const NOTIFICATION_ADDED: &str = "subscription($a: String) {
    notificationAdded(after: $a) { id kind cursor actor { username } post { body }
    message { body } readAt } }";

pub const NOTIFICATIONS: &str = "query($u: Boolean, $n: Int, $a: String) {
    notifications(unreadOnly: $u, first: $n, after: $a) {
    edges { cursor node { id kind actor { username } post { body } message { body } readAt } }
    pageInfo { hasNextPage } } unreadNotificationsCount }";

/// A socket (anonymous without `who`) with `query` running as operation `id`. The query
/// answered on the same socket afterwards proves the subscription has started: operations
/// start in order, and a subscription listens to the bus before it does anything else.
pub async fn subscribed(
    app: &TestApp,
    who: Option<&Account>,
    id: &str,
    query: &str,
    variables: Value,
) -> WsClient {
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(who.map(|w| w.access.as_str())).await;
    ws.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
        .await;
    ws.send(
        json!({ "id": "ready", "type": "subscribe", "payload": { "query": "{ viewer { id } }" } }),
    )
    .await;
    assert_eq!(ws.next_json().await["id"], "ready");
    assert_eq!(
        ws.next_json().await,
        json!({ "type": "complete", "id": "ready" })
    );
    ws
}

/// [`subscribed`] on the legacy `graphql-ws` protocol: a socket of `who` with `payload` (the
/// query and its variables) started as operation "1", returned once a query started after it
/// (operation "2") has answered.
pub async fn subscribed_legacy(app: &TestApp, who: &Account, payload: Value) -> WsClient {
    let mut ws = app.ws("graphql-ws").await;
    ws.init(Some(&who.access)).await;
    ws.send(json!({ "id": "1", "type": "start", "payload": payload }))
        .await;
    ws.send(json!({ "id": "2", "type": "start", "payload": { "query": "{ viewer { id } }" } }))
        .await;
    assert_eq!(ws.next_json().await["type"], "data");
    assert_eq!(
        ws.next_json().await,
        json!({ "type": "complete", "id": "2" })
    );
    ws
}

/// The payload of the next `next` message of operation `id`.
pub async fn next_payload(ws: &mut WsClient, id: &str) -> Value {
    let message = ws.next_json().await;
    assert_eq!(
        (message["type"].as_str(), message["id"].as_str()),
        (Some("next"), Some(id)),
        "{message}"
    );
    message["payload"].clone()
}

/// The body of the `messageAdded` message next pushed for operation `id`.
pub async fn next_body(ws: &mut WsClient, id: &str) -> String {
    let payload = next_payload(ws, id).await;
    payload["data"]["messageAdded"]["body"]
        .as_str()
        .unwrap_or_else(|| panic!("a message: {payload}"))
        .to_owned()
}

/// The code of the error an operation ended with (sent as `next` with errors, or `error`).
pub async fn error_code(ws: &mut WsClient, id: &str) -> String {
    let message = ws.next_json().await;
    assert_eq!(message["id"], id, "{message}");
    let errors = match message["type"].as_str() {
        Some("next") => message["payload"]["errors"].clone(),
        Some("error") => message["payload"].clone(),
        _ => panic!("expected an error: {message}"),
    };
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A socket of `who` subscribed to `notificationAdded` (after `after`) as operation "n".
/// Without `after`, it returns once the subscription is listening; with it, the replay may
/// come at once, so it returns right after subscribing.
pub async fn listening(app: &TestApp, who: &Account, after: Option<&str>) -> WsClient {
    if after.is_none() {
        return subscribed(app, Some(who), "n", NOTIFICATION_ADDED, json!({})).await;
    }
    let mut ws = app.ws("graphql-transport-ws").await;
    ws.init(Some(&who.access)).await;
    ws.send(json!({ "id": "n", "type": "subscribe",
        "payload": { "query": NOTIFICATION_ADDED, "variables": { "a": after } } }))
        .await;
    ws
}

/// The next notification pushed on `ws` (subscribed by [`listening`]).
pub async fn next_notification(ws: &mut WsClient) -> Value {
    next_payload(ws, "n").await["data"]["notificationAdded"].clone()
}

/// A notification's kind and its actor's username.
pub fn kind_and_actor(n: &Value) -> (String, String) {
    (
        n["kind"].as_str().unwrap_or_default().to_owned(),
        n["actor"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

// Assertions.

/// `__schema` answers nothing and validation errors suggest no field names.
pub async fn assert_introspection_and_suggestions_are_off(app: &TestApp) {
    let (_, body) = app
        .post(None, "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        body["errors"].is_array() || body["data"]["__schema"].is_null(),
        "{body}"
    );
    let (_, body) = app.post(None, "{ viewr { id } }", json!({})).await;
    assert!(
        !body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean"),
        "{body}"
    );
}
