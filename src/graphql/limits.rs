//! A cap on how many fields and aliases one document may select.
//!
//! async-graphql's depth and complexity limits do not count `__typename`, so a document of
//! a million `a1: __typename` aliases passes them and still costs a million resolutions and
//! a huge response. This hook counts every selected field (fragments expanded, so a small
//! document that spreads a fragment many times is counted at its real size) right after
//! parsing, before any validation or execution work (see `graphql::execute`).

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensionValues, Name, Positioned, ServerError};

/// The caps, kept as schema data so every transport applies the same ones.
#[derive(Debug, Clone, Copy)]
pub(super) struct SelectionLimits {
    pub max_fields: usize,
    pub max_aliases: usize,
}

impl SelectionLimits {
    /// Refuses a document that selects too many fields or aliases.
    pub fn check(&self, document: &ExecutableDocument) -> Result<(), ServerError> {
        let counts = count_document(document);
        if counts.fields > self.max_fields {
            return Err(limit_error(format!(
                "the query selects {} fields; the limit is {}",
                counts.fields, self.max_fields
            )));
        }
        if counts.aliases > self.max_aliases {
            return Err(limit_error(format!(
                "the query uses {} aliases; the limit is {}",
                counts.aliases, self.max_aliases
            )));
        }
        Ok(())
    }
}

fn limit_error(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "GRAPHQL_VALIDATION_FAILED");
    error.extensions = Some(extensions);
    error
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    fields: usize,
    aliases: usize,
}

impl Counts {
    fn add(self, other: Counts) -> Counts {
        Counts {
            fields: self.fields.saturating_add(other.fields),
            aliases: self.aliases.saturating_add(other.aliases),
        }
    }
}

/// Counts the largest operation of the document (only one runs, but which one depends on
/// `operationName`, and the cap should not depend on it).
fn count_document(document: &ExecutableDocument) -> Counts {
    let mut counter = Counter {
        fragments: &document.fragments,
        memo: HashMap::new(),
        visiting: Vec::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, op)| counter.selection_set(&op.node.selection_set.node))
        .fold(Counts::default(), |a, b| Counts {
            fields: a.fields.max(b.fields),
            aliases: a.aliases.max(b.aliases),
        })
}

struct Counter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    /// Each fragment is counted once, so the walk is linear in the document's size even when
    /// fragments spread each other exponentially often.
    memo: HashMap<&'a str, Counts>,
    /// Fragments being counted, to stop on cycles (validation rejects those later).
    visiting: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Counts {
        set.items.iter().fold(Counts::default(), |total, item| {
            total.add(match &item.node {
                Selection::Field(field) => {
                    let own = Counts {
                        fields: 1,
                        aliases: usize::from(field.node.alias.is_some()),
                    };
                    own.add(self.selection_set(&field.node.selection_set.node))
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())
                }
            })
        })
    }

    fn fragment(&mut self, name: &'a str) -> Counts {
        if let Some(counts) = self.memo.get(name) {
            return *counts;
        }
        if self.visiting.contains(&name) {
            return Counts::default();
        }
        let Some(definition) = self.fragments.get(name) else {
            return Counts::default();
        };
        self.visiting.push(name);
        let counts = self.selection_set(&definition.node.selection_set.node);
        self.visiting.pop();
        self.memo.insert(name, counts);
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(query: &str) -> Counts {
        count_document(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn typename_aliases_are_counted() {
        let query = format!(
            "{{ {} }}",
            (0..50)
                .map(|i| format!("a{i}: __typename"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(
            counts(&query),
            Counts {
                fields: 50,
                aliases: 50
            }
        );
    }

    #[test]
    fn fragments_are_counted_at_their_expanded_size() {
        let query =
            "query { ...A ...A } fragment A on Query { ...B ...B } fragment B on Query { x y }";
        assert_eq!(counts(query).fields, 8);
    }

    #[test]
    fn exponential_fragment_spreads_saturate_instead_of_hanging() {
        let mut query = String::from("query { ...F0 }");
        for i in 0..80 {
            query.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        query.push_str(" fragment F80 on Query { x }");
        assert_eq!(counts(&query).fields, usize::MAX);
    }

    #[test]
    fn cyclic_fragments_terminate() {
        assert_eq!(
            counts("query { ...A } fragment A on Query { x ...A }").fields,
            1
        );
    }
}
