//! The roadmap tracker: imported roadmaps, per-item progress, and the activity behind streaks.

use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261105_000001_tracker"
    }
}

const UP: &str = r#"
CREATE TABLE tracker_roadmaps (
    id {PK},
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title VARCHAR(300) NOT NULL,
    document TEXT NOT NULL,
    start_date VARCHAR(10),
    days_per_week INTEGER NOT NULL DEFAULT 7,
    rest_days VARCHAR(40) NOT NULL DEFAULT '',
    share_token VARCHAR(64) UNIQUE,
    created_at {TS} NOT NULL,
    updated_at {TS} NOT NULL
);
CREATE INDEX tracker_roadmaps_owner ON tracker_roadmaps (owner_id, created_at);

CREATE TABLE tracker_progress (
    roadmap_id BIGINT NOT NULL REFERENCES tracker_roadmaps (id) ON DELETE CASCADE,
    item_key VARCHAR(100) NOT NULL,
    status VARCHAR(10) NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    updated_at {TS} NOT NULL,
    PRIMARY KEY (roadmap_id, item_key)
);

CREATE TABLE tracker_activity (
    id {PK},
    roadmap_id BIGINT NOT NULL REFERENCES tracker_roadmaps (id) ON DELETE CASCADE,
    item_key VARCHAR(100) NOT NULL,
    status VARCHAR(10) NOT NULL,
    day VARCHAR(10) NOT NULL,
    at {TS} NOT NULL
);
CREATE INDEX tracker_activity_day ON tracker_activity (roadmap_id, day)
"#;

const DOWN: &str = r#"
DROP TABLE tracker_activity;
DROP TABLE tracker_progress;
DROP TABLE tracker_roadmaps
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
