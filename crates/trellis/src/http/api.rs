//! The shared REST layer every app's API uses: credentials (JWT and personal API tokens), a JSON body
//! extractor whose errors name the problem, and the two pagination styles.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::header;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::accounts::models::{self, User};
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;

/// RFC 3339 in UTC with milliseconds, the API's one timestamp format.
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---------------------------------------------------------------- credentials

/// A JSON Schema `pattern` for "not blank": a character that is not white space as Rust's `trim` counts it
/// (Unicode's White_Space). Schema attributes take the same text as a literal.
pub const NOT_BLANK: &str =
    r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// Prefix of personal API tokens, so they are recognisable (and greppable in leaked text).
pub const TOKEN_PREFIX: &str = "trl_";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    /// Ties the token to the password it was issued under: a password change voids it.
    ver: String,
}

fn password_version(secret: &str, password_hash: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(b"trellis.jwt:");
    mac.update(password_hash.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

/// A signed, expiring JWT (HS256) for the user.
pub fn issue_jwt(state: &AppState, user: &User) -> Result<String, AppError> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: user.id.to_string(),
        iat: now,
        exp: now + state.settings.jwt_ttl_secs as i64,
        ver: password_version(state.secret_key.expose(), &user.password_hash),
    };
    super::jwt::encode(&claims, state.secret_key.expose().as_bytes())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing JWT: {e}")))
}

/// The credential of an `Authorization: Token …` or `Bearer …` header. `Some("")` for a scheme without one.
pub fn credential(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.trim().to_string())
    } else {
        None
    }
}

/// SHA-256 of a personal token: what the database keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The active user a credential belongs to, if it is valid.
pub async fn authenticate(state: &AppState, cred: &str) -> Result<Option<User>, AppError> {
    if cred.is_empty() {
        return Ok(None);
    }
    if let Some(rest) = cred.strip_prefix(TOKEN_PREFIX) {
        if rest.len() < 20 {
            return Ok(None);
        }
        return Ok(crate::accounts::api_tokens::user_for(&state.db, cred).await?);
    }
    // A few seconds of leeway for clocks that disagree slightly.
    let Some(claims) = super::jwt::decode::<Claims>(
        cred,
        state.secret_key.expose().as_bytes(),
        Utc::now().timestamp(),
        5,
    ) else {
        return Ok(None);
    };
    let Ok(id) = claims.sub.parse::<i64>() else {
        return Ok(None);
    };
    let user = models::find_by_id(&state.db, id).await?;
    Ok(user.filter(|u| {
        u.is_active && claims.ver == password_version(state.secret_key.expose(), &u.password_hash)
    }))
}

// ---------------------------------------------------------------- JSON bodies

/// `Json<T>` with errors in the API's shape: 415 without a JSON content type, 400 for malformed JSON,
/// 422 when the JSON does not fit (naming what does not; an array where an object belongs does not fit), 413
/// when too large.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|ct| ct == "application/json" || ct.ends_with("+json"));
        if !is_json {
            return Err(AppError::UnsupportedMediaType(
                "send JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::PayloadTooLarge("the request body is too large".into()))?;
        match super::strict_json::from_slice::<T>(&bytes) {
            Ok(v) => match super::forms::nul_in_json(&bytes) {
                None => Ok(ApiJson(v)),
                Some(field) => Err(AppError::Validation(FieldErrors::single(
                    &field,
                    "must not contain NUL characters",
                ))),
            },
            Err(e) if e.is_syntax() || e.is_eof() => Err(AppError::bad_request(
                "body",
                format!("is not valid JSON ({e})"),
            )),
            Err(e) => {
                let msg = e.to_string();
                let field = msg
                    .split('`')
                    .nth(1)
                    .filter(|_| {
                        msg.starts_with("missing field") || msg.starts_with("unknown field")
                    })
                    .unwrap_or("body")
                    .to_string();
                Err(AppError::Validation(FieldErrors::single(&field, msg)))
            }
        }
    }
}

/// For `#[serde(default, deserialize_with = "present")]` on `Option<Option<T>>` fields, so a PATCH can tell
/// a field left out (`None`) from one sent as `null` (`Some(None)`).
pub fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

// ---------------------------------------------------------------- pagination

/// The highest page number any list accepts. With every page size capped, the offset it implies always
/// fits the database's 64-bit integers; a page past the end of a list is a 404 either way.
pub const MAX_PAGE: u64 = 1_000_000_000;

/// The highest `offset` accepted: the largest value a database offset can hold.
pub use crate::db::MAX_OFFSET;

/// `limit`/`offset` paging (the RealWorld style).
#[derive(Clone, Copy, Debug)]
pub struct LimitOffset {
    pub limit: u64,
    pub offset: u64,
}

/// A whole-number query parameter within `min..=max`, or `None` when absent. Present but empty is
/// no number either: the document says integer.
fn number(
    q: &HashMap<String, String>,
    name: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, AppError> {
    match q.get(name).map(|s| s.trim()) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| {
                AppError::bad_request(name, format!("must be a whole number from {min} to {max}"))
            }),
    }
}

/// The query parameters of [`LimitOffset`], for `params(...)` in the OpenAPI annotations.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read through `LimitOffset::from_query`; this only describes them.
pub struct LimitOffsetParams {
    /// How many, from 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// How many to skip (default 0).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    offset: Option<u64>,
}

