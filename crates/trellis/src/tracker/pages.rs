//! Tracker pages under /tracker/: import, the roadmap with one-click statuses, today, planning, sharing,
//! calendar and Markdown export.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use minijinja::{Value, context};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};
use serde::Deserialize;
use trellis_roadmap::{ItemKind, Roadmap};

use super::models::{self, ProgressRow};
use super::{Plan, Progress, Tally};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::auth::RequireUser;
use crate::http::templates::Ctx;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tracker/", get(index).post(import))
        .route("/tracker/share/{token}/", get(shared))
        .route("/tracker/{id}/", get(detail))
        .route("/tracker/{id}/items/{key}/", post(set_status))
        .route("/tracker/{id}/today/", get(today))
        .route("/tracker/{id}/plan/", get(plan_form).post(save_plan))
        .route("/tracker/{id}/calendar.ics", get(calendar))
        .route("/tracker/{id}/export.md", get(export))
        .route("/tracker/{id}/share/", post(share))
        .route("/tracker/{id}/share/revoke/", post(unshare))
        .route("/tracker/{id}/delete/", post(delete))
}

async fn index(ctx: Ctx, RequireUser(user): RequireUser) -> Result<Response> {
    render_index(&ctx, user.id, StatusCode::OK, context! {}).await
}

async fn render_index(
    ctx: &Ctx,
    user_id: i64,
    status: StatusCode,
    extra: Value,
) -> Result<Response> {
    let stored = models::newest_of_owner(&ctx.state.db, user_id, 100).await?;
    let ids: Vec<i64> = stored.iter().map(|r| r.id).collect();
    let progress_by_id = models::progress_of_many(&ctx.state.db, &ids).await?;
    let tallies = super::overall_tallies(&stored, progress_by_id).await?;
    let mut list = Vec::new();
    for (r, all) in stored.iter().zip(tallies) {
        list.push(context! { id => r.id, title => r.title, created_at => r.created_at.to_rfc3339(), tally => all });
    }
    ctx.render_status(
        status,
        "tracker/index.html",
        context! { roadmaps => list, ..extra },
    )
    .await
}

/// Upload a file or paste Markdown.
async fn import(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    multipart: Multipart,
) -> Result<Response> {
    let mut form = crate::http::forms::MultipartForm::read(multipart, &["file"]).await?;
    let bytes: Vec<u8> = form
        .take_file("file")
        .map(|f| f.bytes.to_vec())
        .unwrap_or_default();
    let pasted = form.take_text("markdown");
    let title = form.take_text("title");
    // An error goes beside the field the roadmap came from, and the form keeps what was pasted.
    let (source, field) = if !bytes.is_empty() {
        (bytes, "file")
    } else {
        (pasted.clone().into_bytes(), "markdown")
    };
    let refuse = |field: &str, msg: String| {
        let errors = FieldErrors::single(field, msg);
        render_index(
            &ctx,
            user.id,
            StatusCode::UNPROCESSABLE_ENTITY,
            context! { errors => Value::from_serialize(&errors.0), markdown => pasted, title => title },
        )
    };
    if source.iter().all(|b| b.is_ascii_whitespace()) {
        return refuse("file", "choose a file or paste a roadmap".into()).await;
    }
    match super::parse_blocking(source).await {
        Ok(roadmap) => {
            let title = Some(title.trim()).filter(|t| !t.is_empty());
            let stored = super::import(&ctx.state, user.id, &roadmap, title).await?;
            let c = roadmap.counts();
            ctx.flash(
                "success",
                format!(
                    "Imported {} phases, {} week sections, {} items, {} tracker rows and {} project ideas{}.",
                    c.phases,
                    c.weeks,
                    c.items,
                    c.tracker_rows,
                    c.project_ideas,
                    match roadmap.warnings.len() { 0 => String::new(), 1 => " (1 warning)".to_string(), n => format!(" ({n} warnings)") }
                ),
            )
            .await;
            Ok(Redirect::to(&format!("/tracker/{}/", stored.id)).into_response())
        }
        Err(msg) => refuse(field, msg).await,
    }
}

