//! Imported roadmaps and progress rows. A roadmap's structure is kept as the parsed document (JSON); its
//! items are addressed by their stable keys, so progress survives re-export and re-import.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use trellis_roadmap::Roadmap;

use super::Progress;

pub mod roadmap {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tracker_roadmaps")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub owner_id: i64,
        pub title: String,
        pub document: String,
        pub start_date: Option<String>,
        pub days_per_week: i32,
        pub rest_days: String,
        pub share_token: Option<String>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        pub fn roadmap(&self) -> Result<Roadmap, crate::error::AppError> {
            serde_json::from_str(&self.document).map_err(|e| {
                crate::error::AppError::Internal(anyhow::anyhow!("stored roadmap {}: {e}", self.id))
            })
        }

        pub fn start(&self) -> Option<NaiveDate> {
            self.start_date
                .as_deref()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        }
    }
}

pub use roadmap::Model as StoredRoadmap;

#[derive(Clone, Debug, FromQueryResult)]
pub struct ProgressRow {
    pub item_key: String,
    pub status: String,
    pub note: String,
    pub updated_at: DateTime<Utc>,
}

/// Everything recorded for a roadmap, by item key.
pub async fn progress_of(
    db: &impl ConnectionTrait,
    roadmap_id: i64,
) -> Result<HashMap<String, ProgressRow>, DbErr> {
    let rows = ProgressRow::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT item_key, status, note, updated_at FROM tracker_progress WHERE roadmap_id = $1",
        [roadmap_id.into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.item_key.clone(), r)).collect())
}

/// Progress of many roadmaps in one statement (for lists), by roadmap id and item key.
pub async fn progress_of_many(
    db: &impl ConnectionTrait,
    roadmap_ids: &[i64],
) -> Result<HashMap<i64, HashMap<String, ProgressRow>>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        roadmap_id: i64,
        item_key: String,
        status: String,
        note: String,
        updated_at: DateTime<Utc>,
    }
    let mut out: HashMap<i64, HashMap<String, ProgressRow>> = HashMap::new();
    if roadmap_ids.is_empty() {
        return Ok(out);
    }
    let placeholders: Vec<String> = (1..=roadmap_ids.len()).map(|i| format!("${i}")).collect();
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "SELECT roadmap_id, item_key, status, note, updated_at FROM tracker_progress \
             WHERE roadmap_id IN ({})",
            placeholders.join(", ")
        ),
        roadmap_ids
            .iter()
            .map(|id| (*id).into())
            .collect::<Vec<sea_orm::Value>>(),
    ))
    .all(db)
    .await?;
    for r in rows {
        let row = ProgressRow {
            item_key: r.item_key.clone(),
            status: r.status,
            note: r.note,
            updated_at: r.updated_at,
        };
        out.entry(r.roadmap_id).or_default().insert(r.item_key, row);
    }
    Ok(out)
}

/// Records a status (and note) for an item, and the activity that streaks count.
pub async fn set_progress(
    db: &impl ConnectionTrait,
    roadmap_id: i64,
    key: &str,
    status: Progress,
    note: Option<&str>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let now = Utc::now();
    // Without a note the existing one is kept.
    let sql = if note.is_some() {
        "INSERT INTO tracker_progress (roadmap_id, item_key, status, note, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (roadmap_id, item_key) DO UPDATE SET status = excluded.status, note = excluded.note, \
             updated_at = excluded.updated_at"
    } else {
        "INSERT INTO tracker_progress (roadmap_id, item_key, status, note, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (roadmap_id, item_key) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at"
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [
            roadmap_id.into(),
            key.into(),
            status.as_str().into(),
            note.unwrap_or("").into(),
            now.into(),
        ],
    ))
    .await?;
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO tracker_activity (roadmap_id, item_key, status, day, at) VALUES ($1, $2, $3, $4, $5)",
        [
            roadmap_id.into(),
            key.into(),
            status.as_str().into(),
            now.date_naive().format("%Y-%m-%d").to_string().into(),
            now.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Days (UTC) on which anything was marked, newest first.
pub async fn active_days(
    db: &impl ConnectionTrait,
    roadmap_id: i64,
) -> Result<Vec<NaiveDate>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        day: String,
    }
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT DISTINCT day FROM tracker_activity WHERE roadmap_id = $1 ORDER BY day DESC LIMIT 400",
        [roadmap_id.into()],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").ok())
        .collect())
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<StoredRoadmap>, DbErr> {
    roadmap::Entity::find_by_id(id).one(db).await
}

/// The owner's roadmap behind a path id, or 404 (another user's roadmap is not acknowledged to exist).
pub async fn owned(
    db: &impl ConnectionTrait,
    owner: i64,
    id: &str,
) -> Result<StoredRoadmap, crate::error::AppError> {
    crate::db::owned::<roadmap::Entity>(db, id, roadmap::Column::OwnerId, owner, "roadmap").await
}

pub async fn by_share_token(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<StoredRoadmap>, DbErr> {
    roadmap::Entity::find()
        .filter(roadmap::Column::ShareToken.eq(token))
        .one(db)
        .await
}

fn of_owner(owner: i64) -> sea_orm::Select<roadmap::Entity> {
    use sea_orm::QueryOrder;
    roadmap::Entity::find()
        .filter(roadmap::Column::OwnerId.eq(owner))
        .order_by_desc(roadmap::Column::CreatedAt)
        .order_by_desc(roadmap::Column::Id)
}

/// One page of an owner's roadmaps, newest first, and how many they have.
pub async fn page_of_owner(
    db: &impl ConnectionTrait,
    owner: i64,
    window: crate::db::Window,
) -> Result<(Vec<StoredRoadmap>, u64), DbErr> {
    crate::db::paged_select(db, of_owner(owner), window).await
}

/// An owner's newest roadmaps, at most `limit`.
pub async fn newest_of_owner(
    db: &impl ConnectionTrait,
    owner: i64,
    limit: u64,
) -> Result<Vec<StoredRoadmap>, DbErr> {
    use sea_orm::QuerySelect;
    of_owner(owner).limit(limit).all(db).await
}
