//! The to-do page: the list with its filters, the add form, and one small POST form per action, so it
//! all works without JavaScript. `static/app.js` then completes tasks through the API without a reload.

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use minijinja::{Value, context};
use serde::Deserialize;

use super::models::{self, Changes, Filters, Ordering, Priority, Task, task};
use super::{
    parse_bool, parse_date, parse_description, parse_ordering, parse_priorities, parse_title,
};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::auth::{RequireUser, urlencode};
use crate::http::templates::Ctx;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/todos", get(list).post(add))
        .route("/todos/", get(|| async { Redirect::permanent("/todos") }))
        .route("/todos/clear-completed/", post(clear_completed))
        .route("/todos/{id}/toggle/", post(toggle))
        .route("/todos/{id}/edit/", get(edit_form).post(edit))
        .route("/todos/{id}/delete/", post(delete))
}

const PAGE_SIZE: u64 = 50;

/// The sort menu: value (an API ordering) and label.
const SORTS: &[(&str, &str)] = &[
    ("", "Manual order"),
    ("priority", "Priority, high first"),
    ("-priority", "Priority, low first"),
    ("due_date", "Due date, soonest first"),
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("title", "Title, A to Z"),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    priority: String,
    status: String,
    sort: String,
    page: String,
}

/// What the list shows, checked, and the address that shows it again.
struct View {
    filters: Filters,
    ordering: Ordering,
    priority: String,
    status: String,
    sort: String,
    page: u64,
}

impl View {
    fn from_query(q: &ListQuery) -> Result<View> {
        let mut filters = Filters {
            priorities: parse_priorities("priority", &q.priority)?,
            ..Filters::default()
        };
        filters.completed = match q.status.trim() {
            "" | "all" => None,
            "active" => Some(false),
            "completed" => Some(true),
            other => {
                return Err(AppError::bad_request(
                    "status",
                    format!("`{other}` is not one of all, active, completed"),
                ));
            }
        };
        let ordering = parse_ordering("sort", &q.sort)?;
        // As Django's paginator: a page that is not a positive number does not exist.
        let page = match q.page.trim() {
            "" => 1,
            p => p
                .parse::<u64>()
                .ok()
                .filter(|p| (1..=crate::http::api::MAX_PAGE).contains(p))
                .ok_or_else(|| AppError::not_found("page"))?,
        };
        Ok(View {
            priority: filters
                .priorities
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(","),
            status: match filters.completed {
                None => String::new(),
                Some(false) => "active".into(),
                Some(true) => "completed".into(),
            },
            sort: ordering.to_param(),
            filters,
            ordering,
            page,
        })
    }

    fn url(&self, page: u64) -> String {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("priority", self.priority.as_str()),
            ("status", self.status.as_str()),
            ("sort", self.sort.as_str()),
        ] {
            if !v.is_empty() {
                qs.append_pair(k, v);
            }
        }
        if page > 1 {
            qs.append_pair("page", &page.to_string());
        }
        let qs = qs.finish();
        if qs.is_empty() {
            "/todos".into()
        } else {
            format!("/todos?{qs}")
        }
    }
}

/// Where a form sends the user back: the list as they were viewing it, never anywhere else. Our own
/// links are percent-encoded ASCII; anything else could not even be a `Location` header.
fn back_to(next: &str) -> String {
    let printable = next.bytes().all(|b| b.is_ascii_graphic());
    if next == "/todos" || (next.starts_with("/todos?") && printable) {
        next.to_string()
    } else {
        "/todos".into()
    }
}

