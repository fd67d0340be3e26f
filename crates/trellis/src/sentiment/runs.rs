//! Sentiment jobs as both the pages and the API start and show them: checks and quotas before a job is
//! queued, the caller's jobs, the shape a job is shown in and the results download.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::datasets::label_name;
use super::{models, work};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api;
use crate::jobs::{self, Job};
use crate::state::AppState;

/// Attempts a job gets before an interrupted one is failed.
const MAX_ATTEMPTS: i32 = 3;
/// Longest model name.
pub const MAX_MODEL_NAME: usize = 64;

/// What a user asks a job to do.
pub enum Start {
    Analyze { dataset: i64, model: String },
    Train { dataset: i64, name: String },
}

/// Validates and queues a job; returns its id.
pub async fn start_job(state: &AppState, owner_id: i64, start: Start) -> Result<i64> {
    let (kind, payload) = match start {
        Start::Analyze { dataset, model } => {
            let ds = models::find_dataset(&state.db, owner_id, dataset)
                .await?
                .ok_or_else(|| AppError::invalid("dataset", "does not exist"))?;
            let model = if model.trim().is_empty() {
                "default".to_string()
            } else {
                model.trim().to_string()
            };
            // The same lookup analyze uses, so a job never starts with a model its owner cannot use.
            if super::resolve(state, Some(owner_id), Some(&model))
                .await
                .is_err()
            {
                return Err(AppError::invalid(
                    "model",
                    format!("`{model}` does not exist"),
                ));
            }
            (work::ANALYZE, json!({"dataset": ds.id, "model": model}))
        }
        Start::Train { dataset, name } => {
            let name = name.trim().to_string();
            let mut errors = FieldErrors::new();
            if let Err(m) = check_model_name(&name) {
                errors.add("name", m);
            } else if super::is_builtin(&name)
                || models::find_model(&state.db, owner_id, &name)
                    .await?
                    .is_some()
            {
                errors.add("name", "is already taken");
            }
            match models::find_dataset(&state.db, owner_id, dataset).await? {
                None => errors.add("dataset", "does not exist"),
                Some(ds) => {
                    if let Some(why) = ds.untrainable_reason() {
                        errors.add("dataset", why);
                    }
                }
            }
            errors.into_result()?;
            (work::TRAIN, json!({"dataset": dataset, "name": name}))
        }
    };
    // The quotas are checked and the job queued in one transaction, per user in turn.
    let txn = state.db.begin().await?;
    if let Err(full) = crate::db::check_quota(
        &txn,
        "jobs",
        owner_id,
        "SELECT COUNT(*) AS n FROM jobs WHERE owner_id = $1 AND status IN ('queued', 'running')",
        state.settings.quota_active_jobs,
    )
    .await?
    {
        return Err(AppError::invalid(
            "kind",
            format!(
                "you already have {} jobs queued or running, the most allowed; wait for one to finish",
                full.limit
            ),
        ));
    }
    if kind == work::TRAIN
        && let Err(full) = crate::db::check_quota(
            &txn,
            "sentiment_models",
            owner_id,
            &format!(
                "SELECT (SELECT COUNT(*) FROM sentiment_models WHERE owner_id = $1) + \
                 (SELECT COUNT(*) FROM jobs WHERE owner_id = $1 AND kind = '{}' \
                 AND status IN ('queued', 'running')) AS n",
                work::TRAIN
            ),
            state.settings.quota_models,
        )
        .await?
    {
        return Err(AppError::invalid(
            "name",
            format!(
                "you already have {} models (training ones included), the most allowed; delete one first",
                full.limit
            ),
        ));
    }
    let id = jobs::enqueue(&txn, kind, Some(owner_id), &payload, MAX_ATTEMPTS).await?;
    txn.commit().await?;
    jobs::wake(state);
    Ok(id)
}

