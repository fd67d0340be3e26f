//! The records engine the admin, the `models` commands and fixtures share, driven directly.

use serde_json::json;
use trellis::error::AppError;
use trellis::records::{self, Actor, Key, ListQuery};
use trellis::registry::{Kind, Model, Values};

use crate::helpers::TestApp;

db_tests! {
    create_update_and_delete_go_through_clean_and_leave_history;
    a_taken_unique_value_is_a_field_error_not_a_server_error;
    references_to_missing_rows_are_field_errors;
    cascade_preview_counts_what_deleting_a_user_takes_along;
    deleting_removes_image_files_of_every_row_deleted;
    list_searches_filters_orders_and_pages;
    list_runs_the_same_statements_whatever_the_page_size;
    secrets_and_bytes_are_never_shown_in_clear;
    a_user_made_through_records_can_sign_in;
    thirty_two_concurrent_creates_all_succeed_even_with_one_title;
}

fn model<'a>(app: &'a TestApp, label: &str) -> &'a Model {
    app.state
        .registry
        .model_by_label(label)
        .unwrap_or_else(|| panic!("{label} is registered"))
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn user(app: &TestApp, name: &str) -> i64 {
    trellis::accounts::create_user(
        &app.state.db,
        &app.state.settings,
        name,
        &format!("{name}@example.com"),
        crate::helpers::TEST_PASSWORD,
        false,
    )
    .await
    .unwrap()
    .unwrap()
    .id
}

/// Adds a row from form strings, as the admin does.
async fn add(app: &TestApp, label: &str, pairs: &[(&str, &str)], actor: Actor) -> Key {
    let m = model(app, label);
    let values = records::parse_input(m, &form(pairs), true)
        .unwrap_or_else(|e| panic!("{label} {pairs:?}: {e:?}"));
    records::create(&app.state, m, values, &actor)
        .await
        .unwrap_or_else(|e| panic!("{label} {pairs:?}: {e:?}"))
}

fn field_errors(e: AppError) -> trellis::error::FieldErrors {
    match e {
        AppError::Validation(errors) => errors,
        other => panic!("expected a 422, got {other:?}"),
    }
}

async fn count(app: &TestApp, table: &str) -> u64 {
    trellis::db::count(
        &app.state.db,
        format!("SELECT COUNT(*) AS n FROM {table}"),
        vec![],
    )
    .await
    .unwrap()
}

async fn create_update_and_delete_go_through_clean_and_leave_history(app: TestApp) {
    let author = user(&app, "ada").await;
    let actor = Actor::User { id: author };
    let tag = add(&app, "blog.tag", &[("name", "Rust")], actor).await;
    let posts = model(&app, "blog.post");
    let owner = author.to_string();
    let tag_id = tag.to_path();
    let key = add(
        &app,
        "blog.post",
        &[
            ("author_id", &owner),
            ("title", "  Hello, World  "),
            ("slug", ""),
            ("description", ""),
            ("body", "Some *emphasis*"),
            ("status", "published"),
            ("tags", &tag_id),
        ],
        actor,
    )
    .await;
    let post = records::get(&app.state, posts, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post["title"], "Hello, World");
    assert_eq!(
        post["slug"], "hello-world",
        "the slug is made from the title"
    );
    assert!(
        post["body_html"]
            .as_str()
            .unwrap()
            .contains("<em>emphasis</em>"),
        "{post:?}"
    );
    assert!(post["published_at"].is_string());
    assert_eq!(post["tags"], json!([tag.0[0]]));

    let mut change = Values::new();
    change.insert("title".into(), json!("Hello again"));
    change.insert("status".into(), json!("published"));
    change.insert("tags".into(), json!([]));
    records::update(&app.state, posts, &key, change, &Actor::Cli)
        .await
        .unwrap();
    let post = records::get(&app.state, posts, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(post["title"], "Hello again");
    assert_eq!(post["tags"], json!([]), "links are replaced");
    assert_eq!(count(&app, "blog_post_tags").await, 0);

    let history = records::history(&app.state, posts, &key).await.unwrap();
    let seen: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("add", "ada", "Added."),
            ("change", "cli", "Changed title and tags."),
        ]
    );
    assert_eq!(history[0].object_repr, "Hello, World");
    assert_eq!(history[0].user_id, Some(author));
    assert_eq!(history[1].user_id, None);

    let deleted = records::delete(&app.state, posts, std::slice::from_ref(&key), &actor)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert!(
        records::get(&app.state, posts, &key)
            .await
            .unwrap()
            .is_none()
    );
    let history = records::history(&app.state, posts, &key).await.unwrap();
    assert_eq!(history.last().unwrap().action, "delete");
    assert_eq!(history.last().unwrap().object_repr, "Hello again");

    let mine = records::recent(&app.state, Some(author), 10).await.unwrap();
    let actions: Vec<(&str, &str)> = mine
        .iter()
        .map(|e| (e.model.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![("post", "delete"), ("post", "add"), ("tag", "add")]
    );
    assert_eq!(
        records::recent(&app.state, None, 10).await.unwrap().len(),
        4
    );

    // Deleting again deletes nothing and writes nothing.
    let again = records::delete(&app.state, posts, &[key], &actor)
        .await
        .unwrap();
    assert_eq!(again, 0);
    assert_eq!(count(&app, "admin_log").await, 4);
}

