//! Outgoing mail: printed to the log, written to files, or sent by SMTP (Django's EMAIL_BACKEND).

use std::path::PathBuf;

use anyhow::Context;
use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{EmailBackend, Settings};

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Console,
    File(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Mailer> {
        let from: Mailbox = settings
            .email_from
            .parse()
            .with_context(|| "setting TRELLIS_EMAIL_FROM: not a valid address")?;
        let backend = match settings.email_backend {
            EmailBackend::Console => Backend::Console,
            EmailBackend::File => Backend::File(settings.email_dir()),
            EmailBackend::Smtp => {
                let url = settings.smtp_url.as_ref().expect("validated at load");
                Backend::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                        .context("setting TRELLIS_SMTP_URL: not a valid smtp:// or smtps:// URL")?
                        .build(),
                )
            }
        };
        Ok(Mailer { from, backend })
    }

    /// Sends a plain-text message. Failures are returned so callers decide; addresses are never logged.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().context("recipient address")?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .context("building message")?;
        match &self.backend {
            Backend::Console => {
                let text = String::from_utf8_lossy(&message.formatted()).into_owned();
                // Development only: the whole message is the point of this backend.
                println!("----- email -----\n{text}\n-----------------");
            }
            Backend::File(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .with_context(|| format!("creating {}", dir.display()))?;
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
                    uuid::Uuid::new_v4()
                );
                tokio::fs::write(dir.join(name), message.formatted())
                    .await
                    .context("writing email file")?;
            }
            Backend::Smtp(transport) => {
                transport
                    .send(message)
                    .await
                    .context("sending email by SMTP")?;
            }
        }
        Ok(())
    }
}
