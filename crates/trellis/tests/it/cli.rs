//! The `trellis` binary as users run it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use trellis::accounts::models;

use crate::helpers::{RawClient, TestApp, json_post_head};

fn trellis(app_env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trellis"));
    // Only what the test sets: no settings leak in from the developer's shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("TRELLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TRELLIS_LOG_LEVEL", "warn");
    for (k, v) in app_env {
        cmd.env(k, v);
    }
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn env_of(app: &TestApp) -> Vec<(&'static str, String)> {
    vec![
        ("TRELLIS_DATABASE_URL", app.database_url.clone()),
        ("TRELLIS_DATA_DIR", app.data_dir.display().to_string()),
    ]
}

fn run_in(app: &TestApp, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let env = env_of(app);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pairs.extend_from_slice(extra);
    trellis(&pairs).args(args).output().expect("run trellis")
}

db_tests! {
    management_commands_create_users_and_manage_groups;
    check_reports_the_database_and_migrations;
    backup_and_restore_bring_back_the_database_and_the_uploads ["password_validators" = "length", "blog_open_authoring" = "true"];
    a_backup_taken_under_concurrent_writes_restores_consistent ["password_validators" = "length", "blog_open_authoring" = "true", "throttle" = "off"];
}

/// A fresh place to restore into: a new data directory, and a new database on the same server for
/// PostgreSQL (dropped by the caller through the returned admin URL and name).
async fn restore_target(
    app: &TestApp,
    dir: &std::path::Path,
) -> (String, Option<(String, String)>) {
    use sea_orm::ConnectionTrait;
    match app.backend {
        crate::helpers::Backend::Sqlite => (
            format!(
                "sqlite://{}?mode=rwc",
                dir.join("restored.sqlite3").display()
            ),
            None,
        ),
        crate::helpers::Backend::Postgres => {
            let admin = std::env::var("TEST_DATABASE_URL").unwrap();
            let name = format!("trellis_restore_{}", uuid::Uuid::new_v4().simple());
            let conn = sea_orm::Database::connect(&admin).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            conn.close().await.ok();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            (url.to_string(), Some((admin, name)))
        }
    }
}

/// Drops the database [`restore_target`] made, if it made one.
async fn drop_restore_target(pg: Option<(String, String)>) {
    if let Some((admin, name)) = pg {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(&admin).await.unwrap();
        let _ = conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

async fn backup_and_restore_bring_back_the_database_and_the_uploads(app: TestApp) {
    use reqwest::Method;
    let token = app.api_user("keeper").await;
    let article = app.api_article(&token, "Worth keeping", &["saved"]).await;
    let slug = article["slug"].as_str().unwrap().to_string();
    // An upload, so the media half of the backup has something in it.
    let avatar = trellis::accounts::store_avatar(
        &app.state.storage,
        (
            crate::helpers::png_bytes(256, 256),
            crate::helpers::png_bytes(64, 64),
        ),
    )
    .await
    .unwrap();

    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("backup");
    let out = run_in(&app, &["backup", backup.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 uploaded files"), "{}", text(&out));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["media_files"], 2);
    assert!(backup.join("media").join(&avatar).is_file());
    // A backup never overwrites an earlier one.
    let again = run_in(&app, &["backup", backup.to_str().unwrap()], &[]);
    assert!(!again.status.success());
    assert!(text(&again).contains("is not empty"), "{}", text(&again));

    // Into a new database and data directory, as on a new machine.
    let restored_dir = work.path().join("restored-data");
    let (url, pg) = restore_target(&app, work.path()).await;
    let dir = restored_dir.display().to_string();
    let target = [
        ("TRELLIS_DATABASE_URL", url.as_str()),
        ("TRELLIS_DATA_DIR", dir.as_str()),
    ];
    let restore = |extra: &[&str]| {
        let mut args = vec!["restore", backup.to_str().unwrap()];
        args.extend_from_slice(extra);
        trellis(&target).args(&args).output().expect("run trellis")
    };
    let out = restore(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 uploaded files"), "{}", text(&out));
    // Now the target holds data: a second restore must be asked for explicitly.
    let out = restore(&[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--replace"), "{}", text(&out));
    let out = restore(&["--replace"]);
    assert!(out.status.success(), "{}", text(&out));

    let back = TestApp::spawn(
        app.backend,
        Some(url.clone()),
        &[("data_dir", dir.as_str())],
    )
    .await;
    let (status, body) = back
        .api(Method::GET, &format!("/api/articles/{slug}"), None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["article"]["tagList"], serde_json::json!(["saved"]));
    let (status, body) = back
        .api(
            Method::POST,
            "/api/users/login",
            None,
            Some(serde_json::json!({"user": {"email": "keeper@example.com", "password": crate::helpers::TEST_PASSWORD}})),
        )
        .await;
    assert_eq!(
        status, 200,
        "the account and its password came back: {body}"
    );
    let resp = back.get(&format!("/media/{avatar}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        crate::helpers::png_bytes(256, 256).as_slice()
    );
    drop(back);

    // A backup of one kind of database does not restore onto the other.
    let other = if pg.is_some() {
        format!(
            "sqlite://{}?mode=rwc",
            work.path().join("x.sqlite3").display()
        )
    } else {
        "postgres://postgres@127.0.0.1:1/none".to_string()
    };
    let out = trellis(&[
        ("TRELLIS_DATABASE_URL", other.as_str()),
        ("TRELLIS_DATA_DIR", dir.as_str()),
    ])
    .args(["restore", backup.to_str().unwrap()])
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("dumpdata"), "{}", text(&out));

    drop_restore_target(pg).await;
}

/// 16 clients write articles (each with tags, which keep counters in the same transaction) while a
/// backup runs. The restored copy holds every article acknowledged before the backup started, no more
/// than were ever acknowledged, and counters that agree with its rows.
async fn a_backup_taken_under_concurrent_writes_restores_consistent(app: TestApp) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use crate::helpers::sql;
    const WRITERS: usize = 16;
    let mut tokens = Vec::new();
    for i in 0..WRITERS {
        tokens.push(app.api_user(&format!("writer{i}")).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut writers = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (app, stop, acknowledged) = (app.fork(), stop.clone(), acknowledged.clone());
        writers.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let title = format!("Busy {i} {n}");
                app.api_article(&token, &title, &["busy", &format!("w{i}")])
                    .await;
                acknowledged.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        });
    }
    // Let the writers get going, then back up while they run.
    while acknowledged.load(Ordering::Relaxed) < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = acknowledged.load(Ordering::Relaxed);
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("backup");
    let env: Vec<(String, String)> = env_of(&app)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let dir = backup.clone();
    let out = tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        trellis(&pairs)
            .args(["backup", dir.to_str().unwrap()])
            .output()
            .expect("run trellis")
    })
    .await
    .unwrap();
    let during = acknowledged.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let after = acknowledged.load(Ordering::Relaxed);
    assert!(out.status.success(), "{}", text(&out));
    assert!(during > 0, "writes went on while the backup ran");

    let (url, pg) = restore_target(&app, work.path()).await;
    let data = work.path().join("restored-data").display().to_string();
    let out = trellis(&[
        ("TRELLIS_DATABASE_URL", url.as_str()),
        ("TRELLIS_DATA_DIR", data.as_str()),
    ])
    .args(["restore", backup.to_str().unwrap()])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let back = TestApp::spawn(app.backend, Some(url), &[("data_dir", data.as_str())]).await;
    let rows = sql::scalar(&back, "SELECT COUNT(*) FROM blog_posts", vec![]).await as usize;
    assert!(
        (before..=after).contains(&rows),
        "{before} acknowledged before the backup, {after} in all, {rows} restored"
    );
    let (status, list) = back
        .api(reqwest::Method::GET, "/api/articles?limit=1", None, None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["articlesCount"], rows,
        "the kept count agrees with the rows"
    );
    sql::assert_tag_counts_exact(&back).await;
    eprintln!("{before} before, {during} during the backup, {rows} restored of {after}");
    drop(back);
    drop_restore_target(pg).await;
}

async fn management_commands_create_users_and_manage_groups(app: TestApp) {
    let out = run_in(
        &app,
        &["createsuperuser", "--no-input"],
        &[
            ("TRELLIS_SUPERUSER_USERNAME", "admin"),
            ("TRELLIS_SUPERUSER_EMAIL", "admin@example.com"),
            ("TRELLIS_SUPERUSER_PASSWORD", "slate-river-compass-19"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let admin = models::find_by_username(&app.state.db, "admin")
        .await
        .unwrap()
        .expect("created");
    assert!(admin.is_superuser && admin.is_staff);

    // The same validators as the web: a weak password is refused with the rule named.
    let out = run_in(
        &app,
        &["createsuperuser", "--no-input"],
        &[
            ("TRELLIS_SUPERUSER_USERNAME", "admin2"),
            ("TRELLIS_SUPERUSER_EMAIL", "admin2@example.com"),
            ("TRELLIS_SUPERUSER_PASSWORD", "12345678"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("password is entirely numeric"),
        "{}",
        text(&out)
    );

    let out = run_in(&app, &["groups", "add-user", "authors", "admin"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        models::groups_of(&app.state.db, admin.id).await.unwrap(),
        vec!["authors"]
    );
    let out = run_in(&app, &["groups", "list"], &[]);
    assert!(text(&out).contains("authors: admin"), "{}", text(&out));
    let out = run_in(&app, &["groups", "remove-user", "authors", "admin"], &[]);
    assert!(out.status.success());
    assert!(
        models::groups_of(&app.state.db, admin.id)
            .await
            .unwrap()
            .is_empty()
    );
    let out = run_in(&app, &["groups", "add-user", "wizards", "admin"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no group named `wizards`"));

    let env = env_of(&app);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = trellis(&pairs)
        .args(["changepassword", "admin", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"marble-falcon-tundra-52\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        app.login("admin", "marble-falcon-tundra-52").await.status(),
        303
    );
}

async fn check_reports_the_database_and_migrations(app: TestApp) {
    let out = run_in(&app, &["check"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ok    no pending migrations"));
    let out = run_in(&app, &["migrate", "status"], &[]);
    assert!(out.status.success());
    assert!(text(&out).contains("[X] m20261101_000001_accounts"));
    let out = run_in(&app, &["migrate"], &[]);
    assert!(text(&out).contains("No migrations to apply"));
    // A storage address that is not one fails the check, naming the setting.
    let out = run_in(
        &app,
        &["check"],
        &[("TRELLIS_STORAGE_URL", "https://bucket.example.com/x")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains(
            "setting TRELLIS_STORAGE_URL: `https://bucket.example.com/x` must start with s3://"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["migrate", "status", "--help"],
        vec!["createsuperuser", "--help"],
        vec!["changepassword", "--help"],
        vec!["check", "--help"],
        vec!["dbshell", "--help"],
        vec!["groups", "--help"],
        vec!["groups", "add-user", "--help"],
        vec!["groups", "remove-user", "--help"],
    ] {
        let out = trellis(&[]).args(&sub).output().unwrap();
        assert!(out.status.success(), "{sub:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{sub:?}"
        );
    }
}

#[test]
fn unknown_or_malformed_settings_stop_startup_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = trellis(&[("TRELLIS_DATA_DIR", &data), ("TRELLIS_COLOUR", "blue")])
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("TRELLIS_COLOUR"), "{}", text(&out));
    let out = trellis(&[
        ("TRELLIS_DATA_DIR", &data),
        ("TRELLIS_SESSION_AGE_SECS", "forever"),
    ])
    .arg("check")
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("TRELLIS_SESSION_AGE_SECS"),
        "{}",
        text(&out)
    );
    let out = trellis(&[("TRELLIS_DATA_DIR", &data), ("TRELLIS_ENV", "production")])
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("TRELLIS_SECRET_KEY"), "{}", text(&out));
    // A trellis.toml is read too.
    std::fs::write(
        dir.path().join("trellis.toml"),
        "bind = \"not an address\"\n",
    )
    .unwrap();
    let out = trellis(&[("TRELLIS_DATA_DIR", &data)])
        .current_dir(dir.path())
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("TRELLIS_BIND"), "{}", text(&out));
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = trellis(&[
        ("TRELLIS_DATA_DIR", &dir.path().display().to_string()),
        (
            "TRELLIS_DATABASE_URL",
            "postgres://trellis:supersecret@127.0.0.1:1/trellis",
        ),
    ])
    .arg("check")
    .output()
    .unwrap();
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("127.0.0.1:1"), "{t}");
    assert!(!t.contains("supersecret"), "{t}");
}

#[test]
fn production_refuses_to_start_with_pending_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let out = trellis(&[
        ("TRELLIS_DATA_DIR", &dir.path().display().to_string()),
        ("TRELLIS_ENV", "production"),
        (
            "TRELLIS_SECRET_KEY",
            "a-production-secret-of-enough-length-123",
        ),
        ("TRELLIS_BIND", "127.0.0.1:0"),
    ])
    .arg("serve")
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("pending migration"), "{}", text(&out));
    assert!(text(&out).contains("--migrate"), "{}", text(&out));
}

/// Starts `trellis serve` on a random port and returns the child and the address it logged.
fn start_server(env: &[(&str, &str)], args: &[&str]) -> (std::process::Child, String) {
    let mut child = trellis(env)
        .env("TRELLIS_LOG_LEVEL", "info")
        .env("TRELLIS_BIND", "127.0.0.1:0")
        .arg("serve")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().expect("server exited before serving").unwrap();
        if let Some(i) = line.find("http://127.0.0.1:") {
            let rest = &line[i..];
            let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
            break rest[..end].to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

#[tokio::test]
async fn serve_migrates_a_fresh_sqlite_file_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let (mut child, address) = start_server(&[("TRELLIS_DATA_DIR", &data)], &[]);
    let resp = reqwest::get(format!("{address}/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        dir.path().join("data/trellis.sqlite3").exists(),
        "database file created"
    );
    assert!(
        dir.path().join("data/secret_key").exists(),
        "development key generated once"
    );
    let key = std::fs::read_to_string(dir.path().join("data/secret_key")).unwrap();

    // A request whose body is still arriving when SIGTERM comes is answered in full.
    let text = r#"{"text":"Worth the wait.","model":"lexicon"}"#;
    let mut upload = RawClient::connect(&address).await;
    upload
        .send(&json_post_head("/api/sentiment/analyze", text.len(), true))
        .await;
    // The interim answer comes once the handler starts reading the body: the request is in flight.
    assert_eq!(upload.response().await.0, 100);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let refusing = async {
        while tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
            .await
            .is_ok()
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), refusing)
        .await
        .expect("new connections are refused after SIGTERM");
    upload.send(text.as_bytes()).await;
    let (status, body) = upload.response().await;
    assert_eq!(status, 200, "the in-flight request completes: {body}");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");

    // The key survives restarts.
    let (mut child, _) = start_server(&[("TRELLIS_DATA_DIR", &data)], &[]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/secret_key")).unwrap(),
        key
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

#[test]
fn dbshell_opens_the_sqlite_client() {
    if Command::new("sqlite3").arg("-version").output().is_err() {
        eprintln!("skipped: sqlite3 is not installed, so dbshell could not be exercised");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = trellis(&[("TRELLIS_DATA_DIR", &data)])
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut child = trellis(&[("TRELLIS_DATA_DIR", &data)])
        .arg("dbshell")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT name FROM auth_groups ORDER BY name;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "authors\neditors\nshop_managers"
    );
}

#[test]
fn openapi_prints_the_document() {
    let out = trellis(&[]).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/api/articles"].is_object());
}

#[test]
fn openapi_exports_a_postman_collection_with_every_todo_operation() {
    let out = trellis(&[])
        .args(["openapi", "--format", "postman"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(
        c["info"]["schema"],
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    );
    assert_eq!(c["variable"][0]["key"], "baseUrl");
    assert_eq!(c["variable"][0]["value"], "http://127.0.0.1:8000");
    assert_eq!(c["auth"]["apikey"][1]["value"], "Token {{token}}");
    let todos = c["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "todos")
        .expect("a todos folder");
    let mut ops: Vec<(String, String)> = todos["item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["request"]["method"].as_str().unwrap().to_string(),
                r["request"]["url"]["raw"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ops.sort();
    let expected: Vec<(String, String)> = [
        ("DELETE", "/api/todos/:id"),
        ("GET", "/api/todos"),
        ("GET", "/api/todos/:id"),
        ("PATCH", "/api/todos/:id"),
        ("POST", "/api/todos"),
        ("POST", "/api/todos/clear-completed"),
        ("PUT", "/api/todos/:id"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), format!("{{{{baseUrl}}}}{p}")))
    .collect();
    assert_eq!(ops, expected);
    let create = todos["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["request"]["method"] == "POST"
                && r["request"]["url"]["raw"] == "{{baseUrl}}/api/todos"
        })
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(create["request"]["body"]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(body["priority"], "low", "the first of the enum");
    assert_eq!(body["due_date"], "2030-01-31");
    let list = todos["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["request"]["method"] == "GET" && r["request"]["url"]["raw"] == "{{baseUrl}}/api/todos"
        })
        .unwrap();
    let filters: Vec<&str> = list["request"]["url"]["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["key"].as_str().unwrap())
        .collect();
    assert!(filters.contains(&"ordering") && filters.contains(&"overdue"));
    // Logging in needs no token; the collection's token is for everything that declares one.
    let login = c["item"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["item"].as_array().unwrap())
        .find(|r| r["request"]["url"]["raw"] == "{{baseUrl}}/api/users/login")
        .unwrap();
    assert_eq!(login["request"]["auth"]["type"], "noauth");
    let by_id = todos["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["request"]["method"] == "PATCH")
        .unwrap();
    assert!(by_id["request"].get("auth").is_none());
    assert_eq!(by_id["request"]["url"]["variable"][0]["key"], "id");
}

#[test]
fn bench_api_prints_throughput_and_latency() {
    let out = trellis(&[])
        .args([
            "bench",
            "api",
            "--articles",
            "200",
            "--seconds",
            "1",
            "--connections",
            "2",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("seeded 200 articles"), "{t}");
    assert!(
        t.contains("GET /api/articles?limit=20")
            && t.contains("requests/s")
            && t.contains("p99 ms"),
        "{t}"
    );
    assert!(t.contains("of the plaintext throughput"), "{t}");
}

#[test]
fn bench_writes_prints_a_row_per_family_and_number_of_writers() {
    let out = trellis(&[])
        .args(["bench", "writes", "--writers", "1,3", "--seconds", "0.3"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("3 users signed in"), "{t}");
    for family in [
        "POST /api/articles",
        "POST /api/todos",
        "POST /blog/new/ (form)",
    ] {
        for writers in [1, 3] {
            assert!(
                t.contains(&format!("| {family} | {writers} |")),
                "{family} with {writers}: {t}"
            );
        }
    }
    assert!(t.contains("requests/s") && t.contains("p99 ms"), "{t}");
}