async fn a_taken_unique_value_is_a_field_error_not_a_server_error(app: TestApp) {
    let tags = model(&app, "blog.tag");
    add(&app, "blog.tag", &[("name", "rust")], Actor::Cli).await;
    let values = records::parse_input(tags, &form(&[("name", "Rust")]), true).unwrap();
    let e = records::create(&app.state, tags, values, &Actor::Cli)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(field_errors(e).get("name"), ["has already been taken"]);

    // An expression index (lower-case username) names its column too.
    user(&app, "grace").await;
    let users = model(&app, "accounts.user");
    let values = records::parse_input(
        users,
        &form(&[
            ("username", "GRACE"),
            ("email", "other@example.com"),
            ("password_hash", "violet-harbor-quantum-41"),
            ("is_active", "on"),
        ]),
        true,
    )
    .unwrap();
    let e = records::create(&app.state, users, values, &Actor::Cli)
        .await
        .unwrap_err();
    assert_eq!(field_errors(e).get("username"), ["has already been taken"]);

    // A post given a taken slug keeps its error; nothing half-written.
    let owner = user(&app, "lin").await.to_string();
    let post = [
        ("author_id", owner.as_str()),
        ("title", "First"),
        ("slug", "first"),
        ("body", "x"),
        ("status", "draft"),
    ];
    add(&app, "blog.post", &post, Actor::Cli).await;
    let posts = model(&app, "blog.post");
    let values = records::parse_input(posts, &form(&post), true).unwrap();
    let e = records::create(&app.state, posts, values, &Actor::Cli)
        .await
        .unwrap_err();
    assert_eq!(field_errors(e).get("slug"), ["has already been taken"]);
    assert_eq!(count(&app, "blog_posts").await, 1);
    assert_eq!(count(&app, "admin_log").await, 2);
}

async fn references_to_missing_rows_are_field_errors(app: TestApp) {
    let tasks = model(&app, "todo.task");
    let values = records::parse_input(
        tasks,
        &form(&[("owner_id", "9999"), ("title", "Orphan"), ("priority", "2")]),
        true,
    )
    .unwrap();
    let e = records::create(&app.state, tasks, values, &Actor::Cli)
        .await
        .unwrap_err();
    assert_eq!(
        field_errors(e).get("owner_id"),
        ["points to no existing row"]
    );

    let owner = user(&app, "kim").await.to_string();
    let posts = model(&app, "blog.post");
    let values = records::parse_input(
        posts,
        &form(&[
            ("author_id", &owner),
            ("title", "Tagged"),
            ("body", "x"),
            ("status", "draft"),
            ("tags", "424242"),
        ]),
        true,
    )
    .unwrap();
    let e = records::create(&app.state, posts, values, &Actor::Cli)
        .await
        .unwrap_err();
    assert_eq!(field_errors(e).get("tags"), ["points to no existing row"]);
    assert_eq!(count(&app, "blog_posts").await, 0);
    assert_eq!(count(&app, "todo_tasks").await, 0);

    // A field the model does not have is named, not ignored.
    let mut values = Values::new();
    values.insert("colour".into(), json!("red"));
    let e = records::create(&app.state, tasks, values, &Actor::Cli)
        .await
        .unwrap_err();
    assert!(!field_errors(e).get("colour").is_empty());
}

