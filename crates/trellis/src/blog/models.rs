//! Posts, tags and comments, and the queries on them. List queries are plain SQL with a fixed number of
//! statements per page (count, page, tags of the page) whatever the page size.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement, Value};

pub mod post {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blog_posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub author_id: i64,
        pub title: String,
        pub slug: String,
        pub description: String,
        pub body: String,
        pub body_html: String,
        pub cover: Option<String>,
        pub status: String,
        pub published_at: Option<DateTime<Utc>>,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        pub fn is_published(&self) -> bool {
            self.status == super::PUBLISHED
        }
    }
}

pub mod comment {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blog_comments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub post_id: i64,
        pub author_id: i64,
        pub body: String,
        pub created_at: DateTime<Utc>,
        pub updated_at: DateTime<Utc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use post::Model as Post;

pub const DRAFT: &str = "draft";
pub const PUBLISHED: &str = "published";

/// A post as lists and pages show it: the post, its author's names and its tags.
#[derive(Clone, Debug, FromQueryResult)]
pub struct PostRow {
    pub id: i64,
    pub author_id: i64,
    pub title: String,
    pub slug: String,
    pub description: String,
    pub cover: Option<String>,
    pub status: String,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub author_username: String,
    pub author_display_name: String,
    pub author_avatar: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PostSummary {
    pub row: PostRow,
    pub tags: Vec<String>,
}

/// Which posts a list shows.
#[derive(Clone, Debug)]
pub enum Filter {
    /// Published posts, newest first.
    Published,
    /// Published posts with a tag.
    Tag(String),
    /// Published posts by an author.
    Author(i64),
    /// Published posts whose title or body contains the text (case-insensitive).
    Search(String),
    /// Every post of an author, drafts included, newest first.
    Mine(i64),
}

/// One slug, one post.
pub const SLUG_UNIQUE: crate::error::Unique = crate::error::Unique {
    name: "blog_posts_slug_key",
    columns: "blog_posts.slug",
    field: "slug",
};

const POST_COLUMNS: &str = "p.id, p.author_id, p.title, p.slug, p.description, p.cover, p.status, p.published_at, \
     p.created_at, p.updated_at, u.username AS author_username, u.display_name AS author_display_name, \
     u.avatar AS author_avatar";

fn filter_sql(filter: &Filter, values: &mut Vec<Value>) -> (String, &'static str) {
    let mut param = |v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    match filter {
        Filter::Published => (
            format!("p.status = '{PUBLISHED}'"),
            "p.published_at DESC, p.id DESC",
        ),
        Filter::Tag(tag) => {
            let t = param(tag.clone().into());
            (
                format!(
                    "p.status = '{PUBLISHED}' AND p.id IN (SELECT pt.post_id FROM blog_post_tags pt \
                     JOIN blog_tags t ON t.id = pt.tag_id WHERE t.name = {t})"
                ),
                "p.published_at DESC, p.id DESC",
            )
        }
        Filter::Author(id) => {
            let a = param((*id).into());
            (
                format!("p.status = '{PUBLISHED}' AND p.author_id = {a}"),
                "p.published_at DESC, p.id DESC",
            )
        }
        Filter::Search(q) => {
            let q = param(crate::db::like_pattern(q).into());
            (
                format!(
                    "p.status = '{PUBLISHED}' AND (LOWER(p.title) LIKE {q} ESCAPE '\\' \
                     OR LOWER(p.body) LIKE {q} ESCAPE '\\')"
                ),
                "p.published_at DESC, p.id DESC",
            )
        }
        Filter::Mine(id) => {
            let a = param((*id).into());
            (format!("p.author_id = {a}"), "p.created_at DESC, p.id DESC")
        }
    }
}

/// The number of published posts, from the counts the database keeps (migration
/// `m20261110_000001_blog_counts`): sixteen rows added up, however many posts there are.
pub const PUBLISHED_COUNT_SQL: &str =
    "SELECT CAST(COALESCE(SUM(published), 0) AS BIGINT) AS n FROM blog_post_counts";

/// One page of posts and the total count: three statements whatever the page size.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &Filter,
    window: crate::db::Window,
) -> Result<(Vec<PostSummary>, u64), DbErr> {
    let mut values = Vec::new();
    let (condition, order) = filter_sql(filter, &mut values);

    let count_sql = match filter {
        Filter::Published => PUBLISHED_COUNT_SQL.to_string(),
        _ => format!("SELECT COUNT(*) AS n FROM blog_posts p WHERE {condition}"),
    };
    let (rows, count) = crate::db::paged::<PostRow>(
        db,
        count_sql,
        format!(
            "SELECT {POST_COLUMNS} FROM blog_posts p JOIN users u ON u.id = p.author_id \
             WHERE {condition} ORDER BY {order}"
        ),
        values,
        window,
    )
    .await?;
    let mut tags = tags_for(db, &rows.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
    let posts = rows
        .into_iter()
        .map(|row| {
            let tags = tags.remove(&row.id).unwrap_or_default();
            PostSummary { row, tags }
        })
        .collect();
    Ok((posts, count))
}

/// Tags of many posts in one statement, each list sorted.
pub async fn tags_for(
    db: &impl ConnectionTrait,
    post_ids: &[i64],
) -> Result<HashMap<i64, Vec<String>>, DbErr> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    if post_ids.is_empty() {
        return Ok(out);
    }
    #[derive(FromQueryResult)]
    struct Row {
        post_id: i64,
        name: String,
    }
    let placeholders: Vec<String> = (1..=post_ids.len()).map(|i| format!("${i}")).collect();
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "SELECT pt.post_id, t.name FROM blog_post_tags pt JOIN blog_tags t ON t.id = pt.tag_id \
             WHERE pt.post_id IN ({}) ORDER BY t.name",
            placeholders.join(", ")
        ),
        post_ids
            .iter()
            .map(|id| Value::from(*id))
            .collect::<Vec<_>>(),
    ))
    .all(db)
    .await?;
    for r in rows {
        out.entry(r.post_id).or_default().push(r.name);
    }
    Ok(out)
}

