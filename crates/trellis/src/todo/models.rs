//! Tasks and the queries on them. Lists are plain SQL: a page carrying its count, one statement whatever the
//! page size, always scoped to one owner.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement, Value};
use serde::Serialize;

use crate::db::like_pattern;

pub mod task {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "todo_tasks")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub owner_id: i64,
        pub title: String,
        pub description: String,
        /// The rank of a [`Priority`](super::Priority).
        pub priority: i32,
        pub completed: bool,
        pub completed_at: Option<DateTime<Utc>>,
        pub due_date: Option<NaiveDate>,
        pub position: i64,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use task::Model as Task;

impl Task {
    pub fn priority(&self) -> Priority {
        Priority::from_rank(self.priority)
    }

    /// Due before today and not done.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        !self.completed && self.due_date.is_some_and(|d| d < today)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Medium, Priority::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// What the database stores: higher is more urgent.
    pub fn rank(self) -> i32 {
        match self {
            Priority::Low => 1,
            Priority::Medium => 2,
            Priority::High => 3,
        }
    }

    pub fn from_rank(rank: i32) -> Priority {
        match rank {
            1 => Priority::Low,
            3 => Priority::High,
            _ => Priority::Medium,
        }
    }
}

/// Which of an owner's tasks a list shows. Empty means all of them.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub priorities: Vec<Priority>,
    pub completed: Option<bool>,
    /// Due on or before this day.
    pub due_before: Option<NaiveDate>,
    /// Due on or after this day.
    pub due_after: Option<NaiveDate>,
    /// `Some(true)`: due before `today` and not completed; `Some(false)`: every other task.
    pub overdue: Option<bool>,
    /// Case-insensitive text in the title or the description.
    pub search: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortField {
    Priority,
    DueDate,
    CreatedAt,
    Title,
    Position,
}

impl SortField {
    pub const ALL: [SortField; 5] = [
        SortField::Priority,
        SortField::DueDate,
        SortField::CreatedAt,
        SortField::Title,
        SortField::Position,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortField::Priority => "priority",
            SortField::DueDate => "due_date",
            SortField::CreatedAt => "created_at",
            SortField::Title => "title",
            SortField::Position => "position",
        }
    }

    /// SQL for this field, ascending or (`reverse`) descending in the API's sense.
    fn sql(self, reverse: bool) -> String {
        let (asc, desc) = ("ASC", "DESC");
        let dir = if reverse { desc } else { asc };
        match self {
            // "priority" means most urgent first, so the natural direction is the rank's descending one.
            SortField::Priority => format!("priority {}", if reverse { asc } else { desc }),
            // Tasks without a due date come last either way, on both databases.
            SortField::DueDate => format!("due_date {dir} NULLS LAST"),
            // Tasks created in the same instant keep their creation order, in the same direction.
            SortField::CreatedAt => format!("created_at {dir}, id {dir}"),
            SortField::Title => format!("LOWER(title) {dir}"),
            SortField::Position => format!("position {dir}"),
        }
    }
}

/// Fields to sort by, in order, each ascending or reversed. Empty means manual order (`position`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ordering(pub Vec<(SortField, bool)>);

impl Ordering {
    fn sql(&self) -> String {
        let mut parts: Vec<String> = self.0.iter().map(|(f, rev)| f.sql(*rev)).collect();
        if parts.is_empty() {
            parts.push(SortField::Position.sql(false));
        }
        // A total order, so pages never overlap or skip a task.
        parts.push("id ASC".into());
        parts.join(", ")
    }

    /// As written in a query string: `-priority,due_date`.
    pub fn to_param(&self) -> String {
        self.0
            .iter()
            .map(|(f, rev)| format!("{}{}", if *rev { "-" } else { "" }, f.name()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The `WHERE` clause for an owner's filtered tasks, pushing its values.
fn condition(owner: i64, f: &Filters, today: NaiveDate, values: &mut Vec<Value>) -> String {
    let mut param = |v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    let mut parts = vec![format!("owner_id = {}", param(owner.into()))];
    if !f.priorities.is_empty() {
        let list: Vec<String> = f
            .priorities
            .iter()
            .map(|p| param(p.rank().into()))
            .collect();
        parts.push(format!("priority IN ({})", list.join(", ")));
    }
    if let Some(c) = f.completed {
        parts.push(format!("completed = {}", param(c.into())));
    }
    if let Some(d) = f.due_before {
        parts.push(format!("due_date <= {}", param(d.into())));
    }
    if let Some(d) = f.due_after {
        parts.push(format!("due_date >= {}", param(d.into())));
    }
    if let Some(overdue) = f.overdue {
        let late = format!(
            "(completed = {} AND due_date < {})",
            param(false.into()),
            param(today.into())
        );
        parts.push(if overdue {
            late
        } else {
            // due_date may be NULL, and NOT (NULL) is NULL: spell the complement out.
            format!("NOT (due_date IS NOT NULL AND {late})")
        });
    }
    if let Some(q) = &f.search {
        let q = param(like_pattern(q).into());
        parts.push(format!(
            "(LOWER(title) LIKE {q} ESCAPE '\\' OR LOWER(description) LIKE {q} ESCAPE '\\')"
        ));
    }
    parts.join(" AND ")
}

const COLUMNS: &str = "id, owner_id, title, description, priority, completed, completed_at, due_date, \
     position, created_at, updated_at";

/// One page of an owner's tasks and how many match in all: one statement whatever the page size.
pub async fn list(
    db: &impl ConnectionTrait,
    owner: i64,
    filters: &Filters,
    ordering: &Ordering,
    today: NaiveDate,
    window: crate::db::Window,
) -> Result<(Vec<Task>, u64), DbErr> {
    let mut values = Vec::new();
    let condition = condition(owner, filters, today, &mut values);
    crate::db::paged(
        db,
        format!("SELECT COUNT(*) AS n FROM todo_tasks WHERE {condition}"),
        format!(
            "SELECT {COLUMNS} FROM todo_tasks WHERE {condition} ORDER BY {}",
            ordering.sql()
        ),
        values,
        window,
    )
    .await
}

/// How many tasks an owner has, and how many of them are done.
pub async fn tally(db: &impl ConnectionTrait, owner: i64) -> Result<(u64, u64), DbErr> {
    #[derive(FromQueryResult)]
    struct Tally {
        total: i64,
        done: i64,
    }
    let t = Tally::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN completed THEN 1 ELSE 0 END), 0) AS done \
         FROM todo_tasks WHERE owner_id = $1",
        [owner.into()],
    ))
    .one(db)
    .await?;
    Ok(t.map(|t| (t.total as u64, t.done as u64)).unwrap_or((0, 0)))
}

