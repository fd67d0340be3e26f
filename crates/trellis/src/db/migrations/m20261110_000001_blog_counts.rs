//! The number of published posts, kept by the database itself so the article list and the blog index need
//! no `COUNT(*)` over every post on each request.
//!
//! Triggers on `blog_posts` keep `blog_post_counts` exact whatever writes the row (the API, the pages, the
//! admin, fixtures, a bulk load, hand-written SQL), in the writing transaction. The count is spread over
//! sixteen rows picked by post id, so concurrent publishers on PostgreSQL rarely wait on the same row;
//! readers add the sixteen up.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261110_000001_blog_counts"
    }
}

const TABLE: &str = r#"
CREATE TABLE blog_post_counts (
    shard INTEGER PRIMARY KEY,
    published BIGINT NOT NULL DEFAULT 0
);
INSERT INTO blog_post_counts (shard, published)
    SELECT s.shard, 0 FROM (
        SELECT 0 AS shard UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
        UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
        UNION ALL SELECT 10 UNION ALL SELECT 11 UNION ALL SELECT 12 UNION ALL SELECT 13
        UNION ALL SELECT 14 UNION ALL SELECT 15
    ) s;
UPDATE blog_post_counts SET published = (
    SELECT COUNT(*) FROM blog_posts p WHERE p.status = 'published' AND p.id % 16 = blog_post_counts.shard
)
"#;

/// One statement each (trigger bodies hold semicolons, so they are not split).
const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER blog_posts_count_insert AFTER INSERT ON blog_posts WHEN NEW.status = 'published' \
     BEGIN UPDATE blog_post_counts SET published = published + 1 WHERE shard = NEW.id % 16; END",
    "CREATE TRIGGER blog_posts_count_delete AFTER DELETE ON blog_posts WHEN OLD.status = 'published' \
     BEGIN UPDATE blog_post_counts SET published = published - 1 WHERE shard = OLD.id % 16; END",
    "CREATE TRIGGER blog_posts_count_update AFTER UPDATE OF status ON blog_posts \
     WHEN (OLD.status = 'published') <> (NEW.status = 'published') \
     BEGIN UPDATE blog_post_counts \
       SET published = published + (CASE WHEN NEW.status = 'published' THEN 1 ELSE -1 END) \
       WHERE shard = NEW.id % 16; END",
];

const POSTGRES_TRIGGERS: &[&str] = &[
    r#"CREATE FUNCTION blog_posts_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta INTEGER := 0;
    post BIGINT;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        post := NEW.id;
        IF NEW.status = 'published' THEN delta := delta + 1; END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        post := OLD.id;
        IF OLD.status = 'published' THEN delta := delta - 1; END IF;
    END IF;
    IF delta <> 0 THEN
        UPDATE blog_post_counts SET published = published + delta WHERE shard = post % 16;
    END IF;
    RETURN NULL;
END
$$"#,
    "CREATE TRIGGER blog_posts_count AFTER INSERT OR DELETE OR UPDATE OF status ON blog_posts \
     FOR EACH ROW EXECUTE FUNCTION blog_posts_count()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, TABLE).await?;
        let db = manager.get_connection();
        let triggers = match manager.get_database_backend() {
            DatabaseBackend::Postgres => POSTGRES_TRIGGERS,
            _ => SQLITE_TRIGGERS,
        };
        for sql in triggers {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let script = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "DROP TRIGGER blog_posts_count ON blog_posts; DROP FUNCTION blog_posts_count(); \
                 DROP TABLE blog_post_counts"
            }
            _ => {
                "DROP TRIGGER blog_posts_count_insert; DROP TRIGGER blog_posts_count_delete; \
                 DROP TRIGGER blog_posts_count_update; DROP TABLE blog_post_counts"
            }
        };
        run_script(manager, script).await
    }
}
