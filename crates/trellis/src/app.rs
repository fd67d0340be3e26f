//! Building the application: database, state, every app's routes and the shared layers, bound to a port.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::routing::get;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tracing::Level;

use crate::config::Settings;
use crate::http::session_store::{DbStore, RedisStore, Store};
use crate::http::{
    assets, auth, csrf, middleware, templates::Templates, throttle, throttle::Throttles,
};
use crate::mail::Mailer;
use crate::registry::{AppConfig, Registry};
use crate::state::{AppState, Inner};
use crate::storage::Storage;
use crate::{accounts, blog, db, site, todo};

pub use crate::http::session_store::SESSION_COOKIE;
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How start-up treats the database.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartOptions {
    /// Apply pending migrations before serving (`serve --migrate`).
    pub migrate: bool,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    session_store: Store,
}

impl Application {
    /// Connects and migrates the database, builds the state and routes, and binds the listener.
    pub async fn build(settings: Settings, opts: StartOptions) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.bind_addr()?)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let mut settings = settings;
        // With port 0 the OS picks one; links and logs must show the real address.
        settings.bind = listener.local_addr()?.to_string();
        let (state, session_store) = build_state(settings, opts).await?;
        let router = router(state.clone(), session_store.clone());
        Ok(Application {
            listener,
            router,
            state,
            session_store,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_with_shutdown(shutdown_signal()).await
    }

    pub async fn run_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let housekeeping =
            tokio::spawn(housekeeping(self.state.clone(), self.session_store.clone()));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let workers = tokio::spawn(crate::jobs::run_workers(
            self.state.clone(),
            self.state.settings.job_workers,
            stop_rx,
        ));
        let limits = crate::http::server::Limits::from_settings(&self.state.settings);
        let result = crate::http::server::serve(self.listener, self.router, limits, async move {
            signal.await;
            let _ = stop_tx.send(true);
        })
        .await;
        // Running jobs stop at their next checkpoint and go back to the queue; a job that does not
        // reach one in time is picked up again when its lease expires.
        if tokio::time::timeout(Duration::from_secs(20), workers)
            .await
            .is_err()
        {
            tracing::warn!("jobs still running at shutdown; their leases will expire");
        }
        housekeeping.abort();
        result
    }
}

/// The installed apps, in order (Django's `INSTALLED_APPS`): every URL, API operation, job kind,
/// permission and admin registration comes from this list.
pub fn installed_apps() -> Vec<AppConfig> {
    vec![
        accounts::app(),
        crate::jobs::app(),
        blog::app(),
        todo::app(),
        crate::tracker::app(),
        crate::sentiment::app(),
        crate::shop::app(),
    ]
}

/// Everything but HTTP: the database (migrated as [`prepare_database`] allows), settings, templates, mail,
/// storage, throttles and the session store. `trellis worker` runs jobs on this alone.
pub async fn build_state(
    settings: Settings,
    opts: StartOptions,
) -> anyhow::Result<(AppState, Store)> {
    let registry = Arc::new(Registry::new(installed_apps()));
    let (db, queries) = prepare_database(&settings, opts, &registry).await?;
    let secret_key = settings.resolve_secret_key()?;
    let assets = assets::Assets::new();
    let templates = Templates::new(
        settings.templates_dir.clone(),
        &assets,
        registry
            .templates()
            .chain(crate::admin::TEMPLATES.iter().copied())
            .collect(),
        registry.nav(),
    )?;
    let mailer = Mailer::from_settings(&settings)?;
    let storage = Storage::from_settings(&settings)?;
    crate::http::metrics::handle();
    let redis = match &settings.redis_url {
        Some(url) => Some(crate::shared_redis::SharedRedis::connect(url.expose()).await?),
        None => None,
    };
    let throttles = Throttles::new(&settings, redis.clone());
    let cache = crate::cache::Cache::from_settings(&settings, redis.clone())?;
    let session_store = match redis {
        Some(conn) => Store::Redis(RedisStore::new(conn, &settings.cache_key_prefix)),
        None => Store::Db(DbStore::new(db.clone())),
    };
    let mut extensions = axum::http::Extensions::new();
    for app in &registry.apps {
        if let Some(init) = app.init {
            init(&settings, &mut extensions);
        }
    }
    let state = AppState::new(Inner {
        db,
        settings,
        secret_key,
        templates,
        assets,
        mailer,
        storage,
        throttles,
        cache,
        queries,
        jobs: crate::jobs::Queue::new(),
        registry,
        extensions,
    });
    Ok((state, session_store))
}