/// A post with its author, by slug (drafts included; callers decide who may see them).
pub async fn by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<PostSummary>, DbErr> {
    let row = PostRow::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT {POST_COLUMNS} FROM blog_posts p JOIN users u ON u.id = p.author_id WHERE p.slug = $1"),
        [slug.into()],
    ))
    .one(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let tags = tags_for(db, &[row.id])
        .await?
        .remove(&row.id)
        .unwrap_or_default();
    Ok(Some(PostSummary { row, tags }))
}

pub async fn find_post(db: &impl ConnectionTrait, id: i64) -> Result<Option<Post>, DbErr> {
    post::Entity::find_by_id(id).one(db).await
}

pub async fn slug_taken(
    db: &impl ConnectionTrait,
    slug: &str,
    except: Option<i64>,
) -> Result<bool, DbErr> {
    let mut q = post::Entity::find().filter(post::Column::Slug.eq(slug));
    if let Some(id) = except {
        q = q.filter(post::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

/// A slug without its trailing `-<number>` parts: `gale-3-2` → `gale`. Every slug [`unique_slug`] can
/// choose from a base has the base's stem.
fn slug_stem(slug: &str) -> &str {
    let mut stem = slug;
    while let Some((head, tail)) = stem.rsplit_once('-')
        && !head.is_empty()
        && !tail.is_empty()
        && tail.bytes().all(|b| b.is_ascii_digit())
    {
        stem = head;
    }
    stem
}

/// The first free slug among `base`, `base-2`, `base-3`, …. Transactions that could choose the same slug
/// take turns, so posts written at once get distinct slugs instead of a conflict.
pub async fn unique_slug(
    db: &sea_orm::DatabaseTransaction,
    base: &str,
    except: Option<i64>,
) -> Result<String, DbErr> {
    // By stem, not base: `gale-3` is both the third "Gale" and the first "Gale 3".
    crate::db::lock(db, "blog.slug", slug_stem(base)).await?;
    #[derive(FromQueryResult)]
    struct Row {
        slug: String,
    }
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT slug FROM blog_posts WHERE (slug = $1 OR slug LIKE $2 ESCAPE '\\') AND id <> $3",
        [
            base.into(),
            format!("{}-%", crate::db::like_escape(base)).into(),
            except.unwrap_or(-1).into(),
        ],
    ))
    .all(db)
    .await?;
    let taken: std::collections::HashSet<String> = rows.into_iter().map(|r| r.slug).collect();
    if !taken.contains(base) {
        return Ok(base.to_string());
    }
    let mut n = 2;
    loop {
        let candidate = format!("{base}-{n}");
        if !taken.contains(&candidate) {
            return Ok(candidate);
        }
        n += 1;
    }
}

/// Replaces a post's tags (names already normalized), creating tags that do not exist.
pub async fn set_tags(
    db: &impl ConnectionTrait,
    post_id: i64,
    tags: &[String],
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "DELETE FROM blog_post_tags WHERE post_id = $1",
        [post_id.into()],
    ))
    .await?;
    for tag in tags {
        let insert = match backend {
            DatabaseBackend::Postgres => {
                "INSERT INTO blog_tags (name) VALUES ($1) ON CONFLICT DO NOTHING"
            }
            _ => "INSERT OR IGNORE INTO blog_tags (name) VALUES ($1)",
        };
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            insert,
            [tag.clone().into()],
        ))
        .await?;
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO blog_post_tags (post_id, tag_id) SELECT $1, id FROM blog_tags WHERE name = $2",
            [post_id.into(), tag.clone().into()],
        ))
        .await?;
    }
    Ok(())
}

