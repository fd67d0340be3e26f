use std::process::ExitCode;

use anyhow::bail;

use crate::accounts::models;
use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Add a user to a group (e.g. `trellis groups add-user authors alice`).
    AddUser { group: String, username: String },
    /// Remove a user from a group.
    RemoveUser { group: String, username: String },
    /// List groups with their members.
    List,
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let db = super::connect_migrated(&settings).await?;
    match args.action {
        Action::AddUser { group, username } => {
            let (g, u) = lookup(&db, &group, &username).await?;
            if models::add_to_group(&db, u.id, g.id).await? {
                println!("Added {} to {}.", u.username, g.name);
            } else {
                println!("{} is already in {}.", u.username, g.name);
            }
        }
        Action::RemoveUser { group, username } => {
            let (g, u) = lookup(&db, &group, &username).await?;
            if models::remove_from_group(&db, u.id, g.id).await? {
                println!("Removed {} from {}.", u.username, g.name);
            } else {
                println!("{} was not in {}.", u.username, g.name);
            }
        }
        Action::List => {
            for (group, members) in models::groups_with_members(&db).await? {
                println!(
                    "{group}: {}",
                    if members.is_empty() {
                        "(no members)".into()
                    } else {
                        members.join(", ")
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn lookup(
    db: &crate::db::Db,
    group: &str,
    username: &str,
) -> anyhow::Result<(models::group::Model, models::User)> {
    let Some(g) = models::find_group(db, group).await? else {
        bail!("no group named `{group}`");
    };
    let Some(u) = models::find_by_username(db, username).await? else {
        bail!("no user named `{username}`");
    };
    Ok((g, u))
}
