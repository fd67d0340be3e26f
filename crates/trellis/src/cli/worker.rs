//! `trellis worker`: runs background jobs without serving HTTP, so jobs can scale apart from web
//! instances (set `TRELLIS_JOB_WORKERS=0` on those).

use std::process::ExitCode;

use crate::app::{StartOptions, build_state, shutdown_signal};
use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Jobs to run at once [default: TRELLIS_JOB_WORKERS, at least 1]
    #[arg(long)]
    concurrency: Option<u32>,
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let count = args.concurrency.unwrap_or(settings.job_workers).max(1);
    // Never migrates: web instances (or `trellis migrate`) own the schema.
    let opts = StartOptions { migrate: false };
    let (state, _) = build_state(settings, opts).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tracing::info!(count, "worker running jobs");
    let workers = tokio::spawn(crate::jobs::run_workers(state, count, stop_rx));
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = workers.await;
    Ok(ExitCode::SUCCESS)
}
