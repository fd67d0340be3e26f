//! The to-do app's model as the admin, the `models` commands and fixtures see it.

use chrono::Utc;
use serde_json::Value;

use crate::error::FieldErrors;
use crate::http::api::timestamp;
use crate::registry::{Admin, CleanCtx, CleanFuture, Field, Kind, Model, Values};

const PRIORITIES: &[(i64, &str)] = &[(1, "Low"), (2, "Medium"), (3, "High")];

pub fn models() -> Vec<Model> {
    vec![Model {
        app: "todo",
        name: "task",
        verbose_name: "task",
        verbose_name_plural: "tasks",
        table: "todo_tasks",
        pk: &["id"],
        fields: vec![
            Field::new("id", "ID", Kind::Id).read_only(),
            Field::new(
                "owner_id",
                "Owner",
                Kind::ForeignKey {
                    to: "accounts.user",
                },
            ),
            Field::new(
                "title",
                "Title",
                Kind::Text {
                    max: super::TITLE_MAX,
                },
            ),
            Field::new(
                "description",
                "Description",
                Kind::LongText {
                    max: super::DESCRIPTION_MAX,
                },
            )
            .blank(),
            Field::new("priority", "Priority", Kind::IntChoice(PRIORITIES)),
            Field::new("completed", "Completed", Kind::Bool),
            Field::new("completed_at", "Completed at", Kind::DateTime)
                .optional()
                .read_only(),
            Field::new("due_date", "Due", Kind::Date).optional(),
            Field::new(
                "position",
                "Position",
                Kind::Integer {
                    min: -super::models::POSITION_MAX,
                    max: super::models::POSITION_MAX,
                },
            )
            .blank()
            .help("Manual order; after the owner's last task when left empty."),
            Field::new("created_at", "Created", Kind::DateTime).read_only(),
            Field::new("updated_at", "Updated", Kind::DateTime).read_only(),
        ],
        display: "title",
        ordering: &["owner_id", "position", "id"],
        admin: Some(Admin {
            list_display: &["title", "owner_id", "priority", "completed", "due_date"],
            search: &["title", "description"],
            filters: &["completed", "priority", "owner_id", "due_date"],
            ..Admin::default()
        }),
        clean: Some(clean_task),
    }]
}

fn now() -> Value {
    Value::String(timestamp(&Utc::now()))
}

/// The app's rules: a trimmed title, a normalized description, completion stamped when it changes.
fn clean_task<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        if let Some(t) = values.get("title").and_then(Value::as_str) {
            match super::parse_title(t) {
                Ok(t) => {
                    values.insert("title".into(), Value::String(t));
                }
                Err(e) => errors.add("title", e),
            }
        }
        if let Some(d) = values.get("description").and_then(Value::as_str) {
            match super::parse_description(d) {
                Ok(d) => {
                    values.insert("description".into(), Value::String(d));
                }
                Err(e) => errors.add("description", e),
            }
        }
        let was = ctx
            .existing
            .and_then(|e| e.get("completed"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(done) = values.get("completed").and_then(Value::as_bool)
            && done != was
        {
            let stamp = if done { now() } else { Value::Null };
            values.insert("completed_at".into(), stamp);
        }
        if ctx.existing.is_none() {
            values.entry("created_at".into()).or_insert_with(now);
            values.entry("priority".into()).or_insert(Value::from(2));
            values
                .entry("completed".into())
                .or_insert(Value::Bool(false));
            if values.get("position").is_none_or(Value::is_null) {
                let owner = values.get("owner_id").and_then(Value::as_i64).unwrap_or(0);
                match next_position(ctx.state, owner).await {
                    Ok(p) => {
                        values.insert("position".into(), Value::from(p));
                    }
                    Err(e) => errors.add("position", e.to_string()),
                }
            }
        }
        values.insert("updated_at".into(), now());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    })
}

async fn next_position(state: &crate::state::AppState, owner: i64) -> Result<i64, sea_orm::DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        n: Option<i64>,
    }
    use sea_orm::{ConnectionTrait, FromQueryResult};
    let row = Row::find_by_statement(sea_orm::Statement::from_sql_and_values(
        state.db.get_database_backend(),
        "SELECT MAX(position) AS n FROM todo_tasks WHERE owner_id = $1",
        [owner.into()],
    ))
    .one(&state.db)
    .await?;
    Ok(row.and_then(|r| r.n).unwrap_or(0) + 1)
}