fn task_value(t: &Task, today: chrono::NaiveDate) -> Value {
    context! {
        id => t.id,
        title => t.title,
        description => t.description,
        priority => t.priority().as_str(),
        completed => t.completed,
        due_date => t.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
        overdue => t.is_overdue(today),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TaskForm {
    title: String,
    description: String,
    priority: String,
    due_date: String,
    completed: String,
    next: String,
}

impl TaskForm {
    /// Checks the fields; the add form has no description or completed box, which then stay default.
    fn changes(&self, errors: &mut FieldErrors) -> Changes {
        let mut c = Changes::default();
        match parse_title(&self.title) {
            Ok(t) => c.title = Some(t),
            Err(m) => errors.add("title", m),
        }
        match parse_description(&self.description) {
            Ok(d) => c.description = Some(d),
            Err(m) => errors.add("description", m),
        }
        c.priority = match self.priority.trim() {
            "" => Some(Priority::default()),
            p => match Priority::parse(p) {
                Some(p) => Some(p),
                None => {
                    errors.add("priority", super::priority_error(p));
                    None
                }
            },
        };
        c.due_date = match self.due_date.trim() {
            "" => Some(None),
            d => match parse_date(d) {
                Some(d) => Some(Some(d)),
                None => {
                    errors.add("due_date", "must be a date (YYYY-MM-DD)");
                    None
                }
            },
        };
        c.completed = Some(!self.completed.is_empty());
        c
    }

    fn value(&self) -> Value {
        context! {
            title => self.title,
            description => self.description,
            priority => if self.priority.is_empty() { Priority::default().as_str() } else { self.priority.as_str() },
            due_date => self.due_date,
            completed => !self.completed.is_empty(),
        }
    }
}

async fn render_list(
    ctx: &Ctx,
    owner: i64,
    view: &View,
    status: StatusCode,
    form: &TaskForm,
    errors: &FieldErrors,
) -> Result<Response> {
    let db = &ctx.state.db;
    let today = Utc::now().date_naive();
    let (tasks, count) = models::list(
        db,
        owner,
        &view.filters,
        &view.ordering,
        today,
        crate::db::Window {
            offset: (view.page - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        },
    )
    .await?;
    let pages = count.div_ceil(PAGE_SIZE).max(1);
    if view.page > pages {
        return Err(AppError::not_found("page"));
    }
    let (total, done) = models::tally(db, owner).await?;
    let back = view.url(view.page);
    let tasks: Vec<Value> = tasks.iter().map(|t| task_value(t, today)).collect();
    let sorts: Vec<Value> = SORTS
        .iter()
        .map(|(value, label)| context! { value => value, label => label })
        .collect();
    ctx.render_status(
        status,
        "todo/list.html",
        context! {
            tasks => tasks,
            total => total,
            done => done,
            left => total - done,
            priorities => Priority::ALL.map(Priority::as_str),
            sorts => sorts,
            priority => view.priority,
            status => view.status,
            sort => view.sort,
            filtered => !view.priority.is_empty() || !view.status.is_empty(),
            back => back,
            back_encoded => urlencode(&back),
            form => form.value(),
            errors => Value::from_serialize(&errors.0),
            pagination => context! {
                page => view.page, pages => pages,
                prev => (view.page > 1).then(|| view.url(view.page - 1)),
                next => (view.page < pages).then(|| view.url(view.page + 1)),
            },
        },
    )
    .await
}

async fn list(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    let view = View::from_query(&q)?;
    render_list(
        &ctx,
        me.id,
        &view,
        StatusCode::OK,
        &TaskForm::default(),
        &FieldErrors::new(),
    )
    .await
}

/// The list the user came from, rebuilt from a form's `next` so errors show on the same view.
fn view_of(next: &str) -> View {
    let query = next.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut q = ListQuery::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "priority" => q.priority = v.into_owned(),
            "status" => q.status = v.into_owned(),
            "sort" => q.sort = v.into_owned(),
            "page" => q.page = v.into_owned(),
            _ => {}
        }
    }
    View::from_query(&q)
        .unwrap_or_else(|_| View::from_query(&ListQuery::default()).expect("the unfiltered view"))
}

async fn add(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    axum::Form(form): axum::Form<TaskForm>,
) -> Result<Response> {
    let mut errors = FieldErrors::new();
    let changes = form.changes(&mut errors);
    let next = back_to(&form.next);
    if !errors.is_empty() {
        let view = view_of(&next);
        return render_list(
            &ctx,
            me.id,
            &view,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
        )
        .await;
    }
    models::insert(&ctx.state.db, me.id, &changes).await?;
    Ok(Redirect::to(&next).into_response())
}

async fn own_task(ctx: &Ctx, owner: i64, id: &str) -> Result<Task> {
    crate::db::owned::<task::Entity>(&ctx.state.db, id, task::Column::OwnerId, owner, "task").await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ToggleForm {
    completed: String,
    next: String,
}

/// Sets the state the button showed, so a double submit does not flip it back.
async fn toggle(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ToggleForm>,
) -> Result<Response> {
    let task = own_task(&ctx, me.id, &id).await?;
    let completed = parse_bool("completed", &form.completed)?;
    let changes = Changes {
        completed: Some(completed),
        ..Changes::default()
    };
    models::update(&ctx.state.db, task, &changes).await?;
    Ok(Redirect::to(&back_to(&form.next)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NextQuery {
    next: String,
}

async fn render_edit(
    ctx: &Ctx,
    status: StatusCode,
    id: i64,
    form: &TaskForm,
    errors: &FieldErrors,
) -> Result<Response> {
    ctx.render_status(
        status,
        "todo/edit.html",
        context! {
            id => id,
            form => form.value(),
            errors => Value::from_serialize(&errors.0),
            priorities => Priority::ALL.map(Priority::as_str),
            next => back_to(&form.next),
        },
    )
    .await
}

async fn edit_form(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Response> {
    let task = own_task(&ctx, me.id, &id).await?;
    let form = TaskForm {
        title: task.title.clone(),
        description: task.description.clone(),
        priority: task.priority().as_str().into(),
        due_date: task
            .due_date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        completed: if task.completed {
            "on".into()
        } else {
            String::new()
        },
        next: q.next,
    };
    render_edit(&ctx, StatusCode::OK, task.id, &form, &FieldErrors::new()).await
}

async fn edit(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<TaskForm>,
) -> Result<Response> {
    let task = own_task(&ctx, me.id, &id).await?;
    let mut errors = FieldErrors::new();
    let changes = form.changes(&mut errors);
    if !errors.is_empty() {
        return render_edit(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            task.id,
            &form,
            &errors,
        )
        .await;
    }
    models::update(&ctx.state.db, task, &changes).await?;
    ctx.flash("success", "Your changes were saved.").await;
    Ok(Redirect::to(&back_to(&form.next)).into_response())
}

async fn delete(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<NextQuery>,
) -> Result<Response> {
    let task = own_task(&ctx, me.id, &id).await?;
    models::delete(&ctx.state.db, me.id, task.id).await?;
    ctx.flash("success", format!("“{}” was deleted.", task.title))
        .await;
    Ok(Redirect::to(&back_to(&form.next)).into_response())
}

async fn clear_completed(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    axum::Form(form): axum::Form<NextQuery>,
) -> Result<Response> {
    let n = models::clear_completed(&ctx.state.db, me.id).await?;
    let msg = match n {
        0 => "There were no completed tasks to clear.".to_string(),
        1 => "Cleared 1 completed task.".to_string(),
        n => format!("Cleared {n} completed tasks."),
    };
    ctx.flash("success", msg).await;
    Ok(Redirect::to(&back_to(&form.next)).into_response())
}
