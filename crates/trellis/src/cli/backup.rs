//! `trellis backup` and `trellis restore`: the database and every upload, as one directory.
//!
//! The directory holds `manifest.json`, the database (`database.sqlite3`, an online copy made with
//! SQLite's `VACUUM INTO`, or `database.pgdump` from `pg_dump --format=custom`) and `media/<key>` for
//! each stored upload, wherever the uploads live (local directory or object store). A backup restores
//! onto the same kind of database; to move between SQLite and PostgreSQL use `dumpdata` and `loaddata`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::storage::Storage;

const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "database.sqlite3";
const PG_FILE: &str = "database.pgdump";

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The directory to create; it must not exist yet, or be empty.
    pub output: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// A directory made by `trellis backup`.
    pub input: PathBuf,
    /// Overwrite the database the settings name when it already holds data.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Serialize, Deserialize, Debug)]
struct Manifest {
    format: u32,
    trellis_version: String,
    created_at: String,
    /// `sqlite` or `postgres`.
    database: String,
    /// Migrations applied in the backed-up database.
    migrations: Vec<String>,
    media_files: usize,
}

fn kind(settings: &Settings) -> &'static str {
    if settings.is_sqlite() {
        "sqlite"
    } else {
        "postgres"
    }
}

/// Runs a PostgreSQL client program to completion, with its own error output in ours on failure.
fn run_libpq(program: &str, url: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    let (mut cmd, conninfo) = super::dbshell::libpq_command(program, url)?;
    cmd.args(args).arg(format!("--dbname={conninfo}"));
    let out = cmd.output().with_context(|| {
        format!(
            "could not run `{program}`; install the PostgreSQL client tools (it must be on PATH)"
        )
    })?;
    if !out.status.success() {
        bail!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub async fn backup(settings: Settings, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let out = &args.output;
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!(
            "{} exists and is not empty; choose a new directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let db = super::connect(&settings).await?;
    let migrations: Vec<String> = crate::db::migration_status(&db)
        .await?
        .into_iter()
        .filter_map(|(name, applied)| applied.then_some(name))
        .collect();

    let url = settings.database_url();
    if settings.is_sqlite() {
        // A consistent copy while the server keeps writing: one read transaction, written compactly.
        let target = std::path::absolute(out.join(SQLITE_FILE))?;
        let quoted = target.to_string_lossy().replace('\'', "''");
        db.writer()
            .execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
            .await
            .context("copying the SQLite database")?;
    } else {
        let target = out.join(PG_FILE);
        run_libpq(
            "pg_dump",
            &url,
            &[
                "--format=custom".as_ref(),
                "--no-owner".as_ref(),
                "--no-privileges".as_ref(),
                "--file".as_ref(),
                target.as_os_str(),
            ],
        )?;
    }

    let storage = Storage::from_settings(&settings)?;
    let keys = storage.list_all().await?;
    let media = out.join("media");
    let mut copied = 0;
    for key in &keys {
        // Listed a moment ago; a file deleted since is simply no longer part of the backup.
        let Some(bytes) = storage.get(key).await? else {
            continue;
        };
        let path = media.join(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        copied += 1;
    }

    let manifest = Manifest {
        format: FORMAT,
        trellis_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339(),
        database: kind(&settings).into(),
        migrations,
        media_files: copied,
    };
    std::fs::write(
        out.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    println!(
        "backed up the {} database ({} migrations applied) and {copied} uploaded files from {} to {}",
        manifest.database,
        manifest.migrations.len(),
        storage.location(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every file under `dir`, as keys relative to it with `/` separators.
fn files_under(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                let rel = path.strip_prefix(dir)?;
                let key: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                found.push((key.join("/"), path));
            }
        }
    }
    found.sort();
    Ok(found)
}

pub async fn restore(settings: Settings, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let input = &args.input;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(input.join(MANIFEST))
            .with_context(|| format!("{} is not a backup: no {MANIFEST}", input.display()))?,
    )
    .with_context(|| format!("reading {}", input.join(MANIFEST).display()))?;
    if manifest.format != FORMAT {
        bail!(
            "this backup has format {}; this trellis reads format {FORMAT}",
            manifest.format
        );
    }
    if manifest.database != kind(&settings) {
        bail!(
            "the backup holds a {} database but the settings name a {} one; \
             to move between them, use `trellis dumpdata` and `trellis loaddata`",
            manifest.database,
            kind(&settings)
        );
    }
    let url = settings.database_url();
    if settings.is_sqlite() {
        let path = crate::db::sqlite_path(&url).context("the SQLite URL names no file")?;
        if path.exists() && !args.replace {
            bail!(
                "{} already exists; stop every server using it and pass --replace to overwrite it",
                path.display()
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // Copy beside the target, then rename over it, so a failure never leaves half a database. The old
        // file's write-ahead log belongs to the old file: it must not be replayed into the restored one.
        let tmp = path.with_extension("restoring");
        std::fs::copy(input.join(SQLITE_FILE), &tmp)
            .with_context(|| format!("copying {}", input.join(SQLITE_FILE).display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        for suffix in ["-wal", "-shm"] {
            let side = PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&side) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", side.display())),
            }
        }
        std::fs::rename(&tmp, &path)?;
    } else {
        let db = super::connect(&settings).await?;
        let tables = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
            ))
            .await?
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0);
        db.writer().clone().close().await.ok();
        if tables > 0 && !args.replace {
            bail!(
                "the database already holds {tables} tables; stop every server using it and pass \
                 --replace to overwrite them"
            );
        }
        let dump = input.join(PG_FILE);
        // One transaction: either the whole backup is in place or nothing changed.
        run_libpq(
            "pg_restore",
            &url,
            &[
                "--clean".as_ref(),
                "--if-exists".as_ref(),
                "--no-owner".as_ref(),
                "--no-privileges".as_ref(),
                "--single-transaction".as_ref(),
                "--exit-on-error".as_ref(),
                dump.as_os_str(),
            ],
        )?;
    }

    let storage = Storage::from_settings(&settings)?;
    let files = files_under(&input.join("media"))?;
    for (key, path) in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        storage
            .put(key, &bytes)
            .await
            .with_context(|| format!("storing {key}"))?;
    }

    let db = super::connect(&settings).await?;
    let pending = crate::db::pending_migrations(&db).await?;
    println!(
        "restored the {} database from {} ({} migrations applied) and {} uploaded files into {}",
        manifest.database,
        manifest.created_at,
        manifest.migrations.len(),
        files.len(),
        storage.location()
    );
    if !pending.is_empty() {
        println!(
            "{} migration(s) of this trellis are not applied yet: run `trellis migrate`",
            pending.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
