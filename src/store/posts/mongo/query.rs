//! Post lists in MongoDB terms: the filter of a [`PostQuery`], the keyset of each
//! [`PostOrder`], and the text search. Mirrors `query_sql` and the cursor handling of the
//! SQLite adapter clause by clause; a difference between the two is a bug.

use mongodb::bson::{self, Bson, Document, doc};

use crate::domain::{ListingStatus, UserId};
use crate::store::mongo::{id_strs, to_bson_time};
use crate::store::posts::{PostOrder, PostQuery, search_words};
use crate::store::{StoreError, StoreResult};

/// A filter under construction. Conditions on one field merge into one operator document
/// (`{ price: { $exists: true, $gte: 10 } }`) and each group of alternatives becomes one
/// `$or`, so the result is a flat document: the form the query planner and the stand-in
/// servers both handle best, and the one that reads like the query it is.
#[derive(Debug, Default)]
pub(super) struct Filter {
    text: Option<String>,
    fields: Vec<(&'static str, Vec<(&'static str, Bson)>)>,
    alternatives: Vec<Vec<Document>>,
}

impl Filter {
    pub(super) fn eq(&mut self, field: &'static str, value: impl Into<Bson>) -> &mut Self {
        self.op(field, "$eq", value)
    }

    /// Adds `{ field: { operator: value } }`.
    pub(super) fn op(
        &mut self,
        field: &'static str,
        operator: &'static str,
        value: impl Into<Bson>,
    ) -> &mut Self {
        let condition = (operator, value.into());
        match self.fields.iter_mut().find(|(name, _)| *name == field) {
            Some((_, conditions)) => conditions.push(condition),
            None => self.fields.push((field, vec![condition])),
        }
        self
    }

    /// Requires at least one of `alternatives` to match.
    pub(super) fn any_of(&mut self, alternatives: Vec<Document>) -> &mut Self {
        self.alternatives.push(alternatives);
        self
    }

    /// Pages after `cursor` (already split) in `order`: strictly past the key, or at the key
    /// and past the id, which is the row-value comparison `(key, id) < (k, i)` SQLite uses.
    pub(super) fn after(&mut self, order: PostOrder, cursor: Option<(i64, String)>) -> &mut Self {
        if let Some((number, id)) = cursor {
            let key = OrderKey::of(order);
            let past = if key.descending { "$lt" } else { "$gt" };
            let value = key.value(number);
            self.any_of(vec![
                doc! { key.field: { past: value.clone() } },
                doc! { key.field: value, "_id": { past: id } },
            ]);
        }
        self
    }

    pub(super) fn into_document(self) -> Document {
        let mut filter = Document::new();
        if let Some(search) = self.text {
            filter.insert("$text", doc! { "$search": search });
        }
        for (field, conditions) in self.fields {
            let value = match conditions.as_slice() {
                [("$eq", value)] => value.clone(),
                _ => Bson::Document(
                    conditions
                        .into_iter()
                        .map(|(op, value)| (op.to_owned(), value))
                        .collect(),
                ),
            };
            filter.insert(field, value);
        }
        let mut alternatives: Vec<Document> = self
            .alternatives
            .into_iter()
            .map(|any| doc! { "$or": any })
            .collect();
        match alternatives.len() {
            0 => {}
            1 => filter.extend(alternatives.remove(0)),
            _ => {
                filter.insert("$and", alternatives);
            }
        }
        filter
    }
}

/// The field a list is sorted by, and which way.
pub(super) struct OrderKey {
    pub(super) field: &'static str,
    pub(super) descending: bool,
}

impl OrderKey {
    pub(super) fn of(order: PostOrder) -> Self {
        let (field, descending) = match order {
            PostOrder::Newest => ("created_at", true),
            PostOrder::PriceAsc => ("price", false),
            PostOrder::PriceDesc => ("price", true),
            PostOrder::Rating => ("verified_rating_avg", true),
        };
        OrderKey { field, descending }
    }

    /// The stored form of a cursor's number: a datetime for `created_at` (the cursor holds
    /// milliseconds), an Int64 otherwise.
    fn value(&self, number: i64) -> Bson {
        match self.field {
            "created_at" => Bson::DateTime(bson::DateTime::from_millis(number)),
            _ => Bson::Int64(number),
        }
    }

    /// The sort: the key, then `_id` the same way, so ties have one order and the cursor's id
    /// says exactly where the page ended.
    pub(super) fn sort(&self) -> Document {
        let direction = if self.descending { -1 } else { 1 };
        doc! { self.field: direction, "_id": direction }
    }
}

/// Whether the server could build the text index `PostQuery::text` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextSearch {
    Available,
    Unavailable,
}

