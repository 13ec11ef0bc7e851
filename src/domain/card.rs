use chrono::{DateTime, Datelike, Utc};

use super::validation::ValidationError;
use super::{CardId, UserId};

/// A card network, recognised from the number's prefix (IIN ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    UnionPay,
    Mir,
    Unknown,
}

impl CardBrand {
    fn detect(digits: &str) -> Self {
        let prefix = |n: usize| digits[..n.min(digits.len())].parse::<u32>().unwrap_or(0);
        match (prefix(1), prefix(2), prefix(4), prefix(6)) {
            (4, ..) => CardBrand::Visa,
            (_, 34 | 37, ..) => CardBrand::Amex,
            (_, 51..=55, ..) | (_, _, 2221..=2720, _) => CardBrand::Mastercard,
            (_, _, 2200..=2204, _) => CardBrand::Mir,
            (_, _, 6011, _) | (_, 65, ..) | (_, _, _, 644_000..=649_999) => CardBrand::Discover,
            (_, _, 3528..=3589, _) => CardBrand::Jcb,
            (_, 62, ..) => CardBrand::UnionPay,
            _ => CardBrand::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "VISA",
            CardBrand::Mastercard => "MASTERCARD",
            CardBrand::Amex => "AMEX",
            CardBrand::Discover => "DISCOVER",
            CardBrand::Jcb => "JCB",
            CardBrand::UnionPay => "UNIONPAY",
            CardBrand::Mir => "MIR",
            CardBrand::Unknown => "UNKNOWN",
        }
    }

    pub fn from_name(name: &str) -> Self {
        match name {
            "VISA" => CardBrand::Visa,
            "MASTERCARD" => CardBrand::Mastercard,
            "AMEX" => CardBrand::Amex,
            "DISCOVER" => CardBrand::Discover,
            "JCB" => CardBrand::Jcb,
            "UNIONPAY" => CardBrand::UnionPay,
            "MIR" => CardBrand::Mir,
            _ => CardBrand::Unknown,
        }
    }
}

/// A full card number that passed the Luhn check. It lives only as long as the request that
/// carried it: nothing stores it, and `Debug` prints only the last four digits.
pub struct CardNumber {
    digits: String,
}

impl CardNumber {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new(field, "is not a valid card number");
        if !raw
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
        {
            return Err(invalid());
        }
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if !(12..=19).contains(&digits.len()) || !luhn_valid(&digits) {
            return Err(invalid());
        }
        Ok(Self { digits })
    }

    pub fn brand(&self) -> CardBrand {
        CardBrand::detect(&self.digits)
    }

    pub fn last4(&self) -> String {
        self.digits[self.digits.len() - 4..].to_owned()
    }

    /// The digits, for handing to a payment gateway. Never store or log them.
    pub fn expose_digits(&self) -> &str {
        &self.digits
    }
}

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardNumber(**** {})", self.last4())
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A card's expiry month, valid through the last day of that month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardExpiry {
    pub month: u32,
    pub year: i32,
}

impl CardExpiry {
    /// Accepts `expYear` as four digits or two (`29` → 2029); refuses expired cards and years
    /// more than 20 ahead.
    pub fn parse(month: i32, year: i32, now: DateTime<Utc>) -> Result<Self, ValidationError> {
        if !(1..=12).contains(&month) {
            return Err(ValidationError::new("expMonth", "must be 1 to 12"));
        }
        let year = if (0..100).contains(&year) {
            2000 + year
        } else {
            year
        };
        let month = month as u32;
        if (year, month) < (now.year(), now.month()) {
            return Err(ValidationError::new("expYear", "the card has expired"));
        }
        if year > now.year() + 20 {
            return Err(ValidationError::new("expYear", "is too far in the future"));
        }
        Ok(Self { month, year })
    }
}

/// A saved card: what we may keep under PCI rules without being a card vault.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentCard {
    pub id: CardId,
    pub user_id: UserId,
    pub brand: CardBrand,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: i32,
    pub holder: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl PaymentCard {
    /// The card `owner` saves at `at`, under a new id. The number is dropped here: only the
    /// brand, the last four digits and the expiry are kept.
    pub fn saved_by(
        owner: &UserId,
        number: &CardNumber,
        expiry: CardExpiry,
        holder: Option<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: CardId::generate(),
            user_id: owner.clone(),
            brand: number.brand(),
            last4: number.last4(),
            exp_month: expiry.month,
            exp_year: expiry.year,
            holder,
            created_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_typos() {
        let visa = CardNumber::parse("number", "4242 4242 4242 4242").unwrap();
        assert_eq!(visa.brand(), CardBrand::Visa);
        assert_eq!(visa.last4(), "4242");
        assert!(CardNumber::parse("number", "4242 4242 4242 4241").is_err());
        assert!(CardNumber::parse("number", "4242").is_err());
        assert!(CardNumber::parse("number", "4242x4242x4242x4242").is_err());
    }

    #[test]
    fn brands_are_detected_from_prefixes() {
        let brand = |n: &str| CardNumber::parse("number", n).unwrap().brand();
        assert_eq!(brand("5555555555554444"), CardBrand::Mastercard);
        assert_eq!(brand("2223003122003222"), CardBrand::Mastercard);
        assert_eq!(brand("378282246310005"), CardBrand::Amex);
        assert_eq!(brand("6011111111111117"), CardBrand::Discover);
        assert_eq!(brand("3530111333300000"), CardBrand::Jcb);
        assert_eq!(brand("2200000000000004"), CardBrand::Mir);
    }

    #[test]
    fn debug_output_hides_the_number() {
        let card = CardNumber::parse("number", "4242424242424242").unwrap();
        assert_eq!(format!("{card:?}"), "CardNumber(**** 4242)");
    }

    #[test]
    fn expiry_rejects_past_months_and_accepts_two_digit_years() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        assert_eq!(
            CardExpiry::parse(11, 26, now).unwrap(),
            CardExpiry {
                month: 11,
                year: 2026
            }
        );
        assert!(CardExpiry::parse(10, 2026, now).is_err());
        assert!(CardExpiry::parse(13, 2030, now).is_err());
        assert!(CardExpiry::parse(1, 2060, now).is_err());
    }
}
