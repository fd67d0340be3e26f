//! Connecting to SQLite or PostgreSQL, migrations, and helpers that differ per backend.

pub mod migrations;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    FromQueryResult, Statement,
};
use sea_orm_migration::MigratorTrait;

pub use migrations::Migrator;

/// Counts every statement run on a connection; tests pin query counts with it.
#[derive(Clone, Default, Debug)]
pub struct QueryCounter(Arc<AtomicU64>);

impl QueryCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
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

/// Opens a pool. SQLite gets WAL, foreign keys and a busy timeout; its file and directory are created.
pub async fn connect(
    url: &str,
    max_connections: u32,
) -> anyhow::Result<(DatabaseConnection, QueryCounter)> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // A local file cannot drop a connection the way a network server can: skip the ping that would
        // otherwise precede every statement.
        opts.test_before_acquire(false);
        if let Some(parent) = sqlite_path(url).and_then(|p| p.parent().map(|p| p.to_path_buf()))
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(&parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        opts.map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    }
    let mut db = Database::connect(opts)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact_url(url)))?;
    let counter = QueryCounter::default();
    let c = counter.clone();
    db.set_metric_callback(move |info| {
        c.0.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(target: "trellis::sql", elapsed_us = info.elapsed.as_micros() as u64, failed = info.failed, sql = %info.statement.sql);
    });
    Ok((db, counter))
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
pub async fn pending_migrations(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    Ok(Migrator::get_migration_with_status_read_only(db)
        .await?
        .into_iter()
        .filter(|m| m.status() == sea_orm_migration::MigrationStatus::Pending)
        .map(|m| m.name().to_string())
        .collect())
}

/// Every migration with whether it is applied, in order.
pub async fn migration_status(db: &DatabaseConnection) -> anyhow::Result<Vec<(String, bool)>> {
    Ok(Migrator::get_migration_with_status_read_only(db)
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

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("running migrations")
}

/// `SELECT 1`, for readiness probes and `trellis check`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    db.execute_raw(Statement::from_string(
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
