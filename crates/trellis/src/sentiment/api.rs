//! Datasets, jobs and trained models over the API. Everything here is the caller's own: another user's
//! dataset, job or model answers 404, as if it did not exist.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::{self, Dataset};
use super::{upload, work};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::RequireUser;
use crate::jobs::{self, Job};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_datasets, create_dataset))
        .routes(routes!(get_dataset, delete_dataset))
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(job_results))
        .routes(routes!(get_model, delete_model))
}

const PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;
/// Rows shown with a dataset.
pub const PREVIEW_ROWS: u64 = 20;
/// Attempts a job gets before an interrupted one is failed.
const MAX_ATTEMPTS: i32 = 3;
/// Longest model name.
pub const MAX_MODEL_NAME: usize = 64;
/// Longest dataset name.
pub const MAX_DATASET_NAME: usize = 200;
/// Longest name of an uploaded file (its last path component).
pub const MAX_FILENAME: usize = 255;

// ---------------------------------------------------------------- shared with the pages

/// The fields of a dataset upload form (API and page alike).
pub struct Upload {
    pub name: String,
    /// As the client named it; shown, never used as a path.
    pub filename: String,
    /// `None` when no `file` field was sent.
    pub bytes: Option<axum::body::Bytes>,
    /// Names of the other fields sent: the page's form has its own, the API refuses any.
    pub others: Vec<String>,
}

impl Upload {
    /// The upload, if it has no fields besides `file` and `name` (the API's documented form).
    pub fn only_documented_fields(self) -> Result<Self> {
        match self.others.first() {
            None => Ok(self),
            Some(other) => Err(AppError::invalid(
                other,
                "is not a field of this form (send `file` and optionally `name`)",
            )),
        }
    }
}

pub async fn read_upload(multipart: Multipart) -> Result<Upload> {
    let mut form = crate::http::forms::MultipartForm::read(multipart, &["file"]).await?;
    let file = form.take_file_part("file");
    let name = form.take_text("name");
    Ok(Upload {
        name,
        filename: file
            .as_ref()
            .map(|f| f.filename.clone())
            .unwrap_or_default(),
        bytes: file.map(|f| f.bytes),
        others: form.text_names().map(str::to_string).collect(),
    })
}

/// Checks and stores an upload; problems are reported on the `file` field, each with its line.
pub async fn store_upload(
    state: &AppState,
    owner_id: i64,
    name: &str,
    filename: &str,
    bytes: &[u8],
) -> Result<Dataset> {
    let max_bytes = state.settings.sentiment_max_dataset_bytes;
    if bytes.len() > max_bytes {
        return Err(AppError::PayloadTooLarge(format!(
            "file is larger than the dataset limit of {} KiB",
            max_bytes / 1024
        )));
    }
    if bytes.is_empty() && filename.is_empty() {
        return Err(AppError::invalid("file", "is required"));
    }
    let max_rows = state.settings.sentiment_max_dataset_rows;
    let owned = bytes.to_vec();
    let parsed = tokio::task::spawn_blocking(move || upload::parse(&owned, max_rows))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let parsed = parsed.map_err(|problems| {
        let mut errors = FieldErrors::new();
        for p in problems {
            errors.add("file", p);
        }
        AppError::Validation(errors)
    })?;
    let filename = clean_filename(filename);
    if filename.chars().count() > MAX_FILENAME {
        return Err(AppError::invalid(
            "file",
            format!("its name is too long (maximum is {MAX_FILENAME} characters); rename the file"),
        ));
    }
    let name = match name.trim() {
        "" => filename
            .rsplit_once('.')
            .map(|(stem, _)| stem)
            .unwrap_or(&filename)
            .to_string(),
        n => n.to_string(),
    };
    if name.chars().count() > MAX_DATASET_NAME {
        return Err(AppError::invalid(
            "name",
            format!(
                "is too long (maximum is {MAX_DATASET_NAME} characters; without a name, the file's name is used)"
            ),
        ));
    }
    let txn = state.db.begin().await?;
    if let Err(full) = crate::db::check_quota(
        &txn,
        "sentiment_datasets",
        owner_id,
        "SELECT COUNT(*) AS n FROM sentiment_datasets WHERE owner_id = $1",
        state.settings.quota_datasets,
    )
    .await?
    {
        return Err(AppError::invalid(
            "file",
            format!(
                "you already have {} datasets, the most allowed; delete one first",
                full.limit
            ),
        ));
    }
    let ds = models::create_dataset(&txn, owner_id, &name, &filename, bytes.len(), &parsed).await?;
    txn.commit().await?;
    Ok(ds)
}

