//! Parsed operations by their text, so a client sending the same query again (every app does:
//! its operations are fixed strings) skips the parser and the selection caps.
//!
//! Parsing is about 5 % of the CPU of a feed request (async-graphql's parser is pest-based);
//! cloning a parsed document costs a fraction of that. The cache holds documents that parsed
//! and passed [`super::limits::SelectionLimits`] only, so a hit needs no further checks.
//! Memory is bounded twice: at most [`DocumentCache::CAPACITY`] entries, and only texts up to
//! [`DocumentCache::MAX_TEXT_BYTES`] are kept, so a client sending endless distinct
//! queries cannot grow it past a few MiB. When full, an arbitrary entry makes room: a simple
//! policy that still keeps a hot set resident, since hot texts come back and are re-inserted.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;

#[derive(Default)]
pub struct DocumentCache {
    /// Guarded by a plain mutex: lookups are a hash and a clone, held for microseconds.
    entries: Mutex<HashMap<String, ExecutableDocument>>,
}

impl DocumentCache {
    pub const CAPACITY: usize = 256;
    pub const MAX_TEXT_BYTES: usize = 8 * 1024;

    pub fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.entries().get(query).cloned()
    }

    pub fn insert(&self, query: &str, document: &ExecutableDocument) {
        if query.len() > Self::MAX_TEXT_BYTES {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= Self::CAPACITY
            && !entries.contains_key(query)
            && let Some(victim) = entries.keys().next().cloned()
        {
            entries.remove(&victim);
        }
        entries.insert(query.to_owned(), document.clone());
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecutableDocument>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(query).expect("valid query")
    }

    #[test]
    fn a_cached_document_comes_back_for_the_same_text_only() {
        let cache = DocumentCache::default();
        cache.insert("{ a }", &parse("{ a }"));
        assert!(cache.get("{ a }").is_some());
        assert!(cache.get("{ b }").is_none());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity_nor_oversized_texts() {
        let cache = DocumentCache::default();
        for i in 0..DocumentCache::CAPACITY + 10 {
            let query = format!("{{ f{i} }}");
            cache.insert(&query, &parse(&query));
        }
        assert_eq!(cache.entries().len(), DocumentCache::CAPACITY);
        let huge = format!("{{ a{} }}", " ".repeat(DocumentCache::MAX_TEXT_BYTES));
        cache.insert(&huge, &parse(&huge));
        assert!(cache.get(&huge).is_none());
    }
}
