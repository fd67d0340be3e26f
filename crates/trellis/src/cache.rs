//! The cache framework (Django's `django.core.cache`): get, set, delete and get-or-set with a time to
//! live, keys versioned by `TRELLIS_CACHE_VERSION`, and one generation counter that every write bumps.
//!
//! Every entry is stamped with the generation that was current *before* its value was computed, and a
//! read accepts an entry only while that generation is still current. A write bumps the generation after
//! it commits, so a value computed from data older than the write can never be served again, however the
//! reads and the write interleave. The bump happens in the same code path as the write: the HTTP layer
//! bumps after every unsafe request (see `http::view_cache`), the job runner after every job, and
//! management commands when they finish.
//!
//! Backends: in-process (moka, bounded by bytes) by default; Redis when configured, so that instances
//! behind a load balancer share entries and every instance sees every bump. Redis being slow or down never
//! becomes an error: reads turn into misses, and a bump that could not be delivered is retried until it is,
//! while this instance stops reading from the cache in the meantime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;

use crate::config::Settings;
use crate::shared_redis::SharedRedis;

/// How long one Redis command may take before the cache gives up on it and answers "miss".
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a Redis failure, how long the cache leaves Redis alone before trying again.
const REDIS_BACKOFF: Duration = Duration::from_secs(1);

/// A handle on the configured cache; cheap to clone.
#[derive(Clone)]
pub struct Cache(Arc<Inner>);

struct Inner {
    backend: Backend,
    default_ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

enum Backend {
    Off,
    Memory(Memory),
    Redis(Redis),
}

/// What a lookup found: the value, or the generation to stamp a freshly computed value with.
pub enum Lookup {
    Hit(Bytes),
    Miss(Generation),
}

/// A generation read before a value was computed; storing under it is refused once a write bumps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation(Option<u64>);

impl Cache {
    /// The cache `TRELLIS_CACHE` asks for: `memory`, `redis` (needs `redis`), `off`, or `auto` (Redis
    /// when one is configured, memory otherwise).
    pub fn from_settings(settings: &Settings, redis: Option<SharedRedis>) -> anyhow::Result<Cache> {
        let backend = match (settings.cache.as_str(), redis) {
            ("off", _) => Backend::Off,
            ("memory", _) | ("auto", None) => {
                Backend::Memory(Memory::new(settings.cache_max_bytes))
            }
            ("redis" | "auto", Some(conn)) => Backend::Redis(Redis::new(
                conn,
                &settings.cache_key_prefix,
                settings.cache_version,
            )),
            ("redis", None) => {
                anyhow::bail!("setting TRELLIS_CACHE: `redis` needs TRELLIS_REDIS_URL")
            }
            (other, _) => anyhow::bail!(
                "setting TRELLIS_CACHE: `{other}` must be `auto`, `memory`, `redis` or `off`"
            ),
        };
        Ok(Cache::with_backend(
            backend,
            Duration::from_secs(settings.cache_ttl_secs),
        ))
    }

    /// A cache that stores nothing (every lookup misses).
    pub fn off() -> Cache {
        Cache::with_backend(Backend::Off, Duration::ZERO)
    }

    fn with_backend(backend: Backend, default_ttl: Duration) -> Cache {
        Cache(Arc::new(Inner {
            backend,
            default_ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }))
    }

    pub fn is_enabled(&self) -> bool {
        !matches!(self.0.backend, Backend::Off)
    }

