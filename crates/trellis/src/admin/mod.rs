//! The admin site at `/admin/` (Django's `django.contrib.admin`), generated from the installed apps'
//! model registrations (`registry::Model` and its `Admin`). Rows are read and written through
//! `records`, so the admin applies each model's own rules and keeps a history of what it changed.
//!
//! Access follows Django: only active staff may enter; a superuser holds every permission, other staff
//! hold their own and their groups' `app.view_model` / `add_` / `change_` / `delete_` permissions, and
//! every page and form checks the one it needs (403 otherwise).
//!
//! This module belongs to the foundation: it knows apps only through the registry.

mod changelist;
mod form;
mod object;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use serde::Serialize;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::accounts::models::User;
use crate::error::{AppError, Result};
use crate::http::auth::{CurrentUser, urlencode};
use crate::http::templates::Ctx;
use crate::records;
use crate::registry::{Kind, Model};
use crate::state::AppState;

/// The admin's templates, embedded.
pub const TEMPLATES: &[(&str, &str)] = crate::embedded_templates![
    "admin/base.html",
    "admin/macros.html",
    "admin/index.html",
    "admin/change_list.html",
    "admin/change_form.html",
    "admin/delete.html",
    "admin/history.html",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/", get(index))
        .route("/admin/login/", get(login))
        .route("/admin/{app}/", get(app_index))
        .route(
            "/admin/{app}/{model}/",
            get(changelist::list).post(changelist::action),
        )
        .route(
            "/admin/{app}/{model}/autocomplete/",
            get(changelist::autocomplete),
        )
        .route(
            "/admin/{app}/{model}/add/",
            get(form::add_form).post(form::add),
        )
        .route(
            "/admin/{app}/{model}/{key}/change/",
            get(form::change_form).post(form::change),
        )
        .route(
            "/admin/{app}/{model}/{key}/delete/",
            get(object::delete_form).post(object::delete),
        )
        .route("/admin/{app}/{model}/{key}/history/", get(object::history))
        .route("/admin/{app}/{model}/{key}/", get(object::bare_key))
        // What the admin shows is per user and often private: never kept by browsers or proxies.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

// ---------------------------------------------------------------- access

/// An active staff member and the permissions they hold. Anonymous visitors are sent to the login
/// page; signed-in users who are not staff get 403 and see nothing of the admin.
pub struct Staff {
    pub user: Arc<User>,
    perms: BTreeSet<String>,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let user = parts
            .extensions
            .get::<CurrentUser>()
            .and_then(|c| c.0.clone());
        let Some(user) = user else {
            let uri = parts
                .extensions
                .get::<OriginalUri>()
                .map(|o| o.0.clone())
                .unwrap_or_else(|| parts.uri.clone());
            let next = uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/admin/");
            let target = format!("/accounts/login/?next={}", urlencode(next));
            return Err(Redirect::to(&target).into_response());
        };
        if !user.is_active || !user.is_staff {
            return Err(AppError::forbidden("admin").into_response());
        }
        let perms = if user.is_superuser {
            BTreeSet::new()
        } else {
            crate::accounts::perms::perms_of(&state.db, &user)
                .await
                .map_err(IntoResponse::into_response)?
        };
        Ok(Staff { user, perms })
    }
}

impl Staff {
    /// Holds the permission `code` (`app.codename`).
    pub fn has(&self, code: &str) -> bool {
        self.user.is_superuser || self.perms.contains(code)
    }

    pub fn can(&self, model: &Model, action: &str) -> bool {
        self.has(&model.permission(action))
    }

    /// Django's rule: changing implies viewing.
    pub fn can_view(&self, model: &Model) -> bool {
        self.can(model, "view") || self.can(model, "change")
    }

    pub fn can_add(&self, model: &Model) -> bool {
        model.admin.as_ref().is_some_and(|a| !a.no_add) && self.can(model, "add")
    }

    pub fn can_change(&self, model: &Model) -> bool {
        model.admin.as_ref().is_some_and(|a| !a.no_change) && self.can(model, "change")
    }

    pub fn can_delete(&self, model: &Model) -> bool {
        self.can(model, "delete")
    }

    pub fn actor(&self) -> records::Actor {
        records::Actor::User { id: self.user.id }
    }

    pub fn require(&self, allowed: bool) -> Result<()> {
        if allowed {
            Ok(())
        } else {
            Err(AppError::forbidden("permission"))
        }
    }
}

/// A model registered in the admin, by its URL segments; 404 for anything else.
pub fn admin_model<'s>(state: &'s AppState, app: &str, name: &str) -> Result<&'s Model> {
    state
        .registry
        .model(app, name)
        .filter(|m| m.admin.is_some())
        .ok_or_else(|| AppError::not_found("model"))
}

pub fn model_url(model: &Model) -> String {
    format!("/admin/{}/{}/", model.app, model.name)
}

pub fn object_url(model: &Model, key: &records::Key) -> String {
    format!("{}{}/change/", model_url(model), key.to_path())
}

/// The key in a URL, or 404.
pub fn parse_key(model: &Model, raw: &str) -> Result<records::Key> {
    records::Key::parse(model, raw).ok_or_else(|| AppError::not_found("object"))
}

