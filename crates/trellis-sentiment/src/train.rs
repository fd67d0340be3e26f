//! Training the linear model: hashed binary n-gram features, optional naive-Bayes
//! log-count-ratio scaling with NBSVM interpolation (Wang & Manning 2012), an L2-regularized
//! logistic or squared-hinge loss minimized exactly with L-BFGS, quantization to `i16`,
//! then Platt calibration on the validation split.
//!
//! Nothing here is random: the objective is strictly convex and minimized full-batch in a
//! fixed order, so the same inputs and options reproduce the same model bytes.

use crate::data::{self, Example};
use crate::features::{Extractor, FEATURES_VERSION, FeatureConfig};
use crate::linear::{
    Calibration, FORMAT, FORMAT_VERSION, LinearModel, ModelHeader, TrainingInfo, sigmoid,
};
use crate::optim::{self, LbfgsOptions};
use crate::tokenize::Negation;
use crate::{Error, Label, Result};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Per-example loss of the linear classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    Logistic,
    /// L2-SVM, as in the original NBSVM.
    SquaredHinge,
}

/// Naive-Bayes feature scaling: each feature is multiplied by its smoothed log-count ratio
/// r = log((p/‖p‖₁)/(q/‖q‖₁)), and the learned weights are shrunk towards their mean
/// magnitude: w' = (1−β)·mean|w| + β·w.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NbOptions {
    /// Additive smoothing of the per-class feature counts.
    pub alpha: f64,
    /// Interpolation weight; 1 keeps the discriminative weights unchanged.
    pub beta: f64,
}

/// Everything that changes what is learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    pub features: FeatureConfig,
    pub loss: Loss,
    /// Inverse regularization strength: minimize ½‖w‖² + C·Σ loss.
    pub c: f64,
    pub nb: Option<NbOptions>,
    /// Scale each text's feature vector by 1/√(number of features).
    pub length_normalize: bool,
    /// Logistic loss only: fit soft targets σ(k·score) from the human mean rating instead
    /// of hard 0/1 labels, so barely-positive sentences (ratings near 0, where annotators
    /// disagree) pull less than clear ones. `None` = hard labels.
    #[serde(default)]
    pub soft_targets: Option<f64>,
    /// Add every VADER-lexicon word as a one-word pseudo-example with this weight (its
    /// valence as the rating), so sentiment words missing from the training sentences still
    /// get weights — and, through character n-grams, their inflections too.
    #[serde(default)]
    pub lexicon_prior: Option<f64>,
}

impl Default for Hyperparameters {
    /// The configuration selected on the movie validation split for the shipped model:
    /// best validation accuracy (0.8117) among the 450 candidates of the `default` grid in
    /// `examples/sentiment_train.rs`.
    fn default() -> Self {
        Hyperparameters {
            features: FeatureConfig {
                hash_bits: 20,
                word_ngrams: 1,
                char_ngrams: Some([2, 5]),
                negation: Negation::Mark,
                lexicon: true,
            },
            loss: Loss::Logistic,
            c: 0.3,
            nb: Some(NbOptions {
                alpha: 1.0,
                beta: 1.0,
            }),
            length_normalize: false,
            soft_targets: Some(2.0),
            lexicon_prior: None,
        }
    }
}

/// Where the training data came from; copied into the model header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub data: String,
    pub sdist_sha256: String,
    pub split_manifest_sha256: String,
    pub split_seed: u64,
}

impl Provenance {
    /// The committed movie split of the vaderSentiment 3.3.2 corpora.
    pub fn movie_split() -> Provenance {
        Provenance {
            data: "movie-review sentences (Hutto & Gilbert 2014, vaderSentiment 3.3.2 sdist, hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt), train part of data/sentiment/movie_split.json; label = sign of mean rating, zeros dropped".into(),
            sdist_sha256: data::SDIST_SHA256.into(),
            split_manifest_sha256: data::movie_split_sha256(),
            split_seed: data::MOVIE_SPLIT_SEED,
        }
    }
}

