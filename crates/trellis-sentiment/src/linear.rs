//! The hashed linear model and its file format.
//!
//! File layout (little endian):
//! `b"TRSENTLM"` · `u32` header length · header JSON ([`ModelHeader`]) ·
//! `2^hash_bits` × `i16` quantized weights.
//!
//! Features are binary, so a text's margin is `bias + weight_scale · Σ q[bucket]`
//! (optionally divided by √(number of buckets)), and P(positive) is a Platt-calibrated
//! sigmoid of the margin. Naive-Bayes ratios and interpolation are folded into the
//! weights at training time, so inference is a table lookup per feature.

use crate::features::{Extractor, FEATURES_VERSION, FeatureConfig};
use crate::train::Hyperparameters;
use crate::{Error, Model, ModelKind, Prediction, Result};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"TRSENTLM";
pub(crate) const FORMAT: &str = "trellis-sentiment-linear";
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Below this many texts a batch runs on the calling thread: spawning costs more.
const PARALLEL_MIN_BATCH: usize = 512;

/// Platt scaling: P(positive) = σ(a·margin + b), fitted on the validation split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub a: f32,
    pub b: f32,
}

/// How a model was trained; informational, not needed for inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Human description of the training data.
    pub data: String,
    pub sdist_sha256: String,
    pub split_manifest_sha256: String,
    pub split_seed: u64,
    pub train_examples: usize,
    pub validation_examples: usize,
    pub hyperparameters: Hyperparameters,
    pub max_iterations: usize,
    /// How the hyperparameters were chosen.
    pub selection: String,
    pub train_accuracy: f64,
    /// After calibration (which is itself fitted on validation).
    pub validation_accuracy: f64,
    /// Distinct hashed features seen in training.
    pub active_features: usize,
}

/// JSON header of a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    pub format: String,
    pub format_version: u32,
    pub features_version: u32,
    pub name: String,
    pub crate_version: String,
    /// UTC date of training, `YYYY-MM-DD`.
    pub trained_at: String,
    pub features: FeatureConfig,
    /// Divide the weight sum by √(number of active buckets).
    pub length_normalize: bool,
    pub weight_scale: f32,
    pub bias: f32,
    pub calibration: Calibration,
    pub training: Option<TrainingInfo>,
}

/// Hashed n-gram linear classifier (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    header: ModelHeader,
    weights: Vec<i16>,
}

impl LinearModel {
    pub(crate) fn from_parts(header: ModelHeader, weights: Vec<i16>) -> Result<LinearModel> {
        header.features.validate().map_err(Error::Model)?;
        if weights.len() != header.features.buckets() {
            return Err(Error::Model(format!(
                "{} weights for {} buckets",
                weights.len(),
                header.features.buckets()
            )));
        }
        if !(header.weight_scale.is_finite()
            && header.bias.is_finite()
            && header.calibration.a.is_finite()
            && header.calibration.b.is_finite())
        {
            return Err(Error::Model("non-finite scale, bias or calibration".into()));
        }
        Ok(LinearModel { header, weights })
    }

    pub fn header(&self) -> &ModelHeader {
        &self.header
    }

    pub(crate) fn weights(&self) -> &[i16] {
        &self.weights
    }

