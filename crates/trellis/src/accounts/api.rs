//! Accounts over the API: the RealWorld user and profile endpoints, and personal API tokens.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::{self, User};
use super::profiles::{ProfileBody, image_of, profile_of};
use super::{api_tokens, password};
use crate::error::{AppError, FieldErrors, Result, TAKEN, on_unique};
use crate::http::ClientIp;
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::{MaybeUser, RequireUser};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(current_user, update_user))
        .routes(routes!(profile))
        .routes(routes!(follow, unfollow))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

// ---------------------------------------------------------------- shapes

#[derive(Serialize, ToSchema)]
pub struct UserBody {
    email: String,
    /// A JWT for `Authorization: Token …`.
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    user: UserBody,
}

#[derive(Serialize, ToSchema)]
pub struct ProfileEnvelope {
    profile: ProfileBody,
}

fn blank_to_none(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

fn user_envelope(state: &AppState, u: &User) -> Result<UserEnvelope> {
    Ok(UserEnvelope {
        user: UserBody {
            email: u.email.clone(),
            token: api::issue_jwt(state, u)?,
            username: u.username.clone(),
            bio: blank_to_none(&u.bio),
            image: image_of(state, u.image_url.as_deref(), u.avatar.as_deref()),
        },
    })
}

/// `Some(text)` when present and not blank, else a "can't be blank" error on `field`.
fn required(value: &Option<String>, field: &str, errors: &mut FieldErrors) -> Option<String> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Some(value.clone().unwrap_or_default()),
        _ => {
            errors.add(field, "can't be blank");
            None
        }
    }
}

// ---------------------------------------------------------------- register / login

// The schemas say what is checked: `pattern`s of this API only ask for a character that is not white space
// (as Rust's `trim` counts it), since values are trimmed before being checked for blanks.
#[derive(Deserialize, ToSchema)]
pub struct NewUser {
    /// Letters, digits and `. _ + -`; unique.
    #[schema(value_type = String, max_length = 150, pattern = "^[A-Za-z0-9._+-]+$")]
    username: Option<String>,
    /// Unique.
    #[schema(value_type = String, format = Email, max_length = 254)]
    email: Option<String>,
    /// At least 8 characters; the server's password validators may ask for more (see docs/API.md).
    #[schema(value_type = String, min_length = 8, max_length = 4096, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    password: Option<String>,
}

// An envelope holds its one key: anything else beside it is a mistake worth a 422.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserEnvelope {
    #[schema(inline)]
    user: NewUser,
}

/// Register a user (RealWorld). Throttled per client address.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserEnvelope,
    responses((status = 201, body = UserEnvelope), (status = 409, description = "username or email taken"),
              (status = 422, description = "invalid field")))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<NewUserEnvelope>,
) -> Result<Response> {
    state
        .throttles
        .check(&state.throttles.register, &[format!("ip:{ip}")])
        .await?;
    let u = body.user;
    let mut errors = FieldErrors::new();
    let username = required(&u.username, "username", &mut errors);
    let email = required(&u.email, "email", &mut errors);
    let pass = required(&u.password, "password", &mut errors);
    let (Some(username), Some(email), Some(pass)) = (username, email, pass) else {
        return Err(AppError::Validation(errors));
    };
    match super::register(&state, &username, &email, &pass).await? {
        Ok(user) => Ok((
            StatusCode::CREATED,
            axum::Json(user_envelope(&state, &user)?),
        )
            .into_response()),
        Err(errors)
            if errors
                .get("username")
                .iter()
                .chain(errors.get("email"))
                .any(|m| m == TAKEN) =>
        {
            Err(AppError::Conflict(errors))
        }
        Err(errors) => Err(AppError::Validation(errors)),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginUser {
    /// The email address (or the username).
    #[schema(value_type = String, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    email: Option<String>,
    #[schema(value_type = String, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    password: Option<String>,
}

// An envelope holds its one key: anything else beside it is a mistake worth a 422.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginEnvelope {
    #[schema(inline)]
    user: LoginUser,
}

/// Log in with email and password; answers the user with a JWT. Throttled per address and per account.
#[utoipa::path(post, path = "/users/login", tag = "users", request_body = LoginEnvelope,
    responses((status = 200, body = UserEnvelope), (status = 401, description = "credentials invalid"),
              (status = 429, description = "too many attempts")))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginEnvelope>,
) -> Result<Response> {
    let mut errors = FieldErrors::new();
    let email = required(&body.user.email, "email", &mut errors);
    let pass = required(&body.user.password, "password", &mut errors);
    let (Some(email), Some(pass)) = (email, pass) else {
        return Err(AppError::Validation(errors));
    };
    let key = email.trim().to_lowercase();
    state
        .throttles
        .check(
            &state.throttles.login,
            &[format!("ip:{ip}"), format!("login:{key}")],
        )
        .await?;
    let user = models::find_by_login(&state.db, &key).await?;
    let stored = user
        .as_ref()
        .filter(|u| u.is_active)
        .map(|u| u.password_hash.clone());
    if !password::verify_blocking(pass, stored).await {
        return Err(AppError::Unauthorized(FieldErrors::single(
            "credentials",
            "invalid",
        )));
    }
    let user = user.expect("verified");
    models::touch_last_login(&state.db, user.id).await?;
    Ok(axum::Json(user_envelope(&state, &user)?).into_response())
}

