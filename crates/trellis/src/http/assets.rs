//! Our stylesheet and script, embedded in the binary and served under content-hashed names so browsers
//! may cache them for a year.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::state::AppState;

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/admin.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

struct Asset {
    content_type: &'static str,
    bytes: &'static [u8],
}

pub struct Assets {
    /// logical name → hashed name
    urls: HashMap<&'static str, String>,
    /// hashed name → file
    files: HashMap<String, Asset>,
}

impl Default for Assets {
    fn default() -> Self {
        Self::new()
    }
}

impl Assets {
    pub fn new() -> Self {
        let mut urls = HashMap::new();
        let mut files = HashMap::new();
        for (name, content_type, bytes) in FILES {
            let digest = hex::encode(&Sha256::digest(bytes)[..6]);
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
            let hashed = format!("{stem}.{digest}.{ext}");
            urls.insert(*name, hashed.clone());
            files.insert(
                hashed,
                Asset {
                    content_type,
                    bytes,
                },
            );
        }
        Assets { urls, files }
    }

    /// `/static/app.<hash>.css` for `app.css`.
    pub fn url(&self, name: &str) -> Option<String> {
        self.urls.get(name).map(|h| format!("/static/{h}"))
    }
}

pub async fn serve(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    match state.assets.files.get(&file) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
