use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;
use sea_orm::{ConnectionTrait, Database};
use trellis::state::AppState;
use trellis::{Application, Settings, StartOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares tests that run once per database backend: `db_tests! { name; other ["key" = "value"]; }`
/// makes `name::sqlite` and `name::postgres`, each calling `async fn name(app: TestApp)`.
macro_rules! db_tests {
    ($($name:ident $([$($k:literal = $v:literal),* $(,)?])? ;)*) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $crate::helpers::run($crate::helpers::Backend::Sqlite, &[$($(($k, $v)),*)?], super::$name).await
            }
            #[tokio::test]
            async fn postgres() {
                $crate::helpers::run($crate::helpers::Backend::Postgres, &[$($(($k, $v)),*)?], super::$name).await
            }
        }
    )*};
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub data_dir: PathBuf,
    _tmp: Arc<tempfile::TempDir>,
    pub backend: Backend,
    pub database_url: String,
    overrides: Vec<(String, String)>,
}

/// The value of a variable naming an outside service a test needs. Unset: on a developer's machine the
/// test says it was skipped and passes; under CI (`CI=true`) a missing service fails the run instead.
pub fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("{var} is not set but CI=true: {what} must run in CI")
        }
        _ => {
            eprintln!("skipped: {var} is not set, so {what} did not run");
            None
        }
    }
}

/// Admin connections log no statements (dropping a database is routinely "slow").
pub(crate) fn quiet(url: &str) -> sea_orm::ConnectOptions {
    let mut o = sea_orm::ConnectOptions::new(url.to_string());
    o.sqlx_logging(false);
    o
}

/// A per-test PostgreSQL database, dropped at the end.
pub(crate) struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// A fresh database on the server `TEST_DATABASE_URL` names, and its URL; `None` when not set.
    async fn create() -> Option<(PgDatabase, String)> {
        let admin_url = service("TEST_DATABASE_URL", "this PostgreSQL test")?;
        Some(PgDatabase::create_on(&admin_url).await)
    }

    /// A fresh database on the server `admin_url` names, and its URL.
    pub(crate) async fn create_on(admin_url: &str) -> (PgDatabase, String) {
        let name = format!("trellis_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(quiet(admin_url))
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        let db = PgDatabase {
            admin_url: admin_url.to_string(),
            name,
        };
        (db, url.to_string())
    }

    /// Drops the database, closing whatever connections are left.
    pub(crate) async fn drop(self) {
        if let Ok(admin) = Database::connect(quiet(&self.admin_url)).await {
            let _ = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .await;
            admin.close().await.ok();
        }
    }
}

