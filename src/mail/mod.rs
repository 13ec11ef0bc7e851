//! Outgoing mail: the templates services render, the outbox handle they enqueue through,
//! the mailers that put a message on the wire (SMTP, or `.eml` files for zero setup), and the
//! delivery worker that drains the outbox with retries.
//!
//! Nothing here decides *whether* to mail someone; that is the services' business. Services
//! never call a [`Mailer`] themselves: mail goes through the outbox, so a slow or broken mail
//! server never fails or slows a request.

mod delivery;
mod file;
mod smtp;
pub mod templates;

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};

pub use delivery::{Delivered, DeliveryReport, MailDelivery, Outbox, RetryPolicy};
pub use file::FileMailer;
pub use smtp::SmtpMailer;

use crate::config::MailConfig;
use crate::domain::OutgoingMail;

/// Why a delivery attempt failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    /// Retrying cannot help (the server refused the recipient, the address is malformed): the
    /// message is given up at once instead of after every retry.
    pub permanent: bool,
    /// For logs and the outbox's `last_error`; may quote the mail server.
    pub message: String,
}

impl MailError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            message: message.into(),
        }
    }
}

/// Puts one message on the wire. Implementations must be idempotent per message id as far
/// as they can (the file mailer overwrites the same file; SMTP resends with the same
/// `Message-ID`), because a worker that dies after sending but before recording it makes
/// the outbox deliver that message again.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// Parses the configured sender (`Name <address>` or a bare address).
pub fn parse_sender(from: &str) -> Result<Mailbox, String> {
    from.parse()
        .map_err(|e| format!("mail.from {from:?} is not a mail address: {e}"))
}

/// The mailer the configuration names: SMTP when `mail.smtp_url` is set, otherwise `.eml`
/// files under `<data_dir>/outbox/`.
pub fn mailer_from_config(config: &MailConfig, data_dir: &Path) -> Result<Arc<dyn Mailer>, String> {
    let from = parse_sender(&config.from)?;
    match config.smtp_url.as_deref().filter(|url| !url.is_empty()) {
        Some(url) => Ok(Arc::new(SmtpMailer::new(
            url,
            from,
            std::time::Duration::from_secs(config.send_timeout_secs),
        )?)),
        None => Ok(Arc::new(FileMailer::new(data_dir.join("outbox"), from))),
    }
}

/// The RFC 5322 message: `text/plain` and `text/html` alternatives, and a `Message-ID` and
/// `Date` derived from the outbox entry, so a retried delivery is recognisably the same
/// message.
pub(crate) fn compose(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, MailError> {
    let to: Mailbox = mail
        .to
        .as_str()
        .parse()
        .map_err(|e| MailError::permanent(format!("bad recipient address: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.as_str())
        .message_id(Some(format!("<{}@{}>", mail.id, from.email.domain())))
        .date(SystemTime::from(mail.created_at))
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailError::permanent(format!("cannot build the message: {e}")))
}
