//! The admin site at `/admin/`: access, the permission matrix, change lists, forms, actions, deletion,
//! history, CSV export, the picker's JSON, and a browser run-through.

use sea_orm::{ConnectionTrait, Statement};
use trellis::blog::posts::{self, PostInput};

use crate::helpers::{TestApp, location, png_bytes};

db_tests! {
    anonymous_visitors_are_sent_to_the_login_page;
    signed_in_users_who_are_not_staff_get_403_and_no_data;
    a_superuser_sees_every_registered_model_and_not_sessions;
    view_only_staff_see_the_list_but_may_not_add_change_delete_or_act;
    the_change_list_searches_filters_orders_pages_and_counts;
    the_change_list_costs_the_same_statements_whatever_its_size;
    select_across_publishes_every_matching_post;
    deleting_shows_the_cascade_then_deletes;
    form_errors_keep_the_typed_values_and_name_the_field;
    a_unique_violation_is_shown_on_its_field;
    concurrent_adds_of_one_name_save_once_and_refuse_the_rest;
    history_keeps_add_change_and_delete;
    csv_export_holds_the_filtered_rows_and_defuses_formulas;
    making_a_user_an_author_through_the_admin_lets_them_write;
    a_users_password_is_set_through_the_password_rules;
    the_picker_answers_json_to_those_who_may_pick;
    a_cover_uploaded_through_the_admin_is_checked_like_the_blogs;
}

/// A signed-in superuser.
async fn superuser(app: &TestApp, name: &str) -> TestApp {
    let who = app.user(name, &[], true).await;
    app.state
        .db
        .execute_unprepared(&format!(
            "UPDATE users SET is_superuser = TRUE WHERE username = '{name}'"
        ))
        .await
        .unwrap();
    who
}

/// A signed-in staff member holding exactly `perms`.
async fn staff_with(app: &TestApp, name: &str, perms: &[&str]) -> TestApp {
    let who = app.user(name, &[], true).await;
    for p in perms {
        app.state
            .db
            .execute_raw(Statement::from_sql_and_values(
                app.state.db.get_database_backend(),
                "INSERT INTO auth_user_permissions (user_id, permission_id) \
                 SELECT u.id, p.id FROM users u, auth_permissions p WHERE u.username = $1 AND p.codename = $2",
                [(*name).into(), (*p).into()],
            ))
            .await
            .unwrap();
    }
    who
}

async fn user_id(app: &TestApp, name: &str) -> i64 {
    trellis::accounts::models::find_by_username(&app.state.db, name)
        .await
        .unwrap()
        .expect("user exists")
        .id
}

async fn seed_post(app: &TestApp, author: i64, title: &str, status: &'static str) -> i64 {
    let input = PostInput {
        title: title.to_string(),
        description: String::new(),
        body: format!("Body of {title}"),
        tags: Vec::new(),
        status,
        slug: None,
    };
    posts::create(&app.state, author, &input, None)
        .await
        .unwrap()
        .id
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    crate::helpers::sql::scalar(app, sql, vec![]).await
}

/// The number of rows of a change list page.
fn row_count(html: &str) -> usize {
    html.matches("<tr data-key=").count()
}

async fn anonymous_visitors_are_sent_to_the_login_page(app: TestApp) {
    for path in ["/admin/", "/admin/blog/post/", "/admin/blog/post/1/change/"] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 303, "{path}");
        let to = location(&resp);
        assert!(to.starts_with("/accounts/login/?next="), "{path} → {to}");
        assert!(to.contains(&path.replace('/', "%2F")), "{to} keeps {path}");
    }
    assert_eq!(
        location(&app.get("/admin/login/").await),
        "/accounts/login/?next=%2Fadmin%2F"
    );
    // Signing in follows `next` back into the admin.
    superuser(&app, "root").await;
    let resp = app
        .post_form(
            "/accounts/login/?next=%2Fadmin%2F",
            &[
                ("login", "root"),
                ("password", crate::helpers::TEST_PASSWORD),
                ("next", "/admin/"),
            ],
        )
        .await;
    assert_eq!(location(&resp), "/admin/");
    assert_eq!(app.get("/admin/").await.status(), 200);
}

