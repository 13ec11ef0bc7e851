//! Agora: a GraphQL API for a social marketplace.

pub mod config;
pub mod domain;
pub mod store;
