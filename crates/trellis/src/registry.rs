//! The installed apps (Django's `INSTALLED_APPS` and `AppConfig`) and what they declare about their models
//! (Django's `Model._meta` and `ModelAdmin`).
//!
//! Each app has one function returning its [`AppConfig`]; `app.rs` holds the list, and builds from it the
//! site's routes, the OpenAPI document, the job registry, the navigation, the permissions and the admin.
//! The foundation defines these shapes and imports no app.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::error::FieldErrors;
use crate::jobs::Handler;
use crate::state::AppState;

/// One installed app.
pub struct AppConfig {
    /// Short lower-case name: the admin's URL segment and the prefix of the app's permissions.
    pub label: &'static str,
    /// As people read it ("Blog").
    pub name: &'static str,
    /// Its pages.
    pub pages: fn() -> Router<AppState>,
    /// Its JSON API, with OpenAPI operations, mounted under `/api`.
    pub api: Option<fn() -> OpenApiRouter<AppState>>,
    /// OpenAPI tags its operations use: (name, description).
    pub api_tags: &'static [(&'static str, &'static str)],
    /// Background job kinds it runs.
    pub jobs: &'static [(&'static str, Handler)],
    /// Its entry in the site's main navigation.
    pub nav: Option<NavEntry>,
    /// Permissions beyond each model's view/add/change/delete: (`app.codename`, description).
    pub permissions: &'static [(&'static str, &'static str)],
    /// Its templates, embedded: (name, source).
    pub templates: &'static [(&'static str, &'static str)],
    /// Templates anonymous readers are shown without being given a session (public reading pages):
    /// crawlers must not fill the session store.
    pub sessionless_templates: &'static [&'static str],
    /// Route templates (as routed, e.g. `/api/articles/{slug}`) whose answers to anonymous `GET`s are
    /// the same for every visitor and may be served from the cache (see `http::view_cache`).
    pub cached_views: &'static [&'static str],
    /// Its models, as the admin, the `models` commands and fixtures see them.
    pub models: fn() -> Vec<Model>,
    /// Puts the app's own shared state (caches, loaded models) into the application state.
    pub init: Option<fn(&crate::config::Settings, &mut axum::http::Extensions)>,
}

/// An app's place in the main navigation and on the home page.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct NavEntry {
    pub label: &'static str,
    pub href: &'static str,
    /// One sentence for the home page.
    pub summary: &'static str,
}

/// The installed apps, with lookups over them.
pub struct Registry {
    pub apps: Vec<AppConfig>,
    models: Vec<Model>,
}

impl Registry {
    pub fn new(apps: Vec<AppConfig>) -> Registry {
        let models = apps.iter().flat_map(|a| (a.models)()).collect();
        Registry { apps, models }
    }

    /// Every registered model, app by app in installation order.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// A model by `app.model` (both lower case).
    pub fn model(&self, app: &str, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.app == app && m.name == name)
    }

    /// A model by its `app.model` label.
    pub fn model_by_label(&self, label: &str) -> Option<&Model> {
        let (app, name) = label.split_once('.')?;
        self.model(&app.to_ascii_lowercase(), &name.to_ascii_lowercase())
    }

    pub fn app(&self, label: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.label == label)
    }

    /// Every job kind the installed apps define.
    pub fn job_kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.apps
            .iter()
            .flat_map(|a| a.jobs.iter())
            .map(|(k, _)| *k)
    }

    /// The kind → handler table of every app's jobs.
    pub fn job_handler(&self, kind: &str) -> Option<Handler> {
        self.apps
            .iter()
            .flat_map(|a| a.jobs.iter())
            .find(|(k, _)| *k == kind)
            .map(|(_, h)| *h)
    }

    /// Every permission: each model's four, then the apps' own, as (codename, description).
    pub fn permissions(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for m in &self.models {
            for action in ["view", "add", "change", "delete"] {
                out.push((
                    m.permission(action),
                    format!("Can {action} {}", m.verbose_name),
                ));
            }
        }
        for a in &self.apps {
            for (code, name) in a.permissions {
                out.push((code.to_string(), name.to_string()));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|(code, _)| seen.insert(code.clone()));
        out
    }

    /// Every embedded template of every app.
    /// Every app's cacheable route templates.
    pub fn cached_views(&self) -> std::collections::HashSet<&'static str> {
        self.apps
            .iter()
            .flat_map(|a| a.cached_views.iter().copied())
            .collect()
    }

    pub fn templates(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.apps.iter().flat_map(|a| a.templates.iter().copied())
    }

    pub fn sessionless(&self, template: &str) -> bool {
        self.apps
            .iter()
            .any(|a| a.sessionless_templates.contains(&template))
    }

    pub fn nav(&self) -> Vec<NavEntry> {
        self.apps.iter().filter_map(|a| a.nav).collect()
    }
}

