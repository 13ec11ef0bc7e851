//! API tests: the real app on port 0 with a temporary store, real HTTP and WebSocket
//! clients, no sleeps.

mod account_safety;
mod accounts;
mod auth_tokens;
mod blocks;
mod chat;
mod chat_round_trips;
mod chat_subscriptions;
mod connections;
mod data_dir;
mod email;
mod helpers;
mod http_edge;
mod http_responses;
mod instances;
mod mailbox;
mod malformed;
mod marketplace;
mod marketplace_round_trips;
mod marketplace_rules;
mod marketplace_subscriptions;
mod marketplace_trust;
mod notification_coalescing;
mod notification_round_trips;
mod notifications;
mod outbox;
mod post_subscriptions;
mod posts;
mod query_cost;
mod rate_limits;
mod round_trips;
mod schema;
mod social;
mod socket_lifecycle;
mod websocket;
