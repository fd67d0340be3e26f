//! `trellis models`: any registered model's rows through the same engine as the admin (`crate::records`),
//! logged in the history with the actor "cli".

use std::io::IsTerminal;
use std::process::ExitCode;

use serde_json::Value;

use crate::config::Settings;
use crate::error::AppError;
use crate::records::{self, Actor, Key, ListQuery};
use crate::registry::Model;
use crate::state::AppState;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Every model: label, table, rows, whether the admin shows it.
    List,
    /// One object (`trellis models show blog.post 3`).
    Show {
        model: String,
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// A model's rows, searched, filtered and ordered as in the admin.
    ListRows {
        model: String,
        /// `field=value`, `field__gte=value`, `field__lt=value`, `field__isnull=1`; repeatable.
        #[arg(long = "filter")]
        filters: Vec<String>,
        #[arg(long)]
        search: Option<String>,
        /// A column, `-` for descending; repeatable.
        #[arg(long)]
        order: Vec<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
    /// Adds an object from `field=value` pairs, through the app's rules.
    Create { model: String, values: Vec<String> },
    /// Changes the fields named.
    Update {
        model: String,
        key: String,
        values: Vec<String>,
    },
    /// Deletes objects, after printing what goes with them.
    Delete {
        model: String,
        #[arg(required = true)]
        keys: Vec<String>,
        /// Do not ask (required when not run from a terminal).
        #[arg(long)]
        yes: bool,
    },
}

fn model<'a>(state: &'a AppState, label: &str) -> anyhow::Result<&'a Model> {
    state
        .registry
        .model_by_label(label)
        .ok_or_else(|| anyhow::anyhow!("no model named `{label}` (see `trellis models list`)"))
}

fn key(m: &Model, s: &str) -> anyhow::Result<Key> {
    Key::parse(m, s).ok_or_else(|| anyhow::anyhow!("`{s}` is not a key of {}", m.label()))
}

fn pairs(values: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| anyhow::anyhow!("`{v}` is not field=value"))
        })
        .collect()
}

/// Field errors one per line; exit code 1.
fn report(e: AppError) -> ExitCode {
    match e {
        AppError::Validation(errors) | AppError::Conflict(errors) => {
            for (field, messages) in errors.0 {
                for m in messages {
                    eprintln!("{field}: {m}");
                }
            }
        }
        AppError::BadRequest(field, msg) => eprintln!("{field}: {msg}"),
        AppError::NotFound(what) => eprintln!("no such {what}"),
        other => eprintln!("{other}"),
    }
    ExitCode::FAILURE
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let opts = crate::app::StartOptions { migrate: false };
    let state = crate::app::build_state(settings, opts).await?.0;
    match args.action {
        Action::List => {
            println!("{:<28} {:<24} {:>8}  admin", "model", "table", "rows");
            for m in state.registry.models() {
                let n = crate::fixtures::count_rows(&state, m).await?;
                let admin = if m.admin.is_some() { "yes" } else { "no" };
                println!("{:<28} {:<24} {n:>8}  {admin}", m.label(), m.table);
            }
        }
        Action::Show {
            model: label,
            key: k,
            json,
        } => {
            let m = model(&state, &label)?;
            let k = key(m, &k)?;
            let Some(row) = records::get(&state, m, &k).await? else {
                eprintln!("no {} with key {k}", m.label());
                return Ok(ExitCode::FAILURE);
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&row)?);
            } else {
                for f in &m.fields {
                    if let Some(v) = row.get(f.name) {
                        println!("{:<24} {}", f.name, shown(v));
                    }
                }
            }
        }
        Action::ListRows {
            model: label,
            filters,
            search,
            order,
            limit,
            json,
        } => {
            let m = model(&state, &label)?;
            let lq = ListQuery {
                q: search,
                filters: pairs(&filters)?,
                order,
                page: 1,
                per_page: limit.max(1),
            };
            let page = match records::list(&state, m, &lq).await {
                Ok(p) => p,
                Err(e) => return Ok(report(e)),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&page.rows)?);
            } else {
                for row in &page.rows {
                    println!("{}\t{}", Key::of(m, row), records::display(m, row));
                }
                eprintln!("{} of {} rows", page.rows.len(), page.total);
            }
        }
        Action::Create {
            model: label,
            values,
        } => {
            let m = model(&state, &label)?;
            let values = match records::parse_fields(m, &pairs(&values)?, true) {
                Ok(v) => v,
                Err(e) => return Ok(report(AppError::Validation(e))),
            };
            match records::create(&state, m, values, &Actor::Cli).await {
                Ok(k) => println!("Added {} {k}.", m.label()),
                Err(e) => return Ok(report(e)),
            }
        }
        Action::Update {
            model: label,
            key: k,
            values,
        } => {
            let m = model(&state, &label)?;
            let k = key(m, &k)?;
            let values = match records::parse_fields(m, &pairs(&values)?, false) {
                Ok(v) => v,
                Err(e) => return Ok(report(AppError::Validation(e))),
            };
            match records::update(&state, m, &k, values, &Actor::Cli).await {
                Ok(()) => println!("Changed {} {k}.", m.label()),
                Err(e) => return Ok(report(e)),
            }
        }
        Action::Delete {
            model: label,
            keys,
            yes,
        } => {
            let m = model(&state, &label)?;
            let keys = keys
                .iter()
                .map(|k| key(m, k))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let preview = records::cascade_preview(&state, m, &keys).await?;
            println!("Deleting would remove:");
            for (name, n) in &preview {
                println!("  {name}: {n}");
            }
            if !yes {
                if !std::io::stdin().is_terminal() {
                    eprintln!("refusing to delete without --yes when not run from a terminal");
                    return Ok(ExitCode::FAILURE);
                }
                eprint!("Delete? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    println!("Nothing deleted.");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            match records::delete(&state, m, &keys, &Actor::Cli).await {
                Ok(n) => println!("Deleted {n} {}.", m.verbose_name_plural),
                Err(e) => return Ok(report(e)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
