//! The accept loop: serves the router over HTTP/1.1 with limits that `axum::serve` does not offer.
//!
//! - A client gets [`Limits::header_read_timeout`] to send each request head, and an idle keep-alive
//!   connection is closed after the same time, so silent or trickling clients cannot hold sockets open.
//! - At most [`Limits::max_connections`] connections are open at once, kept below the open-file limit.
//!   At the limit the loop stops accepting; further clients wait in the kernel's listen backlog.
//! - Failing accepts (out of file descriptors) pause the loop briefly instead of spinning or exiting.
//! - On shutdown the listener closes and in-flight requests get [`Limits::drain_timeout`] to finish.
//!   Every answer from then on says `Connection: close`, so each connection ends after its next
//!   response. Idle keep-alive connections are not closed at once: a proxy may be sending a request on
//!   one at that very moment, and would see the connection die under it (nginx re-sends a GET elsewhere,
//!   never a POST). They are left to close by the client or by the idle timeout, as at any other time;
//!   whatever is still open one idle timeout after shutdown began is then closed.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::Settings;

/// How long the accept loop pauses after an accept fails for a reason other than the one client.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// File descriptors kept free for everything but client connections: the listener, the runtime's
/// epoll and wake-up handles, standard streams, log and upload files, Redis and SMTP connections.
const RESERVED_FDS: u64 = 64;

/// What the server allows each client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time to send a request head, and the longest a keep-alive connection may sit idle.
    pub header_read_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests before closing their connections.
    pub drain_timeout: Duration,
}

impl Limits {
    /// The configured limits, with the connection limit lowered to fit the open-file limit.
    pub fn from_settings(settings: &Settings) -> Limits {
        // SQLite holds up to three files per pooled connection (database, WAL, shared memory).
        let reserved = RESERVED_FDS + 3 * u64::from(settings.database_max_connections);
        let nofile = open_file_limit();
        let max_connections = connection_cap(settings.max_connections, nofile, reserved);
        if max_connections < settings.max_connections {
            tracing::info!(
                configured = settings.max_connections,
                allowed = max_connections,
                open_file_limit = nofile,
                "lowering TRELLIS_MAX_CONNECTIONS to fit the open-file limit; raise `ulimit -n` \
                 (LimitNOFILE= under systemd) to allow more"
            );
        }
        Limits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
            max_connections,
            // Every request ends within the request timeout (408 after it); then the response is written.
            drain_timeout: Duration::from_secs(settings.request_timeout_secs.saturating_add(5)),
        }
    }
}

/// The most connections that fit under an open-file limit of `nofile` with `reserved` descriptors kept
/// free. Each connection costs one descriptor.
fn connection_cap(configured: usize, nofile: Option<u64>, reserved: u64) -> usize {
    let configured = configured.min(Semaphore::MAX_PERMITS);
    let Some(nofile) = nofile else {
        return configured;
    };
    // With a tiny limit the reserve would leave nothing; serving half the limit beats refusing all.
    let room = nofile.saturating_sub(reserved).max(nofile / 2).max(1);
    usize::try_from(room).map_or(configured, |room| configured.min(room))
}

/// The soft limit on open files (`ulimit -n`), when there is one.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives for the whole call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    // rlim_t is narrower than u64 on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    Some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Serves `router` on `listener` until `signal` resolves, then drains (see the module documentation).
/// Handlers see the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut failures = AcceptFailures::default();
    let mut signal = pin!(signal);

    loop {
        let slot = tokio::select! {
            biased;
            () = &mut signal => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_client_error(&e) => continue,
                Err(e) => {
                    failures.failed(&e);
                    tokio::select! {
                        biased;
                        () = &mut signal => break,
                        () = tokio::time::sleep(ACCEPT_PAUSE) => continue,
                    }
                }
            },
        };
        failures.end_if_calm();
        while let Some(done) = connections.try_join_next() {
            report_panic(done);
        }
        connections.spawn(serve_connection(
            builder.clone(),
            router.clone(),
            stream,
            peer,
            limits.header_read_timeout,
            drain_rx.clone(),
            slot,
        ));
    }

    // New clients are refused from here on.
    drop(listener);
    let _ = drain_tx.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while let Some(done) = connections.join_next().await {
            report_panic(done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            of = open,
            "connections still busy after the drain time; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Accept errors that concern one client, which has already gone; the next accept is unaffected.
fn is_client_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

fn report_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "a connection task panicked");
    }
}

