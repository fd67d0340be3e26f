//! One error type for every handler. 4xx variants carry text for the user; database and unexpected errors
//! become a generic 500 that is logged once, here, with the request's span (and so its request id).
//!
//! Responses are JSON in the API's `{"errors": {"<field>": ["<message>"]}}` shape. For HTML routes the
//! `http::middleware::error_pages` middleware turns them into pages in the site layout, using the
//! [`ErrorInfo`] this module leaves in the response's extensions.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use serde_json::json;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Field name → messages, in the order added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, field: &str) -> &[String] {
        self.0.get(field).map(Vec::as_slice).unwrap_or(&[])
    }
    /// `Ok(())` when empty, else a 422.
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {1}")]
    BadRequest(String, String),
    #[error("authentication required")]
    Unauthorized(FieldErrors),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("CSRF check failed")]
    Csrf(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict")]
    Conflict(FieldErrors),
    #[error("request body too large")]
    PayloadTooLarge(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("throttled")]
    TooManyRequests { retry_after_secs: u64 },
    /// Any other status with its message (e.g. 405, 408 from the framework).
    #[error("{0}: {1}")]
    Status(StatusCode, String),
    #[error("database error")]
    Db(DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        // Both mean the row a handler read was deleted before its write: an update by primary key that
        // matched nothing, or an insert under a parent that is gone (every foreign key cascades or sets
        // null on delete, so no other write can break one). The client gets the 404 it would have got
        // a moment later, not a server error.
        if matches!(e, DbErr::RecordNotUpdated)
            || matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
        {
            return AppError::not_found("record");
        }
        AppError::Db(e)
    }
}

/// What the HTML error-page middleware needs to render a page for an error response.
#[derive(Clone, Debug)]
pub struct ErrorInfo {
    pub status: StatusCode,
    pub message: String,
}

