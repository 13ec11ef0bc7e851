use std::fmt;

use serde::{Deserialize, Serialize};

/// A typed id, parsed from what a client sent: 1 to 64 ASCII letters, digits, `-` or `_`.
/// What parses may still name nothing; what does not is never looked up.
pub trait Id: Sized {
    fn parse(raw: &str) -> Option<Self>;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh id: a UUIDv7 in simple form, so ids sort roughly by creation time and
            /// index inserts stay local.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().simple().to_string())
            }

            /// Wraps an id that came from a client or the store. Ids are opaque: an id that
            /// does not exist simply finds nothing, so no format check is needed for safety,
            /// only a length bound that keeps garbage out of queries.
            pub fn parse(raw: &str) -> Option<Self> {
                let ok = !raw.is_empty()
                    && raw.len() <= 64
                    && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                ok.then(|| Self(raw.to_owned()))
            }

            /// Wraps a value read back from our own store, which only ever holds generated ids.
            pub fn from_trusted(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Id for $name {
            fn parse(raw: &str) -> Option<Self> {
                $name::parse(raw)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies a login session: one refresh-token family, from login until logout,
    /// expiry or revocation.
    SessionId
);
id_type!(
    /// Identifies a saved shipping address.
    AddressId
);
id_type!(
    /// Identifies a saved (tokenised) payment card.
    CardId
);
id_type!(
    /// Identifies one outgoing mail message in the outbox; also names its `.eml` file and
    /// its `Message-ID`, so every delivery attempt of a message looks the same.
    MailId
);

id_type!(
    /// Identifies a post (a text post or a listing).
    PostId
);
id_type!(
    /// Identifies a comment.
    CommentId
);
id_type!(
    /// Identifies a category of the catalogue tree: a readable slug (`phones`).
    CategoryId
);
id_type!(
    /// Identifies a chat room (a direct conversation or a group).
    ChatRoomId
);
id_type!(
    /// Identifies a chat message.
    MessageId
);
id_type!(
    /// Identifies a stored notification.
    NotificationId
);
id_type!(
    /// Identifies an order (one seller's part of a checkout).
    OrderId
);
id_type!(
    /// Identifies a review of a listing.
    ReviewId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_sort_by_creation() {
        let a = UserId::generate();
        let b = UserId::generate();
        assert_eq!(UserId::parse(a.as_str()), Some(a.clone()));
        assert!(a < b);
    }

    #[test]
    fn ids_with_query_metacharacters_are_rejected() {
        assert_eq!(UserId::parse(""), None);
        assert_eq!(UserId::parse("{\"$ne\":1}"), None);
        assert_eq!(UserId::parse("a' OR 1=1"), None);
        assert_eq!(UserId::parse(&"a".repeat(65)), None);
    }
}