/// Runs `test` against a fresh app on `backend`, then drops the test database even if the test failed.
pub async fn run<F, Fut>(backend: Backend, overrides: &[(&str, &str)], test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (pg, url) = match backend {
        Backend::Sqlite => (None, None),
        Backend::Postgres => match PgDatabase::create().await {
            Some((pg, url)) => (Some(pg), Some(url)),
            None => return,
        },
    };
    let app = TestApp::spawn(backend, url, overrides).await;
    let outcome = tokio::spawn(test(app)).await;
    if let Some(pg) = pg {
        pg.drop().await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

impl TestApp {
    pub async fn spawn(
        backend: Backend,
        database_url: Option<String>,
        overrides: &[(&str, &str)],
    ) -> TestApp {
        let tmp = Arc::new(tempfile::tempdir().expect("temp dir"));
        let data_dir = tmp.path().to_path_buf();
        let database_url = database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("test.sqlite3").display()
            )
        });
        let mut overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Tests share one Redis: each app (and its siblings, which inherit the overrides) gets its own
        // cache namespace, or one test's cached answers could be served to another's database.
        if !overrides.iter().any(|(k, _)| k == "cache_key_prefix") {
            overrides.push((
                "cache_key_prefix".into(),
                format!("test{}", uuid::Uuid::new_v4().simple()),
            ));
        }
        Self::start(backend, tmp, database_url, overrides, true).await
    }

    async fn start(
        backend: Backend,
        tmp: Arc<tempfile::TempDir>,
        database_url: String,
        overrides: Vec<(String, String)>,
        migrate: bool,
    ) -> TestApp {
        let data_dir = tmp.path().to_path_buf();
        let data = data_dir.display().to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("bind", "127.0.0.1:0"),
            ("data_dir", &data),
            ("database_url", &database_url),
            ("email_backend", "file"),
            ("log_level", "warn"),
            ("database_max_connections", "5"),
        ];
        pairs.extend(overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let settings = Settings::from_pairs(&pairs).expect("test settings");
        trellis::telemetry::init(&settings);
        let app = Application::build(settings, StartOptions { migrate })
            .await
            .expect("app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .expect("client");
        TestApp {
            address,
            state,
            client,
            jar,
            data_dir,
            _tmp: tmp,
            backend,
            database_url,
            overrides,
        }
    }

    /// A second instance on the same database and data directory (as behind a load balancer).
    pub async fn sibling(&self, extra: &[(&str, &str)]) -> TestApp {
        let mut overrides = self.overrides.clone();
        overrides.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self::start(
            self.backend,
            self._tmp.clone(),
            self.database_url.clone(),
            overrides,
            false,
        )
        .await
    }

    /// The same app seen from another browser: own cookies, nobody signed in.
    pub fn fork(&self) -> TestApp {
        let (client, jar) = self.new_client();
        TestApp {
            address: self.address.clone(),
            state: self.state.clone(),
            client,
            jar,
            data_dir: self.data_dir.clone(),
            _tmp: self._tmp.clone(),
            backend: self.backend,
            database_url: self.database_url.clone(),
            overrides: self.overrides.clone(),
        }
    }

    /// Creates a user in the given groups (staff if asked) and returns a client signed in as them.
    pub async fn user(&self, username: &str, groups: &[&str], staff: bool) -> TestApp {
        use sea_orm::ConnectionTrait;
        let db = &self.state.db;
        let email = format!("{username}@example.com");
        let user = trellis::accounts::create_user(
            db,
            &self.state.settings,
            username,
            &email,
            TEST_PASSWORD,
            false,
        )
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("creating {username}: {e:?}"));
        for g in groups {
            let group = trellis::accounts::models::find_group(db, g)
                .await
                .unwrap()
                .expect("group exists");
            trellis::accounts::models::add_to_group(db, user.id, group.id)
                .await
                .unwrap();
        }
        if staff {
            db.execute_unprepared(&format!(
                "UPDATE users SET is_staff = TRUE WHERE id = {}",
                user.id
            ))
            .await
            .unwrap();
        }
        let other = self.fork();
        let resp = other.login(username, TEST_PASSWORD).await;
        assert_eq!(resp.status(), 303, "login as {username}");
        other
    }

    /// Posts multipart form data with a CSRF token from `page`, and an optional file field.
    pub async fn post_multipart(
        &self,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, Vec<u8>, &str)>,
    ) -> reqwest::Response {
        let token = self.csrf_token(page).await;
        let mut form = reqwest::multipart::Form::new().text("csrf_token", token);
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        if let Some((name, bytes, filename)) = file {
            form = form.part(
                name.to_string(),
                reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()),
            );
        }
        self.client
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .expect("request")
    }

    /// Posts a form to `path` with a CSRF token taken from `page`.
    pub async fn post_form_from(
        &self,
        page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.csrf_token(page).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        all.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("request")
    }

    /// Statements the app runs while serving one GET.
    pub async fn queries_for(&self, path: &str) -> (u64, reqwest::StatusCode) {
        let before = self.state.queries.get();
        let resp = self.get(path).await;
        let status = resp.status();
        let _ = resp.bytes().await;
        (self.state.queries.get() - before, status)
    }

    /// A fresh browser-like client (own cookies) for the same app.
    pub fn new_client(&self) -> (reqwest::Client, Arc<Jar>) {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        (client, jar)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// The session cookie's value, if the client holds one.
    pub fn session_cookie(&self) -> Option<String> {
        let url = self.address.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .map(str::trim)
            .find_map(|c| c.strip_prefix("trellis_session=").map(str::to_string))
    }

    /// Fetches a page and returns the CSRF token in its forms.
    pub async fn csrf_token(&self, page: &str) -> String {
        let html = self.get_text(page).await;
        extract_csrf(&html).unwrap_or_else(|| panic!("no csrf token on {page}: {html}"))
    }

    /// Posts a form with the CSRF token taken from `page` (or from the form's own page when `None`).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token(path).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        all.extend_from_slice(fields);
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("request")
    }

    /// Posts a form without any CSRF token.
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_form(
            "/accounts/register/",
            &[
                ("username", username),
                ("email", email),
                ("password1", password),
                ("password2", password),
            ],
        )
        .await
    }

    pub async fn login(&self, login: &str, password: &str) -> reqwest::Response {
        self.post_form(
            "/accounts/login/",
            &[("login", login), ("password", password)],
        )
        .await
    }

    pub async fn logout(&self) -> reqwest::Response {
        let token = self.csrf_token("/").await;
        self.client
            .post(self.url("/accounts/logout/"))
            .form(&[("csrf_token", token)])
            .send()
            .await
            .unwrap()
    }

    /// Registers a user (who stays logged in) and returns their password.
    pub async fn signed_up(&self, username: &str) -> String {
        let password = "violet-harbor-quantum-41".to_string();
        let resp = self
            .register(username, &format!("{username}@example.com"), &password)
            .await;
        assert_eq!(
            resp.status(),
            303,
            "registering {username}: {}",
            resp.text().await.unwrap()
        );
        password
    }

    /// Emails sent so far, oldest first, with quoted-printable soft line breaks undone.
    pub fn sent_emails(&self) -> Vec<String> {
        let dir = self.data_dir.join("mail");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        files
            .into_iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .replace("=\r\n", "")
                    .replace("=3D", "=")
            })
            .collect()
    }

    /// Whoever the app thinks is signed in, by the name in the navigation.
    pub async fn signed_in_as(&self) -> Option<String> {
        let html = self.get_text("/").await;
        let start = html.find("data-testid=\"nav-user\"")?;
        let rest = &html[start..];
        let span = rest.find("<span>")? + "<span>".len();
        let end = rest[span..].find("</span>")?;
        Some(rest[span..span + end].to_string())
    }
}

