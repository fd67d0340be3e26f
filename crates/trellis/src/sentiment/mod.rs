//! Sentiment analysis served over the API and a try-it page, on the `trellis-sentiment` engine.
//! Models: `default` (the linear model embedded in the binary) and `lexicon` (VADER).

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};
use trellis_sentiment::{LexiconModel, Model, Prediction};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::ApiJson;
use crate::http::templates::Ctx;
use crate::state::AppState;

/// Texts per request; more is answered 413.
pub const MAX_BATCH: usize = 256;
/// Characters per text; longer is answered 422.
pub const MAX_CHARS: usize = 5000;

struct Entry {
    name: &'static str,
    kind: &'static str,
    description: &'static str,
    model: Arc<dyn Model>,
}

/// The models, loaded once (the embedded weights are decoded on first use).
fn models() -> &'static [Entry] {
    static MODELS: OnceLock<Vec<Entry>> = OnceLock::new();
    MODELS.get_or_init(|| {
        vec![
            Entry {
                name: "default",
                kind: "linear",
                description: "Hashed word and character n-grams with NB-weighted logistic regression, trained on movie-review sentences; embedded in the binary.",
                model: Arc::new(trellis_sentiment::default_model()),
            },
            Entry {
                name: "lexicon",
                kind: "lexicon",
                description: "VADER, a rule-based lexicon; a baseline that needs no training.",
                model: Arc::new(LexiconModel::new()),
            },
        ]
    })
}

fn find(name: Option<&str>) -> Result<&'static Entry> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    models()
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| AppError::not_found("model"))
}

/// Runs a model off the async runtime.
pub async fn analyze(
    model: Option<&str>,
    texts: Vec<String>,
) -> Result<(&'static str, Vec<Prediction>)> {
    let entry = find(model)?;
    let m = entry.model.clone();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        m.predict_batch(&refs)
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?;
    Ok((entry.name, out))
}

fn check_texts(texts: &[String], field: &str) -> Result<()> {
    if texts.len() > MAX_BATCH {
        return Err(AppError::PayloadTooLarge(format!(
            "at most {MAX_BATCH} texts per request"
        )));
    }
    let mut errors = FieldErrors::new();
    for (i, t) in texts.iter().enumerate() {
        let name = if field == "text" {
            "text".to_string()
        } else {
            format!("texts[{i}]")
        };
        if t.trim().is_empty() {
            errors.add(&name, "can't be blank");
        } else if t.chars().count() > MAX_CHARS {
            errors.add(
                &name,
                format!("is too long (maximum is {MAX_CHARS} characters)"),
            );
        }
    }
    errors.into_result()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/sentiment/", get(page).post(try_it))
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(analyze_api))
        .routes(routes!(list_models))
}

#[derive(Deserialize, ToSchema)]
pub struct AnalyzeRequest {
    /// One text…
    text: Option<String>,
    /// …or up to 256.
    texts: Option<Vec<String>>,
    /// `default` (when left out) or `lexicon`.
    model: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ScoresBody {
    positive: f32,
    negative: f32,
}

#[derive(Serialize, ToSchema)]
pub struct ResultBody {
    /// `positive` or `negative`.
    label: String,
    /// Probability of the label.
    score: f32,
    scores: ScoresBody,
}

fn result_body(p: &Prediction) -> ResultBody {
    ResultBody {
        label: p.label.as_str().to_string(),
        score: p.score,
        scores: ScoresBody {
            positive: p.scores.positive,
            negative: p.scores.negative,
        },
    }
}

/// Sentiment of one text (`{"model","label","score","scores"}`) or of many (`{"model","results":[…]}` in
/// input order).
#[utoipa::path(post, path = "/sentiment/analyze", tag = "sentiment", request_body = AnalyzeRequest,
    responses((status = 200, description = "label, score and per-class scores"),
              (status = 404, description = "unknown model"), (status = 413, description = "more than 256 texts"),
              (status = 422, description = "blank or too long text")))]
async fn analyze_api(ApiJson(req): ApiJson<AnalyzeRequest>) -> Result<Response> {
    match (req.text, req.texts) {
        (Some(text), None) => {
            check_texts(std::slice::from_ref(&text), "text")?;
            let (name, mut out) = analyze(req.model.as_deref(), vec![text]).await?;
            let r = result_body(&out.pop().expect("one prediction per text"));
            Ok(axum::Json(serde_json::json!({
                "model": name, "label": r.label, "score": r.score, "scores": r.scores,
            }))
            .into_response())
        }
        (None, Some(texts)) => {
            if texts.is_empty() {
                return Err(AppError::invalid("texts", "can't be empty"));
            }
            check_texts(&texts, "texts")?;
            let (name, out) = analyze(req.model.as_deref(), texts).await?;
            let results: Vec<ResultBody> = out.iter().map(result_body).collect();
            Ok(
                axum::Json(serde_json::json!({ "model": name, "results": results }))
                    .into_response(),
            )
        }
        (Some(_), Some(_)) => Err(AppError::invalid(
            "text",
            "send either text or texts, not both",
        )),
        (None, None) => Err(AppError::invalid("text", "can't be blank")),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ModelBody {
    name: String,
    kind: String,
    description: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModelsBody {
    models: Vec<ModelBody>,
}

/// The models that `analyze` accepts.
#[utoipa::path(get, path = "/sentiment/models", tag = "sentiment", responses((status = 200, body = ModelsBody)))]
async fn list_models() -> Response {
    let models = models()
        .iter()
        .map(|e| ModelBody {
            name: e.name.into(),
            kind: e.kind.into(),
            description: e.description.into(),
        })
        .collect();
    axum::Json(ModelsBody { models }).into_response()
}

fn model_list() -> Vec<minijinja::Value> {
    models()
        .iter()
        .map(|e| context! { name => e.name, kind => e.kind, description => e.description })
        .collect()
}

async fn page(ctx: Ctx) -> Result<Response> {
    ctx.render(
        "sentiment/index.html",
        context! { models => model_list(), text => "", model => "default" },
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TryForm {
    text: String,
    model: String,
}

/// The try-it box as a plain form (works without JavaScript).
async fn try_it(
    ctx: Ctx,
    State(_): State<AppState>,
    axum::Form(form): axum::Form<TryForm>,
) -> Result<Response> {
    let texts = vec![form.text.clone()];
    if let Err(AppError::Validation(errors)) = check_texts(&texts, "text") {
        return ctx
            .render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "sentiment/index.html",
                context! { models => model_list(), text => form.text, model => form.model,
                errors => minijinja::Value::from_serialize(&errors.0) },
            )
            .await;
    }
    let (name, out) = analyze(Some(&form.model), texts).await?;
    let p = &out[0];
    ctx.render(
        "sentiment/index.html",
        context! {
            models => model_list(), text => form.text, model => name,
            result => context! { label => p.label.as_str(), percent => (p.score * 100.0).round() as u32,
                                  positive => format!("{:.3}", p.scores.positive), negative => format!("{:.3}", p.scores.negative) },
        },
    )
    .await
}
