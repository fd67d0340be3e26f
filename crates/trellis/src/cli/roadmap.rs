//! `trellis roadmap import|show|export`: the tracker from the command line.

use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::accounts::models;
use crate::config::Settings;
use crate::tracker::{self, Progress};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Import a Markdown roadmap and print what was found (phases, week sections, items, tracker rows,
    /// project ideas, warnings). Without --user nothing is stored.
    Import {
        file: std::path::PathBuf,
        /// Store it for this user.
        #[arg(long)]
        user: Option<String>,
    },
    /// Show a stored roadmap as a tree with progress bars (the user's newest, or --id).
    Show {
        #[arg(long)]
        user: String,
        #[arg(long)]
        id: Option<i64>,
    },
    /// Print a stored roadmap as Markdown with the tracker's statuses filled in.
    Export {
        #[arg(long)]
        user: String,
        #[arg(long)]
        id: Option<i64>,
    },
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Import { file, user } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let roadmap = match tracker::parse(&bytes) {
                Ok(r) => r,
                Err(msg) => {
                    eprintln!("{}: {msg}", file.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            print!("{}", roadmap.summary());
            let c = roadmap.counts();
            println!(
                "phases: {}, week sections: {}, items: {} ({} day lines, {} bullets), tracker rows: {}, project ideas: {}, warnings: {}",
                c.phases,
                c.weeks,
                c.items,
                c.day_items,
                c.bullet_items,
                c.tracker_rows,
                c.project_ideas,
                roadmap.warnings.len()
            );
            for w in &roadmap.warnings {
                println!("warning: line {}: {}", w.line, w.message);
            }
            match user {
                Some(name) => {
                    let state = state_for(settings).await?;
                    let owner = user_named(&state.db, &name).await?;
                    let stored = tracker::import(&state, owner.id, &roadmap, None).await?;
                    println!("stored as roadmap {} for {}", stored.id, owner.username);
                }
                None => println!("(not stored: pass --user NAME to keep it)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Show { user, id } => {
            let state = state_for(settings).await?;
            let stored = pick(&state, &user, id).await?;
            let roadmap = stored.roadmap()?;
            let progress = tracker::models::progress_of(&state.db, stored.id).await?;
            let (all, phases, weeks) = tracker::tallies(&roadmap, &progress);
            println!("{} {}", stored.title, bar(all.percent));
            for (pi, p) in roadmap.phases.iter().enumerate() {
                println!(
                    "├─ Phase {}: {} {}",
                    p.number,
                    p.title,
                    bar(phases[pi].percent)
                );
                for (wi, w) in p.weeks.iter().enumerate() {
                    println!("│  ├─ {} {}", w.title, bar(weeks[pi][wi].percent));
                    for item in &w.items {
                        let s = tracker::status_of(&progress, &item.key);
                        println!(
                            "│  │  {} {}",
                            if s == Progress::Pending {
                                "·"
                            } else {
                                s.emoji()
                            },
                            item.text
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Export { user, id } => {
            let state = state_for(settings).await?;
            let stored = pick(&state, &user, id).await?;
            let progress = tracker::models::progress_of(&state.db, stored.id).await?;
            print!("{}", tracker::export(&stored.roadmap()?, &progress));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `[#####-----] 50%`
fn bar(percent: u32) -> String {
    let filled = (percent as usize).min(100) / 5;
    format!(
        "[{}{}] {percent}%",
        "#".repeat(filled),
        "-".repeat(20 - filled)
    )
}

async fn state_for(settings: Settings) -> anyhow::Result<crate::state::AppState> {
    let mut settings = settings;
    settings.bind = "127.0.0.1:0".into();
    let app = crate::app::Application::build(settings, crate::app::StartOptions { migrate: false })
        .await?;
    Ok(app.state().clone())
}

async fn user_named(db: &crate::db::Db, name: &str) -> anyhow::Result<models::User> {
    match models::find_by_username(db, name).await? {
        Some(u) => Ok(u),
        None => bail!("no user named `{name}`"),
    }
}

async fn pick(
    state: &crate::state::AppState,
    user: &str,
    id: Option<i64>,
) -> anyhow::Result<tracker::models::StoredRoadmap> {
    let owner = user_named(&state.db, user).await?;
    let found = match id {
        Some(id) => tracker::models::find(&state.db, id)
            .await?
            .filter(|r| r.owner_id == owner.id),
        None => tracker::models::newest_of_owner(&state.db, owner.id, 1)
            .await?
            .into_iter()
            .next(),
    };
    found.with_context(|| format!("{} has no such roadmap", owner.username))
}