/// The client's file name is only shown, never used as a path; keep its last component, printable.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    if cleaned.trim().is_empty() {
        "upload.csv".into()
    } else {
        cleaned
    }
}

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

// ---------------------------------------------------------------- shapes

#[derive(Serialize, ToSchema)]
pub struct DatasetBody {
    id: i64,
    name: String,
    /// As uploaded (for display only).
    filename: String,
    rows: i32,
    /// Rows with a label.
    labeled: i32,
    /// Labelled rows that are positive.
    positive: i32,
    size_bytes: i64,
    created_at: String,
    url: String,
}

pub fn dataset_body(state: &AppState, d: &Dataset) -> DatasetBody {
    DatasetBody {
        id: d.id,
        name: d.name.clone(),
        filename: d.filename.clone(),
        rows: d.row_count,
        labeled: d.labeled_count,
        positive: d.positive_count,
        size_bytes: d.size_bytes,
        created_at: api::timestamp(&d.created_at),
        url: format!(
            "{}/api/sentiment/datasets/{}",
            state.settings.base_url(),
            d.id
        ),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PreviewRow {
    line: i32,
    text: String,
    /// `positive`, `negative` or null.
    label: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DatasetDetail {
    #[serde(flatten)]
    dataset: DatasetBody,
    /// The first rows.
    preview: Vec<PreviewRow>,
}

pub fn label_name(label: Option<i16>) -> Option<String> {
    label.map(|l| if l == 1 { "positive" } else { "negative" }.to_string())
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
    url: String,
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

#[derive(Serialize, ToSchema)]
pub struct ModelDetail {
    name: String,
    kind: String,
    /// `user` (trained by you).
    source: String,
    created_at: String,
    /// Where it came from and how it did on the held-out part of its dataset: `evaluation` holds accuracy,
    /// per-class precision/recall/F1, the confusion matrix, the calibration curve and the ROC curve.
    #[schema(value_type = Object)]
    report: Value,
}

// ---------------------------------------------------------------- datasets

/// Your datasets, newest first.
#[utoipa::path(get, path = "/sentiment/datasets", tag = "sentiment", security(("token" = [])),
    params(api::PageParams),
    responses((status = 200, body = Page<DatasetBody>), (status = 401, description = "not signed in")))]
async fn list_datasets(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let page = PageNumber::from_query(&q, PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (count, items) =
        models::list_datasets(&state.db, me.id, page.offset(), page.page_size).await?;
    let results = items.iter().map(|d| dataset_body(&state, d)).collect();
    Ok(Json(page.wrap(results, count, "/api/sentiment/datasets", &q)?).into_response())
}

/// Upload a CSV file (`multipart/form-data`: `file`, and optionally `name`). The file needs a header with a
/// `text` column and may have a `label` column (`positive`/`negative` or `1`/`0`); UTF-8, with or without a
/// byte-order mark. A file with any bad row is refused whole, every problem named with its line.
#[utoipa::path(post, path = "/sentiment/datasets", tag = "sentiment", security(("token" = [])),
    request_body(content = DatasetUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = DatasetBody), (status = 413, description = "over the size limit"),
              (status = 422, description = "not a usable CSV: each problem with its line number")))]
async fn create_dataset(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    multipart: Multipart,
) -> Result<Response> {
    let upload = read_upload(multipart).await?.only_documented_fields()?;
    let Some(bytes) = upload.bytes else {
        return Err(AppError::invalid("file", "is required"));
    };
    let (name, filename) = (upload.name, upload.filename);
    let ds = store_upload(&state, me.id, &name, &filename, &bytes).await?;
    let body = dataset_body(&state, &ds);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, body.url.clone())],
        Json(body),
    )
        .into_response())
}

