//! The history of changes made through the admin and the `models` commands (Django's `LogEntry`).

use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261108_000001_admin_log"
    }
}

// The actor's name is kept beside the id: the entry still says who once the account is gone.
const UP: &str = r#"
CREATE TABLE admin_log (
    id {PK},
    at {TS} NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor VARCHAR(150) NOT NULL,
    app VARCHAR(64) NOT NULL,
    model VARCHAR(64) NOT NULL,
    object_key TEXT NOT NULL,
    object_repr VARCHAR(255) NOT NULL,
    action VARCHAR(10) NOT NULL CHECK (action IN ('add', 'change', 'delete')),
    message TEXT NOT NULL
);
CREATE INDEX admin_log_object ON admin_log (app, model, object_key, id);
CREATE INDEX admin_log_user ON admin_log (user_id, id)
"#;

const DOWN: &str = r#"
DROP TABLE admin_log
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