/// What a write sets. `None` leaves a field as it is (or, on insert, at its default).
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub completed: Option<bool>,
    pub due_date: Option<Option<NaiveDate>>,
    pub position: Option<i64>,
}

impl Changes {
    /// Fills what a full write left out with the defaults of a new task (the position excepted).
    pub fn with_defaults(mut self) -> Changes {
        self.description.get_or_insert_with(String::new);
        self.priority.get_or_insert_with(Priority::default);
        self.completed.get_or_insert(false);
        self.due_date.get_or_insert(None);
        self
    }
}

/// Positions a client may set lie within ±this, so "after the last task" never overflows.
pub const POSITION_MAX: i64 = 1_000_000_000;

/// Creates a task; without a position it goes to the end of the owner's list. The owner's inserts take
/// turns, so concurrent ones get distinct positions.
pub async fn insert(db: &crate::db::Db, owner: i64, c: &Changes) -> Result<Task, DbErr> {
    let txn = db.begin().await?;
    crate::db::lock(&txn, "todo_tasks", owner).await?;
    let now = Utc::now();
    let completed = c.completed.unwrap_or(false);
    let values: Vec<Value> = vec![
        owner.into(),
        c.title.clone().unwrap_or_default().into(),
        c.description.clone().unwrap_or_default().into(),
        c.priority.unwrap_or_default().rank().into(),
        completed.into(),
        completed.then_some(now).into(),
        c.due_date.flatten().into(),
        c.position.into(),
        now.into(),
    ];
    let task = Task::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        format!(
            "INSERT INTO todo_tasks (owner_id, title, description, priority, completed, completed_at, \
             due_date, position, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, \
             COALESCE($8, (SELECT COALESCE(MAX(position), 0) + 1 FROM todo_tasks WHERE owner_id = $1)), \
             $9, $9) RETURNING {COLUMNS}"
        ),
        values,
    ))
    .one(&txn)
    .await?
    .ok_or(DbErr::RecordNotInserted)?;
    txn.commit().await?;
    Ok(task)
}

/// Applies changes to a task and saves it. Completing stamps `completed_at`; uncompleting clears it.
pub async fn update(db: &impl ConnectionTrait, task: Task, c: &Changes) -> Result<Task, DbErr> {
    use sea_orm::ActiveValue::Set;
    use sea_orm::IntoActiveModel;
    let now = Utc::now();
    let was_completed = task.completed;
    let mut active = task.into_active_model();
    if let Some(t) = &c.title {
        active.title = Set(t.clone());
    }
    if let Some(d) = &c.description {
        active.description = Set(d.clone());
    }
    if let Some(p) = c.priority {
        active.priority = Set(p.rank());
    }
    if let Some(done) = c.completed
        && done != was_completed
    {
        active.completed = Set(done);
        active.completed_at = Set(done.then_some(now));
    }
    if let Some(d) = c.due_date {
        active.due_date = Set(d);
    }
    if let Some(p) = c.position {
        active.position = Set(p);
    }
    active.updated_at = Set(now);
    active.update(db).await
}

/// Deletes one of the owner's tasks; `false` when there is no such task of theirs.
pub async fn delete(db: &impl ConnectionTrait, owner: i64, id: i64) -> Result<bool, DbErr> {
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM todo_tasks WHERE id = $1 AND owner_id = $2",
            [id.into(), owner.into()],
        ))
        .await?;
    Ok(res.rows_affected() > 0)
}

/// Deletes the owner's completed tasks and says how many there were.
pub async fn clear_completed(db: &impl ConnectionTrait, owner: i64) -> Result<u64, DbErr> {
    let res = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM todo_tasks WHERE owner_id = $1 AND completed = $2",
            [owner.into(), true.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}
