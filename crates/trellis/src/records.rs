//! Rows of any registered model, read and written from its [`Model`] description: the engine the admin
//! site, the `trellis models` commands and fixtures share.
//!
//! Values travel as JSON ([`Values`]): integers as numbers, booleans as `true`/`false`, moments as
//! RFC 3339 UTC strings (microseconds, PostgreSQL's precision), days as `YYYY-MM-DD`, NULL as `null`.
//! Statements are written by hand with `$n` placeholders (both backends read them) and quoted
//! identifiers. Writes run in one transaction from [`Db::begin`](crate::db::Db::begin) and log an entry
//! in `admin_log` inside it, so a change and its history are never apart.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, QueryResult, Statement,
};
use serde_json::Value;

use crate::error::{AppError, FieldErrors};
use crate::registry::{CleanCtx, Field, Kind, Model, Values};
use crate::state::AppState;

/// Who makes a change, for the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User { id: i64 },
    Cli,
}

// ---------------------------------------------------------------- keys

/// An object's primary key: one value per `model.pk` column. Path form: components percent-encoded and
/// joined by ','.
#[derive(Clone, Debug, PartialEq)]
pub struct Key(pub Vec<Value>);

impl Key {
    /// Reads the path form; `None` when the number of parts or a part's type does not fit the model.
    pub fn parse(model: &Model, s: &str) -> Option<Key> {
        let parts: Vec<&str> = s.split(',').collect();
        if parts.len() != model.pk.len() {
            return None;
        }
        let mut out = Vec::with_capacity(parts.len());
        for (part, col) in parts.iter().zip(model.pk) {
            let raw = percent_decode(part)?;
            let field = model.field(col)?;
            out.push(if integer_kind(&field.kind) {
                let n: i64 = raw.parse().ok()?;
                // A canonical spelling only: "01" and "+1" would name the same row twice.
                if n.to_string() != raw {
                    return None;
                }
                Value::from(n)
            } else {
                if raw.contains('\0') {
                    return None;
                }
                Value::String(raw)
            });
        }
        Some(Key(out))
    }

    pub fn to_path(&self) -> String {
        self.0
            .iter()
            .map(|v| match v {
                Value::String(s) => percent_encode(s),
                other => percent_encode(&other.to_string()),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The key of a row read by this module.
    pub fn of(model: &Model, row: &Values) -> Key {
        Key(model
            .pk
            .iter()
            .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
            .collect())
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_path())
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn integer_kind(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Id | Kind::Integer { .. } | Kind::IntChoice(_) | Kind::ForeignKey { .. }
    )
}

// ---------------------------------------------------------------- SQL pieces

/// `name` as a quoted identifier.
pub(crate) fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQL being built with its parameters; `param` appends a value and answers its placeholder.
#[derive(Default)]
struct Sql {
    values: Vec<sea_orm::Value>,
}

impl Sql {
    fn param(&mut self, v: sea_orm::Value) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }
}

pub(crate) fn stmt(
    backend: DatabaseBackend,
    sql: String,
    values: Vec<sea_orm::Value>,
) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

fn is_pg(backend: DatabaseBackend) -> bool {
    backend == DatabaseBackend::Postgres
}

/// The select expression of a column, so that [`decode`] finds one type per kind on both backends.
pub(crate) fn select_expr(field: &Field, backend: DatabaseBackend, repr: Repr) -> String {
    let col = q(field.name);
    match &field.kind {
        // PostgreSQL keeps INTEGER, SMALLINT and REAL apart from BIGINT and DOUBLE; widening in SQL
        // gives the same numbers SQLite stores.
        k if integer_kind(k) && is_pg(backend) => format!("CAST({col} AS BIGINT)"),
        Kind::Float if is_pg(backend) => format!("CAST({col} AS DOUBLE PRECISION)"),
        // Days are DATE on one table and VARCHAR on another; text reads both alike.
        Kind::Date if is_pg(backend) => format!("CAST({col} AS TEXT)"),
        Kind::Bytes if repr == Repr::Shown => format!("CAST(LENGTH({col}) AS BIGINT)"),
        _ => col,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repr {
    /// For people: secrets masked, bytes as their size.
    Shown,
    /// As stored (fixtures): secrets as their stored hash, bytes as base64.
    Stored,
}

/// RFC 3339 in UTC with microseconds: the precision both backends keep, so a moment reads the same
/// from either.
pub fn format_datetime(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S%.f %:z",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f %:z") {
        return Some(t.with_timezone(&Utc));
    }
    None
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub(crate) fn col<T: sea_orm::TryGetable>(
    row: &QueryResult,
    idx: usize,
) -> Result<Option<T>, DbErr> {
    row.try_get_by_index::<Option<T>>(idx)
}

/// The JSON value of column `idx` of `row`, read as `field`'s kind.
pub(crate) fn decode(
    row: &QueryResult,
    idx: usize,
    field: &Field,
    repr: Repr,
) -> Result<Value, DbErr> {
    Ok(match &field.kind {
        k if integer_kind(k) => col::<i64>(row, idx)?
            .map(Value::from)
            .unwrap_or(Value::Null),
        Kind::Float => col::<f64>(row, idx)?
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Kind::Bool => col::<bool>(row, idx)?
            .map(Value::Bool)
            .unwrap_or(Value::Null),
        Kind::DateTime => {
            let t = match col::<DateTime<Utc>>(row, idx) {
                Ok(t) => t,
                // A moment written in a spelling the driver does not read.
                Err(_) => col::<String>(row, idx)?.and_then(|s| parse_datetime(&s)),
            };
            t.map(|t| Value::String(format_datetime(&t)))
                .unwrap_or(Value::Null)
        }
        Kind::Date => col::<String>(row, idx)?
            .map(Value::String)
            .unwrap_or(Value::Null),
        Kind::Bytes => match repr {
            Repr::Shown => col::<i64>(row, idx)?
                .map(|n| serde_json::json!({ "bytes": n }))
                .unwrap_or(Value::Null),
            Repr::Stored => {
                use base64::Engine;
                col::<Vec<u8>>(row, idx)?
                    .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b)))
                    .unwrap_or(Value::Null)
            }
        },
        Kind::Secret | Kind::Password if repr == Repr::Shown => col::<String>(row, idx)?
            .map(|_| Value::String("…".into()))
            .unwrap_or(Value::Null),
        Kind::Json => col::<String>(row, idx)?
            .map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)))
            .unwrap_or(Value::Null),
        _ => col::<String>(row, idx)?
            .map(Value::String)
            .unwrap_or(Value::Null),
    })
}

/// A JSON value as the database parameter for `field`, or why it does not fit.
pub(crate) fn encode(field: &Field, v: &Value) -> Result<sea_orm::Value, String> {
    use sea_orm::Value as V;
    let null = v.is_null();
    Ok(match &field.kind {
        k if integer_kind(k) => {
            if null {
                V::BigInt(None)
            } else {
                V::BigInt(Some(v.as_i64().ok_or("must be a whole number")?))
            }
        }
        Kind::Float => {
            if null {
                V::Double(None)
            } else {
                V::Double(Some(v.as_f64().ok_or("must be a number")?))
            }
        }
        Kind::Bool => {
            if null {
                V::Bool(None)
            } else {
                V::Bool(Some(v.as_bool().ok_or("must be true or false")?))
            }
        }
        Kind::DateTime => {
            if null {
                V::ChronoDateTimeUtc(None)
            } else {
                let t = v
                    .as_str()
                    .and_then(parse_datetime)
                    .ok_or("is not a valid date and time")?;
                V::ChronoDateTimeUtc(Some(t))
            }
        }
        Kind::Date => {
            if null {
                V::ChronoDate(None)
            } else {
                let d = v
                    .as_str()
                    .and_then(parse_date)
                    .ok_or("is not a valid date (YYYY-MM-DD)")?;
                V::ChronoDate(Some(d))
            }
        }
        Kind::Bytes => {
            if null {
                V::Bytes(None)
            } else {
                use base64::Engine;
                let b = v
                    .as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                    .ok_or("must be base64 text")?;
                V::Bytes(Some(b))
            }
        }
        Kind::Json => {
            if null {
                V::String(None)
            } else {
                V::String(Some(v.to_string()))
            }
        }
        Kind::ManyToMany { .. } => return Err("is not a column".into()),
        _ => {
            if null {
                V::String(None)
            } else {
                let s = v.as_str().ok_or("must be text")?;
                if s.contains('\0') {
                    return Err("must not contain NUL characters".into());
                }
                V::String(Some(s.to_string()))
            }
        }
    })
}

