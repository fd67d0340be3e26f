//! The add and change forms, drawn from a model's fields: an input per kind, read-only text for what
//! the admin may not change, errors beside each field, and the child rows of its inlines.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Multipart, Path, RawForm, RawQuery, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;
use serde_json::Value;

use super::changelist::{columns, pairs};
use super::{Staff, admin_model, model_url, object_url, parse_key, plain, show, truncate};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::forms::{FilePart, MultipartForm};
use crate::http::templates::Ctx;
use crate::records::{self, Key, ListQuery};
use crate::registry::{Field, Kind, Model, Values};
use crate::state::AppState;

/// Above this many targets a foreign key is picked by searching rather than from a list.
const SELECT_LIMIT: u64 = 100;
/// Options offered by a many-to-many list.
const M2M_LIMIT: u64 = 1000;
/// Child rows shown per inline.
const INLINE_ROWS: u64 = 20;

#[derive(Serialize)]
struct Opt {
    value: String,
    label: String,
    selected: bool,
    group: String,
}

#[derive(Serialize, Default)]
struct Widget {
    name: &'static str,
    label: &'static str,
    help: &'static str,
    /// text, textarea, number, float, checkbox, datetime, date, select, picker, m2m, password, image,
    /// readonly
    widget: &'static str,
    value: String,
    checked: bool,
    options: Vec<Opt>,
    grouped: bool,
    required: bool,
    errors: Vec<String>,
    thumb: Option<String>,
    link: Option<String>,
    picker_url: Option<String>,
    clearable: bool,
    min: Option<i64>,
    max: Option<i64>,
    maxlength: Option<usize>,
    /// For links to permissions: one row per model, a box per action.
    matrix: Vec<MatrixRow>,
}

/// One model's row of a permission matrix: its view/add/change/delete permissions, where they exist.
#[derive(Serialize)]
struct MatrixRow {
    app: String,
    model: &'static str,
    cells: Vec<Option<Opt>>,
}

const ACTIONS: [&str; 4] = ["view", "add", "change", "delete"];

/// Lays permission choices out as a matrix of models × actions; the apps' own permissions (those no
/// model row holds) stay in `rest`, grouped by app, as Django's group page lists them.
fn permission_matrix(state: &AppState, options: Vec<Opt>) -> (Vec<MatrixRow>, Vec<Opt>) {
    let mut by_code: BTreeMap<String, Opt> =
        options.into_iter().map(|o| (o.label.clone(), o)).collect();
    let mut rows = Vec::new();
    for m in state.registry.models() {
        let cells: Vec<Option<Opt>> = ACTIONS
            .iter()
            .map(|a| by_code.remove(&m.permission(a)))
            .collect();
        if cells.iter().any(Option::is_some) {
            let app = state
                .registry
                .app(m.app)
                .map_or_else(|| m.app.to_string(), |a| a.name.to_string());
            rows.push(MatrixRow {
                app,
                model: m.verbose_name_plural,
                cells,
            });
        }
    }
    (rows, by_code.into_values().collect())
}

/// What a form shows as the current value of each input: the stored row, the prefill of an add link,
/// or what was just typed.
#[derive(Default)]
struct Shown {
    one: BTreeMap<String, String>,
    many: BTreeMap<String, Vec<String>>,
}

impl Shown {
    fn from_values(model: &Model, values: &Values) -> Shown {
        let mut shown = Shown::default();
        for f in &model.fields {
            let Some(v) = values.get(f.name) else {
                continue;
            };
            match (&f.kind, v) {
                (Kind::ManyToMany { .. }, Value::Array(items)) => {
                    shown
                        .many
                        .insert(f.name.into(), items.iter().map(plain).collect());
                }
                (Kind::DateTime, Value::String(s)) => {
                    let local = chrono::DateTime::parse_from_rfc3339(s)
                        .map(|d| {
                            d.with_timezone(&chrono::Utc)
                                .format("%Y-%m-%dT%H:%M")
                                .to_string()
                        })
                        .unwrap_or_else(|_| s.clone());
                    shown.one.insert(f.name.into(), local);
                }
                (Kind::Bool, Value::Bool(b)) => {
                    shown
                        .one
                        .insert(f.name.into(), if *b { "true" } else { "" }.into());
                }
                (_, v) => {
                    shown.one.insert(f.name.into(), plain(v));
                }
            }
        }
        shown
    }

