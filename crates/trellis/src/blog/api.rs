//! The blog over the API, following the RealWorld "Conduit" spec: articles are the blog's published posts.
//! Drafts never appear here.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    FromQueryResult, Statement, Value,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::{self, PUBLISHED, comment, post as post_entity};
use super::posts::{self, Cover, PostChanges, PostInput, Slug};
use super::{Actor, normalize_tags};
use crate::accounts::profiles::{ProfileBody, image_of};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, LimitOffset, LimitOffsetParams};
use crate::http::auth::{MaybeUser, RequireUser};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_articles, create_article))
        .routes(routes!(feed))
        .routes(routes!(get_article, update_article, delete_article))
        .routes(routes!(favorite, unfavorite))
        .routes(routes!(list_comments, add_comment))
        .routes(routes!(delete_comment))
        .routes(routes!(tags))
}

const MAX_LIMIT: u64 = 100;

// ---------------------------------------------------------------- shapes

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleBody {
    slug: String,
    title: String,
    description: String,
    /// Left out of lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// Sorted.
    tag_list: Vec<String>,
    created_at: String,
    updated_at: String,
    favorited: bool,
    favorites_count: i64,
    author: ProfileBody,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleEnvelope {
    article: ArticleBody,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticlesEnvelope {
    articles: Vec<ArticleBody>,
    articles_count: u64,
}

#[derive(FromQueryResult)]
struct ArticleRow {
    slug: String,
    title: String,
    description: String,
    body: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    author_username: String,
    author_bio: String,
    author_image_url: Option<String>,
    author_avatar: Option<String>,
    favorites_count: i64,
    favorited: i32,
    following: i32,
    /// The article's tags as a JSON array of names, alphabetical.
    tags: String,
    /// The list's total (on every row of a page, NULL for one article).
    total: Option<i64>,
}

/// Which articles a list shows.
enum Scope {
    All {
        tag: Option<String>,
        author: Option<String>,
        favorited: Option<String>,
    },
    Feed,
}

/// The `FROM` of one article's statement.
const ONE_ARTICLE: &str = "blog_posts p JOIN users u ON u.id = p.author_id";

/// SQL for published articles with the caller's `favorited`/`following` flags and the tags, all computed
/// in the same statement, and `total` (a scalar subquery the database evaluates once, or `NULL`).
/// `$1` is the caller's id (0 when anonymous).
fn select_sql(
    backend: DatabaseBackend,
    with_body: bool,
    from: &str,
    condition: &str,
    total: &str,
    tail: &str,
) -> String {
    let body = if with_body { "p.body" } else { "'' AS body" };
    // One row per article instead of one per tag: rows cross a thread boundary one by one on SQLite.
    let tags = match backend {
        DatabaseBackend::Postgres => {
            "(SELECT COALESCE(json_agg(t.name ORDER BY t.name), '[]'::json)::text \
             FROM blog_post_tags pt JOIN blog_tags t ON t.id = pt.tag_id WHERE pt.post_id = p.id)"
        }
        _ => {
            "(SELECT json_group_array(t.name ORDER BY t.name) \
             FROM blog_post_tags pt JOIN blog_tags t ON t.id = pt.tag_id WHERE pt.post_id = p.id)"
        }
    };
    format!(
        "SELECT p.id, p.slug, p.title, p.description, {body}, p.created_at, p.updated_at, \
         u.username AS author_username, u.bio AS author_bio, u.image_url AS author_image_url, \
         u.avatar AS author_avatar, \
         (SELECT COUNT(*) FROM blog_favorites f WHERE f.post_id = p.id) AS favorites_count, \
         CASE WHEN EXISTS (SELECT 1 FROM blog_favorites f WHERE f.post_id = p.id AND f.user_id = $1) \
              THEN 1 ELSE 0 END AS favorited, \
         CASE WHEN EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $1 AND fo.followee_id = p.author_id) \
              THEN 1 ELSE 0 END AS following, \
         {tags} AS tags, {total} AS total \
         FROM {from} \
         WHERE p.status = '{PUBLISHED}' AND {condition} {tail}"
    )
}

fn to_body(state: &AppState, row: ArticleRow, with_body: bool) -> ArticleBody {
    // Made by the database from tag names; anything else would be a bug worth seeing, not hiding.
    let tags: Vec<String> = serde_json::from_str(&row.tags).unwrap_or_else(|e| {
        tracing::error!(error = %e, tags = %row.tags, "article tags were not a JSON array");
        Vec::new()
    });
    ArticleBody {
        slug: row.slug,
        title: row.title,
        description: row.description,
        body: with_body.then_some(row.body),
        tag_list: tags,
        created_at: api::timestamp(&row.created_at),
        updated_at: api::timestamp(&row.updated_at),
        favorited: row.favorited != 0,
        favorites_count: row.favorites_count,
        author: ProfileBody {
            username: row.author_username,
            bio: (!row.author_bio.is_empty()).then_some(row.author_bio),
            image: image_of(
                state,
                row.author_image_url.as_deref(),
                row.author_avatar.as_deref(),
            ),
            following: row.following != 0,
        },
    }
}

/// How far apart the feed's bookmarks are: the most rows a deep page skips when its bookmark is known.
const ANCHOR_EVERY: i64 = 1000;

/// The id of the published post at `rank` (0 is the newest) in the feed's order, or `None` past the
/// end. Finding it walks `rank` index entries once; the answer is kept in the cache, whose generation
/// every write moves on, so a bookmark is used only while no post can have been added, removed or
/// republished since it was found (and a rank is therefore still exact).
async fn feed_anchor(state: &AppState, rank: i64) -> Result<Option<i64>> {
    #[derive(FromQueryResult)]
    struct Anchor {
        id: i64,
    }
    let db = &state.db;
    let key = format!("blog:feed_anchor:{rank}");
    let stored = state
        .cache
        .get_or_set(&key, None, || async {
            let found = Anchor::find_by_statement(Statement::from_sql_and_values(
                db.get_database_backend(),
                format!(
                    "SELECT p.id FROM blog_posts p WHERE p.status = '{PUBLISHED}' \
                     ORDER BY p.published_at DESC, p.id DESC LIMIT 1 OFFSET $1"
                ),
                [rank.into()],
            ))
            .one(db)
            .await?;
            Ok::<_, DbErr>(found.map(|a| a.id.to_string()).unwrap_or_default().into())
        })
        .await?;
    Ok(std::str::from_utf8(&stored)
        .ok()
        .and_then(|s| s.parse().ok()))
}

/// One page of articles and the total: one statement whatever the limit (two for a page past the end,
/// one more the first time a deep page's bookmark is looked for).
async fn list(
    state: &AppState,
    me: i64,
    scope: Scope,
    paging: LimitOffset,
) -> Result<ArticlesEnvelope> {
    let db = &state.db;
    let mut values: Vec<Value> = vec![me.into()];
    let unfiltered = matches!(
        scope,
        Scope::All {
            tag: None,
            author: None,
            favorited: None
        }
    );
    let mut conditions: Vec<String> = vec!["1 = 1".into()];
    let param = |v: Value, values: &mut Vec<Value>| {
        values.push(v);
        format!("${}", values.len())
    };
    match scope {
        Scope::Feed => conditions
            .push("p.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)".into()),
        Scope::All {
            tag,
            author,
            favorited,
        } => {
            if let Some(t) = tag {
                let t = param(t.to_lowercase().into(), &mut values);
                conditions.push(format!(
                    "p.id IN (SELECT pt.post_id FROM blog_post_tags pt JOIN blog_tags t ON t.id = pt.tag_id WHERE t.name = {t})"
                ));
            }
            if let Some(a) = author {
                let a = param(a.to_lowercase().into(), &mut values);
                // A subquery rather than the join's column, so the count needs no join.
                conditions.push(format!(
                    "p.author_id IN (SELECT id FROM users WHERE LOWER(username) = {a})"
                ));
            }
            if let Some(f) = favorited {
                let f = param(f.to_lowercase().into(), &mut values);
                conditions.push(format!(
                    "p.id IN (SELECT f.post_id FROM blog_favorites f JOIN users fu ON fu.id = f.user_id \
                     WHERE LOWER(fu.username) = {f})"
                ));
            }
        }
    }
    // Unfiltered, the total is the one the database keeps; filtered, it is counted.
    let count_sql = if unfiltered {
        models::PUBLISHED_COUNT_SQL.to_string()
    } else {
        format!(
            "SELECT COUNT(*) AS n FROM blog_posts p WHERE p.status = '{PUBLISHED}' AND {}",
            conditions.join(" AND ")
        )
    };
    let condition = conditions.join(" AND ");
    let backend = db.get_database_backend();
    let (limit, mut offset) = paging.window().bounds();
    let n = values.len();
    let mut page_values = values.clone();
    // A deep page of the whole feed starts from a bookmark: a post whose rank is known (see
    // [`feed_anchor`]), so the rows skipped are at most `ANCHOR_EVERY` rather than `offset`.
    let mut from_anchor = String::new();
    if unfiltered && offset >= ANCHOR_EVERY && state.cache.is_enabled() {
        let rank = offset / ANCHOR_EVERY * ANCHOR_EVERY;
        if let Some(anchor) = feed_anchor(state, rank).await? {
            offset -= rank;
            from_anchor = format!(
                " AND (p.published_at, p.id) <= \
                 (SELECT a.published_at, a.id FROM blog_posts a WHERE a.id = ${})",
                n + 3
            );
            page_values.extend([limit.into(), offset.into(), anchor.into()]);
        }
    }
    if from_anchor.is_empty() {
        page_values.extend([limit.into(), offset.into()]);
    }
    // One statement: the page, each row with its tags and the total. Newest first; the id breaks ties
    // between articles published in the same instant. The page's ids are picked first, from the index
    // alone, so rows skipped by a deep offset cost an index step each rather than a row with its author,
    // tags and counts (a deferred join).
    let page_ids = format!(
        "SELECT p.id, p.published_at FROM blog_posts p WHERE p.status = '{PUBLISHED}' AND {condition}\
         {from_anchor} ORDER BY p.published_at DESC, p.id DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = ArticleRow::find_by_statement(Statement::from_sql_and_values(
        backend,
        select_sql(
            backend,
            false,
            // CROSS JOIN keeps the twenty ids as SQLite's outer loop (its planner otherwise walked the
            // whole index in order and probed the page for each post); PostgreSQL plans it the same way
            // on its own.
            &format!(
                "({page_ids}) page CROSS JOIN blog_posts p JOIN users u ON u.id = p.author_id"
            ),
            "p.id = page.id",
            &format!("({count_sql})"),
            "ORDER BY page.published_at DESC, page.id DESC",
        ),
        page_values,
    ))
    .all(db)
    .await?;
    let count = match rows.first().and_then(|r| r.total) {
        Some(total) => total.max(0) as u64,
        // A page past the end carries no row to hold the total: count on its own. `$1` must appear in
        // the statement too, or PostgreSQL cannot type the parameter.
        None => {
            let joint = if unfiltered { "WHERE" } else { "AND" };
            crate::db::count(db, format!("{count_sql} {joint} $1 = $1"), values).await?
        }
    };
    let articles = rows.into_iter().map(|r| to_body(state, r, false)).collect();
    Ok(ArticlesEnvelope {
        articles,
        articles_count: count,
    })
}

/// A published article by slug, as the caller sees it.
async fn one(state: &AppState, me: i64, slug: &str) -> Result<ArticleBody> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let row = ArticleRow::find_by_statement(Statement::from_sql_and_values(
        backend,
        select_sql(
            backend,
            true,
            ONE_ARTICLE,
            "p.slug = $2",
            "CAST(NULL AS BIGINT)",
            "",
        ),
        [me.into(), slug.into()],
    ))
    .one(db)
    .await?
    .ok_or_else(|| AppError::not_found("article"))?;
    Ok(to_body(state, row, true))
}

