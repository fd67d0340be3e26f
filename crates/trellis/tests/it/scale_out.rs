//! Two Trellis processes behind nginx on one PostgreSQL, Redis and object store.
//!
//! Everything else in this suite runs Trellis inside the test process. Here the real binary runs twice,
//! as `trellis serve` configured only through `TRELLIS_*` variables, each with its own data directory,
//! behind a real nginx that round-robins between them, the way docs/deployment.md describes a
//! deployment. One scenario then checks, in order, what must hold across instances: sessions, CSRF, the
//! login throttle, uploads, the cache, the job queue, and a SIGTERM under load that loses no request.
//!
//! Needs `TEST_DATABASE_URL`, `TEST_REDIS_URL`, `TEST_S3_URL` and `/usr/sbin/nginx`; without them it
//! prints a `skipped:` line and passes, except under `CI=true`.
//!
//! nginx adds an `X-Upstream` header (its `$upstream_addr`) to every answer, so the test can tell which
//! instance answered a request that went through the proxy, and whether nginx had to try another one.

#![cfg(unix)]

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::multipart::{Form, Part};
use reqwest::redirect::Policy;
use sea_orm::{Database, DatabaseConnection, FromQueryResult, Statement};
use serde_json::{Value, json};

use crate::helpers::{PgDatabase, TEST_PASSWORD, extract_csrf, png_bytes, quiet, service};

