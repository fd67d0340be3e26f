//! One object's pages besides its form: delete (with what the deletion cascades to) and history.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;

use super::changelist::{plural, query_string};
use super::{Staff, admin_model, model_url, object_url, parse_key};
use crate::error::{AppError, Result};
use crate::http::templates::Ctx;
use crate::records::{self, Key};
use crate::registry::Model;
use crate::state::AppState;

/// Objects named one by one on a confirmation page; the rest are counted.
const NAMED: usize = 20;

#[derive(Serialize)]
struct Named {
    repr: String,
    url: String,
}

/// The confirmation page for deleting `keys`: the objects and every cascade by model and count.
/// `bulk` carries the change list's query and whether the selection spans every matching row.
pub async fn confirm_delete(
    ctx: &Ctx,
    model: &Model,
    keys: Vec<Key>,
    bulk: Option<(&[(String, String)], bool)>,
) -> Result<Response> {
    let state = &ctx.state;
    let mut objects = Vec::new();
    for key in keys.iter().take(NAMED) {
        if let Some(row) = records::get(state, model, key).await? {
            objects.push(Named {
                repr: records::display(model, &row),
                url: object_url(model, key),
            });
        }
    }
    if bulk.is_none() && objects.is_empty() {
        return Err(AppError::not_found("object"));
    }
    let cascades: Vec<(String, u64)> = records::cascade_preview(state, model, &keys).await?;
    let (action_url, across, selected) = match bulk {
        Some((pairs, across)) => (
            format!("{}{}", model_url(model), query_string(pairs)),
            across,
            if across {
                Vec::new()
            } else {
                keys.iter().map(Key::to_path).collect()
            },
        ),
        None => (
            format!("{}{}/delete/", model_url(model), keys[0].to_path()),
            false,
            Vec::new(),
        ),
    };
    ctx.render(
        "admin/delete.html",
        context! {
            app_label => model.app,
            app_name => state.registry.app(model.app).map(|a| a.name),
            model_url => model_url(model),
            verbose_name => model.verbose_name,
            verbose_name_plural => model.verbose_name_plural,
            count => keys.len(),
            what => plural(model, keys.len() as u64),
            objects => objects,
            more => keys.len().saturating_sub(NAMED),
            cascades => cascades,
            bulk => bulk.is_some(),
            across => across,
            selected => selected,
            action_url => action_url,
        },
    )
    .await
}

/// `GET /admin/<app>/<model>/<key>/delete/`.
pub async fn delete_form(
    ctx: Ctx,
    staff: Staff,
    Path((app, name, key)): Path<(String, String, String)>,
) -> Result<Response> {
    let model = admin_model(&ctx.state, &app, &name)?;
    staff.require(staff.can_delete(model))?;
    let key = parse_key(model, &key)?;
    confirm_delete(&ctx, model, vec![key], None).await
}

/// `POST /admin/<app>/<model>/<key>/delete/`.
pub async fn delete(
    ctx: Ctx,
    staff: Staff,
    Path((app, name, key)): Path<(String, String, String)>,
) -> Result<Response> {
    let state = ctx.state.clone();
    let model = admin_model(&state, &app, &name)?;
    staff.require(staff.can_delete(model))?;
    let key = parse_key(model, &key)?;
    let row = records::get(&state, model, &key)
        .await?
        .ok_or_else(|| AppError::not_found("object"))?;
    let repr = records::display(model, &row);
    records::delete(&state, model, std::slice::from_ref(&key), &staff.actor()).await?;
    ctx.flash(
        "success",
        format!("The {} “{repr}” was deleted.", model.verbose_name),
    )
    .await;
    Ok(Redirect::to(&model_url(model)).into_response())
}

#[derive(Serialize)]
struct Entry {
    at: String,
    actor: String,
    action: String,
    message: String,
}

/// `GET /admin/<app>/<model>/<key>/history/`: what was done to the object, oldest first.
pub async fn history(
    ctx: Ctx,
    staff: Staff,
    Path((app, name, key)): Path<(String, String, String)>,
) -> Result<Response> {
    let state = ctx.state.clone();
    let model = admin_model(&state, &app, &name)?;
    staff.require(staff.can_view(model))?;
    let key = parse_key(model, &key)?;
    let row = records::get(&state, model, &key).await?;
    let entries = records::history(&state, model, &key).await?;
    if row.is_none() && entries.is_empty() {
        return Err(AppError::not_found("object"));
    }
    let repr = match &row {
        Some(r) => records::display(model, r),
        None => entries
            .last()
            .map(|e| e.object_repr.clone())
            .unwrap_or_default(),
    };
    let entries: Vec<Entry> = entries
        .into_iter()
        .map(|e| Entry {
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: e.actor,
            action: e.action,
            message: e.message,
        })
        .collect();
    ctx.render(
        "admin/history.html",
        context! {
            app_label => model.app,
            app_name => state.registry.app(model.app).map(|a| a.name),
            model_url => model_url(model),
            verbose_name => model.verbose_name,
            verbose_name_plural => model.verbose_name_plural,
            repr => repr,
            object_url => row.is_some().then(|| object_url(model, &key)),
            entries => entries,
        },
    )
    .await
}

/// `/admin/<app>/<model>/<key>/` leads to the object's change page, as Django's does.
pub async fn bare_key(
    staff: Staff,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path((app, name, key)): Path<(String, String, String)>,
) -> Result<Response> {
    let model = admin_model(&state, &app, &name)?;
    staff.require(staff.can_view(model))?;
    let key = parse_key(model, &key)?;
    Ok(Redirect::to(&object_url(model, &key)).into_response())
}

/// Notes a bulk action in the history of each object it was run on.
pub async fn log_action(
    state: &AppState,
    model: &Model,
    keys: &[Key],
    label: &str,
    staff: &Staff,
) -> Result<()> {
    records::log_change(state, model, keys, label, &staff.actor()).await
}
