//! The two GraphQL-over-WebSocket protocols, as messages.
//!
//! - `graphql-transport-ws` (the `graphql-ws` library, PROTOCOL.md): `connection_init`,
//!   `ping`/`pong`, `subscribe`, `complete` from the client; `connection_ack`, `ping`/`pong`,
//!   `next`, `error`, `complete` from the server.
//! - legacy `graphql-ws` (Apollo's `subscriptions-transport-ws`): `connection_init`,
//!   `start`, `stop`, `connection_terminate`; `connection_ack`, `connection_error`, `ka`,
//!   `data`, `error`, `complete`.
//!
//! Both map onto one [`ClientMessage`] so the connection logic is written once.

use async_graphql::http::WebSocketProtocols;
use serde_json::{Map, Value as Json, json};

/// Close codes from graphql-ws PROTOCOL.md, used for both protocols.
pub mod close {
    pub const INVALID_MESSAGE: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const DUPLICATE_SUBSCRIBER: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    /// Also 4429 ("too many requests"), with its own reason: the user already holds
    /// `websocket.max_connections_per_user` sockets, or the client address its
    /// `websocket.max_anonymous_connections_per_address` anonymous ones.
    pub const TOO_MANY_CONNECTIONS: u16 = 4429;
}

#[derive(Debug, PartialEq)]
pub enum ClientMessage {
    Init(Option<Json>),
    Ping(Option<Json>),
    Pong,
    Subscribe {
        id: String,
        payload: Map<String, Json>,
    },
    Complete {
        id: String,
    },
    /// Legacy `connection_terminate`.
    Terminate,
}