fn key_values(model: &Model, key: &Key) -> Result<Vec<sea_orm::Value>, AppError> {
    if key.0.len() != model.pk.len() {
        return Err(AppError::not_found(model.verbose_name));
    }
    model
        .pk
        .iter()
        .zip(&key.0)
        .map(|(c, v)| {
            let field = model
                .field(c)
                .ok_or_else(|| AppError::not_found(model.verbose_name))?;
            encode(field, v).map_err(|_| AppError::not_found(model.verbose_name))
        })
        .collect()
}

/// `pk = key` for one key.
fn key_condition(model: &Model, key: &Key, sql: &mut Sql) -> Result<String, AppError> {
    let values = key_values(model, key)?;
    Ok(model
        .pk
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{} = {}", q(c), sql.param(v)))
        .collect::<Vec<_>>()
        .join(" AND "))
}

/// Rows with any of `keys`. Whole-number keys are written into the SQL (they are numbers we
/// formatted), so thousands of selected rows need no thousands of parameters.
fn keys_condition(model: &Model, keys: &[Key], sql: &mut Sql) -> Result<String, AppError> {
    if keys.is_empty() {
        return Ok("1 = 0".into());
    }
    let single_int = model.pk.len() == 1
        && model
            .field(model.pk[0])
            .is_some_and(|f| integer_kind(&f.kind));
    if single_int {
        let mut ids = Vec::with_capacity(keys.len());
        for k in keys {
            match k.0.first().and_then(Value::as_i64) {
                Some(id) if k.0.len() == 1 => ids.push(id.to_string()),
                _ => return Err(AppError::not_found(model.verbose_name)),
            }
        }
        return Ok(format!("{} IN ({})", q(model.pk[0]), ids.join(", ")));
    }
    let mut parts = Vec::with_capacity(keys.len());
    for k in keys {
        parts.push(format!("({})", key_condition(model, k, sql)?));
    }
    Ok(format!("({})", parts.join(" OR ")))
}

// ---------------------------------------------------------------- display

/// How an object is named in lists, links and history: its display column, shortened.
pub fn display(model: &Model, row: &Values) -> String {
    let text = match row.get(model.display) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return format!("{} {}", model.verbose_name, Key::of(model, row));
    }
    const MAX: usize = 80;
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        text
    }
}

// ---------------------------------------------------------------- listing

/// What a change list asks for.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Searched in `model.admin.search` columns (case-insensitive substring).
    pub q: Option<String>,
    /// `(field, value)`: exact match, or `field__gte` / `field__lt` (numbers, days, moments) and
    /// `field__isnull` ("1"/"0").
    pub filters: Vec<(String, String)>,
    /// Columns, `-` for descending; the model's ordering when empty.
    pub order: Vec<String>,
    /// From 1.
    pub page: u64,
    pub per_page: u64,
}

/// One page of rows.
#[derive(Debug, Default)]
pub struct ListPage {
    pub rows: Vec<Values>,
    /// Rows matching, all pages.
    pub total: u64,
    /// (foreign-key field, target id) → the target's display text, for the rows' foreign keys.
    pub labels: BTreeMap<(String, String), String>,
}

/// The WHERE clause of a list query.
fn where_clause(
    model: &Model,
    lq: &ListQuery,
    backend: DatabaseBackend,
    sql: &mut Sql,
) -> Result<String, AppError> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(text) = lq.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        no_nul("q", text)?;
        let columns: Vec<&str> = match &model.admin {
            Some(a) if !a.search.is_empty() => a.search.to_vec(),
            _ => vec![model.display],
        };
        let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
        let p = sql.param(pattern.into());
        let ors: Vec<String> = columns
            .iter()
            .map(|c| format!("LOWER(CAST({} AS TEXT)) LIKE {p} ESCAPE '\\'", q(c)))
            .collect();
        parts.push(format!("({})", ors.join(" OR ")));
    }
    for (name, raw) in &lq.filters {
        let (col, op) = match name.rsplit_once("__") {
            Some((c, op @ ("gte" | "lt" | "isnull"))) => (c, op),
            _ => (name.as_str(), "exact"),
        };
        let field = model
            .field(col)
            .filter(|f| !matches!(f.kind, Kind::ManyToMany { .. }))
            .ok_or_else(|| {
                AppError::bad_request(
                    name,
                    format!("`{col}` is not a field of {}", model.verbose_name_plural),
                )
            })?;
        let bad = |msg: &str| AppError::bad_request(name, msg.to_string());
        no_nul(name, raw)?;
        let column = q(col);
        if op == "isnull" {
            let yes = match raw.as_str() {
                "1" | "true" | "True" => true,
                "0" | "false" | "False" => false,
                _ => return Err(bad("must be 1 or 0")),
            };
            parts.push(format!("{column} IS {}NULL", if yes { "" } else { "NOT " }));
            continue;
        }
        let ranged = op != "exact";
        match &field.kind {
            k if integer_kind(k) => {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| bad("must be a whole number"))?;
                let p = sql.param(n.into());
                parts.push(format!("{column} {} {p}", sql_op(op)));
            }
            Kind::Float => {
                let n: f64 = raw
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| bad("must be a number"))?;
                let p = sql.param(n.into());
                parts.push(format!("{column} {} {p}", sql_op(op)));
            }
            Kind::Bool if !ranged => {
                let b = match raw.as_str() {
                    "1" | "true" | "True" | "on" => true,
                    "0" | "false" | "False" => false,
                    _ => return Err(bad("must be 1 or 0")),
                };
                let p = sql.param(b.into());
                parts.push(format!("{column} = {p}"));
            }
            Kind::Date => {
                let d = parse_date(raw).ok_or_else(|| bad("is not a valid date (YYYY-MM-DD)"))?;
                let p = sql.param(d.format("%Y-%m-%d").to_string().into());
                let column = if is_pg(backend) {
                    format!("CAST({column} AS TEXT)")
                } else {
                    column
                };
                parts.push(format!("{column} {} {p}", sql_op(op)));
            }
            Kind::DateTime => {
                // A day alone means that whole day (from its start, for ranges).
                let (start, day) = match parse_date(raw) {
                    Some(d) => (d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(), true),
                    None => (
                        parse_datetime(raw).ok_or_else(|| bad("is not a valid date and time"))?,
                        false,
                    ),
                };
                if op == "exact" && day {
                    let a = sql.param(start.into());
                    let b = sql.param((start + chrono::Duration::days(1)).into());
                    parts.push(format!("({column} >= {a} AND {column} < {b})"));
                } else {
                    let p = sql.param(start.into());
                    parts.push(format!("{column} {} {p}", sql_op(op)));
                }
            }
            Kind::Bytes | Kind::Secret | Kind::Password | Kind::Bool => {
                return Err(bad("cannot be filtered this way"));
            }
            _ if ranged => return Err(bad("cannot be filtered by range")),
            _ => {
                let p = sql.param(raw.clone().into());
                parts.push(format!("{column} = {p}"));
            }
        }
    }
    Ok(if parts.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", parts.join(" AND "))
    })
}

