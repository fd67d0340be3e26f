//! How many published posts carry each tag, kept by the database itself so the tag cloud (on every HTML
//! blog list and `GET /api/tags`) costs as much at a million posts as at ten: it reads one row per tag
//! and shard instead of grouping every published post's tags.
//!
//! Triggers keep `blog_tag_counts` exact whatever writes the rows, in the writing transaction: a tag
//! linked to or unlinked from a published post, a post published or unpublished, a published post
//! deleted (before its links go, so each is counted once). As with `blog_post_counts`, a tag's count is
//! spread over sixteen rows picked by post id, so concurrent publishers on PostgreSQL rarely wait on
//! the same row; readers add them up.
//!
//! On PostgreSQL a transaction may change several tags' rows, one trigger call at a time and in no
//! particular order, so two writers of one shard could each hold a row the other wants (a deadlock,
//! seen under concurrent edits and deletes). Every path therefore locks in one order: the post's row
//! (the statement's own lock, or `FOR SHARE` from a link), then the shard's `blog_post_counts` row
//! (which publishing, unpublishing and deleting lock anyway), then tag rows. Holding the shard row
//! makes its tag rows uncontended.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261112_000001_tag_counts"
    }
}

const TABLE: &str = r#"
CREATE TABLE blog_tag_counts (
    tag_id BIGINT NOT NULL REFERENCES blog_tags (id) ON DELETE CASCADE,
    shard INTEGER NOT NULL,
    published BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tag_id, shard)
);
INSERT INTO blog_tag_counts (tag_id, shard, published)
    SELECT pt.tag_id, pt.post_id % 16, COUNT(*) FROM blog_post_tags pt
    JOIN blog_posts p ON p.id = pt.post_id WHERE p.status = 'published'
    GROUP BY pt.tag_id, pt.post_id % 16
"#;

fn sqlite_triggers() -> Vec<String> {
    // One more creates the row on first use; one less only ever meets a row that counted the link (an
    // insert there could name a tag being deleted).
    let bump = |tag: &str, post: &str, delta: &str| {
        if delta == "1" {
            format!(
                "INSERT INTO blog_tag_counts (tag_id, shard, published) VALUES ({tag}, {post} % 16, 1) \
                 ON CONFLICT (tag_id, shard) DO UPDATE SET published = published + 1"
            )
        } else {
            format!(
                "UPDATE blog_tag_counts SET published = published - 1 \
                 WHERE tag_id = {tag} AND shard = {post} % 16"
            )
        }
    };
    let published = |post: &str| {
        format!("EXISTS (SELECT 1 FROM blog_posts WHERE id = {post} AND status = 'published')")
    };
    // A link counts where its post is published: one more when it appears, one less when it goes. A
    // link removed with its post (the cascade) finds the post gone: counted by the post's trigger.
    let links = [
        ("insert", "INSERT", "NEW", "1"),
        ("delete", "DELETE", "OLD", "-1"),
        ("update_old", "UPDATE", "OLD", "-1"),
        ("update_new", "UPDATE", "NEW", "1"),
    ];
    let mut triggers: Vec<String> = links
        .iter()
        .map(|(name, event, row, delta)| {
            format!(
                "CREATE TRIGGER blog_post_tags_count_{name} AFTER {event} ON blog_post_tags WHEN {} \
                 BEGIN {}; END",
                published(&format!("{row}.post_id")),
                bump(&format!("{row}.tag_id"), &format!("{row}.post_id"), delta)
            )
        })
        .collect();
    triggers.extend([
        "CREATE TRIGGER blog_posts_tag_count_delete BEFORE DELETE ON blog_posts \
         WHEN OLD.status = 'published' \
         BEGIN UPDATE blog_tag_counts SET published = published - 1 \
           WHERE shard = OLD.id % 16 AND tag_id IN (SELECT tag_id FROM blog_post_tags WHERE post_id = OLD.id); END"
            .into(),
        "CREATE TRIGGER blog_posts_tag_count_status AFTER UPDATE OF status ON blog_posts \
         WHEN (OLD.status = 'published') <> (NEW.status = 'published') \
         BEGIN INSERT INTO blog_tag_counts (tag_id, shard, published) \
           SELECT tag_id, NEW.id % 16, CASE WHEN NEW.status = 'published' THEN 1 ELSE -1 END \
           FROM blog_post_tags WHERE post_id = NEW.id \
           ON CONFLICT (tag_id, shard) DO UPDATE SET published = published + excluded.published; END"
            .into(),
    ]);
    triggers
}

