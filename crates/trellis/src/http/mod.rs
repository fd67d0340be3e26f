//! Web pieces every app shares: authentication, CSRF, templates, static assets, throttling, error pages,
//! security headers, validators (ETag) and request tracing.

pub mod api;
pub mod assets;
pub mod auth;
pub mod csrf;
pub mod debug_toolbar;
pub mod etag;
pub mod forms;
pub mod jwt;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod server;
pub mod session_store;
pub mod strict_json;
pub mod templates;
pub mod throttle;
pub mod view_cache;

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// The client's address: the socket peer, or the last `X-Forwarded-For` hop when behind a trusted proxy.
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> IpAddr {
    if trust_proxy
        && let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            // The last hop is the one our proxy appended; earlier ones are whatever the client sent.
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// The client's address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub IpAddr);

impl axum::extract::FromRequestParts<crate::state::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state.settings.trust_proxy)))
    }
}

/// Whether a path belongs to the JSON API (errors as JSON, token auth, CSRF only for session auth).
pub fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}