/// PostgreSQL cannot hold a NUL character in text, SQLite can: refused on both, naming the field.
fn no_nul(field: &str, value: &str) -> Result<(), AppError> {
    if value.contains('\0') {
        return Err(AppError::bad_request(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

fn sql_op(op: &str) -> &'static str {
    match op {
        "gte" => ">=",
        "lt" => "<",
        _ => "=",
    }
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// ORDER BY for a list: the asked columns (or the model's ordering), then the primary key.
fn order_clause(model: &Model, order: &[String]) -> Result<String, AppError> {
    let wanted: Vec<String> = if order.is_empty() {
        model.ordering.iter().map(|s| s.to_string()).collect()
    } else {
        order.to_vec()
    };
    let mut seen = BTreeSet::new();
    let mut parts = Vec::new();
    for o in &wanted {
        let (col, desc) = match o.strip_prefix('-') {
            Some(c) => (c, true),
            None => (o.as_str(), false),
        };
        let real = model
            .field(col)
            .is_some_and(|f| !matches!(f.kind, Kind::ManyToMany { .. } | Kind::Bytes));
        if !real {
            return Err(AppError::bad_request(
                "order",
                format!("`{col}` is not a column of {}", model.verbose_name_plural),
            ));
        }
        if seen.insert(col.to_string()) {
            parts.push(format!("{}{}", q(col), if desc { " DESC" } else { "" }));
        }
    }
    for c in model.pk {
        if seen.insert(c.to_string()) {
            parts.push(q(c));
        }
    }
    Ok(format!(" ORDER BY {}", parts.join(", ")))
}

fn select_list(model: &Model, backend: DatabaseBackend, repr: Repr) -> (String, Vec<&Field>) {
    let fields: Vec<&Field> = model.columns().collect();
    let list = fields
        .iter()
        .map(|f| select_expr(f, backend, repr))
        .collect::<Vec<_>>()
        .join(", ");
    (list, fields)
}

pub(crate) fn decode_row(
    row: &QueryResult,
    fields: &[&Field],
    repr: Repr,
) -> Result<Values, DbErr> {
    let mut out = Values::new();
    for (i, f) in fields.iter().enumerate() {
        out.insert(f.name.to_string(), decode(row, i, f, repr)?);
    }
    Ok(out)
}

/// One page of a model's rows, filtered, searched and ordered, with the display text of every
/// foreign key on the page. Runs a fixed number of statements whatever the page size: a count, the
/// page, and one per foreign-key column.
pub async fn list(state: &AppState, model: &Model, lq: &ListQuery) -> Result<ListPage, AppError> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let mut sql = Sql::default();
    let filter = where_clause(model, lq, backend, &mut sql)?;
    let order = order_clause(model, &lq.order)?;
    let total = crate::db::count(
        db,
        format!("SELECT COUNT(*) AS n FROM {}{filter}", q(model.table)),
        sql.values.clone(),
    )
    .await?;
    let per_page = lq.per_page.clamp(1, 10_000);
    let offset = lq.page.max(1).saturating_sub(1).saturating_mul(per_page);
    let (cols, fields) = select_list(model, backend, Repr::Shown);
    let rows = db
        .query_all_raw(stmt(
            backend,
            format!(
                "SELECT {cols} FROM {}{filter}{order} LIMIT {per_page} OFFSET {offset}",
                q(model.table)
            ),
            sql.values,
        ))
        .await?;
    let rows = rows
        .iter()
        .map(|r| decode_row(r, &fields, Repr::Shown))
        .collect::<Result<Vec<_>, _>>()?;
    let labels = fk_labels(state, model, &rows).await?;
    Ok(ListPage {
        rows,
        total,
        labels,
    })
}

/// The display text of each foreign-key target the rows point to: one statement per column.
async fn fk_labels(
    state: &AppState,
    model: &Model,
    rows: &[Values],
) -> Result<BTreeMap<(String, String), String>, AppError> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let mut labels = BTreeMap::new();
    for f in model.columns() {
        let Kind::ForeignKey { to } = f.kind else {
            continue;
        };
        let Some(target) = state.registry.model_by_label(to) else {
            continue;
        };
        let ids: BTreeSet<i64> = rows
            .iter()
            .filter_map(|r| r.get(f.name).and_then(Value::as_i64))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let Some(shown) = target.field(target.display) else {
            continue;
        };
        let list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let found = db
            .query_all_raw(stmt(
                backend,
                format!(
                    "SELECT CAST({} AS BIGINT), {} FROM {} WHERE {} IN ({list})",
                    q("id"),
                    select_expr(shown, backend, Repr::Shown),
                    q(target.table),
                    q("id"),
                ),
                vec![],
            ))
            .await?;
        for r in &found {
            let Some(id) = col::<i64>(r, 0)? else {
                continue;
            };
            let mut v = Values::new();
            v.insert(
                target.display.to_string(),
                decode(r, 1, shown, Repr::Shown)?,
            );
            v.insert("id".into(), Value::from(id));
            labels.insert((f.name.to_string(), id.to_string()), display(target, &v));
        }
    }
    Ok(labels)
}

/// Every key matching the query's search and filters, all pages, in its order.
pub async fn keys_matching(
    state: &AppState,
    model: &Model,
    lq: &ListQuery,
) -> Result<Vec<Key>, AppError> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let mut sql = Sql::default();
    let filter = where_clause(model, lq, backend, &mut sql)?;
    let order = order_clause(model, &lq.order)?;
    let fields: Vec<&Field> = model.pk.iter().filter_map(|c| model.field(c)).collect();
    let cols = fields
        .iter()
        .map(|f| select_expr(f, backend, Repr::Stored))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db
        .query_all_raw(stmt(
            backend,
            format!("SELECT {cols} FROM {}{filter}{order}", q(model.table)),
            sql.values,
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Key(fields
                .iter()
                .enumerate()
                .map(|(i, f)| decode(r, i, f, Repr::Stored))
                .collect::<Result<Vec<_>, DbErr>>()?))
        })
        .collect()
}

// ---------------------------------------------------------------- one object

/// One object with its many-to-many fields as arrays of ids; `None` when there is no such row.
pub async fn get(state: &AppState, model: &Model, key: &Key) -> Result<Option<Values>, AppError> {
    get_as(&state.db, model, key, Repr::Shown).await
}

async fn get_as(
    db: &impl ConnectionTrait,
    model: &Model,
    key: &Key,
    repr: Repr,
) -> Result<Option<Values>, AppError> {
    let backend = db.get_database_backend();
    let mut sql = Sql::default();
    let Ok(cond) = key_condition(model, key, &mut sql) else {
        return Ok(None);
    };
    let (cols, fields) = select_list(model, backend, repr);
    let Some(row) = db
        .query_one_raw(stmt(
            backend,
            format!("SELECT {cols} FROM {} WHERE {cond}", q(model.table)),
            sql.values,
        ))
        .await?
    else {
        return Ok(None);
    };
    let mut values = decode_row(&row, &fields, repr)?;
    let id = values.get("id").and_then(Value::as_i64);
    for f in &model.fields {
        let Kind::ManyToMany {
            through,
            own,
            other,
            ..
        } = f.kind
        else {
            continue;
        };
        let Some(id) = id else { continue };
        let rows = db
            .query_all_raw(stmt(
                backend,
                format!(
                    "SELECT CAST({} AS BIGINT) FROM {} WHERE {} = $1 ORDER BY {}",
                    q(other),
                    q(through),
                    q(own),
                    q(other)
                ),
                vec![id.into()],
            ))
            .await?;
        let ids = rows
            .iter()
            .map(|r| col::<i64>(r, 0).map(|v| v.map(Value::from).unwrap_or(Value::Null)))
            .collect::<Result<Vec<_>, _>>()?;
        values.insert(f.name.to_string(), Value::Array(ids));
    }
    Ok(Some(values))
}

// ---------------------------------------------------------------- input

/// How raw strings are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A whole form: every editable field is considered; an absent checkbox is false, an absent
    /// multi-select is empty.
    Form { adding: bool },
    /// Only the fields named (the CLI's `field=value`); naming an unknown or read-only field is an error.
    Partial { adding: bool },
}

/// Form (or CLI) strings → typed values for the model's editable fields.
///
/// Repeated names give many-to-many ids (commas also separate them); booleans read "on", "true", "1"
/// (true) and "false", "0" or absence (false). An empty value leaves a blank field empty: NULL when
/// the column allows it, "" for text, and nothing at all for other kinds (their default, or the stored
/// value when changing). A password left empty keeps the stored one. An image field takes the storage
/// key its `ImageStore` answered; `<name>-clear` set clears it. Errors are per field.
pub fn parse_input(
    model: &Model,
    raw: &[(String, String)],
    adding: bool,
) -> Result<Values, FieldErrors> {
    parse_with(model, raw, Mode::Form { adding })
}

/// Like [`parse_input`], for the fields named only (`trellis models create|update`): an absent field
/// is left alone, and naming a field that does not exist or cannot be set is an error.
pub fn parse_fields(
    model: &Model,
    raw: &[(String, String)],
    adding: bool,
) -> Result<Values, FieldErrors> {
    parse_with(model, raw, Mode::Partial { adding })
}

