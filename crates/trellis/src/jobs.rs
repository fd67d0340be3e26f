//! Background jobs: a queue table in the application's own database, so jobs need no extra service, are
//! committed with the request that creates them, and are shared by every instance.
//!
//! Life of a job: `queued` → `running` (claimed by one worker in a single conditional UPDATE) → `succeeded`,
//! `failed` or `cancelled`. A running job is held under a lease that a heartbeat renews; when a process dies
//! its lease runs out and the sweep queues the job again (up to `max_attempts`, then it is failed) — never
//! lost, and never run by two workers at once, because every write a worker makes is conditional on still
//! holding the job. On a graceful shutdown a worker hands its job back at the next checkpoint.
//!
//! Handlers are looked up by `kind` among the installed apps' job kinds (`AppConfig::jobs`); they report
//! progress through [`JobCtx::checkpoint`] and should write partial results in the same transaction as
//! their progress, so a resumed job continues where the last checkpoint left off.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseTransaction, FromQueryResult, Statement};
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::state::AppState;
use crate::storage;

/// How long a claim holds without a heartbeat.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a running job's lease is renewed.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How often idle workers look for work they were not woken for (jobs queued by other instances).
const POLL: Duration = Duration::from_secs(2);
/// How often expired leases are swept.
const SWEEP: Duration = Duration::from_secs(15);
/// Abandoned pending uploads are looked for once an hour (every 240 sweeps), starting at start-up.
const PENDING_SWEEP_TICKS: u64 = 240;

pub mod job {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub kind: String,
        pub owner_id: Option<i64>,
        pub status: String,
        pub payload: String,
        pub result: Option<String>,
        pub error: Option<String>,
        pub progress: i32,
        pub attempts: i32,
        pub max_attempts: i32,
        pub cancel_requested: bool,
        pub worker: Option<String>,
        pub lease_expires_ms: Option<i64>,
        pub created_at: DateTime<Utc>,
        pub started_at: Option<DateTime<Utc>>,
        pub finished_at: Option<DateTime<Utc>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use job::Model as Job;

impl Job {
    pub fn payload_json(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or(Value::Null)
    }

    pub fn result_json(&self) -> Option<Value> {
        self.result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
    }

    /// Finished one way or another: nothing will change it any more.
    pub fn is_done(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "cancelled")
    }
}

/// Wakes this instance's idle workers when a job is queued here, so they need not wait for the next poll.
#[derive(Clone, Default)]
pub struct Queue {
    wake: Arc<Notify>,
}

impl Queue {
    pub fn new() -> Self {
        Self::default()
    }

    fn notify(&self) {
        self.wake.notify_waiters();
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn lease_until() -> i64 {
    now_ms() + LEASE.as_millis() as i64
}

fn stmt(db: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// Queues a job inside the caller's transaction (or connection); workers are woken once it is visible.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    kind: &str,
    owner_id: Option<i64>,
    payload: &Value,
    max_attempts: i32,
) -> Result<i64, DbErr> {
    insert(db, kind, owner_id, payload, max_attempts, None).await
}

/// [`enqueue`] for a job that must not start before `delay` has passed (an unpaid order's expiry).
/// Workers poll, so it starts within a poll interval of its time.
pub async fn enqueue_after(
    db: &impl ConnectionTrait,
    kind: &str,
    owner_id: Option<i64>,
    payload: &Value,
    max_attempts: i32,
    delay: Duration,
) -> Result<i64, DbErr> {
    let at = now_ms().saturating_add(delay.as_millis().min(i64::MAX as u128) as i64);
    insert(db, kind, owner_id, payload, max_attempts, Some(at)).await
}

async fn insert(
    db: &impl ConnectionTrait,
    kind: &str,
    owner_id: Option<i64>,
    payload: &Value,
    max_attempts: i32,
    run_after_ms: Option<i64>,
) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    let row = Id::find_by_statement(stmt(
        db,
        "INSERT INTO jobs (kind, owner_id, payload, max_attempts, created_at, run_after_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        vec![
            kind.into(),
            owner_id.into(),
            payload.to_string().into(),
            max_attempts.into(),
            Utc::now().into(),
            run_after_ms.into(),
        ],
    ))
    .one(db)
    .await?
    .ok_or_else(|| DbErr::RecordNotInserted)?;
    Ok(row.id)
}

/// Wakes this instance's workers; call after the transaction that queued a job commits.
pub fn wake(state: &AppState) {
    state.jobs.notify();
}