// ---------------------------------------------------------------- models

/// What the admin, the `models` commands and fixtures know of one table.
pub struct Model {
    /// The app's label.
    pub app: &'static str,
    /// Lower-case name, singular: the admin's URL segment and the suffix of its permissions.
    pub name: &'static str,
    pub verbose_name: &'static str,
    pub verbose_name_plural: &'static str,
    pub table: &'static str,
    /// Primary-key columns: `["id"]`, or several for a table that links two others.
    pub pk: &'static [&'static str],
    /// Every column, in order, and many-to-many fields.
    pub fields: Vec<Field>,
    /// The column that names an object in lists, links and history ("title").
    pub display: &'static str,
    /// Default order: columns, `-` for descending.
    pub ordering: &'static [&'static str],
    /// How the admin shows it; `None` keeps it out of the admin (it still goes into fixtures).
    pub admin: Option<Admin>,
    /// The app's own checks and derived values on every save, whoever saves (admin, CLI, fixtures
    /// excepted: they hold stored rows as they were).
    pub clean: Option<Clean>,
}

impl Model {
    /// `app.model`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.app, self.name)
    }

    /// The permission for `action` (view, add, change, delete) on this model: `app.action_model`.
    pub fn permission(&self, action: &str) -> String {
        format!("{}.{action}_{}", self.app, self.name)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Columns stored in this table (many-to-many fields live in their link tables).
    pub fn columns(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| !matches!(f.kind, Kind::ManyToMany { .. }))
    }

    /// Models this one points to by foreign key (`app.model` labels), for ordering fixtures.
    pub fn depends_on(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter_map(|f| match f.kind {
                Kind::ForeignKey { to, .. } => Some(to),
                _ => None,
            })
            .collect()
    }
}

/// One column (or many-to-many relation) of a model.
#[derive(Clone, Debug)]
pub struct Field {
    /// The column name.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// The column accepts NULL.
    pub null: bool,
    /// A form may leave it empty (text becomes "", others NULL; a default applies on insert).
    pub blank: bool,
    /// Shown in forms; set by the server otherwise (timestamps, hashes, counts).
    pub editable: bool,
    pub help: &'static str,
    /// A foreign key the database sets to NULL when its target is deleted (`ON DELETE SET NULL`);
    /// every other foreign key deletes its row along with the target.
    pub set_null: bool,
}

impl Field {
    /// A required, editable field.
    pub const fn new(name: &'static str, label: &'static str, kind: Kind) -> Field {
        Field {
            name,
            label,
            kind,
            null: false,
            blank: false,
            editable: true,
            help: "",
            set_null: false,
        }
    }

    /// Nullable, and may be left empty.
    pub const fn optional(mut self) -> Field {
        self.null = true;
        self.blank = true;
        self
    }

    /// May be left empty (text stored as "").
    pub const fn blank(mut self) -> Field {
        self.blank = true;
        self
    }

    /// Set by the server, never by a form.
    pub const fn read_only(mut self) -> Field {
        self.editable = false;
        self.blank = true;
        self
    }

    /// See [`Field::set_null`].
    pub const fn set_null_on_delete(mut self) -> Field {
        self.set_null = true;
        self
    }

    pub const fn help(mut self, help: &'static str) -> Field {
        self.help = help;
        self
    }
}

