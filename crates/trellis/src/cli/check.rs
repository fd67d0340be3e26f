use std::process::ExitCode;

use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {}

/// Reports each check on its own line; exits 1 if any failed.
pub async fn run(settings: Settings, _args: Args) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    println!("ok    configuration ({:?} mode)", settings.env);
    let url = crate::db::redact_url(&settings.database_url());
    match super::connect(&settings).await {
        Ok(db) => {
            println!("ok    database reachable at {url}");
            match crate::db::pending_migrations(&db).await {
                Ok(p) if p.is_empty() => println!("ok    no pending migrations"),
                Ok(p) => {
                    ok = false;
                    println!("FAIL  {} pending migration(s): {}", p.len(), p.join(", "));
                }
                Err(e) => {
                    ok = false;
                    println!("FAIL  reading migrations: {e:#}");
                }
            }
        }
        Err(e) => {
            ok = false;
            println!("FAIL  {e:#}");
        }
    }
    match check_storage(&settings).await {
        Ok(location) => println!("ok    uploads stored in {location}"),
        Err(e) => {
            ok = false;
            println!("FAIL  uploads: {e:#}");
        }
    }
    if settings.is_production() && settings.base_url.is_none() {
        println!(
            "warn  TRELLIS_BASE_URL is not set: links in emails will point at {}",
            settings.base_url()
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Writes, reads back and deletes a small object, so credentials, bucket and permissions are all exercised.
async fn check_storage(settings: &Settings) -> anyhow::Result<String> {
    let storage = crate::storage::Storage::from_settings(settings)?;
    let key = format!("trellis-check/{}.txt", uuid::Uuid::new_v4());
    storage.put(&key, b"trellis check").await?;
    let read = storage.get(&key).await?;
    storage.delete(&key).await?;
    anyhow::ensure!(
        read.as_deref() == Some(b"trellis check".as_slice()),
        "a file written to {} read back differently",
        storage.location()
    );
    Ok(storage.location().to_string())
}
