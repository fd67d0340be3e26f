//! The sentiment app's background jobs: analyzing a dataset with a model, and training a model on a
//! labelled dataset with an evaluation report on a held-out part of it.

use serde_json::{Value, json};
use trellis_sentiment::train::{Hyperparameters, Provenance, TrainOptions};
use trellis_sentiment::{Example, Label};

use super::models;
use crate::jobs::{JobCtx, JobError};

pub const ANALYZE: &str = "sentiment.analyze";
pub const TRAIN: &str = "sentiment.train";

/// Texts per checkpoint: large enough to batch well, small enough that cancel answers quickly.
const CHUNK: u64 = 256;
/// A trained model needs this many labelled rows, and this many of each class.
pub const MIN_LABELED: usize = 20;
pub const MIN_PER_CLASS: usize = 5;
/// Seed of the train/validation/test split of a user's dataset.
const SPLIT_SEED: u64 = 20_261_124;

fn field<'a>(payload: &'a Value, name: &str) -> Result<&'a Value, JobError> {
    payload
        .get(name)
        .ok_or_else(|| JobError::Failed(format!("the job has no `{name}`")))
}

async fn dataset(ctx: &JobCtx, payload: &Value) -> Result<models::Dataset, JobError> {
    let id = field(payload, "dataset")?.as_i64().unwrap_or(0);
    let owner = ctx.job.owner_id.unwrap_or(0);
    models::find_dataset(&ctx.state.db, owner, id)
        .await?
        .ok_or_else(|| JobError::Failed("the dataset was deleted".into()))
}

/// Runs a model over every row, storing results chunk by chunk with the progress, so a resumed job
/// continues after the last stored line.
pub async fn analyze(ctx: JobCtx) -> Result<Value, JobError> {
    let payload = ctx.payload();
    let ds = dataset(&ctx, &payload).await?;
    let model_name = field(&payload, "model")?
        .as_str()
        .unwrap_or("default")
        .to_string();
    let resolved = super::resolve(&ctx.state, ctx.job.owner_id, Some(&model_name))
        .await
        .map_err(|_| JobError::Failed(format!("the model `{model_name}` no longer exists")))?;
    let total = ds.row_count.max(1) as u64;
    let (mut last_line, mut done) = models::last_result_line(&ctx.state.db, ctx.job.id).await?;
    loop {
        if let Some(why) = ctx.interrupted() {
            return Err(why.into());
        }
        let rows = models::rows_after(&ctx.state.db, ds.id, last_line, CHUNK).await?;
        let Some(last) = rows.last() else { break };
        let next_line = last.line;
        let model = resolved.model.clone();
        let texts: Vec<String> = rows.iter().map(|r| r.text.clone()).collect();
        let preds = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.predict_batch(&refs)
        })
        .await
        .map_err(|e| JobError::Internal(e.into()))?;
        let out: Vec<models::ResultRow> = rows
            .iter()
            .zip(&preds)
            .map(|(r, p)| (r.line, p.label == Label::Positive, p.scores.positive))
            .collect();
        done += out.len() as u64;
        let txn = ctx.state.db.begin().await?;
        models::insert_results(&txn, ctx.job.id, &out).await?;
        // Results and progress commit together; an interrupted checkpoint rolls both back.
        ctx.checkpoint_in(&txn, (done * 100 / total).min(99) as i32)
            .await?;
        txn.commit().await?;
        last_line = next_line;
    }
    let s = models::summarize(&ctx.state.db, ctx.job.id, ds.id).await?;
    let positive = s.positive.unwrap_or(0);
    let labeled = s.labeled.unwrap_or(0);
    let accuracy = (labeled > 0).then(|| s.correct.unwrap_or(0) as f64 / labeled as f64);
    Ok(json!({
        "dataset": ds.id,
        "model": resolved.name,
        "rows": s.total,
        "positive": positive,
        "negative": s.total - positive,
        "labeled": labeled,
        "accuracy": accuracy,
    }))
}

/// What user-trained models use: the shipped model's features at a quarter of its size, hard labels (a
/// CSV label carries no rating to soften).
pub fn user_hyperparameters() -> Hyperparameters {
    let mut hp = Hyperparameters::default();
    hp.features.hash_bits = 18;
    hp.soft_targets = None;
    hp
}