/// The published post behind a slug (drafts are "not found" here).
async fn published(state: &AppState, slug: &str) -> Result<post_entity::Model> {
    use sea_orm::{ColumnTrait, QueryFilter};
    post_entity::Entity::find()
        .filter(post_entity::Column::Slug.eq(slug))
        .filter(post_entity::Column::Status.eq(PUBLISHED))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("article"))
}

fn require_user(actor: &Actor) -> Result<i64> {
    actor
        .id()
        .ok_or_else(|| AppError::Unauthorized(FieldErrors::single("token", "is missing")))
}

fn article_json(article: ArticleBody) -> Response {
    axum::Json(ArticleEnvelope { article }).into_response()
}

// ---------------------------------------------------------------- articles

/// Published articles, newest first; filter by `tag`, `author` or `favorited` (a username).
#[utoipa::path(get, path = "/articles", tag = "articles",
    params(("tag" = Option<String>, Query), ("author" = Option<String>, Query), ("favorited" = Option<String>, Query),
           LimitOffsetParams),
    responses((status = 200, body = ArticlesEnvelope)))]
async fn list_articles(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let paging = LimitOffset::from_query(&q, 20, MAX_LIMIT)?;
    let get = |k: &str| {
        q.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let scope = Scope::All {
        tag: get("tag"),
        author: get("author"),
        favorited: get("favorited"),
    };
    let me = caller.map(|u| u.id).unwrap_or(0);
    Ok(axum::Json(list(&state, me, scope, paging).await?).into_response())
}

/// Articles by the authors the caller follows, newest first.
#[utoipa::path(get, path = "/articles/feed", tag = "articles", security(("token" = [])),
    params(LimitOffsetParams),
    responses((status = 200, body = ArticlesEnvelope), (status = 401, description = "no or bad credentials")))]