    /// Lookups that found a current value, and those that did not, since start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.0.hits.load(Ordering::Relaxed),
            self.0.misses.load(Ordering::Relaxed),
        )
    }

    /// The value under `key` if one was stored at the current generation and has not expired; on a miss,
    /// the generation to pass to [`Cache::store`] once the value is computed.
    pub async fn lookup(&self, key: &str) -> Lookup {
        let found = match &self.0.backend {
            Backend::Off => Lookup::Miss(Generation(None)),
            Backend::Memory(m) => m.lookup(key),
            Backend::Redis(r) => r.lookup(key).await,
        };
        let counter = match found {
            Lookup::Hit(_) => &self.0.hits,
            Lookup::Miss(_) => &self.0.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores `value` as computed at `generation`; dropped if that generation is no longer current
    /// (a write happened while it was being computed) or the cache is unavailable.
    pub async fn store(
        &self,
        key: &str,
        generation: Generation,
        value: Bytes,
        ttl: Option<Duration>,
    ) {
        let Generation(Some(generation)) = generation else {
            return;
        };
        let ttl = ttl.unwrap_or(self.0.default_ttl);
        if ttl.is_zero() {
            return;
        }
        match &self.0.backend {
            Backend::Off => {}
            Backend::Memory(m) => m.store(key, generation, value, ttl),
            Backend::Redis(r) => r.store(key, generation, value, ttl).await,
        }
    }

    /// The current value under `key`, if any.
    pub async fn get(&self, key: &str) -> Option<Bytes> {
        match self.lookup(key).await {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss(_) => None,
        }
    }

    /// Stores `value` under `key` at the current generation (`ttl` `None`: the default time to live).
    pub async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) {
        let generation = self.current_generation().await;
        self.store(key, generation, value, ttl).await;
    }

    pub async fn delete(&self, key: &str) {
        match &self.0.backend {
            Backend::Off => {}
            Backend::Memory(m) => m.entries.invalidate(key),
            Backend::Redis(r) => r.delete(key).await,
        }
    }

    /// The value under `key`, or `make`'s, stored for next time (Django's `get_or_set`). An error from
    /// `make` is returned and nothing is stored.
    pub async fn get_or_set<F, Fut, E>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        make: F,
    ) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, E>>,
    {
        match self.lookup(key).await {
            Lookup::Hit(v) => Ok(v),
            Lookup::Miss(generation) => {
                let value = make().await?;
                self.store(key, generation, value.clone(), ttl).await;
                Ok(value)
            }
        }
    }

    /// Makes every stored value stale, on this instance and (with Redis) on every other. Called after
    /// each write has committed.
    pub async fn bump(&self) {
        match &self.0.backend {
            Backend::Off => {}
            Backend::Memory(m) => {
                m.generation.fetch_add(1, Ordering::AcqRel);
            }
            Backend::Redis(r) => r.bump().await,
        }
    }

    async fn current_generation(&self) -> Generation {
        match &self.0.backend {
            Backend::Off => Generation(None),
            Backend::Memory(m) => Generation(Some(m.generation.load(Ordering::Acquire))),
            Backend::Redis(r) => r.generation().await,
        }
    }
}

#[derive(Clone)]
struct Entry {
    generation: u64,
    value: Bytes,
    ttl: Duration,
}

struct Memory {
    entries: moka::sync::Cache<String, Entry>,
    generation: AtomicU64,
}

/// Each entry lives for its own time to live.
struct PerEntryTtl;

