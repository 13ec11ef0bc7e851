//! The stored shapes of the engagement collections and their conversions to the domain.
//!
//! - `comments`: `{ _id, post_id, author_id, parent_id, body, replies_count, created_at,
//!   deleted_at }`; `parent_id` and `deleted_at` are null rather than absent, so
//!   `parent_id: null` finds exactly the top-level comments.
//! - `reactions`: `{ post_id, user_id, kind, created_at }`, one per (post, user) by a unique
//!   index; `_id` is a server-generated ObjectId that nothing reads.
//! - `favorites`: `{ user_id, post_id, created_at }`, one per (user, post) likewise.

use mongodb::bson::{self, Document, doc};
use serde::{Deserialize, Serialize};

use crate::domain::{Comment, CommentId, PostId, ReactionKind, UserId};
use crate::store::Favorite;
use crate::store::mongo::{from_bson_time, to_bson_time};

#[derive(Serialize, Deserialize)]
pub(super) struct CommentDoc {
    #[serde(rename = "_id")]
    id: String,
    post_id: String,
    author_id: String,
    parent_id: Option<String>,
    body: String,
    replies_count: i64,
    created_at: bson::DateTime,
    deleted_at: Option<bson::DateTime>,
}

impl CommentDoc {
    /// The document of a new comment. It has no replies and is not deleted, whatever
    /// `replies_count` and `deleted_at` say: both change only through the store (as in the
    /// SQLite adapter, whose columns start at 0 and NULL).
    pub(super) fn new(c: &Comment) -> Self {
        CommentDoc {
            id: c.id.as_str().to_owned(),
            post_id: c.post_id.as_str().to_owned(),
            author_id: c.author_id.as_str().to_owned(),
            parent_id: c.parent_id.as_ref().map(|p| p.as_str().to_owned()),
            body: c.body.clone(),
            replies_count: 0,
            created_at: to_bson_time(c.created_at),
            deleted_at: None,
        }
    }

    pub(super) fn post_id(&self) -> &str {
        &self.post_id
    }
}

impl From<CommentDoc> for Comment {
    fn from(d: CommentDoc) -> Self {
        Comment {
            id: CommentId::from_trusted(d.id),
            post_id: PostId::from_trusted(d.post_id),
            author_id: UserId::from_trusted(d.author_id),
            parent_id: d.parent_id.map(CommentId::from_trusted),
            body: d.body,
            replies_count: d.replies_count,
            created_at: from_bson_time(d.created_at),
            deleted_at: d.deleted_at.map(from_bson_time),
        }
    }
}

/// A reaction as read back: which post, and its kind name.
#[derive(Deserialize)]
pub(super) struct ReactionDoc {
    pub(super) post_id: String,
    pub(super) kind: String,
}

impl ReactionDoc {
    /// The kind, or `None` for a name this build does not know (which then counts nowhere,
    /// as in the SQLite adapter).
    pub(super) fn kind(&self) -> Option<ReactionKind> {
        ReactionKind::from_name(&self.kind)
    }
}

pub(super) fn reaction_projection() -> Document {
    doc! { "_id": 0, "post_id": 1, "kind": 1 }
}

/// A favorite as listed: which post, and when it was added.
#[derive(Deserialize)]
pub(super) struct FavoriteDoc {
    pub(super) post_id: String,
    created_at: bson::DateTime,
}

impl From<FavoriteDoc> for Favorite {
    fn from(d: FavoriteDoc) -> Self {
        Favorite {
            post_id: PostId::from_trusted(d.post_id),
            added_at: from_bson_time(d.created_at),
        }
    }
}
