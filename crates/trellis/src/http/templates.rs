//! Jinja templates (minijinja) embedded in the binary, overridable from `TRELLIS_TEMPLATES_DIR`, and the
//! per-request context every page gets: the user, the CSRF token, flash messages and asset URLs.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::accounts::models::User;
use crate::error::{AppError, Result};
use crate::http::assets::Assets;
use crate::http::auth::CurrentUser;
use crate::http::csrf;
use crate::state::AppState;

/// Embeds templates from `crates/trellis/templates/` as `(name, source)` pairs, for an app's declaration.
#[macro_export]
macro_rules! embedded_templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $name)))),*]
    };
}

/// The site's own templates: the layout, the home page and the error page.
pub const SITE_TEMPLATES: &[(&str, &str)] =
    embedded_templates!["base.html", "home.html", "error.html", "macros.html"];

#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl Templates {
    /// The site's templates plus `templates` (every app's), each overridable from `override_dir`.
    pub fn new(
        override_dir: Option<PathBuf>,
        assets: &Assets,
        templates: Vec<(&'static str, &'static str)>,
        nav: Vec<crate::registry::NavEntry>,
    ) -> anyhow::Result<Self> {
        let mut all: Vec<(&'static str, &'static str)> = SITE_TEMPLATES.to_vec();
        all.extend(templates);
        let names: Vec<&'static str> = all.iter().map(|(n, _)| *n).collect();
        let mut env = Environment::new();
        env.set_loader(move |name| {
            if let Some(dir) = &override_dir {
                // Names are ours (never user input), but refuse anything that walks out of the directory.
                if !name.contains("..") {
                    match std::fs::read_to_string(dir.join(name)) {
                        Ok(s) => return Ok(Some(s)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("reading template override {name}: {e}"),
                            ));
                        }
                    }
                }
            }
            Ok(all
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s.to_string()))
        });
        let urls: Vec<(String, String)> = ["app.css", "app.js", "admin.js", "favicon.svg"]
            .iter()
            .filter_map(|n| assets.url(n).map(|u| (n.to_string(), u)))
            .collect();
        // Our own URLs of [a-z0-9./] only: safe as they are (escaping would turn `/` into `&#x2f;`).
        env.add_function(
            "static",
            move |name: String| -> std::result::Result<Value, minijinja::Error> {
                urls.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, u)| Value::from_safe_string(u.clone()))
                    .ok_or_else(|| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("no static file {name}"),
                        )
                    })
            },
        );
        // Django's escaping: & < > " ' only. minijinja also escapes `/`, which garbles every URL in the HTML.
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == minijinja::AutoEscape::Html
                && !value.is_safe()
                && let Some(s) = value.as_str()
            {
                return out.write_str(&html_escape(s)).map_err(|_| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::WriteFailure,
                        "writing template output",
                    )
                });
            }
            minijinja::escape_formatter(out, state, value)
        });
        // The installed apps, for the navigation and the home page.
        env.add_global("nav", Value::from_serialize(&nav));
        env.add_filter("md_inline", |v: String| -> Value {
            Value::from_safe_string(md_inline(&v))
        });
        env.add_filter("datetime", |v: String| -> String {
            chrono::DateTime::parse_from_rfc3339(&v)
                .map(|d| d.format("%-d %b %Y, %H:%M UTC").to_string())
                .unwrap_or(v)
        });
        // Fail at start-up, not on first request, if a built-in template does not parse.
        for name in names {
            env.get_template(name)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
        Ok(Templates { env: Arc::new(env) })
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("{e:#}")))?;
        let started = std::time::Instant::now();
        let html = tmpl
            .render(ctx)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {name}: {e:#}")));
        crate::http::debug_toolbar::record_render(started.elapsed());
        html
    }
}

/// The inline Markdown that roadmap lines use (`**bold**`, `` `code` ``), as escaped HTML.
pub fn md_inline(text: &str) -> String {
    fn alternate(s: &str, marker: &str, tag: &str) -> String {
        let parts: Vec<&str> = s.split(marker).collect();
        // An unpaired marker is left as text.
        if parts.len().is_multiple_of(2) {
            return s.to_string();
        }
        let mut out = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i % 2 == 1 {
                out.push_str(&format!("<{tag}>{p}</{tag}>"));
            } else {
                out.push_str(p);
            }
        }
        out
    }
    let escaped = html_escape(text);
    alternate(&alternate(&escaped, "`", "code"), "**", "strong")
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flash {
    pub level: String,
    pub text: String,
}

const FLASH_KEY: &str = "_flash";

/// What a page handler needs to render: state, session and user. Django's `RequestContext`.
pub struct Ctx {
    pub state: AppState,
    pub session: Session,
    pub user: Option<Arc<User>>,
    pub path: String,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|e| e.into_response())?;
        let user = parts
            .extensions
            .get::<CurrentUser>()
            .and_then(|c| c.0.clone());
        Ok(Ctx {
            state: state.clone(),
            session,
            user,
            path: parts.uri.path().to_string(),
        })
    }
}

impl Ctx {
    /// Queues a message for the next page shown (Django's messages framework).
    pub async fn flash(&self, level: &str, text: impl Into<String>) {
        let mut list: Vec<Flash> = self
            .session
            .get(FLASH_KEY)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        list.push(Flash {
            level: level.into(),
            text: text.into(),
        });
        let _ = self.session.insert(FLASH_KEY, list).await;
    }

    /// Renders a page with 200.
    pub async fn render(&self, name: &str, ctx: Value) -> Result<Response> {
        self.render_status(StatusCode::OK, name, ctx).await
    }

    pub async fn render_status(
        &self,
        status: StatusCode,
        name: &str,
        ctx: Value,
    ) -> Result<Response> {
        // Read before removing: removing marks the session modified, which would write it on every page.
        let mut messages: Vec<Flash> = self
            .session
            .get(FLASH_KEY)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        if !messages.is_empty() {
            messages = self
                .session
                .remove(FLASH_KEY)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
        }
        // Anonymous readers of the blog and the home page get no session (and so no token): crawlers
        // must not fill the session store. Every other page may hold a form that needs one.
        let read_only =
            name == "home.html" || name == "error.html" || self.state.registry.sessionless(name);
        let csrf_token = if self.user.is_some() || !read_only {
            csrf::token(&self.session).await?
        } else {
            csrf::existing(&self.session).await.unwrap_or_default()
        };
        let user = self.user.as_ref().map(|u| {
            context! {
                id => u.id,
                username => u.username,
                name => u.shown_name(),
                is_staff => u.is_staff,
                is_superuser => u.is_superuser,
                avatar_thumb => u.avatar.as_ref().map(|a| crate::storage::Storage::url(&crate::accounts::thumb_key(a))),
            }
        });
        let full = context! {
            user => user,
            csrf_token => csrf_token,
            messages => messages,
            request_path => self.path,
            production => self.state.settings.is_production(),
            // The public address (TRELLIS_BASE_URL, or the bind address), for copyable examples.
            site_url => self.state.settings.base_url(),
            ..ctx
        };
        let html = self.state.templates.render(name, full)?;
        Ok((status, Html(html)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown_is_escaped_then_emphasised() {
        assert_eq!(
            md_inline("Learn **URLs** & `views`"),
            "Learn <strong>URLs</strong> &amp; <code>views</code>"
        );
        assert_eq!(
            md_inline("<b>**x**</b>"),
            "&lt;b&gt;<strong>x</strong>&lt;/b&gt;"
        );
        assert_eq!(md_inline("a ** b"), "a ** b", "an unpaired marker stays");
    }
}
