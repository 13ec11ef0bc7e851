use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, clean_text};
use super::{AddressId, CountryCode, UserId};

/// An email address, trimmed and lower-cased so uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "email";
        let value = raw.trim().to_lowercase();
        let invalid = || ValidationError::new(FIELD, "is not a valid email address");
        if value.len() > 254 {
            return Err(ValidationError::new(
                FIELD,
                "must be at most 254 characters",
            ));
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(value))
        } else {
            Err(invalid())
        }
    }

    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A handle: 3–30 characters of `a-z`, `0-9` and `_`, lower-cased, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "username";
        let value = raw.trim().to_lowercase();
        let len = value.chars().count();
        if !(3..=30).contains(&len) {
            return Err(ValidationError::new(FIELD, "must be 3 to 30 characters"));
        }
        if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(ValidationError::new(FIELD, "must start with a letter"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(ValidationError::new(
                FIELD,
                "may only contain letters, digits and underscores",
            ));
        }
        Ok(Self(value))
    }

    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name shown next to a user's content: 1–50 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        clean_text("displayName", raw, 1, 50, false).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A profile text of at most 500 characters; line breaks allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        clean_text("bio", raw, 0, 500, true).map(Self)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An absolute `http`/`https` URL of at most 2048 bytes (avatars, media until uploads exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl(String);

impl WebUrl {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim();
        let rest = value
            .strip_prefix("https://")
            .or_else(|| value.strip_prefix("http://"))
            .ok_or_else(|| ValidationError::new(field, "must be an http or https URL"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || value.len() > 2048 || value.chars().any(char::is_whitespace) {
            return Err(ValidationError::new(field, "must be a valid URL"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A phone number: an optional leading `+`, then 6–15 digits; spaces, dashes, dots and
/// parentheses are accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim();
        let (plus, rest) = match value.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", value),
        };
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()".contains(c))
        {
            return Err(ValidationError::new(field, "is not a valid phone number"));
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if !(6..=15).contains(&digits.len()) {
            return Err(ValidationError::new(field, "must have 6 to 15 digits"));
        }
        Ok(Self(format!("{plus}{digits}")))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A password as chosen by the user, checked against the policy (OWASP ASVS 2.1): 8–128
/// characters, not only whitespace. It is never stored or logged, only hashed.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if len < 8 {
            return Err(ValidationError::new(field, "must be at least 8 characters"));
        }
        if len > 128 {
            return Err(ValidationError::new(
                field,
                "must be at most 128 characters",
            ));
        }
        if raw.trim().is_empty() {
            return Err(ValidationError::new(field, "must not be only whitespace"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

/// What a user may do. Everyone who registers is a buyer; sellers may also publish listings;
/// admins may do anything and are only ever made by another admin or the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Buyer,
    Seller,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "BUYER",
            Role::Seller => "SELLER",
            Role::Admin => "ADMIN",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "BUYER" => Some(Role::Buyer),
            "SELLER" => Some(Role::Seller),
            "ADMIN" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Sorted, without duplicates, and never empty: every account can at least buy.
    pub fn normalize(roles: &[Role]) -> Vec<Role> {
        let mut roles: Vec<Role> = roles.to_vec();
        roles.push(Role::Buyer);
        roles.sort();
        roles.dedup();
        roles
    }
}

/// A user account as the rest of the system sees it. The password hash is deliberately not
/// here: only the login path reads it, through its own store method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub username: Username,
    pub display_name: String,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub phone: Option<String>,
    pub roles: Vec<Role>,
    pub active: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many users follow this one. Denormalised from the follow edges and kept exact by
    /// the social store, which changes it in the same atomic unit as the edge; every other
    /// writer (including `create_user`, which always starts it at 0) leaves it alone.
    pub followers_count: u64,
    /// How many users this one follows; kept like [`User::followers_count`].
    pub following_count: u64,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }
}

/// A partial profile update. `None` leaves a field alone; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfilePatch {
    pub display_name: Option<String>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub phone: Option<Option<String>>,
}

impl ProfilePatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A validated shipping address before it is saved.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAddress {
    pub recipient: String,
    pub phone: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: CountryCode,
}

/// A saved shipping address, owned by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    pub id: AddressId,
    pub user_id: UserId,
    pub recipient: String,
    pub phone: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: CountryCode,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@localhost",
            "a..b@x.com",
            "a b@x.com",
            "ann@-x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(Email::parse("x").unwrap_err().field, "email");
    }

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(Username::parse("Ann_99").unwrap().as_str(), "ann_99");
        for bad in ["ab", "9ann", "ann-b", "ann b", &"a".repeat(31), "änn"] {
            assert!(Username::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn passwords_follow_the_policy_and_never_print() {
        assert!(NewPassword::parse("password", "short").is_err());
        assert!(NewPassword::parse("password", "        ").is_err());
        assert!(NewPassword::parse("password", &"x".repeat(129)).is_err());
        let ok = NewPassword::parse("password", "correct horse").unwrap();
        assert!(!format!("{ok:?}").contains("horse"));
    }

    #[test]
    fn urls_and_phones_are_checked() {
        assert!(WebUrl::parse("avatarUrl", "https://cdn.example.com/a.png").is_ok());
        assert!(WebUrl::parse("avatarUrl", "javascript:alert(1)").is_err());
        assert!(WebUrl::parse("avatarUrl", "https:///x").is_err());
        assert_eq!(
            Phone::parse("phone", "+7 (701) 123-45-67")
                .unwrap()
                .into_string(),
            "+77011234567"
        );
        assert!(Phone::parse("phone", "call me").is_err());
    }

    #[test]
    fn roles_always_include_buyer_once() {
        assert_eq!(
            Role::normalize(&[Role::Admin, Role::Seller, Role::Admin]),
            vec![Role::Buyer, Role::Seller, Role::Admin]
        );
        assert_eq!(Role::normalize(&[]), vec![Role::Buyer]);
    }

    #[test]
    fn display_names_reject_control_characters() {
        assert!(DisplayName::parse("Ann\u{0}").is_err());
        assert!(DisplayName::parse("   ").is_err());
        assert_eq!(DisplayName::parse(" Ann ").unwrap().as_str(), "Ann");
    }
}