/// Letters, digits, `-`, `_` and `.`, so a name reads well in URLs and the CLI.
pub fn check_model_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("can't be blank".into());
    }
    if name.chars().count() > MAX_MODEL_NAME {
        return Err(format!(
            "is too long (maximum is {MAX_MODEL_NAME} characters)"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("may contain only letters, digits, `-`, `_` and `.`".into());
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct JobBody {
    id: i64,
    /// `sentiment.analyze` or `sentiment.train`.
    kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    status: String,
    /// Percent done, 0–100.
    progress: i32,
    /// What was asked: dataset and model (analyze) or dataset and name (train).
    #[schema(value_type = Object)]
    params: Value,
    /// What came out, once succeeded.
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    error: Option<String>,
    attempts: i32,
    cancel_requested: bool,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    pub url: String,
    /// Where the results are, for a succeeded analysis.
    results_url: Option<String>,
}

pub fn job_body(state: &AppState, j: &Job) -> JobBody {
    let url = format!("{}/api/sentiment/jobs/{}", state.settings.base_url(), j.id);
    JobBody {
        id: j.id,
        kind: j.kind.clone(),
        status: j.status.clone(),
        progress: j.progress,
        params: j.payload_json(),
        result: j.result_json(),
        error: j.error.clone(),
        attempts: j.attempts,
        cancel_requested: j.cancel_requested,
        created_at: api::timestamp(&j.created_at),
        started_at: j.started_at.as_ref().map(api::timestamp),
        finished_at: j.finished_at.as_ref().map(api::timestamp),
        results_url: (j.kind == work::ANALYZE && j.status == "succeeded")
            .then(|| format!("{url}/results")),
        url,
    }
}

/// One page of the caller's sentiment jobs, newest first, and how many they have.
pub async fn list_owned_jobs(
    state: &AppState,
    owner_id: i64,
    window: crate::db::Window,
) -> Result<(Vec<Job>, u64)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let kinds = [work::ANALYZE, work::TRAIN];
    let query = jobs::job::Entity::find()
        .filter(jobs::job::Column::OwnerId.eq(owner_id))
        .filter(jobs::job::Column::Kind.is_in(kinds))
        .order_by_desc(jobs::job::Column::Id);
    Ok(crate::db::paged_select(&state.db, query, window).await?)
}

/// One of the caller's sentiment jobs behind a path id; any other job is not found.
pub async fn owned_job(state: &AppState, me: i64, id: &str) -> Result<Job> {
    use sea_orm::{ColumnTrait, Condition};
    let kind = jobs::job::Column::Kind.is_in([work::ANALYZE, work::TRAIN]);
    crate::db::owned_where::<jobs::job::Entity>(
        &state.db,
        id,
        jobs::job::Column::OwnerId,
        me,
        Condition::all().add(kind),
        "job",
    )
    .await
}

/// The body of a results download; shared with the pages.
pub async fn results_response(state: &AppState, job: &Job, format: &str) -> Result<Response> {
    if job.kind != work::ANALYZE || job.status != "succeeded" {
        return Err(AppError::Conflict(FieldErrors::single(
            "status",
            "results exist only for a succeeded analysis",
        )));
    }
    let dataset = job.payload_json()["dataset"].as_i64().unwrap_or(0);
    let rows = models::results(&state.db, job.id, dataset).await?;
    let id = job.id;
    // Up to the dataset row limit of cells to format: on the blocking pool, a few at a time.
    let csv = format == "csv";
    let body = EXPORTS
        .run(move || encode_results(id, &rows, csv))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    Ok(if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"sentiment-job-{id}.csv\""),
                ),
            ],
            body,
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    })
}

static EXPORTS: crate::blocking::Lane = crate::blocking::Lane::per_core();

/// A finished analysis's rows as a CSV or a JSON document.
fn encode_results(job: i64, rows: &[models::ResultLine], csv: bool) -> Result<Vec<u8>> {
    let label = |l: i16| if l == 1 { "positive" } else { "negative" };
    if csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "line", "text", "label", "score", "positive", "negative", "expected",
        ])
        .map_err(|e| AppError::Internal(e.into()))?;
        for r in rows {
            let p = r.positive;
            let score = if r.label == 1 { p } else { 1.0 - p };
            w.write_record([
                r.line.to_string(),
                spreadsheet_safe(&r.text),
                label(r.label).to_string(),
                format!("{score:.4}"),
                format!("{p:.4}"),
                format!("{:.4}", 1.0 - p),
                label_name(r.expected).unwrap_or_default(),
            ])
            .map_err(|e| AppError::Internal(e.into()))?;
        }
        return w
            .into_inner()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")));
    }
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            let p = r.positive;
            json!({
                "line": r.line,
                "text": r.text,
                "label": label(r.label),
                "score": if r.label == 1 { p } else { 1.0 - p },
                "scores": {"positive": p, "negative": 1.0 - p},
                "expected": label_name(r.expected),
            })
        })
        .collect();
    serde_json::to_vec(&json!({"job": job, "count": results.len(), "results": results}))
        .map_err(|e| AppError::Internal(e.into()))
}

/// A text as a CSV cell that spreadsheets show rather than evaluate: one starting like a formula gets a
/// leading apostrophe (OWASP's advice against CSV injection). The JSON results keep texts as uploaded.
fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}
