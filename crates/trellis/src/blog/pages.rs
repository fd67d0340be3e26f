//! Blog pages: lists, post, editor, delete, publish, comments and the Atom feed.

use axum::Router;
use axum::extract::{Multipart, Path, Query, State};

use crate::http::forms::MultipartForm;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use minijinja::{Value, context};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Deserialize;

use super::models::{self, DRAFT, Filter, PUBLISHED, PostSummary, comment, post as post_entity};
use super::posts::{self, Cover, PostChanges, PostInput, Slug};
use super::{Actor, cover_thumb_key, excerpt, normalize_tags, parse_slug, render_checked};
use crate::accounts::models as accounts;
use crate::error::{AppError, FieldErrors, Result};
use crate::http::auth::RequireUser;
use crate::http::templates::Ctx;
use crate::state::AppState;
use crate::storage::Storage;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/blog/", get(home))
        .route("/blog/feed.xml", get(feed))
        .route("/blog/mine/", get(mine))
        .route("/blog/search/", get(search))
        .route("/blog/tag/{tag}/", get(by_tag))
        .route("/blog/author/{username}/", get(by_author))
        .route("/blog/new/", get(new_form).post(create))
        .route("/blog/preview/", post(preview))
        .route("/blog/{slug}/", get(detail))
        .route("/blog/{slug}/edit/", get(edit_form).post(update))
        .route("/blog/{slug}/delete/", get(delete_confirm).post(delete))
        .route("/blog/{slug}/publish/", post(publish))
        .route("/blog/{slug}/unpublish/", post(unpublish))
        .route("/blog/{slug}/comments/", post(add_comment))
        .route("/blog/{slug}/comments/{id}/delete/", post(delete_comment))
}

const PAGE_SIZE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 50;
#[derive(Deserialize, Default)]
#[serde(default)]
struct PageQuery {
    page: Option<String>,
    page_size: Option<String>,
    q: Option<String>,
}

/// Page number and size from the query; anything malformed or out of range is a 404, as Django's paginator.
fn paging(q: &PageQuery) -> Result<(u64, u64)> {
    let page = match q.page.as_deref() {
        None | Some("") => 1,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|p| (1..=crate::http::api::MAX_PAGE).contains(p))
            .ok_or_else(|| AppError::not_found("page"))?,
    };
    let size = match q.page_size.as_deref() {
        None | Some("") => PAGE_SIZE,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
            .ok_or_else(|| {
                AppError::bad_request(
                    "page_size",
                    format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                )
            })?,
    };
    Ok((page, size))
}

fn post_value(p: &PostSummary) -> Value {
    let r = &p.row;
    context! {
        slug => r.slug,
        title => r.title,
        description => if r.description.is_empty() { Value::from(()) } else { Value::from(r.description.clone()) },
        status => r.status,
        published => r.status == PUBLISHED,
        published_at => r.published_at.map(|t| t.to_rfc3339()),
        created_at => r.created_at.to_rfc3339(),
        updated_at => r.updated_at.to_rfc3339(),
        cover => r.cover.as_ref().map(|c| Storage::url(c)),
        cover_thumb => r.cover.as_ref().map(|c| Storage::url(&cover_thumb_key(c))),
        author => context! {
            username => r.author_username,
            name => if r.author_display_name.trim().is_empty() { r.author_username.clone() } else { r.author_display_name.clone() },
            avatar_thumb => r.author_avatar.as_ref().map(|a| Storage::url(&crate::accounts::thumb_key(a))),
        },
        tags => p.tags,
    }
}

/// Renders `blog/list.html`. Every list page goes through here, so each gets `can_create` (the "Write a
/// post" button and the "My posts" link) the same way.
async fn render_list_page(ctx: &Ctx, actor: &Actor, page: Value) -> Result<Response> {
    ctx.render(
        "blog/list.html",
        context! { can_create => actor.can_create(), ..page },
    )
    .await
}