    /// Serializes to the file format described in the module docs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec_pretty(&self.header).expect("header serializes");
        let mut out = Vec::with_capacity(12 + header.len() + 2 * self.weights.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for w in &self.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Parses bytes produced by [`LinearModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<LinearModel> {
        let err = |m: &str| Error::Model(m.to_string());
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(err("not a trellis-sentiment linear model (bad magic)"));
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let body = &bytes[12..];
        if body.len() < len {
            return Err(err("truncated header"));
        }
        let header: ModelHeader = serde_json::from_slice(&body[..len])?;
        if header.format != FORMAT || header.format_version != FORMAT_VERSION {
            return Err(Error::Model(format!(
                "unsupported format {} v{}",
                header.format, header.format_version
            )));
        }
        if header.features_version != FEATURES_VERSION {
            return Err(Error::Model(format!(
                "features version {} but this build hashes with version {FEATURES_VERSION}",
                header.features_version
            )));
        }
        header.features.validate().map_err(Error::Model)?;
        let raw = &body[len..];
        if raw.len() != 2 * header.features.buckets() {
            return Err(Error::Model(format!(
                "{} weight bytes, expected {}",
                raw.len(),
                2 * header.features.buckets()
            )));
        }
        let weights = raw
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        LinearModel::from_parts(header, weights)
    }

    /// Uncalibrated decision value of already-extracted buckets.
    fn margin_of(&self, buckets: &[u32]) -> f32 {
        let sum: i64 = buckets
            .iter()
            .map(|&b| self.weights[b as usize] as i64)
            .sum();
        let mut m = sum as f32 * self.header.weight_scale;
        if self.header.length_normalize && !buckets.is_empty() {
            m /= (buckets.len() as f32).sqrt();
        }
        m + self.header.bias
    }

    /// Uncalibrated decision value (positive ⇒ positive sentiment before calibration).
    pub fn margin(&self, text: &str) -> f32 {
        let mut ex = Extractor::default();
        ex.extract(text, &self.header.features);
        self.margin_of(&ex.buckets)
    }

    fn predict_serial(&self, texts: &[&str], out: &mut Vec<Prediction>) {
        let Calibration { a, b } = self.header.calibration;
        // A per-thread extractor keeps single-text calls free of allocations.
        EXTRACTOR.with_borrow_mut(|ex| {
            for t in texts {
                ex.extract(t, &self.header.features);
                let z = a * self.margin_of(&ex.buckets) + b;
                out.push(Prediction::from_positive_probability(sigmoid(z)));
            }
        });
    }
}

thread_local! {
    static EXTRACTOR: std::cell::RefCell<Extractor> = std::cell::RefCell::new(Extractor::default());
}

/// Cores to split large batches over. Cached: `available_parallelism` reads cgroup files
/// on Linux, which would cost more than classifying a short text.
fn worker_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

impl Model for LinearModel {
    fn name(&self) -> &str {
        &self.header.name
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Linear
    }

    fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
        let mut out = Vec::with_capacity(texts.len());
        let threads = if texts.len() < PARALLEL_MIN_BATCH {
            1
        } else {
            worker_threads()
        };
        if threads < 2 {
            self.predict_serial(texts, &mut out);
            return out;
        }
        let chunk = texts.len().div_ceil(threads);
        let parts: Vec<Vec<Prediction>> = std::thread::scope(|s| {
            let handles: Vec<_> = texts
                .chunks(chunk)
                .map(|c| {
                    s.spawn(move || {
                        let mut v = Vec::with_capacity(c.len());
                        self.predict_serial(c, &mut v);
                        v
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("prediction worker panicked"))
                .collect()
        });
        for p in parts {
            out.extend(p);
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tokenize::Negation;

    /// A hand-made model: "good" pushes positive, "bad" negative.
    pub(crate) fn toy_model() -> LinearModel {
        let features = FeatureConfig {
            hash_bits: 12,
            word_ngrams: 1,
            char_ngrams: None,
            negation: Negation::Off,
            lexicon: false,
        };
        let mut weights = vec![0i16; features.buckets()];
        let mut ex = Extractor::default();
        ex.extract("good", &features);
        weights[ex.buckets[0] as usize] = 1000;
        ex.extract("bad", &features);
        weights[ex.buckets[0] as usize] = -1000;
        let header = ModelHeader {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            features_version: FEATURES_VERSION,
            name: "toy".into(),
            crate_version: env!("CARGO_PKG_VERSION").into(),
            trained_at: "2024-01-01".into(),
            features,
            length_normalize: false,
            weight_scale: 0.002,
            bias: 0.0,
            calibration: Calibration { a: 1.0, b: 0.0 },
            training: None,
        };
        LinearModel::from_parts(header, weights).unwrap()
    }

    #[test]
    fn the_margin_sums_the_weights_of_present_words() {
        let m = toy_model();
        assert!((m.margin("good") - 2.0).abs() < 1e-6);
        assert!((m.margin("good bad") - 0.0).abs() < 1e-6);
        assert!(
            (m.margin("bad bad") + 2.0).abs() < 1e-6,
            "features are binary"
        );
    }

    #[test]
    fn bytes_round_trip_to_an_identical_model() {
        let m = toy_model();
        let back = LinearModel::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        let texts = ["good", "bad", "good and bad", ""];
        assert_eq!(back.predict_batch(&texts), m.predict_batch(&texts));
    }

    #[test]
    fn corrupt_files_are_rejected() {
        let bytes = toy_model().to_bytes();
        assert!(LinearModel::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(LinearModel::from_bytes(b"NOTAMODEL...").is_err());
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(LinearModel::from_bytes(&bad).is_err());
    }

    #[test]
    fn large_batches_give_the_same_predictions_as_one_by_one() {
        let m = toy_model();
        let texts: Vec<String> = (0..1500)
            .map(|i| {
                if i % 3 == 0 {
                    format!("good {i}")
                } else {
                    format!("bad {i}")
                }
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let batch = m.predict_batch(&refs);
        assert_eq!(batch.len(), refs.len());
        for (t, p) in refs.iter().zip(&batch) {
            assert_eq!(*p, m.predict(t));
        }
    }
}
