//! Site-wide routes: the home page, health probes, uploaded media and the 404 fallback.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use serde_json::json;

use crate::error::{AppError, Result};
use crate::http::templates::Ctx;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
        .route("/ping", get(ping))
        .route("/readyz", get(readyz))
        .route("/media/{*key}", get(media))
        .route("/metrics", get(crate::http::metrics::serve))
}

/// The home page: a card per installed app (the `nav` every template sees).
async fn home(ctx: Ctx) -> Result<Response> {
    ctx.render("home.html", context! {}).await
}

/// Plain text, no database, no session: a ceiling for benchmarks and a trivial load-balancer check.
async fn ping() -> &'static str {
    "pong"
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match crate::db::ping(&state.db).await {
        Ok(()) => axum::Json(json!({ "status": "ok", "database": "ok" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "database": "unreachable" })),
            )
                .into_response()
        }
    }
}

/// Uploaded files. Only our own re-encoded images are stored, so the type follows from the extension.
async fn media(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response> {
    let content_type = match key.rsplit_once('.').map(|(_, e)| e) {
        Some("png") => "image/png",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => return Err(AppError::not_found("file")),
    };
    let bytes = state
        .storage
        .get(&key)
        .await?
        .ok_or_else(|| AppError::not_found("file"))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Keys are never reused (new uploads get new names), so the bytes behind a URL never change.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; sandbox"),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn not_found() -> AppError {
    AppError::not_found("page")
}