/// Options of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub hyperparameters: Hyperparameters,
    pub max_iterations: usize,
    /// Model name reported by [`crate::Model::name`].
    pub name: String,
    /// Recorded in the header; fixed by the caller so re-training reproduces the bytes.
    pub trained_at: String,
    pub provenance: Provenance,
    /// How the hyperparameters were chosen (free text for the header).
    pub selection: String,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            hyperparameters: Hyperparameters::default(),
            max_iterations: 300,
            name: "linear".into(),
            trained_at: today_utc(),
            provenance: Provenance::movie_split(),
            selection: "given".into(),
        }
    }
}

/// Outcome of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub hyperparameters: Hyperparameters,
    pub train_accuracy: f64,
    /// Before Platt calibration: threshold at margin 0.
    pub validation_accuracy_raw: f64,
    /// After Platt calibration (fitted on validation, so slightly optimistic).
    pub validation_accuracy: f64,
    pub validation_log_loss: f64,
    pub active_features: usize,
    pub iterations: usize,
    /// Final value of ½‖w‖² + C·Σ loss.
    pub objective: f64,
    pub seconds: f64,
}

/// Result of [`select_linear`]: every candidate's report and the chosen index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionReport {
    pub candidates: Vec<TrainReport>,
    pub best: usize,
}