fn parse_with(model: &Model, raw: &[(String, String)], mode: Mode) -> Result<Values, FieldErrors> {
    let (adding, form) = match mode {
        Mode::Form { adding } => (adding, true),
        Mode::Partial { adding } => (adding, false),
    };
    let mut errors = FieldErrors::new();
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in raw {
        if v.contains('\0') {
            errors.add(k, "must not contain NUL characters");
            continue;
        }
        by_name.entry(k.as_str()).or_default().push(v.as_str());
    }
    if !form {
        for name in by_name.keys() {
            let base = name.strip_suffix("-clear").unwrap_or(name);
            match model.field(base) {
                None => errors.add(name, format!("no such field on {}", model.verbose_name)),
                Some(f) if !f.editable => {
                    errors.add(name, "is set by the server and cannot be changed")
                }
                _ => {}
            }
        }
    }
    let mut out = Values::new();
    for f in model.fields.iter().filter(|f| f.editable) {
        if !errors.get(f.name).is_empty() {
            continue;
        }
        let given = by_name.get(f.name);
        if let Kind::ManyToMany { .. } = f.kind {
            match given {
                Some(vals) => {
                    let mut ids = BTreeSet::new();
                    for v in vals.iter().flat_map(|v| v.split(',')) {
                        let v = v.trim();
                        if v.is_empty() {
                            continue;
                        }
                        match v.parse::<i64>() {
                            Ok(id) if id > 0 => {
                                ids.insert(id);
                            }
                            _ => errors.add(f.name, format!("`{v}` is not an id")),
                        }
                    }
                    out.insert(f.name.into(), ids.into_iter().map(Value::from).collect());
                }
                None if form => {
                    out.insert(f.name.into(), Value::Array(vec![]));
                }
                None => {}
            }
            continue;
        }
        if let Kind::Bool = f.kind {
            match given.and_then(|v| v.last()) {
                Some(v) => match v.trim() {
                    "on" | "true" | "True" | "1" | "yes" => {
                        out.insert(f.name.into(), Value::Bool(true));
                    }
                    "false" | "False" | "0" | "no" | "off" | "" => {
                        out.insert(f.name.into(), Value::Bool(false));
                    }
                    _ => errors.add(f.name, "must be true or false"),
                },
                None if form => {
                    out.insert(f.name.into(), Value::Bool(false));
                }
                None => {}
            }
            continue;
        }
        if let Kind::Image { .. } = f.kind
            && by_name
                .get(format!("{}-clear", f.name).as_str())
                .and_then(|v| v.last())
                .is_some_and(|v| matches!(*v, "on" | "true" | "1"))
        {
            if f.null {
                out.insert(f.name.into(), Value::Null);
            } else {
                errors.add(f.name, "can't be blank");
            }
            continue;
        }
        let Some(v) = given.and_then(|v| v.last()) else {
            if adding && form && !f.blank {
                errors.add(f.name, "can't be blank");
            }
            continue;
        };
        let trimmed = match f.kind {
            Kind::Text { .. } | Kind::Choice(_) => v.trim(),
            Kind::LongText { .. } | Kind::Password => v,
            _ => v.trim(),
        };
        if trimmed.is_empty() {
            match f.kind {
                // Empty keeps the stored password (or the image) when changing.
                Kind::Password | Kind::Image { .. } if !adding => {}
                _ if !f.blank => errors.add(f.name, "can't be blank"),
                _ if f.null => {
                    out.insert(f.name.into(), Value::Null);
                }
                Kind::Text { .. } | Kind::LongText { .. } => {
                    out.insert(f.name.into(), Value::String(String::new()));
                }
                _ => {}
            }
            continue;
        }
        match parse_value(f, trimmed) {
            Ok(value) => {
                out.insert(f.name.into(), value);
            }
            Err(e) => errors.add(f.name, e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// One non-empty string as `field`'s kind.
fn parse_value(field: &Field, v: &str) -> Result<Value, String> {
    let too_long = |max: usize| format!("is too long (maximum is {max} characters)");
    match &field.kind {
        Kind::Text { max } | Kind::LongText { max } => {
            if v.chars().count() > *max {
                return Err(too_long(*max));
            }
            Ok(Value::String(v.to_string()))
        }
        Kind::Integer { min, max } => {
            let n: i64 = v
                .parse()
                .map_err(|_| "must be a whole number".to_string())?;
            if n < *min || n > *max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(Value::from(n))
        }
        Kind::Float => v
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "must be a number".to_string()),
        Kind::Bool => match v {
            "on" | "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err("must be true or false".into()),
        },
        Kind::DateTime => parse_datetime(v)
            .map(|t| Value::String(format_datetime(&t)))
            .ok_or_else(|| "is not a valid date and time".into()),
        Kind::Date => parse_date(v)
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .ok_or_else(|| "is not a valid date (YYYY-MM-DD)".into()),
        Kind::Choice(choices) => choices
            .iter()
            .find(|(value, _)| *value == v)
            .map(|(value, _)| Value::String(value.to_string()))
            .ok_or_else(|| format!("`{v}` is not one of the choices")),
        Kind::IntChoice(choices) => v
            .parse::<i64>()
            .ok()
            .filter(|n| choices.iter().any(|(c, _)| c == n))
            .map(Value::from)
            .ok_or_else(|| format!("`{v}` is not one of the choices")),
        Kind::ForeignKey { .. } | Kind::Id => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Value::from)
            .ok_or_else(|| "must be an id".into()),
        Kind::Password => {
            if v.chars().count() > 4096 {
                return Err(too_long(4096));
            }
            Ok(Value::String(v.to_string()))
        }
        Kind::Image { .. } | Kind::Secret => {
            if v.chars().count() > 255 {
                return Err(too_long(255));
            }
            Ok(Value::String(v.to_string()))
        }
        Kind::Json => serde_json::from_str(v).map_err(|e| format!("is not valid JSON: {e}")),
        Kind::Bytes => Err("cannot be set here".into()),
        Kind::ManyToMany { .. } => Err("is a list of ids".into()),
    }
}

// ---------------------------------------------------------------- writes

/// Adds a row: the model's clean hook derives and checks values, then the row, its many-to-many links
/// and a history entry are written in one transaction. Answers the new row's key.
pub async fn create(
    state: &AppState,
    model: &Model,
    values: Values,
    actor: &Actor,
) -> Result<Key, AppError> {
    save(state, model, None, values, actor).await
}

/// Changes the given fields of a row (many-to-many fields given replace the links), through the
/// model's clean hook, with a history entry naming the fields changed.
pub async fn update(
    state: &AppState,
    model: &Model,
    key: &Key,
    values: Values,
    actor: &Actor,
) -> Result<(), AppError> {
    save(state, model, Some(key), values, actor)
        .await
        .map(|_| ())
}

/// A write refused for one field.
enum Refused {
    /// A unique value taken: the field.
    Taken(String),
    Other(AppError),
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Self {
        Refused::Other(e)
    }
}

impl From<DbErr> for Refused {
    fn from(e: DbErr) -> Self {
        Refused::Other(AppError::from(e))
    }
}

async fn save(
    state: &AppState,
    model: &Model,
    key: Option<&Key>,
    input: Values,
    actor: &Actor,
) -> Result<Key, AppError> {
    for name in input.keys() {
        if model.field(name).is_none() {
            return Err(AppError::invalid(
                name,
                format!("no such field on {}", model.verbose_name),
            ));
        }
    }
    let existing = match key {
        Some(k) => Some(
            get_as(&state.db, model, k, Repr::Stored)
                .await?
                .ok_or_else(|| AppError::not_found(model.verbose_name))?,
        ),
        None => None,
    };
    // A value the clean hook derives (a slug, a position) can be taken by a concurrent save between
    // the hook's read and this write: derive it again. After a first collision the retries of one
    // model take turns in this process, so each derives from what the last one committed and a crowd
    // of saves all land instead of colliding again; other instances are rare enough for the retries.
    const ATTEMPTS: usize = 8;
    let mut turn = None;
    for attempt in 1..=ATTEMPTS {
        if attempt == 2 {
            turn = Some(retry_turn(model).lock_owned().await);
        }
        let mut values = input.clone();
        if let Some(clean) = model.clean {
            let ctx = CleanCtx {
                state,
                existing: existing.as_ref(),
            };
            clean(&ctx, &mut values)
                .await
                .map_err(AppError::Validation)?;
        }
        match write(state, model, existing.as_ref(), &input, values, actor).await {
            Ok((key, replaced)) => {
                remove_images(state, replaced).await;
                return Ok(key);
            }
            Err(Refused::Taken(field)) if !input.contains_key(&field) && attempt < ATTEMPTS => {
                continue;
            }
            Err(Refused::Taken(field)) => {
                return Err(AppError::invalid(&field, "has already been taken"));
            }
            Err(Refused::Other(e)) => return Err(e),
        }
    }
    drop(turn);
    unreachable!("the last attempt returns")
}

/// The lock a model's retried saves take turns on.
fn retry_turn(model: &Model) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    static TURNS: std::sync::LazyLock<
        std::sync::Mutex<BTreeMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    > = std::sync::LazyLock::new(Default::default);
    let mut turns = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    turns.entry(model.label()).or_default().clone()
}

/// The storage keys of image files to remove: each image and its thumbnail.
fn image_files(model: &Model, row: &Values) -> Vec<String> {
    let mut out = Vec::new();
    for f in &model.fields {
        if let Kind::Image { thumb, .. } = f.kind
            && let Some(k) = row.get(f.name).and_then(Value::as_str)
            && !k.is_empty()
        {
            out.push(k.to_string());
            out.push(thumb(k));
        }
    }
    out
}

/// Removes files no row refers to any more; run after the commit, so a rolled-back change keeps them.
async fn remove_images(state: &AppState, keys: Vec<String>) {
    for k in keys {
        if let Err(e) = state.storage.delete(&k).await {
            tracing::warn!(error = %e, "could not remove a replaced or deleted image");
        }
    }
}

/// Writes one row in one transaction; answers its key and the image files it replaced.
async fn write(
    state: &AppState,
    model: &Model,
    existing: Option<&Values>,
    input: &Values,
    values: Values,
    actor: &Actor,
) -> Result<(Key, Vec<String>), Refused> {
    let backend = state.db.get_database_backend();
    let mut errors = FieldErrors::new();
    let mut columns: Vec<(&Field, sea_orm::Value)> = Vec::new();
    let mut links: Vec<(&Field, Vec<i64>)> = Vec::new();
    for (name, v) in &values {
        let Some(field) = model.field(name) else {
            errors.add(name, format!("no such field on {}", model.verbose_name));
            continue;
        };
        if let Kind::ManyToMany { .. } = field.kind {
            match v
                .as_array()
                .map(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
            {
                Some(Some(ids)) => links.push((field, ids)),
                _ => errors.add(name, "must be a list of ids"),
            }
            continue;
        }
        if existing.is_some() && model.pk.contains(&field.name) {
            // A key is not changed by an update: other rows and the history refer to it.
            if existing.and_then(|e| e.get(name)) != Some(v) {
                errors.add(name, "cannot be changed");
            }
            continue;
        }
        if v.is_null() && !field.null && !matches!(field.kind, Kind::Id) {
            errors.add(name, "can't be blank");
            continue;
        }
        match encode(field, v) {
            Ok(p) => columns.push((field, p)),
            Err(e) => errors.add(name, e),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors).into());
    }

    let txn = state.db.begin().await?;
    check_references(&txn, state, model, &values).await?;

    let key = match existing {
        None => {
            let mut sql = Sql::default();
            let (names, params): (Vec<String>, Vec<String>) = columns
                .into_iter()
                .map(|(f, v)| (q(f.name), sql.param(v)))
                .unzip();
            let returning = model
                .pk
                .iter()
                .filter_map(|c| model.field(c))
                .map(|f| select_expr(f, backend, Repr::Stored))
                .collect::<Vec<_>>()
                .join(", ");
            let text = if names.is_empty() {
                format!(
                    "INSERT INTO {} DEFAULT VALUES RETURNING {returning}",
                    q(model.table)
                )
            } else {
                format!(
                    "INSERT INTO {} ({}) VALUES ({}) RETURNING {returning}",
                    q(model.table),
                    names.join(", "),
                    params.join(", ")
                )
            };
            let row = txn
                .query_one_raw(stmt(backend, text, sql.values))
                .await
                .map_err(|e| refused(model, e))?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("INSERT returned no row")))?;
            let pk_fields: Vec<&Field> = model.pk.iter().filter_map(|c| model.field(c)).collect();
            Key(pk_fields
                .iter()
                .enumerate()
                .map(|(i, f)| decode(&row, i, f, Repr::Stored))
                .collect::<Result<Vec<_>, DbErr>>()?)
        }
        Some(old) => {
            let key = Key::of(model, old);
            if !columns.is_empty() {
                let mut sql = Sql::default();
                let sets = columns
                    .into_iter()
                    .map(|(f, v)| format!("{} = {}", q(f.name), sql.param(v)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let cond = key_condition(model, &key, &mut sql)?;
                let res = txn
                    .execute_raw(stmt(
                        backend,
                        format!("UPDATE {} SET {sets} WHERE {cond}", q(model.table)),
                        sql.values,
                    ))
                    .await
                    .map_err(|e| refused(model, e))?;
                if res.rows_affected() == 0 {
                    return Err(AppError::not_found(model.verbose_name).into());
                }
            }
            key
        }
    };

    let own_id = key.0.first().and_then(Value::as_i64);
    for (field, ids) in &links {
        let Kind::ManyToMany {
            through,
            own,
            other,
            ..
        } = field.kind
        else {
            continue;
        };
        let Some(own_id) = own_id else { continue };
        replace_links(&txn, (through, own, other), own_id, ids).await?;
    }

    let mut shown = existing.cloned().unwrap_or_default();
    shown.extend(values.clone());
    for (c, v) in model.pk.iter().zip(&key.0) {
        shown.insert(c.to_string(), v.clone());
    }
    let (action, message) = match existing {
        None => ("add", "Added.".to_string()),
        Some(old) => ("change", change_message(model, old, input)),
    };
    log(
        &txn,
        actor,
        model,
        &[(key.to_path(), display(model, &shown))],
        action,
        &message,
    )
    .await?;
    txn.commit().await?;

    // Image files an update replaced or cleared.
    let mut replaced = Vec::new();
    if let Some(old) = existing {
        for f in &model.fields {
            if let Kind::Image { thumb, .. } = f.kind
                && let Some(new) = values.get(f.name)
                && let Some(was) = old.get(f.name).and_then(Value::as_str)
                && !was.is_empty()
                && new.as_str() != Some(was)
            {
                replaced.push(was.to_string());
                replaced.push(thumb(was));
            }
        }
    }
    Ok((key, replaced))
}

/// Makes `ids` the only rows linked to `own_id` through a many-to-many table `(through, own, other)`:
/// one delete and a multi-row insert per 500 ids, within the caller's transaction.
pub(crate) async fn replace_links(
    txn: &DatabaseTransaction,
    (through, own, other): (&str, &str, &str),
    own_id: i64,
    ids: &[i64],
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    txn.execute_raw(stmt(
        backend,
        format!("DELETE FROM {} WHERE {} = $1", q(through), q(own)),
        vec![own_id.into()],
    ))
    .await?;
    let ids: BTreeSet<i64> = ids.iter().copied().collect();
    let ids: Vec<i64> = ids.into_iter().collect();
    for chunk in ids.chunks(500) {
        let rows = chunk
            .iter()
            .map(|id| format!("({own_id}, {id})"))
            .collect::<Vec<_>>()
            .join(", ");
        txn.execute_raw(stmt(
            backend,
            format!(
                "INSERT INTO {} ({}, {}) VALUES {rows}",
                q(through),
                q(own),
                q(other)
            ),
            vec![],
        ))
        .await?;
    }
    Ok(())
}

/// A constraint the database refused, as the field it concerns.
fn refused(model: &Model, e: DbErr) -> Refused {
    if let Some(detail) = crate::error::unique_violation(&e) {
        return Refused::Taken(constraint_field(model, &detail));
    }
    let text = e.to_string();
    if text.contains("NOT NULL constraint failed") || text.contains("violates not-null constraint")
    {
        return Refused::Other(AppError::invalid(
            &constraint_field(model, &text),
            "can't be blank",
        ));
    }
    if text.contains("CHECK constraint failed") || text.contains("violates check constraint") {
        return Refused::Other(AppError::invalid(
            &constraint_field(model, &text),
            "is not an allowed value",
        ));
    }
    Refused::Other(AppError::from(e))
}

/// The column a constraint message names: `table.column` (SQLite), or a constraint or index named
/// after the table and its columns (`blog_posts_slug_key`, `users_username_ci`). The key's first
/// column when none is recognizable.
pub(crate) fn constraint_field(model: &Model, detail: &str) -> String {
    let mut columns: Vec<&Field> = model.columns().collect();
    for f in &columns {
        if detail.contains(&format!("{}.{}", model.table, f.name))
            || detail.contains(&format!("column \"{}\"", f.name))
        {
            return f.name.to_string();
        }
    }
    let rest = detail.replace(model.table, " ");
    // Longest first, so `owner_id` is not taken for `id`.
    columns.sort_by_key(|f| std::cmp::Reverse(f.name.len()));
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
    for f in &columns {
        for (at, _) in rest.match_indices(f.name) {
            let before = rest[..at].chars().next_back();
            let after = rest[at + f.name.len()..].chars().next();
            if boundary(before) && boundary(after) {
                return f.name.to_string();
            }
        }
    }
    model.pk.first().copied().unwrap_or("id").to_string()
}

/// Foreign keys and many-to-many ids that point to no row become field errors, in one statement.
async fn check_references(
    txn: &DatabaseTransaction,
    state: &AppState,
    model: &Model,
    values: &Values,
) -> Result<(), AppError> {
    let mut checks: Vec<(&str, String, usize)> = Vec::new();
    for (name, v) in values {
        let Some(field) = model.field(name) else {
            continue;
        };
        let (to, ids): (&str, Vec<i64>) = match field.kind {
            Kind::ForeignKey { to } => match v.as_i64() {
                Some(id) => (to, vec![id]),
                None => continue,
            },
            Kind::ManyToMany { to, .. } => (
                to,
                v.as_array()
                    .map(|a| a.iter().filter_map(Value::as_i64).collect::<BTreeSet<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            ),
            _ => continue,
        };
        if ids.is_empty() {
            continue;
        }
        let Some(target) = state.registry.model_by_label(to) else {
            continue;
        };
        let list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        checks.push((
            field.name,
            format!(
                "(SELECT COUNT(*) FROM {} WHERE {} IN ({list}))",
                q(target.table),
                q("id")
            ),
            ids.len(),
        ));
    }
    if checks.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let select = checks
        .iter()
        .enumerate()
        .map(|(i, (_, sql, _))| format!("{sql} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = txn
        .query_one_raw(stmt(backend, format!("SELECT {select}"), vec![]))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no row from a SELECT")))?;
    let mut errors = FieldErrors::new();
    for (i, (name, _, wanted)) in checks.iter().enumerate() {
        let found = col::<i64>(&row, i)?.unwrap_or(0);
        if found != *wanted as i64 {
            errors.add(name, "points to no existing row");
        }
    }
    errors.into_result()
}

/// "Changed title and status." from the fields given that differ from the stored row.
fn change_message(model: &Model, old: &Values, input: &Values) -> String {
    let mut changed: Vec<String> = Vec::new();
    for f in &model.fields {
        let Some(new) = input.get(f.name) else {
            continue;
        };
        let differs = match f.kind {
            Kind::Password => true,
            Kind::DateTime => {
                let a = old
                    .get(f.name)
                    .and_then(Value::as_str)
                    .and_then(parse_datetime);
                let b = new.as_str().and_then(parse_datetime);
                a != b
            }
            _ => old.get(f.name) != Some(new),
        };
        if differs {
            changed.push(f.label.to_lowercase());
        }
    }
    match changed.len() {
        0 => "No fields changed.".into(),
        1 => format!("Changed {}.", changed[0]),
        n => format!(
            "Changed {} and {}.",
            changed[..n - 1].join(", "),
            changed[n - 1]
        ),
    }
}

/// Writes history entries for `objects` (key path, display text) in the caller's transaction.
async fn log(
    txn: &DatabaseTransaction,
    actor: &Actor,
    model: &Model,
    objects: &[(String, String)],
    action: &str,
    message: &str,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let now = Utc::now();
    for chunk in objects.chunks(200) {
        let mut sql = Sql::default();
        let at = sql.param(now.into());
        let (user, who) = match actor {
            Actor::User { id } => {
                let p = sql.param((*id).into());
                (
                    p.clone(),
                    format!("COALESCE((SELECT username FROM users WHERE id = {p}), '')"),
                )
            }
            Actor::Cli => ("NULL".to_string(), "'cli'".to_string()),
        };
        let app = sql.param(model.app.into());
        let name = sql.param(model.name.into());
        let act = sql.param(action.into());
        let msg = sql.param(message.into());
        let rows = chunk
            .iter()
            .map(|(key, repr)| {
                let k = sql.param(key.clone().into());
                let r = sql.param(repr.clone().into());
                format!("({at}, {user}, {who}, {app}, {name}, {k}, {r}, {act}, {msg})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        txn.execute_raw(stmt(
            backend,
            format!(
                "INSERT INTO admin_log (at, user_id, actor, app, model, object_key, object_repr, \
                 action, message) VALUES {rows}"
            ),
            sql.values,
        ))
        .await?;
    }
    Ok(())
}

/// Notes a change made outside [`update`] (a bulk action of the admin) in each object's history.
/// The first objects are named by their display text; past them, by their key, so that an action over
/// a whole table reads a bounded number of rows for its history.
pub async fn log_change(
    state: &AppState,
    model: &Model,
    keys: &[Key],
    message: &str,
    actor: &Actor,
) -> Result<(), AppError> {
    const NAMED: usize = 100;
    let mut objects = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let repr = if i < NAMED {
            match get(state, model, key).await? {
                Some(row) => display(model, &row),
                None => continue,
            }
        } else {
            key.to_path()
        };
        objects.push((key.to_path(), repr));
    }
    if objects.is_empty() {
        return Ok(());
    }
    let txn = state.db.begin().await?;
    log(&txn, actor, model, &objects, "change", message).await?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- deleting

/// What deleting rows takes with it: for the rows themselves and every model reached through foreign
/// keys (recursively) and many-to-many links, a condition selecting the rows concerned.
struct Cascade<'m> {
    /// Models in the order reached, with their conditions (ORed).
    models: Vec<(&'m Model, Vec<String>)>,
    /// Link tables: (name shown, table, conditions).
    links: Vec<(String, &'static str, Vec<String>)>,
}

fn cascade<'m>(
    registry: &'m crate::registry::Registry,
    model: &'m Model,
    root: String,
) -> Cascade<'m> {
    let mut out = Cascade {
        models: Vec::new(),
        links: Vec::new(),
    };
    fn add<'m>(list: &mut Vec<(&'m Model, Vec<String>)>, m: &'m Model, cond: String) {
        match list.iter_mut().find(|(x, _)| std::ptr::eq(*x, m)) {
            Some((_, conds)) => conds.push(cond),
            None => list.push((m, vec![cond])),
        }
    }
    fn add_link(
        list: &mut Vec<(String, &'static str, Vec<String>)>,
        name: String,
        table: &'static str,
        cond: String,
    ) {
        match list.iter_mut().find(|(_, t, _)| *t == table) {
            Some((_, _, conds)) => conds.push(cond),
            None => list.push((name, table, vec![cond])),
        }
    }
    fn walk<'m>(
        registry: &'m crate::registry::Registry,
        model: &'m Model,
        cond: String,
        depth: usize,
        out: &mut Cascade<'m>,
    ) {
        add(&mut out.models, model, cond.clone());
        // The registry has no cycles today; a depth bound keeps a future self-reference finite.
        if depth > 8 || model.pk != ["id"] {
            return;
        }
        let label = model.label();
        let ids = format!("SELECT {} FROM {} WHERE {cond}", q("id"), q(model.table));
        for f in &model.fields {
            if let Kind::ManyToMany {
                through, own, to, ..
            } = f.kind
            {
                let to_name = registry
                    .model_by_label(to)
                    .map(|m| m.verbose_name)
                    .unwrap_or(to);
                add_link(
                    &mut out.links,
                    format!("{}-{} relationships", model.verbose_name, to_name),
                    through,
                    format!("{} IN ({ids})", q(own)),
                );
            }
        }
        for other in registry.models() {
            for f in &other.fields {
                match f.kind {
                    Kind::ForeignKey { to } if to == label && !f.set_null => {
                        walk(
                            registry,
                            other,
                            format!("{} IN ({ids})", q(f.name)),
                            depth + 1,
                            out,
                        );
                    }
                    Kind::ManyToMany {
                        to,
                        through,
                        other: col,
                        ..
                    } if to == label => {
                        add_link(
                            &mut out.links,
                            format!(
                                "{}-{} relationships",
                                other.verbose_name, model.verbose_name
                            ),
                            through,
                            format!("{} IN ({ids})", q(col)),
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    walk(registry, model, root, 0, &mut out);
    out
}

/// What deleting `keys` would delete: (plural name, count) for the model itself first, then each
/// model reached through foreign keys (recursively) and each many-to-many link table, omitting those
/// with nothing to delete. One statement.
pub async fn cascade_preview(
    state: &AppState,
    model: &Model,
    keys: &[Key],
) -> Result<Vec<(String, u64)>, AppError> {
    let mut sql = Sql::default();
    let root = keys_condition(model, keys, &mut sql)?;
    let plan = cascade(&state.registry, model, root);
    let mut names: Vec<String> = Vec::new();
    let mut counts: Vec<String> = Vec::new();
    for (m, conds) in &plan.models {
        names.push(m.verbose_name_plural.to_string());
        counts.push(format!(
            "(SELECT COUNT(*) FROM {} WHERE {})",
            q(m.table),
            conds.join(" OR ")
        ));
    }
    for (name, table, conds) in &plan.links {
        names.push(name.clone());
        counts.push(format!(
            "(SELECT COUNT(*) FROM {} WHERE {})",
            q(table),
            conds.join(" OR ")
        ));
    }
    let select = counts
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let backend = state.db.get_database_backend();
    let row = state
        .db
        .query_one_raw(stmt(backend, format!("SELECT {select}"), sql.values))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no row from a SELECT")))?;
    let mut out = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let n = col::<i64>(&row, i)?.unwrap_or(0).max(0) as u64;
        if i == 0 || n > 0 {
            out.push((name, n));
        }
    }
    Ok(out)
}

/// Deletes the rows with `keys` (missing ones are skipped) and, through the database's cascades,
/// what depends on them; logs one entry per row in the same transaction, and removes image files of
/// every row deleted once committed. Answers how many of `keys` were deleted.
pub async fn delete(
    state: &AppState,
    model: &Model,
    keys: &[Key],
    actor: &Actor,
) -> Result<u64, AppError> {
    let backend = state.db.get_database_backend();
    let mut deleted = 0;
    let mut files = Vec::new();
    let txn = state.db.begin().await?;
    // Chunks keep composite keys within the parameter limits.
    for chunk in keys.chunks(500) {
        let mut sql = Sql::default();
        let cond = keys_condition(model, chunk, &mut sql)?;
        let (cols, fields) = select_list(model, backend, Repr::Shown);
        let rows = txn
            .query_all_raw(stmt(
                backend,
                format!("SELECT {cols} FROM {} WHERE {cond}", q(model.table)),
                sql.values.clone(),
            ))
            .await?;
        let rows = rows
            .iter()
            .map(|r| decode_row(r, &fields, Repr::Shown))
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            continue;
        }
        // Images of rows the cascade takes along.
        let plan = cascade(&state.registry, model, cond.clone());
        for (m, conds) in &plan.models {
            let images: Vec<&Field> = m
                .fields
                .iter()
                .filter(|f| matches!(f.kind, Kind::Image { .. }))
                .collect();
            if images.is_empty() {
                continue;
            }
            let cols = images
                .iter()
                .map(|f| q(f.name))
                .collect::<Vec<_>>()
                .join(", ");
            let found = txn
                .query_all_raw(stmt(
                    backend,
                    format!(
                        "SELECT {cols} FROM {} WHERE {}",
                        q(m.table),
                        conds.join(" OR ")
                    ),
                    sql.values.clone(),
                ))
                .await?;
            for r in &found {
                let row = decode_row(r, &images, Repr::Stored)?;
                files.extend(image_files(m, &row));
            }
        }
        let objects: Vec<(String, String)> = rows
            .iter()
            .map(|r| (Key::of(model, r).to_path(), display(model, r)))
            .collect();
        // Logged first: a user deleting their own account still has a row for the entry to name.
        log(&txn, actor, model, &objects, "delete", "Deleted.").await?;
        let res = txn
            .execute_raw(stmt(
                backend,
                format!("DELETE FROM {} WHERE {cond}", q(model.table)),
                sql.values,
            ))
            .await?;
        deleted += res.rows_affected();
    }
    txn.commit().await?;
    remove_images(state, files).await;
    Ok(deleted)
}

// ---------------------------------------------------------------- history

/// One history entry.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<i64>,
    /// The username at the time, or "cli".
    pub actor: String,
    pub app: String,
    pub model: String,
    pub object_key: String,
    pub object_repr: String,
    /// add, change or delete.
    pub action: String,
    /// "Changed title and status."
    pub message: String,
}

const LOG_COLUMNS: &str =
    "id, at, user_id, actor, app, model, object_key, object_repr, action, message";

fn log_entry(r: &QueryResult) -> Result<LogEntry, DbErr> {
    Ok(LogEntry {
        id: col::<i64>(r, 0)?.unwrap_or(0),
        at: col::<DateTime<Utc>>(r, 1)?.unwrap_or_default(),
        user_id: col::<i64>(r, 2)?,
        actor: col::<String>(r, 3)?.unwrap_or_default(),
        app: col::<String>(r, 4)?.unwrap_or_default(),
        model: col::<String>(r, 5)?.unwrap_or_default(),
        object_key: col::<String>(r, 6)?.unwrap_or_default(),
        object_repr: col::<String>(r, 7)?.unwrap_or_default(),
        action: col::<String>(r, 8)?.unwrap_or_default(),
        message: col::<String>(r, 9)?.unwrap_or_default(),
    })
}

/// An object's history, oldest first.
pub async fn history(
    state: &AppState,
    model: &Model,
    key: &Key,
) -> Result<Vec<LogEntry>, AppError> {
    let rows = state
        .db
        .query_all_raw(stmt(
            state.db.get_database_backend(),
            format!(
                "SELECT {LOG_COLUMNS} FROM admin_log WHERE app = $1 AND model = $2 AND object_key = $3 \
                 ORDER BY id"
            ),
            vec![model.app.into(), model.name.into(), key.to_path().into()],
        ))
        .await?;
    Ok(rows.iter().map(log_entry).collect::<Result<_, _>>()?)
}

/// The latest entries, newest first: everyone's, or one user's.
pub async fn recent(
    state: &AppState,
    user_id: Option<i64>,
    limit: u64,
) -> Result<Vec<LogEntry>, AppError> {
    let limit = limit.min(1000);
    let (filter, values) = match user_id {
        Some(id) => (" WHERE user_id = $1", vec![id.into()]),
        None => ("", vec![]),
    };
    let rows = state
        .db
        .query_all_raw(stmt(
            state.db.get_database_backend(),
            format!("SELECT {LOG_COLUMNS} FROM admin_log{filter} ORDER BY id DESC LIMIT {limit}"),
            values,
        ))
        .await?;
    Ok(rows.iter().map(log_entry).collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------- choices

/// Options for a foreign key to `target`: (key path, display text), searched like its change list, in
/// its order, at most `limit`; and how many rows match in all.
pub async fn fk_choices(
    state: &AppState,
    target: &Model,
    q_text: Option<&str>,
    limit: u64,
) -> Result<(Vec<(String, String)>, u64), AppError> {
    let lq = ListQuery {
        q: q_text.map(str::to_string),
        page: 1,
        per_page: limit.max(1),
        ..ListQuery::default()
    };
    let backend = state.db.get_database_backend();
    let mut sql = Sql::default();
    let filter = where_clause(target, &lq, backend, &mut sql)?;
    let order = order_clause(target, &[])?;
    let total = crate::db::count(
        &state.db,
        format!("SELECT COUNT(*) AS n FROM {}{filter}", q(target.table)),
        sql.values.clone(),
    )
    .await?;
    let mut fields: Vec<&Field> = target.pk.iter().filter_map(|c| target.field(c)).collect();
    if let Some(d) = target.field(target.display)
        && !target.pk.contains(&d.name)
    {
        fields.push(d);
    }
    let cols = fields
        .iter()
        .map(|f| select_expr(f, backend, Repr::Shown))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = state
        .db
        .query_all_raw(stmt(
            backend,
            format!(
                "SELECT {cols} FROM {}{filter}{order} LIMIT {}",
                q(target.table),
                lq.per_page.min(10_000)
            ),
            sql.values,
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let row = decode_row(r, &fields, Repr::Shown)?;
        out.push((Key::of(target, &row).to_path(), display(target, &row)));
    }
    Ok((out, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Admin;

    fn sample() -> Model {
        Model {
            app: "demo",
            name: "thing",
            verbose_name: "thing",
            verbose_name_plural: "things",
            table: "demo_things",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new("title", "Title", Kind::Text { max: 5 }),
                Field::new("notes", "Notes", Kind::LongText { max: 100 }).blank(),
                Field::new("count", "Count", Kind::Integer { min: 0, max: 10 }).blank(),
                Field::new("done", "Done", Kind::Bool),
                Field::new("due", "Due", Kind::Date).optional(),
                Field::new("at", "At", Kind::DateTime).optional(),
                Field::new("state", "State", Kind::Choice(&[("a", "A"), ("b", "B")])),
                Field::new(
                    "level",
                    "Level",
                    Kind::IntChoice(&[(1, "Low"), (2, "High")]),
                )
                .blank(),
                Field::new("owner_id", "Owner", Kind::ForeignKey { to: "demo.user" }),
                Field::new("secret", "Secret", Kind::Password),
                Field::new(
                    "tags",
                    "Tags",
                    Kind::ManyToMany {
                        to: "demo.tag",
                        through: "demo_thing_tags",
                        own: "thing_id",
                        other: "tag_id",
                    },
                )
                .blank(),
                Field::new("made", "Made", Kind::DateTime).read_only(),
            ],
            display: "title",
            ordering: &["title"],
            admin: Some(Admin::default()),
            clean: None,
        }
    }

    fn link() -> Model {
        Model {
            app: "demo",
            name: "link",
            verbose_name: "link",
            verbose_name_plural: "links",
            table: "demo_links",
            pk: &["thing_id", "word"],
            fields: vec![
                Field::new("thing_id", "Thing", Kind::ForeignKey { to: "demo.thing" }),
                Field::new("word", "Word", Kind::Text { max: 50 }),
            ],
            display: "word",
            ordering: &[],
            admin: None,
            clean: None,
        }
    }

    fn raw(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("title", " Hi "),
            ("notes", ""),
            ("count", "3"),
            ("done", "on"),
            ("due", "2026-02-28"),
            ("at", "2026-02-28T10:30"),
            ("state", "b"),
            ("level", "2"),
            ("owner_id", "7"),
            ("secret", "pw"),
            ("tags", "3"),
            ("tags", "1"),
            ("tags", "3"),
            ("csrf_token", "ignored"),
        ]
    }

    #[test]
    fn a_full_form_becomes_typed_values() {
        let v = parse_input(&sample(), &raw(&full()), true).unwrap();
        assert_eq!(v["title"], "Hi");
        assert_eq!(v["notes"], "");
        assert_eq!(v["count"], 3);
        assert_eq!(v["done"], true);
        assert_eq!(v["due"], "2026-02-28");
        assert_eq!(v["at"], "2026-02-28T10:30:00.000000Z");
        assert_eq!(v["state"], "b");
        assert_eq!(v["level"], 2);
        assert_eq!(v["owner_id"], 7);
        assert_eq!(v["secret"], "pw");
        assert_eq!(v["tags"], serde_json::json!([1, 3]));
        assert!(!v.contains_key("made"), "read-only fields are never read");
        assert!(!v.contains_key("id"));
        assert!(!v.contains_key("csrf_token"));
    }

    #[test]
    fn an_absent_checkbox_is_false_and_an_absent_multi_select_is_empty() {
        let mut pairs = full();
        pairs.retain(|(k, _)| *k != "done" && *k != "tags");
        let v = parse_input(&sample(), &raw(&pairs), true).unwrap();
        assert_eq!(v["done"], false);
        assert_eq!(v["tags"], serde_json::json!([]));
        for (s, want) in [("true", true), ("1", true), ("false", false), ("0", false)] {
            let mut pairs = full();
            pairs.retain(|(k, _)| *k != "done");
            pairs.push(("done", s));
            assert_eq!(
                parse_input(&sample(), &raw(&pairs), true).unwrap()["done"],
                want
            );
        }
    }

    #[test]
    fn each_bad_field_gets_its_own_error() {
        let pairs = [
            ("title", "toolong"),
            ("count", "11"),
            ("done", "maybe"),
            ("due", "2026-02-30"),
            ("at", "yesterday"),
            ("state", "c"),
            ("level", "5"),
            ("owner_id", "x"),
            ("secret", "pw"),
            ("tags", "1,two"),
            ("notes", "a\0b"),
        ];
        let e = parse_input(&sample(), &raw(&pairs), true).unwrap_err();
        assert_eq!(e.get("title"), ["is too long (maximum is 5 characters)"]);
        assert_eq!(e.get("count"), ["must be between 0 and 10"]);
        assert_eq!(e.get("done"), ["must be true or false"]);
        assert_eq!(e.get("due"), ["is not a valid date (YYYY-MM-DD)"]);
        assert_eq!(e.get("at"), ["is not a valid date and time"]);
        assert_eq!(e.get("state"), ["`c` is not one of the choices"]);
        assert_eq!(e.get("level"), ["`5` is not one of the choices"]);
        assert_eq!(e.get("owner_id"), ["must be an id"]);
        assert_eq!(e.get("tags"), ["`two` is not an id"]);
        assert_eq!(e.get("notes"), ["must not contain NUL characters"]);
        assert!(e.get("secret").is_empty());
    }

    #[test]
    fn required_fields_are_required_when_adding_only() {
        let e = parse_input(&sample(), &raw(&[("title", "  ")]), true).unwrap_err();
        assert_eq!(e.get("title"), ["can't be blank"]);
        assert_eq!(e.get("state"), ["can't be blank"]);
        assert_eq!(e.get("owner_id"), ["can't be blank"]);
        assert_eq!(e.get("secret"), ["can't be blank"]);
        assert!(e.get("notes").is_empty() && e.get("count").is_empty());
        // Changing: an empty password keeps the stored one, absent fields stay as they are.
        let v = parse_input(&sample(), &raw(&[("secret", ""), ("due", "")]), false).unwrap();
        assert!(!v.contains_key("secret"));
        assert!(!v.contains_key("title"));
        assert_eq!(v["due"], Value::Null);
    }

    #[test]
    fn named_fields_only_and_unknown_or_read_only_names_refused() {
        let v = parse_fields(&sample(), &raw(&[("count", "4")]), false).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v["count"], 4);
        let e =
            parse_fields(&sample(), &raw(&[("colour", "red"), ("made", "x")]), false).unwrap_err();
        assert_eq!(e.get("colour"), ["no such field on thing"]);
        assert_eq!(
            e.get("made"),
            ["is set by the server and cannot be changed"]
        );
    }

    #[test]
    fn keys_round_trip_through_their_path() {
        let m = sample();
        let k = Key::parse(&m, "42").unwrap();
        assert_eq!(k, Key(vec![Value::from(42)]));
        assert_eq!(k.to_path(), "42");
        for bad in ["", "x", "1,2", "01", "+1", "4 2"] {
            assert_eq!(Key::parse(&m, bad), None, "{bad:?}");
        }
        let l = link();
        let k = Key(vec![Value::from(3), Value::String("a,b/c %é".into())]);
        let path = k.to_path();
        assert_eq!(path, "3,a%2Cb%2Fc%20%25%C3%A9");
        assert_eq!(Key::parse(&l, &path), Some(k));
        assert_eq!(Key::parse(&l, "3"), None);
        assert_eq!(Key::parse(&l, "3,%ZZ"), None);
        assert_eq!(Key::parse(&l, "3,%00"), None);
        let mut row = Values::new();
        row.insert("thing_id".into(), Value::from(3));
        row.insert("word".into(), Value::String("w".into()));
        assert_eq!(Key::of(&l, &row).to_path(), "3,w");
    }

    #[test]
    fn constraint_messages_name_their_field() {
        let mut m = sample();
        m.table = "users";
        m.fields
            .push(Field::new("username", "Username", Kind::Text { max: 9 }));
        m.fields.push(Field::new("user_id", "User", Kind::Id));
        assert_eq!(
            constraint_field(&m, "UNIQUE constraint failed: index 'users_username_ci'"),
            "username"
        );
        assert_eq!(
            constraint_field(
                &m,
                "duplicate key value violates unique constraint \"users_username_ci\""
            ),
            "username"
        );
        assert_eq!(
            constraint_field(&m, "UNIQUE constraint failed: users.title"),
            "title"
        );
        assert_eq!(
            constraint_field(
                &m,
                "duplicate key value violates unique constraint \"users_title_key\""
            ),
            "title"
        );
        assert_eq!(constraint_field(&m, "something else"), "id");
    }

    #[test]
    fn display_shortens_and_falls_back_to_the_key() {
        let m = sample();
        let mut row = Values::new();
        row.insert("id".into(), Value::from(5));
        row.insert("title".into(), Value::String("  ".into()));
        assert_eq!(display(&m, &row), "thing 5");
        row.insert("title".into(), Value::String("x".repeat(200)));
        assert_eq!(display(&m, &row).chars().count(), 80);
    }

    #[test]
    fn change_messages_list_changed_fields() {
        let m = sample();
        let mut old = Values::new();
        old.insert("title".into(), "a".into());
        old.insert("count".into(), 1.into());
        let mut new = Values::new();
        new.insert("title".into(), "a".into());
        assert_eq!(change_message(&m, &old, &new), "No fields changed.");
        new.insert("title".into(), "b".into());
        new.insert("count".into(), 2.into());
        new.insert("done".into(), true.into());
        assert_eq!(
            change_message(&m, &old, &new),
            "Changed title, count and done."
        );
    }
}