const POSTGRES_TRIGGERS: &[&str] = &[
    // The post's row is read FOR SHARE: a concurrent publish or unpublish of it (which locks the row)
    // then runs wholly before or after this link, and each sees the other's work. Then the shard's
    // row in blog_post_counts, then the tag's (see the module documentation).
    r#"CREATE FUNCTION blog_post_tags_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM 1 FROM blog_posts WHERE id = OLD.post_id AND status = 'published' FOR SHARE;
        IF FOUND THEN
            PERFORM 1 FROM blog_post_counts WHERE shard = OLD.post_id % 16 FOR NO KEY UPDATE;
            UPDATE blog_tag_counts SET published = published - 1
                WHERE tag_id = OLD.tag_id AND shard = OLD.post_id % 16;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM 1 FROM blog_posts WHERE id = NEW.post_id AND status = 'published' FOR SHARE;
        IF FOUND THEN
            PERFORM 1 FROM blog_post_counts WHERE shard = NEW.post_id % 16 FOR NO KEY UPDATE;
            INSERT INTO blog_tag_counts (tag_id, shard, published) VALUES (NEW.tag_id, NEW.post_id % 16, 1)
                ON CONFLICT (tag_id, shard) DO UPDATE SET published = blog_tag_counts.published + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$"#,
    "CREATE TRIGGER blog_post_tags_count AFTER INSERT OR DELETE OR UPDATE ON blog_post_tags \
     FOR EACH ROW EXECUTE FUNCTION blog_post_tags_count()",
    // Deleting: before the row goes, while its links are still there (the cascade removes them after).
    r#"CREATE FUNCTION blog_posts_tag_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'published' THEN
            PERFORM 1 FROM blog_post_counts WHERE shard = OLD.id % 16 FOR NO KEY UPDATE;
            UPDATE blog_tag_counts SET published = published - 1
                WHERE shard = OLD.id % 16 AND tag_id IN (SELECT tag_id FROM blog_post_tags WHERE post_id = OLD.id);
        END IF;
        RETURN OLD;
    END IF;
    IF (OLD.status = 'published') <> (NEW.status = 'published') THEN
        PERFORM 1 FROM blog_post_counts WHERE shard = NEW.id % 16 FOR NO KEY UPDATE;
        INSERT INTO blog_tag_counts (tag_id, shard, published)
            SELECT tag_id, NEW.id % 16, CASE WHEN NEW.status = 'published' THEN 1 ELSE -1 END
            FROM blog_post_tags WHERE post_id = NEW.id
            ON CONFLICT (tag_id, shard) DO UPDATE SET published = blog_tag_counts.published + EXCLUDED.published;
    END IF;
    RETURN NULL;
END
$$"#,
    "CREATE TRIGGER blog_posts_tag_count_delete BEFORE DELETE ON blog_posts \
     FOR EACH ROW EXECUTE FUNCTION blog_posts_tag_count()",
    "CREATE TRIGGER blog_posts_tag_count_status AFTER UPDATE OF status ON blog_posts \
     FOR EACH ROW EXECUTE FUNCTION blog_posts_tag_count()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, TABLE).await?;
        let db = manager.get_connection();
        let triggers: Vec<String> = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                POSTGRES_TRIGGERS.iter().map(|s| String::from(*s)).collect()
            }
            _ => sqlite_triggers(),
        };
        for sql in triggers {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let script = match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                "DROP TRIGGER blog_post_tags_count ON blog_post_tags; DROP FUNCTION blog_post_tags_count(); \
                 DROP TRIGGER blog_posts_tag_count_delete ON blog_posts; \
                 DROP TRIGGER blog_posts_tag_count_status ON blog_posts; DROP FUNCTION blog_posts_tag_count(); \
                 DROP TABLE blog_tag_counts"
            }
            _ => {
                "DROP TRIGGER blog_post_tags_count_insert; DROP TRIGGER blog_post_tags_count_delete; \
                 DROP TRIGGER blog_post_tags_count_update_old; DROP TRIGGER blog_post_tags_count_update_new; \
                 DROP TRIGGER blog_posts_tag_count_delete; DROP TRIGGER blog_posts_tag_count_status; \
                 DROP TABLE blog_tag_counts"
            }
        };
        run_script(manager, script).await
    }
}