async fn feed(
    State(state): State<AppState>,
    RequireUser(caller): RequireUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let me = caller.id;
    let paging = LimitOffset::from_query(&q, 20, MAX_LIMIT)?;
    Ok(axum::Json(list(&state, me, Scope::Feed, paging).await?).into_response())
}

/// A tag: letters, digits, `- _ . + #`; white space inside becomes `-`, and it is stored in lower case.
// `\w` is Unicode-aware where the tag check is (letters and digits of any script), ASCII in strict ECMA-262.
#[derive(ToSchema)]
#[schema(value_type = String, max_length = 50, pattern = r"^[\w.+#\-\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$")]
#[allow(dead_code)] // Only describes a `tagList` item.
pub struct Tag(String);

/// The fields of an article: on update each is optional, but none may be `null` or blank.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleFields {
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = String, required = false, max_length = 200, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = String, required = false, max_length = 300, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    description: Option<Option<String>>,
    /// Markdown.
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = String, required = false, max_length = 100000, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    body: Option<Option<String>>,
    /// Absent keeps the tags (on update); `[]` clears them; `null` is refused. At most 10.
    #[serde(default, deserialize_with = "api::present")]
    #[schema(value_type = Vec<Tag>, required = false, max_items = 10)]
    tag_list: Option<Option<Vec<String>>>,
}

