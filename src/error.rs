//! The one error type of the service layer and what each variant means to a client.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql converts any
//! `Display` type into a client-visible error with its text and no code. Without `Display`,
//! the only way an `AppError` reaches a client is `graphql::error`, which adds
//! `extensions.code` and masks internal failures.

use crate::domain::ValidationError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum AppError {
    /// `UNAUTHENTICATED`: no valid credentials — logged out, wrong password, bad or expired
    /// token, revoked session.
    Unauthenticated(&'static str),
    /// `FORBIDDEN`: authenticated, but this viewer may not do this.
    Forbidden(&'static str),
    /// `NOT_FOUND`: the object does not exist or the viewer may not know it does.
    NotFound(&'static str),
    /// `BAD_USER_INPUT`: a value breaks a rule; `field` names it (`input.email`).
    BadUserInput { field: String, message: String },
    /// `CONFLICT`: the request clashes with stored state (a taken email, a reused key).
    Conflict {
        field: Option<String>,
        message: String,
    },
    /// `RATE_LIMITED`: too many attempts; retry after this many seconds.
    RateLimited { retry_after_secs: u64 },
    /// `PAYMENT_DECLINED`: the payment gateway refused the charge; the text is the stable
    /// reason (`card_declined`, `insufficient_funds`), also sent as `extensions.reason`.
    PaymentDeclined(String),
    /// `FEATURE_UNAVAILABLE`: this deployment cannot serve the request (its database lacks
    /// what the feature needs); the text says which feature. Retrying will not help.
    Unavailable(&'static str),
    /// `INTERNAL_SERVER_ERROR`: our fault. The text is logged with the request id and never
    /// shown to the client.
    Internal(String),
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        AppError::Internal(err.to_string())
    }

    /// The stable `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput { .. } => "BAD_USER_INPUT",
            AppError::Conflict { .. } => "CONFLICT",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::PaymentDeclined(_) => "PAYMENT_DECLINED",
            AppError::Unavailable(_) => "FEATURE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// What the client reads. Internal details never appear here.
    pub fn client_message(&self) -> String {
        match self {
            AppError::Unauthenticated(m) | AppError::Forbidden(m) | AppError::Unavailable(m) => {
                (*m).to_owned()
            }
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::BadUserInput { field, message } => format!("{field} {message}"),
            AppError::Conflict { message, .. } => message.clone(),
            AppError::RateLimited { retry_after_secs } => {
                format!("too many attempts; retry in {retry_after_secs} s")
            }
            AppError::PaymentDeclined(reason) => format!("payment declined: {reason}"),
            AppError::Internal(_) => "internal server error".to_owned(),
        }
    }
}

impl From<ValidationError> for AppError {
    fn from(err: ValidationError) -> Self {
        AppError::BadUserInput {
            field: err.field,
            message: err.message,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { field } => AppError::Conflict {
                field: Some(field.to_owned()),
                message: format!("{field} is already taken"),
            },
            StoreError::Backend(message) => AppError::Internal(message),
            StoreError::Unsupported(feature) => AppError::Unavailable(feature),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
