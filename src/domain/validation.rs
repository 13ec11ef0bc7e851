use std::fmt;

/// A value the client sent that breaks a domain rule.
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

    /// The same error for a field nested under `prefix` (`input` + `email` → `input.email`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

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