/// Parses one text frame; the error is the close reason for 4400.
pub fn parse(protocol: WebSocketProtocols, text: &str) -> Result<ClientMessage, String> {
    let Ok(Json::Object(mut message)) = serde_json::from_str::<Json>(text) else {
        return Err("messages must be JSON objects".into());
    };
    let kind = match message.remove("type") {
        Some(Json::String(kind)) => kind,
        _ => return Err("the message has no `type`".into()),
    };
    let payload = message.remove("payload").filter(|p| !p.is_null());
    let id = || match message.get("id") {
        Some(Json::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(format!("`{kind}` needs a non-empty string `id`")),
    };
    let subscribe = |payload: Option<Json>| match payload {
        Some(Json::Object(payload)) => Ok(ClientMessage::Subscribe { id: id()?, payload }),
        _ => Err(format!("`{kind}` needs an object `payload`")),
    };
    let transport_ws = protocol == WebSocketProtocols::GraphQLWS;
    match kind.as_str() {
        "connection_init" => Ok(ClientMessage::Init(payload)),
        "ping" if transport_ws => Ok(ClientMessage::Ping(payload)),
        "pong" if transport_ws => Ok(ClientMessage::Pong),
        "subscribe" if transport_ws => subscribe(payload),
        "complete" if transport_ws => Ok(ClientMessage::Complete { id: id()? }),
        "start" if !transport_ws => subscribe(payload),
        "stop" if !transport_ws => Ok(ClientMessage::Complete { id: id()? }),
        "connection_terminate" if !transport_ws => Ok(ClientMessage::Terminate),
        other => Err(format!("unknown message type `{other}`")),
    }
}

pub fn ack(_protocol: WebSocketProtocols) -> String {
    json!({ "type": "connection_ack" }).to_string()
}

pub fn pong(payload: Option<Json>) -> String {
    match payload {
        Some(payload) => json!({ "type": "pong", "payload": payload }),
        None => json!({ "type": "pong" }),
    }
    .to_string()
}

/// The server's keep-alive: `ping` (the client answers `pong`) or legacy `ka`.
pub fn keepalive(protocol: WebSocketProtocols) -> String {
    match protocol {
        WebSocketProtocols::GraphQLWS => json!({ "type": "ping" }),
        WebSocketProtocols::SubscriptionsTransportWS => json!({ "type": "ka" }),
    }
    .to_string()
}

/// One result of an operation.
pub fn next(protocol: WebSocketProtocols, id: &str, payload: &async_graphql::Response) -> String {
    let kind = match protocol {
        WebSocketProtocols::GraphQLWS => "next",
        WebSocketProtocols::SubscriptionsTransportWS => "data",
    };
    json!({ "type": kind, "id": id, "payload": payload }).to_string()
}

/// One result whose payload is already JSON (shared by several sockets): only the envelope
/// is built here, with no JSON serialisation of the payload.
pub fn next_raw(protocol: WebSocketProtocols, id: &str, payload_json: &str) -> String {
    let kind = match protocol {
        WebSocketProtocols::GraphQLWS => "next",
        WebSocketProtocols::SubscriptionsTransportWS => "data",
    };
    let id = Json::String(id.to_owned()).to_string();
    let mut message = String::with_capacity(payload_json.len() + id.len() + 40);
    message.push_str(r#"{"type":""#);
    message.push_str(kind);
    message.push_str(r#"","id":"#);
    message.push_str(&id);
    message.push_str(r#","payload":"#);
    message.push_str(payload_json);
    message.push('}');
    message
}

/// The operation failed before it produced a result (it did not parse or validate, or it
/// was refused). `graphql-transport-ws` sends the error list; the legacy protocol sends one
/// error object.
pub fn error(protocol: WebSocketProtocols, id: &str, errors: Json) -> String {
    let payload = match (protocol, errors) {
        (WebSocketProtocols::SubscriptionsTransportWS, Json::Array(mut list))
            if !list.is_empty() =>
        {
            list.swap_remove(0)
        }
        (_, errors) => errors,
    };
    json!({ "type": "error", "id": id, "payload": payload }).to_string()
}

pub fn complete(id: &str) -> String {
    json!({ "type": "complete", "id": id }).to_string()
}

/// Legacy protocol only: why `connection_init` was refused.
pub fn connection_error(message: &str) -> String {
    json!({ "type": "connection_error", "payload": { "message": message } }).to_string()
}

/// One GraphQL error in the JSON shape clients expect.
pub fn error_list(message: &str, code: &str) -> Json {
    json!([{ "message": message, "extensions": { "code": code } }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use WebSocketProtocols::{GraphQLWS, SubscriptionsTransportWS};

    #[test]
    fn both_protocols_parse_to_the_same_messages() {
        let sub = r#"{"type":"subscribe","id":"1","payload":{"query":"{a}"}}"#;
        let start = r#"{"type":"start","id":"1","payload":{"query":"{a}"}}"#;
        assert_eq!(
            parse(GraphQLWS, sub).unwrap(),
            parse(SubscriptionsTransportWS, start).unwrap()
        );
        assert_eq!(
            parse(SubscriptionsTransportWS, r#"{"type":"stop","id":"1"}"#).unwrap(),
            ClientMessage::Complete { id: "1".into() }
        );
    }

    #[test]
    fn a_shared_payload_gets_the_same_envelope_as_a_serialised_response() {
        let response = async_graphql::Response::new(
            async_graphql::Value::from_json(serde_json::json!({ "postUpdated": { "id": "p\"1" } }))
                .unwrap(),
        );
        let payload = serde_json::to_string(&response).unwrap();
        for protocol in [GraphQLWS, SubscriptionsTransportWS] {
            let raw: Json =
                serde_json::from_str(&next_raw(protocol, "op \"1\"", &payload)).unwrap();
            let built: Json = serde_json::from_str(&next(protocol, "op \"1\"", &response)).unwrap();
            assert_eq!(raw, built);
        }
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        assert!(parse(GraphQLWS, "nope").is_err());
        assert!(parse(GraphQLWS, r#"{"id":"1"}"#).is_err());
        assert!(parse(GraphQLWS, r#"{"type":"subscribe","payload":{}}"#).is_err());
        assert!(parse(GraphQLWS, r#"{"type":"subscribe","id":"1"}"#).is_err());
        assert!(parse(GraphQLWS, r#"{"type":"start","id":"1","payload":{}}"#).is_err());
        assert!(
            parse(
                SubscriptionsTransportWS,
                r#"{"type":"subscribe","id":"1","payload":{}}"#
            )
            .is_err()
        );
    }
}