/// One of your datasets with its first rows.
#[utoipa::path(get, path = "/sentiment/datasets/{id}", tag = "sentiment", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = DatasetDetail), (status = 404)))]
async fn get_dataset(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let ds = models::owned_dataset(&state.db, me.id, &id).await?;
    let preview = models::rows_after(&state.db, ds.id, 0, PREVIEW_ROWS)
        .await?
        .into_iter()
        .map(|r| PreviewRow {
            line: r.line,
            text: r.text,
            label: label_name(r.label),
        })
        .collect();
    Ok(Json(DatasetDetail {
        dataset: dataset_body(&state, &ds),
        preview,
    })
    .into_response())
}

/// Delete a dataset and its rows. Models trained on it stay; analyses of it lose their texts.
#[utoipa::path(delete, path = "/sentiment/datasets/{id}", tag = "sentiment", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 204), (status = 404)))]
async fn delete_dataset(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = crate::db::parse_id(&id, "dataset")?;
    if models::delete_dataset(&state.db, me.id, id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found("dataset"))
    }
}

// ---------------------------------------------------------------- jobs

/// Your jobs, newest first.
#[utoipa::path(get, path = "/sentiment/jobs", tag = "sentiment", security(("token" = [])),
    params(api::PageParams),
    responses((status = 200, body = Page<JobBody>)))]
async fn list_jobs(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let page = PageNumber::from_query(&q, PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (count, items) = list_owned_jobs(&state, me.id, page.offset(), page.page_size).await?;
    let results = items.iter().map(|j| job_body(&state, j)).collect();
    Ok(Json(page.wrap(results, count, "/api/sentiment/jobs", &q)?).into_response())
}

pub async fn list_owned_jobs(
    state: &AppState,
    owner_id: i64,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<Job>)> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
    let kinds = [work::ANALYZE, work::TRAIN];
    let base = jobs::job::Entity::find()
        .filter(jobs::job::Column::OwnerId.eq(owner_id))
        .filter(jobs::job::Column::Kind.is_in(kinds));
    let count = base.clone().count(&state.db).await?;
    let items = base
        .order_by_desc(jobs::job::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok((count, items))
}

#[derive(Deserialize, ToSchema)]
pub struct JobRequest {
    #[schema(value_type = JobKind)]
    kind: String,
    /// One of your datasets (its id).
    dataset: i64,
    /// analyze: the model to run (`default` when left out or blank).
    model: Option<String>,
    /// train: the new model's name, not yet taken (letters, digits, `-`, `_`, `.`).
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    name: Option<String>,
}

/// What a job does.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Only describes `JobRequest::kind`, which is read as text.
pub enum JobKind {
    /// Run a model over a dataset.
    Analyze,
    /// Train a model on a labelled dataset.
    Train,
}

/// A dataset upload (`multipart/form-data`).
// Deserialize only for `deny_unknown_fields`, which the schema shows as `additionalProperties: false`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only describes what `read_upload` reads.
pub struct DatasetUpload {
    /// The CSV file: a header line naming a `text` column (and optionally `label`), then one row per text;
    /// UTF-8. A file that does not read so is refused with 422, each problem with its line.
    #[schema(content_media_type = "text/csv")]
    file: String,
    /// Defaults to the file's name without its extension.
    #[schema(max_length = 200)]
    name: Option<String>,
}

/// Start a job. It runs in the background: follow it at its `url`.
#[utoipa::path(post, path = "/sentiment/jobs", tag = "sentiment", security(("token" = [])),
    request_body = JobRequest,
    responses((status = 202, body = JobBody), (status = 422, description = "unknown kind, dataset or model; taken name")))]