// ---------------------------------------------------------------- current user

/// The signed-in user, with a fresh JWT.
#[utoipa::path(get, path = "/user", tag = "users", security(("token" = [])),
    responses((status = 200, body = UserEnvelope), (status = 401, description = "no or bad credentials")))]
async fn current_user(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
) -> Result<Response> {
    Ok(axum::Json(user_envelope(&state, &user)?).into_response())
}

/// Every field may be left out. `bio` and `image` may be `null` (or empty) to clear them; `email`,
/// `username` and `password` may not.
#[derive(Deserialize, ToSchema)]
pub struct UpdateUser {
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = String, required = false, format = Email, max_length = 254)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = String, required = false, max_length = 150, pattern = "^[A-Za-z0-9._+-]+$")]
    username: Option<Option<String>>,
    /// At least 8 characters; the server's password validators may ask for more.
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = String, required = false, min_length = 8, max_length = 4096)]
    password: Option<Option<String>>,
    /// An http(s) URL written in plain ASCII (percent-encoded), with a host name; `null` or an empty
    /// string clears the picture (an uploaded avatar too).
    // What `image_url_is_acceptable` checks, as far as a pattern can: host names starting with a letter
    // keep out of the pattern the digits-only hosts that URL parsers read as IPv4 addresses.
    #[serde(default, deserialize_with = "api::present")]
    #[schema(
        value_type = Option<String>,
        nullable,
        max_length = 500,
        pattern = r"^([Hh][Tt][Tt][Pp][Ss]?://[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z][A-Za-z0-9-]*)*(:[0-9]{1,4})?([/?#][A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]*)?)?$"
    )]
    image: Option<Option<String>>,
    /// `null` or an empty string clears it.
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = Option<String>, nullable, max_length = 2000)]
    bio: Option<Option<String>>,
}

/// A field that may be left out but not sent as `null`.
fn not_null(
    value: Option<Option<String>>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<String> {
    match value {
        Some(None) => {
            errors.add(field, "can't be null");
            None
        }
        other => other.flatten(),
    }
}

/// An image URL the API stores: http(s), at most 500 bytes, only the characters a URL is written with
/// (anything else percent-encoded), and a host that is a name or an address.
fn image_url_is_acceptable(image: &str) -> bool {
    let url_char = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c);
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.');
    image.len() <= 500
        && image.chars().all(url_char)
        && url::Url::parse(image).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| h.chars().all(host_char))
        })
}

// An envelope holds its one key: anything else beside it is a mistake worth a 422.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserEnvelope {
    #[schema(inline)]
    user: UpdateUser,
}

/// Update the signed-in user; every field is optional. A new password voids earlier JWTs.
#[utoipa::path(put, path = "/user", tag = "users", security(("token" = [])), request_body = UpdateUserEnvelope,
    responses((status = 200, body = UserEnvelope), (status = 409, description = "username or email taken"),
              (status = 422, description = "invalid field")))]