/// Posts that are listed: not deleted, not a draft (except, with `drafts_of`, the owner's).
/// A missing `status` (a text post) is not `"DRAFT"`, like SQLite's `status IS NULL`.
pub(super) fn visible(filter: &mut Filter, drafts_of: Option<&UserId>) {
    filter.eq("deleted_at", Bson::Null);
    let draft = ListingStatus::Draft.as_str();
    match drafts_of {
        Some(owner) => {
            filter.any_of(vec![
                doc! { "status": { "$ne": draft } },
                doc! { "author_id": owner.as_str() },
            ]);
        }
        None => {
            filter.op("status", "$ne", draft);
        }
    }
}

/// The filter of a post query, as SQLite's `query_sql` builds its WHERE clause.
pub(super) fn post_filter(query: &PostQuery, text_search: TextSearch) -> StoreResult<Filter> {
    let mut filter = Filter::default();
    visible(&mut filter, query.drafts_of.as_ref());
    if let Some(text) = query.text.as_deref() {
        if text_search == TextSearch::Unavailable {
            return Err(StoreError::Unsupported(
                "text search is unavailable on this server: its database could not build the \
                 text index on posts",
            ));
        }
        match text_query(text) {
            Some(search) => filter.text = Some(search),
            // No word to look for matches nothing, as in SQLite.
            None => {
                filter.op("_id", "$in", Bson::Array(Vec::new()));
            }
        }
    }
    if !query.authors.is_empty() {
        filter.op("author_id", "$in", id_strs(&query.authors));
    }
    if let Some(author) = &query.author_id {
        filter.eq("author_id", author.as_str());
    }
    if let Some(kind) = query.kind {
        filter.eq("kind", kind.as_str());
    }
    if let Some(tag) = &query.tag {
        filter.eq("tags", tag.to_lowercase());
    }
    if !query.category_ids.is_empty() {
        filter.op("category_id", "$in", id_strs(&query.category_ids));
    }
    if let Some(min) = query.price_min {
        filter.op("price", "$gte", min);
    }
    if let Some(max) = query.price_max {
        filter.op("price", "$lte", max);
    }
    if let Some(status) = query.status {
        filter.eq("status", status.as_str());
    }
    match query.in_stock {
        Some(true) => {
            filter.op("stock", "$gt", 0_i64);
        }
        Some(false) => {
            filter.eq("stock", 0_i64);
        }
        None => {}
    }
    if let Some(after) = query.created_after {
        filter.op("created_at", "$gte", to_bson_time(after));
    }
    if let Some(before) = query.created_before {
        filter.op("created_at", "$lt", to_bson_time(before));
    }
    if !query.exclude_authors.is_empty() {
        filter.op("author_id", "$nin", id_strs(&query.exclude_authors));
    }
    Ok(filter)
}

/// The `$search` string that needs every word of `text`: each word as a quoted phrase, which
/// MongoDB combines with AND (unquoted terms would be OR). Words are alphanumeric runs, so a
/// quote or a `-` in the input cannot reach the search syntax. `None` when there is no word.
fn text_query(text: &str) -> Option<String> {
    let phrases: Vec<String> = search_words(text)
        .iter()
        .map(|word| format!("\"{word}\""))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_becomes_a_quoted_phrase_and_operators_stay_out() {
        assert_eq!(
            text_query("CANON camera").as_deref(),
            Some("\"canon\" \"camera\"")
        );
        assert_eq!(
            text_query("\"; DROP -lens").as_deref(),
            Some("\"drop\" \"lens\"")
        );
        assert_eq!(text_query(" -- \"\" "), None);
    }

    #[test]
    fn conditions_on_one_field_merge_and_a_single_equality_stays_plain() {
        let mut filter = Filter::default();
        filter
            .eq("deleted_at", Bson::Null)
            .op("price", "$exists", true)
            .op("price", "$gte", 10_i64)
            .eq("author_id", "ann")
            .op("author_id", "$nin", vec!["bob"]);
        assert_eq!(
            filter.into_document(),
            doc! {
                "deleted_at": null,
                "price": { "$exists": true, "$gte": 10_i64 },
                "author_id": { "$eq": "ann", "$nin": ["bob"] },
            }
        );
    }

    #[test]
    fn the_keyset_follows_the_order_direction_and_two_groups_of_alternatives_are_anded() {
        let mut filter = Filter::default();
        visible(&mut filter, Some(&UserId::from_trusted("ann".into())));
        filter.after(PostOrder::PriceAsc, Some((500, "p1".into())));
        assert_eq!(
            filter.into_document(),
            doc! {
                "deleted_at": null,
                "$and": [
                    { "$or": [{ "status": { "$ne": "DRAFT" } }, { "author_id": "ann" }] },
                    { "$or": [
                        { "price": { "$gt": 500_i64 } },
                        { "price": 500_i64, "_id": { "$gt": "p1" } },
                    ] },
                ],
            }
        );
        let mut newest = Filter::default();
        newest.after(PostOrder::Newest, Some((1_000, "p2".into())));
        let at = bson::DateTime::from_millis(1_000);
        assert_eq!(
            newest.into_document(),
            doc! { "$or": [
                { "created_at": { "$lt": at } },
                { "created_at": at, "_id": { "$lt": "p2" } },
            ] }
        );
    }
}
