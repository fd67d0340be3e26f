//! The one Redis connection the sessions, the throttles and the cache share, and its recovery.
//!
//! redis' `ConnectionManager` reconnects after a dropped connection, but once a reconnection attempt
//! fails (Redis down for longer than its retries) it can stay failed, answering every later command with
//! an error or not at all, even after Redis is back. So every user reports a failed or overdue command
//! here, and a replacement connection is built in the background, at most one attempt per second, until
//! one succeeds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Time between attempts to replace a failed connection.
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct SharedRedis(Arc<Inner>);

struct Inner {
    client: redis::Client,
    current: RwLock<ConnectionManager>,
    replacing: AtomicBool,
}

fn config() -> ConnectionManagerConfig {
    // Bounded, so a command sent while Redis is unreachable fails instead of waiting for ever.
    ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(2)
}

impl SharedRedis {
    /// Connects to `url` (`redis://` or `rediss://`), failing if Redis does not answer within 5 s.
    pub async fn connect(url: &str) -> anyhow::Result<SharedRedis> {
        let client = redis::Client::open(url).context("setting TRELLIS_REDIS_URL: invalid URL")?;
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client.clone(), config()),
        )
        .await
        .map_err(|_| anyhow::anyhow!("timed out"))
        .and_then(|r| r.map_err(anyhow::Error::from))
        .with_context(|| format!("cannot connect to Redis at {}", crate::db::redact_url(url)))?;
        Ok(SharedRedis(Arc::new(Inner {
            client,
            current: RwLock::new(conn),
            replacing: AtomicBool::new(false),
        })))
    }

    /// The current connection (a cheap handle; clone per command).
    pub fn conn(&self) -> ConnectionManager {
        self.0
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `cmd` with a deadline. The sessions, the throttles and the cache all sit outside the request
    /// timeout, so an unanswered command must not hold a request; a failure or a missed deadline also
    /// starts replacing the connection.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Pipeline,
        deadline: Duration,
    ) -> redis::RedisResult<T> {
        let mut conn = self.conn();
        let outcome = match tokio::time::timeout(deadline, cmd.query_async::<T>(&mut conn)).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "Redis did not answer in time",
            ))),
        };
        if outcome.is_err() {
            self.failed();
        }
        outcome
    }

    /// A command failed or took too long: starts replacing the connection, unless that is under way.
    pub fn failed(&self) {
        if self.0.replacing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.0.clone();
        tokio::spawn(async move {
            let fresh = tokio::time::timeout(
                Duration::from_secs(2),
                ConnectionManager::new_with_config(inner.client.clone(), config()),
            )
            .await;
            if let Ok(Ok(conn)) = fresh {
                *inner.current.write().unwrap_or_else(|e| e.into_inner()) = conn;
            }
            // Whether or not it worked, the next failure may try again after a pause.
            tokio::time::sleep(RETRY_EVERY).await;
            inner.replacing.store(false, Ordering::Release);
        });
    }
}