async fn update_user(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    ApiJson(body): ApiJson<UpdateUserEnvelope>,
) -> Result<Response> {
    let u = body.user;
    let mut errors = FieldErrors::new();
    let u_username = not_null(u.username, "username", &mut errors);
    let u_email = not_null(u.email, "email", &mut errors);
    let u_password = not_null(u.password, "password", &mut errors);
    // `null` and "" both clear; after this, `Some("")` means "clear".
    let u_bio = u.bio.map(Option::unwrap_or_default);
    let u_image = u.image.map(Option::unwrap_or_default);
    let username = match &u_username {
        Some(name) => super::parse_username(name)
            .map_err(|e| errors.add("username", e))
            .ok(),
        None => None,
    };
    let email = match &u_email {
        Some(e) => super::parse_email(e)
            .map_err(|m| errors.add("email", m))
            .ok(),
        None => None,
    };
    if let Some(p) = &u_password {
        let name = username.as_deref().unwrap_or(&user.username);
        let mail = email.as_deref().unwrap_or(&user.email);
        super::check_password(&state, "password", p, name, mail, &mut errors);
    }
    if let Some(bio) = &u_bio
        && bio.chars().count() > 2000
    {
        errors.add("bio", "is too long (maximum is 2000 characters)");
    }
    if let Some(image) = u_image.as_deref().filter(|i| !i.is_empty())
        && !image_url_is_acceptable(image)
    {
        errors.add("image", "must be an http(s) URL of at most 500 characters");
    }
    errors.into_result()?;
    let mut conflicts = FieldErrors::new();
    if let Some(name) = &username
        && let Some(other) = models::find_by_username(&state.db, name).await?
        && other.id != user.id
    {
        conflicts.add("username", TAKEN);
    }
    if let Some(e) = &email
        && let Some(other) = models::find_by_email(&state.db, e).await?
        && other.id != user.id
    {
        conflicts.add("email", TAKEN);
    }
    if !conflicts.is_empty() {
        return Err(AppError::Conflict(conflicts));
    }
    let current = models::user::Entity::find_by_id(user.id)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let mut active = current.into_active_model();
    if let Some(name) = username {
        active.username = Set(name);
    }
    if let Some(e) = email {
        active.email = Set(e);
    }
    if let Some(p) = u_password {
        active.password_hash = Set(password::hash_blocking(p).await?);
    }
    if let Some(bio) = u_bio {
        active.bio = Set(bio);
    }
    // Clearing the picture clears an uploaded avatar too, so it reads back as null.
    let mut dropped_avatar = None;
    if let Some(image) = u_image {
        if image.is_empty() {
            dropped_avatar = user.avatar.clone();
            active.avatar = Set(None);
        }
        active.image_url = Set(blank_to_none(&image));
    }
    let saved = active
        .update(&state.db)
        .await
        .map_err(|e| on_unique(e, &[models::USERNAME_UNIQUE, models::EMAIL_UNIQUE]))?;
    if let Some(key) = dropped_avatar {
        let _ = state.storage.delete(&key).await;
        let _ = state.storage.delete(&super::thumb_key(&key)).await;
    }
    Ok(axum::Json(user_envelope(&state, &saved)?).into_response())
}

// ---------------------------------------------------------------- profiles

async fn profile_user(state: &AppState, username: &str) -> Result<User> {
    models::find_by_username(&state.db, username)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| AppError::not_found("profile"))
}

/// A user's public profile; `following` is for the caller (false when anonymous).
#[utoipa::path(get, path = "/profiles/{username}", tag = "profiles",
    params(("username" = String, Path)),
    responses((status = 200, body = ProfileEnvelope), (status = 404, description = "no such profile")))]
async fn profile(
    State(state): State<AppState>,
    MaybeUser(me): MaybeUser,
    Path(username): Path<String>,
) -> Result<Response> {
    let u = profile_user(&state, &username).await?;
    let following = match &me {
        Some(me) => models::is_following(&state.db, me.id, u.id).await?,
        None => false,
    };
    Ok(axum::Json(ProfileEnvelope {
        profile: profile_of(&state, &u, following),
    })
    .into_response())
}

