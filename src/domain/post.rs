use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, clean_text};
use super::{CategoryId, CommentId, Money, PostId, UserId, WebUrl};

pub const MAX_BODY_CHARS: usize = 5000;
pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_TAGS: usize = 10;
pub const MAX_MENTIONS: usize = 20;
pub const MAX_MEDIA: usize = 10;
pub const MAX_ATTRIBUTES: usize = 30;
pub const MAX_STOCK: i64 = 1_000_000;
pub const MAX_COMMENT_CHARS: usize = 2000;
/// The highest price a listing may ask, in major units of its currency.
pub const MAX_PRICE_MAJOR: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PostKind {
    Text,
    Listing,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PostKind::Text => "TEXT",
            PostKind::Listing => "LISTING",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "TEXT" => Some(PostKind::Text),
            "LISTING" => Some(PostKind::Listing),
            _ => None,
        }
    }
}

/// Where a listing is in its life. `Sold` and `Active` also follow stock: a listing whose
/// stock reaches 0 is sold, and restocking makes it active again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ListingStatus {
    Draft,
    Active,
    Reserved,
    Sold,
    Archived,
}

impl ListingStatus {
    pub const ALL: [ListingStatus; 5] = [
        ListingStatus::Draft,
        ListingStatus::Active,
        ListingStatus::Reserved,
        ListingStatus::Sold,
        ListingStatus::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ListingStatus::Draft => "DRAFT",
            ListingStatus::Active => "ACTIVE",
            ListingStatus::Reserved => "RESERVED",
            ListingStatus::Sold => "SOLD",
            ListingStatus::Archived => "ARCHIVED",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The status a seller's requested status settles on given the stock: an active listing
    /// with nothing left is sold; a sold one that is restocked is active again.
    pub fn settle(self, stock: i64) -> Self {
        match (self, stock) {
            (ListingStatus::Active, 0) => ListingStatus::Sold,
            (ListingStatus::Sold, n) if n > 0 => ListingStatus::Active,
            (status, _) => status,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReactionKind {
    Like,
    Love,
    Laugh,
    Wow,
    Sad,
    Angry,
}

impl ReactionKind {
    pub const ALL: [ReactionKind; 6] = [
        ReactionKind::Like,
        ReactionKind::Love,
        ReactionKind::Laugh,
        ReactionKind::Wow,
        ReactionKind::Sad,
        ReactionKind::Angry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReactionKind::Like => "LIKE",
            ReactionKind::Love => "LOVE",
            ReactionKind::Laugh => "LAUGH",
            ReactionKind::Wow => "WOW",
            ReactionKind::Sad => "SAD",
            ReactionKind::Angry => "ANGRY",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A key/value specification of a listing ("Brand: Canon", "Condition: used").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub key: String,
    pub value: String,
}

impl Attribute {
    pub fn parse_list(field: &str, raw: &[(String, String)]) -> Result<Vec<Self>, ValidationError> {
        if raw.len() > MAX_ATTRIBUTES {
            return Err(ValidationError::new(
                field,
                format!("must have at most {MAX_ATTRIBUTES} entries"),
            ));
        }
        let mut attributes: Vec<Attribute> = Vec::with_capacity(raw.len());
        for (i, (key, value)) in raw.iter().enumerate() {
            let key = clean_text(&format!("{field}.{i}.key"), key, 1, 50, false)?;
            let value = clean_text(&format!("{field}.{i}.value"), value, 1, 200, false)?;
            if attributes.iter().any(|a| a.key.eq_ignore_ascii_case(&key)) {
                return Err(ValidationError::new(
                    format!("{field}.{i}.key"),
                    "is repeated",
                ));
            }
            attributes.push(Attribute { key, value });
        }
        Ok(attributes)
    }
}

/// The commercial side of a listing post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub price: Money,
    pub stock: i64,
    pub status: ListingStatus,
    pub category_id: Option<CategoryId>,
    pub attributes: Vec<Attribute>,
}

impl Listing {
    pub fn validate_price(field: &str, price: &Money) -> Result<(), ValidationError> {
        use super::Amount;
        if price.amount.scaled() <= 0 {
            return Err(ValidationError::new(
                format!("{field}.amount"),
                "must be greater than 0",
            ));
        }
        if price.amount.scaled() > MAX_PRICE_MAJOR * Amount::SCALE {
            return Err(ValidationError::new(
                format!("{field}.amount"),
                format!("must be at most {MAX_PRICE_MAJOR}"),
            ));
        }
        Ok(())
    }

    pub fn validate_stock(field: &str, stock: i64) -> Result<(), ValidationError> {
        if !(0..=MAX_STOCK).contains(&stock) {
            return Err(ValidationError::new(
                field,
                format!("must be between 0 and {MAX_STOCK}"),
            ));
        }
        Ok(())
    }
}

/// Exact counters kept with a post.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostCounts {
    pub comments: i64,
    pub favorites: i64,
    /// Indexed by [`ReactionKind::index`].
    pub reactions: [i64; 6],
    /// Reviews of a listing and the sum of their ratings (1–5 each).
    pub rating_count: i64,
    pub rating_sum: i64,
    /// Of those, the reviews by verified purchasers (a delivered order of the listing), and
    /// the sum of their ratings.
    pub verified_rating_count: i64,
    pub verified_rating_sum: i64,
}

impl PostCounts {
    /// The average rating of verified purchases in thousandths (4.5 → 4500), 0 without any:
    /// the sort key of "best rated first". Unverified reviews do not move it, so accounts
    /// that never bought the listing cannot push it up or down.
    pub fn verified_rating_average_milli(&self) -> i64 {
        if self.verified_rating_count == 0 {
            0
        } else {
            self.verified_rating_sum * 1000 / self.verified_rating_count
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub author_id: UserId,
    pub kind: PostKind,
    pub title: Option<String>,
    pub body: String,
    pub media: Vec<String>,
    pub tags: Vec<String>,
    /// Usernames mentioned in the body, resolved to ids when the post was written.
    pub mentions: Vec<UserId>,
    pub listing: Option<Listing>,
    pub counts: PostCounts,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A validated post body with the hashtags and mention handles found in it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostBody {
    pub text: String,
    pub tags: Vec<String>,
    pub mentioned_usernames: Vec<String>,
}

impl PostBody {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let text = clean_text(field, raw, 1, MAX_BODY_CHARS, true)?;
        let tags = extract(&text, '#', |c| c.is_alphanumeric() || c == '_', 50);
        if tags.len() > MAX_TAGS {
            return Err(ValidationError::new(
                field,
                format!("may use at most {MAX_TAGS} hashtags"),
            ));
        }
        let mentioned_usernames =
            extract(&text, '@', |c| c.is_ascii_alphanumeric() || c == '_', 30)
                .into_iter()
                .filter(|u| u.len() >= 3 && u.starts_with(|c: char| c.is_ascii_lowercase()))
                .collect::<Vec<_>>();
        if mentioned_usernames.len() > MAX_MENTIONS {
            return Err(ValidationError::new(
                field,
                format!("may mention at most {MAX_MENTIONS} people"),
            ));
        }
        Ok(Self {
            text,
            tags,
            mentioned_usernames,
        })
    }
}

/// Distinct lower-cased words that follow `sigil` at a word start (`#tag`, `@ann`), in order
/// of first appearance. A sigil inside a word (`mail@example.com`) does not count.
fn extract(text: &str, sigil: char, word: impl Fn(char) -> bool, max_len: usize) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut previous: Option<char> = None;
    for (i, c) in text.char_indices() {
        let at_word_start =
            previous.is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == sigil));
        if c == sigil && at_word_start {
            let rest = &text[i + c.len_utf8()..];
            let end = rest.find(|ch: char| !word(ch)).unwrap_or(rest.len());
            let candidate = &rest[..end];
            if !candidate.is_empty() && candidate.chars().count() <= max_len {
                let lowered = candidate.to_lowercase();
                if !found.contains(&lowered) {
                    found.push(lowered);
                }
            }
        }
        previous = Some(c);
    }
    found
}

/// A title: 1–120 characters on one line.
pub fn parse_title(field: &str, raw: &str) -> Result<String, ValidationError> {
    clean_text(field, raw, 1, MAX_TITLE_CHARS, false)
}

pub fn parse_media(field: &str, urls: &[String]) -> Result<Vec<String>, ValidationError> {
    if urls.len() > MAX_MEDIA {
        return Err(ValidationError::new(
            field,
            format!("must have at most {MAX_MEDIA} entries"),
        ));
    }
    urls.iter()
        .enumerate()
        .map(|(i, url)| WebUrl::parse(&format!("{field}.{i}"), url).map(WebUrl::into_string))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    pub post_id: PostId,
    pub author_id: UserId,
    pub parent_id: Option<CommentId>,
    /// Empty once deleted: the comment stays so its replies keep their thread.
    pub body: String,
    pub replies_count: i64,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

pub fn parse_comment_body(field: &str, raw: &str) -> Result<String, ValidationError> {
    clean_text(field, raw, 1, MAX_COMMENT_CHARS, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_mentions_are_found_lowercased_and_deduplicated() {
        let body = PostBody::parse(
            "body",
            "Selling my #Camera and #lens #camera, ask @Ann or @bob_2! mail@example.com #Алматы",
        )
        .unwrap();
        assert_eq!(body.tags, ["camera", "lens", "алматы"]);
        assert_eq!(body.mentioned_usernames, ["ann", "bob_2"]);
    }

    #[test]
    fn sigils_inside_words_and_bare_sigils_are_ignored() {
        let body = PostBody::parse("body", "a#b c@d # @ ##x @@y").unwrap();
        assert!(body.tags.is_empty(), "{:?}", body.tags);
        assert!(
            body.mentioned_usernames.is_empty(),
            "{:?}",
            body.mentioned_usernames
        );
    }

    #[test]
    fn too_many_tags_or_an_empty_body_are_refused() {
        let many: String = (0..11).map(|i| format!("#t{i} ")).collect();
        assert!(PostBody::parse("body", &many).is_err());
        assert!(PostBody::parse("body", "   ").is_err());
        assert!(PostBody::parse("body", &"x".repeat(MAX_BODY_CHARS + 1)).is_err());
    }

    #[test]
    fn listing_status_follows_stock() {
        assert_eq!(ListingStatus::Active.settle(0), ListingStatus::Sold);
        assert_eq!(ListingStatus::Sold.settle(3), ListingStatus::Active);
        assert_eq!(ListingStatus::Draft.settle(0), ListingStatus::Draft);
        assert_eq!(ListingStatus::Archived.settle(5), ListingStatus::Archived);
    }

    #[test]
    fn attributes_need_unique_keys_within_limits() {
        let ok = Attribute::parse_list("attributes", &[("Brand".into(), "Canon".into())]).unwrap();
        assert_eq!(ok[0].key, "Brand");
        let dup = [("Brand".into(), "a".into()), ("brand".into(), "b".into())];
        assert_eq!(
            Attribute::parse_list("attributes", &dup).unwrap_err().field,
            "attributes.1.key"
        );
        assert!(Attribute::parse_list("attributes", &[("".into(), "x".into())]).is_err());
    }
}
