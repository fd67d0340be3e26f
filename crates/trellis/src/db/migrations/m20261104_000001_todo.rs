//! The to-do app's tasks.
//!
//! Priority is stored as its rank (1 low, 2 medium, 3 high) so "high first" is a plain index order. Every
//! list is one owner's, so each index leads with `owner_id` and then serves one filter or ordering.

use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261104_000001_todo"
    }
}

const UP: &str = r#"
CREATE TABLE todo_tasks (
    id {PK},
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title VARCHAR(200) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 2 CHECK (priority IN (1, 2, 3)),
    completed BOOLEAN NOT NULL DEFAULT FALSE,
    completed_at {TS},
    due_date DATE,
    position BIGINT NOT NULL DEFAULT 0,
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
CREATE INDEX todo_tasks_owner_position ON todo_tasks (owner_id, position, id);
CREATE INDEX todo_tasks_owner_priority ON todo_tasks (owner_id, priority, id);
CREATE INDEX todo_tasks_owner_completed ON todo_tasks (owner_id, completed, due_date);
CREATE INDEX todo_tasks_owner_due ON todo_tasks (owner_id, due_date, id);
CREATE INDEX todo_tasks_owner_created ON todo_tasks (owner_id, created_at, id);
CREATE INDEX todo_tasks_owner_title ON todo_tasks (owner_id, LOWER(title), id)
"#;

const DOWN: &str = r#"
DROP TABLE todo_tasks
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}