/// Renders a list page: a fixed number of queries whatever the page size.
async fn render_list(
    ctx: Ctx,
    actor: &Actor,
    filter: Filter,
    q: PageQuery,
    heading: String,
    extra: Value,
) -> Result<Response> {
    let (page, size) = paging(&q)?;
    let window = crate::db::Window {
        offset: (page - 1) * size,
        limit: size,
    };
    let (posts, total) = models::list(&ctx.state.db, &filter, window).await?;
    let pages = total.div_ceil(size).max(1);
    if page > pages {
        return Err(AppError::not_found("page"));
    }
    let tags = models::popular_tags_cached(&ctx.state.db, &ctx.state.cache, 20).await?;
    let base = |n: u64| {
        let mut params = vec![format!("page={n}")];
        if let Some(s) = q.page_size.as_deref().filter(|s| !s.is_empty()) {
            params.push(format!("page_size={s}"));
        }
        if let Some(query) = q.q.as_deref().filter(|s| !s.is_empty()) {
            params.push(format!("q={}", crate::http::auth::urlencode(query)));
        }
        format!("?{}", params.join("&"))
    };
    let pagination = context! {
        page => page, pages => pages, total => total,
        prev => (page > 1).then(|| base(page - 1)),
        next => (page < pages).then(|| base(page + 1)),
    };
    let posts: Vec<Value> = posts.iter().map(post_value).collect();
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(name, n)| context! { name => name, count => n })
        .collect();
    render_list_page(
        &ctx,
        actor,
        context! { heading => heading, posts => posts, pagination => pagination, popular_tags => tags, ..extra },
    )
    .await
}

async fn home(ctx: Ctx, actor: Actor, Query(q): Query<PageQuery>) -> Result<Response> {
    render_list(
        ctx,
        &actor,
        Filter::Published,
        q,
        "Latest posts".into(),
        context! {},
    )
    .await
}

async fn mine(
    ctx: Ctx,
    RequireUser(user): RequireUser,
    actor: Actor,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    render_list(
        ctx,
        &actor,
        Filter::Mine(user.id),
        q,
        "My posts".into(),
        context! { mine => true },
    )
    .await
}

async fn search(ctx: Ctx, actor: Actor, Query(q): Query<PageQuery>) -> Result<Response> {
    let text = q.q.clone().unwrap_or_default();
    let text = text.trim().to_string();
    if text.is_empty() {
        return render_list_page(
            &ctx,
            &actor,
            context! { heading => "Search", posts => Vec::<Value>::new(), search => true, query => "" },
        )
        .await;
    }
    if text.chars().count() > 200 {
        return Err(AppError::bad_request(
            "q",
            "is too long (maximum is 200 characters)",
        ));
    }
    let heading = format!("Posts matching “{text}”");
    render_list(
        ctx,
        &actor,
        Filter::Search(text.clone()),
        q,
        heading,
        context! { search => true, query => text },
    )
    .await
}

async fn by_tag(
    ctx: Ctx,
    actor: Actor,
    Path(tag): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    let tag = tag.to_lowercase();
    render_list(
        ctx,
        &actor,
        Filter::Tag(tag.clone()),
        q,
        format!("Posts tagged “{tag}”"),
        context! { tag => tag },
    )
    .await
}

async fn by_author(
    ctx: Ctx,
    actor: Actor,
    Path(username): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    let author = accounts::find_by_username(&ctx.state.db, &username)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| AppError::not_found("author"))?;
    let heading = format!("Posts by {}", author.shown_name());
    render_list(
        ctx,
        &actor,
        Filter::Author(author.id),
        q,
        heading,
        context! { author => author.username },
    )
    .await
}