// An envelope holds its one key: anything else beside it is a mistake worth a 422.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleFieldsEnvelope {
    #[schema(inline)]
    article: ArticleFields,
}

/// A new article: title, description and body are required (read as [`ArticleFields`]).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Only describes the body `create_article` reads.
pub struct NewArticle {
    #[schema(
        max_length = 200,
        pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    title: String,
    #[schema(
        max_length = 300,
        pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    description: String,
    /// Markdown.
    #[schema(
        max_length = 100000,
        pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    body: String,
    /// At most 10.
    #[schema(value_type = Vec<Tag>, required = false, max_items = 10)]
    tag_list: Vec<String>,
}

// Deserialize only for `deny_unknown_fields`, which the schema shows as `additionalProperties: false`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only describes the body `create_article` reads.
pub struct NewArticleEnvelope {
    #[schema(inline)]
    article: NewArticle,
}

/// Checks one text field: `None` when absent; an error when null, blank or too long.
fn text_field(
    v: &Option<Option<String>>,
    name: &str,
    max: usize,
    errors: &mut FieldErrors,
) -> Option<String> {
    match v {
        None => None,
        Some(Some(s)) if !s.trim().is_empty() => {
            if s.chars().count() > max {
                errors.add(name, format!("is too long (maximum is {max} characters)"));
            }
            Some(s.trim().to_string())
        }
        Some(_) => {
            errors.add(name, "can't be blank");
            None
        }
    }
}

