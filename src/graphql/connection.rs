//! Relay connection arguments and cursors.
//!
//! Cursors are opaque to clients: base64url of the sort key the store pages by. They stay
//! valid while rows are inserted or deleted, because paging is by key, never by offset.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{ObjectType, OutputType};

use crate::error::AppError;
use crate::store::{Keyed, Page, PageRequest};

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// Checks `first` (0–100, default 20) and decodes `after`.
pub fn page_request(first: Option<i32>, after: Option<String>) -> Result<PageRequest, AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(AppError::bad_input(
            "first",
            format!("must be between 0 and {MAX_PAGE_SIZE}"),
        ));
    }
    let after = after.map(|cursor| decode_cursor(&cursor)).transpose()?;
    Ok(PageRequest {
        after,
        limit: first as usize,
    })
}

/// The opaque cursor of an item of a keyset-paged list (its format is the store's).
pub fn cursor_of(item: &impl Keyed) -> String {
    encode_cursor(&item.cursor())
}

/// The connection answering `request` with `page` of a keyset-paged list: an edge per item,
/// with its cursor, its node made by `node`, and `fields` (a `totalCount`, say) beside the
/// edges.
pub fn connection_of<T, N, E>(
    request: &PageRequest,
    page: Page<T>,
    fields: E,
    node: impl Fn(T) -> N,
) -> Connection<String, N, E, EmptyFields>
where
    T: Keyed,
    N: OutputType,
    E: ObjectType,
{
    let previous = request.after.is_some();
    let mut connection = Connection::with_additional_fields(previous, page.has_next, fields);
    let edges = page.items.into_iter();
    connection
        .edges
        .extend(edges.map(|item| Edge::new(cursor_of(&item), node(item))));
    connection
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The sort key inside an opaque cursor; `BAD_USER_INPUT` on `after` when it is not one.
pub fn decode_cursor(cursor: &str) -> Result<String, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| AppError::bad_input("after", "is not a valid cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_bounded_and_defaulted() {
        assert_eq!(page_request(None, None).unwrap().limit, 20);
        assert_eq!(page_request(Some(100), None).unwrap().limit, 100);
        assert!(
            matches!(page_request(Some(101), None), Err(AppError::BadUserInput { field, .. }) if field == "first")
        );
        assert!(page_request(Some(-1), None).is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_bad_input() {
        let cursor = encode_cursor("ann");
        assert_eq!(
            page_request(None, Some(cursor)).unwrap().after.as_deref(),
            Some("ann")
        );
        assert!(
            matches!(page_request(None, Some("%%%".into())), Err(AppError::BadUserInput { field, .. }) if field == "after")
        );
    }
}
