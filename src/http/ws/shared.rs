//! Shared executions of anonymous subscriptions: many sockets running the same subscription
//! with the same variables and no viewer get the same payloads, so the GraphQL pipeline runs
//! once for all of them and each payload is serialised once.
//!
//! The first socket to subscribe starts a driver task that runs the operation and sends each
//! result, already serialised to JSON, into a `broadcast` channel; later sockets with the same
//! operation text, variables and operation name join that channel. A socket only wraps the
//! shared payload in its own message envelope (its operation id and the protocol's message
//! type): a string concatenation, no JSON work. The driver stops when the last socket leaves.
//!
//! Slow consumers: the channel keeps [`SHARED_BUFFER`] payloads. The driver never waits for a
//! socket; each socket writes at its own pace and one that falls further behind skips the
//! oldest payloads and continues with the newest. That suits what is shared — state streams
//! such as `postUpdated`, where the latest payload supersedes the earlier ones — and a stalled
//! client costs the others nothing.
//!
//! Only anonymous subscriptions are shared: a viewer's results may depend on who they are
//! (`viewerReaction`, visibility), so those run per socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::parser::types::{DocumentOperations, OperationType};
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use serde_json::{Map, Value as Json};
use tokio::sync::broadcast;

use crate::graphql::is_request_error;

/// Payloads a joined socket may fall behind before it skips the oldest.
pub const SHARED_BUFFER: usize = 64;

/// One result of a shared operation, serialised once.
#[derive(Clone, Debug)]
pub enum SharedItem {
    /// A result's JSON (`{"data":…}`), the payload of a `next`/`data` message.
    Next(Arc<str>),
    /// The operation was refused (the errors list as JSON); it ends.
    Error(Arc<str>),
    /// The operation ended.
    End,
}

/// The running shared operations of this instance, by key.
#[derive(Clone, Default)]
pub struct SharedSubscriptions {
    running: Arc<Mutex<HashMap<String, Weak<SharedStream>>>>,
}

/// One running shared operation; its driver stops when the last handle is dropped.
pub struct SharedStream {
    sender: broadcast::Sender<SharedItem>,
    driver: AbortHandle,
    finished: Arc<AtomicBool>,
    key: String,
    hub: SharedSubscriptions,
}

impl Drop for SharedStream {
    fn drop(&mut self) {
        self.driver.abort();
        let mut running = self.hub.running.lock().unwrap_or_else(|p| p.into_inner());
        if running
            .get(&self.key)
            .is_some_and(|weak| weak.strong_count() == 0)
        {
            running.remove(&self.key);
        }
    }
}

/// The key under which an operation is shared: its whole payload (query text, variables,
/// operation name, extensions) as JSON. `None` for anything but a subscription, since a
/// query or mutation answers once and a late joiner would miss the answer.
pub fn share_key(payload: &Map<String, Json>) -> Option<String> {
    let query = payload.get("query")?.as_str()?;
    let operation_name = payload.get("operationName").and_then(Json::as_str);
    let document = async_graphql::parser::parse_query(query).ok()?;
    let is_subscription = match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Subscription,
        DocumentOperations::Multiple(ops) => {
            let op = match operation_name {
                Some(name) => ops
                    .iter()
                    .find(|(n, _)| n.as_str() == name)
                    .map(|(_, op)| op),
                None if ops.len() == 1 => ops.values().next(),
                None => None,
            }?;
            op.node.ty == OperationType::Subscription
        }
    };
    if !is_subscription {
        return None;
    }
    serde_json::to_string(payload).ok()
}

impl SharedSubscriptions {
    /// Joins the running operation under `key`, or starts it with `start` (called at most
    /// once, only when nothing runs under the key). The receiver gets every result sent from
    /// now on; keep the handle while receiving.
    pub fn join(
        &self,
        key: String,
        start: impl FnOnce() -> BoxStream<'static, async_graphql::Response>,
    ) -> (Arc<SharedStream>, broadcast::Receiver<SharedItem>) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        // A finished operation's handle is dropped only after the lock is released: dropping
        // the last handle takes the lock too.
        let mut finished_one = None;
        if let Some(existing) = running.get(&key).and_then(Weak::upgrade) {
            if !existing.finished.load(Ordering::Acquire) {
                let receiver = existing.sender.subscribe();
                return (existing, receiver);
            }
            finished_one = Some(existing);
        }
        let (sender, receiver) = broadcast::channel(SHARED_BUFFER);
        let (driver, registration) = AbortHandle::new_pair();
        let finished = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(SharedStream {
            sender: sender.clone(),
            driver,
            finished: finished.clone(),
            key: key.clone(),
            hub: self.clone(),
        });
        running.insert(key, Arc::downgrade(&shared));
        drop(running);
        drop(finished_one);
        let mut task = Box::pin(Abortable::new(
            drive(start(), sender, finished),
            registration,
        ));
        // Polled once here, in the subscribing socket's task, so the operation has started
        // (a subscription listens to the bus from its first poll) before the socket handles
        // its next message; then it runs on its own.
        if (&mut task).now_or_never().is_none() {
            tokio::spawn(task);
        }
        (shared, receiver)
    }
}

/// Runs the operation and broadcasts each result, serialised once.
async fn drive(
    mut stream: BoxStream<'static, async_graphql::Response>,
    sender: broadcast::Sender<SharedItem>,
    finished: Arc<AtomicBool>,
) {
    while let Some(response) = stream.next().await {
        if is_request_error(&response) {
            let errors = serde_json::to_string(&response.errors).unwrap_or_else(|_| {
                r#"[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]"#.into()
            });
            finished.store(true, Ordering::Release);
            let _ = sender.send(SharedItem::Error(errors.into()));
            return;
        }
        match serde_json::to_string(&response) {
            Ok(payload) => {
                let _ = sender.send(SharedItem::Next(payload.into()));
            }
            Err(err) => tracing::error!(%err, "cannot serialise a shared subscription result"),
        }
    }
    finished.store(true, Ordering::Release);
    let _ = sender.send(SharedItem::End);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(query: &str) -> Map<String, Json> {
        let Json::Object(map) = serde_json::json!({ "query": query, "variables": { "p": "1" } })
        else {
            unreachable!()
        };
        map
    }

    #[test]
    fn only_subscriptions_are_shared_and_the_key_covers_the_variables() {
        assert!(share_key(&payload("subscription { postUpdated(postId: $p) { id } }")).is_some());
        assert!(share_key(&payload("{ viewer { id } }")).is_none());
        assert!(share_key(&payload("mutation { logout }")).is_none());
        assert!(share_key(&payload("not graphql")).is_none());
        let mut other = payload("subscription { postUpdated(postId: $p) { id } }");
        other.insert("variables".into(), serde_json::json!({ "p": "2" }));
        assert_ne!(
            share_key(&other),
            share_key(&payload("subscription { postUpdated(postId: $p) { id } }"))
        );
    }
}