pub const TEST_PASSWORD: &str = "violet-harbor-quantum-41";

pub fn extract_csrf(html: &str) -> Option<String> {
    let marker = "<meta name=\"csrf-token\" content=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// Location header of a redirect.
pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A real PNG of the given size, made in memory.
pub fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let mut img = image::RgbImage::new(w, h);
    for (x, y, p) in img.enumerate_pixels_mut() {
        *p = image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 128]);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// HTTP/1.1 spoken by hand over one socket, for tests about connections rather than requests: slow
/// or silent clients, keep-alive, and what happens to a connection during shutdown.
pub struct RawClient {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl RawClient {
    /// Connects to an app's `http://host:port` address.
    pub async fn connect(address: &str) -> RawClient {
        let addr = address.trim_start_matches("http://");
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        RawClient {
            stream: tokio::io::BufReader::new(stream),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.expect("sending");
        self.stream.flush().await.expect("sending");
    }

    /// Reads one response (an interim `100 Continue` counts as one) and returns its status and body.
    /// Bodies are expected with a Content-Length or chunked.
    pub async fn response(&mut self) -> (u16, String) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("reading");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {line:?}"));
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("reading");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').expect("a header line");
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.expect("reading");
                let size = usize::from_str_radix(line.trim_end(), 16).expect("a chunk size");
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.expect("reading");
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await.expect("reading");
        }
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// How long until the server closes the connection (end of stream or reset), reading and discarding
    /// whatever it sends first; `None` if it is still open after `bound`.
    pub async fn closed_within(
        &mut self,
        bound: std::time::Duration,
    ) -> Option<std::time::Duration> {
        wait_closed(&mut self.stream, bound).await
    }
}

/// The head of a JSON POST whose body of `len` bytes follows separately; with `expect_continue` the
/// server answers `100 Continue` once the handler starts reading the body.
pub fn json_post_head(path: &str, len: usize, expect_continue: bool) -> Vec<u8> {
    let expect = if expect_continue {
        "Expect: 100-continue\r\n"
    } else {
        ""
    };
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n{expect}\r\n"
    )
    .into_bytes()
}

