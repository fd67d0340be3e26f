//! A post's life: created, changed and deleted with its cover files, in one transaction per write. The
//! editor pages and the API both come here, so a post is written the same way whichever door it came in by.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};

use super::models::{self, DRAFT, PUBLISHED, post};
use super::{cover_thumb_key, render_checked, slugify};
use crate::error::{AppError, Result, on_unique};
use crate::images;
use crate::state::AppState;
use crate::storage::Storage;

/// Path segments under /blog/ that are pages, so no post may take them as its slug.
pub const RESERVED_SLUGS: &[&str] = &[
    "new", "mine", "search", "tag", "author", "preview", "feed-xml",
];

const COVER_MAX: (u32, u32) = (1200, 800);
const COVER_THUMB: (u32, u32) = (480, 270);

/// Checked values of a new post, from the editor or the API.
pub struct PostInput {
    pub title: String,
    pub description: String,
    pub body: String,
    pub tags: Vec<String>,
    pub status: &'static str,
    /// `None`: made from the title.
    pub slug: Option<String>,
}

/// What becomes of a post's slug when it changes.
pub enum Slug {
    Keep,
    To(String),
    /// Made anew from the (new) title.
    FromTitle,
}

/// What becomes of a post's cover when it changes.
pub enum Cover {
    Keep,
    Remove,
    /// A cover processed by [`process_cover`], not yet stored.
    Replace((Vec<u8>, Vec<u8>)),
}

/// Checked changes to a post; `None` keeps a field as it is.
pub struct PostChanges {
    pub title: Option<String>,
    pub slug: Slug,
    pub description: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub status: Option<&'static str>,
    pub cover: Cover,
}

