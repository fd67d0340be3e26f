//! Datasets, jobs and trained models over the API. Everything here is the caller's own: another user's
//! dataset, job or model answers 404, as if it did not exist.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::datasets::{
    DatasetBody, PREVIEW_ROWS, dataset_body, label_name, read_upload, store_upload,
};
use super::models;
use super::runs::{
    JobBody, Start, job_body, list_owned_jobs, owned_job, results_response, start_job,
};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::RequireUser;
use crate::jobs;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_datasets, create_dataset))
        .routes(routes!(get_dataset, delete_dataset))
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job))
        .routes(routes!(job_events))
        .routes(routes!(cancel_job))
        .routes(routes!(job_results))
        .routes(routes!(get_model, delete_model))
}

const PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

// ---------------------------------------------------------------- shapes

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
    let (items, count) = models::list_datasets(&state.db, me.id, page.window()).await?;
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
    let (items, count) = list_owned_jobs(&state, me.id, page.window()).await?;
    let results = items.iter().map(|j| job_body(&state, j)).collect();
    Ok(Json(page.wrap(results, count, "/api/sentiment/jobs", &q)?).into_response())
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

/// How often a followed job is read again while it runs.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(400);

/// Follow one of your jobs as Server-Sent Events: a `job` event carrying the job (as `GET
/// /api/sentiment/jobs/{id}` answers it) at once and at every change of status or progress. The stream
/// ends after the job's final state, or after the request timeout (`TRELLIS_REQUEST_TIMEOUT_SECS`), when
/// an `EventSource` reconnects by itself; an instance being stopped is therefore never held up by a
/// follower. Works with a session cookie (the job's page) or a token.
#[utoipa::path(get, path = "/sentiment/jobs/{id}/events", tag = "sentiment", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/event-stream",
               description = "`event: job` with a `JobBody` as JSON `data`, at once and on every change"),
              (status = 404)))]
async fn job_events(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::time::Instant;

    struct Follow {
        state: AppState,
        owner: i64,
        next: Option<jobs::Job>,
        id: i64,
        seen: Option<(String, i32, bool)>,
        until: Instant,
        finished: bool,
    }
    let job = owned_job(&state, me.id, &id).await?;
    let lifetime = std::time::Duration::from_secs(state.settings.request_timeout_secs.max(1));
    let follow = Follow {
        owner: me.id,
        id: job.id,
        next: Some(job),
        seen: None,
        until: Instant::now() + lifetime,
        finished: false,
        state,
    };
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        if f.finished {
            return None;
        }
        loop {
            let job = match f.next.take() {
                Some(job) => job,
                None => {
                    let now = Instant::now();
                    if now >= f.until {
                        return None;
                    }
                    tokio::time::sleep_until((now + FOLLOW_EVERY).min(f.until)).await;
                    // Deleted meanwhile, or the database failing: end the stream; the client may retry.
                    match jobs::find_owned(&f.state.db, f.id, f.owner).await {
                        Ok(Some(job)) => job,
                        _ => return None,
                    }
                }
            };
            let now = (job.status.clone(), job.progress, job.cancel_requested);
            if f.seen.as_ref() == Some(&now) {
                continue;
            }
            f.seen = Some(now);
            f.finished = job.is_done();
            let event = Event::default()
                .event("job")
                .retry(std::time::Duration::from_secs(1))
                .json_data(job_body(&f.state, &job));
            return Some((event, f));
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
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
