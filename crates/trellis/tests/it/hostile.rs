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
