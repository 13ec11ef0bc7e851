//! Input objects of the users area and their parsing into domain values. Field paths in
//! errors use the client's names (`input.displayName`).

use async_graphql::{InputObject, MaybeUndefined};

use crate::domain::{Bio, DisplayName, Phone, ProfilePatch, ValidationError, WebUrl};
use crate::error::AppError;

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
