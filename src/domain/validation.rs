/// A value the client sent that breaks a domain rule.
///
/// Deliberately not `Display` (nor `std::error::Error`): async-graphql turns any `Display`
/// error into a client error with no code. It reaches a client only as `BAD_USER_INPUT` with
/// `extensions.field`, through `AppError` (so `parse_x(..)?` in a resolver is coded).
///
/// `field` names the input field in the client's terms (`"email"`, `"input.password"`), so the
/// GraphQL layer can put it in `extensions.field` without guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The text a client reads (`email is not a valid address`), for the command line.
    pub fn describe(&self) -> String {
        format!("{} {}", self.field, self.message)
    }

    /// The same error for a field nested under `prefix` (`input` + `email` → `input.email`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// Trims `raw` and checks its length in characters and that it holds no control characters
/// (newlines are allowed only when `multiline`).
pub(crate) fn clean_text(
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, ValidationError> {
    let value = raw.trim();
    let len = value.chars().count();
    if len < min {
        return Err(if min == 1 {
            ValidationError::new(field, "must not be empty")
        } else {
            ValidationError::new(field, format!("must be at least {min} characters"))
        });
    }
    if len > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')));
    if bad {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// The bidirectional formatting characters: embeddings and overrides (U+202A–U+202E) and
/// isolates (U+2066–U+2069), which reorder the text around them, and the implicit marks (LRM
/// U+200E, RLM U+200F, ALM U+061C), which are invisible. An override lets `gpj.exe` display
/// as `exe.jpg`.
pub(crate) fn is_bidi_control(c: char) -> bool {
    is_bidi_override_or_isolate(c) || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// The bidirectional characters that reorder text, leaving out the implicit marks that
/// right-to-left names can legitimately need.
pub(crate) fn is_bidi_override_or_isolate(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no visible room of their own: format characters (general category
/// Cf: zero-width space U+200B, word joiner U+2060, BOM U+FEFF, the bidi controls…), default
/// ignorable code points (Unicode's list of what renderers draw as nothing, including the
/// Hangul fillers U+3164 and U+FFA0 that pose as letters) and the blank braille pattern U+2800.
pub(crate) fn is_invisible(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    use unicode_security::GeneralSecurityProfile;
    use unicode_security::general_security_profile::IdentifierType;
    c.general_category() == GeneralCategory::Format
        || c.identifier_type() == Some(IdentifierType::Default_Ignorable)
        || c == '\u{2800}'
}