    fn from_pairs(pairs: &[(String, String)]) -> Shown {
        let mut shown = Shown::default();
        for (k, v) in pairs {
            shown.many.entry(k.clone()).or_default().push(v.clone());
            shown.one.entry(k.clone()).or_insert_with(|| v.clone());
        }
        shown
    }
}

/// How a field appears on the form.
#[derive(PartialEq)]
enum Role {
    Hidden,
    Input,
    ReadOnly,
}

fn role(model: &Model, field: &Field, adding: bool, may_edit: bool) -> Role {
    let admin_readonly = model
        .admin
        .as_ref()
        .is_some_and(|a| a.readonly.contains(&field.name));
    let fixed = !field.editable
        || admin_readonly
        || matches!(
            field.kind,
            Kind::Id | Kind::Secret | Kind::Bytes | Kind::Json
        )
        || (!adding && model.pk.contains(&field.name));
    match (adding, fixed || !may_edit) {
        (true, true) => Role::Hidden,
        (false, true) => Role::ReadOnly,
        (_, false) => Role::Input,
    }
}

/// The fields a submitted form may set.
fn inputs(model: &Model, adding: bool) -> Vec<&Field> {
    model
        .fields
        .iter()
        .filter(|f| role(model, f, adding, true) == Role::Input)
        .collect()
}

fn group_of(label: &str) -> String {
    label
        .split_once('.')
        .map(|(g, _)| g.to_string())
        .unwrap_or_default()
}

async fn widgets(
    state: &AppState,
    model: &Model,
    adding: bool,
    may_edit: bool,
    shown: &Shown,
    stored: Option<&Values>,
    errors: &FieldErrors,
) -> Result<Vec<Widget>> {
    let mut out = Vec::new();
    for f in &model.fields {
        let role = role(model, f, adding, may_edit);
        if role == Role::Hidden {
            continue;
        }
        let value = shown.one.get(f.name).cloned().unwrap_or_default();
        let mut w = Widget {
            name: f.name,
            label: f.label,
            help: f.help,
            required: !f.blank && !matches!(f.kind, Kind::Bool),
            errors: errors.get(f.name).to_vec(),
            ..Widget::default()
        };
        if role == Role::ReadOnly {
            w.widget = "readonly";
            w.required = false;
            let v = stored.and_then(|s| s.get(f.name));
            let mut label = None;
            match &f.kind {
                Kind::ForeignKey { to } => {
                    if let (Some(target), Some(id)) = (
                        state.registry.model_by_label(to),
                        v.filter(|v| !v.is_null()),
                    ) && let Some(key) = Key::parse(target, &plain(id))
                    {
                        if let Some(row) = records::get(state, target, &key).await? {
                            label = Some(records::display(target, &row));
                        }
                        if target.admin.is_some() {
                            w.link = Some(object_url(target, &key));
                        }
                    }
                }
                Kind::Image { thumb, .. } => {
                    if let Some(Value::String(k)) = v {
                        w.thumb = Some(crate::storage::Storage::url(&thumb(k)));
                    }
                }
                _ => {}
            }
            w.value = truncate(&show(f, v, label.as_ref()), 2000);
            out.push(w);
            continue;
        }
        match &f.kind {
            Kind::Text { max } => {
                w.widget = "text";
                w.maxlength = Some(*max);
                w.value = value.clone();
            }
            Kind::LongText { .. } => {
                w.widget = "textarea";
                w.value = value.clone();
            }
            Kind::Integer { min, max } => {
                w.widget = "number";
                w.min = (*min > i64::from(i32::MIN)).then_some(*min);
                w.max = (*max < i64::from(i32::MAX)).then_some(*max);
                w.value = value.clone();
            }
            Kind::Float => {
                w.widget = "float";
                w.value = value.clone();
            }
            Kind::Bool => {
                w.widget = "checkbox";
                w.checked = !value.is_empty() && value != "false" && value != "0";
            }
            Kind::DateTime => {
                w.widget = "datetime";
                w.value = value.clone();
            }
            Kind::Date => {
                w.widget = "date";
                w.value = value.clone();
            }
            Kind::Choice(choices) => {
                w.widget = "select";
                w.options = choices
                    .iter()
                    .map(|(v, l)| Opt {
                        selected: value == *v,
                        value: v.to_string(),
                        label: l.to_string(),
                        group: String::new(),
                    })
                    .collect();
            }
            Kind::IntChoice(choices) => {
                w.widget = "select";
                w.options = choices
                    .iter()
                    .map(|(v, l)| Opt {
                        selected: value == v.to_string(),
                        value: v.to_string(),
                        label: l.to_string(),
                        group: String::new(),
                    })
                    .collect();
            }
            Kind::ForeignKey { to } => {
                let target = state
                    .registry
                    .model_by_label(to)
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no model {to}")))?;
                let (choices, total) =
                    records::fk_choices(state, target, None, SELECT_LIMIT).await?;
                if total > SELECT_LIMIT {
                    w.widget = "picker";
                    w.picker_url = Some(format!("{}autocomplete/", model_url(target)));
                    // The current choice's name, beside the id typed or stored.
                    if let Some(key) = Key::parse(target, &value)
                        && let Some(row) = records::get(state, target, &key).await?
                    {
                        w.link = Some(records::display(target, &row));
                    }
                    w.value = value.clone();
                } else {
                    w.widget = "select";
                    w.options = choices
                        .into_iter()
                        .map(|(v, l)| Opt {
                            selected: value == v,
                            value: v,
                            label: l,
                            group: String::new(),
                        })
                        .collect();
                }
            }
            Kind::ManyToMany { to, .. } => {
                let target = state
                    .registry
                    .model_by_label(to)
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no model {to}")))?;
                let (choices, _) = records::fk_choices(state, target, None, M2M_LIMIT).await?;
                let chosen = shown.many.get(f.name).cloned().unwrap_or_default();
                w.widget = "m2m";
                w.grouped = !choices.is_empty() && choices.iter().all(|(_, l)| l.contains('.'));
                w.options = choices
                    .into_iter()
                    .map(|(v, l)| Opt {
                        selected: chosen.contains(&v),
                        group: group_of(&l),
                        value: v,
                        label: l,
                    })
                    .collect();
                if target.app == "accounts" && target.name == "permission" {
                    w.widget = "matrix";
                    let (rows, rest) = permission_matrix(state, std::mem::take(&mut w.options));
                    w.matrix = rows;
                    w.options = rest;
                }
                w.required = false;
            }
            Kind::Password => {
                w.widget = "password";
                w.required = adding && !f.blank;
            }
            Kind::Image { thumb, .. } => {
                w.widget = "image";
                w.required = false;
                w.clearable = f.null;
                if let Some(Value::String(k)) = stored.and_then(|s| s.get(f.name)) {
                    w.thumb = Some(crate::storage::Storage::url(&thumb(k)));
                    w.value = k.clone();
                }
            }
            Kind::Id | Kind::Secret | Kind::Bytes | Kind::Json => unreachable!("read-only kinds"),
        }
        if matches!(w.widget, "select") && (f.blank || f.null) {
            w.options.insert(
                0,
                Opt {
                    value: String::new(),
                    label: "—".into(),
                    selected: value.is_empty(),
                    group: String::new(),
                },
            );
        }
        out.push(w);
    }
    Ok(out)
}

