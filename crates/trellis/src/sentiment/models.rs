//! Datasets, their rows, user-trained models and analysis results, and the queries on them. Every query
//! that a user can reach is scoped to its owner.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, FromQueryResult, QueryOrder, Statement};

use super::upload::Parsed;

/// Rows per INSERT statement: well under both backends' bound-parameter limits.
const INSERT_CHUNK: usize = 500;

pub mod dataset {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sentiment_datasets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub owner_id: i64,
        pub name: String,
        pub filename: String,
        pub row_count: i32,
        pub labeled_count: i32,
        pub positive_count: i32,
        pub size_bytes: i64,
        pub created_at: DateTime<Utc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use dataset::Model as Dataset;

impl Dataset {
    /// Why a model cannot be trained on this dataset, if it cannot (the rule the training job applies).
    pub fn untrainable_reason(&self) -> Option<String> {
        super::work::untrainable(self.labeled_count as usize, self.positive_count as usize)
    }
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// Stores a parsed upload and its rows, in the caller's transaction.
pub async fn create_dataset(
    txn: &sea_orm::DatabaseTransaction,
    owner_id: i64,
    name: &str,
    filename: &str,
    size_bytes: usize,
    parsed: &Parsed,
) -> Result<Dataset, DbErr> {
    let ds = dataset::ActiveModel {
        owner_id: sea_orm::Set(owner_id),
        name: sea_orm::Set(name.to_string()),
        filename: sea_orm::Set(filename.to_string()),
        row_count: sea_orm::Set(parsed.rows.len() as i32),
        labeled_count: sea_orm::Set(parsed.labeled as i32),
        positive_count: sea_orm::Set(parsed.positive as i32),
        size_bytes: sea_orm::Set(size_bytes as i64),
        created_at: sea_orm::Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    for chunk in parsed.rows.chunks(INSERT_CHUNK) {
        let mut sql =
            String::from("INSERT INTO sentiment_rows (dataset_id, line, text, label) VALUES ");
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 4);
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * 4;
            sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
            values.push(ds.id.into());
            values.push(row.line.into());
            values.push(row.text.clone().into());
            values.push(row.label.map(i16::from).into());
        }
        txn.execute_raw(stmt(txn, &sql, values)).await?;
    }
    Ok(ds)
}

/// One page of an owner's datasets, newest first, and how many they have.
pub async fn list_datasets(
    db: &impl ConnectionTrait,
    owner_id: i64,
    window: crate::db::Window,
) -> Result<(Vec<Dataset>, u64), DbErr> {
    let query = dataset::Entity::find()
        .filter(dataset::Column::OwnerId.eq(owner_id))
        .order_by_desc(dataset::Column::Id);
    crate::db::paged_select(db, query, window).await
}

pub async fn find_dataset(
    db: &impl ConnectionTrait,
    owner_id: i64,
    id: i64,
) -> Result<Option<Dataset>, DbErr> {
    dataset::Entity::find_by_id(id)
        .filter(dataset::Column::OwnerId.eq(owner_id))
        .one(db)
        .await
}

/// The owner's dataset behind a path id, or 404 (another user's is not acknowledged to exist).
pub async fn owned_dataset(
    db: &impl ConnectionTrait,
    owner_id: i64,
    id: &str,
) -> Result<Dataset, crate::error::AppError> {
    crate::db::owned::<dataset::Entity>(db, id, dataset::Column::OwnerId, owner_id, "dataset").await
}

/// Deletes a dataset and (by cascade) its rows; models trained on it keep working.
pub async fn delete_dataset(
    db: &impl ConnectionTrait,
    owner_id: i64,
    id: i64,
) -> Result<bool, DbErr> {
    let res = dataset::Entity::delete_many()
        .filter(dataset::Column::Id.eq(id))
        .filter(dataset::Column::OwnerId.eq(owner_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

#[derive(Clone, Debug, FromQueryResult, serde::Serialize)]
pub struct DataRow {
    pub line: i32,
    pub text: String,
    pub label: Option<i16>,
}

/// Rows after `after_line`, in file order.
pub async fn rows_after(
    db: &impl ConnectionTrait,
    dataset_id: i64,
    after_line: i32,
    limit: u64,
) -> Result<Vec<DataRow>, DbErr> {
    DataRow::find_by_statement(stmt(
        db,
        "SELECT line, text, label FROM sentiment_rows WHERE dataset_id = $1 AND line > $2 \
         ORDER BY line LIMIT $3",
        vec![dataset_id.into(), after_line.into(), (limit as i64).into()],
    ))
    .all(db)
    .await
}

pub async fn labeled_rows(
    db: &impl ConnectionTrait,
    dataset_id: i64,
) -> Result<Vec<DataRow>, DbErr> {
    DataRow::find_by_statement(stmt(
        db,
        "SELECT line, text, label FROM sentiment_rows WHERE dataset_id = $1 AND label IS NOT NULL \
         ORDER BY line",
        vec![dataset_id.into()],
    ))
    .all(db)
    .await
}

// ------------------------------------------------------------------ trained models

/// A user's model without its weights (what lists and permission checks need).
#[derive(Clone, Debug, FromQueryResult)]
pub struct TrainedModel {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub kind: String,
    pub dataset_id: Option<i64>,
    pub job_id: Option<i64>,
    pub report: String,
    pub created_at: DateTime<Utc>,
}

impl TrainedModel {
    pub fn report_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.report).unwrap_or(serde_json::Value::Null)
    }
}

const MODEL_COLUMNS: &str = "id, owner_id, name, kind, dataset_id, job_id, report, created_at";

/// A model's name is unique per owner.
pub const MODEL_NAME_UNIQUE: crate::error::Unique = crate::error::Unique {
    name: "sentiment_models_owner_name",
    columns: "sentiment_models.owner_id, sentiment_models.name",
    field: "name",
};

pub async fn list_models(
    db: &impl ConnectionTrait,
    owner_id: i64,
) -> Result<Vec<TrainedModel>, DbErr> {
    TrainedModel::find_by_statement(stmt(
        db,
        &format!("SELECT {MODEL_COLUMNS} FROM sentiment_models WHERE owner_id = $1 ORDER BY name"),
        vec![owner_id.into()],
    ))
    .all(db)
    .await
}

pub async fn find_model(
    db: &impl ConnectionTrait,
    owner_id: i64,
    name: &str,
) -> Result<Option<TrainedModel>, DbErr> {
    TrainedModel::find_by_statement(stmt(
        db,
        &format!("SELECT {MODEL_COLUMNS} FROM sentiment_models WHERE owner_id = $1 AND name = $2"),
        vec![owner_id.into(), name.into()],
    ))
    .one(db)
    .await
}

pub async fn model_for_job(
    db: &impl ConnectionTrait,
    job_id: i64,
) -> Result<Option<TrainedModel>, DbErr> {
    TrainedModel::find_by_statement(stmt(
        db,
        &format!("SELECT {MODEL_COLUMNS} FROM sentiment_models WHERE job_id = $1"),
        vec![job_id.into()],
    ))
    .one(db)
    .await
}

pub async fn model_weights(db: &impl ConnectionTrait, id: i64) -> Result<Option<Vec<u8>>, DbErr> {
    #[derive(FromQueryResult)]
    struct W {
        weights: Vec<u8>,
    }
    Ok(W::find_by_statement(stmt(
        db,
        "SELECT weights FROM sentiment_models WHERE id = $1",
        vec![id.into()],
    ))
    .one(db)
    .await?
    .map(|w| w.weights))
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_model(
    db: &impl ConnectionTrait,
    owner_id: i64,
    name: &str,
    kind: &str,
    dataset_id: i64,
    job_id: i64,
    weights: Vec<u8>,
    report: &serde_json::Value,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        db,
        "INSERT INTO sentiment_models (owner_id, name, kind, dataset_id, job_id, weights, report, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            owner_id.into(),
            name.into(),
            kind.into(),
            dataset_id.into(),
            job_id.into(),
            weights.into(),
            report.to_string().into(),
            Utc::now().into(),
        ],
    ))
    .await?;
    Ok(())
}

