//! `trellis bench writes`: write throughput under 1 to 64 concurrent writers, per write family (an article
//! and a to-do through the API, a post through the editor's form), with requests/s, latency percentiles
//! and the count of failed answers.
//!
//! It starts a server from this binary on a fresh SQLite file (or `--database-url`), or drives one that
//! is already running (`--url`), making its users through the API and the login form, so the same load
//! can be pointed at another build. That server needs `TRELLIS_THROTTLE=off` and
//! `TRELLIS_BLOG_OPEN_AUTHORING=true`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::app::{Application, SESSION_COOKIE, StartOptions};
use crate::config::Settings;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A running server to load, e.g. http://127.0.0.1:8000 (default: start one from this binary).
    #[arg(long)]
    url: Option<String>,
    /// Database for the server started here (default: a fresh SQLite file in a temporary directory).
    #[arg(long, conflicts_with = "url")]
    database_url: Option<String>,
    /// Concurrent writers, one measurement per number.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8,16,64")]
    writers: Vec<usize>,
    /// Seconds of load per family and number of writers.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What a writer acts as: a user with a JWT for the API and a signed-in session for the forms.
struct Writer {
    jwt: String,
    cookie: String,
    csrf: String,
}

#[derive(Clone, Copy)]
enum Family {
    Article,
    Todo,
    PostForm,
}

impl Family {
    const ALL: [Family; 3] = [Family::Article, Family::Todo, Family::PostForm];

    fn name(self) -> &'static str {
        match self {
            Family::Article => "POST /api/articles",
            Family::Todo => "POST /api/todos",
            Family::PostForm => "POST /blog/new/ (form)",
        }
    }

    /// The answer that means the write was done; anything else counts as failed.
    fn success(self) -> StatusCode {
        match self {
            Family::Article | Family::Todo => StatusCode::CREATED,
            Family::PostForm => StatusCode::SEE_OTHER,
        }
    }

    /// The `n`-th write of writer `w` of run `run`. Titles end in a word, so their slugs do not share a
    /// stem (which would serialize slug choice).
    fn request(
        self,
        base: &str,
        who: &Writer,
        run: &str,
        w: usize,
        n: u64,
    ) -> Request<Full<Bytes>> {
        let title = format!("Load {run} {w}-{n} notes");
        match self {
            Family::Article => json_post(
                &format!("{base}/api/articles"),
                &who.jwt,
                serde_json::json!({"article": {"title": title, "description": "Measured.",
                    "body": "A *short* body.", "tagList": ["bench", format!("w{w}")]}}),
            ),
            Family::Todo => json_post(
                &format!("{base}/api/todos"),
                &who.jwt,
                serde_json::json!({"title": title, "priority": "high"}),
            ),
            Family::PostForm => {
                let boundary = format!("trellis-bench-{run}");
                let mut body = String::new();
                for (name, value) in [
                    ("csrf_token", who.csrf.as_str()),
                    ("title", &title),
                    ("body", "A *short* body."),
                    ("tags", "bench, form"),
                    ("status", "published"),
                    ("action", "save"),
                ] {
                    body.push_str(&format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                    ));
                }
                body.push_str(&format!("--{boundary}--\r\n"));
                Request::post(format!("{base}/blog/new/"))
                    .header(
                        header::CONTENT_TYPE,
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .header(header::COOKIE, &who.cookie)
                    .body(Full::new(Bytes::from(body)))
                    .expect("valid request")
            }
        }
    }
}

fn json_post(url: &str, jwt: &str, body: serde_json::Value) -> Request<Full<Bytes>> {
    Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Token {jwt}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid request")
}

pub async fn run(base: Settings, args: Args) -> anyhow::Result<ExitCode> {
    let levels = args.writers.clone();
    let most = levels.iter().copied().max().unwrap_or(0);
    if most == 0 {
        bail!("--writers needs at least one number above 0");
    }
    // The server started here (its task and data directory), if any, lives until the end of the run.
    let mut own = None;
    let address = match &args.url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let dir = std::env::temp_dir()
                .join(format!("trellis-bench-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir)?;
            let mut settings = base;
            settings.data_dir = dir.clone();
            settings.database_url = args.database_url.clone();
            settings.bind = "127.0.0.1:0".into();
            settings.throttle = "off".into();
            settings.blog_open_authoring = true;
            settings.password_validators = "length".into();
            settings.redis_url = None;
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
            own = Some((tokio::spawn(app.run_until_stopped()), dir));
            address
        }
    };

    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(most * 2)
        .build_http();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let started = Instant::now();
    let writers = make_writers(&client, &address, &run, most).await?;
    println!(
        "{most} users signed in at {address} in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let load = Load {
        client,
        base: address.clone(),
        writers: Arc::new(writers),
        run,
        sequence: Arc::new(AtomicU64::new(0)),
    };
    let mut failed_total = 0;
    let mut table = Vec::new();
    for family in Family::ALL {
        for &n in &levels {
            let r = measure(&load, family, n, args.seconds).await;
            println!(
                "{} with {n} writers: {:.0} requests/s, {} failed",
                family.name(),
                r.rps,
                r.failed
            );
            if let Some(sample) = &r.first_failure {
                println!(
                    "{} with {n} writers: first failed answer: {sample}",
                    family.name()
                );
            }
            failed_total += r.failed;
            table.push((family, n, r));
        }
    }
    println!();
    println!("| family | writers | requests/s | done/s | p50 ms | p99 ms | failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (family, n, r) in &table {
        println!(
            "| {} | {n} | {:.0} | {:.0} | {:.1} | {:.1} | {} |",
            family.name(),
            r.rps,
            r.done_rps,
            r.p50_ms,
            r.p99_ms,
            r.failed
        );
    }
    println!(
        "\n{}s per row; failed = answers other than 201 (API) or 303 (form), and dropped connections",
        args.seconds
    );
    if let Some((server, dir)) = own {
        server.abort();
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(if failed_total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Sends a request and reads the whole answer.
async fn fetch(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, axum::http::HeaderMap, Bytes)> {
    let resp = client.request(req).await?;
    let (parts, body) = resp.into_parts();
    Ok((
        parts.status,
        parts.headers,
        body.collect().await?.to_bytes(),
    ))
}

fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let pair = v.split(';').next()?.trim();
            pair.starts_with(&format!("{SESSION_COOKIE}="))
                .then(|| pair.to_string())
        })
}

