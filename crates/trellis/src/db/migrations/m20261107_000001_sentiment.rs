//! Sentiment datasets (uploaded CSV rows), user-trained models and the results of analysis jobs.
//!
//! Rows live in the database rather than as files so every instance sees them and a dataset is deleted in
//! one statement. A model's weights are a few hundred kilobytes to a few megabytes: stored beside its
//! evaluation report, so a model and its report can never disagree.

use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261107_000001_sentiment"
    }
}

const UP: &str = r#"
CREATE TABLE sentiment_datasets (
    id {PK},
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name VARCHAR(200) NOT NULL,
    filename VARCHAR(255) NOT NULL,
    row_count INTEGER NOT NULL,
    labeled_count INTEGER NOT NULL,
    positive_count INTEGER NOT NULL,
    size_bytes BIGINT NOT NULL,
    created_at {TS} NOT NULL
);
CREATE INDEX sentiment_datasets_owner ON sentiment_datasets (owner_id, id);
CREATE TABLE sentiment_rows (
    dataset_id BIGINT NOT NULL REFERENCES sentiment_datasets (id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    text TEXT NOT NULL,
    label SMALLINT CHECK (label IN (0, 1)),
    PRIMARY KEY (dataset_id, line)
);
CREATE TABLE sentiment_models (
    id {PK},
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name VARCHAR(64) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    dataset_id BIGINT REFERENCES sentiment_datasets (id) ON DELETE SET NULL,
    job_id BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    weights {BLOB} NOT NULL,
    report TEXT NOT NULL,
    created_at {TS} NOT NULL
);
CREATE UNIQUE INDEX sentiment_models_owner_name ON sentiment_models (owner_id, name);
CREATE INDEX sentiment_models_dataset ON sentiment_models (dataset_id);
CREATE INDEX sentiment_models_job ON sentiment_models (job_id);
CREATE TABLE sentiment_results (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    label SMALLINT NOT NULL CHECK (label IN (0, 1)),
    positive REAL NOT NULL,
    PRIMARY KEY (job_id, line)
)
"#;

const DOWN: &str = r#"
DROP TABLE sentiment_results;
DROP TABLE sentiment_models;
DROP TABLE sentiment_rows;
DROP TABLE sentiment_datasets
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
