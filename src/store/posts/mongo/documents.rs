//! The stored shape of a post in the `posts` collection and its conversions to the domain.
//!
//! ```text
//! { _id, author_id, kind, title, body, media, tags, mentions,
//!   price, currency, stock, status, category_id, attributes: [{ key, value }],  (listings only)
//!   counts: { comments, favorites, reactions: { LIKE, LOVE, … }, rating_count, rating_sum,
//!             verified_rating_count, verified_rating_sum, rating_hist: { 1..5 } },
//!   verified_rating_avg, created_at, edited_at, deleted_at, revision }
//! ```
//!
//! - The listing fields are absent on text posts, not null: the partial price index covers
//!   exactly the posts that have a price, and `stock`/`status` filters leave text posts out as
//!   SQLite's NULL columns do.
//! - `price` is the [`Amount`] in scaled units as an Int64: exact, and it sorts as an integer.
//! - `verified_rating_avg` is [`PostCounts::verified_rating_average_milli`] kept next to the
//!   counts it derives from, so "best rated" sorts on an indexed field. Posts stored before
//!   it existed get it (and the verified counters) from the review store's start-up backfill;
//!   until then the verified counters read as 0.
//! - `deleted_at` and `edited_at` are always present (null until set), so `deleted_at: null`
//!   filters and `$eq` comparisons inside aggregation agree.
//! - `revision` counts edits, so an edit writes back only the version it read.

use mongodb::bson::{self, Bson, Document, doc};
use serde::Deserialize;

use crate::domain::{
    Amount, Attribute, CategoryId, Currency, Listing, ListingStatus, Money, Post, PostCounts,
    PostId, PostKind, ReactionKind, UserId,
};
use crate::store::mongo::{from_bson_time, to_bson_time};
use crate::store::{StoreError, StoreResult};

/// The counter of a post's comments that are not deleted.
pub(crate) const COMMENTS_COUNT: &str = "counts.comments";
/// The counter of a post's favorites.
pub(crate) const FAVORITES_COUNT: &str = "counts.favorites";

/// The counter of a post's reactions of `kind`.
pub(crate) fn reaction_count(kind: ReactionKind) -> String {
    format!("counts.reactions.{}", kind.as_str())
}

/// The fields an edit may change: everything but identity, counters and timestamps.
/// Used whole when a post is created and as the `$set` of an edit.
pub(super) fn content_fields(post: &Post) -> Document {
    let mut fields = doc! {
        "title": post.title.as_deref(),
        "body": &post.body,
        "media": &post.media,
        "tags": &post.tags,
        "mentions": post.mentions.iter().map(UserId::as_str).collect::<Vec<_>>(),
    };
    if let Some(listing) = &post.listing {
        fields.extend(doc! {
            "price": listing.price.amount.scaled(),
            "currency": listing.price.currency.code(),
            "stock": listing.stock,
            "status": listing.status.as_str(),
            "category_id": listing.category_id.as_ref().map(CategoryId::as_str),
            "attributes": listing
                .attributes
                .iter()
                .map(|a| doc! { "key": &a.key, "value": &a.value })
                .collect::<Vec<_>>(),
        });
    }
    fields
}

/// The whole document of a new post.
///
/// A new post starts with no engagement and undeleted, whatever `post.counts` and
/// `post.deleted_at` hold: the counters belong to the engagement store, which changes them in
/// the same transaction as the engagement itself, and deletion to `delete_post` (the SQLite
/// adapter's columns likewise start at 0 and NULL).
pub(super) fn new_post_document(post: &Post) -> Document {
    let counts = PostCounts::default();
    let reactions: Document = ReactionKind::ALL
        .iter()
        .map(|kind| (kind.as_str().to_owned(), Bson::Int64(0)))
        .collect();
    let mut document = doc! {
        "_id": post.id.as_str(),
        "author_id": post.author_id.as_str(),
        "kind": post.kind.as_str(),
    };
    document.extend(content_fields(post));
    document.extend(doc! {
        "counts": {
            "comments": counts.comments,
            "favorites": counts.favorites,
            "reactions": reactions,
            "rating_count": counts.rating_count,
            "rating_sum": counts.rating_sum,
            "verified_rating_count": counts.verified_rating_count,
            "verified_rating_sum": counts.verified_rating_sum,
        },
        "verified_rating_avg": counts.verified_rating_average_milli(),
        "created_at": to_bson_time(post.created_at),
        "edited_at": post.edited_at.map(to_bson_time),
        "deleted_at": null,
        "revision": 0_i64,
    });
    document
}

