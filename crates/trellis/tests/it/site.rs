use crate::helpers::{Backend, TestApp};

db_tests! {
    home_page_leads_to_every_app;
    health_and_readiness_probes_answer;
    responses_carry_security_headers_and_a_request_id;
    unknown_pages_are_404_in_the_layout;
    api_errors_are_json;
    static_assets_have_hashed_names_and_long_cache;
    production_adds_hsts_and_secure_cookies ["env" = "production", "secret_key" = "0123456789abcdef0123456789abcdef-test"];
    metrics_count_requests_by_route_template;
    metrics_in_production_need_the_token ["env" = "production", "secret_key" = "0123456789abcdef0123456789abcdef-test", "metrics_token" = "scrape-token-0123456789"];
    metrics_are_hidden_in_production_without_a_token ["env" = "production", "secret_key" = "0123456789abcdef0123456789abcdef-test"];
    metrics_can_be_switched_off ["metrics" = "off"];
}

/// The value of the first sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics_count_requests_by_route_template(app: TestApp) {
    for _ in 0..2 {
        assert_eq!(app.get("/api/articles").await.status(), 200);
    }
    assert_eq!(app.get("/api/articles/no-such-post").await.status(), 404);
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    let ok = sample(
        &text,
        "trellis_http_requests_total",
        &[
            "route=\"/api/articles\"",
            "status=\"2xx\"",
            "method=\"GET\"",
        ],
    );
    assert!(ok.is_some_and(|n| n >= 2.0), "{text}");
    assert!(
        sample(
            &text,
            "trellis_http_requests_total",
            &["route=\"/api/articles/{slug}\"", "status=\"4xx\""],
        )
        .is_some_and(|n| n >= 1.0),
        "a path is counted under its template"
    );
    assert!(!text.contains("no-such-post"), "no raw paths in labels");
    for series in [
        "trellis_http_request_duration_seconds_bucket{",
        "trellis_db_statements_per_request_bucket{",
        "trellis_db_pool_connections{",
        "trellis_cache_lookups_total{",
        "trellis_jobs{",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    // The list ran statements (the first, uncached one at least), and they were counted against its route.
    let statements = sample(
        &text,
        "trellis_db_statements_per_request_sum",
        &["route=\"/api/articles\""],
    );
    assert!(statements.is_some_and(|n| n >= 1.0), "{text}");
}

async fn metrics_in_production_need_the_token(app: TestApp) {
    assert_eq!(app.get("/metrics").await.status(), 401);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-token-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scrape-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(
        right
            .text()
            .await
            .unwrap()
            .contains("trellis_http_requests_total")
    );
}

async fn metrics_are_hidden_in_production_without_a_token(app: TestApp) {
    assert_eq!(app.get("/metrics").await.status(), 404);
}

async fn metrics_can_be_switched_off(app: TestApp) {
    assert_eq!(app.get("/metrics").await.status(), 404);
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
    // Under the site's key prefix, so sites sharing a Redis keep their sessions apart.
    let key = format!("{}:session:{id}", app.state.settings.cache_key_prefix);
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
