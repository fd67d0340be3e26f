//! Connecting to SQLite or PostgreSQL, migrations, and helpers that differ per backend.

pub mod migrations;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ColumnTrait, Condition, ConnectOptions, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, ExecResult, FromQueryResult,
    PrimaryKeyTrait, QueryFilter, QueryResult, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

pub use migrations::Migrator;

use crate::error::AppError;

/// Counts every statement run on a connection (tests pin query counts with it), and separately those
/// that may change rows (anything but a `SELECT`), which tell the cache whether a request wrote.
#[derive(Clone, Default, Debug)]
pub struct QueryCounter {
    all: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
}

impl QueryCounter {
    pub fn get(&self) -> u64 {
        self.all.load(Ordering::Relaxed)
    }

    /// Statements other than `SELECT` run so far by this process (a data-modifying `WITH` counts).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    fn record(&self, sql: &str) {
        self.all.fetch_add(1, Ordering::Relaxed);
        let head = sql.trim_start().get(..6).unwrap_or("");
        if !head.eq_ignore_ascii_case("select") {
            self.writes.fetch_add(1, Ordering::Release);
        }
    }
}

/// The URL with any password replaced, safe for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The application's database: a pool of readers and one write path.
///
/// SQLite admits one writer at a time, and a deferred transaction that reads before it writes cannot
/// wait for the write lock: it fails at once with `SQLITE_BUSY` (or `SQLITE_BUSY_SNAPSHOT` when another
/// writer committed since its read), whatever the busy timeout. So on SQLite every write goes through a
/// single connection, in arrival order, and transactions on it begin `IMMEDIATE` (taking the write lock
/// up front, where the busy timeout does apply — that covers other processes such as `trellis worker`).
/// Readers are separate connections marked `query_only`, so a write sent to them by mistake fails
/// loudly in tests instead of racing. On PostgreSQL both sides are the same pool.
///
/// `Db` is a [`ConnectionTrait`] that sends `SELECT`s to the readers and every other statement to the
/// write path; [`Db::begin`] opens a write transaction.
#[derive(Clone, Debug)]
pub struct Db {
    read: DatabaseConnection,
    write: DatabaseConnection,
    sqlite: bool,
}

impl Db {
    /// The connection every write outside a transaction goes through.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.write
    }

    /// The readers.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.read
    }

    pub fn is_sqlite(&self) -> bool {
        self.sqlite
    }

    /// The pools by role: SQLite's readers and its one writer, or PostgreSQL's single pool.
    pub fn pools(&self) -> Vec<(&'static str, &DatabaseConnection)> {
        if self.sqlite {
            vec![("read", &self.read), ("write", &self.write)]
        } else {
            vec![("main", &self.write)]
        }
    }

    /// A write transaction: `BEGIN IMMEDIATE` on SQLite, a plain `BEGIN` on PostgreSQL.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        if self.sqlite {
            self.write
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await
        } else {
            self.write.begin().await
        }
    }

    /// Closes both sides (closing a shared pool twice is harmless).
    pub async fn close(self) {
        self.read.close().await.ok();
        self.write.close().await.ok();
    }
}

/// Reads go to the readers, everything else to the write path: sea-orm's inserts and updates arrive
/// here as `INSERT … RETURNING` queries, so the split is by statement, not by method.
fn is_read(sql: &str) -> bool {
    let head = sql.trim_start();
    head.len() >= 6 && head[..6].eq_ignore_ascii_case("select")
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.write.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.write.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.write.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if is_read(&stmt.sql) {
            self.read.query_one_raw(stmt).await
        } else {
            self.write.query_one_raw(stmt).await
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if is_read(&stmt.sql) {
            self.read.query_all_raw(stmt).await
        } else {
            self.write.query_all_raw(stmt).await
        }
    }
}

/// Opens the database: on SQLite one writer connection plus up to `max_connections` readers (WAL,
/// foreign keys, a busy timeout; the file and its directory are created); on PostgreSQL one pool.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<(Db, QueryCounter)> {
    let counter = QueryCounter::default();
    if !url.starts_with("sqlite:") {
        let pool = open(url, max_connections, &counter, |o| o).await?;
        return Ok((
            Db {
                read: pool.clone(),
                write: pool,
                sqlite: false,
            },
            counter,
        ));
    }
    let path = sqlite_path(url);
    if let Some(parent) = path.as_ref().and_then(|p| p.parent())
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    fn common(o: SqliteConnectOptions) -> SqliteConnectOptions {
        o.synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
    }
    // The writer opens first: it creates the file and switches it to WAL (a lasting property of the file).
    let write = open(url, 1, &counter, |o| {
        common(
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal),
        )
    })
    .await?;
    // An in-memory database exists once per connection: there the writer also reads.
    let read = if path.is_some() {
        open(url, max_connections.max(1), &counter, |o| {
            common(o).pragma("query_only", "ON")
        })
        .await?
    } else {
        write.clone()
    };
    Ok((
        Db {
            read,
            write,
            sqlite: true,
        },
        counter,
    ))
}

