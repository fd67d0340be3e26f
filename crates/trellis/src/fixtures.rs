//! Fixtures (Django's `dumpdata` / `loaddata`): every registered model's rows as JSON, and back.
//!
//! A fixture is a JSON array of records `{"model": "blog.post", "pk": 1, "fields": {...}}`. Models
//! keyed by several columns (a follow, a dataset row) have no `"pk"`: their key columns are in
//! `"fields"` like any other. Values are as stored, in [`crate::records`]'s JSON shapes; bytes are
//! base64 and secrets (password hashes, token hashes, share tokens) are dumped as stored, since a
//! fixture must restore a working database: treat a fixture file like the database itself.
//! Many-to-many links are arrays of ids on the model that declares them.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr};
use serde_json::{Map, Value};

use crate::records::{self, Key, Repr, q, stmt};
use crate::registry::{Kind, Model, Registry};
use crate::state::AppState;

/// Models in foreign-key dependency order (a model after those it points to), otherwise in
/// installation order.
pub fn dependency_order(registry: &Registry) -> Vec<&Model> {
    let all = registry.models();
    let mut placed: Vec<&Model> = Vec::with_capacity(all.len());
    let mut left: Vec<&Model> = all.iter().collect();
    while !left.is_empty() {
        let before = left.len();
        let mut i = 0;
        while i < left.len() {
            let m = left[i];
            let own = m.label();
            let ready = m.depends_on().iter().all(|d| {
                *d == own
                    || placed.iter().any(|p| p.label() == *d)
                    || registry.model_by_label(d).is_none()
            });
            if ready {
                placed.push(left.remove(i));
            } else {
                i += 1;
            }
        }
        // A cycle: place the rest as they come rather than loop.
        if left.len() == before {
            placed.append(&mut left);
        }
    }
    placed
}

/// The models named by `APP` or `APP.MODEL` arguments (every model when none), in dependency order.
pub fn select<'r>(registry: &'r Registry, names: &[String]) -> Result<Vec<&'r Model>, String> {
    let order = dependency_order(registry);
    if names.is_empty() {
        return Ok(order);
    }
    for n in names {
        let known = match n.split_once('.') {
            Some(_) => registry.model_by_label(n).is_some(),
            None => registry.app(&n.to_ascii_lowercase()).is_some(),
        };
        if !known {
            return Err(format!("no app or model named `{n}`"));
        }
    }
    Ok(order
        .into_iter()
        .filter(|m| {
            names.iter().any(|n| match n.split_once('.') {
                Some(_) => registry
                    .model_by_label(n)
                    .is_some_and(|x| std::ptr::eq(x, *m)),
                None => n.eq_ignore_ascii_case(m.app),
            })
        })
        .collect())
}

