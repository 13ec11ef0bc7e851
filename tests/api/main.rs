//! API tests: the real app on port 0 with a temporary store, real HTTP and WebSocket
//! clients, no sleeps.

mod accounts;
mod auth_tokens;
mod blocks;
mod chat;
mod chat_round_trips;
mod chat_subscriptions;
mod email;
mod helpers;
mod http_edge;
mod instances;
mod mailbox;
mod marketplace;
mod marketplace_round_trips;
mod marketplace_rules;
mod marketplace_subscriptions;
mod notification_coalescing;
mod notification_round_trips;
mod notifications;
mod outbox;
mod post_subscriptions;
mod posts;
mod rate_limits;
mod round_trips;
mod schema;
mod social;
mod socket_lifecycle;
mod websocket;
