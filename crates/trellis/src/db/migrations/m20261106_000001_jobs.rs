//! The background job queue shared by every app.
//!
//! A worker claims a queued job by flipping it to `running` in one conditional UPDATE, and holds it under a
//! lease (`lease_expires_ms`, epoch milliseconds so both backends compare plain integers) that it renews
//! while working. A job whose lease ran out belongs to a worker that died: it is queued again or, past
//! `max_attempts`, failed.

use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261106_000001_jobs"
    }
}

const UP: &str = r#"
CREATE TABLE jobs (
    id {PK},
    kind VARCHAR(64) NOT NULL,
    owner_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    status VARCHAR(16) NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    payload TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    error TEXT,
    progress INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    worker VARCHAR(64),
    lease_expires_ms BIGINT,
    created_at {TS} NOT NULL,
    started_at {TS},
    finished_at {TS}
);
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_owner ON jobs (owner_id, id)
"#;

const DOWN: &str = r#"
DROP TABLE jobs
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
