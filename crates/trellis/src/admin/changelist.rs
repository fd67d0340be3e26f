//! The change list: a model's rows with search, filters, ordering, pages, bulk actions and CSV export;
//! and the foreign-key picker's JSON.

use axum::Json;
use axum::extract::{Path, RawForm, RawQuery};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use minijinja::context;
use serde::Serialize;

use super::{Staff, admin_model, model_url, object_url, show, truncate};
use crate::error::{AppError, Result};
use crate::http::templates::Ctx;
use crate::records::{self, Key, ListQuery};
use crate::registry::{Field, Kind, Model};
use crate::state::AppState;

pub const PER_PAGE: u64 = 100;
/// Foreign-key filters list this many targets; more are reachable by editing the URL.
const FK_FILTER_LIMIT: u64 = 50;
/// Query parameters that are not filters.
const RESERVED: &[&str] = &["q", "o", "p", "export"];
const LOOKUPS: &[&str] = &["__gte", "__lt", "__isnull"];

/// The query string's pairs, in order.
pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `?a=b&…`, or "" for no pairs.
pub fn query_string(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

/// The pairs without those `drop` names and without the page, plus `add`.
fn replaced(
    pairs: &[(String, String)],
    drop: impl Fn(&str) -> bool,
    add: &[(String, String)],
) -> String {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "p" && k != "export" && !drop(k))
        .cloned()
        .collect();
    out.extend(add.iter().cloned());
    query_string(&out)
}

/// The columns the list shows.
pub fn columns(model: &Model) -> Vec<&Field> {
    let admin = model.admin.as_ref();
    let names: Vec<&str> = match admin.map(|a| a.list_display) {
        Some(list) if !list.is_empty() => list.to_vec(),
        _ => vec![model.display],
    };
    names.into_iter().filter_map(|n| model.field(n)).collect()
}

fn sortable(field: &Field) -> bool {
    !matches!(
        field.kind,
        Kind::Secret | Kind::Password | Kind::Bytes | Kind::ManyToMany { .. }
    )
}

/// The records query a change list URL asks for; bad parameters are a 400 naming them.
pub fn list_query(model: &Model, pairs: &[(String, String)]) -> Result<ListQuery> {
    let admin = model.admin.as_ref();
    let mut q = None;
    let mut order = Vec::new();
    let mut page = 1;
    let mut filters = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "q" => {
                let v = v.trim();
                if !v.is_empty() && admin.is_some_and(|a| !a.search.is_empty()) {
                    q = Some(v.to_string());
                }
            }
            "o" if !v.is_empty() => {
                let name = v.strip_prefix('-').unwrap_or(v);
                match model.field(name) {
                    Some(f) if sortable(f) => order = vec![v.clone()],
                    _ => return Err(AppError::bad_request("o", format!("cannot order by {v:?}"))),
                }
            }
            "p" if !v.is_empty() => {
                page =
                    v.parse::<u64>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                        AppError::bad_request("p", "must be a page number from 1")
                    })?;
            }
            name if RESERVED.contains(&name) => {}
            name => {
                let base = LOOKUPS
                    .iter()
                    .find_map(|l| name.strip_suffix(l))
                    .unwrap_or(name);
                if !may_filter(model, base) {
                    return Err(AppError::bad_request(
                        name,
                        format!("is not a filter of {}", model.verbose_name_plural),
                    ));
                }
                if !v.is_empty() {
                    filters.push((name.to_string(), v.clone()));
                }
            }
        }
    }
    Ok(ListQuery {
        q,
        filters,
        order,
        page,
        per_page: PER_PAGE,
    })
}

/// A column the list may be filtered on: the admin's filters and any foreign key (inlines link to
/// their parent's children that way); never a hidden value.
fn may_filter(model: &Model, name: &str) -> bool {
    let Some(field) = model.field(name) else {
        return false;
    };
    let listed = model
        .admin
        .as_ref()
        .is_some_and(|a| a.filters.contains(&name));
    match field.kind {
        Kind::Secret | Kind::Password | Kind::Bytes | Kind::Json | Kind::ManyToMany { .. } => false,
        Kind::ForeignKey { .. } => true,
        _ => listed,
    }
}

// ---------------------------------------------------------------- the page

#[derive(Serialize)]
struct Column {
    label: &'static str,
    sort_url: Option<String>,
    /// "asc", "desc" or none.
    sorted: Option<&'static str>,
    numeric: bool,
}

#[derive(Serialize)]
struct Row {
    key: String,
    url: String,
    cells: Vec<String>,
}

#[derive(Serialize)]
struct FilterOption {
    label: String,
    url: String,
    selected: bool,
}

