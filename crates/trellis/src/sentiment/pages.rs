//! Pages for datasets, jobs and trained models. Every action is a plain form; the job page refreshes its
//! progress through the API when JavaScript runs, and shows it on reload when it does not.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Multipart, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;

use super::datasets::{self, PREVIEW_ROWS, dataset_body, label_name};
use super::models;
use super::runs::{self, Start};
use crate::error::{AppError, Result};
use crate::http::auth::RequireUser;
use crate::http::templates::Ctx;
use crate::jobs;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sentiment/datasets/", get(datasets).post(upload))
        .route("/sentiment/datasets/{id}/", get(dataset))
        .route("/sentiment/datasets/{id}/delete/", post(delete_dataset))
        .route("/sentiment/datasets/{id}/analyze/", post(analyze))
        .route("/sentiment/datasets/{id}/train/", post(train))
        .route("/sentiment/jobs/", get(job_list))
        .route("/sentiment/jobs/{id}/", get(job))
        .route("/sentiment/jobs/{id}/cancel/", post(cancel))
        .route("/sentiment/jobs/{id}/results.csv", get(results_csv))
        .route("/sentiment/jobs/{id}/results.json", get(results_json))
        .route("/sentiment/models/", get(model_list))
        .route("/sentiment/models/{name}/", get(model))
        .route("/sentiment/models/{name}/delete/", post(delete_model))
}

const LIST_SIZE: u64 = 50;

async fn datasets(ctx: Ctx, RequireUser(me): RequireUser) -> Result<Response> {
    render_datasets(&ctx, me.id, StatusCode::OK, Value::UNDEFINED, "").await
}

async fn render_datasets(
    ctx: &Ctx,
    owner: i64,
    status: StatusCode,
    errors: Value,
    name: &str,
) -> Result<Response> {
    let window = crate::db::Window {
        offset: 0,
        limit: LIST_SIZE,
    };
    let (items, count) = models::list_datasets(&ctx.state.db, owner, window).await?;
    let items: Vec<_> = items.iter().map(|d| dataset_body(&ctx.state, d)).collect();
    let s = &ctx.state.settings;
    ctx.render_status(
        status,
        "sentiment/datasets.html",
        context! {
            datasets => Value::from_serialize(&items), count => count, errors => errors, name => name,
            max_kib => s.sentiment_max_dataset_bytes / 1024, max_rows => s.sentiment_max_dataset_rows,
        },
    )
    .await
}

async fn upload(ctx: Ctx, RequireUser(me): RequireUser, multipart: Multipart) -> Result<Response> {
    let upload = datasets::read_upload(multipart).await?;
    let (name, filename) = (upload.name, upload.filename);
    let bytes = upload.bytes.unwrap_or_default();
    match datasets::store_upload(&ctx.state, me.id, &name, &filename, &bytes).await {
        Ok(ds) => {
            ctx.flash(
                "success",
                format!("“{}” was uploaded: {} rows.", ds.name, ds.row_count),
            )
            .await;
            Ok(Redirect::to(&format!("/sentiment/datasets/{}/", ds.id)).into_response())
        }
        Err(AppError::Validation(errors)) => {
            render_datasets(
                &ctx,
                me.id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::from_serialize(&errors.0),
                &name,
            )
            .await
        }
        Err(AppError::PayloadTooLarge(msg)) => {
            let errors = crate::error::FieldErrors::single("file", msg);
            render_datasets(
                &ctx,
                me.id,
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::from_serialize(&errors.0),
                &name,
            )
            .await
        }
        Err(e) => Err(e),
    }
}

async fn dataset(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    render_dataset(&ctx, me.id, &id, StatusCode::OK, Value::UNDEFINED, "").await
}

async fn render_dataset(
    ctx: &Ctx,
    owner: i64,
    id: &str,
    status: StatusCode,
    errors: Value,
    name: &str,
) -> Result<Response> {
    let ds = models::owned_dataset(&ctx.state.db, owner, id).await?;
    let preview: Vec<_> = models::rows_after(&ctx.state.db, ds.id, 0, PREVIEW_ROWS)
        .await?
        .into_iter()
        .map(|r| context! { line => r.line, text => r.text, label => label_name(r.label) })
        .collect();
    let models = super::model_list(ctx).await?;
    let trainable = ds.untrainable_reason().is_none();
    ctx.render_status(
        status,
        "sentiment/dataset.html",
        context! {
            dataset => Value::from_serialize(dataset_body(&ctx.state, &ds)),
            preview => preview, models => models, trainable => trainable,
            min_labeled => super::work::MIN_LABELED, min_per_class => super::work::MIN_PER_CLASS,
            errors => errors, name => name,
        },
    )
    .await
}

