//! `trellis dumpdata` and `trellis loaddata`: fixtures of every registered model (see `crate::fixtures`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Settings;
use crate::fixtures;

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// Apps (`blog`) or models (`blog.post`); every model when none.
    names: Vec<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Indent nested levels by this many spaces (one record per line without it).
    #[arg(long)]
    indent: Option<usize>,
}

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Fixture files, loaded together in one transaction.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

async fn state(settings: Settings) -> anyhow::Result<crate::state::AppState> {
    let opts = crate::app::StartOptions { migrate: false };
    Ok(crate::app::build_state(settings, opts).await?.0)
}

/// A bar on standard error when it is a terminal.
fn bar(len: u64) -> indicatif::ProgressBar {
    if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

pub async fn dump(settings: Settings, args: DumpArgs) -> anyhow::Result<ExitCode> {
    let state = state(settings).await?;
    let models = match fixtures::select(&state.registry, &args.names) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut total = 0;
    for m in &models {
        total += fixtures::count_rows(&state, m).await?;
    }
    let progress = bar(total);
    let mut records = Vec::new();
    for m in &models {
        let rows = fixtures::dump_model(&state, m).await?;
        progress.inc(rows.len() as u64);
        records.extend(rows);
    }
    progress.finish_and_clear();
    let text = fixtures::to_json(&records, args.indent);
    match args.output {
        Some(path) => {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("Dumped {} records to {}.", records.len(), path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn load(settings: Settings, args: LoadArgs) -> anyhow::Result<ExitCode> {
    let mut records = Vec::new();
    for f in &args.files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        match fixtures::from_json(&text) {
            Ok(r) => records.extend(r),
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let state = state(settings).await?;
    let progress = bar(records.len() as u64);
    let result = fixtures::load(&state, &records, |n| progress.inc(n)).await;
    progress.finish_and_clear();
    match result {
        Ok(counts) => {
            let n: u64 = counts.iter().map(|(_, n)| n).sum();
            println!("Installed {n} records ({}).", fixtures::summary(&counts));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("nothing was loaded: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
