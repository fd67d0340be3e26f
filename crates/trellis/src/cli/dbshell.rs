use std::process::ExitCode;

use anyhow::Context;

use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Extra arguments passed to sqlite3 or psql (after `--`).
    #[arg(last = true)]
    extra: Vec<String>,
}

/// Replaces nothing: runs the client as a child and returns its exit status.
pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let url = settings.database_url();
    let mut cmd = if settings.is_sqlite() {
        let path = crate::db::sqlite_path(&url).context("the SQLite URL names no file")?;
        let mut c = std::process::Command::new("sqlite3");
        c.arg(path);
        c
    } else {
        let (mut c, conninfo) = libpq_command("psql", &url)?;
        c.arg(conninfo);
        c
    };
    cmd.args(&args.extra);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd
        .status()
        .with_context(|| format!("could not run `{program}`; is it installed and on PATH?"))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

/// A PostgreSQL client program (psql, pg_dump, pg_restore) and the connection string to give it. The
/// password goes by environment, not argv, where other local users could read it in `ps`.
pub(super) fn libpq_command(
    program: &str,
    url: &str,
) -> anyhow::Result<(std::process::Command, String)> {
    let mut c = std::process::Command::new(program);
    let mut parsed = url::Url::parse(url).context("TRELLIS_DATABASE_URL is not a URL")?;
    if let Some(pw) = parsed.password() {
        let decoded = url::form_urlencoded::parse(format!("p={pw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        c.env("PGPASSWORD", decoded);
        let _ = parsed.set_password(None);
    }
    Ok((c, parsed.to_string()))
}
