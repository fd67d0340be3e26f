//! Who is making the request. Browser sessions here; API tokens join in the same middleware.
//!
//! [`load_user`] runs once per request and leaves a [`CurrentUser`] in the request's extensions; handlers
//! take [`MaybeUser`] or [`RequireUser`].

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tower_sessions::Session;

use crate::accounts::models::{self, User};
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;

const USER_KEY: &str = "_auth_user_id";
const HASH_KEY: &str = "_auth_hash";

#[derive(Clone, Default)]
pub struct CurrentUser(pub Option<Arc<User>>);

/// Ties a session to the password it was opened with: changing the password ends other sessions.
fn session_auth_hash(secret: &str, password_hash: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"trellis.session-auth:");
    mac.update(password_hash.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub async fn load_user(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    // The scraper's bearer token is the metrics token, not a user's credential (the handler checks it).
    if req.uri().path() == "/metrics" {
        req.extensions_mut().insert(CurrentUser(None));
        return next.run(req).await;
    }
    // A request that brings a credential is judged by it alone; its session (if any) is ignored, so a
    // cookie can never lend authority to a request that names another identity.
    let user = match super::api::credential(req.headers()) {
        Some(cred) => match super::api::authenticate(&state, &cred).await {
            Ok(Some(u)) => Some(u),
            Ok(None) => {
                let msg = if cred.is_empty() {
                    "is missing"
                } else {
                    "is invalid"
                };
                return AppError::Unauthorized(FieldErrors::single("token", msg)).into_response();
            }
            Err(e) => return e.into_response(),
        },
        None => match user_from_session(&state, &session).await {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        },
    };
    if let Some(u) = &user {
        tracing::Span::current().record("user_id", u.id);
    }
    req.extensions_mut().insert(CurrentUser(user.map(Arc::new)));
    next.run(req).await
}

async fn user_from_session(state: &AppState, session: &Session) -> Result<Option<User>, AppError> {
    let Ok(Some(id)) = session.get::<i64>(USER_KEY).await else {
        return Ok(None);
    };
    let hash: Option<String> = session.get(HASH_KEY).await.ok().flatten();
    let user = models::find_by_id(&state.db, id).await?;
    match user {
        Some(u)
            if u.is_active
                && hash.as_deref()
                    == Some(&session_auth_hash(
                        state.secret_key.expose(),
                        &u.password_hash,
                    )) =>
        {
            Ok(Some(u))
        }
        _ => {
            // Deleted, deactivated, or password changed since: the session no longer authenticates.
            let _ = session.remove_value(USER_KEY).await;
            let _ = session.remove_value(HASH_KEY).await;
            Ok(None)
        }
    }
}

/// Starts an authenticated session: a new session id (against fixation), then the user's keys.
pub async fn login(state: &AppState, session: &Session, user: &User) -> Result<(), AppError> {
    session
        .cycle_id()
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    // A token planted before login must not survive it.
    super::csrf::rotate(session).await;
    session
        .insert(USER_KEY, user.id)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    session
        .insert(
            HASH_KEY,
            session_auth_hash(state.secret_key.expose(), &user.password_hash),
        )
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    models::touch_last_login(&state.db, user.id).await?;
    Ok(())
}

/// Keeps the current session valid after its user's password changed.
pub async fn refresh_password_hash(
    state: &AppState,
    session: &Session,
    password_hash: &str,
) -> Result<(), AppError> {
    session
        .insert(
            HASH_KEY,
            session_auth_hash(state.secret_key.expose(), password_hash),
        )
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))
}

/// Ends the session and deletes it from the store.
pub async fn logout(session: &Session) -> Result<(), AppError> {
    session
        .flush()
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))
}

/// The signed-in user, if any.
pub struct MaybeUser(pub Option<Arc<User>>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(
            parts
                .extensions
                .get::<CurrentUser>()
                .and_then(|c| c.0.clone()),
        ))
    }
}

/// A signed-in user, or: a redirect to the login page (pages), 401 (API).
pub struct RequireUser(pub Arc<User>);

impl<S: Send + Sync> FromRequestParts<S> for RequireUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(u) = parts
            .extensions
            .get::<CurrentUser>()
            .and_then(|c| c.0.clone())
        {
            return Ok(RequireUser(u));
        }
        // Inside nested routers `parts.uri` lacks the prefix; the original URI has it.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        if super::is_api_path(uri.path()) {
            return Err(
                AppError::Unauthorized(FieldErrors::single("token", "is missing")).into_response(),
            );
        }
        let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = format!("/accounts/login/?next={}", urlencode(next));
        Err(Redirect::to(&target).into_response())
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A `next` parameter is followed only to a path on this site; anything else becomes `/`.
///
/// Browsers forgive a lot when they resolve a `Location`: they drop tabs and newlines, read `\` as `/`,
/// and a proxy or a second decoding may turn `%2F` into `/`. So a candidate is refused outright when
/// it holds control characters, whitespace or a backslash, when it is not a path starting with a
/// single `/`, or when its path decoded once would start with `//`.
pub fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| is_local_path(n)).unwrap_or("/").to_string()
}

fn is_local_path(n: &str) -> bool {
    fn plain_path(p: &str) -> bool {
        p.starts_with('/')
            && !p.starts_with("//")
            && !p
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    }
    if n.len() > 2000 || !plain_path(n) {
        return false;
    }
    let path = n.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path);
    if !plain_path(&decoded) {
        return false;
    }
    // Last, the way a URL parser sees it: the same origin as any base.
    let base = url::Url::parse("http://trellis.invalid/").expect("a valid base");
    base.join(n)
        .is_ok_and(|u| u.origin() == base.origin() && u.path().starts_with('/'))
}

/// `%XX` sequences decoded once (invalid ones kept), as bytes read leniently as UTF-8.
fn percent_decode(s: &str) -> String {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_only_leads_to_local_paths() {
        assert_eq!(safe_next(Some("/accounts/profile/")), "/accounts/profile/");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/blog/?q=a%20b#top")), "/blog/?q=a%20b#top");
    }

    #[test]
    fn next_refuses_what_browsers_would_resolve_elsewhere() {
        for bad in [
            "/\t/evil.example/",
            "/\n/evil.example/",
            "\t//evil.example/",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "/ok\r\nSet-Cookie: x=1",
            " //evil.example",
            "/\u{3000}/evil.example",
            "http:evil.example",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
    }
}
