//! `trellis dumpdata` / `trellis loaddata` through the binary: round trips between the backends.

use std::process::{Command, Output};

use serde_json::json;
use trellis::records::{self, Actor};

use crate::helpers::{Backend, TestApp};

fn trellis(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trellis"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TRELLIS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("TRELLIS_LOG_LEVEL", "warn")
        .env("TRELLIS_DATABASE_URL", &app.database_url)
        .env("TRELLIS_DATA_DIR", app.data_dir.display().to_string())
        .args(args)
        .output()
        .expect("run trellis")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn add(app: &TestApp, label: &str, pairs: &[(&str, &str)]) -> i64 {
    let m = app.state.registry.model_by_label(label).unwrap();
    let raw: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let values = records::parse_input(m, &raw, true).unwrap();
    let key = records::create(&app.state, m, values, &Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("{label}: {e:?}"));
    key.0[0].as_i64().unwrap()
}

/// Users, posts with tags, comments and favorites, tasks, a roadmap with progress, a dataset.
async fn populate(app: &TestApp) {
    let state = &app.state;
    let mut ids = Vec::new();
    for name in ["ada", "bob"] {
        let u = trellis::accounts::create_user(
            &state.db,
            &state.settings,
            name,
            &format!("{name}@example.com"),
            crate::helpers::TEST_PASSWORD,
            false,
        )
        .await
        .unwrap()
        .unwrap();
        ids.push(u.id);
    }
    let (ada, bob) = (ids[0].to_string(), ids[1].to_string());
    let tag = add(app, "blog.tag", &[("name", "rust")]).await.to_string();
    let post = add(
        app,
        "blog.post",
        &[
            ("author_id", &ada),
            ("title", "Hello"),
            ("body", "Some *text*"),
            ("status", "published"),
            ("tags", &tag),
        ],
    )
    .await
    .to_string();
    add(
        app,
        "blog.comment",
        &[("post_id", &post), ("author_id", &bob), ("body", "Nice")],
    )
    .await;
    use sea_orm::ConnectionTrait;
    state
        .db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            state.db.get_database_backend(),
            "INSERT INTO blog_favorites (user_id, post_id, created_at) VALUES ($1, $2, $3)",
            vec![
                ids[1].into(),
                post.parse::<i64>().unwrap().into(),
                chrono::Utc::now().into(),
            ],
        ))
        .await
        .unwrap();
    add(
        app,
        "todo.task",
        &[
            ("owner_id", &ada),
            ("title", "Write"),
            ("priority", "3"),
            ("due_date", "2026-12-24"),
        ],
    )
    .await;
    let seed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/roadmap/seed.md"
    ))
    .unwrap();
    let roadmap = trellis::tracker::parse(&seed).unwrap();
    let stored = trellis::tracker::import(state, ids[0], &roadmap, None)
        .await
        .unwrap();
    trellis::tracker::models::set_progress(
        &state.db,
        stored.id,
        "p1-w1-d1",
        trellis::tracker::Progress::Done,
        Some("done it"),
    )
    .await
    .unwrap();
    let parsed =
        trellis::sentiment::upload::parse(b"text,label\ngreat film,1\nawful,0\nmeh,\n", 100)
            .unwrap();
    let txn = state.db.begin().await.unwrap();
    trellis::sentiment::models::create_dataset(&txn, ids[0], "reviews", "r.csv", 40, &parsed)
        .await
        .unwrap();
    txn.commit().await.unwrap();
}