fn csrf_of(html: &[u8]) -> anyhow::Result<String> {
    let html = String::from_utf8_lossy(html);
    let marker = "<meta name=\"csrf-token\" content=\"";
    let start = html.find(marker).context("no CSRF token on the page")? + marker.len();
    let end = html[start..].find('"').context("malformed CSRF token")?;
    Ok(html[start..start + end].to_string())
}

/// Registers `n` users through the API and signs each in through the login form, all at once.
async fn make_writers(
    client: &HttpClient,
    base: &str,
    run: &str,
    n: usize,
) -> anyhow::Result<Vec<Writer>> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (client, base, run) = (client.clone(), base.to_string(), run.to_string());
            tokio::spawn(
                async move { make_writer(&client, &base, &format!("bench-{run}-{i}")).await },
            )
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

async fn make_writer(client: &HttpClient, base: &str, name: &str) -> anyhow::Result<Writer> {
    // Random enough for any validator the server may have configured.
    let password = format!("Bench-{}", uuid::Uuid::new_v4().simple());
    let email = format!("{name}@example.com");
    let register =
        serde_json::json!({"user": {"username": name, "email": email, "password": password}});
    let req = Request::post(format!("{base}/api/users"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(register.to_string())))?;
    let (status, _, body) = fetch(client, req).await?;
    if status != StatusCode::CREATED {
        bail!(
            "registering {name} at {base}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let user: serde_json::Value = serde_json::from_slice(&body)?;
    let jwt = user["user"]["token"]
        .as_str()
        .context("no token in the registration answer")?
        .to_string();

    // The login form: its page gives a session and a CSRF token, logging in gives a new session.
    let page = |path: &str, cookie: Option<&str>| {
        let mut req = Request::get(format!("{base}{path}"));
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        req.body(Full::new(Bytes::new()))
    };
    let (_, headers, body) = fetch(client, page("/accounts/login/", None)?).await?;
    let cookie = session_cookie(&headers).context("the login page set no session cookie")?;
    let csrf = csrf_of(&body)?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", &csrf)
        .append_pair("login", name)
        .append_pair("password", &password)
        .finish();
    let req = Request::post(format!("{base}/accounts/login/"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &cookie)
        .body(Full::new(Bytes::from(form)))?;
    let (status, headers, _) = fetch(client, req).await?;
    if status != StatusCode::SEE_OTHER {
        bail!("signing in {name} through the login form at {base}: {status}");
    }
    let cookie = session_cookie(&headers).context("logging in set no session cookie")?;
    let (status, _, body) = fetch(client, page("/blog/new/", Some(&cookie))?).await?;
    if status != StatusCode::OK {
        bail!("{base}/blog/new/ answered {status}: is TRELLIS_BLOG_OPEN_AUTHORING=true set?");
    }
    Ok(Writer {
        jwt,
        cookie,
        csrf: csrf_of(&body)?,
    })
}

/// What every measurement shares: the server, its writers and this run's numbering of titles.
#[derive(Clone)]
struct Load {
    client: HttpClient,
    base: String,
    writers: Arc<Vec<Writer>>,
    run: String,
    /// Numbers every write of the run, so no two titles are the same.
    sequence: Arc<AtomicU64>,
}

struct Measured {
    rps: f64,
    /// Writes done per second: failed answers come fast and would flatter `rps`.
    done_rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
    first_failure: Option<String>,
}

/// Closed loop: each of `n` writers sends its next write when the last answer is read.
async fn measure(load: &Load, family: Family, n: usize, seconds: f64) -> Measured {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let failed = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let begun = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|w| {
            let (load, failed, first) = (load.clone(), failed.clone(), first_failure.clone());
            tokio::spawn(async move {
                let mut latencies: Vec<u32> = Vec::new();
                while Instant::now() < deadline {
                    let seq = load.sequence.fetch_add(1, Ordering::Relaxed);
                    let req = family.request(&load.base, &load.writers[w], &load.run, w, seq);
                    let t = Instant::now();
                    let outcome = fetch(&load.client, req).await;
                    latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    let problem = match outcome {
                        Ok((status, _, _)) if status == family.success() => None,
                        Ok((status, _, body)) => Some(format!(
                            "{status} {}",
                            String::from_utf8_lossy(&body)
                                .chars()
                                .take(300)
                                .collect::<String>()
                        )),
                        Err(e) => Some(format!("no answer: {e}")),
                    };
                    if let Some(p) = problem {
                        failed.fetch_add(1, Ordering::Relaxed);
                        first.lock().expect("sample lock").get_or_insert(p);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = begun.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let first_failure = first_failure.lock().expect("sample lock").take();
    Measured {
        rps: all.len() as f64 / elapsed,
        done_rps: (all.len() as u64).saturating_sub(failed.load(Ordering::Relaxed)) as f64
            / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        failed: failed.load(Ordering::Relaxed),
        first_failure,
    }
}