async fn create_job(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    ApiJson(req): ApiJson<JobRequest>,
) -> Result<Response> {
    let start = match req.kind.as_str() {
        "analyze" => Start::Analyze {
            dataset: req.dataset,
            model: req.model.unwrap_or_default(),
        },
        "train" => Start::Train {
            dataset: req.dataset,
            name: req.name.unwrap_or_default(),
        },
        other => {
            return Err(AppError::invalid(
                "kind",
                format!("`{other}` is not analyze or train"),
            ));
        }
    };
    let id = start_job(&state, me.id, start).await?;
    let job = jobs::find_owned(&state.db, id, me.id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))?;
    let body = job_body(&state, &job);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, body.url.clone())],
        Json(body),
    )
        .into_response())
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

/// One of your jobs: status, progress, result.
#[utoipa::path(get, path = "/sentiment/jobs/{id}", tag = "sentiment", security(("token" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = JobBody), (status = 404)))]
async fn get_job(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let job = owned_job(&state, me.id, &id).await?;
    Ok(Json(job_body(&state, &job)).into_response())
}

/// Cancel a job: a queued one at once, a running one at its next checkpoint (within a second or two).
#[utoipa::path(post, path = "/sentiment/jobs/{id}/cancel", tag = "sentiment", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 202, body = JobBody), (status = 404), (status = 409, description = "already finished")))]
async fn cancel_job(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let job = owned_job(&state, me.id, &id).await?;
    if !jobs::request_cancel(&state.db, job.id).await? {
        return Err(AppError::Conflict(FieldErrors::single(
            "status",
            format!("the job has already {}", job.status),
        )));
    }
    let job = owned_job(&state, me.id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(job_body(&state, &job))).into_response())
}

/// The results of a finished analysis, one per row in file order: `?format=json` (default) or `csv`.
#[utoipa::path(get, path = "/sentiment/jobs/{id}/results", tag = "sentiment", security(("token" = [])),
    params(("id" = i64, Path), ("format" = Option<String>, Query, description = "`json` or `csv`")),
    responses((status = 200, description = "line, text, label, score, positive, negative, expected"),
              (status = 404), (status = 409, description = "not a finished analysis")))]
async fn job_results(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let job = owned_job(&state, me.id, &id).await?;
    let format = q.get("format").map(String::as_str).unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(AppError::bad_request("format", "must be json or csv"));
    }
    results_response(&state, &job, format).await
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
    let label = |l: i16| if l == 1 { "positive" } else { "negative" };
    if format == "csv" {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "line", "text", "label", "score", "positive", "negative", "expected",
        ])
        .map_err(|e| AppError::Internal(e.into()))?;
        for r in &rows {
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
        let bytes = w
            .into_inner()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"sentiment-job-{}.csv\"", job.id),
                ),
            ],
            bytes,
        )
            .into_response());
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
    Ok(Json(json!({"job": job.id, "count": results.len(), "results": results})).into_response())
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

// ---------------------------------------------------------------- models

/// One of your trained models with its evaluation report.
#[utoipa::path(get, path = "/sentiment/models/{name}", tag = "sentiment", security(("token" = [])),
    params(("name" = String, Path)), responses((status = 200, body = ModelDetail), (status = 404)))]
async fn get_model(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(name): Path<String>,
) -> Result<Response> {
    let m = models::find_model(&state.db, me.id, &name)
        .await?
        .ok_or_else(|| AppError::not_found("model"))?;
    Ok(Json(ModelDetail {
        report: m.report_json(),
        name: m.name,
        kind: m.kind,
        source: "user".into(),
        created_at: api::timestamp(&m.created_at),
    })
    .into_response())
}

/// Delete one of your trained models.
#[utoipa::path(delete, path = "/sentiment/models/{name}", tag = "sentiment", security(("token" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, description = "a built-in model"), (status = 404)))]
async fn delete_model(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(name): Path<String>,
) -> Result<Response> {
    if super::is_builtin(&name) {
        return Err(AppError::forbidden("built-in model"));
    }
    match models::delete_model(&state.db, me.id, &name).await? {
        Some(id) => {
            super::shared(&state).models.forget(id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        None => Err(AppError::not_found("model")),
    }
}