async fn cascade_preview_counts_what_deleting_a_user_takes_along(app: TestApp) {
    let ada = user(&app, "ada").await;
    let bob = user(&app, "bob").await;
    let (ada_s, bob_s) = (ada.to_string(), bob.to_string());
    let tag = add(&app, "blog.tag", &[("name", "t")], Actor::Cli)
        .await
        .to_path();
    let mut ada_posts = Vec::new();
    for title in ["One", "Two"] {
        let key = add(
            &app,
            "blog.post",
            &[
                ("author_id", &ada_s),
                ("title", title),
                ("body", "b"),
                ("status", "published"),
                ("tags", &tag),
            ],
            Actor::Cli,
        )
        .await;
        ada_posts.push(key.to_path());
    }
    let bob_post = add(
        &app,
        "blog.post",
        &[
            ("author_id", &bob_s),
            ("title", "Bob's"),
            ("body", "b"),
            ("status", "published"),
        ],
        Actor::Cli,
    )
    .await
    .to_path();
    // Bob comments on Ada's posts (gone with them); Ada comments on Bob's (gone with her); Ada on her own
    // (reachable both ways, counted once).
    for (post, author) in [
        (&ada_posts[0], &bob_s),
        (&ada_posts[1], &bob_s),
        (&bob_post, &ada_s),
        (&ada_posts[0], &ada_s),
    ] {
        add(
            &app,
            "blog.comment",
            &[("post_id", post), ("author_id", author), ("body", "hi")],
            Actor::Cli,
        )
        .await;
    }
    for (owner, title) in [(&ada_s, "a"), (&ada_s, "b"), (&bob_s, "c")] {
        add(
            &app,
            "todo.task",
            &[("owner_id", owner), ("title", title), ("priority", "1")],
            Actor::Cli,
        )
        .await;
    }
    let db = &app.state.db;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "INSERT INTO blog_favorites (user_id, post_id, created_at) VALUES ({bob}, {}, '2026-01-01T00:00:00+00:00')",
        ada_posts[0]
    ))
    .await
    .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO auth_user_groups (user_id, group_id) SELECT {ada}, id FROM auth_groups WHERE name = 'authors'"
    ))
    .await
    .unwrap();

    let users = model(&app, "accounts.user");
    let key = Key(vec![json!(ada)]);
    let preview = records::cascade_preview(&app.state, users, std::slice::from_ref(&key))
        .await
        .unwrap();
    let get = |name: &str| {
        preview
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .unwrap_or(0)
    };
    assert_eq!(preview[0], ("users".to_string(), 1), "{preview:?}");
    assert_eq!(get("posts"), 2, "{preview:?}");
    assert_eq!(get("comments"), 4, "{preview:?}");
    assert_eq!(get("tasks"), 2, "{preview:?}");
    assert_eq!(get("favorites"), 1, "{preview:?}");
    assert_eq!(get("post-tag relationships"), 2, "{preview:?}");
    assert_eq!(get("user-group relationships"), 1, "{preview:?}");
    assert_eq!(get("tags"), 0, "tags are not deleted with posts");

    let before_comments = count(&app, "blog_comments").await;
    records::delete(&app.state, users, &[key], &Actor::Cli)
        .await
        .unwrap();
    assert_eq!(count(&app, "blog_posts").await, 1);
    assert_eq!(count(&app, "blog_comments").await, before_comments - 4);
    assert_eq!(count(&app, "todo_tasks").await, 1);
    assert_eq!(count(&app, "blog_favorites").await, 0);
    assert_eq!(count(&app, "blog_post_tags").await, 0);
    assert_eq!(count(&app, "blog_tags").await, 1);
}

