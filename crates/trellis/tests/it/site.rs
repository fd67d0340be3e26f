use crate::helpers::{Backend, TestApp};

db_tests! {
    home_page_leads_to_every_app;
    health_and_readiness_probes_answer;
    responses_carry_security_headers_and_a_request_id;
    unknown_pages_are_404_in_the_layout;
    api_errors_are_json;
    static_assets_have_hashed_names_and_long_cache;
    production_adds_hsts_and_secure_cookies ["env" = "production", "secret_key" = "0123456789abcdef0123456789abcdef-test"];
}

async fn home_page_leads_to_every_app(app: TestApp) {
    let html = app.get_text("/").await;
    for href in [
        "/blog/",
        "/todos",
        "/sentiment/",
        "/tracker/",
        "/shop/",
        "/accounts/login/",
    ] {
        assert!(html.contains(&format!("href=\"{href}\"")), "link to {href}");
    }
    // Every link of the navigation leads to a page.
    assert_eq!(app.get("/shop/").await.status(), 200);
    let blog = app.get_text("/blog/").await;
    assert!(
        blog.contains("href=\"/blog/\" aria-current=\"page\""),
        "the current app is marked in the navigation"
    );
}

async fn health_and_readiness_probes_answer(app: TestApp) {
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    // With the database gone, readiness fails while liveness holds.
    app.state.db.clone().close().await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn responses_carry_security_headers_and_a_request_id(app: TestApp) {
    let resp = app.get("/").await;
    let h = resp.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(h.contains_key("x-request-id"));
    assert!(
        !h.contains_key("strict-transport-security"),
        "no HSTS in development"
    );
    let resp = app
        .client
        .get(app.url("/"))
        .header("x-request-id", "req-abc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["x-request-id"],
        "req-abc",
        "an incoming id is kept"
    );
}

async fn unknown_pages_are_404_in_the_layout(app: TestApp) {
    let resp = app.get("/no/such/page").await;
    assert_eq!(resp.status(), 404);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("class=\"site-header\""),
        "rendered in base.html"
    );
    assert!(html.contains("Not Found"));
}

async fn api_errors_are_json(app: TestApp) {
    let resp = app.get("/api/nothing-here").await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"]["page"][0], "not found");
}

async fn static_assets_have_hashed_names_and_long_cache(app: TestApp) {
    let html = app.get_text("/").await;
    let start = html.find("/static/app.").expect("stylesheet link");
    let end = start + html[start..].find('"').unwrap();
    let href = &html[start..end];
    assert!(
        href.ends_with(".css") && href.len() > "/static/app..css".len() + 8,
        "{href}"
    );
    let resp = app.get(href).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        resp.text().await.unwrap().contains("--"),
        "our stylesheet uses custom properties"
    );
    assert_eq!(
        app.get("/static/app.css").await.status(),
        404,
        "only hashed names are served"
    );
}

async fn production_adds_hsts_and_secure_cookies(app: TestApp) {
    let resp = app.get("/accounts/login/").await;
    assert!(
        resp.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    // Terse error pages: nothing internal leaks.
    let html = app.get_text("/missing").await;
    assert!(!html.to_lowercase().contains("sqlx") && !html.contains("panicked"));
}

#[tokio::test]
async fn sessions_live_in_redis_when_configured() {
    let Some(redis_url) = crate::helpers::service("TEST_REDIS_URL", "the Redis session test")
    else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, None, &[("redis_url", &redis_url)]).await;
    app.signed_up("rhea").await;
    let id = app.session_cookie().unwrap();
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("trellis:session:{id}");
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(exists, "session stored in Redis");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "and expires by itself");
    // A second instance sharing Redis sees the same session.
    let other = app.sibling(&[]).await;
    let html = app
        .client
        .get(other.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("rhea"), "signed in on the sibling instance");
    app.logout().await;
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "logout deletes it");
}

db_tests! {
    framework_errors_come_back_in_our_shapes;
}

async fn framework_errors_come_back_in_our_shapes(app: TestApp) {
    // A JSON body where a form is expected: the extractor's plain-text 415 becomes a page in the layout…
    let token = app.csrf_token("/accounts/login/").await;
    let resp = app
        .client
        .post(app.url("/accounts/login/"))
        .header("x-csrf-token", token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert!(resp.text().await.unwrap().contains("class=\"site-header\""));
    // …and JSON for API clients, as does a wrong method.
    let token = app.csrf_token("/accounts/login/").await;
    let resp = app
        .client
        .delete(app.url("/healthz"))
        .header("accept", "application/json")
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert!(resp.headers().contains_key("allow"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["errors"]["request"].is_array(), "{body}");
}
