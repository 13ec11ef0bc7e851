//! How many sockets each user, and each client address for its anonymous sockets, has open
//! on this instance, for `websocket.max_connections_per_user` and
//! `websocket.max_anonymous_connections_per_address`.
//!
//! A mutex-guarded map rather than anything cleverer: it is touched a few times per
//! connection (open, authentication, close), never per message. The caps are per instance:
//! each instance behind a load balancer counts its own sockets, which bounds what one client
//! can hold on any one server without a store round trip per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::UserId;

#[derive(Clone, Default)]
pub struct SocketRegistry {
    /// Open sockets per holder; a holder with none has no entry.
    open: Arc<Mutex<HashMap<Holder, usize>>>,
}

/// Whose count a socket is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Holder {
    /// An authenticated socket, counted for its user.
    User(UserId),
    /// An anonymous socket (not yet initialised, or initialised without a token), counted
    /// for its client address as the per-address rate limits name it
    /// ([`crate::service::ClientOrigin::rate_subject`]).
    Address(String),
}

/// One counted socket; the count goes down when it is dropped.
pub struct SocketSlot {
    registry: SocketRegistry,
    holder: Holder,
}

impl SocketRegistry {
    /// Counts one more socket of `holder`, unless it already has `max`.
    pub fn try_open(&self, holder: Holder, max: usize) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(holder.clone()).or_default();
        if *count >= max {
            if *count == 0 {
                open.remove(&holder);
            }
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            registry: self.clone(),
            holder,
        })
    }

    #[cfg(test)]
    fn count(&self, holder: &Holder) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(holder).copied().unwrap_or(0)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.registry.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.holder) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_max_sockets_and_closing_one_frees_a_slot() {
        let registry = SocketRegistry::default();
        let ann = Holder::User(UserId::generate());
        let bob = Holder::User(UserId::generate());
        let first = registry.try_open(ann.clone(), 2).expect("first");
        let _second = registry.try_open(ann.clone(), 2).expect("second");
        assert!(registry.try_open(ann.clone(), 2).is_none());
        assert!(registry.try_open(bob, 2).is_some(), "counted per user");
        drop(first);
        assert_eq!(registry.count(&ann), 1);
        assert!(registry.try_open(ann, 2).is_some());
        assert!(
            registry
                .try_open(Holder::User(UserId::generate()), 0)
                .is_none()
        );
    }

    #[test]
    fn an_address_and_a_user_are_counted_apart() {
        let registry = SocketRegistry::default();
        let address = Holder::Address("192.0.2.7".into());
        let _anonymous = registry.try_open(address.clone(), 1).expect("first");
        assert!(registry.try_open(address.clone(), 1).is_none());
        assert!(
            registry
                .try_open(Holder::User(UserId::generate()), 1)
                .is_some()
        );
        assert!(
            registry
                .try_open(Holder::Address("192.0.2.8".into()), 1)
                .is_some()
        );
        assert_eq!(registry.count(&address), 1);
    }
}