/// The grid the shipped model's hyperparameters were selected from (best validation accuracy): word
/// and character n-gram sets × negation marking and lexicon features × NB scaling × C × soft targets,
/// plus a lexicon prior where lexicon features and NB scaling are both on.
pub fn search_grid() -> Vec<Hyperparameters> {
    let nb = |beta| Some(NbOptions { alpha: 1.0, beta });
    let feature_sets = [
        (2, None),
        (3, None),
        (1, Some([2, 5])),
        (2, Some([2, 5])),
        (2, Some([3, 5])),
    ];
    let mut out = Vec::new();
    for (word_ngrams, char_ngrams) in feature_sets {
        for (negation, lexicon) in [
            (Negation::Off, false),
            (Negation::Mark, false),
            (Negation::Mark, true),
        ] {
            for nbo in [None, nb(0.25), nb(0.5), nb(1.0)] {
                for c in [0.3, 1.0, 3.0] {
                    for soft_targets in [None, Some(2.0)] {
                        let priors: &[Option<f64>] = if lexicon && nbo.is_some() {
                            &[None, Some(0.1)]
                        } else {
                            &[None]
                        };
                        for &lexicon_prior in priors {
                            out.push(Hyperparameters {
                                features: FeatureConfig {
                                    hash_bits: 20,
                                    word_ngrams,
                                    char_ngrams,
                                    negation,
                                    lexicon,
                                },
                                loss: Loss::Logistic,
                                c,
                                nb: nbo,
                                length_normalize: false,
                                soft_targets,
                                lexicon_prior,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Trains one model with the given options on `train`, calibrating and reporting on `valid`.
pub fn train_linear(
    train: &[Example],
    valid: &[Example],
    opts: &TrainOptions,
) -> Result<(LinearModel, TrainReport)> {
    let hp = &opts.hyperparameters;
    hp.features.validate().map_err(Error::Train)?;
    let train_x = extract_all(train, &hp.features);
    let valid_x = extract_all(valid, &hp.features);
    train_extracted(train, &train_x, valid, &valid_x, opts)
}

/// Trains every candidate (two at a time), keeps the one with the best validation accuracy
/// (ties: lower validation log loss, then earlier in the list) and returns it.
pub fn select_linear(
    train: &[Example],
    valid: &[Example],
    candidates: &[Hyperparameters],
    base: &TrainOptions,
) -> Result<(LinearModel, SelectionReport)> {
    select_linear_with_progress(train, valid, candidates, base, &|_, _| {})
}

/// [`select_linear`], calling `progress(index, report)` as each candidate finishes (from
/// worker threads, in completion order).
pub fn select_linear_with_progress(
    train: &[Example],
    valid: &[Example],
    candidates: &[Hyperparameters],
    base: &TrainOptions,
    progress: &(dyn Fn(usize, &TrainReport) + Sync),
) -> Result<(LinearModel, SelectionReport)> {
    if candidates.is_empty() {
        return Err(Error::Train("no candidates".into()));
    }
    for c in candidates {
        c.features.validate().map_err(Error::Train)?;
    }
    // Extract once per distinct feature configuration: it dominates small-C fits.
    let mut configs: Vec<&FeatureConfig> = Vec::new();
    for c in candidates {
        if !configs.contains(&&c.features) {
            configs.push(&c.features);
        }
    }
    // (train rows, validation rows) of bucket ids, per configuration.
    type Rows = Vec<Vec<u32>>;
    let extracted: Vec<(Rows, Rows)> = configs
        .iter()
        .map(|f| (extract_all(train, f), extract_all(valid, f)))
        .collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(candidates.len());
    let config_of = |i: usize| {
        configs
            .iter()
            .position(|f| **f == candidates[i].features)
            .expect("config collected above")
    };
    let options_of = |i: usize| TrainOptions {
        hyperparameters: candidates[i].clone(),
        ..base.clone()
    };
    // Workers keep only reports (a model is 2^hash_bits × 2 bytes); the winner is
    // re-trained at the end, which gives the same bytes because training is deterministic.
    let done: Vec<Vec<(usize, Result<TrainReport>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= candidates.len() {
                            break mine;
                        }
                        let (tx, vx) = &extracted[config_of(i)];
                        let result = train_extracted(train, tx, valid, vx, &options_of(i))
                            .map(|(_, report)| report);
                        if let Ok(report) = &result {
                            progress(i, report);
                        }
                        mine.push((i, result));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("training worker panicked"))
            .collect()
    });
    let mut slots: Vec<Option<Result<TrainReport>>> = (0..candidates.len()).map(|_| None).collect();
    for (i, r) in done.into_iter().flatten() {
        slots[i] = Some(r);
    }
    let reports = slots
        .into_iter()
        .map(|r| r.expect("every candidate ran"))
        .collect::<Result<Vec<_>>>()?;
    let mut best = 0;
    for (i, r) in reports.iter().enumerate() {
        let b = &reports[best];
        if r.validation_accuracy > b.validation_accuracy
            || (r.validation_accuracy == b.validation_accuracy
                && r.validation_log_loss < b.validation_log_loss)
        {
            best = i;
        }
    }
    let (tx, vx) = &extracted[config_of(best)];
    let (model, _) = train_extracted(train, tx, valid, vx, &options_of(best))?;
    Ok((
        model,
        SelectionReport {
            candidates: reports,
            best,
        },
    ))
}

fn extract_all(examples: &[Example], cfg: &FeatureConfig) -> Vec<Vec<u32>> {
    let mut ex = Extractor::default();
    examples
        .iter()
        .map(|e| {
            ex.extract(&e.text, cfg);
            ex.buckets.clone()
        })
        .collect()
}

fn sign(label: Label) -> f64 {
    match label {
        Label::Positive => 1.0,
        Label::Negative => -1.0,
    }
}

/// Numerically stable ln(1 + e^t).
fn softplus(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

fn train_extracted(
    train: &[Example],
    train_x: &[Vec<u32>],
    valid: &[Example],
    valid_x: &[Vec<u32>],
    opts: &TrainOptions,
) -> Result<(LinearModel, TrainReport)> {
    let started = Instant::now();
    let hp = &opts.hyperparameters;
    if train.is_empty() || valid.is_empty() {
        return Err(Error::Train(
            "train and validation sets must be non-empty".into(),
        ));
    }
    let has = |l| train.iter().any(|e| e.label == l);
    if !has(Label::Positive) || !has(Label::Negative) {
        return Err(Error::Train("training data needs both labels".into()));
    }
    if !(hp.c > 0.0 && hp.c.is_finite()) {
        return Err(Error::Train(format!("C must be positive, got {}", hp.c)));
    }

    if hp.soft_targets.is_some() && hp.loss != Loss::Logistic {
        return Err(Error::Train("soft targets need the logistic loss".into()));
    }
    // Rows to fit: the training examples, then optional lexicon pseudo-examples.
    // Per row: label sign, rating, weight.
    let pseudo = match hp.lexicon_prior {
        Some(w) if !(w > 0.0 && w.is_finite()) => {
            return Err(Error::Train(format!(
                "lexicon_prior must be positive, got {w}"
            )));
        }
        Some(_) => crate::features::lexicon_pseudo_examples(&hp.features),
        None => Vec::new(),
    };
    let mut all_x: Vec<&[u32]> = train_x.iter().map(Vec::as_slice).collect();
    let mut meta: Vec<(f64, f64, f64)> = train
        .iter()
        .map(|e| (sign(e.label), e.score as f64, 1.0))
        .collect();
    for (b, valence) in &pseudo {
        all_x.push(b);
        let v = *valence as f64;
        meta.push((v.signum(), v, hp.lexicon_prior.unwrap_or(0.0)));
    }

    // Compact the buckets seen in training to 0..F: unseen buckets get zero weight under
    // L2 anyway, and optimizing F ≪ 2^bits parameters is much cheaper.
    let buckets = hp.features.buckets();
    let mut compact = vec![u32::MAX; buckets];
    let mut active: Vec<u32> = Vec::new();
    for row in &all_x {
        for &b in row.iter() {
            if compact[b as usize] == u32::MAX {
                compact[b as usize] = 0;
                active.push(b);
            }
        }
    }
    active.sort_unstable();
    for (j, &b) in active.iter().enumerate() {
        compact[b as usize] = j as u32;
    }
    let f = active.len();
    let rows: Vec<Vec<u32>> = all_x
        .iter()
        .map(|r| r.iter().map(|&b| compact[b as usize]).collect())
        .collect();
    let y: Vec<f64> = meta.iter().map(|m| m.0).collect();
    let row_weight: Vec<f64> = meta.iter().map(|m| m.2).collect();
    // Probability that each row is positive, as the loss sees it.
    let target: Vec<f64> = meta
        .iter()
        .map(|&(y, score, _)| match hp.soft_targets {
            Some(k) => sigmoid_f64(k * score),
            None => (y + 1.0) / 2.0,
        })
        .collect();
    let row_scale: Vec<f64> = rows
        .iter()
        .map(|r| {
            if hp.length_normalize && !r.is_empty() {
                1.0 / (r.len() as f64).sqrt()
            } else {
                1.0
            }
        })
        .collect();

    let ratios: Vec<f64> = match hp.nb {
        None => vec![1.0; f],
        Some(nb) => {
            let mut p = vec![nb.alpha; f];
            let mut q = vec![nb.alpha; f];
            for ((r, &yi), &wi) in rows.iter().zip(&y).zip(&row_weight) {
                let counts = if yi > 0.0 { &mut p } else { &mut q };
                for &j in r {
                    counts[j as usize] += wi;
                }
            }
            let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
            p.iter()
                .zip(&q)
                .map(|(pj, qj)| ((pj / ps) / (qj / qs)).ln())
                .collect()
        }
    };

    // Parameters: f weights then the (unregularized) bias.
    let c = hp.c;
    let loss = hp.loss;
    let mut params = vec![0.0; f + 1];
    let mut dz = vec![0.0; rows.len()];
    let outcome = optim::minimize(
        &mut params,
        |w, g| {
            let (wf, b) = (&w[..f], w[f]);
            let mut obj = 0.5 * wf.iter().map(|v| v * v).sum::<f64>();
            for (i, r) in rows.iter().enumerate() {
                let z = b + row_scale[i]
                    * r.iter()
                        .map(|&j| wf[j as usize] * ratios[j as usize])
                        .sum::<f64>();
                let m = y[i] * z;
                let (l, d) = match loss {
                    Loss::Logistic => {
                        let t = target[i];
                        (
                            t * softplus(-z) + (1.0 - t) * softplus(z),
                            sigmoid_f64(z) - t,
                        )
                    }
                    Loss::SquaredHinge => {
                        let h = (1.0 - m).max(0.0);
                        (h * h, -2.0 * y[i] * h)
                    }
                };
                obj += c * row_weight[i] * l;
                dz[i] = c * row_weight[i] * d;
            }
            g[..f].copy_from_slice(wf);
            g[f] = 0.0;
            for (i, r) in rows.iter().enumerate() {
                let d = dz[i];
                if d == 0.0 {
                    continue;
                }
                let ds = d * row_scale[i];
                for &j in r {
                    g[j as usize] += ds * ratios[j as usize];
                }
                g[f] += d;
            }
            obj
        },
        &LbfgsOptions {
            max_iterations: opts.max_iterations,
            ..LbfgsOptions::default()
        },
    );

    let (wf, bias) = (&params[..f], params[f]);
    let shrink_to = match hp.nb {
        Some(nb) => {
            let mean_abs = wf.iter().map(|v| v.abs()).sum::<f64>() / f.max(1) as f64;
            Some((nb.beta, mean_abs))
        }
        None => None,
    };
    let effective: Vec<f64> = wf
        .iter()
        .zip(&ratios)
        .map(|(&w, &r)| match shrink_to {
            Some((beta, mean_abs)) => ((1.0 - beta) * mean_abs + beta * w) * r,
            None => w * r,
        })
        .collect();

    // Quantize to i16 with one scale: inference then sums integers exactly.
    let max_abs = effective.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = if max_abs > 0.0 {
        max_abs / 32767.0
    } else {
        1.0
    };
    let mut weights = vec![0i16; buckets];
    for (&b, &e) in active.iter().zip(&effective) {
        weights[b as usize] = (e / scale).round() as i16;
    }

    let mut header = ModelHeader {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        features_version: FEATURES_VERSION,
        name: opts.name.clone(),
        crate_version: env!("CARGO_PKG_VERSION").into(),
        trained_at: opts.trained_at.clone(),
        features: hp.features.clone(),
        length_normalize: hp.length_normalize,
        weight_scale: scale as f32,
        bias: bias as f32,
        calibration: Calibration { a: 1.0, b: 0.0 },
        training: None,
    };
    let uncalibrated = LinearModel::from_parts(header.clone(), weights)?;
    let margins = |x: &[Vec<u32>]| -> Vec<f32> {
        x.iter()
            .map(|b| margin_of_buckets(&uncalibrated, b))
            .collect()
    };
    let train_m = margins(train_x);
    let valid_m = margins(valid_x);
    let accuracy = |m: &[f32], ex: &[Example], cal: Calibration| -> f64 {
        let hits = m
            .iter()
            .zip(ex)
            .filter(|(mi, e)| {
                let positive = sigmoid(cal.a * **mi + cal.b) >= 0.5;
                positive == (e.label == Label::Positive)
            })
            .count();
        hits as f64 / ex.len() as f64
    };
    let identity = Calibration { a: 1.0, b: 0.0 };
    let calibration = fit_platt(&valid_m, valid);
    let train_accuracy = accuracy(&train_m, train, calibration);
    let validation_accuracy = accuracy(&valid_m, valid, calibration);
    let validation_log_loss = valid_m
        .iter()
        .zip(valid)
        .map(|(m, e)| softplus(-sign(e.label) * (calibration.a * m + calibration.b) as f64))
        .sum::<f64>()
        / valid.len() as f64;

    let report = TrainReport {
        hyperparameters: hp.clone(),
        train_accuracy,
        validation_accuracy_raw: accuracy(&valid_m, valid, identity),
        validation_accuracy,
        validation_log_loss,
        active_features: f,
        iterations: outcome.iterations,
        objective: outcome.objective,
        seconds: started.elapsed().as_secs_f64(),
    };
    header.calibration = calibration;
    header.training = Some(TrainingInfo {
        data: opts.provenance.data.clone(),
        sdist_sha256: opts.provenance.sdist_sha256.clone(),
        split_manifest_sha256: opts.provenance.split_manifest_sha256.clone(),
        split_seed: opts.provenance.split_seed,
        train_examples: train.len(),
        validation_examples: valid.len(),
        hyperparameters: hp.clone(),
        max_iterations: opts.max_iterations,
        selection: opts.selection.clone(),
        train_accuracy,
        validation_accuracy,
        active_features: f,
    });
    let model = LinearModel::from_parts(header, uncalibrated.weights().to_vec())?;
    Ok((model, report))
}

fn sigmoid_f64(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn margin_of_buckets(model: &LinearModel, buckets: &[u32]) -> f32 {
    // Same arithmetic as inference, on pre-extracted buckets.
    let h = model.header();
    let sum: i64 = buckets
        .iter()
        .map(|&b| model.weights()[b as usize] as i64)
        .sum();
    let mut m = sum as f32 * h.weight_scale;
    if h.length_normalize && !buckets.is_empty() {
        m /= (buckets.len() as f32).sqrt();
    }
    m + h.bias
}

/// Platt scaling with his smoothed targets, which keep the fit finite even when the
/// validation set is perfectly separated.
pub(crate) fn fit_platt(margins: &[f32], examples: &[Example]) -> Calibration {
    let n_pos = examples
        .iter()
        .filter(|e| e.label == Label::Positive)
        .count() as f64;
    let n_neg = examples.len() as f64 - n_pos;
    let t_pos = (n_pos + 1.0) / (n_pos + 2.0);
    let t_neg = 1.0 / (n_neg + 2.0);
    let targets: Vec<f64> = examples
        .iter()
        .map(|e| {
            if e.label == Label::Positive {
                t_pos
            } else {
                t_neg
            }
        })
        .collect();
    let mut ab = vec![1.0, 0.0];
    optim::minimize(
        &mut ab,
        |p, g| {
            let (a, b) = (p[0], p[1]);
            let (mut f, mut ga, mut gb) = (0.0, 0.0, 0.0);
            for (&m, &t) in margins.iter().zip(&targets) {
                let z = a * m as f64 + b;
                // Cross-entropy with soft target t: t·softplus(−z) + (1−t)·softplus(z).
                f += t * softplus(-z) + (1.0 - t) * softplus(z);
                let d = sigmoid_f64(z) - t;
                ga += d * m as f64;
                gb += d;
            }
            g[0] = ga;
            g[1] = gb;
            f
        },
        &LbfgsOptions {
            max_iterations: 200,
            ..LbfgsOptions::default()
        },
    );
    Calibration {
        a: ab[0] as f32,
        b: ab[1] as f32,
    }
}

/// Today's UTC date as `YYYY-MM-DD`, or the date of `SOURCE_DATE_EPOCH` when set
/// (the reproducible-builds convention), so a re-run can reproduce a file byte for byte.
pub fn today_utc() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    civil_date(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 → `YYYY-MM-DD` (proleptic Gregorian, Hinnant's algorithm).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_search_grid_holds_the_shipped_configuration() {
        let grid = search_grid();
        assert_eq!(grid.len(), 450);
        assert!(grid.contains(&Hyperparameters::default()));
    }

    use super::*;
    use crate::Model;

    fn ex(text: &str, label: Label) -> Example {
        Example {
            id: text.to_string(),
            text: text.to_string(),
            label,
            score: sign(label) as f32,
        }
    }

    /// Positive texts contain a praise word, negative ones a complaint; filler words are
    /// shared so only the sentiment words separate the classes.
    fn toy_data() -> (Vec<Example>, Vec<Example>) {
        let praise = ["great", "wonderful", "superb", "lovely"];
        let complaint = ["awful", "dreadful", "boring", "clumsy"];
        let filler = [
            "the film",
            "this story",
            "its cast",
            "the ending",
            "that score",
        ];
        let mut train = Vec::new();
        let mut valid = Vec::new();
        for (i, f) in filler.iter().enumerate() {
            for (k, (p, n)) in praise.iter().zip(&complaint).enumerate() {
                let target = if (i + k) % 5 == 0 {
                    &mut valid
                } else {
                    &mut train
                };
                target.push(ex(&format!("{f} is {p}"), Label::Positive));
                target.push(ex(&format!("{f} is {n}"), Label::Negative));
            }
        }
        (train, valid)
    }

    fn fixed_opts(hp: Hyperparameters) -> TrainOptions {
        TrainOptions {
            hyperparameters: Hyperparameters {
                features: FeatureConfig {
                    hash_bits: 14,
                    ..hp.features
                },
                ..hp
            },
            trained_at: "2024-06-01".into(),
            ..TrainOptions::default()
        }
    }

    #[test]
    fn training_on_a_separable_toy_set_reaches_full_accuracy() {
        let (train, valid) = toy_data();
        for hp in [
            Hyperparameters::default(),
            Hyperparameters {
                nb: None,
                loss: Loss::SquaredHinge,
                length_normalize: true,
                soft_targets: None,
                ..Hyperparameters::default()
            },
        ] {
            let (model, report) = train_linear(&train, &valid, &fixed_opts(hp)).unwrap();
            assert_eq!(report.train_accuracy, 1.0);
            assert_eq!(report.validation_accuracy, 1.0);
            for e in train.iter().chain(&valid) {
                assert_eq!(model.predict(&e.text).label, e.label, "{}", e.text);
            }
        }
    }

    #[test]
    fn training_twice_gives_identical_bytes() {
        let (train, valid) = toy_data();
        let opts = fixed_opts(Hyperparameters::default());
        let (a, _) = train_linear(&train, &valid, &opts).unwrap();
        let (b, _) = train_linear(&train, &valid, &opts).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
    }

    #[test]
    fn a_trained_model_round_trips_through_bytes_with_identical_predictions() {
        let (train, valid) = toy_data();
        let (model, _) =
            train_linear(&train, &valid, &fixed_opts(Hyperparameters::default())).unwrap();
        let back = LinearModel::from_bytes(&model.to_bytes()).unwrap();
        let texts: Vec<&str> = train
            .iter()
            .map(|e| e.text.as_str())
            .chain(["", "unseen words"])
            .collect();
        assert_eq!(back.predict_batch(&texts), model.predict_batch(&texts));
        let info = back.header().training.as_ref().unwrap();
        assert_eq!(info.train_examples, train.len());
        assert_eq!(info.split_manifest_sha256, data::movie_split_sha256());
    }

    #[test]
    fn selection_keeps_the_candidate_with_the_best_validation_accuracy() {
        let (train, valid) = toy_data();
        // Unigrams of a single hash bucket cannot separate anything: all collide.
        let tiny = Hyperparameters {
            features: FeatureConfig {
                hash_bits: 10,
                word_ngrams: 1,
                char_ngrams: None,
                negation: Negation::Off,
                lexicon: false,
            },
            c: 1e-6,
            nb: None,
            ..Hyperparameters::default()
        };
        let good = fixed_opts(Hyperparameters::default()).hyperparameters;
        let (_, rep) = select_linear(
            &train,
            &valid,
            &[tiny, good],
            &fixed_opts(Hyperparameters::default()),
        )
        .unwrap();
        assert_eq!(rep.candidates.len(), 2);
        assert_eq!(rep.best, 1);
    }

    #[test]
    fn training_without_both_labels_is_refused() {
        let (train, valid) = toy_data();
        let only_pos: Vec<Example> = train
            .into_iter()
            .filter(|e| e.label == Label::Positive)
            .collect();
        assert!(train_linear(&only_pos, &valid, &fixed_opts(Hyperparameters::default())).is_err());
    }

    #[test]
    fn platt_scaling_recovers_a_known_slope_and_offset() {
        // Labels drawn deterministically so that P(pos | m) = σ(2m − 1) on a fine grid.
        let mut margins = Vec::new();
        let mut examples = Vec::new();
        for i in 0..400 {
            let m = -3.0 + 6.0 * i as f32 / 399.0;
            let p = sigmoid(2.0 * m - 1.0);
            for k in 0..20 {
                margins.push(m);
                let label = if (k as f32 + 0.5) / 20.0 < p {
                    Label::Positive
                } else {
                    Label::Negative
                };
                examples.push(ex("x", label));
            }
        }
        let cal = fit_platt(&margins, &examples);
        assert!((cal.a - 2.0).abs() < 0.1, "{cal:?}");
        assert!((cal.b + 1.0).abs() < 0.1, "{cal:?}");
    }

    #[test]
    fn civil_dates_are_computed_correctly() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(-1), "1969-12-31");
    }
}
