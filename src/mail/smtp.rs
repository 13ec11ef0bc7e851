//! Delivery over SMTP through lettre's pooled async transport (TLS by rustls when the URL
//! asks for it: `smtps://`, or `?tls=required` for STARTTLS).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{MailError, Mailer, compose};
use crate::domain::OutgoingMail;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// Checks the URL now, so a typo fails start-up rather than every delivery. No connection
    /// is made until the first message.
    pub fn new(url: &str, from: Mailbox, timeout: Duration) -> Result<Self, String> {
        // The URL may carry credentials: it never goes into the error.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("mail.smtp_url is not a valid SMTP URL: {e}"))?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = compose(&self.from, mail)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // 5xx: the server will say the same next time.
            Err(err) if err.is_permanent() => Err(MailError::permanent(err.to_string())),
            Err(err) => Err(MailError::transient(err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;
    use crate::domain::{Email, MailId};

    /// A one-connection SMTP server speaking just enough of RFC 5321 for one message. It
    /// answers `RCPT TO` with `rcpt_reply` and returns the DATA it received.
    async fn fake_server(rcpt_reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut data = String::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                let command = line.to_ascii_uppercase();
                let reply = if command.starts_with("EHLO") {
                    "250 fake\r\n"
                } else if command.starts_with("RCPT") {
                    rcpt_reply
                } else if command == "DATA" {
                    write.write_all(b"354 go on\r\n").await.unwrap();
                    while let Some(line) = lines.next_line().await.unwrap() {
                        if line == "." {
                            break;
                        }
                        data.push_str(&line);
                        data.push('\n');
                    }
                    "250 queued\r\n"
                } else if command == "QUIT" {
                    write.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                } else {
                    "250 ok\r\n"
                };
                write.write_all(reply.as_bytes()).await.unwrap();
            }
            data
        });
        (url, server)
    }

    fn mail() -> OutgoingMail {
        OutgoingMail {
            id: MailId::generate(),
            to: Email::from_trusted("ann@example.com".to_owned()),
            subject: "Hello".to_owned(),
            text: "Plain words".to_owned(),
            html: "<p>Rich words</p>".to_owned(),
            created_at: crate::clock::now(),
        }
    }

    fn mailer(url: &str) -> SmtpMailer {
        let from = "Agora <no-reply@agora.localhost>".parse().unwrap();
        SmtpMailer::new(url, from, Duration::from_secs(10)).unwrap()
    }

    #[tokio::test]
    async fn a_message_is_delivered_over_smtp_with_both_alternatives() {
        let (url, server) = fake_server("250 ok\r\n").await;
        let mail = mail();

        mailer(&url).send(&mail).await.unwrap();

        // The pooled transport keeps the connection open; the server hands back the data
        // it received once the mailer (and its pool) is dropped.
        let data = server.await.unwrap();
        assert!(data.contains("To: ann@example.com"), "{data}");
        assert!(data.contains(&format!("Message-ID: <{}@agora.localhost>", mail.id)));
        assert!(data.contains("Plain words") && data.contains("<p>Rich words</p>"));
    }

    #[tokio::test]
    async fn a_refused_recipient_is_a_permanent_failure() {
        let (url, _server) = fake_server("550 no such user\r\n").await;

        let error = mailer(&url).send(&mail()).await.unwrap_err();

        assert!(error.permanent, "{error:?}");
    }

    #[test]
    fn a_malformed_url_is_refused_without_echoing_it() {
        let from = "a@example.com".parse().unwrap();
        let error = SmtpMailer::new("smtp://user:hunter2@[bad", from, Duration::from_secs(1))
            .err()
            .expect("a bad URL is refused");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
