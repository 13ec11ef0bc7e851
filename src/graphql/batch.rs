//! Request-scoped batching of loads: every key asked for while the request's resolvers make
//! one pass is fetched in one store call.
//!
//! async-graphql's `DataLoader` batches by time: the first key starts a timer (1 ms by
//! default) and the batch runs when it fires. A long delay adds itself to every nesting level
//! of every request; a short one splits batches when a level has many items (or the build is
//! unoptimised), and round trips then grow with the page size.
//!
//! This batcher needs no timer. All resolvers of one request run in one task, and the fields
//! of a level are polled in one pass (`join_all` / `FuturesUnordered`). The first key of a
//! batch makes its caller the batch's leader; the leader yields once (`yield_now`, whose
//! wake tokio defers until the task's poll has returned), which lets the rest of the pass
//! add their keys, and on its next poll
//! closes the batch, calls the loader and hands the result to every waiting caller. So a
//! level of a query costs one call per loader whatever the page size, and no request waits
//! on a clock. Keys that arrive after the batch closed start the next batch.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::Loader;
use futures_util::FutureExt;
use futures_util::future::Shared;
use tokio::sync::oneshot;

type BatchResult<K, V, E> = Result<Arc<HashMap<K, V>>, E>;
type Outcome<K, V, E> = Shared<oneshot::Receiver<BatchResult<K, V, E>>>;

type OpenSlot<K, V, E> = Mutex<Option<Open<K, V, E>>>;

/// The batch collecting keys now.
struct Open<K, V, E> {
    keys: Vec<K>,
    outcome: Outcome<K, V, E>,
}

pub struct Batcher<K, L: Loader<K>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
{
    loader: L,
    /// The batch collecting keys now, if any. A plain mutex: held only to push keys or take
    /// the batch, never across an await.
    open: OpenSlot<K, L::Value, L::Error>,
}

impl<K, L> Batcher<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
    L::Error: Clone + Sync,
{
    pub fn new(loader: L) -> Self {
        Self {
            loader,
            open: Mutex::new(None),
        }
    }

    pub async fn load_one(&self, key: K) -> Result<Option<L::Value>, L::Error> {
        let found = self.load(std::slice::from_ref(&key)).await?;
        Ok(found.get(&key).cloned())
    }

    /// [`Batcher::load_one`] for an optional relation: nothing without a key.
    pub async fn load_opt(&self, key: Option<&K>) -> Result<Option<L::Value>, L::Error> {
        match key {
            Some(key) => self.load_one(key.clone()).await,
            None => Ok(None),
        }
    }

    /// The values of `keys`, in the order of `keys`, leaving out those not found.
    pub async fn load_in_order(&self, keys: &[K]) -> Result<Vec<L::Value>, L::Error> {
        let found = self.load_many(keys.iter().cloned()).await?;
        Ok(keys.iter().filter_map(|k| found.get(k).cloned()).collect())
    }

    pub async fn load_many(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<HashMap<K, L::Value>, L::Error> {
        let keys: Vec<K> = keys.into_iter().collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let found = self.load(&keys).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| found.get(&k).cloned().map(|v| (k, v)))
            .collect())
    }

    async fn load(&self, keys: &[K]) -> Result<Arc<HashMap<K, L::Value>>, L::Error> {
        let (outcome, leader) = {
            let mut open = lock(&self.open);
            match open.as_mut() {
                Some(batch) => {
                    batch.keys.extend_from_slice(keys);
                    (batch.outcome.clone(), None)
                }
                None => {
                    let (sender, receiver) = oneshot::channel();
                    let outcome = receiver.shared();
                    *open = Some(Open {
                        keys: keys.to_vec(),
                        outcome: outcome.clone(),
                    });
                    (outcome, Some(sender))
                }
            }
        };
        if let Some(sender) = leader {
            // tokio defers this wake until the task's current poll has returned, so the
            // leader is polled again only after the whole pass, whatever combinator
            // (`join_all`, `FuturesUnordered`) drives the siblings.
            tokio::task::yield_now().await;
            let mut keys = lock(&self.open).take().map(|b| b.keys).unwrap_or_default();
            let mut seen = std::collections::HashSet::with_capacity(keys.len());
            keys.retain(|k| seen.insert(k.clone()));
            let result = self.loader.load(&keys).await.map(Arc::new);
            let _ = sender.send(result);
        }
        match outcome.await {
            Ok(result) => result,
            // The leader was dropped (its request was cancelled) before the batch ran: load
            // these keys directly.
            Err(_) => self.loader.load(keys).await.map(Arc::new),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Doubler(Arc<AtomicUsize>);

    impl Loader<u32> for Doubler {
        type Value = u32;
        type Error = ();

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u32>, ()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(keys.iter().map(|k| (*k, k * 2)).collect())
        }
    }

    #[tokio::test]
    async fn siblings_polled_in_one_pass_share_one_load() {
        let calls = Arc::new(AtomicUsize::new(0));
        let batcher = Batcher::new(Doubler(Arc::clone(&calls)));
        let results = futures_util::future::join_all((0..500).map(|k| batcher.load_one(k))).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(results[7], Ok(Some(14)));
    }

    #[tokio::test]
    async fn a_later_pass_gets_a_new_batch() {
        let calls = Arc::new(AtomicUsize::new(0));
        let batcher = Batcher::new(Doubler(Arc::clone(&calls)));
        assert_eq!(batcher.load_one(1).await, Ok(Some(2)));
        let many = batcher.load_many([1, 2, 2, 3]).await.unwrap();
        assert_eq!(many.len(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