pub async fn delete_model(
    db: &impl ConnectionTrait,
    owner_id: i64,
    name: &str,
) -> Result<Option<i64>, DbErr> {
    let Some(m) = find_model(db, owner_id, name).await? else {
        return Ok(None);
    };
    db.execute_raw(stmt(
        db,
        "DELETE FROM sentiment_models WHERE id = $1",
        vec![m.id.into()],
    ))
    .await?;
    Ok(Some(m.id))
}

// ------------------------------------------------------------------ analysis results

/// One result to store: line, label (1 positive), P(positive).
pub type ResultRow = (i32, bool, f32);

pub async fn insert_results(
    db: &impl ConnectionTrait,
    job_id: i64,
    rows: &[ResultRow],
) -> Result<(), DbErr> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut sql =
            String::from("INSERT INTO sentiment_results (job_id, line, label, positive) VALUES ");
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 4);
        for (i, (line, label, p)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * 4;
            sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
            values.push(job_id.into());
            values.push((*line).into());
            values.push(i16::from(*label).into());
            values.push((*p).into());
        }
        db.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// The last line a job has stored a result for (0 when none): where a resumed job continues.
pub async fn last_result_line(db: &impl ConnectionTrait, job_id: i64) -> Result<(i32, u64), DbErr> {
    #[derive(FromQueryResult)]
    struct R {
        last: Option<i32>,
        n: i64,
    }
    let r = R::find_by_statement(stmt(
        db,
        "SELECT MAX(line) AS last, COUNT(*) AS n FROM sentiment_results WHERE job_id = $1",
        vec![job_id.into()],
    ))
    .one(db)
    .await?;
    Ok(r.map(|r| (r.last.unwrap_or(0), r.n.max(0) as u64))
        .unwrap_or((0, 0)))
}