fn tags_field(v: &Option<Option<Vec<String>>>, errors: &mut FieldErrors) -> Option<Vec<String>> {
    match v {
        None => None,
        Some(None) => {
            errors.add("tagList", "can't be null; send [] to clear the tags");
            None
        }
        // The document's `maxItems`: counted as sent, before blanks and repeats are dropped.
        Some(Some(list)) if list.len() > super::TAGS_PER_POST => {
            errors.add(
                "tagList",
                format!("too many (maximum is {})", super::TAGS_PER_POST),
            );
            None
        }
        Some(Some(list)) => normalize_tags(list.iter().map(String::as_str))
            .map_err(|e| errors.add("tagList", e))
            .ok(),
    }
}

/// Publish an article.
#[utoipa::path(post, path = "/articles", tag = "articles", security(("token" = [])), request_body = NewArticleEnvelope,
    responses((status = 201, body = ArticleEnvelope), (status = 403, description = "not allowed to write"),
              (status = 422, description = "invalid field")))]
async fn create_article(
    State(state): State<AppState>,
    actor: Actor,
    ApiJson(body): ApiJson<ArticleFieldsEnvelope>,
) -> Result<Response> {
    let me = require_user(&actor)?;
    if !actor.can_create() || !actor.can_publish(me) {
        return Err(AppError::forbidden("article"));
    }
    let a = body.article;
    let mut errors = FieldErrors::new();
    let title = text_field(&a.title, "title", super::TITLE_MAX, &mut errors);
    let description = text_field(
        &a.description,
        "description",
        super::DESCRIPTION_MAX,
        &mut errors,
    );
    let text = text_field(&a.body, "body", super::BODY_MAX, &mut errors);
    for (field, value) in [
        ("title", &title),
        ("description", &description),
        ("body", &text),
    ] {
        if value.is_none() && errors.get(field).is_empty() {
            errors.add(field, "can't be blank");
        }
    }
    let tags = tags_field(&a.tag_list, &mut errors).unwrap_or_default();
    errors.into_result()?;
    let input = PostInput {
        title: title.expect("checked"),
        description: description.expect("checked"),
        body: text.expect("checked"),
        tags,
        status: PUBLISHED,
        slug: None,
    };
    let post = posts::create(&state, me, &input, None).await?;
    let article = one(&state, me, &post.slug).await?;
    Ok((StatusCode::CREATED, article_json(article)).into_response())
}

/// One article, with its body.
#[utoipa::path(get, path = "/articles/{slug}", tag = "articles", params(("slug" = String, Path)),
    responses((status = 200, body = ArticleEnvelope), (status = 404, description = "no such article")))]
async fn get_article(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response> {
    Ok(article_json(
        one(&state, caller.map(|u| u.id).unwrap_or(0), &slug).await?,
    ))
}

/// Change an article; every field is optional. A new title gives a new slug.
#[utoipa::path(put, path = "/articles/{slug}", tag = "articles", security(("token" = [])),
    params(("slug" = String, Path)), request_body = ArticleFieldsEnvelope,
    responses((status = 200, body = ArticleEnvelope), (status = 403, description = "not the author"),
              (status = 404, description = "no such article"), (status = 422, description = "invalid field")))]
