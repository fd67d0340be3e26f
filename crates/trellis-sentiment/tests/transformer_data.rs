//! The transformer against the real encoder and corpora. They run only when `TEST_SENTIMENT_MODEL` names
//! an installed encoder directory (`trellis sentiment install-model`) and, for accuracy, when
//! `TEST_SENTIMENT_DATA` names fetched data.
#![cfg(feature = "transformer")]

use std::path::PathBuf;
use std::sync::Arc;

use trellis_sentiment::ensemble::{self, Stacked};
use trellis_sentiment::transformer::{self, Encoder, TransformerModel};
use trellis_sentiment::{DataPaths, LexiconModel, Model, default_model, eval};

mod common;

fn encoder_dir() -> Option<PathBuf> {
    common::service("TEST_SENTIMENT_MODEL").map(PathBuf::from)
}

#[test]
fn padding_does_not_change_an_embedding() {
    let Some(dir) = encoder_dir() else { return };
    let encoder = Encoder::load(&dir).unwrap();
    let alone = encoder.embed(&["a good movie"]).unwrap();
    let long = "an extraordinarily long and winding sentence that goes on and on about many things, \
                far longer than the short one beside it, so the batch pads the short one a lot";
    let together = encoder.embed(&[long, "a good movie"]).unwrap();
    assert_eq!(alone[0].len(), transformer::DIM);
    let diff: f32 = alone[0]
        .iter()
        .zip(&together[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        diff < 1e-4,
        "mask-aware pooling ignores padding (max diff {diff})"
    );
    let norm: f32 = alone[0].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "embeddings are normalized");
}

#[test]
fn corrupted_weights_are_refused() {
    let Some(dir) = encoder_dir() else { return };
    let tmp = tempfile_dir();
    for f in transformer::FILES {
        std::fs::copy(dir.join(f), tmp.join(f)).unwrap();
    }
    let weights = tmp.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let err = Encoder::load(&tmp)
        .err()
        .expect("a changed file is refused");
    assert!(err.to_string().contains("checksum"), "{err}");
    let dest = tmp.join("installed");
    let err = transformer::install(&dest, Some(&tmp)).unwrap_err();
    assert!(err.to_string().contains("nothing was installed"), "{err}");
    assert!(!dest.exists());
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trellis-encoder-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_shipped_head_matches_its_recorded_validation_accuracy_and_beats_vader() {
    let Some(dir) = encoder_dir() else { return };
    let Some(data) = common::service("TEST_SENTIMENT_DATA") else {
        return;
    };
    let split = DataPaths::open(&data).unwrap().movie_split().unwrap();
    let head = transformer::default_head();
    let recorded = head.training.validation_accuracy;
    let model = TransformerModel::new(Arc::new(Encoder::load(&dir).unwrap()), head);
    let valid = eval::evaluate(&model, &split.validation);
    // Platt scaling moves the threshold a little, so allow a point either way.
    assert!(
        (valid.accuracy - recorded).abs() < 0.01,
        "validation accuracy {:.4}, recorded {recorded:.4}",
        valid.accuracy
    );
    let test = eval::evaluate(&model, &split.test).accuracy;
    let vader = eval::evaluate(&LexiconModel::new(), &split.test).accuracy;
    println!("movie test accuracy: transformer {test:.4}, vader {vader:.4}");
    assert!(
        test > vader + 0.05,
        "transformer {test:.4} vs vader {vader:.4}"
    );
    assert_eq!(model.kind().as_str(), "transformer");

    // The shipped stack of `default` and the transformer beats both of its members on the test split.
    let linear: Arc<dyn Model> = Arc::new(default_model());
    let transformer: Arc<dyn Model> = Arc::new(model);
    let stack = ensemble::shipped_stack().unwrap();
    assert_eq!(stack.members, ["default", "transformer"]);
    let both = Stacked::new(stack, vec![linear.clone(), transformer]).unwrap();
    let stacked = eval::evaluate(&both, &split.test).accuracy;
    let alone = eval::evaluate(linear.as_ref(), &split.test).accuracy;
    println!("movie test accuracy: ensemble {stacked:.4}, default {alone:.4}");
    assert!(stacked > alone && stacked > test, "ensemble {stacked:.4}");
}
