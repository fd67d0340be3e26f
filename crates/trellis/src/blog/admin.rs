//! The blog's models as the admin, the `models` commands and fixtures see them.

use chrono::Utc;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use crate::accounts::models::User;
use crate::error::{AppError, FieldErrors};
use crate::http::api::timestamp;
use crate::registry::{
    Action, ActionFuture, Admin, CleanCtx, CleanFuture, Field, ImageFuture, Kind, Model, Values,
};
use crate::state::AppState;

const STATUSES: &[(&str, &str)] = &[
    (super::models::DRAFT, "Draft"),
    (super::models::PUBLISHED, "Published"),
];

pub fn models() -> Vec<Model> {
    vec![
        Model {
            app: "blog",
            name: "post",
            verbose_name: "post",
            verbose_name_plural: "posts",
            table: "blog_posts",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "author_id",
                    "Author",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new(
                    "title",
                    "Title",
                    Kind::Text {
                        max: super::TITLE_MAX,
                    },
                ),
                Field::new(
                    "slug",
                    "Slug",
                    Kind::Text {
                        max: super::SLUG_MAX,
                    },
                )
                .blank()
                .help("Made from the title when left empty."),
                Field::new(
                    "description",
                    "Description",
                    Kind::Text {
                        max: super::DESCRIPTION_MAX,
                    },
                )
                .blank(),
                Field::new(
                    "body",
                    "Body (Markdown)",
                    Kind::LongText {
                        max: super::BODY_MAX,
                    },
                ),
                Field::new(
                    "body_html",
                    "Body as HTML",
                    Kind::LongText { max: usize::MAX },
                )
                .read_only(),
                Field::new(
                    "cover",
                    "Cover",
                    Kind::Image {
                        store: store_cover,
                        thumb: super::cover_thumb_key,
                    },
                )
                .optional(),
                Field::new("status", "Status", Kind::Choice(STATUSES)),
                Field::new("published_at", "Published", Kind::DateTime)
                    .optional()
                    .read_only(),
                Field::new("created_at", "Created", Kind::DateTime).read_only(),
                Field::new("updated_at", "Updated", Kind::DateTime).read_only(),
                Field::new(
                    "tags",
                    "Tags",
                    Kind::ManyToMany {
                        to: "blog.tag",
                        through: "blog_post_tags",
                        own: "post_id",
                        other: "tag_id",
                    },
                )
                .blank(),
            ],
            display: "title",
            ordering: &["-created_at", "-id"],
            admin: Some(Admin {
                list_display: &["title", "author_id", "status", "published_at", "created_at"],
                search: &["title", "slug", "body"],
                filters: &["status", "author_id", "published_at", "created_at"],
                readonly: &[],
                actions: vec![
                    Action {
                        name: "publish",
                        label: "Publish selected posts",
                        permission: Some("blog.moderate_post"),
                        run: publish,
                    },
                    Action {
                        name: "unpublish",
                        label: "Return selected posts to draft",
                        permission: Some("blog.moderate_post"),
                        run: unpublish,
                    },
                ],
                inlines: &[("blog.comment", "post_id")],
                ..Admin::default()
            }),
            clean: Some(clean_post),
        },
        Model {
            app: "blog",
            name: "tag",
            verbose_name: "tag",
            verbose_name_plural: "tags",
            table: "blog_tags",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new(
                    "name",
                    "Name",
                    Kind::Text {
                        max: super::TAG_MAX,
                    },
                ),
            ],
            display: "name",
            ordering: &["name"],
            admin: Some(Admin {
                search: &["name"],
                ..Admin::default()
            }),
            clean: Some(clean_tag),
        },
        Model {
            app: "blog",
            name: "comment",
            verbose_name: "comment",
            verbose_name_plural: "comments",
            table: "blog_comments",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new("post_id", "Post", Kind::ForeignKey { to: "blog.post" }),
                Field::new(
                    "author_id",
                    "Author",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new(
                    "body",
                    "Comment",
                    Kind::LongText {
                        max: super::COMMENT_MAX,
                    },
                ),
                Field::new("created_at", "Created", Kind::DateTime).read_only(),
                Field::new("updated_at", "Updated", Kind::DateTime).read_only(),
            ],
            display: "body",
            ordering: &["-created_at", "-id"],
            admin: Some(Admin {
                list_display: &["body", "post_id", "author_id", "created_at"],
                search: &["body"],
                filters: &["created_at"],
                ..Admin::default()
            }),
            clean: Some(clean_comment),
        },
        Model {
            app: "blog",
            name: "favorite",
            verbose_name: "favorite",
            verbose_name_plural: "favorites",
            table: "blog_favorites",
            pk: &["user_id", "post_id"],
            fields: vec![
                Field::new(
                    "user_id",
                    "User",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                ),
                Field::new("post_id", "Post", Kind::ForeignKey { to: "blog.post" }),
                Field::new("created_at", "Since", Kind::DateTime).read_only(),
            ],
            display: "post_id",
            ordering: &["-created_at"],
            admin: None,
            clean: None,
        },
    ]
}

fn text<'v>(values: &'v Values, name: &str) -> Option<&'v str> {
    values.get(name).and_then(Value::as_str)
}

fn now() -> Value {
    Value::String(timestamp(&Utc::now()))
}