fn kind_label(kind: &ItemKind) -> String {
    match kind {
        ItemKind::Day { from, to } if from == to => format!("Day {from}"),
        ItemKind::Day { from, to } => format!("Day {from}-{to}"),
        ItemKind::Bullet => String::new(),
    }
}

fn weeks_label(w: (u32, u32)) -> String {
    if w.0 == w.1 {
        format!("Week {}", w.0)
    } else {
        format!("Weeks {}-{}", w.0, w.1)
    }
}

/// The whole roadmap as template data, with statuses, tallies and the chart.
fn roadmap_value(
    state: &AppState,
    roadmap: &Roadmap,
    progress: &HashMap<String, ProgressRow>,
) -> Value {
    let (all, phase_tallies, week_tallies) = super::tallies(roadmap, progress);
    let mut chart_rows: Vec<(String, &Tally)> = Vec::new();
    let mut phases = Vec::new();
    for (pi, phase) in roadmap.phases.iter().enumerate() {
        chart_rows.push((format!("Phase {}", phase.number), &phase_tallies[pi]));
        let mut weeks = Vec::new();
        for (wi, week) in phase.weeks.iter().enumerate() {
            chart_rows.push((
                format!("  {}", weeks_label(week.weeks)),
                &week_tallies[pi][wi],
            ));
            let items: Vec<Value> = week
                .items
                .iter()
                .map(|i| {
                    let status = super::status_of(progress, &i.key);
                    context! {
                        key => i.key, text => i.text, label => kind_label(&i.kind),
                        status => status.as_str(), emoji => status.emoji(), status_label => status.label(),
                        note => progress.get(&i.key).map(|p| p.note.clone()).unwrap_or_default(),
                        notes => i.notes, resources => i.resources.iter().map(|l| context!{ title => l.title, url => l.url }).collect::<Vec<_>>(),
                    }
                })
                .collect();
            weeks.push(context! {
                title => week.title, label => weeks_label(week.weeks), items => items, notes => week.notes,
                tally => week_tallies[pi][wi],
            });
        }
        phases.push(context! {
            number => phase.number, title => phase.title, goal => phase.goal, weeks => weeks,
            tally => phase_tallies[pi],
        });
    }
    let tracker: Vec<Value> = roadmap
        .tracker
        .iter()
        .map(|t| {
            let rows: Vec<Value> = t
                .rows
                .iter()
                .map(|r| {
                    let s = super::status_of(progress, &r.key);
                    context! { key => r.key, week => r.week, task => r.task, status => s.as_str(), emoji => s.emoji(), label => s.label() }
                })
                .collect();
            context! { title => t.title, rows => rows }
        })
        .collect();
    let ideas: Vec<Value> = roadmap
        .project_ideas
        .iter()
        .map(|idea| {
            let app = idea.app_hint();
            let href = app.and_then(|a| super::app_href(state, a));
            context! { title => idea.title, description => idea.description, features => idea.features,
                       tech_stack => idea.tech_stack, app => app, href => href }
        })
        .collect();
    let warnings: Vec<Value> = roadmap
        .warnings
        .iter()
        .map(|w| context! { line => w.line, message => w.message })
        .collect();
    context! {
        title => roadmap.title, intro => roadmap.intro, phases => phases, tracker => tracker, ideas => ideas,
        warnings => warnings, notes => roadmap.notes, tally => all, counts => roadmap.counts(),
        chart => Value::from_safe_string(super::svg_bars(&chart_rows)),
        repaired => roadmap.repaired_encoding.map(|e| e.to_string()),
    }
}

async fn detail(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    let id = stored.id;
    let roadmap = stored.roadmap()?;
    let progress = models::progress_of(&ctx.state.db, id).await?;
    let days = models::active_days(&ctx.state.db, id).await?;
    let streak = super::streak(&days, Utc::now().date_naive());
    ctx.render(
        "tracker/detail.html",
        context! {
            id => id, name => stored.title, doc => roadmap_value(&ctx.state, &roadmap, &progress), streak => streak,
            statuses => Progress::ALL.iter().map(|p| context!{ value => p.as_str(), emoji => p.emoji(), label => p.label() }).collect::<Vec<_>>(),
            share_url => stored.share_token.as_ref().map(|t| format!("{}/tracker/share/{t}/", ctx.state.settings.base_url())),
            planned => stored.start_date.is_some(), readonly => false,
        },
    )
    .await
}

