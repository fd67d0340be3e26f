use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::accounts::{self, models, password};
use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct CreateSuperuserArgs {
    /// Username (asked for when missing; with --no-input, TRELLIS_SUPERUSER_USERNAME is the fallback)
    #[arg(long)]
    username: Option<String>,
    /// Email address (asked for when missing; with --no-input, TRELLIS_SUPERUSER_EMAIL is the fallback)
    #[arg(long)]
    email: Option<String>,
    /// Ask nothing: read the username, email and password from TRELLIS_SUPERUSER_USERNAME,
    /// TRELLIS_SUPERUSER_EMAIL and TRELLIS_SUPERUSER_PASSWORD.
    #[arg(long)]
    no_input: bool,
}

#[derive(clap::Args, Debug)]
pub struct ChangePasswordArgs {
    /// The user whose password to set.
    username: String,
    /// Read the new password from the first line of standard input instead of asking twice.
    #[arg(long)]
    password_stdin: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn prompt(label: &str) -> anyhow::Result<String> {
    print!("{label}: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Asks for a password twice, without echo, until both match and the validators accept it.
fn prompt_password(settings: &Settings, username: &str, email: &str) -> anyhow::Result<String> {
    let rules = settings.password_rules()?;
    loop {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Password (again): ")?;
        if first != second {
            eprintln!("Error: the two passwords do not match.");
            continue;
        }
        let problems = password::validate(&first, username, email, &rules);
        if problems.is_empty() {
            return Ok(first);
        }
        for p in problems {
            eprintln!("Error: password {p}.");
        }
    }
}

pub async fn create_superuser(
    settings: Settings,
    args: CreateSuperuserArgs,
) -> anyhow::Result<ExitCode> {
    let db = super::connect_migrated(&settings).await?;
    let (username, email, pass) = if args.no_input {
        let username = args.username.or_else(|| env("TRELLIS_SUPERUSER_USERNAME"));
        let email = args.email.or_else(|| env("TRELLIS_SUPERUSER_EMAIL"));
        let pass = env("TRELLIS_SUPERUSER_PASSWORD");
        match (username, email, pass) {
            (Some(u), Some(e), Some(p)) => (u, e, p),
            _ => bail!(
                "--no-input needs TRELLIS_SUPERUSER_USERNAME (or --username), TRELLIS_SUPERUSER_EMAIL \
                 (or --email) and TRELLIS_SUPERUSER_PASSWORD"
            ),
        }
    } else {
        if !std::io::stdin().is_terminal() {
            bail!(
                "standard input is not a terminal; use --no-input with TRELLIS_SUPERUSER_* variables"
            );
        }
        let username = match args.username {
            Some(u) => u,
            None => prompt("Username")?,
        };
        let email = match args.email {
            Some(e) => e,
            None => prompt("Email address")?,
        };
        let pass = prompt_password(&settings, &username, &email)?;
        (username, email, pass)
    };
    match accounts::create_user(&db, &settings, &username, &email, &pass, true).await? {
        Ok(user) => {
            println!("Superuser {} created.", user.username);
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for (field, messages) in errors.0 {
                for m in messages {
                    eprintln!("Error: {field} {m}.");
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn change_password(
    settings: Settings,
    args: ChangePasswordArgs,
) -> anyhow::Result<ExitCode> {
    let db = super::connect_migrated(&settings).await?;
    let Some(user) = models::find_by_username(&db, &args.username).await? else {
        bail!("no user named `{}`", args.username);
    };
    let new = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading standard input")?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        let problems = password::validate(
            &line,
            &user.username,
            &user.email,
            &settings.password_rules()?,
        );
        if !problems.is_empty() {
            for p in problems {
                eprintln!("Error: password {p}.");
            }
            return Ok(ExitCode::FAILURE);
        }
        line
    } else {
        println!("Changing password for user {}", user.username);
        prompt_password(&settings, &user.username, &user.email)?
    };
    let hash = password::hash_blocking(new).await?;
    models::set_password_hash(&db, user.id, hash).await?;
    println!("Password changed for user {}.", user.username);
    Ok(ExitCode::SUCCESS)
}
