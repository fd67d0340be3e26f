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
        let to: Mailbox = to.parse().context("recipient address")?;
        let message = |to: Mailbox| {
            Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body.clone())
                .context("building message")
        };
        match &self.backend {
            Backend::Console => {
                // Development only: the whole message is the point of this backend.
                println!("{}", self.console_text(&to, subject, &body));
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
                tokio::fs::write(dir.join(name), message(to)?.formatted())
                    .await
                    .context("writing email file")?;
            }
            Backend::Smtp(transport) => {
                transport
                    .send(message(to)?)
                    .await
                    .context("sending email by SMTP")?;
            }
        }
        Ok(())
    }

    /// The message as a person reads it, not its wire form: that wraps long lines with quoted-printable
    /// `=` breaks, and a reset link copied from it would not open.
    fn console_text(&self, to: &Mailbox, subject: &str, body: &str) -> String {
        format!(
            "----- email -----\nFrom: {}\nTo: {to}\nSubject: {subject}\n\n{body}\n-----------------",
            self.from
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_prints_long_links_whole() {
        let settings = Settings::default();
        let mailer = Mailer::from_settings(&settings).unwrap();
        let link = format!(
            "https://trellis.example.com/accounts/reset/{}/{}/",
            "a".repeat(40),
            "b=c".repeat(40)
        );
        let text = mailer.console_text(
            &"ada@example.com".parse().unwrap(),
            "Reset your password",
            &format!("Open this link:\n{link}\n"),
        );
        assert!(text.lines().any(|l| l == link), "{text}");
        assert!(text.contains("Subject: Reset your password"));
    }
}
