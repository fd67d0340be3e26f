//! Tasks over the API, in Django REST framework's conventions: a paginated list with filters and
//! ordering, create (201 with `Location`), retrieve, full and partial update, delete (204), and
//! clearing the completed ones. Every request acts on the caller's own tasks only.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::{self, Changes, Priority, Task, task};
use super::{parse_date, parse_description, parse_title, priority_error};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::RequireUser;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_todos, create_todo))
        .routes(routes!(get_todo, replace_todo, update_todo, delete_todo))
        .routes(routes!(clear_completed))
}

const PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

// ---------------------------------------------------------------- shapes

#[derive(Serialize, ToSchema)]
pub struct TodoBody {
    id: i64,
    title: String,
    description: String,
    priority: Priority,
    completed: bool,
    /// When it was last completed; null while it is not.
    completed_at: Option<String>,
    /// `YYYY-MM-DD`, or null.
    #[schema(format = Date)]
    due_date: Option<String>,
    /// Manual order: new tasks go last.
    position: i64,
    created_at: String,
    updated_at: String,
    /// This task's address in the API.
    url: String,
}

fn todo_body(state: &AppState, t: &Task) -> TodoBody {
    TodoBody {
        id: t.id,
        title: t.title.clone(),
        description: t.description.clone(),
        priority: t.priority(),
        completed: t.completed,
        completed_at: t.completed_at.as_ref().map(api::timestamp),
        due_date: t.due_date.map(|d| d.format("%Y-%m-%d").to_string()),
        position: t.position,
        created_at: api::timestamp(&t.created_at),
        updated_at: api::timestamp(&t.updated_at),
        url: format!("{}/api/todos/{}", state.settings.base_url(), t.id),
    }
}

/// A task's writable fields. Read-only fields (`id`, `completed_at`, timestamps, `url`) and unknown ones
/// are ignored, as in DRF, so a fetched task can be sent back.
// Fields are read as raw JSON so that a wrong type is reported on its own field, not on the body.
#[derive(Deserialize, ToSchema)]
pub struct TodoWrite {
    /// 1 to 200 characters; required on create and on full update.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, max_length = 200, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    title: Option<Option<Value>>,
    /// Free text; `null` stores an empty one.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    description: Option<Option<Value>>,
    /// Default `medium`.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Priority, required = false)]
    priority: Option<Option<Value>>,
    /// `true` stamps `completed_at`; `false` clears it.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = bool, required = false)]
    completed: Option<Option<Value>>,
    /// `YYYY-MM-DD`; `null` clears it.
    // The pattern stops at the 28th so that all it allows are real dates; any real date is accepted.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, format = Date, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    due_date: Option<Option<Value>>,
    /// Default: after the caller's last task. From -10^9 to 10^9, so that "after the last one" always
    /// exists.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = -1_000_000_000, maximum = 1_000_000_000)]
    position: Option<Option<Value>>,
}

/// A task to create, or to replace one with: [`TodoWrite`] with the title required.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the body `create_todo` and `replace_todo` read.
pub struct NewTodo {
    /// 1 to 200 characters.
    #[schema(
        max_length = 200,
        pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    title: String,
    /// Free text; `null` stores an empty one.
    #[schema(max_length = 10000)]
    description: Option<String>,
    /// Default `medium`.
    #[schema(required = false)]
    priority: Priority,
    /// `true` stamps `completed_at`.
    #[schema(required = false)]
    completed: bool,
    /// `YYYY-MM-DD`, or null.
    #[schema(format = Date, pattern = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    due_date: Option<String>,
    /// Default: after the caller's last task (on create), or where it is (on replace). From -10^9 to 10^9.
    #[schema(required = false, minimum = -1_000_000_000, maximum = 1_000_000_000)]
    position: i64,
}