/// Counts of a finished analysis: positives, and agreement with the dataset's own labels.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Summary {
    pub total: i64,
    pub positive: Option<i64>,
    pub labeled: Option<i64>,
    pub correct: Option<i64>,
}

pub async fn summarize(
    db: &impl ConnectionTrait,
    job_id: i64,
    dataset_id: i64,
) -> Result<Summary, DbErr> {
    Summary::find_by_statement(stmt(
        db,
        "SELECT COUNT(*) AS total, \
                SUM(CASE WHEN r.label = 1 THEN 1 ELSE 0 END) AS positive, \
                SUM(CASE WHEN d.label IS NOT NULL THEN 1 ELSE 0 END) AS labeled, \
                SUM(CASE WHEN d.label = r.label THEN 1 ELSE 0 END) AS correct \
         FROM sentiment_results r JOIN sentiment_rows d ON d.dataset_id = $2 AND d.line = r.line \
         WHERE r.job_id = $1",
        vec![job_id.into(), dataset_id.into()],
    ))
    .one(db)
    .await
    .map(|s| {
        s.unwrap_or(Summary {
            total: 0,
            positive: None,
            labeled: None,
            correct: None,
        })
    })
}

#[derive(Clone, Debug, FromQueryResult, serde::Serialize)]
pub struct ResultLine {
    pub line: i32,
    pub text: String,
    pub label: i16,
    pub positive: f32,
    /// The dataset's own label, if it had one.
    pub expected: Option<i16>,
}

/// A job's results with their texts, in file order. Texts come from the dataset, so results of a
/// deleted dataset come back without them.
pub async fn results(
    db: &impl ConnectionTrait,
    job_id: i64,
    dataset_id: i64,
) -> Result<Vec<ResultLine>, DbErr> {
    ResultLine::find_by_statement(stmt(
        db,
        "SELECT r.line, COALESCE(d.text, '') AS text, r.label, r.positive, d.label AS expected \
         FROM sentiment_results r LEFT JOIN sentiment_rows d ON d.dataset_id = $2 AND d.line = r.line \
         WHERE r.job_id = $1 ORDER BY r.line",
        vec![job_id.into(), dataset_id.into()],
    ))
    .all(db)
    .await
}