fn dump(app: &TestApp, file: &std::path::Path) -> String {
    let out = trellis(app, &["dumpdata", "--output", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(file).unwrap()
}

fn load(app: &TestApp, file: &std::path::Path) -> Output {
    trellis(app, &["loaddata", file.to_str().unwrap()])
}

#[tokio::test]
async fn a_dump_survives_sqlite_to_postgresql_to_sqlite_byte_for_byte() {
    crate::helpers::run(Backend::Postgres, &[], |pg| async move {
        let a = TestApp::spawn(Backend::Sqlite, None, &[]).await;
        populate(&a).await;
        let dir = tempfile::tempdir().unwrap();
        let first = dump(&a, &dir.path().join("a.json"));
        assert!(first.contains("\"model\":\"blog.post\""), "{first}");
        assert!(
            first.contains("\"tags\":["),
            "links are dumped on the owning model"
        );

        let out = load(&pg, &dir.path().join("a.json"));
        assert!(out.status.success(), "{}", text(&out));
        let second = dump(&pg, &dir.path().join("b.json"));
        assert_eq!(first, second, "PostgreSQL dumps what SQLite dumped");

        let c = TestApp::spawn(Backend::Sqlite, None, &[]).await;
        let out = load(&c, &dir.path().join("b.json"));
        assert!(out.status.success(), "{}", text(&out));
        let third = dump(&c, &dir.path().join("c.json"));
        assert_eq!(first, third);

        // The loaded passwords work, and new rows get fresh ids after the loaded ones.
        assert_eq!(
            pg.login("ada", crate::helpers::TEST_PASSWORD)
                .await
                .status(),
            303
        );
        let tag = add(&pg, "blog.tag", &[("name", "new")]).await;
        assert!(tag > 1, "the id sequence moved past the loaded ids");
        let user = trellis::accounts::create_user(
            &pg.state.db,
            &pg.state.settings,
            "cy",
            "cy@example.com",
            crate::helpers::TEST_PASSWORD,
            false,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(user.id, 3);
    })
    .await
}

db_tests! {
    a_fixture_with_a_bad_record_changes_nothing;
}

async fn a_fixture_with_a_bad_record_changes_nothing(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    let records = json!([
        {"model": "blog.tag", "pk": 50, "fields": {"name": "kept-out"}},
        {"model": "blog.tag", "pk": 51, "fields": {"name": "x", "colour": "red"}}
    ]);
    std::fs::write(&file, records.to_string()).unwrap();
    let out = load(&app, &file);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("blog.tag pk=51: unknown field `colour`"),
        "{}",
        text(&out)
    );
    let records = json!([
        {"model": "blog.tag", "pk": 50, "fields": {"name": "kept-out"}},
        {"model": "blog.tag", "pk": 51, "fields": {"name": "kept-out"}}
    ]);
    std::fs::write(&file, records.to_string()).unwrap();
    let out = load(&app, &file);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("blog.tag pk=51: name: has already been taken"),
        "{}",
        text(&out)
    );
    std::fs::write(&file, r#"[{"model": "blog.nope", "pk": 1, "fields": {}}]"#).unwrap();
    let out = load(&app, &file);
    assert!(
        text(&out).contains("unknown model `blog.nope`"),
        "{}",
        text(&out)
    );
    let n = trellis::db::count(
        &app.state.db,
        "SELECT COUNT(*) AS n FROM blog_tags".into(),
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(n, 0, "nothing half-written");
}

db_tests! {
    models_commands_go_through_clean_and_leave_cli_history;
}

async fn models_commands_go_through_clean_and_leave_cli_history(app: TestApp) {
    let u = trellis::accounts::create_user(
        &app.state.db,
        &app.state.settings,
        "ada",
        "ada@example.com",
        crate::helpers::TEST_PASSWORD,
        false,
    )
    .await
    .unwrap()
    .unwrap();
    let author = format!("author_id={}", u.id);
    let out = trellis(
        &app,
        &[
            "models",
            "create",
            "blog.post",
            &author,
            "title=From the CLI",
            "body=*hi*",
            "status=draft",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Added blog.post 1."), "{}", text(&out));
    let out = trellis(&app, &["models", "show", "blog.post", "1", "--json"]);
    let row: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(row["slug"], "from-the-cli");
    assert_eq!(row["body_html"], "<p><em>hi</em></p>\n");

    let out = trellis(
        &app,
        &[
            "models",
            "update",
            "blog.post",
            "1",
            "title=Renamed",
            "colour=red",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("colour: no such field on post"),
        "{}",
        text(&out)
    );
    let out = trellis(
        &app,
        &["models", "update", "blog.post", "1", "title=Renamed"],
    );
    assert!(out.status.success(), "{}", text(&out));

    let out = trellis(&app, &["models", "delete", "blog.post", "1"]);
    assert!(
        !out.status.success(),
        "refuses without --yes when not interactive"
    );
    assert!(text(&out).contains("posts: 1"), "{}", text(&out));
    let out = trellis(&app, &["models", "delete", "blog.post", "1", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));

    let posts = app.state.registry.model_by_label("blog.post").unwrap();
    let history = records::history(&app.state, posts, &records::Key(vec![json!(1)]))
        .await
        .unwrap();
    let seen: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("add", "cli", "Added."),
            ("change", "cli", "Changed title."),
            ("delete", "cli", "Deleted.")
        ]
    );
    let out = trellis(&app, &["models", "list"]);
    assert!(text(&out).contains("blog.post"), "{}", text(&out));
}
