//! Reading what browsers and clients send besides JSON: multipart forms (one reader, one error style for
//! every upload form) and the text checks every form value gets.
//!
//! No text value may hold a NUL character: PostgreSQL cannot store one and SQLite would, so refusing it
//! here keeps both databases answering the same, and nothing is half written.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Multipart, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, FieldErrors, Result};
use crate::state::AppState;

const NUL_MESSAGE: &str = "must not contain NUL characters";

/// Checks one text value of a form or query.
pub fn check_text(field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(AppError::Validation(FieldErrors::single(
            field,
            NUL_MESSAGE,
        )));
    }
    Ok(())
}

/// An uploaded file as the client sent it. The name is shown to people, never used as a path.
#[derive(Debug)]
pub struct FilePart {
    pub filename: String,
    pub bytes: Bytes,
}

/// A multipart form read whole. Fields named in `files` keep their bytes; every other field must be
/// UTF-8 text without NUL characters. The body size is bounded by the server's body limit.
#[derive(Debug, Default)]
pub struct MultipartForm {
    texts: HashMap<String, String>,
    /// Every text field in the order sent, repeated names included (a multiple select).
    pairs: Vec<(String, String)>,
    files: HashMap<String, FilePart>,
}

impl MultipartForm {
    pub async fn read(mut multipart: Multipart, files: &[&str]) -> Result<MultipartForm> {
        let mut form = MultipartForm::default();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(e, "body", "malformed form"))?
        {
            let name = field.name().unwrap_or("").to_string();
            if files.contains(&name.as_str()) {
                let filename = field.file_name().unwrap_or("").to_string();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e, &name, "upload failed"))?;
                form.files.insert(name, FilePart { filename, bytes });
            } else {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e, &name, "upload failed"))?;
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| AppError::bad_request(&name, "is not valid UTF-8 text"))?;
                check_text(&name, &text)?;
                form.pairs.push((name.clone(), text.clone()));
                form.texts.insert(name, text);
            }
        }
        Ok(form)
    }

    /// A text field's value, or "" when it was not sent.
    pub fn text(&self, name: &str) -> &str {
        self.texts.get(name).map(String::as_str).unwrap_or("")
    }

    /// Takes a text field's value ("" when absent).
    pub fn take_text(&mut self, name: &str) -> String {
        self.texts.remove(name).unwrap_or_default()
    }

    /// Every text field as sent, in order, with repeated names kept.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether a text field was sent at all (a checkbox that is ticked).
    pub fn has(&self, name: &str) -> bool {
        self.texts.get(name).is_some_and(|v| !v.is_empty())
    }

    /// Names of the text fields not taken yet (fields a form does not know).
    pub fn text_names(&self) -> impl Iterator<Item = &str> {
        self.texts.keys().map(String::as_str)
    }

    /// Takes a file field; `None` when absent or empty (a file input left blank sends an empty part).
    pub fn take_file(&mut self, name: &str) -> Option<FilePart> {
        self.files.remove(name).filter(|f| !f.bytes.is_empty())
    }

    /// Takes a file field as sent, even when empty.
    pub fn take_file_part(&mut self, name: &str) -> Option<FilePart> {
        self.files.remove(name)
    }
}

/// One text field of a multipart body already buffered, for a check that runs before the handler (the
/// CSRF token); `None` when it is absent or unreadable. Handlers read forms whole with [`MultipartForm`].
pub async fn multipart_text(
    headers: &axum::http::HeaderMap,
    body: Bytes,
    name: &str,
) -> Option<String> {
    use axum::extract::FromRequest;
    let mut copy = Request::new(axum::body::Body::from(body));
    *copy.headers_mut() = headers.clone();
    let mut form = Multipart::from_request(copy, &()).await.ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// A multipart read that failed: 413 when the body passed the size limit on the way (a body without a
/// length is only measured as it arrives), else a 400 naming the field.
fn multipart_error(
    e: axum::extract::multipart::MultipartError,
    field: &str,
    what: &str,
) -> AppError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge("the request body is too large".into())
    } else {
        AppError::bad_request(field, format!("{what}: {}", e.body_text()))
    }
}

/// Refuses a NUL character in the path, in a query parameter or in a url-encoded form field, naming
/// where it was. JSON bodies get the same check in `ApiJson`, multipart ones in [`MultipartForm`].
pub async fn refuse_nul(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if contains_encoded_nul(req.uri().path()) {
        return AppError::bad_request("path", NUL_MESSAGE).into_response();
    }
    if let Some(q) = req.uri().query()
        && let Some(name) = nul_in_urlencoded(q.as_bytes())
    {
        return AppError::bad_request(&name, NUL_MESSAGE).into_response();
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return next.run(req).await;
    }
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
    if let Some(name) = nul_in_urlencoded(&bytes) {
        return AppError::Validation(FieldErrors::single(&name, NUL_MESSAGE)).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

fn contains_encoded_nul(path: &str) -> bool {
    path.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// The first parameter (name or value) of url-encoded pairs that holds a NUL, named by its key.
fn nul_in_urlencoded(bytes: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(bytes)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| {
            let k = k.replace('\0', "");
            if k.is_empty() { "query".into() } else { k }
        })
}

/// The field (its innermost key) of a JSON document holding a string with a NUL character, if any.
/// A cheap scan for an escaped `\u0000` runs first; only then is the document walked.
pub fn nul_in_json(bytes: &[u8]) -> Option<String> {
    let escaped = bytes.windows(6).enumerate().any(|(i, w)| {
        w == b"\\u0000" && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    });
    if !escaped {
        return None;
    }
    fn walk(v: &serde_json::Value, key: &str) -> Option<String> {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(key.to_string()),
            serde_json::Value::Array(items) => items.iter().find_map(|i| walk(i, key)),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
                if k.contains('\0') {
                    Some(key.to_string())
                } else {
                    walk(v, k)
                }
            }),
            _ => None,
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&value, "body")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_where_it_was_sent() {
        assert_eq!(nul_in_urlencoded(b"a=1&title=x%00y"), Some("title".into()));
        assert_eq!(nul_in_urlencoded(b"a=1&b=%01"), None);
        assert_eq!(nul_in_urlencoded(b"%00=1"), Some("query".into()));
        assert!(contains_encoded_nul("/blog/a%00b/"));
        assert!(!contains_encoded_nul(
            "/blog/a%000b/".replace("%000", "%20").as_str()
        ));
        assert_eq!(
            nul_in_json(br#"{"article":{"title":"a\u0000b","body":"ok"}}"#),
            Some("title".into())
        );
        assert_eq!(nul_in_json(br#"{"article":{"title":"a\\u0000b"}}"#), None);
        assert_eq!(
            nul_in_json(br#"{"tags":["x","\u0000"]}"#),
            Some("tags".into())
        );
    }
}