async fn signed_in_users_who_are_not_staff_get_403_and_no_data(app: TestApp) {
    let root = superuser(&app, "root").await;
    let author = user_id(&app, "root").await;
    seed_post(&app, author, "Secret plans", "draft").await;
    let reader = app.user("reader", &["editors"], false).await;
    for path in [
        "/admin/",
        "/admin/blog/",
        "/admin/blog/post/",
        "/admin/blog/post/1/change/",
        "/admin/blog/post/1/history/",
        "/admin/blog/post/?export=csv",
        "/admin/accounts/user/autocomplete/?q=r",
    ] {
        let resp = reader.get(path).await;
        assert_eq!(resp.status(), 403, "{path}");
        assert_eq!(
            resp.headers().get("cache-control").unwrap(),
            "no-store",
            "{path}"
        );
        let body = resp.text().await.unwrap();
        for secret in ["Secret plans", "root", "Site administration", "Posts"] {
            assert!(!body.contains(secret), "{path} shows {secret}");
        }
    }
    let resp = reader
        .post_form_from("/", "/admin/blog/post/1/delete/", &[])
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM blog_posts").await,
        1
    );
    // A staff flag on an inactive account opens nothing either: it cannot sign in.
    app.state
        .db
        .execute_unprepared("UPDATE users SET is_active = FALSE WHERE username = 'root'")
        .await
        .unwrap();
    assert_eq!(root.get("/admin/").await.status(), 303);
}

async fn a_superuser_sees_every_registered_model_and_not_sessions(app: TestApp) {
    let root = superuser(&app, "root").await;
    let resp = root.get("/admin/").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
    let html = resp.text().await.unwrap();
    let mut registered = 0;
    for m in app.state.registry.models() {
        let list = format!("/admin/{}/{}/", m.app, m.name);
        match &m.admin {
            Some(admin) => {
                registered += 1;
                assert!(
                    html.contains(&format!("href=\"{list}\"")),
                    "{list} on the index"
                );
                let page = root.get(&list).await;
                assert_eq!(page.status(), 200, "{list}");
                let add = root.get(&format!("{list}add/")).await.status();
                assert_eq!(add, if admin.no_add { 403 } else { 200 }, "{list}add/");
            }
            None => {
                assert!(!html.contains(&format!("href=\"{list}\"")), "{list} hidden");
                assert_eq!(root.get(&list).await.status(), 404, "{list}");
            }
        }
    }
    assert!(registered >= 10, "the apps register their models");
    // The development toolbar lists the page's SQL, sessions included; the page itself must not.
    let page = html.split("id=\"debug-toolbar\"").next().unwrap();
    assert!(
        !page.to_lowercase().contains("session"),
        "no sessions model"
    );
    assert_eq!(root.get("/admin/accounts/session/").await.status(), 404);
    // Every object page of a row that exists opens too.
    let uid = user_id(&app, "root").await;
    let post = seed_post(&app, uid, "Hello", "published").await;
    for path in [
        format!("/admin/accounts/user/{uid}/change/"),
        format!("/admin/blog/post/{post}/change/"),
        format!("/admin/blog/post/{post}/history/"),
        format!("/admin/blog/post/{post}/delete/"),
    ] {
        assert_eq!(root.get(&path).await.status(), 200, "{path}");
    }
    assert_eq!(
        root.get("/admin/blog/post/999999/change/").await.status(),
        404
    );
    assert_eq!(root.get("/admin/blog/post/abc/change/").await.status(), 404);
}