/// See [`RawClient::closed_within`].
pub async fn wait_closed<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
    bound: std::time::Duration,
) -> Option<std::time::Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(bound, async {
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

/// Raw SQL for tests that set up or inspect rows the API does not expose, on either database.
pub mod sql {
    use sea_orm::{ConnectionTrait, FromQueryResult, Statement, Value};

    use super::TestApp;

    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }

    #[derive(FromQueryResult)]
    struct N {
        n: Option<i64>,
    }

    fn statement(app: &TestApp, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(app.state.db.get_database_backend(), sql, values)
    }

    /// Runs an `INSERT …` and answers the new row's id.
    pub async fn insert_id(app: &TestApp, sql: &str, values: Vec<Value>) -> i64 {
        let sql = format!("{sql} RETURNING id");
        Id::find_by_statement(statement(app, &sql, values))
            .one(&app.state.db)
            .await
            .unwrap()
            .expect("a row was inserted")
            .id
    }

    /// The one number a one-column query answers (NULL or no row is 0). Integer columns are 32-bit on
    /// PostgreSQL and 64-bit on SQLite: the answer is read as 64-bit on both.
    pub async fn scalar(app: &TestApp, sql: &str, values: Vec<Value>) -> i64 {
        let sql = format!("SELECT CAST(({sql}) AS BIGINT) AS n");
        N::find_by_statement(statement(app, &sql, values))
            .one(&app.state.db)
            .await
            .unwrap()
            .and_then(|r| r.n)
            .unwrap_or(0)
    }

    #[derive(FromQueryResult)]
    struct S {
        s: String,
    }

    /// The text column `s` of every row a query answers, in its order.
    pub async fn texts(app: &TestApp, sql: &str, values: Vec<Value>) -> Vec<String> {
        S::find_by_statement(statement(app, sql, values))
            .all(&app.state.db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.s)
            .collect()
    }

    /// Checks the tag counts the database keeps against a count of every published post's tags.
    pub async fn assert_tag_counts_exact(app: &TestApp) {
        let kept = texts(
            app,
            "SELECT t.name || ':' || CAST(SUM(c.published) AS TEXT) AS s FROM blog_tag_counts c \
             JOIN blog_tags t ON t.id = c.tag_id GROUP BY t.id, t.name HAVING SUM(c.published) <> 0 \
             ORDER BY t.name",
            vec![],
        )
        .await;
        let counted = texts(
            app,
            "SELECT t.name || ':' || CAST(COUNT(*) AS TEXT) AS s FROM blog_post_tags pt \
             JOIN blog_tags t ON t.id = pt.tag_id JOIN blog_posts p ON p.id = pt.post_id \
             WHERE p.status = 'published' GROUP BY t.id, t.name ORDER BY t.name",
            vec![],
        )
        .await;
        assert_eq!(kept, counted, "kept tag counts against counted ones");
    }

    pub async fn exec(app: &TestApp, sql: &str, values: Vec<Value>) {
        app.state
            .db
            .execute_raw(statement(app, sql, values))
            .await
            .unwrap();
    }
}
