//! The zero-setup mailer: every message becomes `<dir>/<mail id>.eml`, a complete RFC 5322
//! message any mail client opens, and its path is logged, so a newcomer can follow a reset
//! link without running a mail server.

use std::path::{Path, PathBuf};

use lettre::message::Mailbox;

use super::{MailError, Mailer, compose};
use crate::domain::OutgoingMail;

pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    pub fn new(dir: PathBuf, from: Mailbox) -> Self {
        Self { dir, from }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait::async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let bytes = compose(&self.from, mail)?.formatted();
        let path = self.dir.join(format!("{}.eml", mail.id));
        // Written under a temporary name and renamed, so a reader never sees half a message
        // and a redelivery replaces the file instead of adding a second one.
        let partial = self.dir.join(format!(".{}.eml.partial", mail.id));
        let io = |e: std::io::Error| {
            MailError::transient(format!("cannot write {}: {e}", path.display()))
        };
        // Owner-only: a message may hold a live password-reset link.
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || crate::data_dir::create_private_dir(&dir))
            .await
            .map_err(|e| MailError::transient(e.to_string()))?
            .map_err(io)?;
        let mut file = crate::data_dir::private_file_options_async()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .await
            .map_err(io)?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &bytes)
            .await
            .map_err(io)?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(io)?;
        drop(file);
        tokio::fs::rename(&partial, &path).await.map_err(io)?;
        tracing::info!(path = %path.display(), subject = %mail.subject, "mail written to the outbox directory (no SMTP server configured)");
        Ok(())
    }
}
