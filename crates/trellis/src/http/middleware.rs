//! Error responses in one shape: JSON `{"errors": …}` for the API, pages in the site layout for the rest.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use minijinja::context;
use tower_sessions::Session;

use crate::error::{AppError, ErrorInfo};
use crate::http::auth::CurrentUser;
use crate::http::templates::Ctx;
use crate::state::AppState;

/// Page responses that carry an [`ErrorInfo`] (every `AppError`) are rendered as HTML error pages.
/// API paths, and clients that ask for JSON, keep the JSON body.
pub async fn error_pages(
    State(state): State<AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let wants_json = super::is_api_path(&path)
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
    let user = req
        .extensions()
        .get::<CurrentUser>()
        .and_then(|c| c.0.clone());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let resp = next.run(req).await;
    let (resp, info) = match resp.extensions().get::<ErrorInfo>().cloned() {
        Some(info) => (resp, info),
        None if is_foreign_error(&resp) => normalize(resp).await,
        None => return resp,
    };
    if wants_json {
        return resp;
    }
    let ctx = Ctx {
        state,
        session,
        user,
        path,
    };
    let page = ctx
        .render_status(
            info.status,
            "error.html",
            context! {
                status => info.status.as_u16(),
                title => info.status.canonical_reason().unwrap_or("Error"),
                message => info.message,
                request_id => request_id,
            },
        )
        .await;
    match page {
        Ok(mut page) => {
            for name in [
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::CACHE_CONTROL,
            ] {
                if let Some(v) = resp.headers().get(&name) {
                    page.headers_mut().insert(name, v.clone());
                }
            }
            page
        }
        // The layout itself failed; the JSON body is still a correct answer.
        Err(_) => resp,
    }
}

/// An error response made outside our handlers (an extractor's rejection, a timeout, a caught panic):
/// plain text that neither API clients nor people should see as is.
fn is_foreign_error(resp: &Response) -> bool {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    (status.is_client_error() || status.is_server_error())
        && !content_type.starts_with("application/json")
        && !content_type.starts_with("text/html")
}

/// Rebuilds a foreign error as one of ours, keeping its status and its message (for 4xx).
async fn normalize(resp: Response) -> (Response, ErrorInfo) {
    let status = resp.status();
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    let allow = resp.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(resp.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if status.is_server_error() || text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_string()
    } else {
        text
    };
    let err = match status.as_u16() {
        400 => AppError::BadRequest("body".into(), message),
        404 => AppError::not_found("page"),
        413 => AppError::PayloadTooLarge(message),
        415 => AppError::UnsupportedMediaType(message),
        422 => AppError::invalid("body", message),
        s if s >= 500 => AppError::Internal(anyhow::anyhow!("{status}: {message}")),
        _ => AppError::Status(status, message),
    };
    let mut out = axum::response::IntoResponse::into_response(err);
    *out.status_mut() = status;
    for (name, value) in [(header::RETRY_AFTER, retry_after), (header::ALLOW, allow)] {
        if let Some(v) = value {
            out.headers_mut().insert(name, v);
        }
    }
    let info = out
        .extensions()
        .get::<ErrorInfo>()
        .cloned()
        .expect("AppError responses carry ErrorInfo");
    let info = ErrorInfo { status, ..info };
    out.extensions_mut().insert(info.clone());
    (out, info)
}