/// Orders keys the same on both backends: numbers by value, text by bytes (PostgreSQL's collation
/// would order text its own way).
fn compare_keys(a: &Key, b: &Key) -> std::cmp::Ordering {
    for (x, y) in a.0.iter().zip(&b.0) {
        let o = match (x, y) {
            (Value::Number(x), Value::Number(y)) => {
                x.as_i64().unwrap_or(0).cmp(&y.as_i64().unwrap_or(0))
            }
            (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
            _ => x.to_string().cmp(&y.to_string()),
        };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

/// Every row of `model` as fixture records, in key order.
pub async fn dump_model(state: &AppState, model: &Model) -> Result<Vec<Value>, DbErr> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let fields: Vec<_> = model.columns().collect();
    let cols = fields
        .iter()
        .map(|f| records::select_expr(f, backend, Repr::Stored))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db
        .query_all_raw(stmt(
            backend,
            format!("SELECT {cols} FROM {}", q(model.table)),
            vec![],
        ))
        .await?;
    let mut rows = rows
        .iter()
        .map(|r| records::decode_row(r, &fields, Repr::Stored))
        .collect::<Result<Vec<_>, _>>()?;
    rows.sort_by(|a, b| compare_keys(&Key::of(model, a), &Key::of(model, b)));

    // Each many-to-many field's links in one statement.
    let mut links: Vec<(&str, HashMap<i64, Vec<i64>>)> = Vec::new();
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
        let found = db
            .query_all_raw(stmt(
                backend,
                format!(
                    "SELECT CAST({} AS BIGINT), CAST({} AS BIGINT) FROM {}",
                    q(own),
                    q(other),
                    q(through)
                ),
                vec![],
            ))
            .await?;
        let mut by_owner: HashMap<i64, Vec<i64>> = HashMap::new();
        for r in &found {
            if let (Some(a), Some(b)) = (records::col::<i64>(r, 0)?, records::col::<i64>(r, 1)?) {
                by_owner.entry(a).or_default().push(b);
            }
        }
        for ids in by_owner.values_mut() {
            ids.sort_unstable();
        }
        links.push((f.name, by_owner));
    }

    let single = model.pk.len() == 1;
    Ok(rows
        .into_iter()
        .map(|mut row| {
            let mut record = Map::new();
            record.insert("model".into(), Value::String(model.label()));
            let id = row.get("id").and_then(Value::as_i64);
            if single {
                let pk = row.remove(model.pk[0]).unwrap_or(Value::Null);
                record.insert("pk".into(), pk);
            }
            let mut out = Map::new();
            for f in &model.fields {
                if let Some(v) = row.remove(f.name) {
                    out.insert(f.name.into(), v);
                }
            }
            for (name, by_owner) in &links {
                let ids = id
                    .and_then(|id| by_owner.get(&id))
                    .map(|ids| ids.iter().map(|i| Value::from(*i)).collect())
                    .unwrap_or_default();
                out.insert(name.to_string(), Value::Array(ids));
            }
            record.insert("fields".into(), Value::Object(out));
            Value::Object(record)
        })
        .collect())
}

/// Why a fixture could not be loaded; nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// One record, read and checked.
struct Record<'m> {
    model: &'m Model,
    /// How errors name it: `blog.post pk=3`.
    name: String,
    columns: Vec<(&'static str, sea_orm::Value)>,
    links: Vec<(&'m crate::registry::Field, Vec<i64>)>,
}

fn read_record<'m>(
    registry: &'m Registry,
    index: usize,
    raw: &Value,
) -> Result<Record<'m>, LoadError> {
    let at = |msg: String| LoadError(format!("record {}: {msg}", index + 1));
    let obj = raw
        .as_object()
        .ok_or_else(|| at("is not an object".into()))?;
    let label = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| at("has no \"model\"".into()))?;
    let model = registry
        .model_by_label(label)
        .ok_or_else(|| at(format!("unknown model `{label}`")))?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "model" | "pk" | "fields") {
            return Err(at(format!("unknown key `{k}`")));
        }
    }
    let mut fields = match obj.get("fields") {
        Some(Value::Object(f)) => f.clone(),
        None => Map::new(),
        Some(_) => return Err(at("\"fields\" is not an object".into())),
    };
    let pk = obj.get("pk").filter(|v| !v.is_null());
    if let Some(pk) = pk {
        if model.pk.len() != 1 {
            return Err(at(format!(
                "{label} is keyed by {}: give them in \"fields\", not \"pk\"",
                model.pk.join(", ")
            )));
        }
        fields.insert(model.pk[0].into(), pk.clone());
    }
    let key: Vec<Value> = model
        .pk
        .iter()
        .map(|c| fields.get(*c).cloned().unwrap_or(Value::Null))
        .collect();
    let name = if key.iter().all(Value::is_null) {
        format!("{label} (record {})", index + 1)
    } else {
        format!("{label} pk={}", Key(key).to_path())
    };
    let mut columns = Vec::new();
    let mut links = Vec::new();
    for (k, v) in &fields {
        let field = model
            .field(k)
            .ok_or_else(|| LoadError(format!("{name}: unknown field `{k}`")))?;
        if let Kind::ManyToMany { .. } = field.kind {
            let ids = v
                .as_array()
                .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
                .ok_or_else(|| LoadError(format!("{name}: {k}: must be a list of ids")))?;
            links.push((field, ids));
            continue;
        }
        let value =
            records::encode(field, v).map_err(|e| LoadError(format!("{name}: {k}: {e}")))?;
        columns.push((field.name, value));
    }
    Ok(Record {
        model,
        name,
        columns,
        links,
    })
}

/// Loads fixture records in one transaction, all or nothing: rows are written as given (no clean
/// hooks), replacing a stored row with the same key; many-to-many links given replace the stored ones.
/// On PostgreSQL each id sequence is moved past the largest id afterwards. Answers rows per model.
pub async fn load(
    state: &AppState,
    records_in: &[Value],
    mut progress: impl FnMut(u64),
) -> Result<Vec<(String, u64)>, LoadError> {
    let registry = &state.registry;
    let mut recs = records_in
        .iter()
        .enumerate()
        .map(|(i, r)| read_record(registry, i, r))
        .collect::<Result<Vec<_>, _>>()?;
    // Parents before children whatever the file's order: PostgreSQL checks each foreign key at once.
    let order = dependency_order(registry);
    let rank = |m: &Model| {
        order
            .iter()
            .position(|x| std::ptr::eq(*x, m))
            .unwrap_or(usize::MAX)
    };
    recs.sort_by_key(|r| rank(r.model));

    let db_err = |e: DbErr| LoadError(format!("database: {e}"));
    let txn = state.db.begin().await.map_err(db_err)?;
    let mut counts: Vec<(String, u64)> = Vec::new();
    // Links after every row: a post's tags may come later in dependency order than the post.
    let mut pending = Vec::new();
    for r in &recs {
        if let Some(id) = write_record(&txn, r).await? {
            pending.push((r, id));
        }
        let label = r.model.label();
        match counts.last_mut() {
            Some((l, n)) if *l == label => *n += 1,
            _ => counts.push((label, 1)),
        }
        progress(1);
    }
    for (r, id) in pending {
        write_links(&txn, r, id).await?;
    }
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        for (label, _) in &counts {
            let Some(m) = registry.model_by_label(label) else {
                continue;
            };
            if m.pk != ["id"] {
                continue;
            }
            let t = q(m.table);
            txn.execute_raw(stmt(
                DatabaseBackend::Postgres,
                format!(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {t}"
                ),
                vec![m.table.into()],
            ))
            .await
            .map_err(db_err)?;
        }
    }
    txn.commit().await.map_err(db_err)?;
    Ok(counts)
}

