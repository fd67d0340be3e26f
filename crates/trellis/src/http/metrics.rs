//! Prometheus metrics at `/metrics`: requests and their latency per route template and status class,
//! statements per request, the database pool, the cache, the job queue and job durations, and model
//! latency.
//!
//! One recorder serves the whole process (the `metrics` facade is global), so several apps built in one
//! process, as the tests do, report into the same series.
//!
//! Who may read it (`TRELLIS_METRICS`): `auto` is open in development and, in production, served only
//! with `TRELLIS_METRICS_TOKEN` as a bearer token (404 without one configured); `on` is open; `off` is 404.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{ConnectionTrait, Statement};

use crate::error::AppError;
use crate::state::AppState;

/// Latency buckets, in seconds: fine below 10 ms, where most answers fall, up to the request timeout.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const STATEMENTS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 50.0, 100.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder, installed on first use. `None` only if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("trellis_db_statements_per_request".into()),
                    STATEMENTS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

tokio::task_local! {
    static STATEMENT_COUNT: Cell<u32>;
}

/// Called by the database's statement hook: counts a statement against the request it runs for.
pub fn record_statement() {
    let _ = STATEMENT_COUNT.try_with(|c| c.set(c.get() + 1));
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Times every request and counts its statements, labelled by the route's template (`/api/articles/{slug}`,
/// never the path itself, so the series stay few), and notes the template on the request's log line.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    tracing::Span::current().record("route", route.as_str());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let (resp, statements) = STATEMENT_COUNT
        .scope(Cell::new(0), async move {
            let resp = next.run(req).await;
            (resp, STATEMENT_COUNT.with(Cell::get))
        })
        .await;
    let elapsed = started.elapsed();
    let status = status_class(resp.status());
    metrics::counter!("trellis_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("trellis_http_request_duration_seconds", "method" => method, "route" => route.clone(), "status" => status)
        .record(elapsed);
    metrics::histogram!("trellis_db_statements_per_request", "route" => route)
        .record(f64::from(statements));
    resp
}

/// How long one job ran, by kind and outcome.
pub fn record_job(kind: &str, outcome: &'static str, elapsed: Duration) {
    metrics::histogram!("trellis_job_duration_seconds", "kind" => kind.to_owned(), "outcome" => outcome)
        .record(elapsed);
}

/// How long a model took for a batch of texts.
pub fn record_prediction(texts: usize, elapsed: Duration) {
    metrics::histogram!("trellis_sentiment_predict_seconds").record(elapsed);
    metrics::counter!("trellis_sentiment_texts_total").increment(texts as u64);
}

/// Whether this request may read the metrics; `Err` is the answer to give it.
fn allowed(state: &AppState, req: &Request) -> Result<(), AppError> {
    let settings = &state.settings;
    let token = settings.metrics_token.as_ref();
    let open = match settings.metrics.as_str() {
        "off" => return Err(AppError::not_found("page")),
        "on" => token.is_none(),
        _ => !settings.is_production() && token.is_none(),
    };
    if open {
        return Ok(());
    }
    let Some(token) = token else {
        return Err(AppError::not_found("page"));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if crate::http::csrf::constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(AppError::Unauthorized(crate::error::FieldErrors::single(
            "token",
            "a valid metrics token is required",
        )))
    }
}

/// `GET /metrics`: the Prometheus text format. Gauges that describe shared state (pool, queue, cache) are
/// read at scrape time.
pub async fn serve(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    allowed(&state, &req)?;
    let Some(handle) = handle() else {
        return Err(AppError::not_found("page"));
    };
    sample_gauges(&state).await;
    let body = handle.render();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

async fn sample_gauges(state: &AppState) {
    for (role, conn) in state.db.pools() {
        let (size, idle) = match conn.get_database_backend() {
            sea_orm::DbBackend::Sqlite => {
                let p = conn.get_sqlite_connection_pool();
                (p.size(), p.num_idle())
            }
            sea_orm::DbBackend::Postgres => {
                let p = conn.get_postgres_connection_pool();
                (p.size(), p.num_idle())
            }
            _ => continue,
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        metrics::gauge!("trellis_db_pool_connections", "pool" => role, "state" => "idle")
            .set(f64::from(idle));
        metrics::gauge!("trellis_db_pool_connections", "pool" => role, "state" => "in_use")
            .set(f64::from(size - idle));
    }
    let (hits, misses) = state.cache.stats();
    metrics::counter!("trellis_cache_lookups_total", "result" => "hit").absolute(hits);
    metrics::counter!("trellis_cache_lookups_total", "result" => "miss").absolute(misses);
    // The queue is shared by every instance, so its depth comes from the database, not from this process.
    let sql = "SELECT kind, status, COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running') \
               GROUP BY kind, status";
    let rows = state
        .db
        .query_all_raw(Statement::from_string(state.db.get_database_backend(), sql))
        .await;
    match rows {
        Ok(rows) => {
            for status in ["queued", "running"] {
                // Kinds with nothing waiting read 0 rather than keeping their last value.
                for kind in state.registry.job_kinds() {
                    metrics::gauge!("trellis_jobs", "kind" => kind.to_owned(), "status" => status)
                        .set(0.0);
                }
            }
            for row in rows {
                let (Ok(kind), Ok(status), Ok(n)) = (
                    row.try_get::<String>("", "kind"),
                    row.try_get::<String>("", "status"),
                    row.try_get::<i64>("", "n"),
                ) else {
                    continue;
                };
                metrics::gauge!("trellis_jobs", "kind" => kind, "status" => status).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the job queue failed"),
    }
}