/// Splits labelled rows 70/10/20 into train, validation (calibration) and test (the report), per
/// class, so each part keeps the dataset's balance.
pub fn split(rows: &[Example]) -> (Vec<Example>, Vec<Example>, Vec<Example>) {
    let (mut train, mut valid, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for label in [Label::Negative, Label::Positive] {
        let mut class: Vec<&Example> = rows.iter().filter(|e| e.label == label).collect();
        shuffle(&mut class, SPLIT_SEED);
        let n = class.len();
        let n_test = (n * 2).div_ceil(10).max(1);
        let n_valid = n.div_ceil(10).max(1);
        for (i, e) in class.into_iter().enumerate() {
            if i < n_test {
                test.push(e.clone());
            } else if i < n_test + n_valid {
                valid.push(e.clone());
            } else {
                train.push(e.clone());
            }
        }
    }
    (train, valid, test)
}

/// Fisher–Yates with a small fixed PRNG (splitmix64), so a dataset always splits the same way.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Trains a linear model on the labelled rows and stores it with its evaluation report. Idempotent: a
/// re-run of a job whose model was already stored returns that model.
pub async fn train(ctx: JobCtx) -> Result<Value, JobError> {
    let payload = ctx.payload();
    let name = field(&payload, "name")?.as_str().unwrap_or("").to_string();
    if let Some(m) = models::model_for_job(&ctx.state.db, ctx.job.id).await? {
        return Ok(train_result(&m.name, &m.report_json()));
    }
    let ds = dataset(&ctx, &payload).await?;
    let owner = ctx.job.owner_id.unwrap_or(0);
    let rows = models::labeled_rows(&ctx.state.db, ds.id).await?;
    let examples: Vec<Example> = rows
        .iter()
        .map(|r| {
            let positive = r.label == Some(1);
            Example {
                id: r.line.to_string(),
                text: r.text.clone(),
                label: if positive {
                    Label::Positive
                } else {
                    Label::Negative
                },
                score: if positive { 1.0 } else { -1.0 },
            }
        })
        .collect();
    check_trainable(&examples).map_err(JobError::Failed)?;
    ctx.checkpoint(5).await?;

    let (train_set, valid_set, test_set) = split(&examples);
    let opts = TrainOptions {
        hyperparameters: user_hyperparameters(),
        max_iterations: 300,
        name: name.clone(),
        trained_at: trellis_sentiment::train::today_utc(),
        provenance: Provenance {
            data: format!(
                "dataset `{}` ({}), {} labelled rows; split 70/10/20 per class",
                ds.name,
                ds.filename,
                examples.len()
            ),
            sdist_sha256: String::new(),
            split_manifest_sha256: String::new(),
            split_seed: SPLIT_SEED,
        },
        selection: "Trellis defaults for user datasets".into(),
    };
    let sizes =
        json!({"train": train_set.len(), "validation": valid_set.len(), "test": test_set.len()});
    // The VADER baseline runs on the same held-out rows, off the async runtime like the training.
    let (model, training, evaluation, baseline) = tokio::task::spawn_blocking(move || {
        let (model, training) =
            trellis_sentiment::train::train_linear(&train_set, &valid_set, &opts)?;
        let evaluation = trellis_sentiment::eval::evaluate(&model, &test_set);
        let lexicon = trellis_sentiment::LexiconModel::new();
        let baseline = trellis_sentiment::eval::evaluate(&lexicon, &test_set).accuracy;
        Ok::<_, trellis_sentiment::Error>((model, training, evaluation, baseline))
    })
    .await
    .map_err(|e| JobError::Internal(e.into()))?
    .map_err(|e| JobError::Failed(format!("training failed: {e}")))?;
    let report = json!({
        "dataset": {"id": ds.id, "name": ds.name, "rows": ds.row_count, "labeled": examples.len()},
        "split": sizes,
        "hyperparameters": training.hyperparameters,
        "training": {
            "train_accuracy": training.train_accuracy,
            "validation_accuracy": training.validation_accuracy,
            "iterations": training.iterations,
            "seconds": training.seconds,
        },
        "lexicon_accuracy": baseline,
        "evaluation": evaluation,
    });
    let weights = model.to_bytes();
    let txn = ctx.state.db.begin().await?;
    match models::insert_model(
        &txn, owner, &name, "linear", ds.id, ctx.job.id, weights, &report,
    )
    .await
    {
        Ok(()) => {}
        Err(e) if models::MODEL_NAME_UNIQUE.is_violated_by(&e) => {
            return Err(JobError::Failed(format!(
                "you already have a model named `{name}`"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    ctx.checkpoint_in(&txn, 99).await?;
    txn.commit().await?;
    Ok(train_result(&name, &report))
}

fn train_result(name: &str, report: &Value) -> Value {
    json!({
        "model": name,
        "accuracy": report.pointer("/evaluation/accuracy"),
        "test_examples": report.pointer("/split/test"),
    })
}

/// Why `labeled` rows of which `positive` are positive cannot train a model, if they cannot.
pub fn untrainable(labeled: usize, positive: usize) -> Option<String> {
    let negative = labeled - positive;
    (labeled < MIN_LABELED || positive < MIN_PER_CLASS || negative < MIN_PER_CLASS).then(|| {
        format!(
            "needs at least {MIN_LABELED} labelled rows with {MIN_PER_CLASS} of each class \
             (has {positive} positive, {negative} negative)"
        )
    })
}

/// Why a set of labelled examples cannot train a model, if it cannot.
pub fn check_trainable(examples: &[Example]) -> Result<(), String> {
    let pos = examples
        .iter()
        .filter(|e| e.label == Label::Positive)
        .count();
    match untrainable(examples.len(), pos) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(i: usize, positive: bool) -> Example {
        Example {
            id: i.to_string(),
            text: format!("text {i}"),
            label: if positive {
                Label::Positive
            } else {
                Label::Negative
            },
            score: 1.0,
        }
    }

    #[test]
    fn the_split_is_stratified_disjoint_and_repeatable() {
        let rows: Vec<Example> = (0..100).map(|i| ex(i, i % 4 != 0)).collect();
        let (train, valid, test) = split(&rows);
        assert_eq!(train.len() + valid.len() + test.len(), 100);
        assert_eq!(test.len(), 20);
        assert_eq!(
            test.iter().filter(|e| e.label == Label::Negative).count(),
            5
        );
        let ids = |v: &[Example]| v.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        let mut all = [ids(&train), ids(&valid), ids(&test)].concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100, "no row in two parts");
        assert_eq!(ids(&split(&rows).2), ids(&test), "same split every time");
    }

    #[test]
    fn too_few_labels_of_a_class_cannot_train() {
        let rows: Vec<Example> = (0..30).map(|i| ex(i, i >= 3)).collect();
        let e = check_trainable(&rows).unwrap_err();
        assert!(e.contains("27 positive, 3 negative"), "{e}");
        let rows: Vec<Example> = (0..30).map(|i| ex(i, i % 2 == 0)).collect();
        assert!(check_trainable(&rows).is_ok());
    }
}