async fn delete_dataset(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let ds = models::owned_dataset(&ctx.state.db, me.id, &id).await?;
    models::delete_dataset(&ctx.state.db, me.id, ds.id).await?;
    ctx.flash("success", format!("“{}” was deleted.", ds.name))
        .await;
    Ok(Redirect::to("/sentiment/datasets/").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AnalyzeForm {
    model: String,
}

async fn analyze(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<AnalyzeForm>,
) -> Result<Response> {
    let ds = models::owned_dataset(&ctx.state.db, me.id, &id).await?;
    let start = Start::Analyze {
        dataset: ds.id,
        model: form.model,
    };
    started(ctx, me.id, &id, start, "").await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TrainForm {
    name: String,
}

async fn train(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<TrainForm>,
) -> Result<Response> {
    let ds = models::owned_dataset(&ctx.state.db, me.id, &id).await?;
    let name = form.name.clone();
    let start = Start::Train {
        dataset: ds.id,
        name: form.name,
    };
    started(ctx, me.id, &id, start, &name).await
}

async fn started(
    ctx: Ctx,
    owner: i64,
    dataset: &str,
    start: Start,
    name: &str,
) -> Result<Response> {
    match runs::start_job(&ctx.state, owner, start).await {
        // No "queued" message: the job page shows the job's state itself, and a message would go stale
        // as soon as the job moved on (a short job is often finished before the page first draws).
        Ok(job) => Ok(Redirect::to(&format!("/sentiment/jobs/{job}/")).into_response()),
        Err(AppError::Validation(errors)) => {
            render_dataset(
                &ctx,
                owner,
                dataset,
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::from_serialize(&errors.0),
                name,
            )
            .await
        }
        Err(e) => Err(e),
    }
}

async fn job_list(ctx: Ctx, RequireUser(me): RequireUser) -> Result<Response> {
    let window = crate::db::Window {
        offset: 0,
        limit: LIST_SIZE,
    };
    let (items, count) = runs::list_owned_jobs(&ctx.state, me.id, window).await?;
    let items: Vec<_> = items
        .iter()
        .map(|j| runs::job_body(&ctx.state, j))
        .collect();
    ctx.render(
        "sentiment/jobs.html",
        context! { jobs => Value::from_serialize(&items), count => count },
    )
    .await
}

async fn job(ctx: Ctx, RequireUser(me): RequireUser, Path(id): Path<String>) -> Result<Response> {
    let job = runs::owned_job(&ctx.state, me.id, &id).await?;
    let body = runs::job_body(&ctx.state, &job);
    let model = if job.kind == super::work::TRAIN && job.status == "succeeded" {
        models::model_for_job(&ctx.state.db, job.id)
            .await?
            .map(|m| m.name)
    } else {
        None
    };
    ctx.render(
        "sentiment/job.html",
        context! { job => Value::from_serialize(&body), done => job.is_done(), model => model },
    )
    .await
}

async fn cancel(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let job = runs::owned_job(&ctx.state, me.id, &id).await?;
    if jobs::request_cancel(&ctx.state.db, job.id).await? {
        ctx.flash("success", "Cancelling the job.").await;
    } else {
        ctx.flash("error", format!("The job has already {}.", job.status))
            .await;
    }
    Ok(Redirect::to(&format!("/sentiment/jobs/{}/", job.id)).into_response())
}

async fn results_csv(ctx: Ctx, me: RequireUser, Path(id): Path<String>) -> Result<Response> {
    results(ctx, me, &id, "csv").await
}

async fn results_json(ctx: Ctx, me: RequireUser, Path(id): Path<String>) -> Result<Response> {
    results(ctx, me, &id, "json").await
}

async fn results(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    id: &str,
    format: &str,
) -> Result<Response> {
    let job = runs::owned_job(&ctx.state, me.id, id).await?;
    runs::results_response(&ctx.state, &job, format).await
}

async fn model_list(ctx: Ctx, RequireUser(_): RequireUser) -> Result<Response> {
    let models = super::model_list(&ctx).await?;
    ctx.render("sentiment/models.html", context! { models => models })
        .await
}

async fn model(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(name): Path<String>,
) -> Result<Response> {
    let m = models::find_model(&ctx.state.db, me.id, &name)
        .await?
        .ok_or_else(|| AppError::not_found("model"))?;
    let report = m.report_json();
    let charts = Charts::from_report(&report["evaluation"]);
    ctx.render(
        "sentiment/model.html",
        context! {
            model => context! { name => m.name, kind => m.kind, created_at => crate::http::api::timestamp(&m.created_at) },
            report => Value::from_serialize(&report),
            confusion_svg => Value::from_safe_string(charts.confusion),
            calibration_svg => Value::from_safe_string(charts.calibration),
            roc_svg => Value::from_safe_string(charts.roc),
        },
    )
    .await
}

async fn delete_model(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(name): Path<String>,
) -> Result<Response> {
    match models::delete_model(&ctx.state.db, me.id, &name).await? {
        Some(id) => {
            super::shared(&ctx.state).models.forget(id);
            ctx.flash("success", format!("The model “{name}” was deleted."))
                .await;
            Ok(Redirect::to("/sentiment/models/").into_response())
        }
        None => Err(AppError::not_found("model")),
    }
}

// ---------------------------------------------------------------- charts

/// SVG charts of an evaluation report. Built from numbers only (no user text), so they are safe to
/// embed as markup.
struct Charts {
    confusion: String,
    calibration: String,
    roc: String,
}

const SIZE: f64 = 240.0;
const PAD: f64 = 36.0;

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Plot coordinates of a value pair in the unit square.
fn xy(x: f64, y: f64) -> (f64, f64) {
    (
        PAD + x.clamp(0.0, 1.0) * SIZE,
        PAD + (1.0 - y.clamp(0.0, 1.0)) * SIZE,
    )
}

fn axes(out: &mut String, xlabel: &str, ylabel: &str) {
    let (x0, y0) = xy(0.0, 0.0);
    let (x1, y1) = xy(1.0, 1.0);
    let _ = write!(
        out,
        r#"<rect x="{x0}" y="{y1}" width="{SIZE}" height="{SIZE}" class="chart-frame"/>"#
    );
    let _ = write!(
        out,
        r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" class="chart-diagonal"/>"#
    );
    for t in [0.0, 0.5, 1.0] {
        let (tx, _) = xy(t, 0.0);
        let (_, ty) = xy(0.0, t);
        let _ = write!(
            out,
            r#"<text x="{tx}" y="{}" class="chart-tick" text-anchor="middle">{t}</text><text x="{}" y="{}" class="chart-tick" text-anchor="end">{t}</text>"#,
            y0 + 14.0,
            x0 - 4.0,
            ty + 4.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" class="chart-label" text-anchor="middle">{xlabel}</text><text x="12" y="{}" class="chart-label" text-anchor="middle" transform="rotate(-90 12 {})">{ylabel}</text>"#,
        PAD + SIZE / 2.0,
        y0 + 30.0,
        PAD + SIZE / 2.0,
        PAD + SIZE / 2.0
    );
}

fn svg(label: &str, body: &str) -> String {
    let w = SIZE + PAD * 2.0;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {w}" width="{w}" height="{w}" role="img" aria-label="{label}" class="chart">{body}</svg>"#
    )
}

impl Charts {
    fn from_report(ev: &serde_json::Value) -> Charts {
        Charts {
            confusion: confusion_svg(ev),
            calibration: calibration_svg(ev),
            roc: roc_svg(ev),
        }
    }
}

fn confusion_svg(ev: &serde_json::Value) -> String {
    let m = |a: usize, p: usize| ev["confusion"]["matrix"][a][p].as_u64().unwrap_or(0);
    let names = ["negative", "positive"];
    let cell = SIZE / 2.0;
    let mut body = String::new();
    for actual in 0..2 {
        let row_total = (m(actual, 0) + m(actual, 1)).max(1) as f64;
        for predicted in 0..2 {
            let n = m(actual, predicted);
            let share = n as f64 / row_total;
            let x = PAD + predicted as f64 * cell;
            let y = PAD + actual as f64 * cell;
            let class = if actual == predicted {
                "cm-hit"
            } else {
                "cm-miss"
            };
            let _ = write!(
                body,
                r#"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" class="{class}" fill-opacity="{:.3}" data-testid="cm-{}-{}"/><text x="{}" y="{}" text-anchor="middle" class="cm-count">{n}</text>"#,
                0.15 + 0.85 * share,
                names[actual],
                names[predicted],
                x + cell / 2.0,
                y + cell / 2.0 + 6.0
            );
        }
    }
    for (i, name) in names.iter().enumerate() {
        let c = PAD + i as f64 * cell + cell / 2.0;
        let _ = write!(
            body,
            r#"<text x="{c}" y="{}" text-anchor="middle" class="chart-tick">{name}</text><text x="{}" y="{c}" text-anchor="middle" class="chart-tick" transform="rotate(-90 {} {c})">{name}</text>"#,
            PAD + SIZE + 14.0,
            PAD - 8.0,
            PAD - 8.0
        );
    }
    let _ = write!(
        body,
        r#"<text x="{}" y="{}" class="chart-label" text-anchor="middle">predicted</text><text x="10" y="{}" class="chart-label" text-anchor="middle" transform="rotate(-90 10 {})">actual</text>"#,
        PAD + SIZE / 2.0,
        PAD + SIZE + 30.0,
        PAD + SIZE / 2.0,
        PAD + SIZE / 2.0
    );
    svg("Confusion matrix", &body)
}

fn calibration_svg(ev: &serde_json::Value) -> String {
    let mut body = String::new();
    axes(
        &mut body,
        "predicted P(positive)",
        "observed share positive",
    );
    let bins = ev["calibration"].as_array().cloned().unwrap_or_default();
    let total: f64 = bins.iter().map(|b| num(&b["count"])).sum::<f64>().max(1.0);
    let mut points = Vec::new();
    for b in &bins {
        let (Some(p), Some(f)) = (
            b["mean_predicted"].as_f64(),
            b["fraction_positive"].as_f64(),
        ) else {
            continue;
        };
        let (x, y) = xy(p, f);
        let r = 3.0 + 9.0 * (num(&b["count"]) / total).sqrt();
        let _ = write!(
            body,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r:.1}" class="chart-point"/>"#
        );
        points.push(format!("{x:.1},{y:.1}"));
    }
    if points.len() > 1 {
        let _ = write!(
            body,
            r#"<polyline points="{}" class="chart-line"/>"#,
            points.join(" ")
        );
    }
    svg("Calibration curve", &body)
}

fn roc_svg(ev: &serde_json::Value) -> String {
    let mut body = String::new();
    axes(&mut body, "false positive rate", "true positive rate");
    let points: Vec<String> = ev["roc"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    let (x, y) = xy(num(&p["fpr"]), num(&p["tpr"]));
                    format!("{x:.1},{y:.1}")
                })
                .collect()
        })
        .unwrap_or_default();
    if !points.is_empty() {
        let _ = write!(
            body,
            r#"<polyline points="{}" class="chart-line"/>"#,
            points.join(" ")
        );
    }
    if let Some(auc) = ev["auc"].as_f64() {
        let _ = write!(
            body,
            r#"<text x="{}" y="{}" class="chart-label" text-anchor="end">AUC {auc:.3}</text>"#,
            PAD + SIZE - 6.0,
            PAD + SIZE - 8.0
        );
    }
    svg("ROC curve", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_draw_every_cell_bin_and_point() {
        let ev = serde_json::json!({
            "confusion": {"matrix": [[8, 2], [1, 9]]},
            "calibration": [
                {"count": 5, "mean_predicted": 0.1, "fraction_positive": 0.0},
                {"count": 0, "mean_predicted": null, "fraction_positive": null},
                {"count": 15, "mean_predicted": 0.8, "fraction_positive": 0.9}
            ],
            "roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 0.2, "tpr": 0.9}, {"fpr": 1.0, "tpr": 1.0}],
            "auc": 0.91
        });
        let c = Charts::from_report(&ev);
        assert_eq!(c.confusion.matches("<rect").count(), 4);
        assert!(c.confusion.contains(">9</text>"));
        assert_eq!(
            c.calibration.matches("<circle").count(),
            2,
            "empty bins are skipped"
        );
        assert!(c.roc.contains("AUC 0.910"));
        assert!(
            c.roc.contains("84.0,60.0"),
            "fpr 0.2, tpr 0.9 plotted: {}",
            c.roc
        );
    }
}