/// Follow a user.
#[utoipa::path(post, path = "/profiles/{username}/follow", tag = "profiles", security(("token" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = ProfileEnvelope), (status = 404, description = "no such profile"),
              (status = 422, description = "that is the caller")))]
async fn follow(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(username): Path<String>,
) -> Result<Response> {
    let u = profile_user(&state, &username).await?;
    if u.id == me.id {
        return Err(AppError::invalid("profile", "cannot follow yourself"));
    }
    models::follow(&state.db, me.id, u.id).await?;
    Ok(axum::Json(ProfileEnvelope {
        profile: profile_of(&state, &u, true),
    })
    .into_response())
}

/// Stop following a user.
#[utoipa::path(delete, path = "/profiles/{username}/follow", tag = "profiles", security(("token" = [])),
    params(("username" = String, Path)),
    responses((status = 200, body = ProfileEnvelope), (status = 404, description = "no such profile")))]
async fn unfollow(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(username): Path<String>,
) -> Result<Response> {
    let u = profile_user(&state, &username).await?;
    models::unfollow(&state.db, me.id, u.id).await?;
    Ok(axum::Json(ProfileEnvelope {
        profile: profile_of(&state, &u, false),
    })
    .into_response())
}

// ---------------------------------------------------------------- personal API tokens

#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    id: i64,
    name: String,
    /// The first characters, to tell tokens apart.
    prefix: String,
    created_at: String,
    last_used_at: Option<String>,
    /// The token itself: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

fn token_body(t: &api_tokens::ApiToken, plain: Option<String>) -> TokenBody {
    TokenBody {
        id: t.id,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created_at: api::timestamp(&t.created_at),
        last_used_at: t.last_used_at.as_ref().map(api::timestamp),
        token: plain,
    }
}

/// The caller's personal API tokens, newest first (`page`, `page_size`).
#[utoipa::path(get, path = "/tokens", tag = "tokens", security(("token" = [])),
    params(api::PageParams),
    responses((status = 200, body = Page<TokenBody>)))]
async fn list_tokens(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let paging = PageNumber::from_query(&q, 20, 100)?;
    let (rows, count) = api_tokens::list(&state.db, me.id, paging.window()).await?;
    let results = rows.iter().map(|t| token_body(t, None)).collect();
    Ok(axum::Json(paging.wrap(results, count, "/api/tokens", &q)?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct NewToken {
    /// What the token is for; at most 50 tokens per user.
    #[schema(value_type = String, max_length = 100, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    name: Option<String>,
}

/// Create a personal API token. The token is in this answer only; store it now.
#[utoipa::path(post, path = "/tokens", tag = "tokens", security(("token" = [])), request_body = NewToken,
    responses((status = 201, body = TokenBody), (status = 422, description = "invalid name or too many tokens")))]
async fn create_token(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<Response> {
    let (token, plain) =
        api_tokens::new_token(&state, me.id, body.name.as_deref().unwrap_or("")).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(token_body(&token, Some(plain))),
    )
        .into_response())
}

/// Revoke one of the caller's tokens.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 404, description = "no such token of yours")))]
async fn revoke_token(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = crate::db::parse_id(&id, "token")?;
    if api_tokens::revoke(&state.db, me.id, id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found("token"))
    }
}

#[cfg(test)]
mod tests {
    use super::image_url_is_acceptable;

    #[test]
    fn image_urls_are_plain_http_urls_with_a_host() {
        for ok in [
            "https://example.com/a.png",
            "HTTP://cdn.example.com:8080/x/y.jpg?s=200&d=identicon#top",
            "http://127.0.0.1/a%20b.png",
        ] {
            assert!(image_url_is_acceptable(ok), "{ok}");
        }
        for bad in [
            "ftp://example.com/a.png",
            "https://example.com/a b.png",
            "https://example.com/é.png",
            "https://a*b/x.png",
            "https://",
            "javascript:alert(1)",
        ] {
            assert!(!image_url_is_acceptable(bad), "{bad}");
        }
        assert!(!image_url_is_acceptable(&format!(
            "https://example.com/{}",
            "a".repeat(490)
        )));
    }
}
