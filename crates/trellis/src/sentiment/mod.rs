//! Sentiment analysis on the `trellis-sentiment` engine: the analyze API and try-it page, uploaded
//! datasets, background analysis and training jobs, and users' own models with their evaluation reports.
//! Built-in models: `default` (the linear model embedded in the binary) and `lexicon` (VADER); a user's
//! trained models are selectable by name for that user only.

pub mod admin;
pub mod api;
pub mod datasets;
pub mod models;
pub mod pages;
pub mod runs;
pub mod upload;
pub mod work;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use serde::{Deserialize, Serialize};
use trellis_sentiment::{LexiconModel, LinearModel, Model, Prediction};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Settings;
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::ApiJson;
use crate::http::auth::MaybeUser;
use crate::http::templates::Ctx;
use crate::state::AppState;

/// Texts per request; more is answered 413.
pub const MAX_BATCH: usize = 256;
/// Characters per text; longer is answered 422.
pub const MAX_CHARS: usize = 5000;

/// A model every user can call by name.
pub struct Entry {
    pub name: &'static str,
    pub kind: &'static str,
    pub description: &'static str,
    pub model: Arc<dyn Model>,
}

/// Names reserved for built-in models, whether or not they are installed here.
const BUILTIN_NAMES: [&str; 4] = ["default", "lexicon", "transformer", "ensemble"];

/// The models inside the binary, loaded once per process (the embedded weights are decoded on first use).
fn shipped() -> &'static [Entry] {
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

/// Texts the transformer runs in one forward pass at most, and how long a request waits for others.
const MICRO_BATCH: usize = 64;
const MICRO_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(3);

/// The built-in models of this instance: the shipped ones, and the transformer and the ensemble when the
/// encoder is installed in `sentiment_encoder_dir`.
pub struct Builtins {
    encoder_models: Vec<Entry>,
}

impl Builtins {
    /// Loads the transformer if its encoder is installed; a broken install is logged and left out.
    pub fn load(settings: &Settings) -> Builtins {
        let dir = settings.encoder_dir();
        if !dir.join("model.safetensors").is_file() {
            return Builtins {
                encoder_models: Vec::new(),
            };
        }
        match load_encoder_models(&dir) {
            Ok(encoder_models) => {
                tracing::info!(dir = %dir.display(), "sentiment transformer loaded");
                Builtins { encoder_models }
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "the sentiment transformer is not available");
                Builtins {
                    encoder_models: Vec::new(),
                }
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        shipped().iter().chain(&self.encoder_models)
    }

    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.iter().find(|e| e.name == name)
    }

    /// Whether the transformer's encoder is installed and loaded.
    pub fn has_transformer(&self) -> bool {
        !self.encoder_models.is_empty()
    }
}

/// The transformer (micro-batched) and the ensemble that stacks it with `default`.
fn load_encoder_models(dir: &std::path::Path) -> trellis_sentiment::Result<Vec<Entry>> {
    use trellis_sentiment::ensemble::{Stacked, shipped_stack};
    use trellis_sentiment::transformer::{Encoder, MicroBatched, TransformerModel, default_head};
    let encoder = Arc::new(Encoder::load(dir)?);
    let transformer: Arc<dyn Model> = Arc::new(MicroBatched::new(
        Arc::new(TransformerModel::new(encoder, default_head())),
        MICRO_BATCH,
        MICRO_BATCH_WINDOW,
    ));
    let linear = shipped()
        .iter()
        .find(|e| e.name == "default")
        .expect("the default model is shipped")
        .model
        .clone();
    let ensemble = Stacked::new(shipped_stack()?, vec![linear, transformer.clone()])?;
    Ok(vec![
        Entry {
            name: "transformer",
            kind: "transformer",
            description: "The all-MiniLM-L6-v2 sentence encoder with a logistic-regression head trained on movie-review sentences.",
            model: transformer,
        },
        Entry {
            name: "ensemble",
            kind: "ensemble",
            description: "`default` and `transformer` stacked: a logistic regression over both models' log-odds; the most accurate, at the transformer's speed.",
            model: Arc::new(ensemble),
        },
    ])
}

/// Whether `name` belongs to a built-in model (users cannot take these names).
pub fn is_builtin(name: &str) -> bool {
    BUILTIN_NAMES.contains(&name)
}

/// The sentiment app's share of the application state.
#[derive(Clone)]
pub struct Shared {
    pub models: Arc<ModelCache>,
    pub builtins: Arc<Builtins>,
}

/// The app's shared state, loaded once per application.
pub fn shared(state: &AppState) -> &Shared {
    state.ext::<Shared>()
}

fn init(settings: &Settings, ext: &mut axum::http::Extensions) {
    ext.insert(Shared {
        models: Arc::default(),
        builtins: Arc::new(Builtins::load(settings)),
    });
}

/// Users' models decoded from the database, by id, so a request does not decode megabytes of weights.
/// Per application (ids are per database); models never change after training, so an entry is never stale.
#[derive(Default)]
pub struct ModelCache(Mutex<HashMap<i64, Arc<LinearModel>>>);