#[derive(Serialize)]
struct InlineRow {
    url: String,
    cells: Vec<String>,
}

#[derive(Serialize)]
struct Inline {
    title: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<InlineRow>,
    total: u64,
    list_url: String,
    add_url: Option<String>,
}

/// The parent's children, per inline the user may view: a table linking to each, and an add link
/// that fills in the parent.
async fn inlines(state: &AppState, staff: &Staff, model: &Model, key: &Key) -> Result<Vec<Inline>> {
    let Some(admin) = &model.admin else {
        return Ok(Vec::new());
    };
    let [parent_id] = key.0.as_slice() else {
        return Ok(Vec::new());
    };
    let parent_id = plain(parent_id);
    let mut out = Vec::new();
    for (label, fk) in admin.inlines {
        let Some(child) = state.registry.model_by_label(label) else {
            continue;
        };
        if child.admin.is_none() || !staff.can_view(child) {
            continue;
        }
        let query = ListQuery {
            q: None,
            filters: vec![(fk.to_string(), parent_id.clone())],
            order: Vec::new(),
            page: 1,
            per_page: INLINE_ROWS,
        };
        let page = records::list(state, child, &query).await?;
        let cols: Vec<&Field> = columns(child)
            .into_iter()
            .filter(|f| f.name != *fk)
            .collect();
        let rows = page
            .rows
            .iter()
            .map(|row| InlineRow {
                url: object_url(child, &Key::of(child, row)),
                cells: cols
                    .iter()
                    .map(|f| {
                        let v = row.get(f.name);
                        let label =
                            v.and_then(|v| page.labels.get(&(f.name.to_string(), plain(v))));
                        truncate(&show(f, v, label), 100)
                    })
                    .collect(),
            })
            .collect();
        let filter = super::changelist::query_string(&[(fk.to_string(), parent_id.clone())]);
        out.push(Inline {
            title: child.verbose_name_plural,
            columns: cols.iter().map(|f| f.label).collect(),
            rows,
            total: page.total,
            list_url: format!("{}{filter}", model_url(child)),
            add_url: staff
                .can_add(child)
                .then(|| format!("{}add/{filter}", model_url(child))),
        });
    }
    Ok(out)
}