/// What the editor and the API apply to a post: a trimmed title, a free slug made from it when none is
/// given, the Markdown rendered (within the same limits), publication stamped once.
fn clean_post<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        let mut errors = FieldErrors::new();
        if let Some(t) = text(values, "title") {
            let t = t.trim().to_string();
            if t.is_empty() {
                errors.add("title", "can't be blank");
            }
            values.insert("title".into(), Value::String(t));
        }
        let title = text(values, "title")
            .or_else(|| ctx.existing.and_then(|e| text(e, "title")))
            .unwrap_or("")
            .to_string();
        let id = ctx
            .existing
            .and_then(|e| e.get("id"))
            .and_then(Value::as_i64);
        match text(values, "slug").map(str::trim) {
            Some(s) if !s.is_empty() => match super::parse_slug(s) {
                Ok(s) if super::posts::RESERVED_SLUGS.contains(&s.as_str()) => {
                    errors.add("slug", "is reserved for a page of the blog")
                }
                Ok(s) => {
                    values.insert("slug".into(), Value::String(s));
                }
                Err(e) => errors.add("slug", e),
            },
            // Left empty: made from the title, as the editor does.
            _ if ctx.existing.is_none() || values.contains_key("slug") => {
                let mut base = super::slugify(&title);
                if super::posts::RESERVED_SLUGS.contains(&base.as_str()) {
                    base.push_str("-post");
                }
                if !base.is_empty() {
                    match free_slug(ctx.state, &base, id).await {
                        Ok(slug) => {
                            values.insert("slug".into(), Value::String(slug));
                        }
                        Err(e) => errors.add("slug", e.to_string()),
                    }
                }
            }
            _ => {}
        }
        if let Some(body) = text(values, "body") {
            match super::render_checked(body.to_string()).await {
                Ok(html) => {
                    values.insert("body_html".into(), Value::String(html));
                }
                Err(AppError::Validation(e)) => {
                    for (field, messages) in e.0 {
                        for m in messages {
                            errors.add(&field, m);
                        }
                    }
                }
                Err(e) => errors.add("body", e.to_string()),
            }
        }
        let was_published = ctx
            .existing
            .and_then(|e| e.get("published_at"))
            .is_some_and(|v| !v.is_null());
        match text(values, "status") {
            Some(s) if s == super::models::PUBLISHED && !was_published => {
                values.insert("published_at".into(), now());
            }
            Some(s) if s == super::models::DRAFT => {
                values.insert("published_at".into(), Value::Null);
            }
            _ => {}
        }
        if ctx.existing.is_none() {
            values.entry("created_at".into()).or_insert_with(now);
            values
                .entry("status".into())
                .or_insert(Value::String(super::models::DRAFT.into()));
        }
        values.insert("updated_at".into(), now());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    })
}

/// The first free slug from `base`, as the editor picks it.
async fn free_slug(
    state: &AppState,
    base: &str,
    except: Option<i64>,
) -> Result<String, sea_orm::DbErr> {
    let txn = state.db.begin().await?;
    let slug = super::models::unique_slug(&txn, base, except).await?;
    txn.commit().await?;
    Ok(slug)
}

fn clean_tag<'a>(_: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        if let Some(raw) = text(values, "name") {
            match super::normalize_tags([raw]) {
                Ok(tags) if tags.len() == 1 => {
                    values.insert("name".into(), Value::String(tags[0].clone()));
                }
                Ok(_) => return Err(FieldErrors::single("name", "can't be blank")),
                Err(e) => return Err(FieldErrors::single("name", e)),
            }
        }
        Ok(())
    })
}

fn clean_comment<'a>(ctx: &'a CleanCtx<'a>, values: &'a mut Values) -> CleanFuture<'a> {
    Box::pin(async move {
        if let Some(body) = text(values, "body") {
            let body = body.trim().to_string();
            if body.is_empty() {
                return Err(FieldErrors::single("body", "can't be blank"));
            }
            values.insert("body".into(), Value::String(body));
        }
        if ctx.existing.is_none() {
            values.entry("created_at".into()).or_insert_with(now);
        }
        values.insert("updated_at".into(), now());
        Ok(())
    })
}

fn store_cover<'a>(state: &'a AppState, bytes: Vec<u8>) -> ImageFuture<'a> {
    Box::pin(async move {
        let pair = super::posts::process_cover(state, bytes)
            .await
            .map_err(|e| e.to_string())??;
        super::posts::store_cover(&state.storage, pair)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Sets the status of the selected posts, stamping a first publication.
async fn set_status(state: &AppState, ids: &[i64], publish: bool) -> Result<u64, AppError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let placeholders: Vec<String> = (3..ids.len() + 3).map(|i| format!("${i}")).collect();
    let (status, stamp) = if publish {
        (super::models::PUBLISHED, "COALESCE(published_at, $2)")
    } else {
        (super::models::DRAFT, "NULL")
    };
    let mut values: Vec<sea_orm::Value> = vec![status.into(), Utc::now().into()];
    values.extend(ids.iter().map(|id| sea_orm::Value::from(*id)));
    let res = state
        .db
        .execute_raw(Statement::from_sql_and_values(
            state.db.get_database_backend(),
            format!(
                "UPDATE blog_posts SET status = $1, published_at = {stamp}, updated_at = $2 \
                 WHERE id IN ({}) AND status <> $1",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?;
    Ok(res.rows_affected())
}

fn publish<'a>(state: &'a AppState, _by: &'a User, ids: &'a [i64]) -> ActionFuture<'a> {
    Box::pin(set_status(state, ids, true))
}

fn unpublish<'a>(state: &'a AppState, _by: &'a User, ids: &'a [i64]) -> ActionFuture<'a> {
    Box::pin(set_status(state, ids, false))
}
