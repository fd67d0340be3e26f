//! The tracker over the API, under /api/roadmaps.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::{self, ProgressRow, StoredRoadmap};
use super::{Progress, Tally};
use crate::error::{AppError, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::RequireUser;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(detail, remove))
        .routes(routes!(set_item))
        .routes(routes!(export))
}

#[derive(Serialize, ToSchema)]
pub struct TallyBody {
    total: usize,
    pending: usize,
    learning: usize,
    done: usize,
    skipped: usize,
    percent: u32,
}

impl From<&Tally> for TallyBody {
    fn from(t: &Tally) -> Self {
        TallyBody {
            total: t.total,
            pending: t.pending,
            learning: t.learning,
            done: t.done,
            skipped: t.skipped,
            percent: t.percent,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RoadmapSummary {
    id: i64,
    title: String,
    created_at: String,
    progress: TallyBody,
    url: String,
}

#[derive(Serialize, ToSchema)]
pub struct ItemBody {
    key: String,
    text: String,
    /// `[from, to]` day numbers for "Day" items; null for plain bullets.
    days: Option<[u32; 2]>,
    status: String,
    note: String,
}

#[derive(Serialize, ToSchema)]
pub struct WeekBody {
    title: String,
    weeks: [u32; 2],
    progress: TallyBody,
    items: Vec<ItemBody>,
}

#[derive(Serialize, ToSchema)]
pub struct PhaseBody {
    number: u32,
    title: String,
    goal: Option<String>,
    progress: TallyBody,
    weeks: Vec<WeekBody>,
}

#[derive(Serialize, ToSchema)]
pub struct TrackerRowBody {
    key: String,
    week: String,
    task: String,
    status: String,
}

#[derive(Serialize, ToSchema)]
pub struct IdeaBody {
    title: String,
    /// The Trellis app that implements it, if any.
    app: Option<String>,
    url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WarningBody {
    line: usize,
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct RoadmapBody {
    id: i64,
    title: String,
    progress: TallyBody,
    phases: Vec<PhaseBody>,
    tracker: Vec<TrackerRowBody>,
    project_ideas: Vec<IdeaBody>,
    warnings: Vec<WarningBody>,
    start_date: Option<String>,
    shared: bool,
}

fn status_str(progress: &HashMap<String, ProgressRow>, key: &str) -> String {
    super::status_of(progress, key).as_str().to_string()
}

fn body_of(
    state: &AppState,
    stored: &StoredRoadmap,
    progress: &HashMap<String, ProgressRow>,
) -> Result<RoadmapBody> {
    use trellis_roadmap::ItemKind;
    let roadmap = stored.roadmap()?;
    let (all, phase_t, week_t) = super::tallies(&roadmap, progress);
    let phases = roadmap
        .phases
        .iter()
        .enumerate()
        .map(|(pi, p)| PhaseBody {
            number: p.number,
            title: p.title.clone(),
            goal: p.goal.clone(),
            progress: (&phase_t[pi]).into(),
            weeks: p
                .weeks
                .iter()
                .enumerate()
                .map(|(wi, w)| WeekBody {
                    title: w.title.clone(),
                    weeks: [w.weeks.0, w.weeks.1],
                    progress: (&week_t[pi][wi]).into(),
                    items: w
                        .items
                        .iter()
                        .map(|i| ItemBody {
                            key: i.key.clone(),
                            text: i.text.clone(),
                            days: match i.kind {
                                ItemKind::Day { from, to } => Some([from, to]),
                                ItemKind::Bullet => None,
                            },
                            status: status_str(progress, &i.key),
                            note: progress
                                .get(&i.key)
                                .map(|r| r.note.clone())
                                .unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(RoadmapBody {
        id: stored.id,
        title: stored.title.clone(),
        progress: (&all).into(),
        phases,
        tracker: roadmap
            .tracker_rows()
            .map(|r| TrackerRowBody {
                key: r.key.clone(),
                week: r.week.clone(),
                task: r.task.clone(),
                status: status_str(progress, &r.key),
            })
            .collect(),
        project_ideas: roadmap
            .project_ideas
            .iter()
            .map(|i| IdeaBody {
                title: i.title.clone(),
                app: i.app_hint().map(str::to_string),
                url: i
                    .app_hint()
                    .and_then(|a| super::app_href(state, a))
                    .map(str::to_string),
            })
            .collect(),
        warnings: roadmap
            .warnings
            .iter()
            .map(|w| WarningBody {
                line: w.line,
                message: w.message.clone(),
            })
            .collect(),
        start_date: stored.start_date.clone(),
        shared: stored.share_token.is_some(),
    })
}

/// The caller's roadmaps, newest first, with overall progress.
#[utoipa::path(get, path = "/roadmaps", tag = "roadmaps", security(("token" = [])),
    params(api::PageParams),
    responses((status = 200, body = Page<RoadmapSummary>)))]
async fn list(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let paging = PageNumber::from_query(&q, 20, 100)?;
    let (rows, count) = models::page_of_owner(&state.db, user.id, paging.window()).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let progress_by_id = models::progress_of_many(&state.db, &ids).await?;
    let tallies = super::overall_tallies(&rows, progress_by_id).await?;
    let mut results = Vec::new();
    for (r, all) in rows.iter().zip(tallies) {
        results.push(RoadmapSummary {
            id: r.id,
            title: r.title.clone(),
            created_at: api::timestamp(&r.created_at),
            progress: (&all).into(),
            url: format!("/api/roadmaps/{}", r.id),
        });
    }
    Ok(axum::Json(paging.wrap(results, count, "/api/roadmaps", &q)?).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct NewRoadmap {
    /// The roadmap as Markdown (mojibake is repaired): phase (`## Phase 1: …`) or week headings with their
    /// items and tracker tables, as docs/tracker.md describes. A text the parser cannot read as a roadmap
    /// is refused with 422 naming the line.
    #[schema(value_type = String, content_media_type = "text/markdown")]
    markdown: Option<String>,
    /// Replaces the document's own title.
    title: Option<String>,
}

/// Import a Markdown roadmap. Statuses already in its tracker tables become progress.
#[utoipa::path(post, path = "/roadmaps", tag = "roadmaps", security(("token" = [])), request_body = NewRoadmap,
    responses((status = 201, body = RoadmapBody), (status = 422, description = "not a roadmap; the message names the line")))]
async fn create(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    ApiJson(body): ApiJson<NewRoadmap>,
) -> Result<Response> {
    let markdown = body.markdown.unwrap_or_default();
    if markdown.trim().is_empty() {
        return Err(AppError::invalid("markdown", "can't be blank"));
    }
    let roadmap = super::parse_blocking(markdown.into_bytes())
        .await
        .map_err(|m| AppError::invalid("markdown", m))?;
    let title = body
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let stored = super::import(&state, user.id, &roadmap, title).await?;
    let progress = models::progress_of(&state.db, stored.id).await?;
    let mut resp = (
        StatusCode::CREATED,
        axum::Json(body_of(&state, &stored, &progress)?),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/roadmaps/{}", stored.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// A roadmap with every item's status and the progress per week and phase.
#[utoipa::path(get, path = "/roadmaps/{id}", tag = "roadmaps", security(("token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = RoadmapBody), (status = 404, description = "no such roadmap of yours")))]
async fn detail(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&state.db, user.id, &id).await?;
    let id = stored.id;
    let progress = models::progress_of(&state.db, id).await?;
    Ok(axum::Json(body_of(&state, &stored, &progress)?).into_response())
}

/// Delete a roadmap and its progress.
#[utoipa::path(delete, path = "/roadmaps/{id}", tag = "roadmaps", security(("token" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, description = "no such roadmap of yours")))]
async fn remove(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    use sea_orm::EntityTrait;
    let stored = models::owned(&state.db, user.id, &id).await?;
    models::roadmap::Entity::delete_by_id(stored.id)
        .exec(&state.db)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct ItemUpdate {
    /// pending (❌), learning (🚧), done (✅) or skipped; left out, the status stays.
    #[schema(value_type = Option<ProgressStatus>)]
    status: Option<String>,
    #[schema(max_length = 2000)]
    note: Option<String>,
}

/// An item's status.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Only describes `ItemUpdate::status`, which is read as text.
pub enum ProgressStatus {
    Pending,
    Learning,
    Done,
    Skipped,
}

/// Set an item's (or tracker row's) status and note.
#[utoipa::path(patch, path = "/roadmaps/{id}/items/{key}", tag = "roadmaps", security(("token" = [])),
    params(("id" = i64, Path), ("key" = String, Path)), request_body = ItemUpdate,
    responses((status = 200, body = ItemStatus), (status = 404, description = "no such roadmap or item"),
              (status = 422, description = "invalid status")))]
async fn set_item(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    Path((id, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<ItemUpdate>,
) -> Result<Response> {
    let stored = models::owned(&state.db, user.id, &id).await?;
    let id = stored.id;
    let roadmap = stored.roadmap()?;
    if roadmap.item(&key).is_none() && roadmap.tracker_row(&key).is_none() {
        return Err(AppError::not_found("item"));
    }
    let progress = models::progress_of(&state.db, id).await?;
    let status = match body.status.as_deref() {
        Some(s) => Progress::parse(s).ok_or_else(|| {
            AppError::invalid("status", "must be pending, learning, done or skipped")
        })?,
        None => super::status_of(&progress, &key),
    };
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(AppError::invalid(
            "note",
            "is too long (maximum is 2000 characters)",
        ));
    }
    models::set_progress(&state.db, id, &key, status, body.note.as_deref()).await?;
    let progress = models::progress_of(&state.db, id).await?;
    let (all, _, _) = super::tallies(&roadmap, &progress);
    Ok(axum::Json(ItemStatus {
        key: key.clone(),
        status: status.as_str().to_string(),
        note: progress
            .get(&key)
            .map(|r| r.note.clone())
            .unwrap_or_default(),
        roadmap_progress: (&all).into(),
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct ItemStatus {
    key: String,
    status: String,
    note: String,
    roadmap_progress: TallyBody,
}

/// The roadmap as Markdown in its own format, tracker tables filled with ✅/🚧/❌.
#[utoipa::path(get, path = "/roadmaps/{id}/export", tag = "roadmaps", security(("token" = [])), params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/markdown", body = String)))]
async fn export(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&state.db, user.id, &id).await?;
    let id = stored.id;
    let progress = models::progress_of(&state.db, id).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown; charset=utf-8"),
        )],
        super::export(&stored.roadmap()?, &progress),
    )
        .into_response())
}