/// Decoded user models kept at once; beyond it the cache starts over.
const CACHE_CAPACITY: usize = 16;

impl ModelCache {
    fn get(&self, id: i64) -> Option<Arc<LinearModel>> {
        self.0.lock().expect("cache lock").get(&id).cloned()
    }

    fn put(&self, id: i64, model: Arc<LinearModel>) {
        let mut map = self.0.lock().expect("cache lock");
        if map.len() >= CACHE_CAPACITY {
            map.clear();
        }
        map.insert(id, model);
    }

    pub fn forget(&self, id: i64) {
        self.0.lock().expect("cache lock").remove(&id);
    }
}

/// A model ready to run, under the name it answers to.
pub struct Resolved {
    pub name: String,
    pub model: Arc<dyn Model>,
}

/// Finds a built-in model, or one of `owner`'s trained models; anything else is 404 (another user's
/// model does not exist for you).
pub async fn resolve(state: &AppState, owner: Option<i64>, name: Option<&str>) -> Result<Resolved> {
    let wanted = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    if let Some(entry) = shared(state).builtins.find(wanted) {
        return Ok(Resolved {
            name: entry.name.to_string(),
            model: entry.model.clone(),
        });
    }
    if is_builtin(wanted) {
        return Err(AppError::not_found("model"));
    }
    let owner = owner.ok_or_else(|| AppError::not_found("model"))?;
    let meta = models::find_model(&state.db, owner, wanted)
        .await?
        .ok_or_else(|| AppError::not_found("model"))?;
    let model = match shared(state).models.get(meta.id) {
        Some(m) => m,
        None => {
            let bytes = models::model_weights(&state.db, meta.id)
                .await?
                .ok_or_else(|| AppError::not_found("model"))?;
            let m = tokio::task::spawn_blocking(move || LinearModel::from_bytes(&bytes))
                .await
                .map_err(|e| AppError::Internal(e.into()))?
                .map_err(|e| AppError::Internal(anyhow::anyhow!("model {}: {e}", meta.id)))?;
            let m = Arc::new(m);
            shared(state).models.put(meta.id, m.clone());
            m
        }
    };
    Ok(Resolved {
        name: meta.name,
        model,
    })
}

/// Runs a model off the async runtime.
pub async fn predict(model: Arc<dyn Model>, texts: Vec<String>) -> Result<Vec<Prediction>> {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let out = model.predict_batch(&refs);
        crate::http::metrics::record_prediction(refs.len(), started.elapsed());
        out
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))
}

/// A built-in model over `texts` (what the CLI uses; it has no user).
pub async fn analyze(
    builtins: &Builtins,
    model: Option<&str>,
    texts: Vec<String>,
) -> Result<(&'static str, Vec<Prediction>)> {
    let name = model
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let entry = builtins
        .find(name)
        .ok_or_else(|| AppError::not_found("model"))?;
    let out = predict(entry.model.clone(), texts).await?;
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
    Router::new()
        .route("/sentiment/", get(page).post(try_it))
        .merge(pages::router())
}

/// Sentiment analysis: the analyze API and page, datasets, background analysis and training jobs.
pub fn app() -> crate::registry::AppConfig {
    crate::registry::AppConfig {
        label: "sentiment",
        name: "Sentiment",
        pages: router,
        api: Some(api_router),
        api_tags: &[("sentiment", "Sentiment analysis")],
        jobs: &[
            (work::ANALYZE, |ctx| Box::pin(work::analyze(ctx))),
            (work::TRAIN, |ctx| Box::pin(work::train(ctx))),
        ],
        nav: Some(crate::registry::NavEntry {
            label: "Sentiment",
            href: "/sentiment/",
            summary: "Analyse the sentiment of text; train on your data.",
        }),
        permissions: &[],
        templates: crate::embedded_templates![
            "sentiment/_nav.html",
            "sentiment/index.html",
            "sentiment/datasets.html",
            "sentiment/dataset.html",
            "sentiment/jobs.html",
            "sentiment/job.html",
            "sentiment/models.html",
            "sentiment/model.html",
        ],
        sessionless_templates: &[],
        cached_views: &[],
        models: admin::models,
        init: Some(init),
    }
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(analyze_api))
        .routes(routes!(list_models))
        .merge(api::router())
}

#[derive(Deserialize, ToSchema)]
pub struct AnalyzeRequest {
    /// One text…
    text: Option<String>,
    /// …or up to 256.
    texts: Option<Vec<String>>,
    /// `default` (when left out), `lexicon`, or the name of one of your trained models.
    model: Option<String>,
}

/// The schema of the body `analyze_api` reads as [`AnalyzeRequest`]: one text or a batch of texts, never
/// both. Written out because each branch must also say that the other's field is absent (or null), so
/// that exactly one branch fits any body.
pub struct AnalyzeBody;

