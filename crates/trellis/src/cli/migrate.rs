use std::process::ExitCode;

use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Apply every pending migration (the default).
    Up,
    /// List migrations and whether each is applied; exits 1 if any is pending.
    Status,
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let db = super::connect(&settings).await?;
    match args.action.unwrap_or(Action::Up) {
        Action::Up => {
            let pending = crate::db::pending_migrations(&db).await?;
            if pending.is_empty() {
                println!("No migrations to apply.");
            } else {
                crate::db::migrate(&db).await?;
                for name in pending {
                    println!("Applied {name}");
                }
            }
            let registry = crate::registry::Registry::new(crate::app::installed_apps());
            let created =
                crate::accounts::models::ensure_permissions(&db, &registry.permissions()).await?;
            if created > 0 {
                println!("Created {created} permission(s)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Status => {
            let mut any_pending = false;
            for (name, applied) in crate::db::migration_status(&db).await? {
                any_pending |= !applied;
                println!("[{}] {name}", if applied { "X" } else { " " });
            }
            Ok(if any_pending {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
