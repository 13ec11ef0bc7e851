use std::fmt;

use serde::{Deserialize, Serialize};

use super::validation::ValidationError;

/// An ISO 4217 currency with its number of minor-unit digits (2 for KZT and USD, 0 for JPY,
/// 3 for KWD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    minor_digits: u32,
}

impl Currency {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let code = raw.trim().to_ascii_uppercase();
        CURRENCIES
            .binary_search_by(|(c, _)| c.cmp(&code.as_str()))
            .map(|i| Currency {
                code: CURRENCIES[i].0,
                minor_digits: CURRENCIES[i].1,
            })
            .map_err(|_| ValidationError::new(field, "must be an ISO 4217 currency code"))
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    pub fn minor_digits(self) -> u32 {
        self.minor_digits
    }
}

/// Serialised as its code (`"USD"`); an unknown code does not deserialise.
impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::parse("currency", &code)
            .map_err(|_| serde::de::Error::custom(format!("unknown currency {code:?}")))
    }
}

/// A non-negative decimal amount, stored exactly as an integer count of ten-thousandths.
///
/// Four decimal places hold every ISO 4217 currency's minor unit (the most is 4, CLF), so one
/// scale serves all currencies and amounts compare and sort as plain integers — in SQL, in
/// MongoDB and in Rust — with no floating point anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(i64);

impl Amount {
    pub const SCALE: i64 = 10_000;
    const SCALE_DIGITS: usize = 4;

    /// Parses `"1999.50"` for `currency`: digits, an optional point and at most as many
    /// decimals as the currency has minor digits.
    pub fn parse(field: &str, raw: &str, currency: Currency) -> Result<Self, ValidationError> {
        let value = raw.trim();
        let invalid = || ValidationError::new(field, "must be a decimal number such as 1999.50");
        let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        if value.contains('.') && fraction.is_empty() {
            return Err(invalid());
        }
        if fraction.len() > currency.minor_digits() as usize {
            return Err(ValidationError::new(
                field,
                format!(
                    "{} allows at most {} decimal places",
                    currency.code(),
                    currency.minor_digits()
                ),
            ));
        }
        if whole.trim_start_matches('0').len() > 14 {
            return Err(ValidationError::new(field, "is too large"));
        }
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        let padded = format!("{fraction:0<width$}", width = Self::SCALE_DIGITS);
        let fraction: i64 = padded.parse().map_err(|_| invalid())?;
        Ok(Amount(whole * Self::SCALE + fraction))
    }

    pub fn from_scaled(scaled: i64) -> Self {
        Amount(scaled)
    }

    pub fn scaled(self) -> i64 {
        self.0
    }

    pub fn checked_mul(self, quantity: i64) -> Option<Self> {
        self.0.checked_mul(quantity).map(Amount)
    }

    pub fn checked_add(self, other: Amount) -> Option<Self> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// The amount with exactly the currency's number of decimals: `"1999.50"`, `"1500"`.
    pub fn format(self, currency: Currency) -> String {
        let whole = self.0 / Self::SCALE;
        let digits = currency.minor_digits() as usize;
        if digits == 0 {
            return whole.to_string();
        }
        let fraction = format!("{:04}", self.0 % Self::SCALE);
        format!("{whole}.{}", &fraction[..digits])
    }
}

/// An amount of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: Amount,
    pub currency: Currency,
}

impl Money {
    pub fn parse(field: &str, amount: &str, currency: &str) -> Result<Self, ValidationError> {
        let currency = Currency::parse(&format!("{field}.currency"), currency)?;
        let amount = Amount::parse(&format!("{field}.amount"), amount, currency)?;
        Ok(Money { amount, currency })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.amount.format(self.currency),
            self.currency.code()
        )
    }
}

/// Active ISO 4217 codes with their minor-unit digits, sorted for binary search.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn kzt() -> Currency {
        Currency::parse("currency", "kzt").unwrap()
    }

    #[test]
    fn currency_table_is_sorted_for_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(Currency::parse("currency", "XYZ").is_err());
        assert_eq!(
            Currency::parse("currency", "jpy").unwrap().minor_digits(),
            0
        );
    }

    #[test]
    fn amounts_parse_exactly_and_format_with_the_currencys_digits() {
        let amount = Amount::parse("price", "1999.5", kzt()).unwrap();
        assert_eq!(amount.scaled(), 19_995_000);
        assert_eq!(amount.format(kzt()), "1999.50");
        let jpy = Currency::parse("currency", "JPY").unwrap();
        assert_eq!(
            Amount::parse("price", "1500", jpy).unwrap().format(jpy),
            "1500"
        );
        assert!(Amount::parse("price", "15.5", jpy).is_err());
        assert!(Amount::parse("price", "1.999", kzt()).is_err());
    }

    #[test]
    fn malformed_and_negative_amounts_are_refused() {
        for bad in ["", "-1", "1e3", "1.", ".5", "1,5", "NaN", "999999999999999"] {
            assert!(Amount::parse("price", bad, kzt()).is_err(), "{bad}");
        }
    }
}