// ---------------------------------------------------------------- shown values

/// A stored value as people read it in lists, read-only fields and CSV. `labels` names foreign-key
/// targets (from `records::ListPage`).
pub fn show(
    field: &crate::registry::Field,
    value: Option<&serde_json::Value>,
    label: Option<&String>,
) -> String {
    use serde_json::Value;
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return String::new();
    };
    match &field.kind {
        Kind::Bool => match value.as_bool() {
            Some(true) => "Yes".into(),
            Some(false) => "No".into(),
            None => plain(value),
        },
        Kind::Choice(choices) => {
            let v = plain(value);
            choices
                .iter()
                .find(|(k, _)| *k == v)
                .map(|(_, l)| l.to_string())
                .unwrap_or(v)
        }
        Kind::IntChoice(choices) => value
            .as_i64()
            .and_then(|n| choices.iter().find(|(k, _)| *k == n))
            .map(|(_, l)| l.to_string())
            .unwrap_or_else(|| plain(value)),
        Kind::ForeignKey { .. } => label.cloned().unwrap_or_else(|| plain(value)),
        Kind::DateTime => {
            let s = plain(value);
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|d| {
                    d.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%d %H:%M UTC")
                        .to_string()
                })
                .unwrap_or(s)
        }
        Kind::Secret | Kind::Password => "…".into(),
        Kind::Bytes => match value {
            Value::String(s) => {
                format!("{} bytes (base64 {} characters)", s.len() * 3 / 4, s.len())
            }
            _ => "binary data".into(),
        },
        Kind::ManyToMany { .. } => match value {
            Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
            v => plain(v),
        },
        _ => plain(value),
    }
}

/// A JSON value as text: strings without quotes, the rest as JSON.
pub fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------- index

#[derive(Serialize)]
struct ModelLink {
    name: &'static str,
    plural: &'static str,
    url: String,
    add_url: Option<String>,
    may_change: bool,
}

#[derive(Serialize)]
struct AppLinks {
    label: &'static str,
    name: &'static str,
    models: Vec<ModelLink>,
}

#[derive(Serialize)]
struct RecentEntry {
    action: String,
    repr: String,
    model: String,
    url: Option<String>,
    at: String,
}

/// Apps and the models this user may view, with add links where they may add.
fn visible_apps(state: &AppState, staff: &Staff, only: Option<&str>) -> Vec<AppLinks> {
    let mut out = Vec::new();
    for app in &state.registry.apps {
        if only.is_some_and(|o| o != app.label) {
            continue;
        }
        let models: Vec<ModelLink> = state
            .registry
            .models()
            .iter()
            .filter(|m| m.app == app.label && m.admin.is_some() && staff.can_view(m))
            .map(|m| ModelLink {
                name: m.name,
                plural: m.verbose_name_plural,
                url: model_url(m),
                add_url: staff.can_add(m).then(|| format!("{}add/", model_url(m))),
                may_change: staff.can_change(m),
            })
            .collect();
        if !models.is_empty() {
            out.push(AppLinks {
                label: app.label,
                name: app.name,
                models,
            });
        }
    }
    out
}

async fn render_index(ctx: Ctx, staff: Staff, only: Option<&str>) -> Result<Response> {
    let apps = visible_apps(&ctx.state, &staff, only);
    if only.is_some() && apps.is_empty() {
        return Err(AppError::not_found("app"));
    }
    let recent = records::recent(&ctx.state, Some(staff.user.id), 10).await?;
    let recent: Vec<RecentEntry> = recent
        .into_iter()
        .map(|e| {
            let model = ctx.state.registry.model(&e.app, &e.model);
            let url = match model {
                Some(m) if e.action != "delete" && m.admin.is_some() && staff.can_view(m) => {
                    Some(format!("{}{}/change/", model_url(m), e.object_key))
                }
                _ => None,
            };
            RecentEntry {
                action: e.action,
                repr: e.object_repr,
                model: model
                    .map(|m| m.verbose_name.to_string())
                    .unwrap_or_else(|| e.model.clone()),
                url,
                at: e.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            }
        })
        .collect();
    let title = match only {
        Some(label) => ctx
            .state
            .registry
            .app(label)
            .map(|a| format!("{} administration", a.name))
            .unwrap_or_default(),
        None => "Site administration".to_string(),
    };
    ctx.render(
        "admin/index.html",
        context! { apps => apps, recent => recent, title => title, app_only => only },
    )
    .await
}

async fn index(ctx: Ctx, staff: Staff) -> Result<Response> {
    render_index(ctx, staff, None).await
}

async fn app_index(ctx: Ctx, staff: Staff, Path(app): Path<String>) -> Result<Response> {
    render_index(ctx, staff, Some(&app)).await
}

/// The admin signs in through the accounts' login page.
async fn login(ctx: Ctx) -> Response {
    if ctx.user.is_some() {
        return Redirect::to("/admin/").into_response();
    }
    Redirect::to("/accounts/login/?next=%2Fadmin%2F").into_response()
}