/// A post as read back.
#[derive(Deserialize)]
pub(super) struct PostDoc {
    #[serde(rename = "_id")]
    id: String,
    author_id: String,
    kind: String,
    title: Option<String>,
    body: String,
    media: Vec<String>,
    tags: Vec<String>,
    mentions: Vec<String>,
    price: Option<i64>,
    currency: Option<String>,
    stock: Option<i64>,
    status: Option<String>,
    category_id: Option<String>,
    attributes: Option<Vec<AttributeDoc>>,
    counts: CountsDoc,
    created_at: bson::DateTime,
    edited_at: Option<bson::DateTime>,
    deleted_at: Option<bson::DateTime>,
    pub(super) revision: i64,
}

#[derive(Deserialize)]
struct AttributeDoc {
    key: String,
    value: String,
}

#[derive(Deserialize)]
struct CountsDoc {
    comments: i64,
    favorites: i64,
    reactions: ReactionCountsDoc,
    rating_count: i64,
    rating_sum: i64,
    #[serde(default)]
    verified_rating_count: i64,
    #[serde(default)]
    verified_rating_sum: i64,
}

/// Reaction counters by kind name, as [`reaction_count`] names them.
#[derive(Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct ReactionCountsDoc {
    like: i64,
    love: i64,
    laugh: i64,
    wow: i64,
    sad: i64,
    angry: i64,
}

impl TryFrom<PostDoc> for Post {
    type Error = StoreError;

    /// Unknown kind and status names read as the defaults the SQLite adapter uses (text post,
    /// active listing); an unknown currency cannot be turned into money and is an error.
    fn try_from(d: PostDoc) -> StoreResult<Self> {
        let listing = match (d.price, d.currency) {
            (Some(price), Some(currency)) => {
                let currency = Currency::parse("currency", &currency).map_err(|e| {
                    StoreError::Backend(format!("post {} has a corrupt currency: {e:?}", d.id))
                })?;
                Some(Listing {
                    price: Money {
                        amount: Amount::from_scaled(price),
                        currency,
                    },
                    stock: d.stock.unwrap_or(0),
                    status: d
                        .status
                        .as_deref()
                        .and_then(ListingStatus::from_name)
                        .unwrap_or(ListingStatus::Active),
                    category_id: d.category_id.map(CategoryId::from_trusted),
                    attributes: d
                        .attributes
                        .unwrap_or_default()
                        .into_iter()
                        .map(|a| Attribute {
                            key: a.key,
                            value: a.value,
                        })
                        .collect(),
                })
            }
            _ => None,
        };
        let r = d.counts.reactions;
        Ok(Post {
            id: PostId::from_trusted(d.id),
            author_id: UserId::from_trusted(d.author_id),
            kind: PostKind::from_name(&d.kind).unwrap_or(PostKind::Text),
            title: d.title,
            body: d.body,
            media: d.media,
            tags: d.tags,
            mentions: d.mentions.into_iter().map(UserId::from_trusted).collect(),
            listing,
            counts: PostCounts {
                comments: d.counts.comments,
                favorites: d.counts.favorites,
                // In `ReactionKind::index` order.
                reactions: [r.like, r.love, r.laugh, r.wow, r.sad, r.angry],
                rating_count: d.counts.rating_count,
                rating_sum: d.counts.rating_sum,
                verified_rating_count: d.counts.verified_rating_count,
                verified_rating_sum: d.counts.verified_rating_sum,
            },
            created_at: from_bson_time(d.created_at),
            edited_at: d.edited_at.map(from_bson_time),
            deleted_at: d.deleted_at.map(from_bson_time),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_counters_are_read_in_reaction_kind_order() {
        let names: Vec<String> = ReactionKind::ALL
            .iter()
            .map(|k| reaction_count(*k))
            .collect();
        assert_eq!(
            names,
            [
                "counts.reactions.LIKE",
                "counts.reactions.LOVE",
                "counts.reactions.LAUGH",
                "counts.reactions.WOW",
                "counts.reactions.SAD",
                "counts.reactions.ANGRY",
            ]
        );
        assert_eq!(
            ReactionKind::ALL.map(ReactionKind::index),
            [0, 1, 2, 3, 4, 5]
        );
    }
}
