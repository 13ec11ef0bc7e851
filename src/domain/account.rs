use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use unicode_normalization::UnicodeNormalization;

use super::validation::{
    ValidationError, clean_text, is_bidi_control, is_bidi_override_or_isolate, is_invisible,
};
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

/// A handle: 3–30 characters of `a-z`, `0-9` and `_`, starting with a letter.
///
/// The raw text is normalised first, NFKC then Unicode case folding then NFKC again (UAX #31's
/// NFKC_Casefold), so `Ann`, `ＡＮＮ` (full width) and `ann` are one name, stored and compared as
/// `ann`. Bidi controls and invisible characters are refused before the character rule, so the
/// message says what was wrong with them.
///
/// Names that differ but look alike (`ann_1`, `ann_l`) are told apart by [`Username::skeleton`];
/// refusing one that looks like a taken name is the stores' job, like refusing a taken name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "username";
        let folded = caseless::default_case_fold_str(&raw.nfkc().collect::<String>());
        let normalised: String = folded.nfkc().collect();
        let value = normalised.trim();
        if value.chars().any(is_bidi_control) {
            return Err(ValidationError::new(
                FIELD,
                "must not contain bidirectional control characters (such as U+202E)",
            ));
        }
        if value.chars().any(is_invisible) {
            return Err(ValidationError::new(
                FIELD,
                "must not contain invisible or formatting characters (such as U+200B)",
            ));
        }
        let len = value.chars().count();
        if !(3..=30).contains(&len) {
            return Err(ValidationError::new(FIELD, "must be 3 to 30 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(ValidationError::new(
                FIELD,
                "may only contain letters a-z, digits and underscores",
            ));
        }
        if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(ValidationError::new(FIELD, "must start with a letter"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The name's confusable skeleton (Unicode TR39 §4): names that look alike share it, such
    /// as `ann_1`, `ann_l` and `ann_I`, or `corn` and `com`. Stored beside the name with its
    /// own unique index.
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0).collect()
    }

    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name shown next to a user's content: 1–50 characters, no control characters, no bidi
/// overrides or isolates (which would reorder the text shown after the name), and at least
/// one visible character. The implicit direction marks stay allowed: right-to-left names
/// mixed with digits or Latin text can need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "displayName";
        let value = clean_text(FIELD, raw, 1, 50, false)?;
        if value.chars().any(is_bidi_override_or_isolate) {
            return Err(ValidationError::new(
                FIELD,
                "must not contain bidirectional overrides or isolates (U+202A to U+202E, \
                 U+2066 to U+2069)",
            ));
        }
        if value.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
            return Err(ValidationError::new(
                FIELD,
                "must contain a visible character",
            ));
        }
        Ok(Self(value))
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

impl NewAddress {
    /// The address as `owner` saves it at `at`, under a new id.
    pub fn saved_by(self, owner: &UserId, at: DateTime<Utc>) -> Address {
        Address {
            id: AddressId::generate(),
            user_id: owner.clone(),
            recipient: self.recipient,
            phone: self.phone,
            line1: self.line1,
            line2: self.line2,
            city: self.city,
            region: self.region,
            postal_code: self.postal_code,
            country: self.country,
            created_at: at,
        }
    }
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
    fn usernames_are_nfkc_normalised_and_case_folded() {
        for (raw, stored) in [
            ("ＡＮＮ_９９", "ann_99"),
            ("ANN_99", "ann_99"),
            ("Straße", "strasse"),
            ("ﬀ_ann", "ff_ann"),
            ("\u{3000}ann\u{3000}", "ann"),
        ] {
            assert_eq!(Username::parse(raw).unwrap().as_str(), stored, "{raw}");
        }
    }

    #[test]
    fn usernames_with_bidi_controls_say_so() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            let err = Username::parse(&format!("ann{c}_99")).unwrap_err();
            assert_eq!(err.field, "username");
            assert!(
                err.message.contains("bidirectional"),
                "U+{:04X}: {err:?}",
                c as u32
            );
        }
    }

    #[test]
    fn usernames_with_invisible_characters_say_so() {
        for c in [
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{3164}',
        ] {
            for raw in [format!("ann{c}_99"), c.to_string(), format!("{c}ann")] {
                let err = Username::parse(&raw).unwrap_err();
                assert!(
                    err.message.contains("invisible"),
                    "U+{:04X}: {err:?}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn look_alike_usernames_share_a_skeleton() {
        let skeleton = |raw: &str| Username::parse(raw).unwrap().skeleton();
        assert_eq!(skeleton("ann_1"), skeleton("ann_l"));
        assert_eq!(skeleton("com"), skeleton("corn"));
        assert_eq!(skeleton("paypa1"), skeleton("paypal"));
        assert_ne!(skeleton("ann_0"), skeleton("ann_o"));
        assert_ne!(skeleton("ann"), skeleton("anne"));
        // Stored names are trusted, so a Cyrillic one (from before this rule) still gets the
        // skeleton of the Latin name it imitates.
        assert_eq!(
            Username::from_trusted("\u{430}nn".into()).skeleton(),
            skeleton("ann")
        );
    }

    #[test]
    fn a_cyrillic_look_alike_is_not_a_username() {
        let err = Username::parse("\u{430}nn_99").unwrap_err();
        assert_eq!(
            err.message,
            "may only contain letters a-z, digits and underscores"
        );
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

    #[test]
    fn display_names_reject_bidi_overrides_and_isolates() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}',
        ] {
            let err = DisplayName::parse(&format!("Ann{c}gpj.exe")).unwrap_err();
            assert_eq!(err.field, "displayName");
            assert!(
                err.message.contains("bidirectional"),
                "U+{:04X}: {err:?}",
                c as u32
            );
        }
        // A right-to-left mark next to digits is how such names are written.
        assert!(DisplayName::parse("\u{5D3}\u{5E0}\u{200F} 2").is_ok());
    }

    #[test]
    fn display_names_need_a_visible_character() {
        for invisible in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{FEFF}",
            " \u{2060} ",
            "\u{3164}",
            "\u{2800}\u{2800}",
        ] {
            let err = DisplayName::parse(invisible).unwrap_err();
            assert_eq!(
                err.message, "must contain a visible character",
                "{invisible:?}"
            );
        }
        // Joiners inside visible text are part of some scripts and of emoji.
        assert!(
            DisplayName::parse("\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}").is_ok()
        );
        assert!(DisplayName::parse("Ann \u{1F469}\u{200D}\u{1F4BB}").is_ok());
    }
}