#[derive(Serialize)]
struct FilterBox {
    title: &'static str,
    options: Vec<FilterOption>,
    note: Option<String>,
}

#[derive(Serialize)]
struct PageLink {
    number: u64,
    url: String,
    current: bool,
}

/// The actions this user may run on the model: (name, label).
fn allowed_actions(staff: &Staff, model: &Model) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if staff.can_delete(model) {
        out.push(("delete_selected", "Delete selected"));
    }
    if let Some(admin) = &model.admin
        && staff.can_change(model)
    {
        for a in &admin.actions {
            if a.permission.is_none_or(|p| staff.has(p)) {
                out.push((a.name, a.label));
            }
        }
    }
    out
}

fn current(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

async fn filter_boxes(
    state: &AppState,
    model: &Model,
    pairs: &[(String, String)],
) -> Result<Vec<FilterBox>> {
    let Some(admin) = &model.admin else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for name in admin.filters {
        let Some(field) = model.field(name) else {
            continue;
        };
        let own =
            |k: &str| k == *name || k.strip_prefix(*name).is_some_and(|r| r.starts_with("__"));
        let all = FilterOption {
            label: "All".into(),
            url: replaced(pairs, own, &[]),
            selected: !pairs.iter().any(|(k, v)| own(k) && !v.is_empty()),
        };
        let exact = |value: String, label: String| FilterOption {
            selected: current(pairs, name).as_deref() == Some(value.as_str()),
            url: replaced(pairs, own, &[(name.to_string(), value)]),
            label,
        };
        let mut options = vec![all];
        let mut note = None;
        match &field.kind {
            Kind::Bool => {
                options.push(exact("true".into(), "Yes".into()));
                options.push(exact("false".into(), "No".into()));
            }
            Kind::Choice(choices) => {
                for (v, l) in *choices {
                    options.push(exact(v.to_string(), l.to_string()));
                }
            }
            Kind::IntChoice(choices) => {
                for (v, l) in *choices {
                    options.push(exact(v.to_string(), l.to_string()));
                }
            }
            Kind::ForeignKey { to } => {
                let Some(target) = state.registry.model_by_label(to) else {
                    continue;
                };
                let (choices, total) =
                    records::fk_choices(state, target, None, FK_FILTER_LIMIT).await?;
                for (v, l) in choices {
                    options.push(exact(v, l));
                }
                if total > FK_FILTER_LIMIT {
                    note = Some(format!(
                        "The first {FK_FILTER_LIMIT} of {total} {}.",
                        target.verbose_name_plural
                    ));
                }
            }
            Kind::Date | Kind::DateTime => {
                let today = Utc::now().date_naive();
                let tomorrow = today + Duration::days(1);
                let month = today.with_day(1).unwrap_or(today);
                let next_month = if month.month() == 12 {
                    NaiveDate::from_ymd_opt(month.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(month.year(), month.month() + 1, 1)
                }
                .unwrap_or(tomorrow);
                let year = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
                let next_year = NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).unwrap_or(tomorrow);
                options[0].label = "Any date".into();
                for (label, from, to) in [
                    ("Today", today, tomorrow),
                    ("Past 7 days", today - Duration::days(7), tomorrow),
                    ("This month", month, next_month),
                    ("This year", year, next_year),
                ] {
                    let (gte, lt) = (format!("{name}__gte"), format!("{name}__lt"));
                    let (from, to) = (from.to_string(), to.to_string());
                    options.push(FilterOption {
                        label: label.into(),
                        selected: current(pairs, &gte).as_deref() == Some(from.as_str())
                            && current(pairs, &lt).as_deref() == Some(to.as_str()),
                        url: replaced(pairs, own, &[(gte, from), (lt, to)]),
                    });
                }
            }
            // Free text has no list of values to offer; `?field=value` still filters.
            _ => continue,
        }
        out.push(FilterBox {
            title: field.label,
            options,
            note,
        });
    }
    Ok(out)
}

fn page_links(pairs: &[(String, String)], page: u64, pages: u64) -> Vec<PageLink> {
    let mut numbers: Vec<u64> = Vec::new();
    for n in 1..=pages {
        if n <= 2 || n + 2 > pages || n.abs_diff(page) <= 3 {
            numbers.push(n);
        }
    }
    numbers
        .into_iter()
        .map(|n| PageLink {
            number: n,
            url: replaced(pairs, |_| false, &[("p".into(), n.to_string())]),
            current: n == page,
        })
        .collect()
}

/// `GET /admin/<app>/<model>/`: the change list, or its CSV export with `?export=csv`.
pub async fn list(
    ctx: Ctx,
    staff: Staff,
    Path((app, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let state = ctx.state.clone();
    let model = admin_model(&state, &app, &name)?;
    staff.require(staff.can_view(model))?;
    let pairs = pairs(raw.as_deref());
    let query = list_query(model, &pairs)?;
    if let Some(format) = current(&pairs, "export") {
        if format != "csv" {
            return Err(AppError::bad_request("export", "the only format is csv"));
        }
        return export_csv(&state, model, query).await;
    }
    let page = records::list(&state, model, &query).await?;
    let admin = model.admin.as_ref().expect("admin models only");
    let cols = columns(model);
    let sorted_by = query.order.first().cloned().unwrap_or_default();
    let columns: Vec<Column> = cols
        .iter()
        .map(|f| {
            let (sorted, next) = if sorted_by == f.name {
                (Some("asc"), format!("-{}", f.name))
            } else if sorted_by.strip_prefix('-') == Some(f.name) {
                (Some("desc"), f.name.to_string())
            } else {
                (None, f.name.to_string())
            };
            Column {
                label: f.label,
                sort_url: sortable(f)
                    .then(|| replaced(&pairs, |k| k == "o", &[("o".into(), next)])),
                sorted,
                numeric: matches!(f.kind, Kind::Integer { .. } | Kind::Float | Kind::Id),
            }
        })
        .collect();
    let rows: Vec<Row> = page
        .rows
        .iter()
        .map(|row| {
            let key = Key::of(model, row);
            Row {
                url: object_url(model, &key),
                key: key.to_path(),
                cells: cols
                    .iter()
                    .map(|f| {
                        let v = row.get(f.name);
                        let label =
                            v.and_then(|v| page.labels.get(&(f.name.to_string(), super::plain(v))));
                        truncate(&show(f, v, label), 100)
                    })
                    .collect(),
            }
        })
        .collect();
    let pages = page.total.div_ceil(PER_PAGE).max(1);
    let filters = filter_boxes(&state, model, &pairs).await?;
    let actions = allowed_actions(&staff, model);
    ctx.render(
        "admin/change_list.html",
        context! {
            app_label => model.app,
            app_name => state.registry.app(model.app).map(|a| a.name),
            model_name => model.name,
            verbose_name => model.verbose_name,
            verbose_name_plural => model.verbose_name_plural,
            model_url => model_url(model),
            add_url => staff.can_add(model).then(|| format!("{}add/", model_url(model))),
            columns => columns,
            rows => rows,
            total => page.total,
            page => query.page,
            pages => pages,
            page_links => page_links(&pairs, query.page, pages),
            search => !admin.search.is_empty(),
            q => query.q.clone().unwrap_or_default(),
            hidden => pairs.iter().filter(|(k, _)| k != "q" && k != "p" && k != "export").collect::<Vec<_>>(),
            filters => filters,
            actions => actions,
            query => query_string(&pairs),
            export_url => replaced(&pairs, |_| false, &[("export".into(), "csv".into())]),
        },
    )
    .await
}

// ---------------------------------------------------------------- CSV

/// Spreadsheets run cells that start with these as formulas.
fn defuse(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// The most rows one CSV export may hold.
const EXPORT_MAX: u64 = 50_000;

async fn export_csv(state: &AppState, model: &Model, mut query: ListQuery) -> Result<Response> {
    let cols = columns(model);
    let mut out = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = cols.iter().map(|f| defuse(f.label.to_string())).collect();
    out.write_record(&header)
        .map_err(|e| AppError::Internal(e.into()))?;
    query.per_page = 500;
    query.page = 1;
    loop {
        let page = records::list(state, model, &query).await?;
        // The file is built in memory and paged by offset: bound it before the work, not after.
        if page.total > EXPORT_MAX {
            return Err(AppError::bad_request(
                "export",
                format!(
                    "{} rows match; an export holds at most {EXPORT_MAX}: narrow the search or filters",
                    page.total
                ),
            ));
        }
        for row in &page.rows {
            let cells: Vec<String> = cols
                .iter()
                .map(|f| {
                    let v = row.get(f.name);
                    let label =
                        v.and_then(|v| page.labels.get(&(f.name.to_string(), super::plain(v))));
                    defuse(show(f, v, label))
                })
                .collect();
            out.write_record(&cells)
                .map_err(|e| AppError::Internal(e.into()))?;
        }
        if page.rows.is_empty() || query.page * query.per_page >= page.total {
            break;
        }
        query.page += 1;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    let disposition = format!("attachment; filename=\"{}-{}.csv\"", model.app, model.name);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        bytes,
    )
        .into_response())
}

// ---------------------------------------------------------------- actions

/// `POST /admin/<app>/<model>/`: a bulk action on the selected rows (or on every row the list's
/// filters match, with `select_across=1`). "Delete selected" asks for confirmation first.
pub async fn action(
    ctx: Ctx,
    staff: Staff,
    Path((app, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    RawForm(body): RawForm,
) -> Result<Response> {
    let state = ctx.state.clone();
    let model = admin_model(&state, &app, &name)?;
    staff.require(staff.can_view(model))?;
    let url_pairs = pairs(raw.as_deref());
    let back = format!("{}{}", model_url(model), query_string(&url_pairs));
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let action = current(&form, "action").unwrap_or_default();
    let across = current(&form, "select_across").is_some_and(|v| v == "1");
    let selected: Vec<&String> = form
        .iter()
        .filter(|(k, _)| k == "_selected")
        .map(|(_, v)| v)
        .collect();
    if action.is_empty() {
        ctx.flash("warning", "No action selected.").await;
        return Ok(Redirect::to(&back).into_response());
    }
    let admin = model.admin.as_ref().expect("admin models only");
    let custom = admin.actions.iter().find(|a| a.name == action);
    match (&*action, custom) {
        ("delete_selected", _) => staff.require(staff.can_delete(model))?,
        (_, Some(a)) => {
            staff.require(staff.can_change(model) && a.permission.is_none_or(|p| staff.has(p)))?
        }
        _ => {
            return Err(AppError::bad_request(
                "action",
                "is not an action of this list",
            ));
        }
    }
    if selected.is_empty() && !across {
        ctx.flash(
            "warning",
            "Items must be selected in order to perform actions on them.",
        )
        .await;
        return Ok(Redirect::to(&back).into_response());
    }
    let keys: Vec<Key> = if across {
        let mut query = list_query(model, &url_pairs)?;
        query.page = 1;
        records::keys_matching(&state, model, &query).await?
    } else {
        selected
            .iter()
            .map(|s| {
                Key::parse(model, s)
                    .ok_or_else(|| AppError::bad_request("_selected", "is not a key of this model"))
            })
            .collect::<Result<_>>()?
    };
    if action == "delete_selected" {
        if current(&form, "confirm").as_deref() != Some("yes") {
            return super::object::confirm_delete(
                &ctx,
                model,
                keys,
                Some((url_pairs.as_slice(), across)),
            )
            .await;
        }
        let n = records::delete(&state, model, &keys, &staff.actor()).await?;
        ctx.flash("success", format!("Deleted {n} {}.", plural(model, n)))
            .await;
        return Ok(Redirect::to(&back).into_response());
    }
    let action = custom.expect("checked above");
    let ids: Vec<i64> = keys
        .iter()
        .filter_map(|k| match k.0.as_slice() {
            [v] => v.as_i64(),
            _ => None,
        })
        .collect();
    let n = (action.run)(&state, &staff.user, &ids).await?;
    super::object::log_action(&state, model, &keys, action.label, &staff).await?;
    ctx.flash(
        "success",
        format!("{}: {n} {} changed.", action.label, plural(model, n)),
    )
    .await;
    Ok(Redirect::to(&back).into_response())
}

pub fn plural(model: &Model, n: u64) -> &'static str {
    if n == 1 {
        model.verbose_name
    } else {
        model.verbose_name_plural
    }
}

// ---------------------------------------------------------------- foreign-key picker

#[derive(Serialize)]
struct Choice {
    id: String,
    text: String,
}

/// `GET /admin/<app>/<model>/autocomplete/?q=`: rows of a model as picker options, for staff who may
/// view it or may fill a foreign key that points to it.
pub async fn autocomplete(
    staff: Staff,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path((app, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let target = state
        .registry
        .model(&app, &name)
        .ok_or_else(|| AppError::not_found("model"))?;
    let label = target.label();
    let may_pick = staff.can_view(target)
        || state.registry.models().iter().any(|m| {
            m.admin.is_some()
                && (staff.can_add(m) || staff.can_change(m))
                && m.fields.iter().any(|f| match f.kind {
                    Kind::ForeignKey { to } | Kind::ManyToMany { to, .. } => to == label,
                    _ => false,
                })
        });
    staff.require(may_pick)?;
    let pairs = pairs(raw.as_deref());
    let q = current(&pairs, "q").map(|s| s.trim().to_string());
    let q = q.as_deref().filter(|s| !s.is_empty());
    let (choices, total) = records::fk_choices(&state, target, q, 20).await?;
    Ok(Json(serde_json::json!({
        "results": choices.into_iter().map(|(id, text)| Choice { id, text }).collect::<Vec<_>>(),
        "total": total,
    }))
    .into_response())
}
