//! `trellis bench api`: seeds articles, serves them from this binary on a random port, drives load over
//! loopback with keep-alive connections, and prints requests/s and latency percentiles, beside a plaintext
//! route of the same server as the ceiling.
//!
//! `trellis bench sentiment`: texts per second of each sentiment model at batch 1 and 64, and of the
//! transformer under many concurrent single-text callers with and without micro-batching.
//!
//! `trellis bench writes`: see [`writes`]. `trellis bench shop`: see [`shop`].
//!
//! `trellis bench images` / `trellis bench markdown`: time and peak memory of hostile uploads and bodies.

mod bombs;
mod shop;
mod writes;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sea_orm::{ConnectionTrait, Statement, Value};

use crate::app::{Application, StartOptions};
use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    target: Target,
}

#[derive(clap::Subcommand, Debug)]
enum Target {
    /// GET /api/articles?limit=20 over seeded articles, against GET /ping as the ceiling.
    Api(ApiArgs),
    /// Texts per second of every sentiment model (the transformer when installed).
    Sentiment(SentimentArgs),
    /// Write throughput and latency at 1 to 64 concurrent writers, here or against a running server.
    Writes(writes::Args),
    /// Checkouts per second with concurrent customers, and the catalog list's requests/s.
    Shop(shop::Args),
    /// Time and peak memory of image uploads built to be expensive (each case in a child process).
    Images(bombs::ImagesArgs),
    /// Time of each rendering phase for Markdown bodies built to be expensive.
    Markdown(bombs::MarkdownArgs),
}

