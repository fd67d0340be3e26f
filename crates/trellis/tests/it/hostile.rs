//! Inputs an attacker or a careless client sends: numbers past every range, NUL characters, over-long
//! values, redirects off the site, credentials that are not ours. Each gets a clear 4xx naming what was
//! wrong, the same on both databases, and nothing is stored.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, location};

db_tests! {
    huge_page_numbers_and_offsets_are_refused_by_name ["password_validators" = "length", "blog_open_authoring" = "true"];
    nul_characters_are_refused_wherever_they_come_from ["password_validators" = "length", "blog_open_authoring" = "true"];
    todo_positions_are_bounded_and_lists_survive ["password_validators" = "length"];
    over_long_values_are_refused_not_cut ["password_validators" = "length"];
    login_next_only_leads_to_this_site;
    a_credential_other_than_ours_does_not_skip_csrf;
    updating_the_user_tells_null_from_absent ["password_validators" = "length"];
    quotas_hold_under_concurrent_requests ["password_validators" = "length", "throttle" = "off",
        "job_workers" = "0", "quota_datasets" = "3", "quota_active_jobs" = "2", "quota_models" = "1",
        "quota_api_tokens" = "4"];
    a_password_reset_revokes_personal_tokens_a_change_keeps_them ["password_validators" = "length"];
    malformed_ids_in_paths_are_404_in_every_app ["password_validators" = "length", "blog_open_authoring" = "true"];
}

fn errors_of(body: &Value) -> String {
    body["errors"].to_string()
}

