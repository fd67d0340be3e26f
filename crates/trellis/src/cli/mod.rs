//! The management commands (Django's `manage.py`). One file per command.

mod backup;
mod bench;
mod check;
mod dbshell;
mod fixtures;
mod groups;
mod migrate;
mod models;
mod openapi;
mod roadmap;
mod sentiment;
mod serve;
mod shop;
mod users;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Parser, Debug)]
#[command(name = "trellis", version, about = "Trellis: web server and management commands.", long_about = None)]
#[command(
    after_help = "Settings come from trellis.toml and TRELLIS_* environment variables; see the README."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server.
    Serve(serve::Args),
    /// Apply or list database migrations.
    Migrate(migrate::Args),
    /// Create a superuser (interactively, or from TRELLIS_SUPERUSER_* with --no-input).
    Createsuperuser(users::CreateSuperuserArgs),
    /// Set a user's password.
    Changepassword(users::ChangePasswordArgs),
    /// Check the configuration, the database connection and pending migrations.
    Check(check::Args),
    /// Open the database's own shell (sqlite3 or psql).
    Dbshell(dbshell::Args),
    /// Manage group membership.
    Groups(groups::Args),
    /// Print the API's OpenAPI document, or a Postman collection made from it.
    Openapi(openapi::Args),
    /// Measure throughput and latency of this binary under load.
    Bench(bench::Args),
    /// Import, show and export learning roadmaps (the tracker).
    Roadmap(roadmap::Args),
    /// Sentiment data, training, evaluation and batch analysis.
    Sentiment(sentiment::Args),
    /// The shop's catalog as CSV: import and export products.
    Shop(shop::Args),
    /// Run background jobs (dataset analysis, training) without serving HTTP.
    Worker(worker::Args),
    /// List, show, create, change and delete rows of any registered model.
    Models(models::Args),
    /// Copy the database and every upload into a new directory (online: the server may keep running).
    Backup(backup::BackupArgs),
    /// Put a backup made by `trellis backup` back: database and uploads. Stop the servers first.
    Restore(backup::RestoreArgs),
    /// Print every registered model's rows as a JSON fixture.
    Dumpdata(fixtures::DumpArgs),
    /// Load JSON fixtures in one transaction, replacing rows with the same keys.
    Loaddata(fixtures::LoadArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    crate::telemetry::init(&settings);
    let writes = matches!(
        cli.command,
        Command::Migrate(_)
            | Command::Createsuperuser(_)
            | Command::Changepassword(_)
            | Command::Groups(_)
            | Command::Roadmap(_)
            | Command::Sentiment(_)
            | Command::Shop(_)
            | Command::Models(_)
            | Command::Loaddata(_)
            | Command::Restore(_)
    );
    let shared = settings.clone();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(settings, args).await,
        Command::Migrate(args) => migrate::run(settings, args).await,
        Command::Createsuperuser(args) => users::create_superuser(settings, args).await,
        Command::Changepassword(args) => users::change_password(settings, args).await,
        Command::Check(args) => check::run(settings, args).await,
        Command::Dbshell(args) => dbshell::run(settings, args).await,
        Command::Groups(args) => groups::run(settings, args).await,
        Command::Openapi(args) => openapi::run(args),
        Command::Bench(args) => bench::run(settings, args).await,
        Command::Roadmap(args) => roadmap::run(settings, args).await,
        Command::Sentiment(args) => sentiment::run(settings, args).await,
        Command::Shop(args) => shop::run(settings, args).await,
        Command::Worker(args) => worker::run(settings, args).await,
        Command::Models(args) => models::run(settings, args).await,
        Command::Backup(args) => backup::backup(settings, args).await,
        Command::Restore(args) => backup::restore(settings, args).await,
        Command::Dumpdata(args) => fixtures::dump(settings, args).await,
        Command::Loaddata(args) => fixtures::load(settings, args).await,
    };
    if writes {
        invalidate_shared_cache(&shared).await;
    }
    outcome
}

/// A command that may have changed rows makes running servers' cached answers stale. Only a shared
/// (Redis) cache can be reached from here; an in-process one catches up within `TRELLIS_CACHE_TTL_SECS`.
async fn invalidate_shared_cache(settings: &Settings) {
    let Some(url) = &settings.redis_url else {
        return;
    };
    if !matches!(settings.cache.as_str(), "auto" | "redis") {
        return;
    }
    match crate::shared_redis::SharedRedis::connect(url.expose()).await {
        Ok(conn) => {
            if let Ok(cache) = crate::cache::Cache::from_settings(settings, Some(conn)) {
                cache.bump().await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cache: could not reach Redis to invalidate cached answers")
        }
    }
}

/// A connection for management commands: never migrates by itself.
async fn connect(settings: &Settings) -> anyhow::Result<crate::db::Db> {
    let (db, _) = crate::db::connect(&settings.database_url(), 2).await?;
    crate::db::ping(&db).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the database at {}: {e}",
            crate::db::redact_url(&settings.database_url())
        )
    })?;
    Ok(db)
}

/// Connection for commands that need the schema: refuses to run against an unmigrated database.
async fn connect_migrated(settings: &Settings) -> anyhow::Result<crate::db::Db> {
    let db = connect(settings).await?;
    let pending = crate::db::pending_migrations(&db).await?;
    if !pending.is_empty() {
        anyhow::bail!(
            "{} pending migration(s); run `trellis migrate` first",
            pending.len()
        );
    }
    Ok(db)
}