async fn shared(ctx: Ctx, Path(token): Path<String>) -> Result<Response> {
    let stored = models::by_share_token(&ctx.state.db, &token)
        .await?
        .ok_or_else(|| AppError::not_found("roadmap"))?;
    let roadmap = stored.roadmap()?;
    let progress = models::progress_of(&ctx.state.db, stored.id).await?;
    let owner = crate::accounts::models::find_by_id(&ctx.state.db, stored.owner_id).await?;
    ctx.render(
        "tracker/detail.html",
        context! {
            id => stored.id, name => stored.title, doc => roadmap_value(&ctx.state, &roadmap, &progress), readonly => true,
            owner => owner.map(|o| o.shown_name().to_string()),
        },
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatusForm {
    status: String,
    note: Option<String>,
}

/// One click: set an item's (or tracker row's) status; back to where the user was.
async fn set_status(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path((id, key)): Path<(String, String)>,
    axum::Form(form): axum::Form<StatusForm>,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    let id = stored.id;
    let roadmap = stored.roadmap()?;
    if roadmap.item(&key).is_none() && roadmap.tracker_row(&key).is_none() {
        return Err(AppError::not_found("item"));
    }
    let status = Progress::parse(&form.status)
        .ok_or_else(|| AppError::invalid("status", "must be pending, learning, done or skipped"))?;
    if form.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(AppError::invalid(
            "note",
            "is too long (maximum is 2000 characters)",
        ));
    }
    models::set_progress(&ctx.state.db, id, &key, status, form.note.as_deref()).await?;
    Ok(Redirect::to(&format!("/tracker/{id}/#{key}")).into_response())
}

async fn today(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    let id = stored.id;
    let Some(plan) = Plan::of(&stored) else {
        ctx.flash(
            "info",
            "Today lists what is due once the roadmap is on your calendar: pick a start date first.",
        )
        .await;
        return Ok(Redirect::to(&format!("/tracker/{id}/plan/")).into_response());
    };
    let roadmap = stored.roadmap()?;
    let progress = models::progress_of(&ctx.state.db, id).await?;
    let date = Utc::now().date_naive();
    let open = |s: &&super::Scheduled| {
        !matches!(
            super::status_of(&progress, &s.key),
            Progress::Done | Progress::Skipped
        )
    };
    let item = |s: &super::Scheduled| {
        let st = super::status_of(&progress, &s.key);
        context! { key => s.key, text => s.text, week => s.week_title, first => s.first.to_string(),
        last => s.last.to_string(), status => st.as_str(), emoji => st.emoji() }
    };
    let schedule = super::schedule(&roadmap, &plan);
    let due: Vec<Value> = schedule
        .iter()
        .filter(|s| s.first <= date && s.last >= date)
        .filter(open)
        .map(item)
        .collect();
    let overdue: Vec<Value> = schedule
        .iter()
        .filter(|s| s.last < date)
        .filter(open)
        .map(item)
        .collect();
    let next: Vec<Value> = schedule
        .iter()
        .filter(|s| s.first > date)
        .filter(open)
        .take(5)
        .map(item)
        .collect();
    let days = models::active_days(&ctx.state.db, id).await?;
    ctx.render(
        "tracker/today.html",
        context! { id => id, name => stored.title, date => date.to_string(), due => due, overdue => overdue,
                   next => next, streak => super::streak(&days, date),
                   finish => schedule.last().map(|s| s.last.to_string()),
                   statuses => Progress::ALL.iter().map(|p| context!{ value => p.as_str(), emoji => p.emoji(), label => p.label() }).collect::<Vec<_>>() },
    )
    .await
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

async fn plan_form(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    let id = stored.id;
    let rest: Vec<&str> = stored
        .rest_days
        .split(',')
        .filter(|s| !s.is_empty())
        .collect();
    ctx.render(
        "tracker/plan.html",
        context! { id => id, name => stored.title, start_date => stored.start_date.clone().unwrap_or_else(|| Utc::now().date_naive().to_string()),
                   days_per_week => stored.days_per_week, weekdays => WEEKDAYS, rest => rest, errors => context!{} },
    )
    .await
}

/// Start date, days per week and rest days. `rest` may repeat (one checkbox per weekday).
async fn save_plan(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
    body: String,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    let id = stored.id;
    let mut start = String::new();
    let mut dpw = String::new();
    let mut rest = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
        match k.as_ref() {
            "start_date" => start = v.into_owned(),
            "days_per_week" => dpw = v.into_owned(),
            "rest" => rest.push(v.into_owned()),
            _ => {}
        }
    }
    let mut errors = FieldErrors::new();
    let start_date = NaiveDate::parse_from_str(start.trim(), "%Y-%m-%d")
        .map_err(|_| errors.add("start_date", "must be a date like 2026-01-31"))
        .ok();
    let days = dpw
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|d| (1..=7).contains(d));
    if days.is_none() {
        errors.add("days_per_week", "must be a whole number from 1 to 7");
    }
    let rest_days: Vec<String> = rest
        .iter()
        .filter(|r| super::parse_weekday(r).is_some())
        .cloned()
        .collect();
    if rest_days.len() != rest.len() {
        errors.add("rest", "must be weekday names");
    }
    if rest_days.len() >= 7 {
        errors.add("rest", "leave at least one day to study");
    }
    let (Some(start), Some(dpw), true) = (start_date, days, errors.is_empty()) else {
        // The form comes back with what was typed, each error beside its field.
        return ctx
            .render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "tracker/plan.html",
                context! { id => id, name => stored.title, start_date => start.trim(), days_per_week => dpw.trim(),
                           weekdays => WEEKDAYS, rest => rest, errors => Value::from_serialize(&errors.0) },
            )
            .await;
    };
    let mut active = stored.into_active_model();
    active.start_date = Set(Some(start.to_string()));
    active.days_per_week = Set(dpw);
    active.rest_days = Set(rest_days.join(","));
    active.updated_at = Set(Utc::now());
    active.update(&ctx.state.db).await?;
    ctx.flash("success", "Your plan was saved.").await;
    Ok(Redirect::to(&format!("/tracker/{id}/today/")).into_response())
}

