use std::process::ExitCode;

use crate::app::{Application, StartOptions};
use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on [env: TRELLIS_BIND] [default: 127.0.0.1:8000]
    #[arg(long)]
    bind: Option<String>,
    /// Apply pending migrations before serving (needed in production and on PostgreSQL).
    #[arg(long)]
    migrate: bool,
}

pub async fn run(mut settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(bind) = args.bind {
        settings.bind = bind;
        settings.bind_addr()?;
    }
    let app = Application::build(
        settings,
        StartOptions {
            migrate: args.migrate,
        },
    )
    .await?;
    let s = &app.state().settings;
    tracing::info!(
        address = %format!("http://{}:{}", s.bind_addr()?.ip(), app.port()),
        database = %crate::db::redact_url(&s.database_url()),
        environment = ?s.env,
        "Trellis is serving"
    );
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}
