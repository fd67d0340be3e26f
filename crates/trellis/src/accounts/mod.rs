//! Accounts: users, groups and permissions, sessions, registration, password management and profiles.
//! The rules here (username and email shape, password validators) are the same for pages, API and CLI.

pub mod admin;
pub mod api;
pub mod api_tokens;
pub mod models;
mod pages;
pub mod password;
pub mod perms;
pub mod profiles;
pub mod tokens;

use axum::Router;

use crate::error::FieldErrors;
use crate::state::AppState;
use models::{NewUser, User};

pub fn router() -> Router<AppState> {
    pages::router()
}

/// The accounts app: users, groups, permissions, sessions and API tokens (Django's `auth`).
pub fn app() -> crate::registry::AppConfig {
    crate::registry::AppConfig {
        label: "accounts",
        name: "Accounts",
        pages: router,
        api: Some(api::router),
        api_tags: &[
            ("users", "Registration, login and the current user"),
            ("profiles", "Public profiles and follows"),
            ("tokens", "Personal API tokens"),
        ],
        jobs: &[],
        nav: None,
        permissions: &[],
        templates: crate::embedded_templates![
            "accounts/register.html",
            "accounts/login.html",
            "accounts/logged_out.html",
            "accounts/password_change.html",
            "accounts/password_reset.html",
            "accounts/password_reset_done.html",
            "accounts/password_reset_confirm.html",
            "accounts/password_reset_email.txt",
            "accounts/profile.html",
            "accounts/profile_edit.html",
            "accounts/tokens.html",
        ],
        sessionless_templates: &[],
        cached_views: &[],
        models: admin::models,
        init: None,
    }
}

pub const USERNAME_MAX: usize = 150;

/// A username: 1–150 ASCII letters, digits and `.`, `_`, `+`, `-`. ASCII only, so case-insensitive
/// uniqueness means the same thing on SQLite and PostgreSQL.
pub fn parse_username(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("can't be blank".into());
    }
    if name.len() > USERNAME_MAX {
        return Err(format!(
            "is too long (maximum is {USERNAME_MAX} characters)"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
    {
        return Err("may contain only letters, digits and . _ + -".into());
    }
    Ok(name.to_string())
}

/// An email address as lettre understands it, with the domain in lower case.
pub fn parse_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    if email.is_empty() {
        return Err("can't be blank".into());
    }
    if email.len() > 254 {
        return Err("is too long (maximum is 254 characters)".into());
    }
    let addr: lettre::Address = email
        .parse()
        .map_err(|_| "is not a valid email address".to_string())?;
    if !addr.domain().contains('.') && addr.domain() != "localhost" {
        return Err("is not a valid email address".into());
    }
    Ok(format!(
        "{}@{}",
        addr.user(),
        addr.domain().to_ascii_lowercase()
    ))
}

const AVATAR_SIDE: u32 = 256;
const AVATAR_THUMB_SIDE: u32 = 64;

/// Decodes and re-encodes an uploaded avatar off the async threads: the square picture and its
/// thumbnail as PNG, or why the file was refused.
pub async fn process_avatar(
    state: &AppState,
    bytes: Vec<u8>,
) -> Result<Result<(Vec<u8>, Vec<u8>), String>, crate::error::AppError> {
    let max = state.settings.max_image_bytes;
    let out = crate::images::process(move || {
        crate::images::decode(&bytes, max).map(|img| {
            (
                crate::images::square_png(&img, AVATAR_SIDE),
                crate::images::square_png(&img, AVATAR_THUMB_SIDE),
            )
        })
    })
    .await
    .map_err(|e| crate::error::AppError::Internal(e.into()))?;
    Ok(out.map_err(|crate::images::Rejected(m)| m))
}

/// Stores a processed avatar and its thumbnail under a new key; nothing is left behind on failure.
pub async fn store_avatar(
    storage: &crate::storage::Storage,
    (full, thumb): (Vec<u8>, Vec<u8>),
) -> Result<String, crate::error::AppError> {
    let key = format!("avatars/{}.png", uuid::Uuid::new_v4().simple());
    storage
        .put_pair((&key, &full), (&thumb_key(&key), &thumb))
        .await?;
    Ok(key)
}

/// The storage key of an avatar's thumbnail.
pub fn thumb_key(avatar_key: &str) -> String {
    match avatar_key.strip_suffix(".png") {
        Some(stem) => format!("{stem}.thumb.png"),
        None => format!("{avatar_key}.thumb"),
    }
}

/// Checks a new password with the configured validators; errors are filed under `field`.
pub fn check_password(
    state: &AppState,
    field: &str,
    password: &str,
    username: &str,
    email: &str,
    errors: &mut FieldErrors,
) {
    let rules = state.settings.password_rules().expect("validated at load");
    for msg in password::validate(password, username, email, &rules) {
        errors.add(field, msg);
    }
}

/// Creates an ordinary user after validating every field; the one path for pages, API and CLI.
pub async fn register(
    state: &AppState,
    username: &str,
    email: &str,
    password: &str,
) -> Result<Result<User, FieldErrors>, crate::error::AppError> {
    create_user(&state.db, &state.settings, username, email, password, false).await
}

/// Checks a would-be user's fields; the cleaned username and email come back when they are valid.
pub fn validate_new_user(
    settings: &crate::config::Settings,
    username: &str,
    email: &str,
    password: &str,
) -> (FieldErrors, Option<(String, String)>) {
    let mut errors = FieldErrors::new();
    let username = parse_username(username)
        .map_err(|e| errors.add("username", e))
        .ok();
    let email = parse_email(email).map_err(|e| errors.add("email", e)).ok();
    let rules = settings.password_rules().expect("validated at load");
    for msg in password::validate(
        password,
        username.as_deref().unwrap_or(""),
        email.as_deref().unwrap_or(""),
        &rules,
    ) {
        errors.add("password", msg);
    }
    (errors, username.zip(email))
}

/// Validates and creates a user (a superuser when asked): the CLI calls this without a running server.
pub async fn create_user(
    db: &crate::db::Db,
    settings: &crate::config::Settings,
    username: &str,
    email: &str,
    password: &str,
    superuser: bool,
) -> Result<Result<User, FieldErrors>, crate::error::AppError> {
    let (errors, cleaned) = validate_new_user(settings, username, email, password);
    let Some((username, email)) = cleaned.filter(|_| errors.is_empty()) else {
        return Ok(Err(errors));
    };
    let hash = password::hash_blocking(password.to_string()).await?;
    let created = models::create_user(
        db,
        NewUser {
            username: &username,
            email: &email,
            password_hash: hash,
            is_staff: superuser,
            is_superuser: superuser,
        },
    )
    .await?;
    Ok(created.map_err(|field| FieldErrors::single(field, crate::error::TAKEN)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_ascii_words() {
        assert_eq!(parse_username(" ann.lee "), Ok("ann.lee".into()));
        assert!(parse_username("").is_err());
        assert!(parse_username("ann lee").is_err());
        assert!(parse_username("ann@lee").is_err());
        assert!(parse_username("ännchen").is_err());
        assert!(parse_username(&"a".repeat(151)).is_err());
    }

    #[test]
    fn emails_are_checked_and_domains_lowercased() {
        assert_eq!(parse_email("Ann@Example.COM"), Ok("Ann@example.com".into()));
        assert!(parse_email("not an email").is_err());
        assert!(parse_email("ann@nodot").is_err());
        assert!(parse_email("").is_err());
    }

    #[test]
    fn thumbnails_sit_beside_their_avatar() {
        assert_eq!(thumb_key("avatars/abc.png"), "avatars/abc.thumb.png");
    }
}