/// A comment with its author's names.
#[derive(Clone, Debug, FromQueryResult)]
pub struct CommentRow {
    pub id: i64,
    pub post_id: i64,
    pub author_id: i64,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub author_username: String,
    pub author_display_name: String,
    pub author_avatar: Option<String>,
}

pub async fn comments_of(
    db: &impl ConnectionTrait,
    post_id: i64,
) -> Result<Vec<CommentRow>, DbErr> {
    CommentRow::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT c.id, c.post_id, c.author_id, c.body, c.created_at, c.updated_at, u.username AS author_username, \
         u.display_name AS author_display_name, u.avatar AS author_avatar \
         FROM blog_comments c JOIN users u ON u.id = c.author_id WHERE c.post_id = $1 ORDER BY c.created_at, c.id",
        [post_id.into()],
    ))
    .all(db)
    .await
}

pub async fn find_comment(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<comment::Model>, DbErr> {
    comment::Entity::find_by_id(id).one(db).await
}

/// [`popular_tags`] through the cache: the same for every reader, so computed once and shared until the
/// next write. It groups every published post's tags, which no index can make cheap (see
/// docs/performance.md); with the cache off it is computed each time.
pub async fn popular_tags_cached(
    db: &impl ConnectionTrait,
    cache: &crate::cache::Cache,
    limit: u64,
) -> Result<Vec<(String, i64)>, DbErr> {
    let key = format!("blog:popular_tags:{limit}");
    let stored = cache
        .get_or_set(&key, None, || async {
            let tags = popular_tags(db, limit).await?;
            Ok::<_, DbErr>(serde_json::to_vec(&tags).unwrap_or_default().into())
        })
        .await?;
    match serde_json::from_slice(&stored) {
        Ok(tags) => Ok(tags),
        Err(_) => popular_tags(db, limit).await,
    }
}

/// Every tag in use on published posts, with counts, most used first: read from the counts the database
/// keeps (`blog_tag_counts`), one row per tag and shard whatever the number of posts.
pub async fn popular_tags(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<(String, i64)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        name: String,
        n: i64,
    }
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT t.name, CAST(SUM(c.published) AS BIGINT) AS n FROM blog_tag_counts c \
         JOIN blog_tags t ON t.id = c.tag_id GROUP BY t.id, t.name HAVING SUM(c.published) > 0 \
         ORDER BY n DESC, t.name LIMIT $1",
        [(limit as i64).into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.name, r.n)).collect())
}

#[cfg(test)]
mod tests {
    use super::slug_stem;

    #[test]
    fn a_stem_drops_trailing_numbers_only() {
        assert_eq!(slug_stem("gale"), "gale");
        assert_eq!(slug_stem("gale-3"), "gale");
        assert_eq!(slug_stem("gale-3-2"), "gale");
        assert_eq!(slug_stem("top-10-tips"), "top-10-tips");
        assert_eq!(slug_stem("2026"), "2026");
        assert_eq!(slug_stem("2026-2"), "2026");
    }
}
