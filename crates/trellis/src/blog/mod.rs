//! The blog: Markdown posts with cover images, tags and comments, and the roles that govern them.
//!
//! Roles (groups created by migration): `authors` write and publish their own posts; `editors` may edit,
//! publish, unpublish and delete any post and any comment. Superusers may do everything; staff status
//! alone grants nothing here (the rule is `accounts::perms`).

pub mod admin;
pub mod api;
pub mod models;
mod pages;
pub mod posts;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::accounts::models::User;
use crate::accounts::perms;
use crate::error::AppError;
use crate::http::auth::CurrentUser;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    pages::router()
}

/// The blog: Markdown posts with covers, tags and comments, its pages and the RealWorld API.
pub fn app() -> crate::registry::AppConfig {
    crate::registry::AppConfig {
        label: "blog",
        name: "Blog",
        pages: router,
        api: Some(api::router),
        api_tags: &[
            ("articles", "Published blog posts"),
            ("comments", "Comments on articles"),
            ("tags", "Tags in use"),
        ],
        jobs: &[],
        nav: Some(crate::registry::NavEntry {
            label: "Blog",
            href: "/blog/",
            summary: "Write and publish illustrated posts; read and comment.",
        }),
        permissions: &[
            ("blog.publish_post", "Can publish own post"),
            (
                "blog.moderate_post",
                "Can edit, publish, unpublish and delete any post",
            ),
        ],
        templates: crate::embedded_templates![
            "blog/list.html",
            "blog/detail.html",
            "blog/form.html",
            "blog/confirm_delete.html",
        ],
        // Anonymous readers get no session (and so no token): crawlers must not fill the session store.
        sessionless_templates: &["blog/list.html", "blog/detail.html"],
        cached_views: &[
            "/api/articles",
            "/api/articles/{slug}",
            "/api/articles/{slug}/comments",
            "/api/tags",
            "/blog/",
            "/blog/feed.xml",
            "/blog/tag/{tag}/",
            "/blog/author/{username}/",
            "/blog/{slug}/",
        ],
        models: admin::models,
        init: None,
    }
}

/// Checks a post body and renders it (see [`crate::markdown::render_checked`]).
pub async fn render_checked(body: String) -> crate::error::Result<String> {
    crate::markdown::render_checked(body, "body", BODY_MAX).await
}

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 300;
pub const BODY_MAX: usize = 100_000;
pub const COMMENT_MAX: usize = 5_000;
pub const TAG_MAX: usize = 50;
pub const TAGS_PER_POST: usize = 10;
pub const SLUG_MAX: usize = 200;

/// Who is acting and what they may do on the blog. Loads the user's permissions once per request.
pub struct Actor {
    pub user: Option<Arc<User>>,
    perms: BTreeSet<String>,
    open_authoring: bool,
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = parts
            .extensions
            .get::<CurrentUser>()
            .and_then(|c| c.0.clone());
        Actor::load(state, user).await
    }
}

impl Actor {
    pub async fn load(state: &AppState, user: Option<Arc<User>>) -> Result<Actor, AppError> {
        // A superuser holds everything without asking the database.
        let perms = match &user {
            Some(u) if u.is_active && !u.is_superuser => perms::perms_of(&state.db, u).await?,
            _ => BTreeSet::new(),
        };
        Ok(Actor {
            user,
            perms,
            open_authoring: state.settings.blog_open_authoring,
        })
    }

    pub fn id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    fn has(&self, perm: &str) -> bool {
        // With open authoring (RealWorld's model) everyone signed in is an author of their own posts.
        const AUTHORING: &[&str] = &[
            "blog.add_post",
            "blog.change_post",
            "blog.delete_post",
            "blog.publish_post",
        ];
        match &self.user {
            Some(u) if u.is_active => {
                perms::holds(u, &self.perms, perm)
                    || (self.open_authoring && AUTHORING.contains(&perm))
            }
            _ => false,
        }
    }

    fn owns(&self, author_id: i64) -> bool {
        self.id() == Some(author_id)
    }

