//! An outgoing mail message as the application composes it: recipient, subject and the two
//! renderings of one body. The sender address and the wire format belong to the mailer.

use chrono::{DateTime, Utc};

use super::{Email, MailId};

/// One message to one recipient, with a plain-text body and an HTML alternative of the same
/// content (mail clients show whichever they prefer).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMail {
    pub id: MailId,
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: DateTime<Utc>,
}