/// Asks a job to stop: a queued one is cancelled at once, a running one at its next checkpoint. Returns
/// false when the job had already finished.
pub async fn request_cancel(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let now = Utc::now();
    let queued = db
        .execute_raw(stmt(
            db,
            "UPDATE jobs SET status = 'cancelled', finished_at = $2, cancel_requested = TRUE \
             WHERE id = $1 AND status = 'queued'",
            vec![id.into(), now.into()],
        ))
        .await?;
    if queued.rows_affected() > 0 {
        return Ok(true);
    }
    let running = db
        .execute_raw(stmt(
            db,
            "UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'",
            vec![id.into()],
        ))
        .await?;
    Ok(running.rows_affected() > 0)
}

/// A job as a worker holds it.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub owner_id: Option<i64>,
    pub payload: String,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Takes the oldest queued job, or none. PostgreSQL skips rows other workers are claiming; SQLite
/// serializes writers, so the conditional UPDATE alone decides.
async fn claim(db: &crate::db::Db, worker: &str) -> Result<Option<Claimed>, DbErr> {
    let pick = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            "SELECT id FROM jobs WHERE status = 'queued' AND (run_after_ms IS NULL OR run_after_ms <= $4) \
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        }
        _ => {
            "SELECT id FROM jobs WHERE status = 'queued' AND (run_after_ms IS NULL OR run_after_ms <= $4) \
             ORDER BY id LIMIT 1"
        }
    };
    let sql = format!(
        "UPDATE jobs SET status = 'running', worker = $1, attempts = attempts + 1, \
         lease_expires_ms = $2, started_at = COALESCE(started_at, $3) \
         WHERE id = ({pick}) AND status = 'queued' \
         RETURNING id, kind, owner_id, payload, attempts, max_attempts"
    );
    Claimed::find_by_statement(stmt(
        db,
        &sql,
        vec![
            worker.into(),
            lease_until().into(),
            Utc::now().into(),
            now_ms().into(),
        ],
    ))
    .one(db)
    .await
}