impl TodoWrite {
    /// Checks the fields sent. `full` (create, PUT) requires a title.
    fn changes(&self, full: bool) -> Result<Changes> {
        let mut errors = FieldErrors::new();
        let mut c = Changes::default();
        match &self.title {
            None if full => errors.add("title", "can't be blank"),
            None => {}
            Some(Some(Value::String(s))) => match parse_title(s) {
                Ok(t) => c.title = Some(t),
                Err(m) => errors.add("title", m),
            },
            Some(None) => errors.add("title", "can't be blank"),
            Some(Some(_)) => errors.add("title", "must be a string"),
        }
        match &self.description {
            None => {}
            Some(None) => c.description = Some(String::new()),
            Some(Some(Value::String(s))) => match parse_description(s) {
                Ok(d) => c.description = Some(d),
                Err(m) => errors.add("description", m),
            },
            Some(Some(_)) => errors.add("description", "must be a string"),
        }
        match &self.priority {
            None => {}
            Some(Some(Value::String(s))) => match Priority::parse(s) {
                Some(p) => c.priority = Some(p),
                None => errors.add("priority", priority_error(s)),
            },
            Some(v) => {
                let shown = v.as_ref().map(Value::to_string);
                errors.add(
                    "priority",
                    priority_error(shown.as_deref().unwrap_or("null")),
                );
            }
        }
        match &self.completed {
            None => {}
            Some(Some(Value::Bool(b))) => c.completed = Some(*b),
            Some(_) => errors.add("completed", "must be true or false"),
        }
        match &self.due_date {
            None => {}
            Some(None) => c.due_date = Some(None),
            Some(Some(v)) => match v.as_str().and_then(parse_date) {
                Some(d) => c.due_date = Some(Some(d)),
                None => errors.add("due_date", "must be a date (YYYY-MM-DD)"),
            },
        }
        match &self.position {
            None => {}
            Some(v) => match v
                .as_ref()
                .and_then(Value::as_i64)
                .filter(|p| (-models::POSITION_MAX..=models::POSITION_MAX).contains(p))
            {
                Some(p) => c.position = Some(p),
                None => errors.add(
                    "position",
                    format!(
                        "must be a whole number from -{max} to {max}",
                        max = models::POSITION_MAX
                    ),
                ),
            },
        }
        errors.into_result()?;
        Ok(c)
    }
}

#[derive(Serialize, ToSchema)]
pub struct Cleared {
    /// How many completed tasks were deleted.
    deleted: u64,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The caller's task behind a path id; a malformed id, a missing task and another user's task are all
/// the same 404, so ids reveal nothing.
async fn own(state: &AppState, owner: i64, id: &str) -> Result<Task> {
    crate::db::owned::<task::Entity>(&state.db, id, task::Column::OwnerId, owner, "todo").await
}

// ---------------------------------------------------------------- handlers

/// List the caller's tasks.
///
/// Filters combine with AND. Ordering defaults to `position` (manual order); ties are broken by id.
#[utoipa::path(get, path = "/todos", tag = "todos", security(("token" = [])),
    params(
        // Blank values count as absent, hence the optional parts of the patterns. The day pattern stops at
        // the 28th so that every value it allows is a real date; any real date is accepted.
        ("priority" = Option<String>, Query, description = "`low`, `medium` or `high`, or several comma-separated: `medium,high`",
            pattern = r"^ *((low|medium|high)? *(, *(low|medium|high)? *)*)?$"),
        ("completed" = Option<String>, Query, description = "`true` or `false` (also `1` or `0`)", pattern = r"^ *([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)? *$"),
        ("due_before" = Option<String>, Query, description = "Due on or before this day (YYYY-MM-DD)", pattern = r"^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))? *$"),
        ("due_after" = Option<String>, Query, description = "Due on or after this day (YYYY-MM-DD)", pattern = r"^ *([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))? *$"),
        ("overdue" = Option<String>, Query, description = "`true`: due before today (UTC) and not completed; `false`: all others",
            pattern = r"^ *([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)? *$"),
        ("search" = Option<String>, Query, max_length = 200, description = "Text in the title or description, case-insensitive"),
        ("ordering" = Option<String>, Query, pattern = r"^ *(-?(priority|due_date|created_at|title|position))? *$",
            description = "`priority` (high first), `due_date`, `created_at`, `title` or `position`; a leading `-` reverses it. \
                           Several may be given comma-separated, each once: `-priority,due_date`"),
        api::PageParams,
    ),
    responses((status = 200, body = Page<TodoBody>), (status = 400, description = "a query parameter is invalid (named)"),
              (status = 401, description = "no or bad credentials"), (status = 404, description = "page past the end")))]