const NGINX: &str = "/usr/sbin/nginx";
/// How long a process gets to answer `/healthz` after it was started. Generous: the machine may be
/// busy with other builds.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// The login limit: low, so a few attempts reach it.
const LOGIN_RATE: &str = "3/hour";
const LOGIN_WINDOW_SECS: u64 = 3600;
/// Jobs queued in the job queue step.
const JOBS: usize = 50;
/// Clients hammering nginx while one instance stops.
const LOAD_CLIENTS: usize = 8;
/// How long the load runs before the SIGTERM, and again once the stopped instance has exited.
const LOAD_PHASE: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_nginx_behave_as_one_site() {
    let what = "the scale-out test (two trellis processes behind nginx)";
    let Some(admin_url) = service("TEST_DATABASE_URL", what) else {
        return;
    };
    let Some(redis_url) = service("TEST_REDIS_URL", what) else {
        return;
    };
    let Some(s3_url) = service("TEST_S3_URL", what) else {
        return;
    };
    let Some(nginx) = nginx_binary() else {
        return;
    };
    let shared = Shared::new(&redis_url, &s3_url);
    let (db, database_url) = PgDatabase::create_on(&admin_url).await;
    let outcome = tokio::spawn(scenario(nginx, database_url, shared.clone())).await;
    // Cleaned up whether or not the scenario passed; the processes were killed when it ended.
    db.drop().await;
    shared.clean_up().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(nginx: &'static str, database_url: String, shared: Shared) {
    let started = Instant::now();
    let mut cluster = Cluster::start(nginx, &database_url, &shared).await;
    let db = Database::connect(quiet(&database_url))
        .await
        .expect("connect to the test database");
    let mut timings = vec![("start: migrate, two instances, nginx", started.elapsed())];

    let step = Instant::now();
    let (browser, username) = sessions_are_shared(&cluster).await;
    timings.push(("1 sessions", step.elapsed()));

    let step = Instant::now();
    csrf_holds_through_the_proxy(&cluster, &browser, &username).await;
    timings.push(("2 csrf", step.elapsed()));

    let step = Instant::now();
    login_throttle_counts_across_instances(&cluster).await;
    timings.push(("3 login throttle", step.elapsed()));

    let step = Instant::now();
    an_upload_through_one_is_served_by_the_other(&cluster, &browser, &username, &shared).await;
    timings.push(("4 uploads", step.elapsed()));

    let step = Instant::now();
    a_write_makes_the_cache_stale_on_both(&cluster).await;
    timings.push(("5 cache", step.elapsed()));

    let step = Instant::now();
    queued_jobs_run_exactly_once(&cluster, &db).await;
    timings.push(("6 jobs", step.elapsed()));

    let step = Instant::now();
    sigterm_under_load_loses_no_request(&mut cluster).await;
    timings.push(("7 sigterm under load", step.elapsed()));

    db.close().await.ok();
    timings.push(("total", started.elapsed()));
    for (what, took) in timings {
        eprintln!("scale_out: {what}: {:.2} s", took.as_secs_f64());
    }
}

// ---------------------------------------------------------------- 1. sessions

/// A session opened on one instance is the same session on the other: register through nginx, then
/// address each instance directly, log out on one and in on the other.
async fn sessions_are_shared(c: &Cluster) -> (reqwest::Client, String) {
    let [a, b] = &c.instances;
    let browser = client(Some(random_loopback()), true);
    let username = unique("s");
    let token = csrf_from(&browser, &c.at("/accounts/register/")).await;
    let resp = browser
        .post(c.at("/accounts/register/"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", &username),
            ("email", &format!("{username}@example.com")),
            ("password1", TEST_PASSWORD),
            ("password2", TEST_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "registering through nginx");

    // The cookie names a session in Redis, which both instances read.
    for inst in [a, b] {
        assert_eq!(
            signed_in_as(&browser, &inst.url).await.as_deref(),
            Some(username.as_str()),
            "signed in on {}",
            inst.name
        );
    }

    // Logging out on B, with the token from a page A rendered, ends the session on A too.
    let token = csrf_from(&browser, &a.at("/")).await;
    let resp = browser
        .post(b.at("/accounts/logout/"))
        .form(&[("csrf_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "logging out on b");
    assert_eq!(
        signed_in_as(&browser, &a.url).await,
        None,
        "signed out on a"
    );

    // Logging in on A with the form B served opens a session B knows.
    let token = csrf_from(&browser, &b.at("/accounts/login/")).await;
    let resp = browser
        .post(a.at("/accounts/login/"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login", &username),
            ("password", TEST_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "logging in on a");
    assert_eq!(
        signed_in_as(&browser, &b.url).await.as_deref(),
        Some(username.as_str()),
        "the session opened on a works on b"
    );

    // Through nginx every answer knows the user, whichever instance gives it.
    let mut seen = HashSet::new();
    for _ in 0..4 {
        let resp = browser.get(c.at("/")).send().await.unwrap();
        seen.insert(c.served_by(&resp));
        let html = resp.text().await.unwrap();
        assert_eq!(nav_user(&html).as_deref(), Some(username.as_str()));
    }
    assert_eq!(seen.len(), 2, "nginx used both instances: {seen:?}");
    (browser, username)
}

// ---------------------------------------------------------------- 2. CSRF

/// A form POST through nginx needs the session's token on either instance: refused without it or with
/// a wrong one (403), accepted with it.
async fn csrf_holds_through_the_proxy(c: &Cluster, browser: &reqwest::Client, username: &str) {
    let email = format!("{username}@example.com");
    let form = |token: Option<&str>| {
        let f = Form::new()
            .text("display_name", "Scaled Out")
            .text("email", email.clone())
            .text("bio", "");
        match token {
            Some(t) => f.text("csrf_token", t.to_string()),
            None => f,
        }
    };
    let mut refused_by = HashSet::new();
    for _ in 0..4 {
        let resp = browser
            .post(c.at("/accounts/profile/edit/"))
            .multipart(form(None))
            .send()
            .await
            .unwrap();
        refused_by.insert(c.served_by(&resp));
        assert_eq!(resp.status(), 403, "no token");
        assert!(resp.text().await.unwrap().contains("CSRF token missing"));
    }
    assert_eq!(
        refused_by.len(),
        2,
        "both instances refused: {refused_by:?}"
    );
    let wrong = "0".repeat(64);
    let resp = browser
        .post(c.at("/accounts/profile/edit/"))
        .multipart(form(Some(&wrong)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "a wrong token");
    assert_eq!(
        signed_in_as(browser, &c.proxy).await.as_deref(),
        Some(username),
        "nothing saved"
    );

    let token = csrf_from(browser, &c.at("/accounts/profile/edit/")).await;
    let resp = browser
        .post(c.at("/accounts/profile/edit/"))
        .multipart(form(Some(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "the right token");
    for inst in &c.instances {
        assert_eq!(
            signed_in_as(browser, &inst.url).await.as_deref(),
            Some("Scaled Out"),
            "the saved display name on {}",
            inst.name
        );
    }
}

// ---------------------------------------------------------------- 3. login throttle

/// The login limit (3 an hour) holds for the site, not per instance: attempts spread over a, b and
/// nginx count together, per account and per client address.
async fn login_throttle_counts_across_instances(c: &Cluster) {
    // The counts live in fixed windows; should one end during the attempts, the counts restart and the
    // attempts prove nothing, so they are made again with fresh names.
    let (per_account, per_address) = loop {
        let window = now_secs() / LOGIN_WINDOW_SECS;
        let attempts = throttle_attempts(c).await;
        if now_secs() / LOGIN_WINDOW_SECS == window {
            break attempts;
        }
    };
    // The fourth attempt is refused wherever it lands, even with the right password.
    assert_eq!(
        per_account,
        [401u16, 401, 401, 429, 429, 429],
        "one account from six addresses"
    );
    assert_eq!(
        per_address,
        [401u16, 401, 401, 429, 429, 429],
        "one address, six accounts"
    );
}

/// Six API logins to one account, each from its own address, then six to six unknown accounts from one
/// address; each series goes to a, b, nginx, nginx, a, b. Answers the statuses of both series.
async fn throttle_attempts(c: &Cluster) -> (Vec<u16>, Vec<u16>) {
    let [a, b] = &c.instances;
    let order = [&a.url, &b.url, &c.proxy, &c.proxy, &a.url, &b.url];
    let wrong = "not-the-password-9";

    // Every client address is a fresh one in 127.0.0.0/8: the test's client binds to it, so an instance
    // addressed directly sees it as the peer, and through nginx it arrives in X-Forwarded-For, which
    // trellis trusts here. Counts that earlier runs left in the shared Redis cannot interfere.
    let name = unique("t");
    api_register(&c.proxy, &name).await;
    let email = format!("{name}@example.com");
    let mut per_account = Vec::new();
    for (i, base) in order.iter().enumerate() {
        let password = if i < 3 { wrong } else { TEST_PASSWORD };
        per_account.push(api_login(base, random_loopback(), &email, password).await);
    }

    let address = random_loopback();
    let mut per_address = Vec::new();
    for base in order {
        let ghost = format!("{}@example.com", unique("ghost"));
        per_address.push(api_login(base, address, &ghost, wrong).await);
    }
    (per_account, per_address)
}

// ---------------------------------------------------------------- 4. uploads

/// An avatar uploaded to a is in the bucket, on neither instance's disk, and b and nginx serve it.
async fn an_upload_through_one_is_served_by_the_other(
    c: &Cluster,
    browser: &reqwest::Client,
    username: &str,
    shared: &Shared,
) {
    let [a, b] = &c.instances;
    let token = csrf_from(browser, &b.at("/accounts/profile/edit/")).await;
    let form = Form::new()
        .text("csrf_token", token)
        .text("display_name", "Scaled Out")
        .text("email", format!("{username}@example.com"))
        .text("bio", "")
        .part(
            "avatar",
            Part::bytes(png_bytes(300, 200)).file_name("me.png"),
        );
    let resp = browser
        .post(a.at("/accounts/profile/edit/"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());

    // The profile gives the avatar's address under TRELLIS_BASE_URL, which is nginx.
    let profile: Value = browser
        .get(c.at(&format!("/api/profiles/{username}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let image = profile["profile"]["image"].as_str().expect("an avatar");
    let path = image
        .strip_prefix(&c.proxy)
        .unwrap_or_else(|| panic!("{image} is under the base URL {}", c.proxy))
        .to_string();
    let key = path
        .strip_prefix("/media/")
        .expect("a media path")
        .to_string();

    for (base, who) in [(&b.url, "b"), (&c.proxy, "nginx")] {
        let resp = client(None, false)
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path} from {who}");
        assert_eq!(resp.headers()["content-type"], "image/png");
        let img = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256), "from {who}");
    }
    let stored = shared.storage().list("avatars").await.unwrap();
    assert!(stored.contains(&key), "{key} in the bucket: {stored:?}");
    for inst in &c.instances {
        assert!(
            !inst.data_dir.join("media").exists(),
            "nothing on {}'s disk",
            inst.name
        );
    }
}

// ---------------------------------------------------------------- 5. cache

/// Anonymous reads of the article list are cached in Redis and shared: what a computes, b serves. A new
/// article written through nginx makes the list stale on both at once.
async fn a_write_makes_the_cache_stale_on_both(c: &Cluster) {
    let [a, b] = &c.instances;
    // Registering is a write too: done before the reads, so it cannot disturb them.
    let author = api_register(&c.proxy, &unique("w")).await;
    let reader = client(Some(random_loopback()), false);
    assert_eq!(
        articles(&reader, &a.url).await,
        ("MISS".into(), 0),
        "a computes"
    );
    assert_eq!(
        articles(&reader, &b.url).await,
        ("HIT".into(), 0),
        "b serves a's copy"
    );
    assert_eq!(articles(&reader, &a.url).await, ("HIT".into(), 0));

    let resp = client(None, false)
        .post(c.at("/api/articles"))
        .header("Authorization", format!("Token {author}"))
        .json(&json!({"article": {"title": "Scaled out", "description": "d", "body": "b", "tagList": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());

    assert_eq!(
        articles(&reader, &b.url).await,
        ("MISS".into(), 1),
        "stale on b"
    );
    assert_eq!(
        articles(&reader, &a.url).await,
        ("HIT".into(), 1),
        "b's fresh copy on a"
    );
    assert_eq!(articles(&reader, &c.proxy).await.1, 1, "through nginx");
}

/// `GET /api/articles` anonymously: the `x-cache` header and the article count.
async fn articles(reader: &reqwest::Client, base: &str) -> (String, i64) {
    let resp = reader
        .get(format!("{base}/api/articles"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let how = resp
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = resp.json().await.unwrap();
    (how, body["articlesCount"].as_i64().expect("a count"))
}

// ---------------------------------------------------------------- 6. jobs

#[derive(Debug, FromQueryResult)]
struct JobRow {
    id: i64,
    status: String,
    attempts: i64,
    worker: Option<String>,
    results: i64,
}

/// Fifty analyses queued through nginx, with two workers on each instance claiming from the one queue
/// in the database: each job succeeds after exactly one attempt, with one result per row.
async fn queued_jobs_run_exactly_once(c: &Cluster, db: &DatabaseConnection) {
    let [a, b] = &c.instances;
    let token = api_register(&c.proxy, &unique("j")).await;
    let api = client(None, false);
    let rows = 3;
    let csv = "text\nA lovely film.\nA dreadful film.\nIt was a film.\n";
    let form = Form::new().text("name", "tiny").part(
        "file",
        Part::bytes(csv.as_bytes().to_vec()).file_name("tiny.csv"),
    );
    let resp = api
        .post(c.at("/api/sentiment/datasets"))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let dataset: Value = resp.json().await.unwrap();
    assert_eq!(dataset["rows"], rows);

    // Ten at a time, so the instances' workers compete for jobs while more arrive.
    let mut queued_on = BTreeMap::<String, usize>::new();
    for _ in 0..JOBS / 10 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let req = api
                .post(c.at("/api/sentiment/jobs"))
                .header("Authorization", format!("Token {token}"))
                .json(&json!({"kind": "analyze", "dataset": dataset["id"]}));
            batch.spawn(async move { req.send().await.unwrap() });
        }
        while let Some(resp) = batch.join_next().await {
            let resp = resp.unwrap();
            *queued_on.entry(c.served_by(&resp)).or_default() += 1;
            assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
        }
    }

    let deadline = Instant::now() + Duration::from_secs(90);
    let jobs = loop {
        let jobs = job_rows(db).await;
        assert_eq!(jobs.len(), JOBS);
        if jobs
            .iter()
            .all(|j| matches!(j.status.as_str(), "succeeded" | "failed" | "cancelled"))
        {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still unfinished: {:?}",
            jobs.iter()
                .filter(|j| j.status != "succeeded")
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut ran_on = BTreeMap::<&str, usize>::new();
    for j in &jobs {
        assert_eq!(
            (j.status.as_str(), j.attempts, j.results),
            ("succeeded", 1, rows),
            "job {} ran once over every row: {j:?}",
            j.id
        );
        // Workers are named `<pid>-<random>/<slot>`: the pid says which process ran the job.
        let worker = j
            .worker
            .as_deref()
            .expect("a succeeded job keeps its worker");
        let pid = worker.split('-').next().unwrap();
        let inst = c
            .instances
            .iter()
            .find(|i| i.proc.pid().to_string() == pid)
            .unwrap_or_else(|| panic!("job {} ran on an unknown worker {worker}", j.id));
        *ran_on.entry(inst.name).or_default() += 1;
    }
    eprintln!("scale_out: jobs queued through nginx on {queued_on:?}, run on {ran_on:?}");
    // Each instance wakes its own workers for the jobs queued through it, and nginx sent it about half
    // of them, so both run some.
    assert!(
        ran_on.get(a.name).is_some_and(|n| *n > 0) && ran_on.get(b.name).is_some_and(|n| *n > 0),
        "both instances ran jobs: {ran_on:?}"
    );
}

async fn job_rows(db: &DatabaseConnection) -> Vec<JobRow> {
    let sql = "SELECT CAST(j.id AS BIGINT) AS id, j.status, CAST(j.attempts AS BIGINT) AS attempts, \
               j.worker, (SELECT COUNT(*) FROM sentiment_results r WHERE r.job_id = j.id) AS results \
               FROM jobs j WHERE j.kind = 'sentiment.analyze' ORDER BY j.id";
    JobRow::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        vec![],
    ))
    .all(db)
    .await
    .unwrap()
}

// ---------------------------------------------------------------- 7. SIGTERM under load

/// What the load clients saw, shared with the test while they run.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    /// Answers from a and from b (by the last upstream nginx tried).
    served: [AtomicUsize; 2],
    /// Answers for which nginx tried more than one upstream.
    retried: AtomicUsize,
    /// Non-2xx answers and transport errors.
    failed: AtomicUsize,
    failures: std::sync::Mutex<Vec<String>>,
}

/// Eight clients send GETs and POSTs through nginx while b gets SIGTERM: no answer is lost. nginx
/// retries a GET on a when b refuses or drops it, but never a POST: so b must not close a keep-alive
/// connection under a request nginx is sending, and must answer with `Connection: close` instead. The
/// POST is an empty login, refused with 422 by either instance; any answer below 500 is its success.
async fn sigterm_under_load_loses_no_request(c: &mut Cluster) {
    let load = Arc::new(Load::default());
    let ports = [c.instances[0].port, c.instances[1].port];
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..LOAD_CLIENTS {
        let load = load.clone();
        let base = c.proxy.clone();
        clients.spawn(async move {
            let http = client(Some(random_loopback()), false);
            let paths = [
                "/api/articles",
                "/healthz",
                "POST /api/users/login",
                "/api/articles?limit=5",
            ];
            let mut i = n;
            while !load.stop.load(Ordering::Relaxed) {
                let path = paths[i % paths.len()];
                i += 1;
                let (request, post) = match path.strip_prefix("POST ") {
                    Some(p) => (
                        http.post(format!("{base}{p}")).json(&serde_json::json!({})),
                        true,
                    ),
                    None => (http.get(format!("{base}{path}")), false),
                };
                let outcome = match request.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let upstream = header(&resp, "x-upstream");
                        let answered = status.is_success() || (post && status.as_u16() < 500);
                        match resp.bytes().await {
                            Ok(_) if answered => Ok(upstream),
                            Ok(_) => Err(format!("{path}: {status} from {upstream}")),
                            Err(e) => Err(format!("{path}: body cut off: {e}")),
                        }
                    }
                    Err(e) => Err(format!("{path}: {e}")),
                };
                match outcome {
                    Ok(upstream) => {
                        if upstream.contains(',') {
                            load.retried.fetch_add(1, Ordering::Relaxed);
                        }
                        let last = upstream.rsplit(", ").next().unwrap_or_default();
                        for (slot, port) in ports.iter().enumerate() {
                            if last.ends_with(&format!(":{port}")) {
                                load.served[slot].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Err(e) => {
                        load.failed.fetch_add(1, Ordering::Relaxed);
                        let mut failures = load.failures.lock().unwrap();
                        if failures.len() < 20 {
                            failures.push(e);
                        }
                    }
                }
            }
        });
    }
    let served = |slot: usize| load.served[slot].load(Ordering::Relaxed);

    // Both instances busy for a while before the stop. The phases last a set time on purpose: that is
    // the load's duration, not a wait for something to happen.
    let started = Instant::now();
    wait_for(
        "both instances to serve the load",
        Duration::from_secs(30),
        || started.elapsed() >= LOAD_PHASE && served(0) >= 50 && served(1) >= 50,
    )
    .await;
    let before = (served(0), served(1));
    let b = &mut c.instances[1];
    signal(b.proc.pid(), libc::SIGTERM);
    let sent = Instant::now();
    let status = b.proc.wait_exit(Duration::from_secs(60)).await;
    let drained_in = sent.elapsed();
    let at_exit = (served(0), served(1));

    // The load goes on after b is gone, until a has answered plenty more on its own.
    let exited = Instant::now();
    wait_for("a to carry the load alone", Duration::from_secs(30), || {
        exited.elapsed() >= LOAD_PHASE && served(0) >= at_exit.0 + 300
    })
    .await;
    load.stop.store(true, Ordering::Relaxed);
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }

    let total = served(0) + served(1) + load.failed.load(Ordering::Relaxed);
    eprintln!(
        "scale_out: load: {total} requests; before SIGTERM a {} b {}; during the drain a {} b {}; \
         after b exited a {} b {}; nginx retried {}; b drained in {:.2} s",
        before.0,
        before.1,
        at_exit.0 - before.0,
        at_exit.1 - before.1,
        served(0) - at_exit.0,
        served(1) - at_exit.1,
        load.retried.load(Ordering::Relaxed),
        drained_in.as_secs_f64(),
    );
    assert_eq!(
        load.failed.load(Ordering::Relaxed),
        0,
        "requests lost while b stopped: {:?}",
        load.failures.lock().unwrap()
    );
    assert!(status.success(), "b drained and exited cleanly: {status}");
    assert_eq!(
        served(1),
        at_exit.1,
        "nothing answered by b after it exited"
    );
}

/// Polls `done` every 20 ms until it holds, failing after `within`.
async fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------- the cluster

/// Settings both instances share, and the names this run uses in the shared Redis and bucket.
#[derive(Clone)]
struct Shared {
    redis_url: String,
    s3_endpoint: String,
    s3_key: String,
    s3_secret: String,
    storage_url: String,
    cache_prefix: String,
    secret_key: String,
}

impl Shared {
    /// `s3_url` is `http://KEY:SECRET@host:port/bucket`.
    fn new(redis_url: &str, s3_url: &str) -> Shared {
        let url = url::Url::parse(s3_url).expect("TEST_S3_URL is a URL");
        let bucket = url.path().trim_matches('/').to_string();
        assert!(!bucket.is_empty(), "TEST_S3_URL names a bucket as its path");
        let run = uuid::Uuid::new_v4().simple().to_string();
        Shared {
            redis_url: redis_url.to_string(),
            s3_endpoint: format!(
                "{}://{}:{}",
                url.scheme(),
                url.host_str().expect("TEST_S3_URL has a host"),
                url.port_or_known_default().expect("TEST_S3_URL has a port")
            ),
            s3_key: url.username().to_string(),
            s3_secret: url.password().unwrap_or_default().to_string(),
            storage_url: format!("s3://{bucket}/test-{run}"),
            cache_prefix: format!("scale{run}"),
            // Sessions are tied to the password through this key, and JWTs signed with it: a
            // deployment's instances share one. Without it, each would generate its own in its data
            // directory.
            secret_key: format!("{run}{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The settings of every instance; `base_url` is nginx's address.
    fn env(&self, database_url: &str, base_url: &str) -> Vec<(&'static str, String)> {
        let fixed = [
            ("TRELLIS_ENV", "development"),
            ("TRELLIS_LOG_LEVEL", "warn"),
            ("TRELLIS_PASSWORD_VALIDATORS", "length"),
            ("TRELLIS_EMAIL_BACKEND", "file"),
            ("TRELLIS_DATABASE_MAX_CONNECTIONS", "8"),
            ("TRELLIS_TRUST_PROXY", "true"),
            ("TRELLIS_THROTTLE_LOGIN", LOGIN_RATE),
            // The load step sends thousands of anonymous API requests from eight addresses.
            ("TRELLIS_THROTTLE_ANON", "1000000/min"),
            ("TRELLIS_CACHE", "redis"),
            ("TRELLIS_BLOG_OPEN_AUTHORING", "true"),
            ("TRELLIS_JOB_WORKERS", "2"),
            ("TRELLIS_QUOTA_ACTIVE_JOBS", "0"),
        ];
        let mut env: Vec<(&'static str, String)> =
            fixed.iter().map(|(k, v)| (*k, v.to_string())).collect();
        env.extend([
            ("TRELLIS_DATABASE_URL", database_url.to_string()),
            ("TRELLIS_REDIS_URL", self.redis_url.clone()),
            ("TRELLIS_SECRET_KEY", self.secret_key.clone()),
            ("TRELLIS_BASE_URL", base_url.to_string()),
            ("TRELLIS_CACHE_KEY_PREFIX", self.cache_prefix.clone()),
            ("TRELLIS_STORAGE_URL", self.storage_url.clone()),
            ("TRELLIS_S3_ENDPOINT", self.s3_endpoint.clone()),
            ("TRELLIS_S3_ACCESS_KEY_ID", self.s3_key.clone()),
            ("TRELLIS_S3_SECRET_ACCESS_KEY", self.s3_secret.clone()),
        ]);
        env
    }

    /// The bucket prefix as the instances see it.
    fn storage(&self) -> trellis::storage::Storage {
        let settings = trellis::Settings::from_pairs(&[
            ("storage_url", &self.storage_url),
            ("s3_endpoint", &self.s3_endpoint),
            ("s3_access_key_id", &self.s3_key),
            ("s3_secret_access_key", &self.s3_secret),
        ])
        .unwrap();
        trellis::storage::Storage::from_settings(&settings).unwrap()
    }

    /// Best effort: removes this run's uploads and cache keys (sessions and throttle counts expire).
    async fn clean_up(&self) {
        let store = self.storage();
        if let Ok(keys) = store.list_all().await {
            for key in keys {
                let _ = store.delete(&key).await;
            }
        }
        let Ok(redis) = redis::Client::open(self.redis_url.as_str()) else {
            return;
        };
        let Ok(mut conn) = redis.get_multiplexed_async_connection().await else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.cache_prefix))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
        }
    }
}

/// One trellis process.
struct Instance {
    name: &'static str,
    port: u16,
    url: String,
    data_dir: PathBuf,
    proc: Proc,
}

impl Instance {
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// nginx in front of two trellis processes. Dropping it kills them all: fields drop in order, nginx
/// first, the temporary directory (data directories, logs, nginx's files) last.
struct Cluster {
    _nginx: Proc,
    instances: [Instance; 2],
    proxy: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(nginx: &str, database_url: &str, shared: &Shared) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let [port_a, port_b, port_nginx] = [free_port(), free_port(), free_port()];
        let proxy = format!("http://127.0.0.1:{port_nginx}");
        let env = shared.env(database_url, &proxy);

        // Migrated once, before either instance starts: on PostgreSQL `serve` refuses pending migrations.
        let data_a = dir.path().join("a");
        let data_b = dir.path().join("b");
        for d in [&data_a, &data_b] {
            std::fs::create_dir(d).unwrap();
        }
        let out = tokio::process::Command::from(trellis(&data_a, &env))
            .arg("migrate")
            .output()
            .await
            .expect("run trellis migrate");
        assert!(
            out.status.success(),
            "trellis migrate: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let mut instances =
            [("a", port_a, data_a), ("b", port_b, data_b)].map(|(name, port, data)| {
                let mut cmd = trellis(&data, &env);
                cmd.arg("serve")
                    .env("TRELLIS_BIND", format!("127.0.0.1:{port}"));
                let proc = Proc::spawn(
                    name,
                    &mut cmd,
                    dir.path().join(format!("{name}.log")),
                    false,
                );
                Instance {
                    name,
                    port,
                    url: format!("http://127.0.0.1:{port}"),
                    data_dir: data,
                    proc,
                }
            });
        for inst in &mut instances {
            inst.proc.wait_serving(&inst.url).await;
        }

        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir.path(), port_nginx, [port_a, port_b])).unwrap();
        let mut cmd = Command::new(nginx);
        // `-e`: the log nginx uses before it has read the configuration (its default is under /var/log).
        // Both go to stderr, into nginx's log file, shown if the test fails.
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .args(["-e", "stderr"]);
        let mut nginx = Proc::spawn("nginx", &mut cmd, dir.path().join("nginx.log"), true);
        nginx.wait_serving(&proxy).await;
        Cluster {
            _nginx: nginx,
            instances,
            proxy,
            _dir: dir,
        }
    }

    /// `path` through nginx.
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.proxy)
    }

    /// Which instance answered a request through nginx (the last upstream it tried).
    fn served_by(&self, resp: &reqwest::Response) -> String {
        let upstream = header(resp, "x-upstream");
        let last = upstream.rsplit(", ").next().unwrap_or_default();
        self.instances
            .iter()
            .find(|i| last == format!("127.0.0.1:{}", i.port))
            .map(|i| i.name.to_string())
            .unwrap_or_else(|| panic!("not answered by an instance: x-upstream {upstream:?}"))
    }
}

/// The `trellis` binary with `env` and nothing else of ours: no `TRELLIS_*` or `RUST_LOG` from the
/// test's environment, and a working directory without a `trellis.toml`.
fn trellis(data_dir: &Path, env: &[(&'static str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trellis"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TRELLIS_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG")
        .current_dir(data_dir)
        .env("TRELLIS_DATA_DIR", data_dir)
        .envs(env.iter().map(|(k, v)| (*k, v)));
    cmd
}

/// After docs/deployment.md and deploy/nginx.conf, with everything nginx writes in `dir`.
fn nginx_conf(dir: &Path, port: u16, upstreams: [u16; 2]) -> String {
    let dir = dir.display();
    // As root, nginx would run its worker as `nobody`, who cannot write to the temporary directory.
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    format!(
        r#"{user}
daemon off;
# One worker: round-robin then alternates strictly between the two instances.
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    client_header_timeout 10s;
    client_body_timeout 30s;
    client_max_body_size 8m;
    keepalive_timeout 75s;

    upstream trellis {{
        server 127.0.0.1:{a};
        server 127.0.0.1:{b};
        keepalive 16;
        # Shorter than TRELLIS_HEADER_READ_TIMEOUT_SECS (10 s), after which trellis closes idle
        # connections.
        keepalive_timeout 5s;
    }}

    server {{
        listen 127.0.0.1:{port};

        location / {{
            proxy_pass http://trellis;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
            # A stopping instance refuses new connections, which nginx retries on the other for any
            # request. A request already sent is retried only if idempotent ("non_idempotent" is not
            # listed), which is why a stopping trellis never closes a connection under one.
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
            # Which instance answered, for the test ("a, b" when nginx tried a first).
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"#,
        a = upstreams[0],
        b = upstreams[1],
    )
}

/// A child process with its output in a log file. Dropping it kills it (nginx gets SIGTERM first, so
/// its master takes the workers down with it), and shows the end of its log if the test is failing.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
    gentle: bool,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf, gentle: bool) -> Proc {
        let out = File::create(&log).expect("a log file");
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name,
            child,
            log,
            gentle,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Polls `<url>/healthz` until it answers 200; fails early if the process exits.
    async fn wait_serving(&mut self, url: &str) {
        let http = client(None, false);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before serving:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(resp) = http.get(format!("{url}/healthz")).send().await
                && resp.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer /healthz within {START_DEADLINE:?}:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until the process has exited, and answers how.
    async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} still running {within:?} after SIGTERM:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            if self.gentle {
                signal(self.pid(), libc::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- end of {}'s log ---\n{}", self.name, self.log_tail());
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
    // SAFETY: kill reads no memory of ours; the pid is a child we started and have not yet reaped.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// nginx's path, or `None` (with a `skipped:` line) where it is not installed. Under CI it must be.
fn nginx_binary() -> Option<&'static str> {
    if Path::new(NGINX).exists() {
        return Some(NGINX);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{NGINX} is missing but CI=true: the scale-out test must run in CI");
    }
    eprintln!("skipped: {NGINX} is missing, so the scale-out test did not run");
    None
}

// ---------------------------------------------------------------- HTTP

/// A client sending from `from` (any 127.0.0.0/8 address is this machine), keeping cookies if asked.
/// Cookies are not port-bound, so one jar serves nginx and both instances, as a browser's would.
fn client(from: Option<IpAddr>, cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .cookie_store(cookies)
        .local_address(from)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A random address in 127.0.0.0/8 other than 127.0.0.x, as a fresh client address for the throttles.
fn random_loopback() -> IpAddr {
    let b = uuid::Uuid::new_v4().into_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 1 + b[0] % 254, b[1], 1 + b[2] % 254))
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A port nobody listens on at the moment.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn csrf_from(http: &reqwest::Client, url: &str) -> String {
    let html = http.get(url).send().await.unwrap().text().await.unwrap();
    extract_csrf(&html).unwrap_or_else(|| panic!("no CSRF token on {url}"))
}

/// Whose name the navigation shows at `base`, if anyone's.
async fn signed_in_as(http: &reqwest::Client, base: &str) -> Option<String> {
    let html = http
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    nav_user(&html)
}

fn nav_user(html: &str) -> Option<String> {
    let rest = &html[html.find("data-testid=\"nav-user\"")?..];
    let start = rest.find("<span>")? + "<span>".len();
    let end = rest[start..].find("</span>")?;
    Some(rest[start..start + end].to_string())
}

/// Registers `name` through the API from a fresh address; answers the JWT.
async fn api_register(base: &str, name: &str) -> String {
    let resp = client(Some(random_loopback()), false)
        .post(format!("{base}/api/users"))
        .json(&json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": TEST_PASSWORD}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "registering {name}");
    let body: Value = resp.json().await.unwrap();
    body["user"]["token"].as_str().expect("a token").to_string()
}

/// One API login attempt from `from`; answers the status.
async fn api_login(base: &str, from: IpAddr, email: &str, password: &str) -> u16 {
    client(Some(from), false)
        .post(format!("{base}/api/users/login"))
        .json(&json!({"user": {"email": email, "password": password}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
