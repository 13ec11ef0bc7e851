//! Agora: a GraphQL API for a social marketplace.
//!
//! Layers, outermost first: `http` (axum routes, auth extraction, WebSocket) → `graphql`
//! (schema, resolvers, loaders) → `service` (use cases) → `store` (one trait per area, SQLite
//! and MongoDB adapters) → `domain` (pure types and rules). `app` wires them together.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod service;
pub mod store;

pub use app::App;