async fn list_todos(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let (filters, ordering) = super::query_filters(&q)?;
    let paging = PageNumber::from_query(&q, PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (tasks, count) = models::list(
        &state.db,
        me.id,
        &filters,
        &ordering,
        today(),
        paging.window(),
    )
    .await?;
    let results = tasks.iter().map(|t| todo_body(&state, t)).collect();
    Ok(Json(paging.wrap(results, count, "/api/todos", &q)?).into_response())
}

/// Create a task.
///
/// Answers 201 with the task, and its address in `Location`. Without a `position` it goes last.
#[utoipa::path(post, path = "/todos", tag = "todos", security(("token" = [])), request_body = NewTodo,
    responses((status = 201, body = TodoBody, headers(("Location" = String, description = "/api/todos/{id}"))),
              (status = 401, description = "no or bad credentials"), (status = 422, description = "invalid field")))]
async fn create_todo(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    ApiJson(body): ApiJson<TodoWrite>,
) -> Result<Response> {
    let changes = body.changes(true)?.with_defaults();
    let task = models::insert(&state.db, me.id, &changes).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/todos/{}", task.id))],
        Json(todo_body(&state, &task)),
    )
        .into_response())
}

/// One of the caller's tasks.
#[utoipa::path(get, path = "/todos/{id}", tag = "todos", security(("token" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = TodoBody), (status = 404, description = "no such task of yours")))]
async fn get_todo(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let task = own(&state, me.id, &id).await?;
    Ok(Json(todo_body(&state, &task)).into_response())
}

/// Replace a task.
///
/// `title` is required; other fields left out return to their defaults (`description` empty, `priority`
/// medium, not completed, no due date). The position is kept unless given.
#[utoipa::path(put, path = "/todos/{id}", tag = "todos", security(("token" = [])), params(("id" = i64, Path)),
    request_body = NewTodo,
    responses((status = 200, body = TodoBody), (status = 404, description = "no such task of yours"),
              (status = 422, description = "invalid field")))]
async fn replace_todo(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TodoWrite>,
) -> Result<Response> {
    let task = own(&state, me.id, &id).await?;
    let changes = body.changes(true)?.with_defaults();
    let saved = models::update(&state.db, task, &changes).await?;
    Ok(Json(todo_body(&state, &saved)).into_response())
}

/// Change only the fields sent.
///
/// `"due_date": null` clears the due date; `"completed": true` stamps `completed_at`, `false` clears it.
#[utoipa::path(patch, path = "/todos/{id}", tag = "todos", security(("token" = [])), params(("id" = i64, Path)),
    request_body = TodoWrite,
    responses((status = 200, body = TodoBody), (status = 404, description = "no such task of yours"),
              (status = 422, description = "invalid field")))]
async fn update_todo(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TodoWrite>,
) -> Result<Response> {
    let task = own(&state, me.id, &id).await?;
    let changes = body.changes(false)?;
    let saved = models::update(&state.db, task, &changes).await?;
    Ok(Json(todo_body(&state, &saved)).into_response())
}

/// Delete a task.
#[utoipa::path(delete, path = "/todos/{id}", tag = "todos", security(("token" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404, description = "no such task of yours")))]
async fn delete_todo(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = crate::db::parse_id(&id, "todo")?;
    if models::delete(&state.db, me.id, id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AppError::not_found("todo"))
    }
}

/// Delete the caller's completed tasks.
///
/// Answers how many were deleted.
#[utoipa::path(post, path = "/todos/clear-completed", tag = "todos", security(("token" = [])),
    responses((status = 200, body = Cleared), (status = 401, description = "no or bad credentials")))]
async fn clear_completed(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
) -> Result<Response> {
    let deleted = models::clear_completed(&state.db, me.id).await?;
    Ok(Json(Cleared { deleted }).into_response())
}