/// Jobs whose lease ran out (their worker died): queued again, or failed after their last attempt, or
/// cancelled if that was asked. Returns how many were touched.
pub async fn sweep_expired(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let res = db
        .execute_raw(stmt(
            db,
            "UPDATE jobs SET \
               status = CASE WHEN cancel_requested THEN 'cancelled' \
                             WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
               error = CASE WHEN cancel_requested OR attempts < max_attempts THEN error \
                            ELSE 'interrupted: the worker running it stopped, and no attempts are left' END, \
               finished_at = CASE WHEN cancel_requested OR attempts >= max_attempts THEN $2 ELSE NULL END, \
               worker = NULL, lease_expires_ms = NULL \
             WHERE status = 'running' AND lease_expires_ms < $1",
            vec![now_ms().into(), Utc::now().into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

/// Why a handler stopped before finishing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// The owner cancelled the job.
    Cancelled,
    /// This process is shutting down; the job goes back to the queue.
    Shutdown,
    /// Another worker took the job over (this one's lease lapsed); stop without writing.
    Lost,
}

#[derive(Debug)]
pub enum JobError {
    Interrupted(Interrupt),
    /// The job cannot succeed (bad input, missing dataset): failed at once with this message.
    Failed(String),
    /// Something unexpected: retried while attempts remain.
    Internal(anyhow::Error),
}

impl From<Interrupt> for JobError {
    fn from(i: Interrupt) -> Self {
        JobError::Interrupted(i)
    }
}

impl From<DbErr> for JobError {
    fn from(e: DbErr) -> Self {
        JobError::Internal(e.into())
    }
}

const FLAG_OK: u8 = 0;
const FLAG_CANCEL: u8 = 1;
const FLAG_LOST: u8 = 2;

/// What a handler gets: the job, the application state, and checkpoints.
pub struct JobCtx {
    pub state: AppState,
    pub job: Claimed,
    worker: String,
    flag: Arc<AtomicU8>,
    shutdown: watch::Receiver<bool>,
}

impl JobCtx {
    pub fn payload(&self) -> Value {
        serde_json::from_str(&self.job.payload).unwrap_or(Value::Null)
    }

    /// Whether the handler should stop now, and why.
    pub fn interrupted(&self) -> Option<Interrupt> {
        match self.flag.load(Ordering::Relaxed) {
            FLAG_LOST => Some(Interrupt::Lost),
            FLAG_CANCEL => Some(Interrupt::Cancelled),
            _ if *self.shutdown.borrow() => Some(Interrupt::Shutdown),
            _ => None,
        }
    }

    /// Records progress (0–100) inside `txn`, with whatever partial results the handler wrote there, and
    /// says whether to go on. The update only applies while this worker still holds the job.
    pub async fn checkpoint_in(
        &self,
        txn: &DatabaseTransaction,
        progress: i32,
    ) -> Result<(), JobError> {
        #[derive(FromQueryResult)]
        struct Row {
            cancel_requested: bool,
        }
        let row = Row::find_by_statement(stmt(
            txn,
            "UPDATE jobs SET progress = $3, lease_expires_ms = $4 \
             WHERE id = $1 AND worker = $2 AND status = 'running' RETURNING cancel_requested",
            vec![
                self.job.id.into(),
                self.worker.clone().into(),
                progress.clamp(0, 100).into(),
                lease_until().into(),
            ],
        ))
        .one(txn)
        .await?;
        match row {
            None => Err(Interrupt::Lost.into()),
            Some(r) if r.cancel_requested => Err(Interrupt::Cancelled.into()),
            Some(_) => match self.interrupted() {
                Some(Interrupt::Shutdown) => Err(Interrupt::Shutdown.into()),
                _ => Ok(()),
            },
        }
    }

    /// [`checkpoint_in`](Self::checkpoint_in) in a transaction of its own.
    pub async fn checkpoint(&self, progress: i32) -> Result<(), JobError> {
        let txn = self.state.db.begin().await?;
        let out = self.checkpoint_in(&txn, progress).await;
        txn.commit().await?;
        out
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, JobError>> + Send>>;
pub type Handler = fn(JobCtx) -> HandlerFuture;

/// Runs `count` workers until `shutdown` turns true, then waits for them to hand back their jobs.
pub async fn run_workers(state: AppState, count: u32, shutdown: watch::Receiver<bool>) {
    if count == 0 {
        return;
    }
    let worker_id = format!(
        "{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let sweeper = {
        let state = state.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            let mut ticks: u64 = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                if ticks.is_multiple_of(PENDING_SWEEP_TICKS) {
                    let storage = &state.storage;
                    match storage
                        .delete_older_than(storage::PENDING_PREFIX, storage::PENDING_MAX_AGE)
                        .await
                    {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(files = n, "removed abandoned pending uploads"),
                        Err(e) => tracing::warn!(error = %e, "removing pending uploads failed"),
                    }
                }
                ticks += 1;
                match sweep_expired(&state.db).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(jobs = n, "requeued or failed jobs whose worker stopped")
                    }
                    Err(e) => tracing::warn!(error = %e, "sweeping expired jobs failed"),
                }
            }
        })
    };
    let mut slots = Vec::new();
    for slot in 0..count {
        let name = format!("{worker_id}/{slot}");
        slots.push(tokio::spawn(worker_loop(
            state.clone(),
            name,
            shutdown.clone(),
        )));
    }
    for s in slots {
        let _ = s.await;
    }
    sweeper.abort();
}

