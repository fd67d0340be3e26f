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
    pub queries: QueryCounter,
    pub jobs: crate::jobs::Queue,
    pub sentiment_models: crate::sentiment::ModelCache,
    pub sentiment_builtins: crate::sentiment::Builtins,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
