//! Password-reset tokens: signed, expiring, and single-use without any table, as Django's
//! PasswordResetTokenGenerator. The signature covers the password hash and last login, so the token
//! stops working once the password is changed or the user signs in.

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::models::User;

fn signature(secret: &str, user: &User, issued: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"trellis.password-reset:");
    mac.update(user.id.to_string().as_bytes());
    mac.update(b":");
    mac.update(issued.to_string().as_bytes());
    mac.update(b":");
    mac.update(user.password_hash.as_bytes());
    mac.update(b":");
    mac.update(
        user.last_login
            .map(|t| t.timestamp_micros())
            .unwrap_or(0)
            .to_string()
            .as_bytes(),
    );
    hex::encode(&mac.finalize().into_bytes()[..20])
}

/// `<user id>-<issued at>-<signature>`.
pub fn make(secret: &str, user: &User) -> String {
    make_at(secret, user, Utc::now().timestamp())
}

pub fn make_at(secret: &str, user: &User, issued: i64) -> String {
    format!("{}-{}-{}", user.id, issued, signature(secret, user, issued))
}

/// The user id a token claims, before checking it against the user.
pub fn user_id(token: &str) -> Option<i64> {
    token.split('-').next()?.parse().ok()
}

/// Whether the token is genuine, for this user's current state, and not older than `max_age_secs`.
pub fn check(secret: &str, user: &User, token: &str, max_age_secs: u64) -> bool {
    let mut parts = token.splitn(3, '-');
    let (Some(id), Some(issued), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(id), Ok(issued)) = (id.parse::<i64>(), issued.parse::<i64>()) else {
        return false;
    };
    if id != user.id {
        return false;
    }
    let age = Utc::now().timestamp() - issued;
    if age < 0 || age as u64 > max_age_secs {
        return false;
    }
    let expected = signature(secret, user, issued);
    expected.len() == sig.len()
        && expected
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 7,
            username: "ann".into(),
            email: "ann@example.com".into(),
            password_hash: "$argon2id$one".into(),
            display_name: String::new(),
            bio: String::new(),
            avatar: None,
            is_active: true,
            is_staff: false,
            is_superuser: false,
            date_joined: Utc::now(),
            last_login: None,
            image_url: None,
        }
    }

    #[test]
    fn a_fresh_token_checks() {
        let u = user();
        let t = make("secret", &u);
        assert_eq!(user_id(&t), Some(7));
        assert!(check("secret", &u, &t, 3600));
        assert!(!check("other secret", &u, &t, 3600));
    }

    #[test]
    fn a_changed_password_or_login_voids_the_token() {
        let mut u = user();
        let t = make("secret", &u);
        u.password_hash = "$argon2id$two".into();
        assert!(!check("secret", &u, &t, 3600));
        let mut u = user();
        u.last_login = Some(Utc::now());
        assert!(!check("secret", &u, &t, 3600));
    }

    #[test]
    fn an_old_token_expires() {
        let u = user();
        let t = make_at("secret", &u, Utc::now().timestamp() - 7200);
        assert!(!check("secret", &u, &t, 3600));
        assert!(check("secret", &u, &t, 10_000));
    }

    #[test]
    fn tampered_tokens_fail() {
        let u = user();
        let t = make("secret", &u);
        let forged = t.replacen("7-", "8-", 1);
        assert!(!check("secret", &u, &forged, 3600));
        assert!(!check("secret", &u, "garbage", 3600));
    }
}