/// Decodes and re-encodes a cover off the async runtime: (display, thumbnail) JPEGs, or why the file
/// was refused.
pub async fn process_cover(
    state: &AppState,
    bytes: Vec<u8>,
) -> Result<std::result::Result<(Vec<u8>, Vec<u8>), String>> {
    let max = state.settings.max_image_bytes;
    let out = images::process(move || {
        images::decode(&bytes, max).map(|img| {
            (
                images::fit_jpeg(&img, COVER_MAX.0, COVER_MAX.1),
                images::fill_jpeg(&img, COVER_THUMB.0, COVER_THUMB.1),
            )
        })
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?;
    Ok(out.map_err(|images::Rejected(m)| m))
}

/// Stores a processed cover and its thumbnail under a new name; nothing is left behind on failure.
pub async fn store_cover(storage: &Storage, pair: (Vec<u8>, Vec<u8>)) -> Result<String> {
    let key = format!("covers/{}.jpg", uuid::Uuid::new_v4().simple());
    storage
        .put_pair((&key, &pair.0), (&cover_thumb_key(&key), &pair.1))
        .await?;
    Ok(key)
}

/// Holds a processed cover between a preview and the save, so the author need not choose the file again.
/// The returned name is `<user id>/<uuid>`: only that user's save can claim it.
pub async fn hold_cover(storage: &Storage, user: i64, pair: (Vec<u8>, Vec<u8>)) -> Result<String> {
    let name = format!("{user}/{}", uuid::Uuid::new_v4().simple());
    let key = pending_cover_key(&name);
    storage
        .put_pair((&key, &pair.0), (&cover_thumb_key(&key), &pair.1))
        .await?;
    Ok(name)
}

/// The storage key of a held cover, from its name as the form carries it.
pub fn pending_cover_key(name: &str) -> String {
    format!("{}/covers/{name}.jpg", crate::storage::PENDING_PREFIX)
}

/// Checks that a held cover's name from a form belongs to `user` and is well formed.
pub fn own_held_cover(name: &str, user: i64) -> bool {
    name.strip_prefix(&format!("{user}/"))
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The cover held under `name`, if it is still there.
pub async fn held_cover(storage: &Storage, name: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let key = pending_cover_key(name);
    let (Some(full), Some(thumb)) = (
        storage.get(&key).await?,
        storage.get(&cover_thumb_key(&key)).await?,
    ) else {
        return Ok(None);
    };
    Ok(Some((full, thumb)))
}

/// Forgets a held cover (after it was saved, replaced or dropped).
pub async fn drop_held_cover(storage: &Storage, name: &str) {
    delete_cover(storage, &pending_cover_key(name)).await;
}

async fn delete_cover(storage: &Storage, key: &str) {
    let _ = storage.delete(key).await;
    let _ = storage.delete(&cover_thumb_key(key)).await;
}

/// A free slug made from a title, within the write's transaction; page names get `-post`.
async fn slug_from_title(
    txn: &sea_orm::DatabaseTransaction,
    title: &str,
    except: Option<i64>,
) -> Result<String> {
    let mut base = slugify(title);
    if RESERVED_SLUGS.contains(&base.as_str()) {
        base.push_str("-post");
    }
    Ok(models::unique_slug(txn, &base, except).await?)
}

/// Creates a post and its tags in one transaction, storing its cover first; a post that cannot be saved
/// leaves no cover behind.
pub async fn create(
    state: &AppState,
    author_id: i64,
    input: &PostInput,
    cover: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<post::Model> {
    let key = match cover {
        Some(pair) => Some(store_cover(&state.storage, pair).await?),
        None => None,
    };
    let saved = insert(state, author_id, input, key.clone()).await;
    if saved.is_err()
        && let Some(k) = &key
    {
        delete_cover(&state.storage, k).await;
    }
    saved
}

async fn insert(
    state: &AppState,
    author_id: i64,
    input: &PostInput,
    cover: Option<String>,
) -> Result<post::Model> {
    let body_html = render_checked(input.body.clone()).await?;
    let txn = state.db.begin().await?;
    let slug = match &input.slug {
        Some(s) => s.clone(),
        None => slug_from_title(&txn, &input.title, None).await?,
    };
    let now = Utc::now();
    let saved = post::ActiveModel {
        author_id: Set(author_id),
        title: Set(input.title.clone()),
        slug: Set(slug),
        description: Set(input.description.clone()),
        body: Set(input.body.clone()),
        body_html: Set(body_html),
        cover: Set(cover),
        status: Set(input.status.to_string()),
        published_at: Set((input.status == PUBLISHED).then_some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| on_unique(e, &[models::SLUG_UNIQUE]))?;
    models::set_tags(&txn, saved.id, &input.tags).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Changes a post and its tags in one transaction. A new cover is stored first and removed again if the
/// post cannot be saved; the cover it replaces is deleted once the change is committed.
pub async fn update(
    state: &AppState,
    current: &post::Model,
    mut changes: PostChanges,
) -> Result<post::Model> {
    let storage = &state.storage;
    let cover = std::mem::replace(&mut changes.cover, Cover::Keep);
    let (cover_after, new_key) = match cover {
        Cover::Keep => (current.cover.clone(), None),
        Cover::Remove => (None, None),
        Cover::Replace(pair) => {
            let key = store_cover(storage, pair).await?;
            (Some(key.clone()), Some(key))
        }
    };
    let result = save(state, current, changes, cover_after.clone()).await;
    match (&result, new_key) {
        (Ok(_), _) => {
            if let Some(old) = current
                .cover
                .as_ref()
                .filter(|o| Some(*o) != cover_after.as_ref())
            {
                delete_cover(storage, old).await;
            }
        }
        (Err(_), Some(k)) => delete_cover(storage, &k).await,
        (Err(_), None) => {}
    }
    result
}

async fn save(
    state: &AppState,
    current: &post::Model,
    changes: PostChanges,
    cover: Option<String>,
) -> Result<post::Model> {
    let body_html = match &changes.body {
        Some(b) => Some(render_checked(b.clone()).await?),
        None => None,
    };
    let txn = state.db.begin().await?;
    let mut active = current.clone().into_active_model();
    let now = Utc::now();
    let title = changes
        .title
        .clone()
        .unwrap_or_else(|| current.title.clone());
    match changes.slug {
        Slug::Keep => {}
        Slug::To(s) => active.slug = Set(s),
        Slug::FromTitle => {
            active.slug = Set(slug_from_title(&txn, &title, Some(current.id)).await?)
        }
    }
    if let Some(t) = changes.title {
        active.title = Set(t);
    }
    if let Some(d) = changes.description {
        active.description = Set(d);
    }
    if let (Some(b), Some(html)) = (changes.body, body_html) {
        active.body = Set(b);
        active.body_html = Set(html);
    }
    active.cover = Set(cover);
    if let Some(status) = changes.status {
        active.status = Set(status.to_string());
        if status == PUBLISHED && current.published_at.is_none() {
            active.published_at = Set(Some(now));
        } else if status == DRAFT {
            active.published_at = Set(None);
        }
    }
    active.updated_at = Set(now);
    let saved = active
        .update(&txn)
        .await
        .map_err(|e| on_unique(e, &[models::SLUG_UNIQUE]))?;
    if let Some(tags) = &changes.tags {
        models::set_tags(&txn, current.id, tags).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a post (its comments and tags go with it) and then its cover files.
pub async fn delete(state: &AppState, post: &post::Model) -> Result<()> {
    post::Entity::delete_by_id(post.id).exec(&state.db).await?;
    if let Some(c) = &post.cover {
        delete_cover(&state.storage, c).await;
    }
    Ok(())
}