async fn open(
    url: &str,
    max_connections: u32,
    counter: &QueryCounter,
    sqlite: impl Fn(SqliteConnectOptions) -> SqliteConnectOptions + Send + Sync + 'static,
) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(max_connections)
        .min_connections(1)
        // Writers queue for SQLite's one write connection; waiting is normal under load, so the wait
        // is bounded by the request timeout rather than a short pool timeout.
        .acquire_timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // A local file cannot drop a connection the way a network server can: skip the ping that would
        // otherwise precede every statement.
        opts.test_before_acquire(false);
        opts.map_sqlx_sqlite_opts(sqlite);
    } else {
        // A server can drop a connection while it sits in the pool (a restart, an idle timeout), so one
        // idle for a while is pinged before use; one just returned by another request is not. Pinging on
        // every acquire cost a round trip per transaction and per statement run outside one.
        opts.test_before_acquire_if_idle_for(Duration::from_secs(5));
    }
    let mut db = Database::connect(opts)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact_url(url)))?;
    let c = counter.clone();
    db.set_metric_callback(move |info| {
        c.record(&info.statement.sql);
        crate::http::debug_toolbar::record_statement(&info.statement.sql, info.elapsed);
        crate::http::metrics::record_statement();
        tracing::trace!(target: "trellis::sql", elapsed_us = info.elapsed.as_micros() as u64, failed = info.failed, sql = %info.statement.sql);
    });
    Ok(db)
}

/// The file behind a `sqlite://path?…` URL.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.into())
    }
}

/// Names of migrations not yet applied.
pub async fn pending_migrations(db: &Db) -> anyhow::Result<Vec<String>> {
    Ok(Migrator::get_migration_with_status_read_only(db.writer())
        .await?
        .into_iter()
        .filter(|m| m.status() == sea_orm_migration::MigrationStatus::Pending)
        .map(|m| m.name().to_string())
        .collect())
}

/// Every migration with whether it is applied, in order.
pub async fn migration_status(db: &Db) -> anyhow::Result<Vec<(String, bool)>> {
    Ok(Migrator::get_migration_with_status_read_only(db.writer())
        .await?
        .into_iter()
        .map(|m| {
            (
                m.name().to_string(),
                m.status() == sea_orm_migration::MigrationStatus::Applied,
            )
        })
        .collect())
}

pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    Migrator::up(db.writer(), None)
        .await
        .context("running migrations")
}

/// `SELECT 1`, for readiness probes and `trellis check`.
pub async fn ping(db: &Db) -> Result<(), sea_orm::DbErr> {
    db.reader()
        .execute_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT 1",
        ))
        .await
        .map(|_| ())
}

/// Runs a `SELECT COUNT(*) AS n …` statement and returns the number.
pub async fn count(
    db: &impl ConnectionTrait,
    sql: String,
    values: Vec<sea_orm::Value>,
) -> Result<u64, sea_orm::DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Count {
        n: i64,
    }
    let row = Count::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .one(db)
    .await?;
    Ok(row.map(|c| c.n.max(0) as u64).unwrap_or(0))
}

/// `text` with the `LIKE` wildcards (`%`, `_`) and the escape character itself escaped by `\`, so it
/// matches literally in a `LIKE … ESCAPE '\'` (SQLite has no default escape character, PostgreSQL's
/// default is `\`; spelling it out keeps both the same).
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `LIKE … ESCAPE '\'` pattern matching `text` anywhere, for a case-insensitive search against a
/// `LOWER(column)`: the text is lowercased and escaped.
pub fn like_pattern(text: &str) -> String {
    format!("%{}%", like_escape(&text.to_lowercase()))
}

/// The highest `OFFSET` a database accepts: its integers are signed 64-bit.
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// One page of a list: how many rows to skip and how many to take. Both are clamped to what a database
/// integer holds, so a window far past the end is just empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}

impl Window {
    /// Everything, for the few lists shown whole.
    pub const ALL: Window = Window {
        offset: 0,
        limit: MAX_OFFSET,
    };

    /// `(LIMIT, OFFSET)` as bound parameters.
    pub fn bounds(self) -> (i64, i64) {
        (
            self.limit.min(MAX_OFFSET) as i64,
            self.offset.min(MAX_OFFSET) as i64,
        )
    }
}

/// One page of rows and how many match in all, in one statement whatever the page size: `rows_sql`
/// (`SELECT …`, ordered) with `LIMIT`/`OFFSET` appended and `count_sql` (`SELECT COUNT(*) AS n …`, over
/// the same rows) as a scalar subquery column, both over `values`. Both databases run an uncorrelated
/// subquery once, and the count and the page come from one snapshot. An empty page carries no row to
/// hold the total, so it is counted on its own (an empty list, or a page past the end).
pub async fn paged<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    count_sql: String,
    rows_sql: String,
    values: Vec<sea_orm::Value>,
    window: Window,
) -> Result<(Vec<T>, u64), DbErr> {
    let n = values.len();
    let (limit, offset) = window.bounds();
    let mut page_values = values.clone();
    page_values.push(limit.into());
    page_values.push(offset.into());
    let tail = format!(" LIMIT ${} OFFSET ${}", n + 1, n + 2);
    let Some(rest) = rows_sql.strip_prefix("SELECT ") else {
        return Err(DbErr::Custom(format!(
            "a paged list's statement must open with its select list: {rows_sql}"
        )));
    };
    let found = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("SELECT ({count_sql}) AS paged_total, {rest}{tail}"),
            page_values,
        ))
        .await?;
    let Some(first) = found.first() else {
        return Ok((Vec::new(), count(db, count_sql, values).await?));
    };
    let total: i64 = first.try_get("", "paged_total")?;
    let rows = found
        .iter()
        .map(|r| T::from_query_result(r, ""))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total.max(0) as u64))
}