async fn update_article(
    State(state): State<AppState>,
    actor: Actor,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<ArticleFieldsEnvelope>,
) -> Result<Response> {
    let me = require_user(&actor)?;
    let post = published(&state, &slug).await?;
    if !actor.can_edit(post.author_id) {
        return Err(AppError::forbidden("article"));
    }
    let a = body.article;
    let mut errors = FieldErrors::new();
    let title = text_field(&a.title, "title", super::TITLE_MAX, &mut errors);
    let description = text_field(
        &a.description,
        "description",
        super::DESCRIPTION_MAX,
        &mut errors,
    );
    let text = text_field(&a.body, "body", super::BODY_MAX, &mut errors);
    let tags = tags_field(&a.tag_list, &mut errors);
    errors.into_result()?;
    // A new title gives a new slug (RealWorld's rule); the same title keeps it.
    let slug = match &title {
        Some(t) if *t != post.title => Slug::FromTitle,
        _ => Slug::Keep,
    };
    let changes = PostChanges {
        title,
        slug,
        description,
        body: text,
        tags,
        status: None,
        cover: Cover::Keep,
    };
    let saved = posts::update(&state, &post, changes).await?;
    Ok(article_json(one(&state, me, &saved.slug).await?))
}

/// Delete an article and its comments.
#[utoipa::path(delete, path = "/articles/{slug}", tag = "articles", security(("token" = [])),
    params(("slug" = String, Path)),
    responses((status = 204), (status = 403, description = "not the author"), (status = 404, description = "no such article")))]
async fn delete_article(
    State(state): State<AppState>,
    actor: Actor,
    Path(slug): Path<String>,
) -> Result<Response> {
    require_user(&actor)?;
    let post = published(&state, &slug).await?;
    if !actor.can_delete(post.author_id) {
        return Err(AppError::forbidden("article"));
    }
    posts::delete(&state, &post).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_favorite(state: &AppState, user: i64, post: i64, on: bool) -> Result<()> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let sql = match (on, backend) {
        (true, DatabaseBackend::Postgres) => {
            "INSERT INTO blog_favorites (user_id, post_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        }
        (true, _) => {
            "INSERT OR IGNORE INTO blog_favorites (user_id, post_id, created_at) VALUES ($1, $2, $3)"
        }
        (false, _) => "DELETE FROM blog_favorites WHERE user_id = $1 AND post_id = $2 AND $3 = $3",
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [user.into(), post.into(), Utc::now().into()],
    ))
    .await?;
    Ok(())
}

/// Favorite an article.
#[utoipa::path(post, path = "/articles/{slug}/favorite", tag = "articles", security(("token" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = ArticleEnvelope), (status = 404, description = "no such article")))]
async fn favorite(
    State(state): State<AppState>,
    actor: Actor,
    Path(slug): Path<String>,
) -> Result<Response> {
    let me = require_user(&actor)?;
    let post = published(&state, &slug).await?;
    set_favorite(&state, me, post.id, true).await?;
    Ok(article_json(one(&state, me, &slug).await?))
}

/// Remove an article from the caller's favorites.
#[utoipa::path(delete, path = "/articles/{slug}/favorite", tag = "articles", security(("token" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = ArticleEnvelope), (status = 404, description = "no such article")))]
async fn unfavorite(
    State(state): State<AppState>,
    actor: Actor,
    Path(slug): Path<String>,
) -> Result<Response> {
    let me = require_user(&actor)?;
    let post = published(&state, &slug).await?;
    set_favorite(&state, me, post.id, false).await?;
    Ok(article_json(one(&state, me, &slug).await?))
}

// ---------------------------------------------------------------- comments

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentBody {
    id: i64,
    created_at: String,
    updated_at: String,
    body: String,
    author: ProfileBody,
}

#[derive(Serialize, ToSchema)]
pub struct CommentEnvelope {
    comment: CommentBody,
}

#[derive(Serialize, ToSchema)]
pub struct CommentsEnvelope {
    comments: Vec<CommentBody>,
}