async fn worker_loop(state: AppState, worker: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Register for a wake-up before looking, so a job queued in between is not missed.
        let woken = state.jobs.wake.notified();
        match claim(&state.db, &worker).await {
            Ok(Some(job)) => {
                run_one(&state, &worker, job, shutdown.clone()).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "claiming a job failed"),
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn run_one(state: &AppState, worker: &str, job: Claimed, shutdown: watch::Receiver<bool>) {
    let flag = Arc::new(AtomicU8::new(FLAG_OK));
    let heartbeat = tokio::spawn(heartbeat(
        state.clone(),
        job.id,
        worker.to_string(),
        flag.clone(),
    ));
    let id = job.id;
    let kind = job.kind.clone();
    let attempts = job.attempts;
    let max_attempts = job.max_attempts;
    let started = std::time::Instant::now();
    let outcome = match state.registry.job_handler(&kind) {
        None => Err(JobError::Failed(format!("unknown job kind `{kind}`"))),
        Some(h) => {
            let ctx = JobCtx {
                state: state.clone(),
                job,
                worker: worker.to_string(),
                flag,
                shutdown,
            };
            // A panic fails the attempt rather than the worker.
            match tokio::spawn(h(ctx)).await {
                Ok(r) => r,
                Err(e) => Err(JobError::Internal(anyhow::anyhow!("the job panicked: {e}"))),
            }
        }
    };
    heartbeat.abort();
    let label = match &outcome {
        Ok(_) => "succeeded",
        Err(JobError::Interrupted(Interrupt::Cancelled)) => "cancelled",
        Err(JobError::Interrupted(_)) => "interrupted",
        Err(JobError::Failed(_)) => "failed",
        Err(JobError::Internal(_)) => "error",
    };
    crate::http::metrics::record_job(&kind, label, started.elapsed());
    let now = Utc::now();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match &outcome {
        Ok(result) => {
            tracing::info!(id, kind, "job succeeded");
            (
                "UPDATE jobs SET status = 'succeeded', progress = 100, result = $3, finished_at = $4, \
                 lease_expires_ms = NULL WHERE id = $1 AND worker = $2 AND status = 'running'",
                vec![
                    id.into(),
                    worker.into(),
                    result.to_string().into(),
                    now.into(),
                ],
            )
        }
        Err(JobError::Interrupted(Interrupt::Cancelled)) => (
            "UPDATE jobs SET status = 'cancelled', finished_at = $3, lease_expires_ms = NULL \
             WHERE id = $1 AND worker = $2 AND status = 'running'",
            vec![id.into(), worker.into(), now.into()],
        ),
        Err(JobError::Interrupted(Interrupt::Shutdown)) => {
            tracing::info!(id, kind, "handing the job back: shutting down");
            // Not the job's fault: the attempt does not count.
            (
                "UPDATE jobs SET status = 'queued', worker = NULL, lease_expires_ms = NULL, \
                 attempts = attempts - 1 WHERE id = $1 AND worker = $2 AND status = 'running'",
                vec![id.into(), worker.into()],
            )
        }
        Err(JobError::Interrupted(Interrupt::Lost)) => {
            tracing::warn!(id, kind, "another worker took the job over");
            return;
        }
        Err(JobError::Failed(msg)) => {
            tracing::info!(id, kind, error = %msg, "job failed");
            (
                "UPDATE jobs SET status = 'failed', error = $3, finished_at = $4, lease_expires_ms = NULL \
                 WHERE id = $1 AND worker = $2 AND status = 'running'",
                vec![id.into(), worker.into(), msg.clone().into(), now.into()],
            )
        }
        Err(JobError::Internal(e)) => {
            tracing::error!(id, kind, error = %e, "job attempt failed");
            if attempts < max_attempts {
                (
                    "UPDATE jobs SET status = 'queued', worker = NULL, lease_expires_ms = NULL \
                     WHERE id = $1 AND worker = $2 AND status = 'running'",
                    vec![id.into(), worker.into()],
                )
            } else {
                (
                    "UPDATE jobs SET status = 'failed', error = $3, finished_at = $4, lease_expires_ms = NULL \
                     WHERE id = $1 AND worker = $2 AND status = 'running'",
                    vec![
                        id.into(),
                        worker.into(),
                        "internal error; see the server log".into(),
                        now.into(),
                    ],
                )
            }
        }
    };
    if let Err(e) = state.db.execute_raw(stmt(&state.db, sql, values)).await {
        tracing::error!(id, error = %e, "recording the job's outcome failed; its lease will expire");
    }
    // Whatever the job wrote is now committed: cached answers made before it are stale.
    state.cache.bump().await;
    wake(state);
}

/// Renews the lease while the handler works, and tells it about cancellation or a lost claim.
async fn heartbeat(state: AppState, id: i64, worker: String, flag: Arc<AtomicU8>) {
    #[derive(FromQueryResult)]
    struct Row {
        cancel_requested: bool,
    }
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let row = Row::find_by_statement(stmt(
            &state.db,
            "UPDATE jobs SET lease_expires_ms = $3 WHERE id = $1 AND worker = $2 AND status = 'running' \
             RETURNING cancel_requested",
            vec![id.into(), worker.clone().into(), lease_until().into()],
        ))
        .one(&state.db)
        .await;
        match row {
            Ok(None) => {
                flag.store(FLAG_LOST, Ordering::Relaxed);
                return;
            }
            Ok(Some(r)) if r.cancel_requested => flag.store(FLAG_CANCEL, Ordering::Relaxed),
            Ok(Some(_)) => {}
            Err(e) => tracing::warn!(id, error = %e, "renewing a job's lease failed"),
        }
    }
}

/// One job, if `owner_id` owns it.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    id: i64,
    owner_id: i64,
) -> Result<Option<Job>, DbErr> {
    job::Entity::find_by_id(id)
        .filter(job::Column::OwnerId.eq(owner_id))
        .one(db)
        .await
}

// ---------------------------------------------------------------- declaration