/// What a field holds, and how it is read from a form and shown.
#[derive(Clone, Debug)]
pub enum Kind {
    /// The auto-numbered primary key.
    Id,
    /// One line of text, at most `max` characters.
    Text {
        max: usize,
    },
    /// Many lines.
    LongText {
        max: usize,
    },
    /// A whole number within a range.
    Integer {
        min: i64,
        max: i64,
    },
    /// A floating-point number (scores).
    Float,
    Bool,
    /// A moment, stored in UTC.
    DateTime,
    /// A calendar day.
    Date,
    /// Text from a fixed list: (stored value, label).
    Choice(&'static [(&'static str, &'static str)]),
    /// A number from a fixed list: (stored value, label).
    IntChoice(&'static [(i64, &'static str)]),
    /// Points to another model's row by id (`to` is `app.model`).
    ForeignKey {
        to: &'static str,
    },
    /// Rows of `to` linked through `through` (`own` column pointing here, `other` pointing there).
    ManyToMany {
        to: &'static str,
        through: &'static str,
        own: &'static str,
        other: &'static str,
    },
    /// A password: set through the password rules, stored as a hash, never shown.
    Password,
    /// An uploaded image's storage key. Uploads go through the app's own checks and re-encoding
    /// (`store`); `thumb` names the thumbnail stored beside it, deleted with it.
    Image {
        store: ImageStore,
        thumb: fn(&str) -> String,
    },
    /// Stored but never shown or dumped in clear (a token hash shows as `…`).
    Secret,
    /// Bytes (trained weights): shown as a size, dumped as base64.
    Bytes,
    /// JSON text.
    Json,
}

pub type ImageFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Checks, re-encodes and stores an uploaded image as its app does; answers the storage key, or why the
/// file was refused.
pub type ImageStore = for<'a> fn(&'a AppState, Vec<u8>) -> ImageFuture<'a>;

/// A value as the admin and the CLI pass it around: JSON, so fixtures and forms share one shape.
pub type Values = BTreeMap<String, serde_json::Value>;

/// What a [`Clean`] hook may look at.
pub struct CleanCtx<'a> {
    pub state: &'a AppState,
    /// The stored row when changing one, `None` when adding.
    pub existing: Option<&'a Values>,
}

pub type CleanFuture<'a> = Pin<Box<dyn Future<Output = Result<(), FieldErrors>> + Send + 'a>>;

/// An app's rule run on the values of a row about to be saved: checks fields (errors by field) and fills
/// derived ones (a slug, rendered HTML, a password hash). Values hold only what is being set.
pub type Clean = for<'a> fn(&'a CleanCtx<'a>, &'a mut Values) -> CleanFuture<'a>;

/// How the admin presents a model (Django's `ModelAdmin`).
#[derive(Default)]
pub struct Admin {
    /// Columns of the change list (the display column when empty).
    pub list_display: &'static [&'static str],
    /// Columns `?q=` searches (case-insensitive substring).
    pub search: &'static [&'static str],
    /// Sidebar filters: booleans, choices, foreign keys, dates.
    pub filters: &'static [&'static str],
    /// Shown on the change form but never changed there.
    pub readonly: &'static [&'static str],
    /// Bulk actions besides "delete selected".
    pub actions: Vec<Action>,
    /// Child rows edited on the parent's page: (`app.model`, foreign-key column).
    pub inlines: &'static [(&'static str, &'static str)],
    /// The admin may add rows (tokens and jobs are made by their apps, not by hand).
    pub no_add: bool,
    /// The admin may only view and delete rows.
    pub no_change: bool,
}

pub type ActionFuture<'a> =
    Pin<Box<dyn Future<Output = Result<u64, crate::error::AppError>> + Send + 'a>>;

/// A bulk action on selected rows, run by a staff user (recorded where the action keeps a history);
/// answers how many it changed.
pub struct Action {
    /// Its name in forms (`publish`).
    pub name: &'static str,
    pub label: &'static str,
    /// The permission needed besides `change` on the model, if any.
    pub permission: Option<&'static str>,
    pub run:
        for<'a> fn(&'a AppState, &'a crate::accounts::models::User, &'a [i64]) -> ActionFuture<'a>,
}
