//! How many sockets each user has open on this instance, for
//! `websocket.max_connections_per_user`.
//!
//! A mutex-guarded map rather than anything cleverer: it is touched twice per authenticated
//! connection (open and close), never per message. The cap is per instance: each instance
//! behind a load balancer counts its own sockets, which bounds what one user can hold on any
//! one server without a store round trip per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::UserId;

#[derive(Clone, Default)]
pub struct SocketRegistry {
    /// Open sockets per user; a user with none has no entry.
    open: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// One counted socket; the count goes down when it is dropped.
pub struct SocketSlot {
    registry: SocketRegistry,
    user: UserId,
}

impl SocketRegistry {
    /// Counts one more socket of `user`, unless they already have `max`.
    pub fn try_open(&self, user: &UserId, max: usize) -> Option<SocketSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(user.clone()).or_default();
        if *count >= max {
            if *count == 0 {
                open.remove(user);
            }
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            registry: self.clone(),
            user: user.clone(),
        })
    }

    #[cfg(test)]
    fn count(&self, user: &UserId) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(user).copied().unwrap_or(0)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.registry.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
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
        let (ann, bob) = (UserId::generate(), UserId::generate());
        let first = registry.try_open(&ann, 2).expect("first");
        let _second = registry.try_open(&ann, 2).expect("second");
        assert!(registry.try_open(&ann, 2).is_none());
        assert!(registry.try_open(&bob, 2).is_some(), "counted per user");
        drop(first);
        assert_eq!(registry.count(&ann), 1);
        assert!(registry.try_open(&ann, 2).is_some());
        assert!(registry.try_open(&UserId::generate(), 0).is_none());
    }
}