async fn view_only_staff_see_the_list_but_may_not_add_change_delete_or_act(app: TestApp) {
    let root = superuser(&app, "root").await;
    let uid = user_id(&app, "root").await;
    let post = seed_post(&app, uid, "Viewable", "draft").await;
    let viewer = staff_with(&app, "viewer", &["blog.view_post"]).await;

    let index = viewer.get_text("/admin/").await;
    assert!(index.contains("href=\"/admin/blog/post/\""));
    assert!(!index.contains("/admin/blog/post/add/"), "no add link");
    assert!(!index.contains("/admin/accounts/user/"), "users hidden");
    assert!(!index.contains("/admin/blog/comment/"), "comments hidden");

    let list = viewer.get_text("/admin/blog/post/").await;
    assert!(list.contains("Viewable"));
    assert!(!list.contains("/admin/blog/post/add/"), "no add button");
    assert!(!list.contains("name=\"action\""), "no actions");
    assert!(!list.contains("name=\"_selected\""), "no checkboxes");

    let page = viewer
        .get_text(&format!("/admin/blog/post/{post}/change/"))
        .await;
    assert!(page.contains("Viewable"));
    assert!(!page.contains("name=\"title\""), "read-only");
    assert!(!page.contains("/delete/"), "no delete link");

    let token = viewer.csrf_token("/admin/blog/post/").await;
    let post_with = |path: String, fields: Vec<(&'static str, String)>| {
        let viewer = &viewer;
        let token = token.clone();
        async move {
            let mut all = vec![("csrf_token", token)];
            all.extend(fields);
            viewer
                .client
                .post(viewer.url(&path))
                .form(&all)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(viewer.get("/admin/blog/post/add/").await.status(), 403);
    assert_eq!(
        post_with("/admin/blog/post/add/".into(), vec![("title", "x".into())]).await,
        403
    );
    assert_eq!(
        post_with(
            format!("/admin/blog/post/{post}/change/"),
            vec![("title", "Changed".into())]
        )
        .await,
        403
    );
    assert_eq!(
        viewer
            .get(&format!("/admin/blog/post/{post}/delete/"))
            .await
            .status(),
        403
    );
    assert_eq!(
        post_with(format!("/admin/blog/post/{post}/delete/"), vec![]).await,
        403
    );
    for action in ["publish", "delete_selected"] {
        assert_eq!(
            post_with(
                "/admin/blog/post/".into(),
                vec![
                    ("action", action.into()),
                    ("_selected", post.to_string()),
                    ("confirm", "yes".into())
                ]
            )
            .await,
            403,
            "{action}"
        );
    }
    assert_eq!(viewer.get("/admin/accounts/user/").await.status(), 403);
    // Nothing changed.
    let row = root
        .get_text(&format!("/admin/blog/post/{post}/change/"))
        .await;
    assert!(row.contains("value=\"Viewable\""));
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM blog_posts WHERE status = 'draft'"
        )
        .await,
        1
    );

    // Change without moderation: the form opens, the publish action is not offered and is refused.
    let changer = staff_with(&app, "changer", &["blog.change_post"]).await;
    let list = changer.get_text("/admin/blog/post/").await;
    assert!(!list.contains("value=\"publish\""));
    let token = changer.csrf_token("/admin/blog/post/").await;
    let resp = changer
        .client
        .post(changer.url("/admin/blog/post/"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("action", "publish"),
            ("_selected", &post.to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

async fn the_change_list_searches_filters_orders_pages_and_counts(app: TestApp) {
    let root = superuser(&app, "root").await;
    let uid = user_id(&app, "root").await;
    let other = app.user("other", &[], false).await;
    drop(other);
    let oid = user_id(&app, "other").await;
    for i in 0..102 {
        seed_post(&app, uid, &format!("Post number {i:03}"), "draft").await;
    }
    seed_post(&app, oid, "Rust ownership", "published").await;
    seed_post(&app, oid, "Learning rust", "published").await;
    seed_post(&app, uid, "Zebra rusted", "published").await;

    let html = root.get_text("/admin/blog/post/").await;
    assert!(html.contains("105 posts"), "total");
    assert_eq!(row_count(&html), 100, "a page holds 100");
    let page2 = root.get_text("/admin/blog/post/?p=2").await;
    assert_eq!(row_count(&page2), 5);

    let found = root.get_text("/admin/blog/post/?q=RUST").await;
    assert!(found.contains("3 posts"), "search is case-insensitive");
    assert_eq!(row_count(&found), 3);

    let published = root.get_text("/admin/blog/post/?status=published").await;
    assert_eq!(row_count(&published), 3);
    let by_other = root
        .get_text(&format!(
            "/admin/blog/post/?status=published&author_id={oid}"
        ))
        .await;
    assert_eq!(row_count(&by_other), 2);
    assert!(by_other.contains("2 posts"));
    // The sidebar offers the filters, and marks the chosen one.
    assert!(published.contains("By status"));
    assert!(published.contains("By author"));
    assert!(published.contains("Past 7 days"));

    let today = chrono::Utc::now().date_naive();
    let tomorrow = today + chrono::Duration::days(1);
    let dated = root
        .get_text(&format!(
            "/admin/blog/post/?created_at__gte={today}&created_at__lt={tomorrow}&p=2"
        ))
        .await;
    assert_eq!(row_count(&dated), 5, "made today");
    let future = root
        .get_text(&format!("/admin/blog/post/?created_at__gte={tomorrow}"))
        .await;
    assert_eq!(row_count(&future), 0);

    let asc = root
        .get_text("/admin/blog/post/?o=title&status=published")
        .await;
    let desc = root
        .get_text("/admin/blog/post/?o=-title&status=published")
        .await;
    let first = |html: &str| {
        ["Learning rust", "Rust ownership", "Zebra rusted"]
            .into_iter()
            .min_by_key(|t| html.find(t).unwrap())
            .unwrap()
    };
    assert_eq!(first(&asc), "Learning rust");
    assert_eq!(first(&desc), "Zebra rusted");
    assert!(asc.contains("aria-sort=\"ascending\""));

    for bad in ["?p=0", "?p=x", "?o=nope", "?o=password", "?nonsense=1"] {
        let resp = root.get(&format!("/admin/blog/post/{bad}")).await;
        assert_eq!(resp.status(), 400, "{bad}");
    }
    // A foreign-key filter with a value that is not an id is refused, not a server error.
    let resp = root.get("/admin/blog/post/?author_id=abc").await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
}

async fn the_change_list_costs_the_same_statements_whatever_its_size(app: TestApp) {
    let root = superuser(&app, "root").await;
    let uid = user_id(&app, "root").await;
    for i in 0..3 {
        seed_post(&app, uid, &format!("Few {i}"), "draft").await;
    }
    root.get("/admin/blog/post/").await; // clears any flash message
    let (small, s1) = root.queries_for("/admin/blog/post/").await;
    for i in 0..60 {
        seed_post(&app, uid, &format!("Many {i}"), "published").await;
    }
    let (large, s2) = root.queries_for("/admin/blog/post/").await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200));
    assert_eq!(small, large, "statements must not grow with the rows shown");
}

async fn select_across_publishes_every_matching_post(app: TestApp) {
    let editor = superuser(&app, "editor").await;
    let uid = user_id(&app, "editor").await;
    let other = app.user("writer", &[], false).await;
    drop(other);
    let wid = user_id(&app, "writer").await;
    for i in 0..105 {
        seed_post(&app, wid, &format!("Draft {i}"), "draft").await;
    }
    let keep = seed_post(&app, uid, "Editor's own draft", "draft").await;
    let list = format!("/admin/blog/post/?author_id={wid}");
    let html = editor.get_text(&list).await;
    assert!(
        html.contains("Select all 105 posts"),
        "offered across pages"
    );
    let resp = editor
        .post_form_from(
            &list,
            &list,
            &[("action", "publish"), ("select_across", "1")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), list, "back to the same list");
    let published = scalar(
        &app,
        "SELECT COUNT(*) AS n FROM blog_posts WHERE status = 'published' AND published_at IS NOT NULL",
    )
    .await;
    assert_eq!(published, 105, "every matching post, beyond the first page");
    let after = editor.get_text(&list).await;
    assert!(after.contains("105 posts changed"), "told how many");
    assert_eq!(
        scalar(
            &app,
            &format!("SELECT COUNT(*) AS n FROM blog_posts WHERE id = {keep} AND status = 'draft'")
        )
        .await,
        1,
        "outside the filter, left alone"
    );

    // The selected rows only.
    let resp = editor
        .post_form_from(
            "/admin/blog/post/",
            "/admin/blog/post/",
            &[("action", "publish"), ("_selected", &keep.to_string())],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM blog_posts WHERE status = 'draft'"
        )
        .await,
        0
    );
    // Nothing selected is said, not done.
    let resp = editor
        .post_form_from(
            "/admin/blog/post/",
            "/admin/blog/post/",
            &[("action", "unpublish")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert!(
        editor
            .get_text("/admin/blog/post/")
            .await
            .contains("Items must be selected")
    );
    let resp = editor
        .post_form_from(
            "/admin/blog/post/",
            "/admin/blog/post/",
            &[("action", "explode"), ("_selected", "1")],
        )
        .await;
    assert_eq!(resp.status(), 400);
}

async fn deleting_shows_the_cascade_then_deletes(app: TestApp) {
    let root = superuser(&app, "root").await;
    let uid = user_id(&app, "root").await;
    let post = seed_post(&app, uid, "Doomed", "published").await;
    let spare = seed_post(&app, uid, "Spared", "published").await;
    for body in ["first", "second"] {
        app.state
            .db
            .execute_raw(Statement::from_sql_and_values(
                app.state.db.get_database_backend(),
                "INSERT INTO blog_comments (post_id, author_id, body, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4)",
                [
                    post.into(),
                    uid.into(),
                    body.into(),
                    chrono::Utc::now().into(),
                ],
            ))
            .await
            .unwrap();
    }
    let page = format!("/admin/blog/post/{post}/delete/");
    let html = root.get_text(&page).await;
    assert!(html.contains("Doomed"));
    let cascades = &html[html
        .find("data-testid=\"cascades\"")
        .expect("cascades listed")..];
    assert!(cascades.contains("Comments"), "{cascades}");
    assert!(cascades.contains(">2<"), "two comments go with it");
    let resp = root.post_form_from(&page, &page, &[]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/admin/blog/post/");
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM blog_comments").await,
        0
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM blog_posts").await,
        1
    );

    // Bulk: the same confirmation, then the deletion.
    let resp = root
        .post_form_from(
            "/admin/blog/post/",
            "/admin/blog/post/",
            &[
                ("action", "delete_selected"),
                ("_selected", &spare.to_string()),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200, "asks first");
    let html = resp.text().await.unwrap();
    assert!(html.contains("Are you sure?") && html.contains("Spared"));
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM blog_posts").await,
        1
    );
    let resp = root
        .post_form_from(
            "/admin/blog/post/",
            "/admin/blog/post/",
            &[
                ("action", "delete_selected"),
                ("_selected", &spare.to_string()),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM blog_posts").await,
        0
    );
}

async fn form_errors_keep_the_typed_values_and_name_the_field(app: TestApp) {
    let root = superuser(&app, "root").await;
    let uid = user_id(&app, "root").await.to_string();
    let resp = root
        .post_form_from(
            "/admin/blog/post/add/",
            "/admin/blog/post/add/",
            &[
                ("author_id", &uid),
                ("title", "   "),
                ("description", "A typed description"),
                ("body", "Typed *body*"),
                ("status", "draft"),
                ("_save", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("data-testid=\"error-summary\""));
    assert!(html.contains("err_title"), "the error sits by the title");
    assert!(html.contains("value=\"A typed description\""));
    assert!(html.contains("Typed *body*"));
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM blog_posts").await,
        0
    );

    // A value outside the choices is named too.
    let resp = root
        .post_form_from(
            "/admin/blog/post/add/",
            "/admin/blog/post/add/",
            &[
                ("author_id", &uid),
                ("title", "Fine"),
                ("body", "b"),
                ("status", "shouting"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("err_status"));

    // Saved, then a bad slug on change keeps the other typed values.
    let resp = root
        .post_form_from(
            "/admin/blog/post/add/",
            "/admin/blog/post/add/",
            &[
                ("author_id", &uid),
                ("title", "Good title"),
                ("body", "b"),
                ("status", "draft"),
                ("_continue", "1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let change = location(&resp);
    assert!(change.ends_with("/change/"), "{change}");
    let resp = root
        .post_form_from(
            &change,
            &change,
            &[
                ("author_id", &uid),
                ("title", "Retitled"),
                ("slug", "not a slug!"),
                ("body", "b"),
                ("status", "draft"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("err_slug"));
    assert!(html.contains("value=\"Retitled\""));
    assert!(html.contains("value=\"not a slug!\""));
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM blog_posts WHERE title = 'Good title'"
        )
        .await,
        1,
        "nothing half-written"
    );
}

async fn a_unique_violation_is_shown_on_its_field(app: TestApp) {
    let root = superuser(&app, "root").await;
    let add = "/admin/blog/tag/add/";
    let resp = root.post_form_from(add, add, &[("name", "rust")]).await;
    assert_eq!(resp.status(), 303);
    let resp = root.post_form_from(add, add, &[("name", "rust")]).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("err_name"), "the error is on the name field");
    assert!(html.contains("value=\"rust\""));
    assert_eq!(scalar(&app, "SELECT COUNT(*) AS n FROM blog_tags").await, 1);
}

async fn concurrent_adds_of_one_name_save_once_and_refuse_the_rest(app: TestApp) {
    let root = superuser(&app, "root").await;
    let add = "/admin/blog/tag/add/";
    let token = root.csrf_token(add).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = root.client.clone();
        let url = root.url(add);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[("csrf_token", token.as_str()), ("name", "racing")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 422),
        "{statuses:?}"
    );
    assert_eq!(scalar(&app, "SELECT COUNT(*) AS n FROM blog_tags").await, 1);
}

async fn history_keeps_add_change_and_delete(app: TestApp) {
    let root = superuser(&app, "root").await;
    let add = "/admin/blog/tag/add/";
    let resp = root
        .post_form_from(add, add, &[("name", "first"), ("_continue", "1")])
        .await;
    assert_eq!(resp.status(), 303);
    let change = location(&resp);
    let resp = root
        .post_form_from(&change, &change, &[("name", "second")])
        .await;
    assert_eq!(resp.status(), 303);
    let history = change.replace("/change/", "/history/");
    let html = root.get_text(&history).await;
    assert!(html.contains("history-add") && html.contains("history-change"));
    assert!(html.contains("root"), "who did it");
    let delete = change.replace("/change/", "/delete/");
    assert_eq!(
        root.post_form_from(&delete, &delete, &[]).await.status(),
        303
    );
    let html = root.get_text(&history).await;
    assert!(html.contains("history-delete"), "kept after deletion");
    assert_eq!(html.matches("<tr class=\"history-").count(), 3);
    // The index lists them as the user's recent actions.
    let index = root.get_text("/admin/").await;
    assert!(index.contains("recent-delete") && index.contains("second"));
}

async fn csv_export_holds_the_filtered_rows_and_defuses_formulas(app: TestApp) {
    let root = superuser(&app, "root").await;
    let uid = user_id(&app, "root").await;
    seed_post(
        &app,
        uid,
        "=HYPERLINK(\"http://evil.example\")",
        "published",
    )
    .await;
    seed_post(&app, uid, "Commas, \"quotes\" and more", "published").await;
    seed_post(&app, uid, "Hidden draft", "draft").await;
    let resp = root
        .get("/admin/blog/post/?status=published&export=csv")
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let body = resp.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 3, "header and two rows: {body}");
    assert!(lines[0].starts_with("Title,Author,Status"), "{}", lines[0]);
    assert!(
        body.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{body}"
    );
    assert!(
        body.contains("\"Commas, \"\"quotes\"\" and more\""),
        "{body}"
    );
    assert!(body.contains(",root,"), "authors by name: {body}");
    assert!(body.contains("Published"));
    assert!(!body.contains("Hidden draft"));
}

async fn making_a_user_an_author_through_the_admin_lets_them_write(app: TestApp) {
    let root = superuser(&app, "root").await;
    let writer = app.user("writer", &[], false).await;
    assert_eq!(writer.get("/blog/new/").await.status(), 403);
    let wid = user_id(&app, "writer").await;
    let authors = trellis::accounts::models::find_group(&app.state.db, "authors")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let change = format!("/admin/accounts/user/{wid}/change/");
    let form = root.get_text(&change).await;
    assert!(form.contains("name=\"groups\""), "groups are editable");
    assert!(form.contains("name=\"user_permissions\""));
    assert!(form.contains("name=\"is_staff\"") && form.contains("name=\"is_superuser\""));
    assert!(form.contains("type=\"password\""));
    let resp = root
        .post_form_from(
            &change,
            &change,
            &[
                ("username", "writer"),
                ("email", "writer@example.com"),
                ("password_hash", ""),
                ("display_name", "Wren Writer"),
                ("is_active", "true"),
                ("groups", &authors),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    assert_eq!(
        writer.get("/blog/new/").await.status(),
        200,
        "an author now; the password was kept, so the session lives on"
    );
    let html = root.get_text(&change).await;
    assert!(html.contains("Wren Writer"));
    assert!(
        !html.contains("name=\"password_hash\" value"),
        "never shown"
    );

    // The group's permission matrix is editable in the admin too.
    let group = root
        .get_text(&format!("/admin/accounts/group/{authors}/change/"))
        .await;
    assert!(group.contains("name=\"permissions\""));
    assert!(
        group.contains("data-perm-matrix"),
        "a models × actions matrix"
    );
    assert!(group.contains("aria-label=\"blog.view_post\""));
    assert!(
        group.contains("blog.publish_post"),
        "the app's own permissions too"
    );

    // Ticking boxes of the matrix is what the group then holds; unticked ones are taken away.
    let perm_id = |code: &'static str| {
        let app = &app;
        async move {
            scalar(
                app,
                &format!("SELECT id AS n FROM auth_permissions WHERE codename = '{code}'"),
            )
            .await
            .to_string()
        }
    };
    let view = perm_id("blog.view_comment").await;
    let delete = perm_id("blog.delete_comment").await;
    let change_url = format!("/admin/accounts/group/{authors}/change/");
    let resp = root
        .post_form_from(
            &change_url,
            &change_url,
            &[
                ("name", "authors"),
                ("permissions", view.as_str()),
                ("permissions", delete.as_str()),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "saved");
    let held = scalar(
        &app,
        &format!("SELECT COUNT(*) AS n FROM auth_group_permissions WHERE group_id = {authors}"),
    )
    .await;
    assert_eq!(held, 2, "exactly the two ticked permissions");
    let group = root.get_text(&change_url).await;
    let boxed = |id: &str| {
        let at = group
            .find(&format!("name=\"permissions\" value=\"{id}\""))
            .expect("a box per permission");
        group[at..at + group[at..].find('>').unwrap()].contains("checked")
    };
    assert!(
        boxed(&view) && boxed(&delete),
        "ticked boxes show as ticked"
    );
    assert!(!boxed(&perm_id("blog.view_post").await), "the rest do not");
}

async fn a_users_password_is_set_through_the_password_rules(app: TestApp) {
    let root = superuser(&app, "root").await;
    let add = "/admin/accounts/user/add/";
    let resp = root
        .post_form_from(
            add,
            add,
            &[
                ("username", "newbie"),
                ("email", "newbie@example.com"),
                ("password_hash", "123"),
                ("is_active", "true"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("err_password_hash"),
        "the rules speak on the field"
    );
    assert!(html.contains("value=\"newbie\""));
    let resp = root
        .post_form_from(
            add,
            add,
            &[
                ("username", "newbie"),
                ("email", "newbie@example.com"),
                ("password_hash", "amber-lantern-orbit-77"),
                ("is_active", "true"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let fresh = app.fork();
    assert_eq!(
        fresh
            .login("newbie", "amber-lantern-orbit-77")
            .await
            .status(),
        303
    );
    // A duplicate username is refused on its field.
    let resp = root
        .post_form_from(
            add,
            add,
            &[
                ("username", "NEWBIE"),
                ("email", "other@example.com"),
                ("password_hash", "amber-lantern-orbit-77"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("err_username"));
}

async fn the_picker_answers_json_to_those_who_may_pick(app: TestApp) {
    let root = superuser(&app, "root").await;
    for name in ["alice", "alicia", "bob"] {
        drop(app.user(name, &[], false).await);
    }
    let resp = root.get("/admin/accounts/user/autocomplete/?q=ali").await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let names: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"alice") && names.contains(&"alicia"),
        "{body}"
    );
    assert!(!names.contains(&"bob"));
    assert_eq!(body["total"], 2);
    let alice = user_id(&app, "alice").await.to_string();
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == alice.as_str())
    );
    // A staff member who may add posts may pick their author without viewing users.
    let poster = staff_with(&app, "poster", &["blog.add_post"]).await;
    assert_eq!(
        poster
            .get("/admin/accounts/user/autocomplete/?q=a")
            .await
            .status(),
        200
    );
    let nobody = staff_with(&app, "nobody", &[]).await;
    assert_eq!(
        nobody
            .get("/admin/accounts/user/autocomplete/?q=a")
            .await
            .status(),
        403
    );
}

async fn a_cover_uploaded_through_the_admin_is_checked_like_the_blogs(app: TestApp) {
    let root = superuser(&app, "root").await;
    let uid = user_id(&app, "root").await;
    let post = seed_post(&app, uid, "Covered", "draft").await;
    let change = format!("/admin/blog/post/{post}/change/");
    let form = root.get_text(&change).await;
    assert!(form.contains("enctype=\"multipart/form-data\""));
    let uid = uid.to_string();
    let fields = [
        ("author_id", uid.as_str()),
        ("title", "Covered"),
        ("body", "b"),
        ("status", "draft"),
    ];
    let resp = root
        .post_multipart(
            &change,
            &change,
            &fields,
            Some(("cover", b"<html>not an image</html>".to_vec(), "cover.png")),
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("err_cover"));
    assert!(
        app.state.storage.list("covers").await.unwrap().is_empty(),
        "nothing stored"
    );

    let resp = root
        .post_multipart(
            &change,
            &change,
            &fields,
            Some(("cover", png_bytes(800, 400), "good.png")),
        )
        .await;
    assert_eq!(resp.status(), 303);
    let covers = app.state.storage.list("covers").await.unwrap();
    assert_eq!(covers.len(), 2, "the cover and its thumbnail: {covers:?}");
    let html = root.get_text(&change).await;
    let thumb = covers.iter().find(|k| k.contains(".thumb.")).unwrap();
    assert!(html.contains(&format!("/media/{thumb}")), "thumbnail shown");
}

/// An editor signs in to the admin, makes a user an author, filters the posts, publishes one with a
/// bulk action and finds that in the post's history.
#[tokio::test]
async fn an_editor_runs_the_admin_in_a_browser() {
    use crate::browser::{driver, screenshot};
    use fantoccini::Locator;
    let Some(driver) = driver().await else {
        return;
    };
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite, None, &[]).await;
    drop(
        staff_with(
            &app,
            "edna",
            &[
                "accounts.view_user",
                "accounts.change_user",
                "blog.view_post",
                "blog.change_post",
                "blog.moderate_post",
            ],
        )
        .await,
    );
    let writer = app.user("writer", &[], false).await;
    let wid = user_id(&app, "writer").await;
    seed_post(&app, wid, "Already out", "published").await;
    let draft = seed_post(&app, wid, "Waiting draft", "draft").await;
    let authors = trellis::accounts::models::find_group(&app.state.db, "authors")
        .await
        .unwrap()
        .unwrap()
        .id;
    let c = &driver.client;

    // The admin sends her to the login page and back.
    c.goto(&app.url("/admin/")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#id_login"))
        .await
        .unwrap()
        .send_keys("edna")
        .await
        .unwrap();
    c.find(Locator::Css("#id_password"))
        .await
        .unwrap()
        .send_keys(crate::helpers::TEST_PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("form.form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("[data-testid=recent-actions]"))
        .await
        .unwrap();
    assert!(c.current_url().await.unwrap().path() == "/admin/");
    screenshot(c, "admin-index").await;

    // Make the writer an author: the groups list is a dual list with JavaScript.
    c.goto(&app.url(&format!("/admin/accounts/user/{wid}/change/")))
        .await
        .unwrap();
    let available = c
        .wait()
        .for_element(Locator::Css("[data-field=groups] .dual-available"))
        .await
        .unwrap();
    available
        .select_by_value(&authors.to_string())
        .await
        .unwrap();
    c.find(Locator::Css("[data-field=groups] [data-add]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let chosen = c
        .find(Locator::Css("[data-field=groups] .dual-chosen"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chosen.contains("authors"), "{chosen}");
    screenshot(c, "admin-change-form").await;
    c.find(Locator::Css("button[name=_save]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css(".message-success"))
        .await
        .unwrap();
    assert_eq!(
        writer.get("/blog/new/").await.status(),
        200,
        "now an author"
    );

    // Filter the posts to drafts, select the draft, publish it.
    c.goto(&app.url("/admin/blog/post/")).await.unwrap();
    c.wait()
        .for_element(Locator::XPath(
            "//aside[contains(@class,'admin-filters')]//a[normalize-space()='Draft']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("li.selected a[href*='status=draft']"))
        .await
        .unwrap();
    let count = c
        .find(Locator::Css("[data-testid=result-count]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count.trim(), "1 post");
    screenshot(c, "admin-change-list").await;
    c.find(Locator::Css("input[data-select-all]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("#id_action"))
        .await
        .unwrap()
        .select_by_value("publish")
        .await
        .unwrap();
    c.find(Locator::Css("[data-testid=run-action]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let msg = c
        .wait()
        .for_element(Locator::Css(".message-success"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(msg.contains("1 post changed"), "{msg}");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM blog_posts WHERE status = 'published'"
        )
        .await,
        2
    );

    // The post's history shows the action.
    c.goto(&app.url(&format!("/admin/blog/post/{draft}/change/")))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("[data-testid=history-link]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let history = c
        .wait()
        .for_element(Locator::Css("[data-testid=history]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains("Publish selected posts"), "{history}");
    assert!(history.contains("edna"), "{history}");
}
