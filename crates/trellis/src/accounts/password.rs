//! Password hashing (argon2id) and the validators of Django's `AUTH_PASSWORD_VALIDATORS`.
//!
//! The same [`validate`] runs wherever a password is set: the register and change pages, the API and the CLI.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::config::PasswordRule;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 4096;
/// zxcvbn scores below this are refused as too easy to guess.
const MIN_SCORE: u8 = 2;
/// Django's default maximum similarity between a password and a user attribute.
const MAX_SIMILARITY: f64 = 0.7;

/// Hashes with argon2id (OWASP parameters: 19 MiB, 2 passes). CPU-heavy: requests use [`hash_blocking`].
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a stored hash. CPU-heavy: requests use [`verify_blocking`].
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when no user matches, so that
/// "no such user" takes as long as "wrong password".
pub fn dummy_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored =
        DUMMY.get_or_init(|| hash(&hex::encode(rand::random::<[u8; 16]>())).unwrap_or_default());
    let _ = verify(password, stored);
}

/// At most one hash a core at a time: each takes 19 MiB, so a burst of logins waits its turn rather
/// than growing memory with the number of requests in flight.
static HASHING: crate::blocking::Lane = crate::blocking::Lane::per_core();

pub async fn hash_blocking(password: String) -> anyhow::Result<String> {
    HASHING.run(move || hash(&password)).await?
}

pub async fn verify_blocking(password: String, stored: Option<String>) -> bool {
    HASHING
        .run(move || match stored {
            Some(s) => verify(&password, &s),
            None => {
                dummy_verify(&password);
                false
            }
        })
        .await
        .unwrap_or(false)
}

/// Checks a new password against the configured rules; each failure is one message for the field.
pub fn validate(
    password: &str,
    username: &str,
    email: &str,
    rules: &[PasswordRule],
) -> Vec<String> {
    let mut errors = Vec::new();
    if password.is_empty() {
        errors.push("can't be blank".to_string());
        return errors;
    }
    if password.chars().count() > MAX_LENGTH {
        errors.push(format!("is too long (maximum is {MAX_LENGTH} characters)"));
        return errors;
    }
    for rule in rules {
        match rule {
            PasswordRule::Length if password.chars().count() < MIN_LENGTH => {
                errors.push(format!("is too short (minimum is {MIN_LENGTH} characters)"));
            }
            PasswordRule::Similarity => {
                if let Some(attr) = similar_attribute(password, username, email) {
                    errors.push(format!("is too similar to the {attr}"));
                }
            }
            PasswordRule::Common => {
                let inputs: Vec<&str> = [username, email]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                let score = u8::from(zxcvbn::zxcvbn(password, &inputs).score());
                if score < MIN_SCORE {
                    errors.push("is too common or too easy to guess".to_string());
                }
            }
            PasswordRule::Numeric if password.chars().all(|c| c.is_ascii_digit()) => {
                errors.push("is entirely numeric".to_string());
            }
            _ => {}
        }
    }
    errors
}

/// Which user attribute (if any) the password resembles, as Django's UserAttributeSimilarityValidator.
fn similar_attribute(password: &str, username: &str, email: &str) -> Option<&'static str> {
    let pw = password.to_lowercase();
    let local = email.split('@').next().unwrap_or("");
    let candidates: [(&'static str, &str); 3] = [
        ("username", username),
        ("email address", email),
        ("email address", local),
    ];
    for (label, value) in candidates {
        let value = value.to_lowercase();
        if value.chars().count() < 3 {
            continue;
        }
        let whole = std::iter::once(value.as_str());
        let parts = value
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| p.chars().count() >= 3);
        for part in whole.chain(parts) {
            if similarity(&pw, part) >= MAX_SIMILARITY || (part.chars().count() >= 4 && pw == part)
            {
                return Some(label);
            }
        }
    }
    None
}

/// 2·LCS / (|a| + |b|): 1.0 for equal strings, 0.0 for nothing in common.
fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    // Bounded so an attacker cannot make us do quadratic work on huge input.
    if a.len() > 256 || b.len() > 256 {
        return 0.0;
    }
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for ca in &a {
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = if ca == cb {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    2.0 * prev[b.len()] as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[PasswordRule] = &[
        PasswordRule::Length,
        PasswordRule::Similarity,
        PasswordRule::Common,
        PasswordRule::Numeric,
    ];

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash("a long passphrase").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("a long passphrase", &h));
        assert!(!verify("a long passphrasE", &h));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn a_strong_password_passes_every_rule() {
        assert!(
            validate(
                "violet-harbor-quantum-41",
                "alice",
                "alice@example.com",
                ALL
            )
            .is_empty()
        );
    }

    #[test]
    fn each_rule_names_its_failure() {
        assert!(
            validate("Xk9!q", "alice", "a@example.com", ALL)
                .iter()
                .any(|e| e.contains("too short"))
        );
        assert!(
            validate("alice1234", "alice1234", "x@example.com", ALL)
                .iter()
                .any(|e| e.contains("username"))
        );
        assert!(
            validate("password", "bob", "b@example.com", ALL)
                .iter()
                .any(|e| e.contains("too common"))
        );
        assert!(
            validate("8264019375", "bob", "b@example.com", ALL)
                .iter()
                .any(|e| e.contains("numeric"))
        );
    }

    #[test]
    fn only_configured_rules_apply() {
        assert!(validate("password123", "u", "u@example.com", &[PasswordRule::Length]).is_empty());
        assert!(!validate("short", "u", "u@example.com", &[PasswordRule::Length]).is_empty());
    }

    #[test]
    fn similarity_matches_email_local_part() {
        assert_eq!(
            similar_attribute("jonathan.smith", "js", "jonathan.smith@example.com"),
            Some("email address")
        );
        assert_eq!(
            similar_attribute("violet-harbor-quantum", "js", "jonathan.smith@example.com"),
            None
        );
    }
}
