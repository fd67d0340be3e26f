//! `trellis shop import-products FILE.csv` and `trellis shop export-products [FILE]`: the catalog as
//! CSV, one row per variant (see `crate::shop::catalog::import`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::Settings;
use crate::shop::catalog::import;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Import products from CSV (name, slug, category, description, sku, price, currency, stock,
    /// weight_grams, options), all or nothing; rows with the same slug or name are one product's variants.
    ImportProducts {
        /// The CSV file.
        file: PathBuf,
    },
    /// Write every product variant as CSV, in the columns the import reads.
    ExportProducts {
        /// Write to this file instead of standard output.
        file: Option<PathBuf>,
    },
}

/// A bar on standard error when it is a terminal.
fn bar(len: u64) -> indicatif::ProgressBar {
    if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::ImportProducts { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let db = super::connect_migrated(&settings).await?;
            let rows = text.lines().count().saturating_sub(1) as u64;
            let progress = bar(rows);
            let result = import::import_csv(&db, &text, |n| progress.inc(n)).await?;
            progress.finish_and_clear();
            match result {
                Ok(done) => {
                    println!(
                        "Imported {} products with {} variants.",
                        done.products, done.variants
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{}: {e}", file.display());
                    }
                    eprintln!("Nothing was imported.");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::ExportProducts { file } => {
            let db = super::connect_migrated(&settings).await?;
            let progress = bar(import::count_variants(&db).await?);
            let n = match &file {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .with_context(|| format!("writing {}", path.display()))?;
                    import::export_csv(&db, f, |n| progress.inc(n)).await?
                }
                None => {
                    import::export_csv(&db, std::io::stdout().lock(), |n| progress.inc(n)).await?
                }
            };
            progress.finish_and_clear();
            if let Some(path) = file {
                eprintln!("Exported {n} variants to {}.", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