/// Everything the form page needs besides its fields.
struct Page<'a> {
    model: &'a Model,
    key: Option<&'a Key>,
    repr: String,
    may_edit: bool,
}

async fn render(
    ctx: &Ctx,
    staff: &Staff,
    page: Page<'_>,
    shown: &Shown,
    stored: Option<&Values>,
    errors: &FieldErrors,
    status: StatusCode,
) -> Result<Response> {
    let state = &ctx.state;
    let model = page.model;
    let adding = page.key.is_none();
    let fields = widgets(state, model, adding, page.may_edit, shown, stored, errors).await?;
    let multipart = fields.iter().any(|w| w.widget == "image");
    let inlines = match page.key {
        Some(key) => inlines(state, staff, model, key).await?,
        None => Vec::new(),
    };
    let known: Vec<&str> = fields.iter().map(|w| w.name).collect();
    // Errors on fields the form does not show (set by the model's rules) still need saying.
    let other_errors: Vec<String> = errors
        .0
        .iter()
        .filter(|(f, _)| !known.contains(&f.as_str()))
        .flat_map(|(f, msgs)| msgs.iter().map(move |m| format!("{f}: {m}")))
        .collect();
    let base = model_url(model);
    let (action, delete_url, history_url) = match page.key {
        Some(key) => (
            object_url(model, key),
            staff
                .can_delete(model)
                .then(|| format!("{base}{}/delete/", key.to_path())),
            Some(format!("{base}{}/history/", key.to_path())),
        ),
        None => (format!("{base}add/"), None, None),
    };
    ctx.render_status(
        status,
        "admin/change_form.html",
        context! {
            app_label => model.app,
            app_name => state.registry.app(model.app).map(|a| a.name),
            model_url => base,
            verbose_name => model.verbose_name,
            verbose_name_plural => model.verbose_name_plural,
            adding => adding,
            repr => page.repr,
            may_edit => page.may_edit,
            may_add => staff.can_add(model),
            fields => fields,
            multipart => multipart,
            error_count => errors.0.len(),
            other_errors => other_errors,
            action => action,
            delete_url => delete_url,
            history_url => history_url,
            inlines => inlines,
        },
    )
    .await
}

