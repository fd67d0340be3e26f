//! Trains the default linear model: grid search on the movie VALIDATION split, then writes
//! `models/default-linear.bin` (or the path given with `--out`).
//!
//! `SOURCE_DATE_EPOCH=... cargo run --release -p trellis-sentiment --example sentiment_train -- DATA_DIR [--grid NAME] [--out PATH]`
//!
//! The test split is never used here.

use std::path::PathBuf;
use trellis_sentiment::train::{self, Hyperparameters, Loss, NbOptions, TrainOptions};
use trellis_sentiment::{DataPaths, FeatureConfig, Negation};

#[allow(clippy::too_many_arguments)]
fn hp(
    word_ngrams: u8,
    char_ngrams: Option<[u8; 2]>,
    negation: Negation,
    lexicon: bool,
    loss: Loss,
    nb: Option<NbOptions>,
    c: f64,
    length_normalize: bool,
    soft_targets: Option<f64>,
    lexicon_prior: Option<f64>,
) -> Hyperparameters {
    Hyperparameters {
        features: FeatureConfig {
            hash_bits: 20,
            word_ngrams,
            char_ngrams,
            negation,
            lexicon,
        },
        loss,
        c,
        nb,
        length_normalize,
        soft_targets,
        lexicon_prior,
    }
}

fn grid(name: &str) -> Vec<Hyperparameters> {
    let mut out = Vec::new();
    let nb = |beta| Some(NbOptions { alpha: 1.0, beta });
    match name {
        // The grid the shipped model was selected from (also `trellis sentiment train --search`).
        "default" => return train::search_grid(),
        // Exploratory grids, kept so the search history can be re-run.
        "features" => {
            for (w, ch) in [
                (1, None),
                (2, None),
                (3, None),
                (2, Some([2, 5])),
                (2, Some([3, 5])),
                (1, Some([2, 5])),
            ] {
                for neg in [Negation::Off, Negation::Mark] {
                    for lex in [false, true] {
                        for (nbo, c) in [(None, 1.0), (nb(0.25), 1.0), (nb(1.0), 0.1)] {
                            out.push(hp(
                                w,
                                ch,
                                neg,
                                lex,
                                Loss::Logistic,
                                nbo,
                                c,
                                false,
                                None,
                                None,
                            ));
                        }
                    }
                }
            }
        }
        "soft" => {
            for (w, ch) in [(2, None), (2, Some([2, 5])), (1, Some([2, 5])), (3, None)] {
                for beta in [0.25, 0.5] {
                    for c in [0.3, 1.0, 3.0] {
                        for soft in [None, Some(1.0), Some(2.0)] {
                            out.push(hp(
                                w,
                                ch,
                                Negation::Mark,
                                true,
                                Loss::Logistic,
                                nb(beta),
                                c,
                                false,
                                soft,
                                None,
                            ));
                        }
                    }
                }
            }
        }
        "prior" => {
            for (w, ch) in [(2, None), (2, Some([2, 5])), (1, Some([2, 5]))] {
                for beta in [0.25, 0.5] {
                    for c in [0.3, 1.0] {
                        for prior in [None, Some(0.1), Some(0.3), Some(1.0)] {
                            out.push(hp(
                                w,
                                ch,
                                Negation::Mark,
                                true,
                                Loss::Logistic,
                                nb(beta),
                                c,
                                false,
                                Some(2.0),
                                prior,
                            ));
                        }
                    }
                }
            }
        }
        _ => return Vec::new(),
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .ok_or("usage: sentiment_train DATA_DIR [--grid NAME] [--out PATH]")?;
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let out = flag("--out").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default-linear.bin")
    });
    let grid_name = flag("--grid").unwrap_or_else(|| "default".into());
    let split = DataPaths::open(dir)?.movie_split()?;
    let (train_set, valid_set) = (split.train, split.validation);

    let candidates = grid(&grid_name);
    if candidates.is_empty() {
        return Err(format!("unknown grid {grid_name}").into());
    }
    eprintln!(
        "{} candidates, {} train / {} validation",
        candidates.len(),
        train_set.len(),
        valid_set.len()
    );
    let base = TrainOptions {
        name: "linear-nbsvm-movie".into(),
        selection: format!(
            "best validation accuracy (ties: lower validation log loss) of {} candidates (grid {grid_name:?} in examples/sentiment_train.rs)",
            candidates.len()
        ),
        ..TrainOptions::default()
    };
    let progress = |i: usize, r: &train::TrainReport| {
        eprintln!(
            "[{i:>4}] val {:.4} (raw {:.4}) ll {:.4} train {:.4} feats {:>7} it {:>3} {:>5.1}s {}",
            r.validation_accuracy,
            r.validation_accuracy_raw,
            r.validation_log_loss,
            r.train_accuracy,
            r.active_features,
            r.iterations,
            r.seconds,
            serde_json::to_string(&r.hyperparameters).unwrap_or_default()
        );
    };
    let (model, report) =
        train::select_linear_with_progress(&train_set, &valid_set, &candidates, &base, &progress)?;
    let mut order: Vec<usize> = (0..report.candidates.len()).collect();
    order.sort_by(|&a, &b| {
        report.candidates[b]
            .validation_accuracy
            .total_cmp(&report.candidates[a].validation_accuracy)
    });
    println!("val_acc  val_raw  logloss  train    feats    hyperparameters");
    for &i in order.iter().take(30) {
        let r = &report.candidates[i];
        println!(
            "{:.4}   {:.4}   {:.4}   {:.4}   {:>7}  {}",
            r.validation_accuracy,
            r.validation_accuracy_raw,
            r.validation_log_loss,
            r.train_accuracy,
            r.active_features,
            serde_json::to_string(&r.hyperparameters)?
        );
    }
    let best = &report.candidates[report.best];
    println!(
        "\nchosen: {}",
        serde_json::to_string(&best.hyperparameters)?
    );
    let bytes = model.to_bytes();
    std::fs::write(&out, &bytes)?;
    println!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}
