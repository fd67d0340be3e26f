//! Migrations for every app, in order. Each app adds its own files here; names sort by date.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use sea_orm_migration::prelude::*;

mod m20261101_000001_accounts;
mod m20261102_000001_blog;
mod m20261103_000001_api;
mod m20261104_000001_todo;
mod m20261105_000001_tracker;
mod m20261106_000001_jobs;
mod m20261107_000001_sentiment;
mod m20261108_000001_admin_log;
mod m20261109_000001_shop;
mod m20261110_000001_blog_counts;
mod m20261111_000001_list_indexes;
mod m20261112_000001_tag_counts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261101_000001_accounts::Migration),
            Box::new(m20261102_000001_blog::Migration),
            Box::new(m20261103_000001_api::Migration),
            Box::new(m20261104_000001_todo::Migration),
            Box::new(m20261105_000001_tracker::Migration),
            Box::new(m20261106_000001_jobs::Migration),
            Box::new(m20261107_000001_sentiment::Migration),
            Box::new(m20261108_000001_admin_log::Migration),
            Box::new(m20261109_000001_shop::Migration),
            Box::new(m20261110_000001_blog_counts::Migration),
            Box::new(m20261111_000001_list_indexes::Migration),
            Box::new(m20261112_000001_tag_counts::Migration),
        ]
    }
}

/// Runs each statement of a `;`-separated script, with `{PK}`/`{TS}` adapted to the backend.
pub(crate) async fn run_script(manager: &SchemaManager<'_>, script: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let sql = crate::db::ddl(manager.get_database_backend(), script);
    for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        db.execute_unprepared(stmt).await?;
    }
    Ok(())
}

/// Registers permissions (`app.action_model`, description) and grants them to groups, creating what is missing.
pub(crate) async fn seed_permissions(
    manager: &SchemaManager<'_>,
    permissions: &[(&str, &str)],
    grants: &[(&str, &[&str])],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = manager.get_database_backend();
    for (codename, name) in permissions {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            insert_ignore(
                backend,
                "INSERT INTO auth_permissions (codename, name) VALUES ($1, $2)",
            ),
            [(*codename).into(), (*name).into()],
        ))
        .await?;
    }
    for (group, codes) in grants {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            insert_ignore(backend, "INSERT INTO auth_groups (name) VALUES ($1)"),
            [(*group).into()],
        ))
        .await?;
        for code in *codes {
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                insert_ignore(
                    backend,
                    "INSERT INTO auth_group_permissions (group_id, permission_id) \
                     SELECT g.id, p.id FROM auth_groups g, auth_permissions p WHERE g.name = $1 AND p.codename = $2",
                ),
                [(*group).into(), (*code).into()],
            ))
            .await?;
        }
    }
    Ok(())
}

fn insert_ignore(backend: DatabaseBackend, sql: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("{sql} ON CONFLICT DO NOTHING"),
        _ => sql.replacen("INSERT INTO", "INSERT OR IGNORE INTO", 1),
    }
}
