//! Keyset cursors, a store contract: the position after which a list continues.
//!
//! A cursor is `"{key}:{id}"`: the sort key of the last item the client saw (a time in
//! milliseconds, a number in its list, a price in scaled units) and its id, which breaks
//! ties. Both adapters page by exactly these keys, so the format lives here, beside them; the
//! GraphQL layer only makes it opaque (base64url) and back.

use std::fmt::Display;

/// An item of a keyset-paged list that knows its own position in it.
pub trait Keyed {
    /// The cursor a page continues after when this item was the last one seen.
    fn cursor(&self) -> String;
}

/// An item listed with what it leads to (a favorite and its post, a follow edge and its
/// user) is where the item is.
impl<K: Keyed, V> Keyed for (K, V) {
    fn cursor(&self) -> String {
        self.0.cursor()
    }
}

/// The cursor of an item with sort key `key` and id `id`.
pub fn keyset(key: i64, id: impl Display) -> String {
    format!("{key}:{id}")
}

/// Splits a cursor made by [`keyset`] into its sort key and id. Anything else is `None`,
/// which every list treats as "from the start": a client holding a stale or mangled cursor
/// gets the first page rather than an error.
pub fn split(cursor: Option<&str>) -> Option<(i64, String)> {
    let (number, id) = cursor?.split_once(':')?;
    Some((number.parse().ok()?, id.to_owned()))
}

/// The number in the cursor of a numbered list (a room's messages, a recipient's
/// notifications: [`keyset`] of the item's `seq` and id), where a subscription resumes.
/// Numbers start at 1 (0 is "before the first"), so anything else, a negative number
/// included, is `None`: unlike a page, a resumed subscription has no "from the start" to fall
/// back to, and its caller refuses the cursor.
pub fn seq(cursor: &str) -> Option<i64> {
    split(Some(cursor))
        .map(|(seq, _)| seq)
        .filter(|seq| *seq >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyset_splits_back_and_anything_else_is_the_start() {
        assert_eq!(
            split(Some(&keyset(1_767_225_600_123, "abc"))),
            Some((1_767_225_600_123, "abc".to_owned()))
        );
        for garbage in ["", "abc", "x:abc", ":abc", "12"] {
            assert_eq!(split(Some(garbage)), None, "{garbage}");
        }
        assert_eq!(split(None), None);
    }

    #[test]
    fn a_numbered_cursor_gives_its_number_and_nothing_else_does() {
        assert_eq!(seq(&keyset(42, "abc")), Some(42));
        assert_eq!(seq(&keyset(0, "abc")), Some(0));
        for garbage in ["x:abc", "-1:abc", "42", ""] {
            assert_eq!(seq(garbage), None, "{garbage}");
        }
    }
}