    /// Drafts are visible only to their author and to editors (and superusers).
    pub fn can_view(&self, status: &str, author_id: i64) -> bool {
        status == models::PUBLISHED || self.owns(author_id) || self.has("blog.moderate_post")
    }
    pub fn can_create(&self) -> bool {
        self.has("blog.add_post")
    }
    pub fn can_edit(&self, author_id: i64) -> bool {
        (self.owns(author_id) && self.has("blog.change_post")) || self.has("blog.moderate_post")
    }
    pub fn can_publish(&self, author_id: i64) -> bool {
        (self.owns(author_id) && self.has("blog.publish_post")) || self.has("blog.moderate_post")
    }
    pub fn can_delete(&self, author_id: i64) -> bool {
        (self.owns(author_id) && self.has("blog.delete_post")) || self.has("blog.moderate_post")
    }
    pub fn can_comment(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.is_active)
    }
    pub fn can_delete_comment(&self, comment_author_id: i64) -> bool {
        (self.can_comment() && self.owns(comment_author_id)) || self.has("blog.delete_comment")
    }
}

/// A URL slug from a title: lowercase ASCII letters and digits joined by single dashes.
pub fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= SLUG_MAX {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "post".to_string()
    } else {
        slug
    }
}

/// Checks a slug typed by a user.
pub fn parse_slug(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("can't be blank".into());
    }
    if s.len() > SLUG_MAX {
        return Err(format!("is too long (maximum is {SLUG_MAX} characters)"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || s.starts_with('-')
        || s.ends_with('-')
    {
        return Err("may contain only lowercase letters, digits and dashes".into());
    }
    Ok(s.to_string())
}

/// Normalizes tags: trimmed, lowercase, inner spaces as dashes, duplicates dropped, sorted.
pub fn normalize_tags<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut out = BTreeSet::new();
    for t in raw {
        let t = t
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
            .to_lowercase();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > TAG_MAX {
            return Err(format!(
                "`{t}` is too long (maximum is {TAG_MAX} characters)"
            ));
        }
        if !t
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '#'))
        {
            return Err(format!(
                "`{t}` may contain only letters, digits and - _ . + #"
            ));
        }
        out.insert(t);
    }
    if out.len() > TAGS_PER_POST {
        return Err(format!("too many (maximum is {TAGS_PER_POST})"));
    }
    Ok(out.into_iter().collect())
}

/// A short plain-text excerpt for lists when the author gave no description.
pub fn excerpt(body: &str, max_chars: usize) -> String {
    let plain: String = body
        .lines()
        .map(|l| l.trim_start_matches(['#', '>', '-', '*', ' ']).trim())
        .filter(|l| !l.is_empty() && !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join(" ");
    let plain: String = plain
        .chars()
        .filter(|c| !matches!(c, '*' | '_' | '`'))
        .collect();
    if plain.chars().count() <= max_chars {
        return plain;
    }
    let cut: String = plain.chars().take(max_chars).collect();
    match cut.rfind(' ') {
        Some(i) => format!("{}…", &cut[..i]),
        None => format!("{cut}…"),
    }
}

/// Storage key of a cover's thumbnail.
pub fn cover_thumb_key(cover: &str) -> String {
    match cover.strip_suffix(".jpg") {
        Some(stem) => format!("{stem}.thumb.jpg"),
        None => format!("{cover}.thumb"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(slugify("Hello, World! 2026"), "hello-world-2026");
        assert_eq!(slugify("  --Rust & Axum--  "), "rust-axum");
        assert_eq!(slugify("¿¡!"), "post");
        assert!(parse_slug("good-slug-1").is_ok());
        assert!(parse_slug("Bad Slug").is_err());
        assert!(parse_slug("-edge").is_err());
    }

    #[test]
    fn tags_are_normalized_and_bounded() {
        assert_eq!(
            normalize_tags(["Rust", " web  dev ", "rust", ""]).unwrap(),
            vec!["rust", "web-dev"]
        );
        assert!(normalize_tags(["<script>"]).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(normalize_tags(many.iter().map(String::as_str)).is_err());
    }

    #[test]
    fn excerpts_cut_at_a_word() {
        assert_eq!(
            excerpt("# Title\n\nSome *words* here", 100),
            "Title Some words here"
        );
        assert_eq!(excerpt("one two three four", 9), "one two…");
    }
}