async fn huge_page_numbers_and_offsets_are_refused_by_name(app: TestApp) {
    let token = app.api_user("pager").await;
    for path in [
        "/api/roadmaps",
        "/api/sentiment/datasets",
        "/api/sentiment/jobs",
        "/api/todos",
        "/api/tokens",
    ] {
        let (status, body) = app
            .api(
                Method::GET,
                &format!("{path}?page=9223372036854775807"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["errors"]["page"].is_array(), "{path}: {body}");
        // The largest accepted page is simply past the end.
        let (status, _) = app
            .api(
                Method::GET,
                &format!("{path}?page=1000000000"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, body) = app
        .api(
            Method::GET,
            "/api/articles?offset=9223372036854775808",
            None,
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"]["offset"].is_array(), "{body}");
    let (status, body) = app
        .api(
            Method::GET,
            "/api/articles?offset=9223372036854775807",
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["articles"], json!([]));
    for path in [
        "/blog/?page=9223372036854775807",
        "/todos?page=9223372036854775807",
    ] {
        let resp = app.get(path).await;
        assert!(
            resp.status() == 404 || resp.status() == 303,
            "{path}: {}",
            resp.status()
        );
    }
}

async fn nul_characters_are_refused_wherever_they_come_from(app: TestApp) {
    let token = app.api_user("nully").await;
    // In the path and the query, on public pages and API routes alike.
    for path in [
        "/blog/a%00b/",
        "/api/articles/a%00b",
        "/api/profiles/x%00y",
        "/accounts/users/x%00/",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 400, "{path}");
    }
    for (path, param) in [
        ("/api/articles?tag=a%00", "tag"),
        ("/api/articles?author=%00", "author"),
        ("/blog/search/?q=x%00", "q"),
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["errors"][param].is_array(), "{path}: {body}");
    }
    // Inside JSON strings: refused naming the field, nothing stored.
    let (status, body) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&token),
            Some(json!({"article": {"title": "a\u{0}b", "description": "d", "body": "b"}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["title"].is_array(), "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            "/api/todos",
            Some(&token),
            Some(json!({"title": "ok", "description": "x\u{0}"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["description"].is_array(), "{body}");
    let (_, list) = app.api(Method::GET, "/api/articles", None, None).await;
    assert_eq!(list["articlesCount"], 0);
    let (_, todos) = app.api(Method::GET, "/api/todos", Some(&token), None).await;
    assert_eq!(todos["count"], 0);
    // An escaped backslash before "u0000" is ordinary text.
    let (status, body) = app
        .api(
            Method::POST,
            "/api/todos",
            Some(&token),
            Some(json!({"title": "a\\u0000b"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["title"], "a\\u0000b");
    // In a url-encoded form and in a multipart form.
    let web = app.user("formy", &["authors"], false).await;
    let resp = web
        .post_form_from("/todos", "/todos", &[("title", "x\u{0}y")])
        .await;
    assert_eq!(resp.status(), 422);
    let resp = web
        .post_multipart(
            "/blog/new/",
            "/blog/new/",
            &[("title", "T\u{0}"), ("body", "b"), ("action", "save")],
            None,
        )
        .await;
    assert_eq!(resp.status(), 422);
    let (_, todos) = app.api(Method::GET, "/api/todos", Some(&token), None).await;
    assert_eq!(todos["count"], 1, "only the plain task is stored");
}

async fn todo_positions_are_bounded_and_lists_survive(app: TestApp) {
    let token = app.api_user("positions").await;
    for p in [i64::MAX, i64::MIN, 1_000_000_001] {
        let (status, body) = app
            .api(
                Method::POST,
                "/api/todos",
                Some(&token),
                Some(json!({"title": "far", "position": p})),
            )
            .await;
        assert_eq!(status, 422, "{p}: {body}");
        assert!(body["errors"]["position"].is_array(), "{body}");
    }
    let (status, body) = app
        .api(
            Method::POST,
            "/api/todos",
            Some(&token),
            Some(json!({"title": "last", "position": 1_000_000_000})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            "/api/todos",
            Some(&token),
            Some(json!({"title": "after"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["position"], 1_000_000_001i64);
    let (status, list) = app.api(Method::GET, "/api/todos", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);
}

async fn over_long_values_are_refused_not_cut(app: TestApp) {
    let token = app.api_user("longish").await;
    let long_title = "T".repeat(10_000);
    let (status, body) = app
        .api(
            Method::POST,
            "/api/roadmaps",
            Some(&token),
            Some(json!({"title": long_title, "markdown": "# Plan\n\n## Week 1\n- Day 1: start\n"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"]["title"].is_array(), "{body}");
    let (_, list) = app
        .api(Method::GET, "/api/roadmaps", Some(&token), None)
        .await;
    assert_eq!(list["count"], 0);

    // A dataset whose file name is long: the derived name is refused by name, an over-long file name too.
    for (filename, field) in [
        (format!("{}.csv", "n".repeat(230)), "name"),
        (format!("{}.csv", "f".repeat(300)), "file"),
    ] {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"text,label\ngood,1\nbad,0\n".to_vec())
                .file_name(filename.clone()),
        );
        let resp = app
            .client
            .post(app.url("/api/sentiment/datasets"))
            .header("Authorization", format!("Token {token}"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{}", filename.len());
        let body: Value = resp.json().await.unwrap();
        assert!(body["errors"][field].is_array(), "{body}");
    }
    let (_, list) = app
        .api(Method::GET, "/api/sentiment/datasets", Some(&token), None)
        .await;
    assert_eq!(list["count"], 0, "{list}");
}

async fn login_next_only_leads_to_this_site(app: TestApp) {
    app.signed_up("wanderer").await;
    app.logout().await;
    for (next, expected) in [
        ("/\t/evil.example/", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("//evil.example", "/"),
        ("/ok\r\nSet-Cookie: stolen=1", "/"),
        ("https://evil.example/", "/"),
        ("/accounts/profile/", "/accounts/profile/"),
    ] {
        let resp = app
            .post_form(
                "/accounts/login/",
                &[
                    ("login", "wanderer"),
                    ("password", crate::helpers::TEST_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(resp.status(), 303, "{next:?}");
        assert_eq!(location(&resp), expected, "{next:?}");
        assert!(
            resp.headers()
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap_or("").contains("stolen"))
        );
        app.logout().await;
    }
    // The login page does not carry a foreign `next` into its form either.
    let html = app
        .get_text("/accounts/login/?next=%2F%09%2Fevil.example%2F")
        .await;
    assert!(!html.contains("evil.example"), "{html}");
}

async fn a_credential_other_than_ours_does_not_skip_csrf(app: TestApp) {
    let web = app.user("cookie", &[], false).await;
    let task = json!({"title": "forged"});
    for (auth, expected) in [
        (Some("Basic Zm9vOmJhcg=="), 403),
        (Some("Digest x"), 403),
        (Some(""), 403),
        (None, 403),
        (Some("Token not-a-real-token"), 401),
        (Some("Bearer "), 401),
    ] {
        let mut req = web.client.post(web.url("/api/todos")).json(&task);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), expected, "{auth:?}");
    }
    // The same with a multipart upload.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"text\nhello\n".to_vec()).file_name("a.csv"),
    );
    let resp = web
        .client
        .post(web.url("/api/sentiment/datasets"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // With the CSRF header the session does authenticate, whatever foreign scheme rides along.
    let token = web.csrf_token("/").await;
    let resp = web
        .client
        .post(web.url("/api/todos"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .header("x-csrf-token", token)
        .json(&task)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = web.client.get(web.url("/api/todos")).send().await.unwrap();
    let list: Value = resp.json().await.unwrap();
    assert_eq!(
        list["count"], 1,
        "only the request with the token was stored"
    );
}

async fn updating_the_user_tells_null_from_absent(app: TestApp) {
    let token = app.api_user("nullable").await;
    let put = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.api(Method::PUT, "/api/user", Some(&token), Some(body))
                .await
        }
    };
    let (status, body) =
        put(json!({"user": {"bio": "I write", "image": "https://example.com/me.png"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["bio"], "I write");
    // Leaving fields out changes nothing.
    let (_, body) = put(json!({"user": {}})).await;
    assert_eq!(body["user"]["bio"], "I write");
    assert_eq!(body["user"]["image"], "https://example.com/me.png");
    // An explicit null clears.
    let (status, body) = put(json!({"user": {"bio": null, "image": null}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["bio"], Value::Null);
    assert_eq!(body["user"]["image"], Value::Null);
    let (_, me) = app.api(Method::GET, "/api/user", Some(&token), None).await;
    assert_eq!(me["user"]["bio"], Value::Null);
    assert_eq!(me["user"]["image"], Value::Null);
    // Names and addresses cannot be null or blank.
    for (field, value) in [
        ("username", Value::Null),
        ("username", json!("")),
        ("email", Value::Null),
        ("email", json!("")),
        ("password", Value::Null),
    ] {
        let (status, body) = put(json!({"user": {field: value}})).await;
        assert_eq!(status, 422, "{field}={value}: {body}");
        assert!(
            body["errors"][field].is_array(),
            "{field}: {}",
            errors_of(&body)
        );
    }
    let (_, me) = app.api(Method::GET, "/api/user", Some(&token), None).await;
    assert_eq!(me["user"]["username"], "nullable");
}

/// Sends `n` copies of a request at once and returns their statuses.
async fn at_once<F, Fut>(n: usize, make: F) -> Vec<u16>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    futures_util::future::join_all((0..n).map(make)).await
}

fn tally(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn quotas_hold_under_concurrent_requests(app: TestApp) {
    let token = app.api_user("quota").await;
    let mut csv = String::from("text,label\n");
    for i in 0..40 {
        csv.push_str(&format!(
            "great fun number {i},1\nawful bore number {i},0\n"
        ));
    }
    let csv = csv.into_bytes();
    let uploads = at_once(12, |i| {
        let (app, token, csv) = (&app, token.clone(), csv.clone());
        async move {
            let form = reqwest::multipart::Form::new()
                .text("name", format!("set-{i}"))
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(csv).file_name("a.csv"),
                );
            app.client
                .post(app.url("/api/sentiment/datasets"))
                .header("Authorization", format!("Token {token}"))
                .multipart(form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;
    assert_eq!(
        (tally(&uploads, 201), tally(&uploads, 422)),
        (3, 9),
        "{uploads:?}"
    );
    let (_, sets) = app
        .api(Method::GET, "/api/sentiment/datasets", Some(&token), None)
        .await;
    assert_eq!(sets["count"], 3);
    let dataset = sets["results"][0]["id"].as_i64().unwrap();
    let (status, body) = app
        .api(Method::POST, "/api/sentiment/datasets", Some(&token), None)
        .await;
    assert!((400..500).contains(&status), "{status} {body}");

    // Two training jobs race for the one model allowed; then the active-job limit holds.
    let trains = at_once(6, |i| {
        let (app, token) = (&app, token.clone());
        async move {
            app.api(
                Method::POST,
                "/api/sentiment/jobs",
                Some(&token),
                Some(json!({"kind": "train", "dataset": dataset, "name": format!("m{i}")})),
            )
            .await
            .0
        }
    })
    .await;
    assert_eq!(
        (tally(&trains, 202), tally(&trains, 422)),
        (1, 5),
        "{trains:?}"
    );
    let analyses = at_once(6, |_| {
        let (app, token) = (&app, token.clone());
        async move {
            app.api(
                Method::POST,
                "/api/sentiment/jobs",
                Some(&token),
                Some(json!({"kind": "analyze", "dataset": dataset})),
            )
            .await
            .0
        }
    })
    .await;
    assert_eq!(
        (tally(&analyses, 202), tally(&analyses, 422)),
        (1, 5),
        "{analyses:?}"
    );
    let (status, body) = app
        .api(
            Method::POST,
            "/api/sentiment/jobs",
            Some(&token),
            Some(json!({"kind": "analyze", "dataset": dataset})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body["errors"]["kind"][0]
            .as_str()
            .unwrap()
            .contains("2 jobs"),
        "{body}"
    );
    let (_, jobs) = app
        .api(Method::GET, "/api/sentiment/jobs", Some(&token), None)
        .await;
    assert_eq!(jobs["count"], 2);

    let tokens = at_once(12, |i| {
        let (app, token) = (&app, token.clone());
        async move {
            app.api(
                Method::POST,
                "/api/tokens",
                Some(&token),
                Some(json!({"name": format!("t{i}")})),
            )
            .await
            .0
        }
    })
    .await;
    assert_eq!(
        (tally(&tokens, 201), tally(&tokens, 422)),
        (4, 8),
        "{tokens:?}"
    );
    let (_, list) = app
        .api(Method::GET, "/api/tokens", Some(&token), None)
        .await;
    assert_eq!(list["count"], 4);
}

async fn a_password_reset_revokes_personal_tokens_a_change_keeps_them(app: TestApp) {
    let jwt = app.api_user("recover").await;
    let new_token = |name: &'static str| {
        let (app, jwt) = (&app, jwt.clone());
        async move {
            let (s, body) = app
                .api(
                    Method::POST,
                    "/api/tokens",
                    Some(&jwt),
                    Some(json!({"name": name})),
                )
                .await;
            assert_eq!(s, 201, "{body}");
            body["token"].as_str().unwrap().to_string()
        }
    };
    let kept = new_token("script").await;
    // A password change through the API keeps personal tokens working (JWTs end).
    let (s, body) = app
        .api(
            Method::PUT,
            "/api/user",
            Some(&kept),
            Some(json!({"user": {"password": "another-long-password"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = app.api(Method::GET, "/api/user", Some(&kept), None).await;
    assert_eq!(s, 200, "a changed password keeps personal tokens");
    // A reset by email revokes them.
    let resp = app
        .post_form(
            "/accounts/password/reset/",
            &[("email", "recover@example.com")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let link = crate::accounts::reset_link(&app.sent_emails()[0]);
    let new = "copper-willow-orbit-88";
    let resp = app
        .post_form(&link, &[("new_password1", new), ("new_password2", new)])
        .await;
    assert_eq!(resp.status(), 303);
    let (s, _) = app.api(Method::GET, "/api/user", Some(&kept), None).await;
    assert_eq!(s, 401, "a reset revokes personal tokens");
}

async fn malformed_ids_in_paths_are_404_in_every_app(app: TestApp) {
    let token = app.api_user("prober").await;
    let slug = app.api_article(&token, "Probed", &[]).await["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let bad = ["abc", "0", "-1", "1.5", "99999999999999999999"];
    for id in bad {
        for (method, path, what, body) in [
            (Method::GET, format!("/api/todos/{id}"), "todo", None),
            (Method::DELETE, format!("/api/todos/{id}"), "todo", None),
            (Method::GET, format!("/api/roadmaps/{id}"), "roadmap", None),
            (
                Method::PATCH,
                format!("/api/roadmaps/{id}/items/x"),
                "roadmap",
                Some(json!({"status": "done"})),
            ),
            (
                Method::GET,
                format!("/api/sentiment/datasets/{id}"),
                "dataset",
                None,
            ),
            (
                Method::DELETE,
                format!("/api/sentiment/datasets/{id}"),
                "dataset",
                None,
            ),
            (
                Method::GET,
                format!("/api/sentiment/jobs/{id}"),
                "job",
                None,
            ),
            (Method::DELETE, format!("/api/tokens/{id}"), "token", None),
            (
                Method::DELETE,
                format!("/api/articles/{slug}/comments/{id}"),
                "comment",
                None,
            ),
        ] {
            let (status, answer) = app.api(method.clone(), &path, Some(&token), body).await;
            assert_eq!(
                (status, &answer),
                (404, &json!({"errors": {what: ["not found"]}})),
                "{method} {path}"
            );
        }
    }
    let web = app.user("prober_web", &[], false).await;
    for id in bad {
        for path in [
            format!("/todos/{id}/edit/"),
            format!("/tracker/{id}/"),
            format!("/tracker/{id}/export.md"),
            format!("/sentiment/datasets/{id}/"),
            format!("/sentiment/jobs/{id}/"),
        ] {
            assert_eq!(web.get(&path).await.status(), 404, "GET {path}");
        }
    }
}
