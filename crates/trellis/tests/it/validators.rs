//! `ETag` and `If-None-Match`: a client that already holds an answer gets 304 without it, and any write
//! that changes the answer changes its validator, on API and pages alike.

use reqwest::header::{ACCEPT_ENCODING, ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;

db_tests! {
    a_held_answer_is_304_until_a_write_changes_it ["password_validators" = "length", "blog_open_authoring" = "true"];
    only_successful_reads_carry_a_validator;
    json_and_html_are_compressed_with_brotli_or_gzip;
    the_debug_toolbar_profiles_development_answers_only;
}

async fn get(app: &TestApp, path: &str, tag: Option<&str>, gzip: bool) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = tag {
        req = req.header(IF_NONE_MATCH, t);
    }
    if gzip {
        req = req.header(ACCEPT_ENCODING, "gzip");
    }
    req.send().await.unwrap()
}

fn etag(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(ETAG)
        .unwrap_or_else(|| panic!("no ETag on {} {}", resp.status(), resp.url()))
        .to_str()
        .unwrap()
        .to_string()
}

async fn a_held_answer_is_304_until_a_write_changes_it(app: TestApp) {
    let token = app.api_user("tagger").await;
    app.api_article(&token, "First", &["x"]).await;
    for path in ["/api/articles?limit=20", "/api/tags", "/blog/"] {
        let first = get(&app, path, None, false).await;
        assert_eq!(first.status(), 200, "{path}");
        let tag = etag(&first);
        assert!(tag.starts_with("W/\""), "{path}: {tag}");

        let again = get(&app, path, Some(&tag), false).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(etag(&again), tag);
        assert!(again.bytes().await.unwrap().is_empty(), "{path}: no body");

        // The compressed form is the same representation: its validator matches too.
        let zipped = get(&app, path, Some(&tag), true).await;
        assert_eq!(zipped.status(), StatusCode::NOT_MODIFIED, "{path} gzip");
        let listed = format!("\"something-else\", {tag}");
        assert_eq!(
            get(&app, path, Some(&listed), false).await.status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            get(&app, path, Some("\"stale\""), false).await.status(),
            200
        );
    }
    let tags: Vec<String> = {
        let mut out = Vec::new();
        for path in ["/api/articles?limit=20", "/api/tags", "/blog/"] {
            out.push(etag(&get(&app, path, None, false).await));
        }
        out
    };
    app.api_article(&token, "Second", &["y"]).await;
    for (path, old) in ["/api/articles?limit=20", "/api/tags", "/blog/"]
        .into_iter()
        .zip(tags)
    {
        let resp = get(&app, path, Some(&old), false).await;
        assert_eq!(resp.status(), 200, "{path} changed after a write");
        assert_ne!(etag(&resp), old, "{path}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("Second") || body.contains('y'), "{path}");
    }
}

async fn only_successful_reads_carry_a_validator(app: TestApp) {
    let missing = get(&app, "/api/articles/no-such-article", None, false).await;
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().get(ETAG).is_none());
    // A write is never answered 304, whatever it sends.
    let (status, _) = app
        .api(
            Method::POST,
            "/api/users/login",
            None,
            Some(serde_json::json!({"user": {"email": "a@b.c", "password": "x"}})),
        )
        .await;
    assert_ne!(status, 304);
    let resp = app
        .client
        .post(app.url("/api/users/login"))
        .header(IF_NONE_MATCH, "*")
        .json(&serde_json::json!({"user": {"email": "a@b.c", "password": "x"}}))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 304);
    assert!(resp.headers().get(ETAG).is_none());
}

async fn json_and_html_are_compressed_with_brotli_or_gzip(app: TestApp) {
    use reqwest::header::CONTENT_ENCODING;
    // The test client decodes nothing itself, so what arrives is what was sent.
    for path in ["/api/openapi.json", "/"] {
        let plain = get(&app, path, None, false).await;
        assert!(plain.headers().get(CONTENT_ENCODING).is_none(), "{path}");
        let size = plain.bytes().await.unwrap().len();
        for (accept, coding) in [
            ("br", "br"),
            ("gzip", "gzip"),
            ("br;q=1.0, gzip;q=0.5", "br"),
        ] {
            let resp = app
                .client
                .get(app.url(path))
                .header(ACCEPT_ENCODING, accept)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(
                resp.headers()
                    .get(CONTENT_ENCODING)
                    .map(|v| v.to_str().unwrap()),
                Some(coding),
                "{path} with {accept}"
            );
            let sent = resp.bytes().await.unwrap().len();
            assert!(
                sent < size,
                "{path}: {sent} bytes {coding} for {size} plain"
            );
        }
    }
}

async fn the_debug_toolbar_profiles_development_answers_only(app: TestApp) {
    let page = app.get("/blog/").await;
    let timing = page.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        timing.starts_with("sql;desc=\"")
            && timing.contains("render;")
            && timing.contains("total;dur="),
        "{timing}"
    );
    let html = page.text().await.unwrap();
    let panel = &html[html
        .find("id=\"debug-toolbar\"")
        .expect("the panel is on the page")..];
    assert!(panel.contains("SELECT") && panel.contains(" ms"), "{panel}");
    assert!(
        html.trim_end().ends_with("</html>"),
        "the panel goes inside the body"
    );

    let api = app.get("/api/tags").await;
    assert!(api.headers().contains_key("server-timing"));
    let body: serde_json::Value = api.json().await.unwrap();
    assert!(body["tags"].is_array(), "JSON answers are left whole");

    let key = "k".repeat(40);
    let refused = trellis::Settings::from_pairs(&[
        ("env", "production"),
        ("secret_key", &key),
        ("debug_toolbar", "true"),
    ])
    .unwrap_err()
    .to_string();
    assert!(refused.contains("TRELLIS_DEBUG_TOOLBAR"), "{refused}");
    let production = app
        .sibling(&[("env", "production"), ("secret_key", &key)])
        .await;
    let page = production.get("/blog/").await;
    assert_eq!(page.status(), 200);
    assert!(!page.headers().contains_key("server-timing"));
    assert!(!page.text().await.unwrap().contains("debug-toolbar"));
}