impl AppError {
    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(what.to_string())
    }
    pub fn forbidden(what: &str) -> Self {
        AppError::Forbidden(what.to_string())
    }
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        AppError::BadRequest(field.to_string(), message.into())
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation(FieldErrors::single(field, message))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(..) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Csrf(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Status(status, _) => *status,
            AppError::Db(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> (serde_json::Value, String) {
        fn errs(e: &FieldErrors) -> serde_json::Value {
            json!({ "errors": e.0 })
        }
        fn one(field: &str, msg: &str) -> serde_json::Value {
            json!({ "errors": { field: [msg] } })
        }
        match self {
            AppError::BadRequest(field, msg) => (one(field, msg), msg.clone()),
            AppError::Unauthorized(e) => (errs(e), "Please sign in to continue.".into()),
            AppError::Forbidden(what) => (
                one(what, "forbidden"),
                "You do not have permission to do that.".into(),
            ),
            AppError::Csrf(msg) => (one("csrf_token", "missing or incorrect"), msg.clone()),
            AppError::NotFound(what) => (
                one(what, "not found"),
                "We could not find that page.".into(),
            ),
            AppError::Conflict(e) | AppError::Validation(e) => {
                let first =
                    e.0.iter()
                        .next()
                        .map(|(f, m)| format!("{f}: {}", m.join(", ")))
                        .unwrap_or_default();
                (errs(e), first)
            }
            AppError::PayloadTooLarge(msg) => (one("body", msg), msg.clone()),
            AppError::UnsupportedMediaType(msg) => (one("body", msg), msg.clone()),
            AppError::TooManyRequests { retry_after_secs } => {
                let msg = format!("too many requests; try again in {retry_after_secs} seconds");
                (one("throttle", &msg), msg)
            }
            AppError::Status(_, msg) => (one("request", msg), msg.clone()),
            AppError::Db(_) | AppError::Internal(_) => (
                one("server", "internal error"),
                "Something went wrong on our side. It has been logged.".into(),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The one place server errors are logged; the request span adds the request id.
            tracing::error!(error = ?self, "request failed");
        }
        let (body, message) = self.body();
        let mut resp = (status, Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        if let AppError::Unauthorized(_) = self {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        resp.extensions_mut().insert(ErrorInfo { status, message });
        resp
    }
}

/// A unique constraint and the form or API field it guards. Each database names a violated constraint
/// its own way: PostgreSQL by the constraint's or index's name (`duplicate key value violates unique
/// constraint "users_email_ci"`; an inline `UNIQUE` column is `<table>_<column>_key`), SQLite by the
/// index's name only for an index on expressions (`UNIQUE constraint failed: index 'users_email_ci'`) and
/// otherwise by its columns (`UNIQUE constraint failed: blog_posts.slug`). So a constraint is known by both.
#[derive(Clone, Copy, Debug)]
pub struct Unique {
    /// The constraint's or index's name.
    pub name: &'static str,
    /// `table.column[, table.column]`, as SQLite lists them; "" for an index on expressions.
    pub columns: &'static str,
    /// The field named in the answer.
    pub field: &'static str,
}

impl Unique {
    /// Whether `err` is a violation of this constraint.
    pub fn is_violated_by(&self, err: &DbErr) -> bool {
        match violated(err) {
            Some(Violated::Name(n)) => n == self.name,
            Some(Violated::Columns(c)) => !self.columns.is_empty() && c == self.columns,
            None => false,
        }
    }
}

/// What a unique violation's message names.
#[derive(Debug, PartialEq, Eq)]
enum Violated {
    Name(String),
    Columns(String),
}

fn violated(err: &DbErr) -> Option<Violated> {
    parse_violation(&unique_violation(err)?)
}

fn parse_violation(message: &str) -> Option<Violated> {
    if let Some(rest) = message.split("UNIQUE constraint failed: ").nth(1) {
        let rest = rest.trim();
        return Some(match rest.strip_prefix("index '") {
            Some(name) => Violated::Name(name.trim_end_matches('\'').to_string()),
            None => Violated::Columns(rest.to_string()),
        });
    }
    let name = message
        .split("unique constraint \"")
        .nth(1)?
        .split('"')
        .next()?;
    Some(Violated::Name(name.to_string()))
}

/// The database's message when `err` is a unique violation, for code that maps constraints to fields
/// from model metadata rather than a list of [`Unique`]s.
pub fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

/// The field of the first of `constraints` that `err` violates.
pub fn unique_field(err: &DbErr, constraints: &[Unique]) -> Option<&'static str> {
    constraints
        .iter()
        .find(|u| u.is_violated_by(err))
        .map(|u| u.field)
}

/// `err` as the client's answer: a violation of one of `constraints` is a 409 naming its field ("has
/// already been taken"), as a check before the write would have answered; anything else is unchanged.
/// Use it on the write itself, so a race between two requests ends in the same answer.
pub fn on_unique(err: DbErr, constraints: &[Unique]) -> AppError {
    match unique_field(&err, constraints) {
        Some(field) => AppError::Conflict(FieldErrors::single(field, TAKEN)),
        None => err.into(),
    }
}

/// The message of a taken unique value.
pub const TAKEN: &str = "has already been taken";

/// Whether `err` is a failure to reach the database rather than a bad query.
pub fn is_connection_error(err: &DbErr) -> bool {
    matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_))
        || matches!(err, DbErr::Exec(RuntimeErr::SqlxError(_)) | DbErr::Query(RuntimeErr::SqlxError(_)) if err.to_string().contains("pool timed out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_read_from_both_databases_messages() {
        assert_eq!(
            parse_violation("duplicate key value violates unique constraint \"users_email_ci\""),
            Some(Violated::Name("users_email_ci".into()))
        );
        assert_eq!(
            parse_violation("UNIQUE constraint failed: index 'users_email_ci'"),
            Some(Violated::Name("users_email_ci".into()))
        );
        assert_eq!(
            parse_violation(
                "UNIQUE constraint failed: sentiment_models.owner_id, sentiment_models.name"
            ),
            Some(Violated::Columns(
                "sentiment_models.owner_id, sentiment_models.name".into()
            ))
        );
        assert_eq!(parse_violation("something else"), None);
    }

    #[test]
    fn a_violation_becomes_a_conflict_on_its_field() {
        const SLUG: Unique = Unique {
            name: "blog_posts_slug_key",
            columns: "blog_posts.slug",
            field: "slug",
        };
        let sqlite = DbErr::Custom("x".into());
        // `sql_err` reads only driver errors; anything else passes through untouched.
        assert!(!SLUG.is_violated_by(&sqlite));
        assert!(matches!(on_unique(sqlite, &[SLUG]), AppError::Db(_)));
    }
}
