//! Reviews of listings: a rating from 1 to 5 with optional text and pictures, and the rating
//! summary kept next to each listing.

use chrono::{DateTime, Utc};

use super::validation::{ValidationError, clean_text};
use super::{PostId, ReviewId, UserId};

pub const MAX_REVIEW_CHARS: usize = 4000;

/// A star rating, 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rating(u8);

impl Rating {
    pub fn parse(field: &str, raw: i64) -> Result<Self, ValidationError> {
        match u8::try_from(raw) {
            Ok(value @ 1..=5) => Ok(Rating(value)),
            _ => Err(ValidationError::new(field, "must be between 1 and 5")),
        }
    }

    /// Wraps a value read back from our own store, which only holds parsed ratings.
    pub fn from_trusted(value: i64) -> Self {
        Rating(value.clamp(1, 5) as u8)
    }

    pub fn value(self) -> i64 {
        i64::from(self.0)
    }

    /// The histogram slot of this rating (0 for one star).
    pub fn slot(self) -> usize {
        usize::from(self.0 - 1)
    }
}

pub fn parse_review_body(field: &str, raw: &str) -> Result<String, ValidationError> {
    clean_text(field, raw, 1, MAX_REVIEW_CHARS, true)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: ReviewId,
    pub post_id: PostId,
    pub author_id: UserId,
    /// The author of the listing, kept so a seller's reviews are found without a join.
    pub seller_id: UserId,
    pub rating: Rating,
    pub body: Option<String>,
    pub media: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
}

/// Counts of a listing's (or a seller's) ratings: how many, their sum and how many of each
/// star, so the average is exact and a changed rating moves one slot; and the same count and
/// sum over verified purchases only (reviews whose author has a delivered order of the
/// listing), which strangers cannot move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RatingSummary {
    pub count: i64,
    pub sum: i64,
    /// `histogram[0]` counts one-star ratings, `histogram[4]` five-star ones.
    pub histogram: [i64; 5],
    /// Of `count`, the verified purchases, and the sum of their ratings.
    pub verified_count: i64,
    pub verified_sum: i64,
}

impl RatingSummary {
    /// The average rating, `None` without ratings.
    pub fn average(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The average over verified purchases, `None` without any.
    pub fn verified_average(&self) -> Option<f64> {
        (self.verified_count > 0).then(|| self.verified_sum as f64 / self.verified_count as f64)
    }

    pub fn add(&mut self, other: &RatingSummary) {
        self.count += other.count;
        self.sum += other.sum;
        for (slot, n) in self.histogram.iter_mut().zip(other.histogram) {
            *slot += n;
        }
        self.verified_count += other.verified_count;
        self.verified_sum += other.verified_sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_are_one_to_five() {
        assert!(Rating::parse("rating", 0).is_err());
        assert!(Rating::parse("rating", 6).is_err());
        assert!(Rating::parse("rating", -1).is_err());
        assert_eq!(Rating::parse("rating", 5).unwrap().slot(), 4);
        assert_eq!(Rating::parse("rating", 1).unwrap().value(), 1);
    }

    #[test]
    fn summaries_add_up_and_average_exactly() {
        let mut a = RatingSummary {
            count: 2,
            sum: 9,
            histogram: [0, 0, 0, 1, 1],
            verified_count: 1,
            verified_sum: 5,
        };
        a.add(&RatingSummary {
            count: 1,
            sum: 1,
            histogram: [1, 0, 0, 0, 0],
            verified_count: 0,
            verified_sum: 0,
        });
        assert_eq!(a.count, 3);
        assert_eq!(a.histogram, [1, 0, 0, 1, 1]);
        assert!((a.average().unwrap() - 10.0 / 3.0).abs() < 1e-9);
        assert_eq!(a.verified_count, 1);
        assert_eq!(a.verified_average(), Some(5.0));
        assert_eq!(RatingSummary::default().average(), None);
        assert_eq!(RatingSummary::default().verified_average(), None);
    }
}