/// `GET /admin/<app>/<model>/add/`; query parameters fill in fields (`?post_id=3`).
pub async fn add_form(
    ctx: Ctx,
    staff: Staff,
    Path((app, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let model = admin_model(&ctx.state, &app, &name)?;
    staff.require(staff.can_add(model))?;
    let names: Vec<&str> = inputs(model, true).iter().map(|f| f.name).collect();
    let prefill: Vec<(String, String)> = pairs(raw.as_deref())
        .into_iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .collect();
    let page = Page {
        model,
        key: None,
        repr: String::new(),
        may_edit: true,
    };
    render(
        &ctx,
        &staff,
        page,
        &Shown::from_pairs(&prefill),
        None,
        &FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

/// `GET /admin/<app>/<model>/<key>/change/`: the form, or the object read-only without `change`.
pub async fn change_form(
    ctx: Ctx,
    staff: Staff,
    Path((app, name, key)): Path<(String, String, String)>,
) -> Result<Response> {
    let model = admin_model(&ctx.state, &app, &name)?;
    staff.require(staff.can_view(model))?;
    let key = parse_key(model, &key)?;
    let row = records::get(&ctx.state, model, &key)
        .await?
        .ok_or_else(|| AppError::not_found("object"))?;
    let page = Page {
        model,
        key: Some(&key),
        repr: records::display(model, &row),
        may_edit: staff.can_change(model),
    };
    let shown = Shown::from_values(model, &row);
    render(
        &ctx,
        &staff,
        page,
        &shown,
        Some(&row),
        &FieldErrors::new(),
        StatusCode::OK,
    )
    .await
}

/// A submitted form, url-encoded or multipart (forms with an image).
struct Submitted {
    pairs: Vec<(String, String)>,
    files: MultipartForm,
}

impl Submitted {
    async fn read(req: Request, model: &Model) -> Result<Submitted> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        if multipart {
            let files: Vec<&str> = model
                .fields
                .iter()
                .filter(|f| matches!(f.kind, Kind::Image { .. }))
                .map(|f| f.name)
                .collect();
            let mp = Multipart::from_request(req, &())
                .await
                .map_err(|e| AppError::bad_request("body", e.body_text()))?;
            let form = MultipartForm::read(mp, &files).await?;
            Ok(Submitted {
                pairs: form.pairs().to_vec(),
                files: form,
            })
        } else {
            let RawForm(body) = RawForm::from_request(req, &())
                .await
                .map_err(|e| AppError::bad_request("body", e.body_text()))?;
            Ok(Submitted {
                pairs: url::form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
                files: MultipartForm::default(),
            })
        }
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.first(name).is_some_and(|v| !v.is_empty())
    }
}

/// An image stored for a form being saved: its key and how its thumbnail's key is made.
type StoredImage = (String, fn(&str) -> String);

/// What the form sent for the fields it may set, as `records::parse_input` reads it, with uploaded
/// images checked and stored by their model's own rules (their keys in `stored`).
async fn raw_input(
    state: &AppState,
    model: &Model,
    adding: bool,
    form: &mut Submitted,
    errors: &mut FieldErrors,
    stored: &mut Vec<StoredImage>,
) -> Vec<(String, String)> {
    let mut raw = Vec::new();
    for f in inputs(model, adding) {
        let name = f.name.to_string();
        match &f.kind {
            Kind::Image { store, thumb } => {
                let file: Option<FilePart> = form.files.take_file(f.name);
                if let Some(file) = file {
                    match store(state, file.bytes.to_vec()).await {
                        Ok(key) => {
                            stored.push((key.clone(), *thumb));
                            raw.push((name, key));
                        }
                        Err(e) => errors.add(f.name, e),
                    }
                } else if form.has(&format!("{}-clear", f.name)) {
                    raw.push((format!("{}-clear", f.name), "1".into()));
                }
            }
            Kind::Bool => {
                let on = form.has(f.name);
                raw.push((name, if on { "true" } else { "false" }.into()));
            }
            Kind::ManyToMany { .. } => {
                // The list is sent whole: an empty one clears it.
                let chosen: Vec<String> = form
                    .pairs
                    .iter()
                    .filter(|(k, v)| k == f.name && !v.is_empty())
                    .map(|(_, v)| v.clone())
                    .collect();
                if chosen.is_empty() {
                    raw.push((name, String::new()));
                }
                raw.extend(chosen.into_iter().map(|v| (f.name.to_string(), v)));
            }
            Kind::Password => {
                if let Some(v) = form.first(f.name).filter(|v| !v.is_empty()) {
                    raw.push((name, v.to_string()));
                } else if adding {
                    raw.push((name, String::new()));
                }
            }
            _ => {
                if let Some(v) = form.first(f.name) {
                    raw.push((name, v.to_string()));
                }
            }
        }
    }
    raw
}

/// Reads the raw input as the model's values, keeping only the fields this form may set (the parser
/// fills every editable field a form leaves out, which would overwrite read-only ones).
fn parse(
    model: &Model,
    raw: &[(String, String)],
    adding: bool,
) -> std::result::Result<Values, FieldErrors> {
    let names: Vec<&str> = inputs(model, adding).iter().map(|f| f.name).collect();
    let mut values = records::parse_input(model, raw, adding)?;
    values.retain(|k, _| names.contains(&k.as_str()));
    Ok(values)
}

/// Deletes images stored for a form that was not saved.
async fn discard(state: &AppState, stored: Vec<StoredImage>) {
    for (key, thumb) in stored {
        let _ = state.storage.delete(&key).await;
        let _ = state.storage.delete(&thumb(&key)).await;
    }
}

fn field_errors(e: AppError) -> std::result::Result<FieldErrors, AppError> {
    match e {
        AppError::Validation(fe) | AppError::Conflict(fe) => Ok(fe),
        e => Err(e),
    }
}

fn merge(into: &mut FieldErrors, from: FieldErrors) {
    for (f, msgs) in from.0 {
        for m in msgs {
            into.add(&f, m);
        }
    }
}

/// Where a saved form leads: Django's three buttons.
fn after_save(form: &Submitted, model: &Model, key: &Key) -> String {
    if form.first("_continue").is_some() {
        object_url(model, key)
    } else if form.first("_addanother").is_some() {
        format!("{}add/", model_url(model))
    } else {
        model_url(model)
    }
}

/// `POST /admin/<app>/<model>/add/`.
pub async fn add(
    ctx: Ctx,
    staff: Staff,
    Path((app, name)): Path<(String, String)>,
    req: Request,
) -> Result<Response> {
    let state = ctx.state.clone();
    let model = admin_model(&state, &app, &name)?;
    staff.require(staff.can_add(model))?;
    let mut form = Submitted::read(req, model).await?;
    let mut errors = FieldErrors::new();
    let mut stored = Vec::new();
    let raw = raw_input(&state, model, true, &mut form, &mut errors, &mut stored).await;
    let result = match parse(model, &raw, true) {
        Ok(values) if errors.is_empty() => {
            match records::create(&state, model, values, &staff.actor()).await {
                Ok(key) => Ok(key),
                Err(e) => Err(field_errors(e)?),
            }
        }
        Ok(_) => Err(FieldErrors::new()),
        Err(fe) => Err(fe),
    };
    match result {
        Ok(key) => {
            let repr = match records::get(&state, model, &key).await? {
                Some(row) => records::display(model, &row),
                None => String::new(),
            };
            ctx.flash(
                "success",
                format!(
                    "The {} “{repr}” was added successfully.",
                    model.verbose_name
                ),
            )
            .await;
            Ok(Redirect::to(&after_save(&form, model, &key)).into_response())
        }
        Err(fe) => {
            merge(&mut errors, fe);
            discard(&state, stored).await;
            let page = Page {
                model,
                key: None,
                repr: String::new(),
                may_edit: true,
            };
            render(
                &ctx,
                &staff,
                page,
                &Shown::from_pairs(&form.pairs),
                None,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `POST /admin/<app>/<model>/<key>/change/`.
pub async fn change(
    ctx: Ctx,
    staff: Staff,
    Path((app, name, key)): Path<(String, String, String)>,
    req: Request,
) -> Result<Response> {
    let state = ctx.state.clone();
    let model = admin_model(&state, &app, &name)?;
    staff.require(staff.can_change(model))?;
    let key = parse_key(model, &key)?;
    let row = records::get(&state, model, &key)
        .await?
        .ok_or_else(|| AppError::not_found("object"))?;
    let mut form = Submitted::read(req, model).await?;
    let mut errors = FieldErrors::new();
    let mut stored = Vec::new();
    let raw = raw_input(&state, model, false, &mut form, &mut errors, &mut stored).await;
    let result = match parse(model, &raw, false) {
        Ok(values) if errors.is_empty() => {
            match records::update(&state, model, &key, values, &staff.actor()).await {
                Ok(()) => Ok(()),
                Err(e) => Err(field_errors(e)?),
            }
        }
        Ok(_) => Err(FieldErrors::new()),
        Err(fe) => Err(fe),
    };
    match result {
        Ok(()) => {
            let repr = match records::get(&state, model, &key).await? {
                Some(row) => records::display(model, &row),
                None => records::display(model, &row),
            };
            ctx.flash(
                "success",
                format!(
                    "The {} “{repr}” was changed successfully.",
                    model.verbose_name
                ),
            )
            .await;
            Ok(Redirect::to(&after_save(&form, model, &key)).into_response())
        }
        Err(fe) => {
            merge(&mut errors, fe);
            discard(&state, stored).await;
            let page = Page {
                model,
                key: Some(&key),
                repr: records::display(model, &row),
                may_edit: true,
            };
            // Typed values win; fields the form did not send keep their stored values.
            let mut shown = Shown::from_values(model, &row);
            let typed = Shown::from_pairs(&form.pairs);
            for f in inputs(model, false) {
                match f.kind {
                    Kind::ManyToMany { .. } => {
                        shown.many.insert(
                            f.name.into(),
                            typed.many.get(f.name).cloned().unwrap_or_default(),
                        );
                    }
                    Kind::Bool => {
                        shown.one.insert(
                            f.name.into(),
                            typed.one.get(f.name).cloned().unwrap_or_default(),
                        );
                    }
                    _ => {
                        if let Some(v) = typed.one.get(f.name) {
                            shown.one.insert(f.name.into(), v.clone());
                        }
                    }
                }
            }
            render(
                &ctx,
                &staff,
                page,
                &shown,
                Some(&row),
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