async fn deleting_removes_image_files_of_every_row_deleted(app: TestApp) {
    let ada = user(&app, "ada").await;
    let users = model(&app, "accounts.user");
    let posts = model(&app, "blog.post");
    let thumb_of = |m: &Model, name: &str| match m.field(name).unwrap().kind {
        Kind::Image { thumb, .. } => thumb,
        _ => panic!("{name} is an image"),
    };
    let storage = &app.state.storage;
    let (avatar, cover) = ("avatars/a1.png", "covers/c1.jpg");
    for key in [
        avatar.to_string(),
        thumb_of(users, "avatar")(avatar),
        cover.to_string(),
        thumb_of(posts, "cover")(cover),
    ] {
        storage.put(&key, b"x").await.unwrap();
    }
    let mut v = Values::new();
    v.insert("avatar".into(), json!(avatar));
    records::update(&app.state, users, &Key(vec![json!(ada)]), v, &Actor::Cli)
        .await
        .unwrap();
    let owner = ada.to_string();
    let post = add(
        &app,
        "blog.post",
        &[
            ("author_id", &owner),
            ("title", "Covered"),
            ("body", "b"),
            ("status", "draft"),
            ("cover", cover),
        ],
        Actor::Cli,
    )
    .await;
    assert_eq!(
        records::get(&app.state, posts, &post)
            .await
            .unwrap()
            .unwrap()["cover"],
        cover
    );
    records::delete(&app.state, users, &[Key(vec![json!(ada)])], &Actor::Cli)
        .await
        .unwrap();
    for key in [
        avatar.to_string(),
        thumb_of(users, "avatar")(avatar),
        cover.to_string(),
        thumb_of(posts, "cover")(cover),
    ] {
        assert!(
            storage.get(&key).await.unwrap().is_none(),
            "{key} was removed"
        );
    }
}

