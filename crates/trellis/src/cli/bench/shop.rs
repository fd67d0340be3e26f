//! `trellis bench shop`: checkouts per second with concurrent customers (each checkout is an add to cart
//! and `POST /api/shop/checkout` with its own idempotency key), and requests per second of the catalog
//! list beside the plaintext ceiling, on a server started from this binary over a seeded catalog.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sea_orm::{ConnectionTrait, Statement};

use crate::app::{Application, StartOptions};
use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Database to seed and serve from (default: a fresh SQLite file in a temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    /// Products to seed, each with three variants.
    #[arg(long, default_value_t = 1_000)]
    products: usize,
    /// Concurrent customers checking out, one measurement per number.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    customers: Vec<usize>,
    /// Concurrent keep-alive connections reading the catalog.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub async fn run(base: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let most = args.customers.iter().copied().max().unwrap_or(0);
    if most == 0 || args.products == 0 {
        bail!("--customers and --products need numbers above 0");
    }
    let dir = std::env::temp_dir().join(format!("trellis-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut settings = base;
    settings.data_dir = dir.clone();
    settings.database_url = args.database_url.clone();
    settings.bind = "127.0.0.1:0".into();
    settings.throttle = "off".into();
    settings.password_validators = "length".into();
    settings.redis_url = None;
    // Expiry jobs are queued with each order; running them is not what is measured.
    settings.job_workers = 0;
    settings.env = crate::config::Environment::Development;
    // Measured as production runs: no per-request profiling.
    settings.debug_toolbar = Some(false);
    let app = Application::build(settings, StartOptions { migrate: true }).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    println!(
        "serving from this binary at {address} on {}",
        crate::db::redact_url(&app.state().settings.database_url())
    );
    let started = Instant::now();
    let variants = seed(app.state(), args.products).await?;
    println!(
        "seeded {} products ({} variants) in {:.1}s",
        args.products,
        variants.len(),
        started.elapsed().as_secs_f64()
    );
    let server = tokio::spawn(app.run_until_stopped());

    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(most.max(args.connections) * 2)
        .build_http();
    let tokens = customers(&client, &address, most).await?;
    let variants = Arc::new(variants);

    let mut rows = Vec::new();
    let mut failed_total = 0;
    for &n in &args.customers {
        let r = checkouts(&client, &address, &tokens[..n], &variants, args.seconds).await;
        println!(
            "checkout with {n} customers: {:.0} checkouts/s, {} failed",
            r.rate, r.failed
        );
        if let Some(s) = &r.first_failure {
            println!("  first failed answer: {s}");
        }
        failed_total += r.failed;
        rows.push((format!("checkout, {n} customers"), r));
    }
    for (label, path) in [
        ("plaintext GET /ping (ceiling)", "/ping"),
        ("GET /api/shop/products", "/api/shop/products"),
        (
            "GET /api/shop/products?ordering=-price&in_stock=true",
            "/api/shop/products?ordering=-price&in_stock=true",
        ),
    ] {
        let r = reads(
            &client,
            &format!("{address}{path}"),
            args.connections,
            args.seconds,
        )
        .await;
        println!("{label}: {:.0} requests/s", r.rate);
        failed_total += r.failed;
        rows.push((format!("{label}, {} connections", args.connections), r));
    }
    println!();
    println!("| measure | per second | p50 ms | p99 ms | failed |");
    println!("|---|---:|---:|---:|---:|");
    for (label, r) in &rows {
        println!(
            "| {label} | {:.0} | {:.1} | {:.1} | {} |",
            r.rate, r.p50_ms, r.p99_ms, r.failed
        );
    }
    println!(
        "\n{}s per row; a checkout is POST /api/shop/cart/items then POST /api/shop/checkout (its latency is \
         the pair's); failed = any other answer than 201/200",
        args.seconds
    );
    server.abort();
    let _ = std::fs::remove_dir_all(dir);
    Ok(if failed_total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Products with three variants each and stock that will not run out, written straight to the database.
async fn seed(state: &crate::state::AppState, products: usize) -> anyhow::Result<Vec<i64>> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let now = chrono::Utc::now();
    let txn = db.begin().await?;
    for chunk_start in (0..products).step_by(500) {
        let end = (chunk_start + 500).min(products);
        let mut sql = String::from(
            "INSERT INTO shop_products (name, slug, description, currency, created_at, updated_at) VALUES ",
        );
        let mut values: Vec<sea_orm::Value> = Vec::new();
        for i in chunk_start..end {
            let n = values.len();
            if i > chunk_start {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, 'Seeded for the benchmark.', 'USD', ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 3
            ));
            values.push(format!("Bench product {i}").into());
            values.push(format!("bench-product-{i}").into());
            values.push(now.into());
        }
        txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO shop_variants (product_id, sku, name, price, stock, created_at, position) \
         SELECT p.id, 'BENCH-' || p.id || '-' || s.n, s.label, 500 + (p.id % 97) * 100 + s.n, 1000000000, $1, s.n \
         FROM shop_products p CROSS JOIN \
           (SELECT 1 AS n, 'Small' AS label UNION ALL SELECT 2, 'Medium' UNION ALL SELECT 3, 'Large') s",
        [now.into()],
    ))
    .await?;
    txn.commit().await?;
    #[derive(sea_orm::FromQueryResult)]
    struct Id {
        id: i64,
    }
    use sea_orm::FromQueryResult;
    let ids = Id::find_by_statement(Statement::from_string(
        backend,
        "SELECT id FROM shop_variants ORDER BY id",
    ))
    .all(db)
    .await?;
    Ok(ids.into_iter().map(|r| r.id).collect())
}

async fn fetch(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let resp = client.request(req).await?;
    let (parts, body) = resp.into_parts();
    Ok((parts.status, body.collect().await?.to_bytes()))
}

fn json_post(url: &str, token: &str, body: String, key: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Token {token}"));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.body(Full::new(Bytes::from(body)))
        .expect("valid request")
}

/// Registers `n` customers through the API, all at once; answers their tokens.
async fn customers(client: &HttpClient, base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (client, base) = (client.clone(), base.to_string());
            let name = format!("shopper-{run}-{i}");
            tokio::spawn(async move {
                let body = serde_json::json!({"user": {"username": name, "email": format!("{name}@example.com"),
                    "password": format!("Bench-{}", uuid::Uuid::new_v4().simple())}});
                let req = Request::post(format!("{base}/api/users"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(body.to_string())))?;
                let (status, body) = fetch(&client, req).await?;
                if status != StatusCode::CREATED {
                    bail!("registering {name}: {status}");
                }
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                Ok::<_, anyhow::Error>(
                    v["user"]["token"]
                        .as_str()
                        .context("no token in the registration answer")?
                        .to_string(),
                )
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

struct Measured {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
    first_failure: Option<String>,
}

fn summarize(
    mut all: Vec<u32>,
    done: u64,
    failed: u64,
    elapsed: f64,
    first: Option<String>,
) -> Measured {
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Measured {
        rate: done as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        failed,
        first_failure: first,
    }
}

/// Closed loop: each customer puts one random variant in the cart and checks out, again and again.
async fn checkouts(
    client: &HttpClient,
    base: &str,
    tokens: &[String],
    variants: &Arc<Vec<i64>>,
    seconds: f64,
) -> Measured {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let begun = Instant::now();
    let tasks: Vec<_> = tokens
        .iter()
        .cloned()
        .map(|token| {
            let (client, base, variants) = (client.clone(), base.to_string(), variants.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut done, mut failed, mut first) = (0u64, 0u64, None::<String>);
                while Instant::now() < deadline {
                    let variant = variants[rand::random_range(0..variants.len())];
                    let t = Instant::now();
                    let add = json_post(
                        &format!("{base}/api/shop/cart/items"),
                        &token,
                        serde_json::json!({"variant": variant, "quantity": 1}).to_string(),
                        None,
                    );
                    let key = uuid::Uuid::new_v4().simple().to_string();
                    let outcome = match fetch(&client, add).await {
                        Ok((s, _)) if s.is_success() => {
                            let pay = json_post(
                                &format!("{base}/api/shop/checkout"),
                                &token,
                                serde_json::json!({"shipping_method": "digital"}).to_string(),
                                Some(&key),
                            );
                            fetch(&client, pay).await
                        }
                        other => other,
                    };
                    latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    match outcome {
                        Ok((StatusCode::CREATED, _)) => done += 1,
                        Ok((s, body)) => {
                            failed += 1;
                            first.get_or_insert_with(|| {
                                format!(
                                    "{s} {}",
                                    String::from_utf8_lossy(&body)
                                        .chars()
                                        .take(300)
                                        .collect::<String>()
                                )
                            });
                        }
                        Err(e) => {
                            failed += 1;
                            first.get_or_insert_with(|| format!("no answer: {e}"));
                        }
                    }
                }
                (latencies, done, failed, first)
            })
        })
        .collect();
    let (mut all, mut done, mut failed, mut first) = (Vec::new(), 0, 0, None);
    for t in tasks {
        if let Ok((l, d, f, s)) = t.await {
            all.extend(l);
            done += d;
            failed += f;
            if first.is_none() {
                first = s;
            }
        }
    }
    summarize(all, done, failed, begun.elapsed().as_secs_f64(), first)
}

/// Closed loop of GETs on `url` over `connections` keep-alive connections.
async fn reads(client: &HttpClient, url: &str, connections: usize, seconds: f64) -> Measured {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let begun = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut done, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let req = Request::get(&url)
                        .body(Full::new(Bytes::new()))
                        .expect("valid request");
                    let t = Instant::now();
                    match fetch(&client, req).await {
                        Ok((StatusCode::OK, _)) => done += 1,
                        _ => failed += 1,
                    }
                    latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                (latencies, done, failed)
            })
        })
        .collect();
    let (mut all, mut done, mut failed) = (Vec::new(), 0, 0);
    for t in tasks {
        if let Ok((l, d, f)) = t.await {
            all.extend(l);
            done += d;
            failed += f;
        }
    }
    summarize(all, done, failed, begun.elapsed().as_secs_f64(), None)
}