/// Every app's routes, merged here so all URLs are visible from one place, and the shared layers.
pub fn router(state: AppState, session_store: Store) -> Router {
    let settings = &state.settings;
    let sessions = SessionManagerLayer::new(session_store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.is_production())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            settings.session_age_secs as i64,
        )));

    let hsts = settings.is_production().then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
    });

    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let request_id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!(
                "request",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %request_id,
                user_id = tracing::field::Empty,
                route = tracing::field::Empty,
            )
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO));

    let mut pages = Router::new()
        .merge(site::router())
        .merge(crate::admin::router());
    for app in &state.registry.apps {
        pages = pages.merge((app.pages)());
    }
    pages
        .merge(crate::http::openapi::router(&state.registry))
        .route("/static/{file}", get(assets::serve))
        .fallback(site::not_found)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(trace)
                // Inside the trace layer, so it can put the route on the request's log line.
                .layer(axum::middleware::from_fn(crate::http::metrics::track))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::new())
                .layer(DefaultBodyLimit::max(settings.max_body_bytes))
                .layer(CompressionLayer::new())
                // Inside compression, so the panel is added to the page as rendered.
                .option_layer(
                    settings
                        .debug_toolbar_enabled()
                        .then(|| axum::middleware::from_fn(crate::http::debug_toolbar::toolbar)),
                )
                // Inside compression: validators are computed on the body as the handler made it.
                .layer(axum::middleware::from_fn(crate::http::etag::etag))
                .option_layer(hsts)
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                         object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
                    ),
                ))
                .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
                .layer(sessions)
                .option_layer(cors(settings))
                .layer(axum::middleware::from_fn_with_state(state.clone(), auth::load_user))
                .layer(axum::middleware::from_fn_with_state(state.clone(), throttle::api_rates))
                .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::error_pages))
                .layer(axum::middleware::from_fn_with_state(state.clone(), crate::http::forms::refuse_nul))
                // Inside error_pages, so panics and timeouts get our error shape too.
                .layer(CatchPanicLayer::new())
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(settings.request_timeout_secs),
                ))
                .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::protect))
                // Innermost: sees the routed path and the user, and bumps only after a handler wrote.
                .layer(axum::middleware::from_fn_with_state(
                    crate::http::view_cache::ViewCache {
                        cache: state.cache.clone(),
                        routes: Arc::new(state.registry.cached_views()),
                        queries: state.queries.clone(),
                    },
                    crate::http::view_cache::cache_views,
                )),
        )
        .with_state(state)
}

/// Connects, and applies or refuses pending migrations: in development on SQLite they are applied;
/// otherwise only with `--migrate`, so several instances never race to change a shared schema.
pub async fn prepare_database(
    settings: &Settings,
    opts: StartOptions,
    registry: &Registry,
) -> anyhow::Result<(db::Db, db::QueryCounter)> {
    let url = settings.database_url();
    let (conn, counter) = db::connect(&url, settings.database_max_connections).await?;
    db::ping(&conn)
        .await
        .with_context(|| format!("cannot reach the database at {}", db::redact_url(&url)))?;
    let pending = db::pending_migrations(&conn).await?;
    if !pending.is_empty() {
        let auto = !settings.is_production() && settings.is_sqlite();
        if opts.migrate || auto {
            tracing::info!(count = pending.len(), "applying migrations");
            db::migrate(&conn).await?;
        } else {
            bail!(
                "{} pending migration(s) ({}); run `trellis migrate` or start with `trellis serve --migrate`",
                pending.len(),
                pending.join(", ")
            );
        }
    }
    accounts::models::ensure_permissions(&conn, &registry.permissions())
        .await
        .context("creating the installed apps' permissions")?;
    Ok((conn, counter))
}

/// CORS for the API, only for the configured origins (off when none are).
fn cors(settings: &Settings) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::Method;
    let origins: Vec<HeaderValue> = settings
        .cors_origin_list()
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Periodic clean-up: expired sessions and idle throttle keys.
async fn housekeeping(state: AppState, store: Store) {
    use tower_sessions::ExpiredDeletion;
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Store::Db(db_store) = &store
            && let Err(e) = db_store.delete_expired().await
        {
            tracing::warn!(error = %e, "deleting expired sessions failed");
        }
        state.throttles.prune();
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