async fn list_searches_filters_orders_and_pages(app: TestApp) {
    let ada = user(&app, "ada").await.to_string();
    let bob = user(&app, "bob").await.to_string();
    let tasks = model(&app, "todo.task");
    for i in 1..=12 {
        let owner = if i % 3 == 0 { &bob } else { &ada };
        let title = format!("Task {i:02}{}", if i == 7 { " 50%_off" } else { "" });
        let priority = (i % 3 + 1).to_string();
        let due = format!("2026-03-{i:02}");
        let mut pairs = vec![
            ("owner_id", owner.as_str()),
            ("title", title.as_str()),
            ("priority", priority.as_str()),
        ];
        if i <= 10 {
            pairs.push(("due_date", due.as_str()));
        }
        if i % 2 == 0 {
            pairs.push(("completed", "on"));
        }
        add(&app, "todo.task", &pairs, Actor::Cli).await;
    }
    let titles = |rows: &[Values]| -> Vec<String> {
        rows.iter()
            .map(|r| r["title"].as_str().unwrap().to_string())
            .collect()
    };
    let query = |f: &[(&str, &str)], order: &[&str], page: u64, per_page: u64| ListQuery {
        q: None,
        filters: f
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        order: order.iter().map(|s| s.to_string()).collect(),
        page,
        per_page,
    };

    let page = records::list(&app.state, tasks, &query(&[], &["title"], 2, 5))
        .await
        .unwrap();
    assert_eq!(page.total, 12);
    assert_eq!(
        titles(&page.rows),
        [
            "Task 06",
            "Task 07 50%_off",
            "Task 08",
            "Task 09",
            "Task 10"
        ]
    );
    assert_eq!(
        page.labels.get(&("owner_id".to_string(), bob.clone())),
        Some(&"bob".to_string())
    );

    // LIKE's own characters are searched for literally.
    let mut lq = query(&[], &[], 1, 50);
    lq.q = Some("50%_".into());
    let page = records::list(&app.state, tasks, &lq).await.unwrap();
    assert_eq!(titles(&page.rows), ["Task 07 50%_off"]);
    lq.q = Some("TASK 1".into());
    assert_eq!(
        records::list(&app.state, tasks, &lq).await.unwrap().total,
        3
    );

    let f = [
        ("completed", "1"),
        ("owner_id", ada.as_str()),
        ("due_date__gte", "2026-03-04"),
        ("due_date__lt", "2026-03-10"),
    ];
    let page = records::list(&app.state, tasks, &query(&f, &["-title"], 1, 50))
        .await
        .unwrap();
    assert_eq!(titles(&page.rows), ["Task 08", "Task 04"]);
    let page = records::list(
        &app.state,
        tasks,
        &query(&[("due_date__isnull", "1")], &["title"], 1, 50),
    )
    .await
    .unwrap();
    assert_eq!(titles(&page.rows), ["Task 11", "Task 12"]);
    let page = records::list(
        &app.state,
        tasks,
        &query(&[("priority__gte", "3")], &["-priority", "title"], 1, 50),
    )
    .await
    .unwrap();
    assert_eq!(
        titles(&page.rows),
        ["Task 02", "Task 05", "Task 08", "Task 11"]
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let page = records::list(
        &app.state,
        tasks,
        &query(&[("created_at", &today)], &[], 1, 50),
    )
    .await
    .unwrap();
    assert_eq!(page.total, 12, "a day matches the moments within it");

    let keys = records::keys_matching(
        &app.state,
        tasks,
        &query(&[("completed", "0")], &["title"], 1, 2),
    )
    .await
    .unwrap();
    assert_eq!(keys.len(), 6, "every page");

    for (bad, name) in [
        (query(&[("colour", "red")], &[], 1, 10), "colour"),
        (
            query(&[("priority__gte", "high")], &[], 1, 10),
            "priority__gte",
        ),
        (query(&[("due_date", "tomorrow")], &[], 1, 10), "due_date"),
        (query(&[], &["-colour"], 1, 10), "order"),
    ] {
        let e = records::list(&app.state, tasks, &bad).await.unwrap_err();
        assert_eq!(e.status(), 400, "{name}");
        match e {
            AppError::BadRequest(field, _) => assert_eq!(field, name),
            other => panic!("{other:?}"),
        }
    }

    // Choices for a foreign key to users: searched, limited, with the total.
    let users = model(&app, "accounts.user");
    let (options, total) = records::fk_choices(&app.state, users, None, 1)
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(options, vec![(ada.clone(), "ada".to_string())]);
    let (options, total) = records::fk_choices(&app.state, users, Some("BO"), 10)
        .await
        .unwrap();
    assert_eq!((options, total), (vec![(bob, "bob".to_string())], 1));
}

async fn list_runs_the_same_statements_whatever_the_page_size(app: TestApp) {
    let mut owners = Vec::new();
    for name in ["u1", "u2", "u3", "u4"] {
        owners.push(user(&app, name).await.to_string());
    }
    let tag = add(&app, "blog.tag", &[("name", "t")], Actor::Cli)
        .await
        .to_path();
    for i in 0..24 {
        add(
            &app,
            "blog.post",
            &[
                ("author_id", &owners[i % 4]),
                ("title", &format!("Post {i}")),
                ("body", "b"),
                ("status", "draft"),
                ("tags", &tag),
            ],
            Actor::Cli,
        )
        .await;
    }
    let posts = model(&app, "blog.post");
    let mut seen = Vec::new();
    for per_page in [2, 10, 24] {
        let before = app.state.queries.get();
        let page = records::list(
            &app.state,
            posts,
            &ListQuery {
                page: 1,
                per_page,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
        seen.push(app.state.queries.get() - before);
        assert_eq!(page.rows.len() as u64, per_page);
        assert_eq!(page.total, 24);
    }
    // A count, the page, the authors' names.
    assert_eq!(seen, vec![3, 3, 3]);
}

async fn secrets_and_bytes_are_never_shown_in_clear(app: TestApp) {
    let ada = user(&app, "ada").await;
    let (token, _) = trellis::accounts::api_tokens::create(&app.state.db, ada, "laptop")
        .await
        .unwrap();
    let tokens = model(&app, "accounts.apitoken");
    let row = records::get(&app.state, tokens, &Key(vec![json!(token.id)]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row["token_hash"], "…");
    let users = model(&app, "accounts.user");
    let page = records::list(&app.state, users, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.rows[0]["password_hash"], "…");

    use sea_orm::ConnectionTrait;
    let db = &app.state.db;
    let backend = db.get_database_backend();
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        "INSERT INTO sentiment_models (owner_id, name, kind, weights, report, created_at) \
         VALUES ($1, 'm', 'linear', $2, '{\"accuracy\": 0.5}', $3)",
        vec![
            ada.into(),
            vec![1u8, 2, 3, 4, 5].into(),
            chrono::Utc::now().into(),
        ],
    ))
    .await
    .unwrap();
    let models = model(&app, "sentiment.model");
    let page = records::list(&app.state, models, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.rows[0]["weights"], json!({ "bytes": 5 }));
    assert_eq!(page.rows[0]["report"], json!({ "accuracy": 0.5 }));
}

async fn a_user_made_through_records_can_sign_in(app: TestApp) {
    let users = model(&app, "accounts.user");
    let password = "copper-lantern-meadow-73";
    let values = records::parse_input(
        users,
        &form(&[
            ("username", "nova"),
            ("email", "nova@example.com"),
            ("password_hash", "short"),
            ("is_active", "on"),
        ]),
        true,
    )
    .unwrap();
    let e = records::create(&app.state, users, values, &Actor::Cli)
        .await
        .unwrap_err();
    assert!(
        !field_errors(e).get("password_hash").is_empty(),
        "the password rules apply"
    );
    let values = records::parse_input(
        users,
        &form(&[
            ("username", "nova"),
            ("email", "nova@example.com"),
            ("password_hash", password),
            ("is_active", "on"),
        ]),
        true,
    )
    .unwrap();
    let key = records::create(&app.state, users, values, &Actor::Cli)
        .await
        .unwrap();
    assert_eq!(app.login("nova", password).await.status(), 303);

    // Changing other fields with the password left empty keeps it.
    let values = records::parse_input(
        users,
        &form(&[
            ("username", "nova"),
            ("email", "nova@example.com"),
            ("password_hash", ""),
            ("display_name", "Nova"),
            ("is_active", "on"),
        ]),
        false,
    )
    .unwrap();
    records::update(&app.state, users, &key, values, &Actor::Cli)
        .await
        .unwrap();
    assert_eq!(app.fork().login("nova", password).await.status(), 303);
    let history = records::history(&app.state, users, &key).await.unwrap();
    assert_eq!(history[1].message, "Changed display name.");
}

async fn thirty_two_concurrent_creates_all_succeed_even_with_one_title(app: TestApp) {
    let owner = user(&app, "ada").await;
    let mut handles = Vec::new();
    for i in 0..32 {
        let state = app.state.clone();
        handles.push(tokio::spawn(async move {
            let posts = state.registry.model_by_label("blog.post").unwrap();
            let tasks = state.registry.model_by_label("todo.task").unwrap();
            let owner = owner.to_string();
            let title = format!("Concurrent {i}");
            // Every post has the same title: each must still get a slug of its own.
            let post = records::parse_input(
                posts,
                &form(&[
                    ("author_id", &owner),
                    ("title", "One title for all"),
                    ("body", "b"),
                    ("status", "published"),
                ]),
                true,
            )
            .unwrap();
            let task = records::parse_input(
                tasks,
                &form(&[("owner_id", &owner), ("title", &title), ("priority", "2")]),
                true,
            )
            .unwrap();
            let actor = Actor::User {
                id: owner.parse().unwrap(),
            };
            let a = records::create(&state, posts, post, &actor).await;
            let b = records::create(&state, tasks, task, &actor).await;
            (a.map(|_| ()), b.map(|_| ()))
        }));
    }
    for h in handles {
        let (a, b) = h.await.unwrap();
        a.unwrap();
        b.unwrap();
    }
    assert_eq!(count(&app, "blog_posts").await, 32);
    assert_eq!(count(&app, "todo_tasks").await, 32);
    assert_eq!(count(&app, "admin_log").await, 64);
    let slugs = trellis::db::count(
        &app.state.db,
        "SELECT COUNT(DISTINCT slug) AS n FROM blog_posts".into(),
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(slugs, 32);
}
