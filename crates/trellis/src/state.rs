//! What every handler can reach: the database, settings, templates, mail, storage and throttles.

use std::ops::Deref;
use std::sync::Arc;

use crate::config::{Secret, Settings};
use crate::db::{Db, QueryCounter};
use crate::http::assets::Assets;
use crate::http::templates::Templates;
use crate::http::throttle::Throttles;
use crate::mail::Mailer;
use crate::storage::Storage;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub settings: Settings,
    pub secret_key: Secret,
    pub templates: Templates,
    pub assets: Assets,
    pub mailer: Mailer,
    pub storage: Storage,
    pub throttles: Throttles,
    /// The cache framework (`TRELLIS_CACHE`); every write path bumps its generation.
    pub cache: crate::cache::Cache,
    pub queries: QueryCounter,
    pub jobs: crate::jobs::Queue,
    /// The installed apps.
    pub registry: Arc<crate::registry::Registry>,
    /// Each app's own shared state, by type (see `AppConfig::init`).
    pub extensions: axum::http::Extensions,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }

    /// An app's shared state, put there by its `init`.
    pub fn ext<T: Send + Sync + Clone + 'static>(&self) -> &T {
        self.extensions
            .get::<T>()
            .expect("the app that owns this state is installed and initialized")
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