async fn calendar(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&state.db, user.id, &id).await?;
    let id = stored.id;
    let plan = Plan::of(&stored).ok_or_else(|| {
        AppError::invalid("start_date", "set a start date on the plan page first")
    })?;
    let roadmap = stored.roadmap()?;
    let host = url::Url::parse(&state.settings.base_url())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "trellis".into());
    let body = super::ics(&stored.title, id, &super::schedule(&roadmap, &plan), &host);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/calendar; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"roadmap.ics\""),
            ),
        ],
        body,
    )
        .into_response())
}

async fn export(
    State(state): State<AppState>,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&state.db, user.id, &id).await?;
    let id = stored.id;
    let roadmap = stored.roadmap()?;
    let progress = models::progress_of(&state.db, id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/markdown; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"roadmap.md\""),
            ),
        ],
        super::export(&roadmap, &progress),
    )
        .into_response())
}

async fn share(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    let id = stored.id;
    let mut active = stored.into_active_model();
    // A new token each time: sharing again revokes the old link.
    active.share_token = Set(Some(super::new_share_token()));
    active.update(&ctx.state.db).await?;
    ctx.flash(
        "success",
        "Anyone with the link can now see your progress (read-only).",
    )
    .await;
    Ok(Redirect::to(&format!("/tracker/{id}/#share")).into_response())
}

async fn unshare(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    let id = stored.id;
    let mut active = stored.into_active_model();
    active.share_token = Set(None);
    active.update(&ctx.state.db).await?;
    ctx.flash("success", "The public link no longer works.")
        .await;
    Ok(Redirect::to(&format!("/tracker/{id}/#share")).into_response())
}

async fn delete(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let stored = models::owned(&ctx.state.db, user.id, &id).await?;
    models::roadmap::Entity::delete_by_id(stored.id)
        .exec(&ctx.state.db)
        .await?;
    ctx.flash("success", format!("“{}” was deleted.", stored.title))
        .await;
    Ok(Redirect::to("/tracker/").into_response())
}
