//! Cross-site request forgery protection (Django's CsrfViewMiddleware, synchronizer-token style).
//!
//! Each session holds a random token; pages put it in forms as `csrf_token`, scripts send it as
//! `X-CSRF-Token`. Every unsafe request to a page needs it. API requests need it only when they are
//! authenticated by the session cookie rather than a `Token`/`Bearer` credential.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::error::AppError;
use crate::state::AppState;

const KEY: &str = "_csrf_token";
pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "x-csrf-token";

/// The session's token, created on first use (which also creates the session).
pub async fn token(session: &Session) -> Result<String, AppError> {
    if let Ok(Some(t)) = session.get::<String>(KEY).await {
        return Ok(t);
    }
    let t = hex::encode(rand::random::<[u8; 32]>());
    session
        .insert(KEY, &t)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    Ok(t)
}

/// The session's token if it already has one; never creates a session.
pub async fn existing(session: &Session) -> Option<String> {
    session.get::<String>(KEY).await.ok().flatten()
}

/// Forgets the token so the next page issues a new one (at login, as Django does).
pub async fn rotate(session: &Session) {
    let _ = session.remove_value(KEY).await;
}

pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn has_session_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(';').any(|c| {
                c.trim_start()
                    .starts_with(super::session_store::SESSION_COOKIE)
            })
        })
}

pub async fn protect(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    let path = req.uri().path();
    // A `Token`/`Bearer` credential has already been checked by `auth::load_user` (an invalid one is
    // 401 there) and the session is ignored for that request. Any other `Authorization` scheme is not
    // ours (a proxy's basic auth, say): such a request is judged by its session, so it needs the token.
    if super::is_api_path(path)
        && (super::api::credential(req.headers()).is_some() || !has_session_cookie(req.headers()))
    {
        // Token-authenticated or anonymous API call: no ambient credential to forge.
        return next.run(req).await;
    }
    let expected: Option<String> = session.get(KEY).await.ok().flatten();
    let Some(expected) = expected else {
        return AppError::Csrf("CSRF token missing: reload the page and try again.".into())
            .into_response();
    };
    if let Some(sent) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return if constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
            next.run(req).await
        } else {
            AppError::Csrf("CSRF token incorrect: reload the page and try again.".into())
                .into_response()
        };
    }
    // Look for the form field; the body is buffered and handed on unchanged.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, state.settings.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return AppError::PayloadTooLarge(format!(
                "the request is larger than {} KB",
                state.settings.max_body_bytes / 1024
            ))
            .into_response();
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let sent = if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == FIELD)
            .map(|(_, v)| v.into_owned())
    } else if content_type.starts_with("multipart/form-data") {
        super::forms::multipart_text(&parts.headers, bytes.clone(), FIELD).await
    } else {
        None
    };
    match sent {
        Some(s) if constant_time_eq(s.as_bytes(), expected.as_bytes()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(_) => AppError::Csrf("CSRF token incorrect: reload the page and try again.".into())
            .into_response(),
        None => AppError::Csrf("CSRF token missing: reload the page and try again.".into())
            .into_response(),
    }
}