impl utoipa::PartialSchema for AnalyzeBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let text = serde_json::json!({
            "type": "string", "maxLength": MAX_CHARS, "pattern": crate::http::api::NOT_BLANK,
            "description": format!("At most {MAX_CHARS} characters, not blank."),
        });
        let model = serde_json::json!({
            "type": ["string", "null"],
            "description": "`default` (when left out or blank), `lexicon`, or the name of one of your trained models.",
        });
        let absent = serde_json::json!({"type": "null"});
        serde_json::from_value(serde_json::json!({
            "description": "One `text`, or `texts` (a batch answered in order); never both.",
            "oneOf": [
                {"type": "object", "required": ["text"],
                 "properties": {"text": text, "texts": absent, "model": model}},
                {"type": "object", "required": ["texts"],
                 "properties": {
                     "texts": {"type": "array", "items": text, "minItems": 1, "maxItems": MAX_BATCH},
                     "text": absent, "model": model,
                 }},
            ],
        }))
        .expect("a valid schema")
    }
}

impl ToSchema for AnalyzeBody {}

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
#[utoipa::path(post, path = "/sentiment/analyze", tag = "sentiment", request_body = AnalyzeBody,
    responses((status = 200, description = "label, score and per-class scores"),
              (status = 404, description = "unknown model"), (status = 413, description = "more than 256 texts"),
              (status = 422, description = "blank or too long text")))]
async fn analyze_api(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    ApiJson(req): ApiJson<AnalyzeRequest>,
) -> Result<Response> {
    let owner = user.map(|u| u.id);
    match (req.text, req.texts) {
        (Some(text), None) => {
            check_texts(std::slice::from_ref(&text), "text")?;
            let m = resolve(&state, owner, req.model.as_deref()).await?;
            let name = m.name;
            let mut out = predict(m.model, vec![text]).await?;
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
            let m = resolve(&state, owner, req.model.as_deref()).await?;
            let name = m.name;
            let out = predict(m.model, texts).await?;
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
    /// `lexicon` or `linear`.
    kind: String,
    description: String,
    /// `builtin` for everyone's models, `user` for your own trained ones.
    source: String,
    /// Your model's accuracy on the held-out part of its dataset; null for built-in models.
    accuracy: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelsBody {
    models: Vec<ModelBody>,
}

/// Built-in models, then the user's own.
async fn available(state: &AppState, owner: Option<i64>) -> Result<Vec<ModelBody>> {
    let mut out: Vec<ModelBody> = state
        .ext::<Shared>()
        .builtins
        .iter()
        .map(|e| ModelBody {
            name: e.name.into(),
            kind: e.kind.into(),
            description: e.description.into(),
            source: "builtin".into(),
            accuracy: None,
        })
        .collect();
    if let Some(owner) = owner {
        for m in models::list_models(&state.db, owner).await? {
            let report = m.report_json();
            out.push(ModelBody {
                description: format!(
                    "Trained on your dataset `{}`.",
                    report
                        .pointer("/dataset/name")
                        .and_then(|v| v.as_str())
                        .unwrap_or("?")
                ),
                accuracy: report
                    .pointer("/evaluation/accuracy")
                    .and_then(|v| v.as_f64()),
                name: m.name,
                kind: m.kind,
                source: "user".into(),
            });
        }
    }
    Ok(out)
}

/// The models that `analyze` accepts: the built-in ones and, when signed in, your own.
#[utoipa::path(get, path = "/sentiment/models", tag = "sentiment", responses((status = 200, body = ModelsBody)))]
async fn list_models(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
) -> Result<Response> {
    let models = available(&state, user.map(|u| u.id)).await?;
    Ok(axum::Json(ModelsBody { models }).into_response())
}

async fn model_list(ctx: &Ctx) -> Result<minijinja::Value> {
    let list = available(&ctx.state, ctx.user.as_ref().map(|u| u.id)).await?;
    Ok(minijinja::Value::from_serialize(&list))
}

async fn page(ctx: Ctx) -> Result<Response> {
    let models = model_list(&ctx).await?;
    ctx.render(
        "sentiment/index.html",
        context! { models => models, text => "", model => "default" },
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
async fn try_it(ctx: Ctx, axum::Form(form): axum::Form<TryForm>) -> Result<Response> {
    let texts = vec![form.text.clone()];
    let models = model_list(&ctx).await?;
    if let Err(AppError::Validation(errors)) = check_texts(&texts, "text") {
        return ctx
            .render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "sentiment/index.html",
                context! { models => models, text => form.text, model => form.model,
                errors => minijinja::Value::from_serialize(&errors.0) },
            )
            .await;
    }
    let m = resolve(
        &ctx.state,
        ctx.user.as_ref().map(|u| u.id),
        Some(&form.model),
    )
    .await?;
    let name = m.name;
    let out = predict(m.model, texts).await?;
    let p = &out[0];
    ctx.render(
        "sentiment/index.html",
        context! {
            models => models, text => form.text, model => name,
            result => context! { label => p.label.as_str(), percent => (p.score * 100.0).round() as u32,
                                  positive => format!("{:.3}", p.scores.positive), negative => format!("{:.3}", p.scores.negative) },
        },
    )
    .await
}