/// Writes a record's row; answers its id when it has links to write.
async fn write_record(txn: &DatabaseTransaction, r: &Record<'_>) -> Result<Option<i64>, LoadError> {
    let backend = txn.get_database_backend();
    let model = r.model;
    let fail = |e: DbErr| {
        let text = match crate::error::unique_violation(&e) {
            Some(detail) => format!(
                "{}: has already been taken",
                records::constraint_field(model, &detail)
            ),
            None => e.to_string(),
        };
        LoadError(format!("{}: {text}", r.name))
    };
    let mut values = Vec::new();
    let mut names = Vec::new();
    let mut params = Vec::new();
    for (c, v) in &r.columns {
        values.push(v.clone());
        names.push(q(c));
        params.push(format!("${}", values.len()));
    }
    let has_key = model
        .pk
        .iter()
        .all(|c| r.columns.iter().any(|(n, v)| n == c && !is_null(v)));
    let updates: Vec<String> = r
        .columns
        .iter()
        .filter(|(c, _)| !model.pk.contains(c))
        .map(|(c, _)| format!("{} = excluded.{}", q(c), q(c)))
        .collect();
    let table = q(model.table);
    let mut sql = if names.is_empty() {
        format!("INSERT INTO {table} DEFAULT VALUES")
    } else {
        format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            params.join(", ")
        )
    };
    if has_key {
        let keys = model.pk.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
        if updates.is_empty() {
            sql.push_str(&format!(" ON CONFLICT ({keys}) DO NOTHING"));
        } else {
            sql.push_str(&format!(
                " ON CONFLICT ({keys}) DO UPDATE SET {}",
                updates.join(", ")
            ));
        }
    }
    let own_id: Option<i64> = if r.links.is_empty() {
        None
    } else {
        sql.push_str(" RETURNING CAST(id AS BIGINT)");
        let row = txn
            .query_one_raw(stmt(backend, sql.clone(), values.clone()))
            .await
            .map_err(fail)?;
        match row {
            Some(row) => records::col::<i64>(&row, 0).map_err(fail)?,
            None => None,
        }
    };
    if r.links.is_empty() {
        txn.execute_raw(stmt(backend, sql, values))
            .await
            .map_err(fail)?;
    }
    Ok(own_id)
}

async fn write_links(txn: &DatabaseTransaction, r: &Record<'_>, id: i64) -> Result<(), LoadError> {
    for (field, ids) in &r.links {
        let Kind::ManyToMany {
            through,
            own,
            other,
            ..
        } = field.kind
        else {
            continue;
        };
        records::replace_links(txn, (through, own, other), id, ids)
            .await
            .map_err(|e| LoadError(format!("{}: {}: {e}", r.name, field.name)))?;
    }
    Ok(())
}

fn is_null(v: &sea_orm::Value) -> bool {
    use sea_orm::Value as V;
    matches!(
        v,
        V::BigInt(None)
            | V::String(None)
            | V::Double(None)
            | V::Bool(None)
            | V::Bytes(None)
            | V::ChronoDate(None)
            | V::ChronoDateTimeUtc(None)
    )
}

/// Rows per model, for progress bars.
pub async fn count_rows(state: &AppState, model: &Model) -> Result<u64, DbErr> {
    crate::db::count(
        &state.db,
        format!("SELECT COUNT(*) AS n FROM {}", q(model.table)),
        vec![],
    )
    .await
}

/// Writes records as a JSON array: compact on one line, or `indent` spaces per level; each record
/// starts its own line either way, so fixtures diff well.
pub fn to_json(records: &[Value], indent: Option<usize>) -> String {
    match indent {
        Some(n) => {
            let pad = vec![b' '; n];
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(&pad);
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(records, &mut ser).expect("JSON values serialize");
            let mut s = String::from_utf8(out).expect("serde_json writes UTF-8");
            s.push('\n');
            s
        }
        None => {
            let mut s = String::from("[");
            for (i, r) in records.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push('\n');
                s.push_str(&r.to_string());
            }
            s.push_str(if records.is_empty() { "]\n" } else { "\n]\n" });
            s
        }
    }
}

/// Reads a fixture file's records.
pub fn from_json(text: &str) -> Result<Vec<Value>, LoadError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err(LoadError("a fixture is a JSON array of records".into())),
        Err(e) => Err(LoadError(format!("not valid JSON: {e}"))),
    }
}

/// Labels of models in `counts`, for messages: "blog.post: 3, blog.tag: 2".
pub fn summary(counts: &[(String, u64)]) -> String {
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    for (l, n) in counts {
        *by.entry(l).or_default() += n;
    }
    by.iter()
        .map(|(l, n)| format!("{l}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