/// Logs a run of failing accepts (EMFILE, ENFILE, ENOBUFS…) once when it starts and once when it is
/// over, rather than ten lines a second. While descriptors are scarce, accepts fail and succeed in turn
/// as connections close; the run is over only once none has failed for [`CALM`].
#[derive(Default)]
struct AcceptFailures {
    count: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

const CALM: Duration = Duration::from_secs(5);

impl AcceptFailures {
    fn failed(&mut self, e: &std::io::Error) {
        self.end_if_calm();
        let now = Instant::now();
        if self.first.is_none() {
            self.first = Some(now);
            tracing::error!(
                error = %e,
                "cannot accept connections; retrying every {} ms until it recovers",
                ACCEPT_PAUSE.as_millis()
            );
        }
        self.count += 1;
        self.last = Some(now);
    }

    fn end_if_calm(&mut self) {
        if let (Some(first), Some(last)) = (self.first, self.last)
            && last.elapsed() >= CALM
        {
            tracing::warn!(
                failed_accepts = self.count,
                seconds = last.duration_since(first).as_secs(),
                "accepting connections again"
            );
            *self = AcceptFailures::default();
        }
    }
}

/// Serves one connection until it ends, is dropped for a late first request head, or shutdown has
/// drained it. Holding `_slot` keeps the connection counted.
async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    stream: TcpStream,
    peer: SocketAddr,
    first_head_within: Duration,
    mut drain: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let got_request = Arc::new(AtomicBool::new(false));
    let closing = drain.clone();
    let service = router
        .map_request({
            let got_request = got_request.clone();
            move |mut req: Request<_>| {
                got_request.store(true, Ordering::Relaxed);
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            }
        })
        .map_response(move |mut resp: axum::response::Response| {
            // While draining, the connection ends after this answer: the client will not reuse it.
            if *closing.borrow() {
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            resp
        });
    let mut conn =
        pin!(builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            TowerToHyperService::new(service)
        ));
    // hyper's header timer starts only once it has told HTTP/1 from HTTP/2, which takes the first bytes;
    // this deadline also covers a client that connects and sends nothing, or only part of the preface.
    let mut first_head = pin!(tokio::time::sleep(first_head_within));
    let mut waiting_for_first_head = true;
    let mut draining = false;
    // Set when draining starts: one idle timeout later, anything still open is closed (see the module doc).
    let mut linger = pin!(tokio::time::sleep(Duration::MAX / 4));
    let mut lingering = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = &mut first_head, if waiting_for_first_head => {
                if !got_request.load(Ordering::Relaxed) {
                    tracing::debug!(%peer, "no request head in time; closing the connection");
                    return;
                }
                waiting_for_first_head = false;
            }
            _ = drain.changed(), if !draining => {
                draining = true;
                lingering = true;
                linger.as_mut().reset(tokio::time::Instant::now() + first_head_within);
            }
            () = &mut linger, if lingering => {
                // Closes the connection now if it is idle, else after the response in progress.
                lingering = false;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_limit_stays_below_the_open_file_limit() {
        assert_eq!(connection_cap(1000, None, 94), 1000);
        assert_eq!(connection_cap(1000, Some(1024), 94), 930);
        assert_eq!(connection_cap(1000, Some(65536), 94), 1000);
        assert_eq!(connection_cap(20, Some(1024), 94), 20);
        // A limit smaller than the reserve still leaves something to serve with.
        assert_eq!(connection_cap(1000, Some(100), 94), 50);
        assert_eq!(connection_cap(1000, Some(1), 94), 1);
        assert_eq!(connection_cap(usize::MAX, None, 0), Semaphore::MAX_PERMITS);
    }

    #[tokio::test]
    async fn handlers_see_the_peer_address_and_shutdown_returns() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                peer.to_string()
            }),
        );
        let limits = Limits {
            header_read_timeout: Duration::from_secs(30),
            max_connections: 4,
            drain_timeout: Duration::from_secs(30),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, limits, async {
            let _ = stopped.await;
        }));

        let mut client = TcpStream::connect(address).await.unwrap();
        let me = client.local_addr().unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with(&me.to_string()), "{response}");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
