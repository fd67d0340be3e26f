//! The cache framework as clients see it: anonymous reads served from the cache, every kind of write
//! making them stale at once (in-process and through Redis across instances), and a Redis outage that
//! turns into correct uncached answers rather than errors.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp};

db_tests! {
    anonymous_reads_are_cached_until_any_write ["password_validators" = "length", "blog_open_authoring" = "true"];
    signed_in_readers_are_never_served_from_the_cache ["password_validators" = "length", "blog_open_authoring" = "true"];
    a_post_that_changes_no_rows_keeps_the_cache ["password_validators" = "length", "blog_open_authoring" = "true"];
    deep_pages_start_from_bookmarks_that_every_write_retires ["password_validators" = "length", "blog_open_authoring" = "true"];
    concurrent_writes_never_leave_a_stale_answer_cached ["password_validators" = "length", "blog_open_authoring" = "true", "database_max_connections" = "10", "throttle" = "off"];
}

/// An anonymous GET: status, `x-cache`, body.
async fn anon(app: &TestApp, path: &str) -> (u16, String, Value) {
    let resp = reqwest::get(app.url(path)).await.unwrap();
    let status = resp.status().as_u16();
    let how = resp
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    (
        status,
        how,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Reads `path` twice anonymously and checks the second answer came from the cache unchanged.
async fn cached(app: &TestApp, path: &str) -> Value {
    let (s1, how1, first) = anon(app, path).await;
    let (s2, how2, second) = anon(app, path).await;
    assert_eq!((s1, s2), (200, 200), "{path}: {first}");
    assert_eq!(how1, "MISS", "{path}: the first read computes");
    assert_eq!(
        how2, "HIT",
        "{path}: the second read is served from the cache"
    );
    assert_eq!(
        first, second,
        "{path}: the cached answer is the computed one"
    );
    second
}

async fn anonymous_reads_are_cached_until_any_write(base: TestApp) {
    let app = base.fork();
    let author = app.api_user("writer").await;
    let reader = app.api_user("reader").await;
    let first = app.api_article(&author, "First post", &["rust"]).await;
    let slug = first["slug"].as_str().unwrap().to_string();
    let article = format!("/api/articles/{slug}");
    let comments = format!("{article}/comments");

    assert_eq!(cached(&app, "/api/articles").await["articlesCount"], 1);
    cached(&app, "/api/tags").await;
    cached(&app, &article).await;
    cached(&app, &comments).await;

    // Create.
    app.api_article(&author, "Second post", &["web"]).await;
    let (_, how, list) = anon(&app, "/api/articles").await;
    assert_eq!(how, "MISS", "a new article makes the list stale");
    assert_eq!(list["articlesCount"], 2);
    let (_, _, tags) = anon(&app, "/api/tags").await;
    assert_eq!(tags["tags"], json!(["rust", "web"]));

    // Update.
    cached(&app, &article).await;
    let (s, _) = app
        .api(
            Method::PUT,
            &article,
            Some(&author),
            Some(json!({"article": {"description": "changed"}})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, how, one) = anon(&app, &article).await;
    assert_eq!(
        (how.as_str(), &one["article"]["description"]),
        ("MISS", &json!("changed"))
    );

    // Favourite.
    assert_eq!(anon(&app, &article).await.1, "HIT");
    let (s, _) = app
        .api(
            Method::POST,
            &format!("{article}/favorite"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (_, _, one) = anon(&app, &article).await;
    assert_eq!(one["article"]["favoritesCount"], 1);

    // Follow: nothing an anonymous reader sees changes, but the cache cannot know that.
    cached(&app, "/api/articles").await;
    let (s, _) = app
        .api(
            Method::POST,
            "/api/profiles/writer/follow",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(anon(&app, "/api/articles").await.1, "MISS");

    // Comment.
    assert_eq!(cached(&app, &comments).await["comments"], json!([]));
    let (s, _) = app
        .api(
            Method::POST,
            &comments,
            Some(&reader),
            Some(json!({"comment": {"body": "Nice"}})),
        )
        .await;
    assert_eq!(s, 201);
    let (_, _, list) = anon(&app, &comments).await;
    assert_eq!(list["comments"][0]["body"], "Nice");

    // The web pages too: the blog index after an edit through the API.
    let page = |app: &TestApp| {
        let url = app.url("/blog/");
        async move {
            let r = reqwest::get(url).await.unwrap();
            let how = r
                .headers()
                .get("x-cache")
                .map(|v| v.to_str().unwrap().to_string());
            (how, r.text().await.unwrap())
        }
    };
    let _ = page(&app).await;
    let (how, html) = page(&app).await;
    assert_eq!(how.as_deref(), Some("HIT"));
    assert!(html.contains("First post"));
    let (s, _) = app
        .api(
            Method::PUT,
            &article,
            Some(&author),
            Some(json!({"article": {"title": "Renamed post"}})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, html) = page(&app).await;
    assert!(html.contains("Renamed post") && !html.contains("First post"));

    // Delete.
    let (_, _, list) = anon(&app, "/api/articles").await;
    let renamed = list["articles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Renamed post")
        .unwrap()["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let renamed_path = format!("/api/articles/{renamed}");
    cached(&app, &renamed_path).await;
    let (s, _) = app
        .api(Method::DELETE, &renamed_path, Some(&author), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(anon(&app, &renamed_path).await.0, 404);
    assert_eq!(anon(&app, "/api/articles").await.2["articlesCount"], 1);

    // A cached answer keeps its validator: a client holding it gets 304.
    let url = app.url("/api/articles");
    let _ = reqwest::get(&url).await.unwrap();
    let hit = reqwest::get(&url).await.unwrap();
    assert_eq!(hit.headers()["x-cache"], "HIT");
    let tag = hit.headers()["etag"].clone();
    let again = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

async fn signed_in_readers_are_never_served_from_the_cache(base: TestApp) {
    let app = base.fork();
    let author = app.api_user("writer").await;
    let reader = app.api_user("reader").await;
    let a = app.api_article(&author, "Post", &[]).await;
    let slug = a["slug"].as_str().unwrap();
    cached(&app, "/api/articles").await;
    app.api(
        Method::POST,
        &format!("/api/articles/{slug}/favorite"),
        Some(&reader),
        None,
    )
    .await;
    for _ in 0..2 {
        let resp = app
            .client
            .get(app.url("/api/articles"))
            .header("Authorization", format!("Token {reader}"))
            .send()
            .await
            .unwrap();
        assert!(resp.headers().get("x-cache").is_none());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["articles"][0]["favorited"], true,
            "the reader's own view"
        );
    }
    // A browser with a session is not anonymous in the cache's eyes either.
    let browser = app.fork();
    browser.signed_up("browser").await;
    let resp = browser.get("/blog/").await;
    assert!(resp.headers().get("x-cache").is_none());
}

async fn a_post_that_changes_no_rows_keeps_the_cache(base: TestApp) {
    let app = base.fork();
    let author = app.api_user("writer").await;
    app.api_article(&author, "Kept", &[]).await;
    cached(&app, "/api/articles").await;
    // Sentiment analysis is a read sent as a POST; a refused article is a write that wrote nothing.
    let (s, _) = app
        .api(
            Method::POST,
            "/api/sentiment/analyze",
            None,
            Some(json!({"text": "A fine film"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&author),
            Some(json!({"article": {"title": "", "description": "d", "body": "b"}})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(anon(&app, "/api/articles").await.1, "HIT");
    app.api_article(&author, "Written", &[]).await;
    let (_, how, list) = anon(&app, "/api/articles").await;
    assert_eq!((how.as_str(), &list["articlesCount"]), ("MISS", &json!(2)));
}

/// 2,500 published posts, many sharing a publication instant. Deep pages (offset ≥ 1,000) of the
/// whole feed start from a bookmarked post kept in the cache; every window must still be exactly the
/// one the plain `ORDER BY … OFFSET` gives, before and after a write moves every rank by one.
async fn deep_pages_start_from_bookmarks_that_every_write_retires(base: TestApp) {
    use crate::helpers::sql;
    use sea_orm::Value as Sql;
    let app = base.fork();
    let author = app.api_user("writer").await;
    let reader = app.api_user("reader").await;
    let author_id = sql::scalar(
        &app,
        "SELECT id FROM users WHERE username = 'writer'",
        vec![],
    )
    .await;
    let now = chrono::Utc::now() - chrono::Duration::hours(1);
    const N: usize = 2500;
    for start in (0..N).step_by(250) {
        let mut rows = Vec::new();
        let mut values: Vec<Sql> = Vec::new();
        for i in start..start + 250 {
            // Three posts per second: ties are broken by id.
            let at = now - chrono::Duration::seconds((i / 3) as i64);
            let b = values.len();
            rows.push(format!(
                "(${}, ${}, ${}, 'd', 'b', '<p>b</p>', 'published', ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6
            ));
            values.extend([
                author_id.into(),
                format!("Seeded {i}").into(),
                format!("seeded-{i}").into(),
                at.into(),
                at.into(),
                at.into(),
            ]);
        }
        sql::exec(
            &app,
            &format!(
                "INSERT INTO blog_posts (author_id, title, slug, description, body, body_html, status, \
                 published_at, created_at, updated_at) VALUES {}",
                rows.join(", ")
            ),
            values,
        )
        .await;
    }
    // What each window must hold: the feed's order, computed without any bookmark.
    async fn expected(app: &TestApp) -> Vec<String> {
        sql::texts(
            app,
            "SELECT slug AS s FROM blog_posts WHERE status = 'published' \
             ORDER BY published_at DESC, id DESC",
            vec![],
        )
        .await
    }
    async fn window(app: &TestApp, token: &str, offset: usize) -> (Vec<String>, u64) {
        let (s, body) = app
            .api(
                Method::GET,
                &format!("/api/articles?limit=20&offset={offset}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, 200, "offset {offset}: {body}");
        let slugs = body["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["slug"].as_str().unwrap().to_string())
            .collect();
        (slugs, body["articlesCount"].as_u64().unwrap())
    }
    let offsets = [
        0, 990, 999, 1000, 1001, 1985, 1999, 2000, 2490, 2495, 2500, 2600,
    ];
    let order = expected(&app).await;
    assert_eq!(order.len(), N);
    for round in 0..2 {
        for &o in &offsets {
            let (got, total) = window(&app, &reader, o).await;
            let want: Vec<String> = order.iter().skip(o).take(20).cloned().collect();
            assert_eq!(got, want, "round {round}, offset {o}");
            assert_eq!(total, N as u64);
        }
    }
    assert!(
        app.state.cache.get("blog:feed_anchor:2000").await.is_some(),
        "a deep page left its bookmark in the cache"
    );
    // A new post moves every rank by one; the bookmarks found before it must not be used.
    app.api_article(&author, "Newest", &[]).await;
    let order = expected(&app).await;
    assert_eq!(order.len(), N + 1);
    assert!(order[0].starts_with("newest"), "{}", order[0]);
    for &o in &offsets {
        let (got, total) = window(&app, &reader, o).await;
        let want: Vec<String> = order.iter().skip(o).take(20).cloned().collect();
        assert_eq!(got, want, "after the write, offset {o}");
        assert_eq!(total, N as u64 + 1);
    }
}

/// Thirty articles written at once while anonymous readers keep refilling the cached list: a reader
/// that computed its answer before a write committed must never store it over the write's bump.
async fn concurrent_writes_never_leave_a_stale_answer_cached(base: TestApp) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let app = base.fork();
    let author = app.api_user("writer").await;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (reader, stop, served) = (app.fork(), stop.clone(), served.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, _, _) = anon(&reader, "/api/articles?limit=1").await;
                assert_eq!(status, 200);
                served.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut writers = Vec::new();
    for i in 0..30 {
        let (writer, token) = (app.fork(), author.clone());
        writers.push(tokio::spawn(async move {
            writer
                .api_article(&token, &format!("Concurrent {i}"), &["race"])
                .await;
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Every write is acknowledged: from now on no answer may miss one of them.
    for _ in 0..5 {
        let (_, _, list) = anon(&app, "/api/articles?limit=1").await;
        assert_eq!(list["articlesCount"], 30);
        let (_, _, tags) = anon(&app, "/api/tags").await;
        assert_eq!(tags["tags"], json!(["race"]));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    assert!(served.load(Ordering::Relaxed) > 0);
    let (_, how, list) = anon(&app, "/api/articles?limit=1").await;
    assert_eq!((how.as_str(), &list["articlesCount"]), ("HIT", &json!(30)));
}

/// Settings for an app whose cache is a Redis of its own namespace (tests share one Redis).
fn redis_settings(url: &str, prefix: &str) -> Vec<(String, String)> {
    vec![
        ("redis_url".into(), url.into()),
        ("cache".into(), "redis".into()),
        ("cache_key_prefix".into(), prefix.into()),
        ("password_validators".into(), "length".into()),
        ("blog_open_authoring".into(), "true".into()),
    ]
}

#[tokio::test]
async fn a_shared_cache_is_invalidated_on_every_instance() {
    let Some(redis) = crate::helpers::service("TEST_REDIS_URL", "the shared-cache test") else {
        return;
    };
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        let pairs = redis_settings(&redis, &prefix);
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        crate::helpers::run(backend, &pairs, |base| async move {
            let one = base.fork();
            let two = one.sibling(&[]).await;
            let author = one.api_user("writer").await;
            one.api_article(&author, "First", &[]).await;
            // Cached through the second instance, written through the first.
            assert_eq!(cached(&two, "/api/articles").await["articlesCount"], 1);
            assert_eq!(
                anon(&one, "/api/articles").await.1,
                "HIT",
                "one cache for both"
            );
            one.api_article(&author, "Second", &[]).await;
            let (_, how, list) = anon(&two, "/api/articles").await;
            assert_eq!(how, "MISS");
            assert_eq!(list["articlesCount"], 2);
        })
        .await;
    }
}

/// A TCP relay in front of Redis that can be cut and restored, to stage an outage.
struct Relay {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            target,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        relay.serve(listener).await;
        relay
    }

    async fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut upstream) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
                tasks.lock().await.push(conn);
            }
        });
        self.tasks.lock().await.push(accept);
    }

    /// Closes every relayed connection and stops listening: Redis is unreachable.
    async fn cut(&self) {
        for t in self.tasks.lock().await.drain(..) {
            t.abort();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener).await;
    }
}

#[tokio::test]
async fn a_redis_outage_gives_correct_uncached_answers() {
    let Some(redis) = crate::helpers::service("TEST_REDIS_URL", "the cache outage test") else {
        return;
    };
    let target = url::Url::parse(&redis).unwrap();
    let relay = Relay::start(format!(
        "{}:{}",
        target.host_str().unwrap(),
        target.port().unwrap_or(6379)
    ))
    .await;
    let mut through = target.clone();
    through.set_port(Some(relay.port)).unwrap();
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let pairs = redis_settings(through.as_str(), &prefix);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let app = TestApp::spawn(Backend::Sqlite, None, &pairs).await.fork();
    let author = app.api_user("writer").await;
    app.api_article(&author, "Before", &[]).await;
    assert_eq!(cached(&app, "/api/articles").await["articlesCount"], 1);

    relay.cut().await;
    // Writes still succeed, and reads are right (uncached) rather than stale or failing.
    app.api_article(&author, "During", &[]).await;
    for _ in 0..3 {
        let (status, how, list) = anon(&app, "/api/articles").await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(how, "MISS");
        assert_eq!(list["articlesCount"], 2);
    }

    relay.restore().await;
    // Once the missed invalidation reaches Redis, caching resumes with current answers.
    let mut resumed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, how, list) = anon(&app, "/api/articles").await;
        assert_eq!(status, 200);
        assert_eq!(
            list["articlesCount"], 2,
            "never the answer cached before the outage"
        );
        if how == "HIT" {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "caching resumed after Redis came back");
}

/// Managed Redis services speak TLS (`rediss://`); Heroku's and other self-signed ones need `#insecure`.
/// Sessions, the cache and throttles all work through such a connection, across two instances.
#[tokio::test]
async fn a_tls_redis_carries_sessions_and_the_cache() {
    let Some(url) = crate::helpers::service("TEST_REDIS_TLS_URL", "the TLS Redis test") else {
        return;
    };
    assert!(
        url.starts_with("rediss://"),
        "TEST_REDIS_TLS_URL is a rediss:// URL"
    );
    let settings = [
        ("redis_url", url.as_str()),
        ("cache", "redis"),
        ("password_validators", "length"),
    ];
    let one = TestApp::spawn(Backend::Sqlite, None, &settings).await;
    let two = one.sibling(&[]).await;
    one.signed_up("tls").await;
    let cookie = one.session_cookie().expect("a session");
    // The session lives in the TLS Redis, so the other instance knows it.
    let html = two
        .client
        .get(two.url("/accounts/profile/"))
        .header("cookie", format!("trellis_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("tls"),
        "signed in on the second instance: {html}"
    );
    // The cache too: a list cached by one instance is answered from Redis by the other.
    let (status, how, _) = anon(&one, "/api/tags").await;
    assert_eq!((status, how.as_str()), (200, "MISS"));
    let (status, how, _) = anon(&two, "/api/tags").await;
    assert_eq!((status, how.as_str()), (200, "HIT"));

    // Without `#insecure` the certificate is verified, and a self-signed one stops the start.
    if let Some(verified) = url.strip_suffix("#insecure") {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let settings = trellis::Settings::from_pairs(&[
            ("bind", "127.0.0.1:0"),
            ("data_dir", data.as_str()),
            ("redis_url", verified),
            ("log_level", "warn"),
        ])
        .unwrap();
        let built =
            trellis::Application::build(settings, trellis::StartOptions { migrate: true }).await;
        let err = built.err().expect("an unverifiable certificate is refused");
        assert!(format!("{err:#}").contains("Redis"), "{err:#}");
    }
}