#[derive(clap::Args, Debug)]
struct SentimentArgs {
    /// Fetched sentiment data; its movie test sentences are the input [default: <data_dir>/sentiment]
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

#[derive(clap::Args, Debug)]
struct ApiArgs {
    /// Articles to seed.
    #[arg(long, default_value_t = 10_000)]
    articles: usize,
    /// Seconds of load per route.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Database to seed and serve from (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Seed, then serve without measuring until stopped (Ctrl-C), for an outside load generator such as
    /// wrk: the uncached server on `--bind`, the cached one on the next port.
    #[arg(long)]
    hold: bool,
    /// Address of the uncached server with `--hold`.
    #[arg(long, default_value = "127.0.0.1:8000")]
    bind: String,
}

pub async fn run(settings: Settings, args: Args) -> anyhow::Result<ExitCode> {
    match args.target {
        Target::Api(a) => api(settings, a).await,
        Target::Writes(a) => writes::run(settings, a).await,
        Target::Shop(a) => shop::run(settings, a).await,
        Target::Sentiment(a) => {
            tokio::task::spawn_blocking(move || sentiment(&settings, a)).await??;
            Ok(ExitCode::SUCCESS)
        }
        Target::Images(a) => bombs::images(settings, a).await,
        Target::Markdown(a) => bombs::markdown(a).await,
    }
}

fn sentiment(settings: &Settings, args: SentimentArgs) -> anyhow::Result<()> {
    use trellis_sentiment::eval::measure_throughput;
    use trellis_sentiment::transformer::{self, Encoder, MicroBatched, TransformerModel};
    use trellis_sentiment::{DataPaths, LexiconModel, Model};

    let dir = args
        .dir
        .unwrap_or_else(|| settings.data_dir.join("sentiment"));
    let split = DataPaths::open(&dir)
        .with_context(|| {
            format!(
                "{}: run `trellis sentiment fetch-data` first",
                dir.display()
            )
        })?
        .movie_split()?;
    let texts: Vec<&str> = split.test.iter().map(|e| e.text.as_str()).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut models: Vec<Arc<dyn Model>> = vec![
        Arc::new(LexiconModel::new()),
        Arc::new(trellis_sentiment::default_model()),
    ];
    let encoder_dir = settings.encoder_dir();
    let encoder = if encoder_dir.join("model.safetensors").is_file() {
        let e = Arc::new(Encoder::load(&encoder_dir)?);
        models.push(Arc::new(TransformerModel::new(
            e.clone(),
            transformer::default_head(),
        )));
        Some(e)
    } else {
        println!(
            "(transformer not installed in {}; left out)",
            encoder_dir.display()
        );
        None
    };
    println!(
        "{} movie test sentences, {cores} cores, {}s per figure",
        texts.len(),
        args.seconds
    );
    println!("| model | batch 1 | batch 64 |");
    println!("|---|---:|---:|");
    for m in &models {
        // Batch 1 is what one request with one text costs; one caller per core keeps every core busy.
        let one = measure_throughput(m.as_ref(), &texts, 1, cores, args.seconds);
        let many = measure_throughput(m.as_ref(), &texts, 64, 1, args.seconds);
        println!(
            "| {} | {:.0} | {:.0} |",
            m.name(),
            one.texts_per_second,
            many.texts_per_second
        );
    }
    if let Some(e) = encoder {
        // Many concurrent requests of one text each: alone, each is a forward pass of its own;
        // micro-batched, they share passes.
        let callers = 32;
        let direct = TransformerModel::new(e.clone(), transformer::default_head());
        let alone = measure_throughput(&direct, &texts, 1, callers, args.seconds);
        let batched = MicroBatched::new(
            Arc::new(TransformerModel::new(e, transformer::default_head())),
            64,
            Duration::from_millis(3),
        );
        let shared = measure_throughput(&batched, &texts, 1, callers, args.seconds);
        println!(
            "\ntransformer, {callers} concurrent single-text callers: {:.0} texts/s alone, {:.0} texts/s micro-batched ({:.1}x)",
            alone.texts_per_second,
            shared.texts_per_second,
            shared.texts_per_second / alone.texts_per_second
        );
    }
    Ok(())
}

async fn api(base: Settings, args: ApiArgs) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("trellis-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = base;
    settings.data_dir = dir.clone();
    settings.database_url = args.database_url.clone();
    settings.bind = if args.hold {
        args.bind.clone()
    } else {
        "127.0.0.1:0".into()
    };
    settings.throttle = "off".into();
    settings.redis_url = None;
    settings.env = crate::config::Environment::Development;
    // Measured as production runs: no per-request profiling.
    settings.debug_toolbar = Some(false);
    // Two servers on one database: the cache off (what the database and the code cost) and the cache as
    // configured by default (what an anonymous reader meets).
    settings.cache = "off".into();
    let uncached = Application::build(settings.clone(), StartOptions { migrate: true }).await?;
    let state = uncached.state().clone();
    let started = Instant::now();
    seed(&state.db, args.articles).await?;
    println!(
        "seeded {} articles in {:.1}s",
        args.articles,
        started.elapsed().as_secs_f64()
    );
    settings.cache = "memory".into();
    if args.hold {
        let port = settings.bind_addr()?.port();
        settings.bind = format!("{}:{}", settings.bind_addr()?.ip(), port + 1);
    }
    let cached = Application::build(settings, StartOptions { migrate: false }).await?;
    let plain = format!("http://127.0.0.1:{}", uncached.port());
    let with_cache = format!("http://127.0.0.1:{}", cached.port());
    let servers = [
        tokio::spawn(uncached.run_until_stopped()),
        tokio::spawn(cached.run_until_stopped()),
    ];
    if args.hold {
        println!("cache off: {plain}\ncache on:  {with_cache}");
        // For authenticated routes (the to-do list) from the outside.
        println!("token: {}", bench_token(&state).await?);
        println!("serving until Ctrl-C");
        crate::app::shutdown_signal().await;
        for s in servers {
            s.abort();
        }
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(ExitCode::SUCCESS);
    }

    let list = "/api/articles?limit=20";
    let deep = format!("/api/articles?offset={}&limit=20", args.articles / 2);
    let mut rows: Vec<(String, Report)> = Vec::new();
    let token = bench_token(&state).await?;
    let ceiling = load(&plain, "/ping", &args, None, None).await?;
    let off = load(&plain, list, &args, None, None).await?;
    let on = load(&with_cache, list, &args, None, None).await?;
    // The same route at half the rate the uncached server reached: its latency when not saturated.
    let half = load(&plain, list, &args, Some(off.rps / 2.0), None).await?;
    let offset = load(&plain, &deep, &args, None, None).await?;
    // Signed in, so not served whole from the cache: the page starts from a bookmarked rank.
    let offset_on = load(&with_cache, &deep, &args, None, Some(&token)).await?;
    let index_off = load(&plain, "/blog/", &args, None, None).await?;
    let index_on = load(&with_cache, "/blog/", &args, None, None).await?;
    let todos = load(&plain, "/api/todos?page_size=20", &args, None, Some(&token)).await?;
    let (off_rps, on_rps, ceiling_rps) = (off.rps, on.rps, ceiling.rps.max(1.0));
    rows.push(("GET /ping (ceiling)".into(), ceiling));
    rows.push((format!("GET {list}, cache off"), off));
    rows.push((format!("GET {list}, cache on"), on));
    rows.push((
        format!("  same, cache off, at {:.0}/s", off_rps / 2.0),
        half,
    ));
    rows.push((format!("GET {deep}, cache off"), offset));
    rows.push(("  same, cache on, signed in (token)".into(), offset_on));
    rows.push(("GET /blog/ (HTML), cache off".into(), index_off));
    rows.push(("GET /blog/ (HTML), cache on".into(), index_on));
    rows.push(("GET /api/todos?page_size=20 (token)".into(), todos));
    println!();
    println!(
        "{:<48} {:>12} {:>10} {:>10} {:>8}",
        "route", "requests/s", "p50 ms", "p99 ms", "errors"
    );
    let mut errors = 0;
    for (name, r) in &rows {
        errors += r.errors;
        println!(
            "{:<48} {:>12.0} {:>10.3} {:>10.3} {:>8}",
            name, r.rps, r.p50_ms, r.p99_ms, r.errors
        );
    }
    println!();
    println!(
        "{} articles; cache off: {:.1}% of the plaintext throughput; cache on: {:.1}% ({} connections, {}s each, {} CPU cores)",
        args.articles,
        100.0 * off_rps / ceiling_rps,
        100.0 * on_rps / ceiling_rps,
        args.connections,
        args.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for s in servers {
        s.abort();
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One author and `n` published posts with tags, inserted in batches in one transaction.
async fn seed(db: &crate::db::Db, n: usize) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    let now = Utc::now();
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO users (username, email, password_hash, display_name, bio, is_active, is_staff, is_superuser, date_joined) \
         VALUES ($1, $2, $3, '', 'Seeded for benchmarks', TRUE, FALSE, FALSE, $4)",
        ["bench".into(), "bench@example.com".into(), "!".into(), now.into()],
    ))
    .await?;
    for tag in ["rust", "web", "bench"] {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO blog_tags (name) VALUES ($1)",
            [tag.into()],
        ))
        .await?;
    }
    const BATCH: usize = 1000;
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let mut sql = String::from(
            "INSERT INTO blog_posts (author_id, title, slug, description, body, body_html, status, published_at, created_at, updated_at) VALUES ",
        );
        let mut values: Vec<Value> = Vec::new();
        for i in start..end {
            let at = now - chrono::Duration::seconds((n - i) as i64);
            let base = values.len();
            if i > start {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "((SELECT id FROM users WHERE username = 'bench'), ${}, ${}, ${}, ${}, ${}, 'published', ${}, ${}, ${})",
                base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, base + 8
            ));
            let body = format!("Body of article {i}. It has **some** Markdown.");
            values.extend([
                format!("Benchmark article {i}").into(),
                format!("benchmark-article-{i}").into(),
                format!("Description {i}").into(),
                body.clone().into(),
                crate::markdown::render_markdown(&body).into(),
                at.into(),
                at.into(),
                at.into(),
            ]);
        }
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    txn.execute_unprepared(
        "INSERT INTO blog_post_tags (post_id, tag_id) SELECT p.id, t.id FROM blog_posts p, blog_tags t \
         WHERE t.name <> 'bench' OR p.id % 2 = 0",
    )
    .await?;
    // The bench user's to-do list, as the reference seeds it: 500 tasks.
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO todo_tasks (owner_id, title, description, priority, completed, position, created_at, updated_at) \
         SELECT u.id, 'Task ' || p.id, 'Seeded for benchmarks', 1 + p.id % 3, p.id % 4 = 0, p.id, $1, $1 \
         FROM users u, blog_posts p WHERE u.username = 'bench' AND p.id <= 500",
        [now.into()],
    ))
    .await?;
    txn.commit().await.context("committing seed data")?;
    Ok(())
}

