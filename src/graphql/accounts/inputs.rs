//! Input objects of the accounts area and their parsing into domain values. Field paths in
//! errors use the client's names (`input.displayName`).

use async_graphql::{InputObject, MaybeUndefined};

use super::types::Role;
use crate::domain::{
    Bio, CardExpiry, CardNumber, CountryCode, DisplayName, Email, NewAddress, NewPassword, Phone,
    ProfilePatch, Username, ValidationError, WebUrl,
};
use crate::error::AppError;
use crate::service::RegisterCommand;

#[derive(InputObject)]
pub struct RegisterInput {
    pub email: String,
    /// 8 to 128 characters, and hard to guess: a password the zxcvbn estimator scores below
    /// 3 of 4 (common passwords, keyboard runs, repeats, the user's own email or username)
    /// is `BAD_USER_INPUT` with the reason.
    pub password: String,
    /// 3 to 30 of `a-z`, `0-9`, `_`, starting with a letter, after NFKC normalisation and
    /// case folding (`ＡＮＮ` is `ann`). A name that looks like a taken one (`ann_1` beside
    /// `ann_l`) is `CONFLICT` like a taken name.
    pub username: String,
    pub display_name: String,
    /// `BUYER` or `SELLER`; `ADMIN` is refused.
    #[graphql(default_with = "Role::Buyer")]
    pub role: Role,
}

impl RegisterInput {
    pub fn parse(self) -> Result<RegisterCommand, AppError> {
        let under = |e: ValidationError| AppError::from(e.under("input"));
        Ok(RegisterCommand {
            email: Email::parse(&self.email).map_err(under)?,
            password: NewPassword::parse("input.password", &self.password)?,
            username: Username::parse(&self.username).map_err(under)?,
            display_name: DisplayName::parse(&self.display_name).map_err(under)?,
            role: self.role.into(),
        })
    }
}

/// Fields left out stay as they are; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub display_name: MaybeUndefined<String>,
    pub bio: MaybeUndefined<String>,
    pub avatar_url: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
}

impl UpdateProfileInput {
    pub fn parse(self) -> Result<ProfilePatch, AppError> {
        let under = |e: ValidationError| AppError::from(e.under("input"));
        let display_name = match self.display_name {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => {
                return Err(AppError::bad_input(
                    "input.displayName",
                    "cannot be cleared",
                ));
            }
            MaybeUndefined::Value(name) => {
                Some(DisplayName::parse(&name).map_err(under)?.into_string())
            }
        };
        Ok(ProfilePatch {
            display_name,
            bio: optional(self.bio, |raw| Bio::parse(raw).map(Bio::into_string)).map_err(under)?,
            avatar_url: optional(self.avatar_url, |raw| {
                WebUrl::parse("avatarUrl", raw).map(WebUrl::into_string)
            })
            .map_err(under)?,
            phone: optional(self.phone, |raw| {
                Phone::parse("phone", raw).map(Phone::into_string)
            })
            .map_err(under)?,
        })
    }
}

/// `undefined` → leave (`None`); `null` or an empty string → clear (`Some(None)`); a value →
/// parse and set.
fn optional(
    value: MaybeUndefined<String>,
    parse: impl FnOnce(&str) -> Result<String, ValidationError>,
) -> Result<Option<Option<String>>, ValidationError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(raw) if raw.trim().is_empty() => Ok(Some(None)),
        MaybeUndefined::Value(raw) => parse(&raw).map(|v| Some(Some(v))),
    }
}

#[derive(InputObject)]
pub struct AddressInput {
    pub recipient: String,
    pub phone: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `KZ`.
    pub country: String,
}

impl AddressInput {
    pub fn parse(self) -> Result<NewAddress, AppError> {
        use crate::domain::ValidationError as V;
        let text = |field: &str, raw: &str, max: usize| -> Result<String, V> {
            let value = raw.trim();
            if value.is_empty() {
                return Err(V::new(field, "must not be empty"));
            }
            if value.chars().count() > max || value.chars().any(char::is_control) {
                return Err(V::new(
                    field,
                    format!("must be at most {max} characters of text"),
                ));
            }
            Ok(value.to_owned())
        };
        let optional_text =
            |field: &str, raw: Option<String>, max: usize| -> Result<Option<String>, V> {
                raw.filter(|r| !r.trim().is_empty())
                    .map(|r| text(field, &r, max))
                    .transpose()
            };
        let parsed = (|| {
            Ok::<_, V>(NewAddress {
                recipient: text("recipient", &self.recipient, 100)?,
                phone: Phone::parse("phone", &self.phone)?.into_string(),
                line1: text("line1", &self.line1, 200)?,
                line2: optional_text("line2", self.line2, 200)?,
                city: text("city", &self.city, 100)?,
                region: optional_text("region", self.region, 100)?,
                postal_code: text("postalCode", &self.postal_code, 20)?,
                country: CountryCode::parse("country", &self.country)?,
            })
        })();
        parsed.map_err(|e| AppError::from(e.under("input")))
    }
}

#[derive(InputObject)]
pub struct CardInput {
    /// The full card number. It is checked (Luhn) and then discarded: only the brand, the
    /// last four digits and the expiry are stored.
    pub number: String,
    pub exp_month: i32,
    /// Four digits, or two (`29` means 2029).
    pub exp_year: i32,
    pub holder: Option<String>,
}

impl CardInput {
    pub fn parse(self) -> Result<(CardNumber, CardExpiry, Option<String>), AppError> {
        let under = |e: ValidationError| AppError::from(e.under("input"));
        let number = CardNumber::parse("number", &self.number).map_err(under)?;
        let expiry =
            CardExpiry::parse(self.exp_month, self.exp_year, crate::clock::now()).map_err(under)?;
        let holder = match self
            .holder
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            Some(holder) => Some(
                DisplayName::parse(holder)
                    .map_err(|_| {
                        AppError::bad_input("input.holder", "must be 1 to 50 characters of text")
                    })?
                    .into_string(),
            ),
            None => None,
        };
        Ok((number, expiry, holder))
    }
}