impl moka::Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl Memory {
    fn new(max_bytes: u64) -> Memory {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            // Weighed by what they hold, so the bound is in bytes whatever the mix of small and large.
            .weigher(|key: &String, e: &Entry| {
                u32::try_from(key.len() + e.value.len() + 64).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Memory {
            entries,
            generation: AtomicU64::new(1),
        }
    }

    fn lookup(&self, key: &str) -> Lookup {
        // The generation is read first: a bump after this point makes the value computed on a miss
        // unstorable, and a bump before it hides the stale entry below.
        let current = self.generation.load(Ordering::Acquire);
        match self.entries.get(key) {
            Some(e) if e.generation == current => Lookup::Hit(e.value),
            _ => Lookup::Miss(Generation(Some(current))),
        }
    }

    fn store(&self, key: &str, generation: u64, value: Bytes, ttl: Duration) {
        if generation == self.generation.load(Ordering::Acquire) {
            self.entries.insert(
                key.to_string(),
                Entry {
                    generation,
                    value,
                    ttl,
                },
            );
        }
    }
}

struct Redis {
    redis: SharedRedis,
    /// `<key prefix>:cache:v<version>:`, so a new key version never reads an old one's values.
    prefix: String,
    /// Milliseconds since `epoch` before which Redis is not asked (after a failure).
    down_until_ms: AtomicU64,
    epoch: Instant,
    /// A bump failed and has not been delivered yet: nothing is read from Redis until it is.
    bump_pending: Arc<AtomicBool>,
}

impl Redis {
    fn new(redis: SharedRedis, key_prefix: &str, version: u32) -> Redis {
        Redis {
            redis,
            prefix: format!("{key_prefix}:cache:v{version}:"),
            down_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            bump_pending: Arc::new(AtomicBool::new(false)),
        }
    }

    fn generation_key(&self) -> String {
        format!("{}generation", self.prefix)
    }

    fn value_key(&self, key: &str) -> String {
        format!("{}k:{key}", self.prefix)
    }

    fn available(&self) -> bool {
        !self.bump_pending.load(Ordering::Acquire)
            && self.epoch.elapsed().as_millis() as u64 >= self.down_until_ms.load(Ordering::Relaxed)
    }

    async fn run<T: redis::FromRedisValue>(&self, what: &str, cmd: &redis::Pipeline) -> Option<T> {
        match self.redis.query(cmd, REDIS_TIMEOUT).await {
            Ok(v) => Some(v),
            Err(e) => {
                let until = (self.epoch.elapsed() + REDIS_BACKOFF).as_millis() as u64;
                let before = self.down_until_ms.swap(until, Ordering::Relaxed);
                // One line per outage rather than one per request.
                if (self.epoch.elapsed().as_millis() as u64) >= before {
                    tracing::warn!(error = %e, "cache: Redis {what} failed; answering uncached for now");
                }
                None
            }
        }
    }

    async fn lookup(&self, key: &str) -> Lookup {
        if !self.available() {
            return Lookup::Miss(Generation(None));
        }
        // One round trip: the generation and the entry together.
        let mut pipe = redis::pipe();
        pipe.get(self.generation_key()).get(self.value_key(key));
        let Some((current, stored)) = self
            .run::<(Option<u64>, Option<Vec<u8>>)>("read", &pipe)
            .await
        else {
            return Lookup::Miss(Generation(None));
        };
        let current = current.unwrap_or(0);
        match stored {
            Some(bytes) if bytes.len() >= 8 && bytes[..8] == current.to_be_bytes() => {
                Lookup::Hit(Bytes::from(bytes).slice(8..))
            }
            _ => Lookup::Miss(Generation(Some(current))),
        }
    }

    async fn generation(&self) -> Generation {
        if !self.available() {
            return Generation(None);
        }
        let mut pipe = redis::pipe();
        pipe.get(self.generation_key());
        match self.run::<(Option<u64>,)>("read", &pipe).await {
            Some((g,)) => Generation(Some(g.unwrap_or(0))),
            None => Generation(None),
        }
    }

    async fn store(&self, key: &str, generation: u64, value: Bytes, ttl: Duration) {
        if !self.available() {
            return;
        }
        let mut stamped = Vec::with_capacity(8 + value.len());
        stamped.extend_from_slice(&generation.to_be_bytes());
        stamped.extend_from_slice(&value);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.value_key(key))
            .arg(stamped)
            .arg("PX")
            .arg(ms)
            .ignore();
        // A value stored after a bump carries the old generation and is never read back, so the race
        // between this write and a bump needs no transaction.
        let _ = self.run::<()>("write", &pipe).await;
    }

    async fn delete(&self, key: &str) {
        let mut pipe = redis::pipe();
        pipe.del(self.value_key(key)).ignore();
        let _ = self.run::<()>("delete", &pipe).await;
    }

    async fn bump(&self) {
        let mut pipe = redis::pipe();
        pipe.incr(self.generation_key(), 1u64).ignore();
        if self.run::<()>("invalidation", &pipe).await.is_some() {
            return;
        }
        // Other instances may still hold the old generation as current: keep trying until Redis takes
        // the bump, and read nothing from Redis here until then.
        if self.bump_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let redis = self.redis.clone();
        let key = self.generation_key();
        let pending = self.bump_pending.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REDIS_BACKOFF).await;
                let mut pipe = ::redis::pipe();
                pipe.incr(&key, 1u64).ignore();
                if redis.query::<()>(&pipe, REDIS_TIMEOUT).await.is_ok() {
                    tracing::info!("cache: Redis is back; the pending invalidation was delivered");
                    pending.store(false, Ordering::Release);
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Cache {
        Cache::with_backend(
            Backend::Memory(Memory::new(1 << 20)),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn a_value_computed_before_a_bump_is_never_served_after_it() {
        let cache = memory();
        let Lookup::Miss(g) = cache.lookup("k").await else {
            panic!("empty cache hit")
        };
        // A write commits and bumps while the reader is still computing from old data.
        cache.bump().await;
        cache.store("k", g, Bytes::from_static(b"old"), None).await;
        assert!(cache.get("k").await.is_none(), "the stale value was stored");
        cache.set("k", Bytes::from_static(b"new"), None).await;
        assert_eq!(cache.get("k").await.as_deref(), Some(&b"new"[..]));
        cache.bump().await;
        assert!(cache.get("k").await.is_none(), "a bump hides every entry");
    }

    #[tokio::test]
    async fn get_or_set_computes_once_and_keeps_errors_out() {
        let cache = memory();
        let calls = AtomicU64::new(0);
        for _ in 0..3 {
            let v = cache
                .get_or_set("k", None, || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, ()>(Bytes::from_static(b"v"))
                })
                .await
                .unwrap();
            assert_eq!(&v[..], b"v");
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        let failed = cache
            .get_or_set("e", None, || async { Err::<Bytes, _>("boom") })
            .await;
        assert_eq!(failed, Err("boom"));
        assert!(cache.get("e").await.is_none());
        cache.delete("k").await;
        assert!(cache.get("k").await.is_none());
        assert_eq!(cache.stats().0, 2, "two hits");
    }

    #[tokio::test]
    async fn entries_expire_and_off_stores_nothing() {
        let cache = memory();
        cache
            .set(
                "k",
                Bytes::from_static(b"v"),
                Some(Duration::from_millis(50)),
            )
            .await;
        assert!(cache.get("k").await.is_some());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(cache.get("k").await.is_none(), "expired");
        let off = Cache::off();
        off.set("k", Bytes::from_static(b"v"), None).await;
        assert!(off.get("k").await.is_none());
    }
}