/// A JWT for the seeded `bench` user, as its client would hold after logging in.
async fn bench_token(state: &crate::state::AppState) -> anyhow::Result<String> {
    let user = crate::accounts::models::find_by_username(&state.db, "bench")
        .await?
        .context("the bench user was seeded")?;
    Ok(crate::http::api::issue_jwt(state, &user)?)
}

struct Report {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Closed-loop load: each connection sends its next request when the last answer is read.
/// With `rate`, the connections share that many requests per second between them (open loop: a slow
/// answer delays only its own connection's next request) instead of sending as fast as answers come.
async fn load(
    address: &str,
    path: &str,
    args: &ApiArgs,
    rate: Option<f64>,
    token: Option<&str>,
) -> anyhow::Result<Report> {
    let client: Client<_, Empty<axum::body::Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.connections)
        .build_http();
    let uri: axum::http::Uri = format!("{address}{path}").parse()?;
    let authorization = token.map(|t| format!("Token {t}"));
    let request = move |uri: &axum::http::Uri, auth: &Option<String>| {
        let mut req = axum::http::Request::get(uri.clone());
        if let Some(a) = auth {
            req = req.header(axum::http::header::AUTHORIZATION, a.as_str());
        }
        req.body(Empty::<axum::body::Bytes>::new())
            .expect("a GET with valid parts")
    };
    // Warm-up: connections, caches, the page cache of the database file.
    for _ in 0..50 {
        let resp = client.request(request(&uri, &authorization)).await?;
        resp.into_body().collect().await?;
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    let begun = Instant::now();
    for n in 0..args.connections {
        let client = client.clone();
        let uri = uri.clone();
        let errors = errors.clone();
        let authorization = authorization.clone();
        let mut pace = rate.map(|r| {
            let every = Duration::from_secs_f64(args.connections as f64 / r.max(1.0));
            // Staggered, so the connections' requests spread over each period rather than arrive together.
            let first =
                tokio::time::Instant::now() + every.mul_f64(n as f64 / args.connections as f64);
            let mut i = tokio::time::interval_at(first, every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 14);
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let t = Instant::now();
                match client.request(request(&uri, &authorization)).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let body = resp.into_body().collect().await;
                        if !ok || body.is_err() {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            latencies
        }));
    }
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = begun.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!("{path}: {} requests in {elapsed:.1}s", all.len());
    Ok(Report {
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
    })
}