/// [`paged`] for a query built with sea-orm, already filtered and ordered.
pub async fn paged_select<E: EntityTrait>(
    db: &impl ConnectionTrait,
    query: sea_orm::Select<E>,
    window: Window,
) -> Result<(Vec<E::Model>, u64), DbErr>
where
    E::Model: Sync,
{
    use sea_orm::{PaginatorTrait, QuerySelect};
    let total = query.clone().count(db).await?;
    let (limit, offset) = window.bounds();
    let rows = query
        .offset(offset as u64)
        .limit(limit as u64)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Backend-specific SQL: `PK` (auto-increment id), `TS` (timestamp with time zone) and `BLOB` (bytes)
/// are replaced.
pub fn ddl(backend: DatabaseBackend, sql: &str) -> String {
    let (pk, ts, blob) = match backend {
        DatabaseBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "TIMESTAMPTZ", "BYTEA"),
        _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT", "BLOB"),
    };
    sql.replace("{PK}", pk)
        .replace("{TS}", ts)
        .replace("{BLOB}", blob)
}

/// Serializes, until `txn` ends, the transactions that take the same `scope` and `key`: a check and the
/// write it guards (a per-user cap, the next free slug or position) then see each other's results.
/// PostgreSQL takes a transaction-scoped advisory lock (a hash collision only serializes a little
/// more); SQLite write transactions are already serialized by [`Db::begin`].
pub async fn lock(
    txn: &DatabaseTransaction,
    scope: &str,
    key: impl std::fmt::Display,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("{scope}:{key}").into()],
        ))
        .await?;
    }
    Ok(())
}

/// A per-user limit that is already reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaFull {
    pub limit: u64,
}

/// Within `txn`, takes `owner`'s turn for `scope` (see [`lock`]) and counts their rows with
/// `count_sql` (`SELECT COUNT(*) AS n …` with the owner as `$1`): `Err(QuotaFull)` when one more would
/// pass `limit` (0 means no limit). The caller writes in the same transaction, so concurrent requests
/// cannot all see room for one more.
pub async fn check_quota(
    txn: &DatabaseTransaction,
    scope: &str,
    owner: i64,
    count_sql: &str,
    limit: u64,
) -> Result<Result<(), QuotaFull>, DbErr> {
    if limit == 0 {
        return Ok(Ok(()));
    }
    lock(txn, scope, owner).await?;
    let n = count(txn, count_sql.to_string(), vec![owner.into()]).await?;
    Ok(if n >= limit {
        Err(QuotaFull { limit })
    } else {
        Ok(())
    })
}

// ---------------------------------------------------------------- ids and owned rows

/// A row id from a URL path. Ids are whole numbers from 1 up; anything else (not a number, signed, zero,
/// past `i64::MAX`) names no row, so it is the same 404 as an id that names none — in every app, pages
/// and API alike — and `what` names the kind of row in the answer.
pub fn parse_id(raw: &str, what: &str) -> Result<i64, AppError> {
    Some(raw)
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|r| r.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::not_found(what))
}

/// The row behind a path id if `owner_column` holds `owner`, else a 404 naming `what`: another user's
/// row is answered exactly as a missing one, so ids reveal nothing.
pub async fn owned<E>(
    db: &impl ConnectionTrait,
    id: &str,
    owner_column: E::Column,
    owner: i64,
    what: &str,
) -> Result<E::Model, AppError>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    owned_where::<E>(db, id, owner_column, owner, Condition::all(), what).await
}

/// [`owned`] for rows that must also meet `condition` (a kind of job, say); one that does not is a 404 too.
pub async fn owned_where<E>(
    db: &impl ConnectionTrait,
    id: &str,
    owner_column: E::Column,
    owner: i64,
    condition: Condition,
    what: &str,
) -> Result<E::Model, AppError>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    let id = parse_id(id, what)?;
    E::find_by_id(id)
        .filter(owner_column.eq(owner))
        .filter(condition)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(like_pattern("Ab%"), "%ab\\%%");
        assert_eq!(like_pattern(""), "%%");
    }

    #[test]
    fn only_positive_whole_numbers_are_ids() {
        assert_eq!(parse_id("42", "x").unwrap(), 42);
        assert_eq!(parse_id("9223372036854775807", "x").unwrap(), i64::MAX);
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "abc",
            " 1",
            "9223372036854775808",
        ] {
            let err = parse_id(bad, "todo").unwrap_err();
            assert!(
                matches!(err, AppError::NotFound(ref w) if w == "todo"),
                "{bad:?}"
            );
        }
    }
}