/// The queue as an installed app of its own (like Django's `sessions`): its table in the admin, with
/// retry and cancel actions, and in fixtures. It has no pages or API; apps show their own jobs.
pub fn app() -> crate::registry::AppConfig {
    use crate::registry::{Action, Admin, AppConfig, Field, Kind, Model};
    const STATUSES: &[(&str, &str)] = &[
        ("queued", "Queued"),
        ("running", "Running"),
        ("succeeded", "Succeeded"),
        ("failed", "Failed"),
        ("cancelled", "Cancelled"),
    ];
    fn models() -> Vec<Model> {
        vec![Model {
            app: "jobs",
            name: "job",
            verbose_name: "job",
            verbose_name_plural: "jobs",
            table: "jobs",
            pk: &["id"],
            fields: vec![
                Field::new("id", "ID", Kind::Id).read_only(),
                Field::new("kind", "Kind", Kind::Text { max: 64 }).read_only(),
                Field::new(
                    "owner_id",
                    "Owner",
                    Kind::ForeignKey {
                        to: "accounts.user",
                    },
                )
                .optional()
                .read_only(),
                Field::new("status", "Status", Kind::Choice(STATUSES)).read_only(),
                Field::new("payload", "Payload", Kind::Json).read_only(),
                Field::new("result", "Result", Kind::Json)
                    .optional()
                    .read_only(),
                Field::new("error", "Error", Kind::LongText { max: usize::MAX })
                    .optional()
                    .read_only(),
                Field::new(
                    "progress",
                    "Progress (%)",
                    Kind::Integer { min: 0, max: 100 },
                )
                .read_only(),
                Field::new("attempts", "Attempts", Kind::Integer { min: 0, max: 1000 }).read_only(),
                Field::new(
                    "max_attempts",
                    "Most attempts",
                    Kind::Integer { min: 1, max: 1000 },
                ),
                Field::new("cancel_requested", "Cancel requested", Kind::Bool).read_only(),
                Field::new("worker", "Worker", Kind::Text { max: 64 })
                    .optional()
                    .read_only(),
                Field::new(
                    "lease_expires_ms",
                    "Lease expires (ms)",
                    Kind::Integer {
                        min: 0,
                        max: i64::MAX,
                    },
                )
                .optional()
                .read_only(),
                Field::new("created_at", "Queued at", Kind::DateTime).read_only(),
                Field::new("started_at", "Started", Kind::DateTime)
                    .optional()
                    .read_only(),
                Field::new("finished_at", "Finished", Kind::DateTime)
                    .optional()
                    .read_only(),
            ],
            display: "kind",
            ordering: &["-id"],
            admin: Some(Admin {
                list_display: &["id", "kind", "owner_id", "status", "progress", "created_at"],
                search: &["kind", "error"],
                filters: &["status", "kind", "created_at"],
                actions: vec![
                    Action {
                        name: "retry",
                        label: "Retry selected failed or cancelled jobs",
                        permission: None,
                        run: |state, _by, ids| Box::pin(retry(state, ids)),
                    },
                    Action {
                        name: "cancel",
                        label: "Cancel selected jobs",
                        permission: None,
                        run: |state, _by, ids| Box::pin(cancel(state, ids)),
                    },
                ],
                no_add: true,
                ..Admin::default()
            }),
            clean: None,
        }]
    }
    AppConfig {
        label: "jobs",
        name: "Jobs",
        pages: axum::Router::new,
        api: None,
        api_tags: &[],
        jobs: &[],
        nav: None,
        permissions: &[],
        templates: &[],
        sessionless_templates: &[],
        cached_views: &[],
        models,
        init: None,
    }
}

/// Queues failed or cancelled jobs again, with their attempts reset; answers how many.
async fn retry(state: &AppState, ids: &[i64]) -> Result<u64, crate::error::AppError> {
    let mut n = 0;
    for id in ids {
        let res = state
            .db
            .execute_raw(stmt(
                &state.db,
                "UPDATE jobs SET status = 'queued', attempts = 0, error = NULL, cancel_requested = FALSE, \
                 worker = NULL, lease_expires_ms = NULL, finished_at = NULL \
                 WHERE id = $1 AND status IN ('failed', 'cancelled')",
                vec![(*id).into()],
            ))
            .await?;
        n += res.rows_affected();
    }
    if n > 0 {
        wake(state);
    }
    Ok(n)
}

async fn cancel(state: &AppState, ids: &[i64]) -> Result<u64, crate::error::AppError> {
    let mut n = 0;
    for id in ids {
        n += u64::from(request_cancel(&state.db, *id).await?);
    }
    Ok(n)
}
