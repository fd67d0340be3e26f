//! Connections as slow, silent, many or long-lived clients make them: the header timeout, the connection
//! limit, keep-alive and graceful shutdown, spoken by hand over plain sockets.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, RawClient, TestApp, json_post_head, wait_closed};

/// Far beyond any timeout under test: only a connection that is never closed takes this long.
const GENEROUS: Duration = Duration::from_secs(60);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// A request head that never ends: the blank line is missing.
const PARTIAL_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n";

const ANALYZE: &str = "/api/sentiment/analyze";

async fn app_with(settings: &[(&str, &str)]) -> TestApp {
    TestApp::spawn(Backend::Sqlite, None, settings).await
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    let app = app_with(&[("header_read_timeout_secs", "1")]).await;
    let timeout = Duration::from_secs(1);

    // Each clock starts before its client connects, so no server-side timer can have started earlier.
    let partial_since = Instant::now();
    let mut partial = RawClient::connect(&app.address).await;
    partial.send(PARTIAL_HEAD).await;
    let silent_since = Instant::now();
    let mut silent = RawClient::connect(&app.address).await;

    // A trickle of bytes does not restart the clock.
    let trickle_since = Instant::now();
    let trickle = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (mut trickle_read, mut trickle_write) = trickle.into_split();
    let writer = tokio::spawn(async move {
        for byte in PARTIAL_HEAD.iter().cycle().take(10_000) {
            if trickle_write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let partial_closed = partial
        .closed_within(GENEROUS)
        .await
        .map(|_| partial_since.elapsed());
    let silent_closed = silent
        .closed_within(GENEROUS)
        .await
        .map(|_| silent_since.elapsed());
    let trickle_closed = wait_closed(&mut trickle_read, GENEROUS)
        .await
        .map(|_| trickle_since.elapsed());
    writer.abort();
    for (name, closed) in [
        ("partial head", partial_closed),
        ("nothing sent", silent_closed),
        ("trickled head", trickle_closed),
    ] {
        let after =
            closed.unwrap_or_else(|| panic!("{name}: connection still open after {GENEROUS:?}"));
        assert!(
            after >= timeout,
            "{name}: closed after {after:?}, before the timeout"
        );
    }

    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn at_the_connection_limit_new_clients_wait_until_a_slot_frees() {
    let app = app_with(&[("max_connections", "20"), ("header_read_timeout_secs", "2")]).await;
    let timeout = Duration::from_secs(2);

    let filling_since = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut c = RawClient::connect(&app.address).await;
        c.send(PARTIAL_HEAD).await;
        idle.push(c);
    }
    // The kernel completes the handshake, but the server does not take this connection while all 20
    // slots are held; it is served once the first idle client has been dropped.
    let mut waiting = RawClient::connect(&app.address).await;
    waiting.send(HEALTHZ).await;
    let (status, body) = tokio::time::timeout(GENEROUS, waiting.response())
        .await
        .expect("the waiting client is served once a slot frees");
    assert_eq!(status, 200, "{body}");
    let answered_after = filling_since.elapsed();
    assert!(
        answered_after >= timeout,
        "answered after {answered_after:?}, while every slot was held by an idle client"
    );

    for (i, c) in idle.iter_mut().enumerate() {
        assert!(
            c.closed_within(GENEROUS).await.is_some(),
            "idle client {i} still connected"
        );
    }
    // Still serving, on fresh connections too.
    for _ in 0..3 {
        assert_eq!(
            app.new_client()
                .0
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn a_keep_alive_client_makes_several_requests_on_one_connection_until_it_idles() {
    // The default timeout (10 s): far longer than the pauses between these requests, even on a slow machine.
    let app = app_with(&[]).await;
    let mut c = RawClient::connect(&app.address).await;
    for i in 0..5 {
        c.send(HEALTHZ).await;
        let (status, body) = c.response().await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"status":"ok"}"#),
            "request {i}"
        );
    }
    let text = r#"{"text":"A warm and generous film.","model":"lexicon"}"#;
    c.send(&json_post_head(ANALYZE, text.len(), false)).await;
    c.send(text.as_bytes()).await;
    let (status, body) = c.response().await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""label":"positive""#), "{body}");

    // Left idle, the connection does not stay open for ever.
    assert!(
        c.closed_within(GENEROUS).await.is_some(),
        "idle keep-alive connection still open after {GENEROUS:?}"
    );
}

/// An app serving a fresh SQLite database until the test sends on `stop`; `server` ends when it has.
struct Stoppable {
    address: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The data directory, kept until the test ends.
    _tmp: tempfile::TempDir,
}

async fn stoppable_app() -> Stoppable {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().display().to_string();
    let database_url = format!("sqlite://{}/test.sqlite3?mode=rwc", data);
    let settings = trellis::Settings::from_pairs(&[
        ("bind", "127.0.0.1:0"),
        ("data_dir", &data),
        ("database_url", &database_url),
        ("email_backend", "file"),
        ("log_level", "warn"),
    ])
    .unwrap();
    let app = trellis::Application::build(settings, trellis::StartOptions { migrate: true })
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_with_shutdown(async {
        let _ = stopped.await;
    }));
    Stoppable {
        address,
        stop,
        server,
        _tmp: tmp,
    }
}

/// Waits until the server, told to stop, refuses new connections.
async fn refuses_new_connections(address: &str) {
    let refusing = async {
        while tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(GENEROUS, refusing)
        .await
        .expect("new connections are refused once shutdown begins");
}

/// A request whose body is still arriving when shutdown begins is answered in full; the server refuses
/// new connections meanwhile and stops once it is done.
#[tokio::test]
async fn shutdown_lets_a_slow_upload_finish_and_refuses_new_clients() {
    let Stoppable {
        address,
        stop,
        server,
        _tmp,
    } = stoppable_app().await;

    let text = r#"{"text":"Slow to arrive, but a delight.","model":"lexicon"}"#;
    let mut upload = RawClient::connect(&address).await;
    upload
        .send(&json_post_head(ANALYZE, text.len(), true))
        .await;
    // The interim answer comes once the handler starts reading the body: the request is in flight.
    assert_eq!(upload.response().await.0, 100);
    let (first, rest) = text.split_at(text.len() / 2);
    upload.send(first.as_bytes()).await;

    stop.send(()).unwrap();
    refuses_new_connections(&address).await;

    upload.send(rest.as_bytes()).await;
    let (status, body) = upload.response().await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""label":"positive""#), "{body}");
    assert!(
        upload.closed_within(GENEROUS).await.is_some(),
        "the connection closes after its last response"
    );
    let result = tokio::time::timeout(GENEROUS, server)
        .await
        .expect("the server stops once drained");
    result.unwrap().unwrap();
}

/// A proxy may send a request on an idle keep-alive connection at the moment shutdown begins. Closing
/// idle connections at once would drop that request (and nginx re-sends only GETs), so the connection
/// stays open: the request is answered, and then the connection closes.
#[tokio::test]
async fn a_request_on_an_idle_connection_during_shutdown_is_answered_not_dropped() {
    let Stoppable {
        address,
        stop,
        server,
        _tmp,
    } = stoppable_app().await;

    let mut kept = RawClient::connect(&address).await;
    kept.send(HEALTHZ).await;
    assert_eq!(kept.response().await.0, 200);
    // The connection is now idle, as a proxy's pooled connection is between requests.
    stop.send(()).unwrap();
    refuses_new_connections(&address).await;

    let body = "{}";
    kept.send(
        format!(
            "POST /api/users/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    let (status, answer) = kept.response().await;
    assert_eq!(status, 422, "answered, not dropped: {answer}");
    assert!(
        kept.closed_within(GENEROUS).await.is_some(),
        "the connection closes after that answer"
    );
    let result = tokio::time::timeout(GENEROUS, server)
        .await
        .expect("the server stops once drained");
    result.unwrap().unwrap();
}