async fn comment_bodies(
    state: &AppState,
    me: i64,
    post_id: i64,
    only: Option<i64>,
) -> Result<Vec<CommentBody>> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i64,
        body: String,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        username: String,
        bio: String,
        image_url: Option<String>,
        avatar: Option<String>,
        following: i32,
    }
    let db = &state.db;
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT c.id, c.body, c.created_at, c.updated_at, u.username, u.bio, u.image_url, u.avatar, \
         CASE WHEN EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $1 AND fo.followee_id = c.author_id) \
              THEN 1 ELSE 0 END AS following \
         FROM blog_comments c JOIN users u ON u.id = c.author_id \
         WHERE c.post_id = $2 AND ($3 = 0 OR c.id = $3) ORDER BY c.created_at DESC, c.id DESC",
        [me.into(), post_id.into(), only.unwrap_or(0).into()],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CommentBody {
            id: r.id,
            created_at: api::timestamp(&r.created_at),
            updated_at: api::timestamp(&r.updated_at),
            body: r.body,
            author: ProfileBody {
                username: r.username,
                bio: (!r.bio.is_empty()).then_some(r.bio),
                image: image_of(state, r.image_url.as_deref(), r.avatar.as_deref()),
                following: r.following != 0,
            },
        })
        .collect())
}

/// An article's comments, newest first.
#[utoipa::path(get, path = "/articles/{slug}/comments", tag = "comments", params(("slug" = String, Path)),
    responses((status = 200, body = CommentsEnvelope), (status = 404, description = "no such article")))]
async fn list_comments(
    State(state): State<AppState>,
    MaybeUser(caller): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response> {
    let post = published(&state, &slug).await?;
    let comments = comment_bodies(&state, caller.map(|u| u.id).unwrap_or(0), post.id, None).await?;
    Ok(axum::Json(CommentsEnvelope { comments }).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct NewComment {
    #[schema(value_type = String, max_length = 5000, pattern = r"[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]")]
    body: Option<String>,
}

// An envelope holds its one key: anything else beside it is a mistake worth a 422.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommentEnvelope {
    #[schema(inline)]
    comment: NewComment,
}

/// Comment on an article.
#[utoipa::path(post, path = "/articles/{slug}/comments", tag = "comments", security(("token" = [])),
    params(("slug" = String, Path)), request_body = NewCommentEnvelope,
    responses((status = 201, body = CommentEnvelope), (status = 404, description = "no such article"),
              (status = 422, description = "blank body")))]
async fn add_comment(
    State(state): State<AppState>,
    actor: Actor,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<NewCommentEnvelope>,
) -> Result<Response> {
    let me = require_user(&actor)?;
    let post = published(&state, &slug).await?;
    let text = body.comment.body.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid("body", "can't be blank"));
    }
    if text.chars().count() > super::COMMENT_MAX {
        return Err(AppError::invalid(
            "body",
            format!("is too long (maximum is {} characters)", super::COMMENT_MAX),
        ));
    }
    let now = Utc::now();
    let saved = comment::ActiveModel {
        post_id: Set(post.id),
        author_id: Set(me),
        body: Set(text.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    let comment = comment_bodies(&state, me, post.id, Some(saved.id))
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found("comment"))?;
    Ok((StatusCode::CREATED, axum::Json(CommentEnvelope { comment })).into_response())
}

/// Delete a comment (its author, or an editor).
#[utoipa::path(delete, path = "/articles/{slug}/comments/{id}", tag = "comments", security(("token" = [])),
    params(("slug" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 403, description = "not the author"), (status = 404, description = "no such comment")))]
async fn delete_comment(
    State(state): State<AppState>,
    actor: Actor,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response> {
    let id = crate::db::parse_id(&id, "comment")?;
    require_user(&actor)?;
    let post = published(&state, &slug).await?;
    let c = models::find_comment(&state.db, id)
        .await?
        .filter(|c| c.post_id == post.id)
        .ok_or_else(|| AppError::not_found("comment"))?;
    if !actor.can_delete_comment(c.author_id) {
        return Err(AppError::forbidden("comment"));
    }
    comment::Entity::delete_by_id(c.id).exec(&state.db).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- tags

#[derive(Serialize, ToSchema)]
pub struct TagsEnvelope {
    tags: Vec<String>,
}

/// Tags in use on published articles, most used first.
#[utoipa::path(get, path = "/tags", tag = "tags", responses((status = 200, body = TagsEnvelope)))]
async fn tags(State(state): State<AppState>) -> Result<Response> {
    let tags = models::popular_tags_cached(&state.db, &state.cache, 1000)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    Ok(axum::Json(TagsEnvelope { tags }).into_response())
}
