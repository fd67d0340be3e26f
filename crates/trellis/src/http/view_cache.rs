//! Per-view caching of anonymous reads (Django's `cache_page`) and the invalidation that goes with it.
//!
//! Apps name the routes whose anonymous answers may be shared ([`crate::registry::AppConfig::cached_views`]).
//! A `GET` to one of them from a client that brings no credential and no session cookie is answered from
//! the cache when a current copy exists; otherwise the handler runs and a `200` without `Set-Cookie` is
//! stored. Such a request can only ever see what every anonymous visitor sees, so one copy serves all.
//!
//! Every unsafe request (`POST`, `PUT`, `PATCH`, `DELETE`) during which the database ran a statement that
//! may change rows bumps the cache's generation after the handler has finished — that is, after its
//! transaction committed — whatever its route, so no write can be missed by a rule that forgot a route.
//! The test is the database's own statement counter, not a list of routes.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::cache::{Cache, Lookup};
use crate::http::auth::CurrentUser;

/// Answers larger than this are not kept.
const MAX_STORED: u64 = 512 * 1024;
/// `x-cache`: whether a cacheable answer came from the cache.
pub const X_CACHE: &str = "x-cache";

/// What the middleware needs: the cache and the route templates apps declared cacheable.
#[derive(Clone)]
pub struct ViewCache {
    pub cache: Cache,
    pub routes: Arc<HashSet<&'static str>>,
    /// The database's statement counters: a request that ran no write leaves the cache alone.
    pub queries: crate::db::QueryCounter,
}

pub async fn cache_views(State(views): State<ViewCache>, req: Request, next: Next) -> Response {
    if !crate::http::csrf::is_safe(req.method()) {
        return invalidating(&views, req, next).await;
    }
    if req.method() != Method::GET || !views.cache.is_enabled() || !cacheable(&views, &req) {
        return next.run(req).await;
    }
    let key = key(&req);
    match views.cache.lookup(&key).await {
        Lookup::Hit(stored) => match decode(&stored) {
            Some(res) => res,
            None => next.run(req).await,
        },
        Lookup::Miss(generation) => {
            let res = next.run(req).await;
            if !storable(&res) {
                return mark(res, "MISS");
            }
            let (parts, body) = res.into_parts();
            let bytes = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            };
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("application/octet-stream"));
            let etag = crate::http::etag::validator(&bytes);
            views
                .cache
                .store(&key, generation, encode(&content_type, &etag, &bytes), None)
                .await;
            let mut res = Response::from_parts(parts, Body::from(bytes));
            res.headers_mut().insert(header::ETAG, etag);
            mark(res, "MISS")
        }
    }
}

/// Runs an unsafe request and then, if any statement that may change rows ran meanwhile (this request's
/// or a concurrent one's: bumping for both is only cautious), bumps the cache's generation. A read sent
/// as a POST (sentiment analysis, a preview, a refused form) keeps the cache. A request cancelled after
/// its handler may have written (client gone, timeout) bumps regardless.
async fn invalidating(views: &ViewCache, req: Request, next: Next) -> Response {
    struct BumpOnDrop(Option<Cache>);
    impl Drop for BumpOnDrop {
        fn drop(&mut self) {
            if let Some(cache) = self.0.take()
                && let Ok(rt) = tokio::runtime::Handle::try_current()
            {
                rt.spawn(async move { cache.bump().await });
            }
        }
    }
    let cache = &views.cache;
    if !cache.is_enabled() {
        return next.run(req).await;
    }
    let writes_before = views.queries.writes();
    let mut guard = BumpOnDrop(Some(cache.clone()));
    let res = next.run(req).await;
    guard.0 = None;
    // Bumped before the answer leaves, so the writer's next read already sees its write.
    if views.queries.writes() != writes_before {
        cache.bump().await;
    }
    res
}

/// A GET to a declared route by a client that shows no identity at all.
fn cacheable(views: &ViewCache, req: &Request) -> bool {
    let declared = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| views.routes.contains(m.as_str()));
    let anonymous = req
        .extensions()
        .get::<CurrentUser>()
        .is_none_or(|u| u.0.is_none());
    declared
        && anonymous
        && !req.headers().contains_key(header::AUTHORIZATION)
        && !crate::http::csrf::has_session_cookie(req.headers())
}

/// The path and query: nothing a cached route answers depends on other request headers (links are
/// relative; absolute ones use `TRELLIS_BASE_URL`), so instances behind one proxy share entries.
fn key(req: &Request) -> String {
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("view:{target}")
}

/// A complete `200` that hands out no cookie and is small enough to keep.
fn storable(res: &Response) -> bool {
    res.status() == StatusCode::OK
        && !res.headers().contains_key(header::SET_COOKIE)
        && !res.headers().contains_key(header::CONTENT_ENCODING)
        && matches!(axum::body::HttpBody::size_hint(res.body()).exact(), Some(n) if n <= MAX_STORED)
}

fn mark(mut res: Response, how: &'static str) -> Response {
    let headers = res.headers_mut();
    headers.insert(X_CACHE, HeaderValue::from_static(how));
    // Shared caches downstream must keep signed-in and anonymous answers apart too.
    headers.append(
        header::VARY,
        HeaderValue::from_static("Cookie, Authorization"),
    );
    res
}

/// Stored form: content type and ETag, each behind a 2-byte length, then the body.
fn encode(content_type: &HeaderValue, etag: &HeaderValue, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(4 + content_type.len() + etag.len() + body.len());
    for h in [content_type, etag] {
        let len = u16::try_from(h.len()).unwrap_or(0);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&h.as_bytes()[..usize::from(len)]);
    }
    out.extend_from_slice(body);
    Bytes::from(out)
}

fn decode(stored: &Bytes) -> Option<Response> {
    let mut at = 0;
    let mut field = || -> Option<HeaderValue> {
        let len = usize::from(u16::from_be_bytes(stored.get(at..at + 2)?.try_into().ok()?));
        stored.get(at + 2..at + 2 + len)?;
        let value = HeaderValue::from_maybe_shared(stored.slice(at + 2..at + 2 + len)).ok()?;
        at += 2 + len;
        Some(value)
    };
    let content_type = field()?;
    let etag = field()?;
    let body = stored.slice(at.min(stored.len())..);
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(header::CONTENT_TYPE, content_type);
    res.headers_mut().insert(header::ETAG, etag);
    Some(mark(res, "HIT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_answers_decode_to_what_was_stored() {
        let ct = HeaderValue::from_static("application/json");
        let tag = HeaderValue::from_static("W/\"abc\"");
        let stored = encode(&ct, &tag, b"{\"a\":1}");
        let res = decode(&stored).expect("decodes");
        assert_eq!(res.headers()[header::CONTENT_TYPE], ct);
        assert_eq!(res.headers()[header::ETAG], tag);
        assert_eq!(res.headers()[X_CACHE], "HIT");
        assert!(
            decode(&Bytes::from_static(&[0, 9, 1])).is_none(),
            "truncated"
        );
        assert!(decode(&Bytes::new()).is_none());
    }
}