/// A post the actor may see, or 404 (drafts of others are not acknowledged to exist).
async fn visible_post(state: &AppState, actor: &Actor, slug: &str) -> Result<PostSummary> {
    let post = models::by_slug(&state.db, slug)
        .await?
        .ok_or_else(|| AppError::not_found("post"))?;
    if !actor.can_view(&post.row.status, post.row.author_id) {
        return Err(AppError::not_found("post"));
    }
    Ok(post)
}

async fn detail(ctx: Ctx, actor: Actor, Path(slug): Path<String>) -> Result<Response> {
    render_detail(&ctx, &actor, &slug, None).await
}

/// A refused comment: what was typed and why, shown again in the comment form.
struct RefusedComment<'a> {
    body: &'a str,
    error: String,
}

/// The post's page; with a refused comment, answered 422 with the comment form still holding its text.
async fn render_detail(
    ctx: &Ctx,
    actor: &Actor,
    slug: &str,
    refused: Option<RefusedComment<'_>>,
) -> Result<Response> {
    let summary = visible_post(&ctx.state, actor, slug).await?;
    let post = models::find_post(&ctx.state.db, summary.row.id)
        .await?
        .ok_or_else(|| AppError::not_found("post"))?;
    let comments = models::comments_of(&ctx.state.db, post.id).await?;
    let comments: Vec<Value> = comments
        .iter()
        .map(|c| {
            context! {
                id => c.id,
                body => c.body,
                created_at => c.created_at.to_rfc3339(),
                author => context! {
                    username => c.author_username,
                    name => if c.author_display_name.trim().is_empty() { c.author_username.clone() } else { c.author_display_name.clone() },
                    avatar_thumb => c.author_avatar.as_ref().map(|a| Storage::url(&crate::accounts::thumb_key(a))),
                },
                can_delete => actor.can_delete_comment(c.author_id),
            }
        })
        .collect();
    let author_id = post.author_id;
    let status = match refused {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    ctx.render_status(
        status,
        "blog/detail.html",
        context! {
            post => post_value(&summary),
            body_html => Value::from_safe_string(post.body_html.clone()),
            comments => comments,
            can_edit => actor.can_edit(author_id),
            can_delete => actor.can_delete(author_id),
            can_publish => actor.can_publish(author_id),
            can_comment => actor.can_comment(),
            comment_body => refused.as_ref().map(|r| r.body),
            comment_error => refused.as_ref().map(|r| r.error.as_str()),
        },
    )
    .await
}

// ---------------------------------------------------------------- editor

#[derive(Default)]
struct PostForm {
    title: String,
    slug: String,
    description: String,
    body: String,
    tags: String,
    status: String,
    action: String,
    remove_cover: bool,
    cover: Option<Vec<u8>>,
    /// A cover chosen before a preview or a refusal, held until the save (see `posts::hold_cover`).
    held_cover: String,
}

impl PostForm {
    async fn read(multipart: Multipart) -> Result<PostForm> {
        let mut form = MultipartForm::read(multipart, &["cover"]).await?;
        Ok(PostForm {
            title: form.take_text("title"),
            slug: form.take_text("slug"),
            description: form.take_text("description"),
            body: form.take_text("body"),
            tags: form.take_text("tags"),
            status: form.take_text("status"),
            action: form.take_text("action"),
            remove_cover: form.has("remove_cover"),
            cover: form.take_file("cover").map(|f| f.bytes.to_vec()),
            held_cover: form.take_text("held_cover"),
        })
    }

    fn value(&self, cover: Option<&str>) -> Value {
        let held =
            (!self.held_cover.is_empty()).then(|| posts::pending_cover_key(&self.held_cover));
        context! {
            title => self.title, slug => self.slug, description => self.description, body => self.body,
            tags => self.tags, status => if self.status.is_empty() { DRAFT } else { self.status.as_str() },
            cover_thumb => held.as_deref().or(cover).map(|c| Storage::url(&cover_thumb_key(c))),
            held_cover => self.held_cover, remove_cover => self.remove_cover,
        }
    }
}

fn validate(form: &PostForm, may_publish: bool, errors: &mut FieldErrors) -> Option<PostInput> {
    let title = form.title.trim().to_string();
    if title.is_empty() {
        errors.add("title", "can't be blank");
    } else if title.chars().count() > super::TITLE_MAX {
        errors.add(
            "title",
            format!("is too long (maximum is {} characters)", super::TITLE_MAX),
        );
    }
    let description = form.description.trim().to_string();
    if description.chars().count() > super::DESCRIPTION_MAX {
        errors.add(
            "description",
            format!(
                "is too long (maximum is {} characters)",
                super::DESCRIPTION_MAX
            ),
        );
    }
    let body = form.body.replace("\r\n", "\n");
    if body.trim().is_empty() {
        errors.add("body", "can't be blank");
    } else if body.chars().count() > super::BODY_MAX {
        errors.add(
            "body",
            format!("is too long (maximum is {} characters)", super::BODY_MAX),
        );
    } else if let Err(m) = crate::markdown::check_nesting(&body) {
        errors.add("body", m);
    }
    let tags = normalize_tags(form.tags.split(','))
        .map_err(|e| errors.add("tags", e))
        .unwrap_or_default();
    let status = match form.status.as_str() {
        "" | DRAFT => DRAFT,
        PUBLISHED if may_publish => PUBLISHED,
        PUBLISHED => {
            errors.add("status", "you may not publish posts");
            DRAFT
        }
        _ => {
            errors.add("status", "must be draft or published");
            DRAFT
        }
    };
    let slug = if form.slug.trim().is_empty() {
        None
    } else {
        match parse_slug(&form.slug) {
            Ok(s) if posts::RESERVED_SLUGS.contains(&s.as_str()) => {
                errors.add("slug", "is reserved");
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                errors.add("slug", e);
                None
            }
        }
    };
    errors.is_empty().then_some(PostInput {
        title,
        description,
        body,
        tags,
        status,
        slug,
    })
}

/// A free slug: the check that needs the database.
async fn check_slug(
    state: &AppState,
    clean: Option<&PostInput>,
    post_id: Option<i64>,
    errors: &mut FieldErrors,
) -> Result<()> {
    if let Some(slug) = clean.and_then(|c| c.slug.as_deref())
        && models::slug_taken(&state.db, slug, post_id).await?
    {
        errors.add("slug", "has already been taken");
    }
    Ok(())
}

/// The cover this submission asks for, decoded and re-encoded but not yet stored: a newly chosen file
/// if there is one (a bad one is an error on `cover`), else the one held from an earlier preview or
/// refusal, unless "Remove the cover" is ticked. A new file replaces what was held.
async fn chosen_cover(
    state: &AppState,
    me: i64,
    form: &mut PostForm,
    errors: &mut FieldErrors,
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    if !posts::own_held_cover(&form.held_cover, me) {
        form.held_cover.clear();
    }
    if let Some(bytes) = form.cover.take() {
        return match posts::process_cover(state, bytes).await? {
            Ok(pair) => {
                if !form.held_cover.is_empty() {
                    posts::drop_held_cover(&state.storage, &form.held_cover).await;
                    form.held_cover.clear();
                }
                Ok(Some(pair))
            }
            Err(msg) => {
                errors.add("cover", msg);
                Ok(None)
            }
        };
    }
    if form.held_cover.is_empty() || form.remove_cover {
        return Ok(None);
    }
    let held = posts::held_cover(&state.storage, &form.held_cover).await?;
    if held.is_none() {
        form.held_cover.clear();
        errors.add("cover", "was no longer kept; choose the file again");
    }
    Ok(held)
}

/// Before the form is shown again (a preview, or a refusal), a newly chosen cover is held so the author
/// need not choose it again; the form then carries its name.
async fn hold_for_redisplay(
    state: &AppState,
    me: i64,
    form: &mut PostForm,
    cover: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<()> {
    if let Some(pair) = cover
        && form.held_cover.is_empty()
    {
        form.held_cover = posts::hold_cover(&state.storage, me, pair).await?;
    }
    Ok(())
}

async fn render_form(
    ctx: &Ctx,
    status: StatusCode,
    form: &PostForm,
    errors: &FieldErrors,
    editing: Option<(&str, Option<&str>)>,
    may_publish: bool,
    preview: Option<String>,
) -> Result<Response> {
    ctx.render_status(
        status,
        "blog/form.html",
        context! {
            form => form.value(editing.and_then(|e| e.1)),
            errors => Value::from_serialize(&errors.0),
            editing => editing.map(|e| e.0),
            may_publish => may_publish,
            preview => preview.map(Value::from_safe_string),
        },
    )
    .await
}

/// The editor's preview: the body rendered as it would be saved, or, when it would be refused, the reason
/// beside the field.
async fn preview_html(body: &str, errors: &mut FieldErrors) -> Result<Option<String>> {
    match render_checked(body.replace("\r\n", "\n")).await {
        Ok(html) => Ok(Some(html)),
        Err(AppError::Validation(refused)) => {
            for m in refused.get("body") {
                if !errors.get("body").contains(m) {
                    errors.add("body", m.clone());
                }
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn require_signed_in(actor: &Actor, path: &str) -> Option<Response> {
    actor.user.is_none().then(|| {
        Redirect::to(&format!(
            "/accounts/login/?next={}",
            crate::http::auth::urlencode(path)
        ))
        .into_response()
    })
}

/// The 403 for a signed-in reader at `/blog/new/` (whether they open the form or post it): they deserve
/// to know how to become an author, not a bare 403.
async fn not_an_author(ctx: &Ctx) -> Result<Response> {
    ctx.render_status(
        StatusCode::FORBIDDEN,
        "error.html",
        context! {
            status => 403,
            title => "Only authors write posts",
            message => "Writing posts is open to the authors and editors groups. Ask a site \
                        administrator to add you to the authors group.",
        },
    )
    .await
}

async fn new_form(ctx: Ctx, actor: Actor) -> Result<Response> {
    if let Some(r) = require_signed_in(&actor, "/blog/new/") {
        return Ok(r);
    }
    if !actor.can_create() {
        return not_an_author(&ctx).await;
    }
    let form = PostForm::default();
    render_form(
        &ctx,
        StatusCode::OK,
        &form,
        &FieldErrors::new(),
        None,
        actor.can_publish(actor.id().unwrap_or(0)),
        None,
    )
    .await
}

async fn create(ctx: Ctx, actor: Actor, multipart: Multipart) -> Result<Response> {
    if let Some(r) = require_signed_in(&actor, "/blog/new/") {
        return Ok(r);
    }
    if !actor.can_create() {
        return not_an_author(&ctx).await;
    }
    let me = actor.id().expect("signed in");
    let may_publish = actor.can_publish(me);
    let mut form = PostForm::read(multipart).await?;
    let mut errors = FieldErrors::new();
    let clean = validate(&form, may_publish, &mut errors);
    let cover = chosen_cover(&ctx.state, me, &mut form, &mut errors).await?;
    if form.action == "preview" {
        hold_for_redisplay(&ctx.state, me, &mut form, cover).await?;
        let preview = preview_html(&form.body, &mut errors).await?;
        return render_form(
            &ctx,
            StatusCode::OK,
            &form,
            &errors,
            None,
            may_publish,
            preview,
        )
        .await;
    }
    check_slug(&ctx.state, clean.as_ref(), None, &mut errors).await?;
    let Some(clean) = clean.filter(|_| errors.is_empty()) else {
        hold_for_redisplay(&ctx.state, me, &mut form, cover).await?;
        return render_form(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
            None,
            may_publish,
            None,
        )
        .await;
    };
    let saved = posts::create(&ctx.state, me, &clean, cover).await?;
    if !form.held_cover.is_empty() {
        posts::drop_held_cover(&ctx.state.storage, &form.held_cover).await;
    }
    ctx.flash("success", "Your post was saved.").await;
    Ok(Redirect::to(&format!("/blog/{}/", saved.slug)).into_response())
}

/// The post behind a slug for an action the actor must be allowed: 404 if they may not even see it, 403 if
/// they may see it but not do this.
async fn post_for(
    state: &AppState,
    actor: &Actor,
    slug: &str,
    allowed: impl Fn(&Actor, i64) -> bool,
) -> Result<post_entity::Model> {
    let summary = visible_post(state, actor, slug).await?;
    if !allowed(actor, summary.row.author_id) {
        return Err(AppError::forbidden("post"));
    }
    models::find_post(&state.db, summary.row.id)
        .await?
        .ok_or_else(|| AppError::not_found("post"))
}

async fn edit_form(ctx: Ctx, actor: Actor, Path(slug): Path<String>) -> Result<Response> {
    if let Some(r) = require_signed_in(&actor, &format!("/blog/{slug}/edit/")) {
        return Ok(r);
    }
    let post = post_for(&ctx.state, &actor, &slug, |a, author| a.can_edit(author)).await?;
    let tags = models::tags_for(&ctx.state.db, &[post.id])
        .await?
        .remove(&post.id)
        .unwrap_or_default();
    let form = PostForm {
        title: post.title.clone(),
        slug: post.slug.clone(),
        description: post.description.clone(),
        body: post.body.clone(),
        tags: tags.join(", "),
        status: post.status.clone(),
        ..Default::default()
    };
    let may_publish = actor.can_publish(post.author_id);
    render_form(
        &ctx,
        StatusCode::OK,
        &form,
        &FieldErrors::new(),
        Some((&post.slug, post.cover.as_deref())),
        may_publish,
        None,
    )
    .await
}

async fn update(
    ctx: Ctx,
    actor: Actor,
    Path(slug): Path<String>,
    multipart: Multipart,
) -> Result<Response> {
    if let Some(r) = require_signed_in(&actor, &format!("/blog/{slug}/edit/")) {
        return Ok(r);
    }
    let post = post_for(&ctx.state, &actor, &slug, |a, author| a.can_edit(author)).await?;
    let may_publish = actor.can_publish(post.author_id);
    let me = actor.id().expect("signed in");
    let mut form = PostForm::read(multipart).await?;
    // Someone who may edit but not publish keeps the current status.
    if !may_publish {
        form.status = post.status.clone();
    }
    let mut errors = FieldErrors::new();
    let clean = validate(&form, may_publish || post.status == PUBLISHED, &mut errors);
    let cover = chosen_cover(&ctx.state, me, &mut form, &mut errors).await?;
    let editing = Some((post.slug.as_str(), post.cover.as_deref()));
    if form.action == "preview" {
        hold_for_redisplay(&ctx.state, me, &mut form, cover).await?;
        let preview = preview_html(&form.body, &mut errors).await?;
        return render_form(
            &ctx,
            StatusCode::OK,
            &form,
            &errors,
            editing,
            may_publish,
            preview,
        )
        .await;
    }
    check_slug(&ctx.state, clean.as_ref(), Some(post.id), &mut errors).await?;
    let Some(clean) = clean.filter(|_| errors.is_empty()) else {
        hold_for_redisplay(&ctx.state, me, &mut form, cover).await?;
        return render_form(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            &errors,
            editing,
            may_publish,
            None,
        )
        .await;
    };
    let changes = PostChanges {
        title: Some(clean.title),
        slug: clean.slug.map_or(Slug::Keep, Slug::To),
        description: Some(clean.description),
        body: Some(clean.body),
        tags: Some(clean.tags),
        status: Some(clean.status),
        cover: match (cover, form.remove_cover) {
            (Some(pair), _) => Cover::Replace(pair),
            (None, true) => Cover::Remove,
            (None, false) => Cover::Keep,
        },
    };
    let saved = posts::update(&ctx.state, &post, changes).await?;
    if !form.held_cover.is_empty() {
        posts::drop_held_cover(&ctx.state.storage, &form.held_cover).await;
    }
    ctx.flash("success", "Your changes were saved.").await;
    Ok(Redirect::to(&format!("/blog/{}/", saved.slug)).into_response())
}

#[derive(Deserialize)]
struct PreviewRequest {
    body: String,
}

/// Markdown preview for the editor's script: the same rendering and sanitizing as saved posts.
async fn preview(actor: Actor, axum::Json(req): axum::Json<PreviewRequest>) -> Result<Response> {
    if !actor.can_create() {
        return Err(AppError::forbidden("post"));
    }
    if req.body.chars().count() > super::BODY_MAX {
        return Err(AppError::invalid(
            "body",
            format!("is too long (maximum is {} characters)", super::BODY_MAX),
        ));
    }
    let html = render_checked(req.body).await?;
    Ok(axum::Json(serde_json::json!({ "html": html })).into_response())
}

async fn delete_confirm(ctx: Ctx, actor: Actor, Path(slug): Path<String>) -> Result<Response> {
    if let Some(r) = require_signed_in(&actor, &format!("/blog/{slug}/delete/")) {
        return Ok(r);
    }
    let post = post_for(&ctx.state, &actor, &slug, |a, author| a.can_delete(author)).await?;
    ctx.render(
        "blog/confirm_delete.html",
        context! { title => post.title, slug => post.slug },
    )
    .await
}

async fn delete(ctx: Ctx, actor: Actor, Path(slug): Path<String>) -> Result<Response> {
    if actor.user.is_none() {
        return Err(AppError::forbidden("post"));
    }
    let post = post_for(&ctx.state, &actor, &slug, |a, author| a.can_delete(author)).await?;
    posts::delete(&ctx.state, &post).await?;
    ctx.flash("success", format!("“{}” was deleted.", post.title))
        .await;
    Ok(Redirect::to("/blog/mine/").into_response())
}

async fn set_status(ctx: Ctx, actor: Actor, slug: String, status: &str) -> Result<Response> {
    if actor.user.is_none() {
        return Err(AppError::forbidden("post"));
    }
    let post = post_for(&ctx.state, &actor, &slug, |a, author| a.can_publish(author)).await?;
    let mut active = post.clone().into_active_model();
    let now = Utc::now();
    active.status = Set(status.to_string());
    active.published_at = Set(if status == PUBLISHED {
        post.published_at.or(Some(now))
    } else {
        None
    });
    active.updated_at = Set(now);
    active.update(&ctx.state.db).await?;
    let msg = if status == PUBLISHED {
        "The post is published."
    } else {
        "The post is back to draft."
    };
    ctx.flash("success", msg).await;
    Ok(Redirect::to(&format!("/blog/{slug}/")).into_response())
}

async fn publish(ctx: Ctx, actor: Actor, Path(slug): Path<String>) -> Result<Response> {
    set_status(ctx, actor, slug, PUBLISHED).await
}

async fn unpublish(ctx: Ctx, actor: Actor, Path(slug): Path<String>) -> Result<Response> {
    set_status(ctx, actor, slug, DRAFT).await
}

// ---------------------------------------------------------------- comments

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommentForm {
    body: String,
}

async fn add_comment(
    ctx: Ctx,
    actor: Actor,
    Path(slug): Path<String>,
    axum::Form(form): axum::Form<CommentForm>,
) -> Result<Response> {
    let summary = visible_post(&ctx.state, &actor, &slug).await?;
    let Some(me) = actor.id().filter(|_| actor.can_comment()) else {
        return Err(AppError::forbidden("comment"));
    };
    let body = form.body.trim();
    if body.is_empty() || body.chars().count() > super::COMMENT_MAX {
        let error = if body.is_empty() {
            "Comment can't be blank.".to_string()
        } else {
            format!(
                "Comment is too long (maximum is {} characters).",
                super::COMMENT_MAX
            )
        };
        let refused = RefusedComment {
            body: &form.body,
            error,
        };
        return render_detail(&ctx, &actor, &slug, Some(refused)).await;
    }
    let now = Utc::now();
    comment::ActiveModel {
        post_id: Set(summary.row.id),
        author_id: Set(me),
        body: Set(body.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&ctx.state.db)
    .await?;
    Ok(Redirect::to(&format!("/blog/{slug}/#comments")).into_response())
}

async fn delete_comment(
    ctx: Ctx,
    actor: Actor,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Response> {
    let id = crate::db::parse_id(&id, "comment")?;
    let summary = visible_post(&ctx.state, &actor, &slug).await?;
    let c = models::find_comment(&ctx.state.db, id)
        .await?
        .filter(|c| c.post_id == summary.row.id)
        .ok_or_else(|| AppError::not_found("comment"))?;
    if !actor.can_delete_comment(c.author_id) {
        return Err(AppError::forbidden("comment"));
    }
    comment::Entity::delete_by_id(c.id)
        .exec(&ctx.state.db)
        .await?;
    ctx.flash("success", "The comment was deleted.").await;
    Ok(Redirect::to(&format!("/blog/{slug}/#comments")).into_response())
}

// ---------------------------------------------------------------- feed

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids are dropped rather than breaking the document.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Atom feed of the 20 newest published posts.
async fn feed(State(state): State<AppState>) -> Result<Response> {
    let posts = post_entity::Entity::find()
        .filter(post_entity::Column::Status.eq(PUBLISHED))
        .order_by_desc(post_entity::Column::PublishedAt)
        .order_by_desc(post_entity::Column::Id)
        .limit(20)
        .all(&state.db)
        .await?;
    let author_ids: Vec<i64> = posts.iter().map(|p| p.author_id).collect();
    let authors: std::collections::HashMap<i64, String> = accounts::user::Entity::find()
        .filter(accounts::user::Column::Id.is_in(author_ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.shown_name().to_string()))
        .collect();
    let base = state.settings.base_url();
    let updated = posts
        .iter()
        .filter_map(|p| p.published_at)
        .max()
        .unwrap_or_else(Utc::now);
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    xml.push_str(&format!(
        "  <title>Trellis blog</title>\n  <id>{base}/blog/</id>\n  <link href=\"{base}/blog/\"/>\n  \
         <link rel=\"self\" href=\"{base}/blog/feed.xml\"/>\n  <updated>{}</updated>\n",
        updated.to_rfc3339()
    ));
    for p in &posts {
        let url = format!("{base}/blog/{}/", p.slug);
        let summary = if p.description.is_empty() {
            excerpt(&p.body, 280)
        } else {
            p.description.clone()
        };
        xml.push_str(&format!(
            "  <entry>\n    <title>{}</title>\n    <id>{}</id>\n    <link href=\"{}\"/>\n    \
             <published>{}</published>\n    <updated>{}</updated>\n    <author><name>{}</name></author>\n    \
             <summary>{}</summary>\n    <content type=\"html\">{}</content>\n  </entry>\n",
            xml_escape(&p.title),
            xml_escape(&url),
            xml_escape(&url),
            p.published_at.unwrap_or(p.created_at).to_rfc3339(),
            p.updated_at.to_rfc3339(),
            xml_escape(authors.get(&p.author_id).map(String::as_str).unwrap_or("unknown")),
            xml_escape(&summary),
            xml_escape(&p.body_html),
        ));
    }
    xml.push_str("</feed>\n");
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/atom+xml; charset=utf-8"),
        )],
        xml,
    )
        .into_response())
}