/// The query parameters of [`PageNumber`], for `params(...)` in the OpenAPI annotations.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read through `PageNumber::from_query`; this only describes them.
pub struct PageParams {
    /// From 1 (the default) to 1,000,000,000; a page past the end is 404.
    #[param(minimum = 1, maximum = 1_000_000_000)]
    page: Option<u64>,
    /// From 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<u64>,
}

impl LimitOffset {
    pub fn window(&self) -> crate::db::Window {
        crate::db::Window {
            offset: self.offset,
            limit: self.limit,
        }
    }

    pub fn from_query(
        q: &HashMap<String, String>,
        default: u64,
        max: u64,
    ) -> Result<Self, AppError> {
        Ok(LimitOffset {
            limit: number(q, "limit", 1, max)?.unwrap_or(default),
            offset: number(q, "offset", 0, MAX_OFFSET)?.unwrap_or(0),
        })
    }
}

/// `page`/`page_size` paging (DRF's PageNumberPagination).
#[derive(Clone, Copy, Debug)]
pub struct PageNumber {
    pub page: u64,
    pub page_size: u64,
}

/// DRF's paginated envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub count: u64,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub results: Vec<T>,
}

impl PageNumber {
    pub fn from_query(
        q: &HashMap<String, String>,
        default: u64,
        max: u64,
    ) -> Result<Self, AppError> {
        Ok(PageNumber {
            page: number(q, "page", 1, MAX_PAGE)?.unwrap_or(1),
            page_size: number(q, "page_size", 1, max)?.unwrap_or(default),
        })
    }

    /// The rows of this page.
    pub fn window(&self) -> crate::db::Window {
        crate::db::Window {
            offset: self.offset(),
            limit: self.page_size,
        }
    }

    /// Rows before this page; pages far past the end saturate, and are 404 in [`PageNumber::wrap`].
    pub fn offset(&self) -> u64 {
        (self.page - 1)
            .saturating_mul(self.page_size)
            .min(MAX_OFFSET)
    }

    /// Wraps one page of results; links keep the other query parameters. A page past the end is a 404.
    pub fn wrap<T>(
        &self,
        results: Vec<T>,
        count: u64,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Result<Page<T>, AppError> {
        let last = count.div_ceil(self.page_size).max(1);
        if self.page > last {
            return Err(AppError::NotFound("page".into()));
        }
        let link = |page: u64| {
            let mut pairs: Vec<(String, String)> = query
                .iter()
                .filter(|(k, _)| k.as_str() != "page")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            pairs.push(("page".into(), page.to_string()));
            pairs.sort();
            let qs: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            format!("{path}?{qs}")
        };
        Ok(Page {
            count,
            next: (self.page < last).then(|| link(self.page + 1)),
            previous: (self.page > 1).then(|| link(self.page - 1)),
            results,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn credentials_come_from_token_or_bearer_headers() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Token abc".parse().unwrap());
        assert_eq!(credential(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "bearer xyz".parse().unwrap());
        assert_eq!(credential(&h).as_deref(), Some("xyz"));
        h.insert(header::AUTHORIZATION, "Basic Zm9v".parse().unwrap());
        assert_eq!(credential(&h), None);
    }

    #[test]
    fn limit_and_offset_are_bounded() {
        let lo = LimitOffset::from_query(&q(&[]), 20, 100).unwrap();
        assert_eq!((lo.limit, lo.offset), (20, 0));
        assert!(LimitOffset::from_query(&q(&[("limit", "101")]), 20, 100).is_err());
        assert!(LimitOffset::from_query(&q(&[("limit", "-1")]), 20, 100).is_err());
        assert!(LimitOffset::from_query(&q(&[("offset", "x")]), 20, 100).is_err());
        assert!(
            LimitOffset::from_query(&q(&[("offset", "9223372036854775808")]), 20, 100).is_err()
        );
        let far = LimitOffset::from_query(&q(&[("offset", "9223372036854775807")]), 20, 100);
        assert_eq!(far.unwrap().offset as i64, i64::MAX);
    }

    #[test]
    fn page_numbers_are_bounded_so_offsets_fit() {
        assert!(PageNumber::from_query(&q(&[("page", "9223372036854775807")]), 20, 100).is_err());
        assert!(PageNumber::from_query(&q(&[("page", "0")]), 20, 100).is_err());
        let last =
            PageNumber::from_query(&q(&[("page", "1000000000"), ("page_size", "100")]), 20, 100)
                .unwrap();
        assert!(i64::try_from(last.offset()).is_ok());
        assert!(LimitOffset::from_query(&q(&[("limit", "")]), 20, 100).is_err());
    }

    #[test]
    fn page_links_keep_filters() {
        let pn =
            PageNumber::from_query(&q(&[("page", "2"), ("page_size", "10")]), 20, 100).unwrap();
        let page = pn
            .wrap(
                vec![1],
                35,
                "/api/todos",
                &q(&[("page", "2"), ("page_size", "10"), ("priority", "high")]),
            )
            .unwrap();
        assert_eq!(
            page.next.as_deref(),
            Some("/api/todos?page=3&page_size=10&priority=high")
        );
        assert_eq!(
            page.previous.as_deref(),
            Some("/api/todos?page=1&page_size=10&priority=high")
        );
        assert!(
            pn.wrap(Vec::<u8>::new(), 5, "/x", &q(&[])).is_err(),
            "page 2 of 1 is 404"
        );
    }
}
