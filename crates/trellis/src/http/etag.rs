//! `ETag` and `If-None-Match` for GET and HEAD: every successful page or JSON answer carries a validator
//! made from its body, and a client that already holds that body gets `304 Not Modified` without it.
//!
//! The validator is computed on the body as the handler made it, inside the compression layer, so it is
//! weak (`W/"…"`): the gzip and plain forms of one answer are the same representation in meaning, not in
//! bytes. Streaming answers without a known length (downloads, exports) and large ones are passed through
//! untouched, so this never holds more than [`MAX_BODY`] bytes of an answer in memory.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

/// Answers up to this size get a validator; larger ones are sent as they are.
pub const MAX_BODY: u64 = 1024 * 1024;

pub async fn etag(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    let wanted = req.headers().get(header::IF_NONE_MATCH).cloned();
    let res = next.run(req).await;
    if res.status() != StatusCode::OK {
        return res;
    }
    // A validator set further in (a cached answer keeps the one computed when it was stored).
    if let Some(tag) = res.headers().get(header::ETAG).cloned() {
        if wanted.is_some_and(|w| matches(&w, &tag)) {
            let (mut parts, _) = res.into_parts();
            parts.status = StatusCode::NOT_MODIFIED;
            strip_body_headers(&mut parts.headers);
            return Response::from_parts(parts, Body::empty());
        }
        return res;
    }
    if !matches!(axum::body::HttpBody::size_hint(res.body()).exact(), Some(n) if n <= MAX_BODY) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // A body of known length that fails to produce it: nothing sensible can be sent.
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let tag = validator(&bytes);
    parts.headers.insert(header::ETAG, tag.clone());
    if wanted.is_some_and(|w| matches(&w, &tag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        strip_body_headers(&mut parts.headers);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `W/"<first 128 bits of SHA-256, hex>"`.
pub(crate) fn validator(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let value = format!("W/\"{}\"", hex::encode(&digest[..16]));
    HeaderValue::from_str(&value).expect("hex is a valid header value")
}

/// Whether an `If-None-Match` value names `tag`: `*`, or a list of tags compared weakly (RFC 9110
/// §13.1.2: the `W/` prefix is ignored on both sides).
fn matches(if_none_match: &HeaderValue, tag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let ours = opaque(tag.to_str().unwrap_or_default());
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || opaque(t) == ours)
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// A 304 has no body: drop what described the one left out.
fn strip_body_headers(headers: &mut HeaderMap) {
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_TYPE);
    headers.remove(header::CONTENT_ENCODING);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn tags_compare_weakly_in_lists_and_star_matches_all() {
        let tag = validator(b"{\"a\":1}");
        let t = tag.to_str().unwrap().to_string();
        assert!(t.starts_with("W/\"") && t.len() == 3 + 32 + 1);
        assert!(matches(&hv(&t), &tag));
        assert!(
            matches(&hv(&t[2..]), &tag),
            "the strong form matches weakly"
        );
        assert!(matches(&hv(&format!("\"other\", {t}")), &tag));
        assert!(matches(&hv("*"), &tag));
        assert!(!matches(&hv("\"other\""), &tag));
        assert!(!matches(&hv(""), &tag));
        assert_ne!(validator(b"a"), validator(b"b"));
    }
}
