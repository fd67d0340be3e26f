//! Rate limits by scope (DRF's throttle classes): anonymous clients per address, signed-in users per
//! account, and stricter scopes for login, registration and password reset.
//!
//! In-process by default (governor's GCRA, per instance). With Redis configured the counts live in Redis
//! (fixed windows), so the limits hold across every instance behind a load balancer.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Rate, Settings};
use crate::error::AppError;
use crate::http::auth::CurrentUser;
use crate::shared_redis::SharedRedis;
use crate::state::AppState;

pub struct Limiter {
    scope: &'static str,
    rate: Rate,
    local: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    pub fn new(scope: &'static str, rate: Rate) -> Self {
        let count = NonZeroU32::new(rate.count).expect("rates are positive");
        let period = Duration::from_secs(rate.per_secs) / rate.count;
        let quota = Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(count);
        Limiter {
            scope,
            rate,
            local: RateLimiter::keyed(quota),
        }
    }

    fn check_local(&self, key: &str) -> Result<(), AppError> {
        match self.local.check_key(&key.to_string()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(AppError::TooManyRequests {
                    retry_after_secs: wait.as_secs_f64().ceil() as u64,
                })
            }
        }
    }

    async fn check_redis(
        &self,
        redis: &SharedRedis,
        prefix: &str,
        key: &str,
    ) -> Result<(), AppError> {
        let now = chrono::Utc::now().timestamp() as u64;
        let window = now / self.rate.per_secs;
        let redis_key = format!("{prefix}:throttle:{}:{key}:{window}", self.scope);
        let mut pipe = redis::pipe();
        pipe.incr(&redis_key, 1u64)
            .cmd("EXPIRE")
            .arg(&redis_key)
            .arg(self.rate.per_secs + 1)
            .arg("NX")
            .ignore();
        // Short: a Redis that stopped answering must cost a request a moment, not hold it.
        let result = redis
            .query::<(u64,)>(&pipe, std::time::Duration::from_millis(500))
            .await;
        match result {
            Ok((count,)) if count > u64::from(self.rate.count) => {
                let window_end = (window + 1) * self.rate.per_secs;
                Err(AppError::TooManyRequests {
                    retry_after_secs: window_end.saturating_sub(now).max(1),
                })
            }
            Ok(_) => Ok(()),
            Err(e) => {
                // Fail open: an unreachable Redis must not lock everyone out.
                tracing::warn!(error = %e, scope = self.scope, "throttle check skipped: Redis error");
                Ok(())
            }
        }
    }
}

pub struct Throttles {
    enabled: bool,
    redis: Option<SharedRedis>,
    /// Starts every Redis key (`TRELLIS_CACHE_KEY_PREFIX`), so sites sharing a Redis count apart.
    key_prefix: String,
    pub login: Limiter,
    pub password_reset: Limiter,
    pub register: Limiter,
    pub anon: Limiter,
    pub user: Limiter,
}

impl Throttles {
    pub fn new(settings: &Settings, redis: Option<SharedRedis>) -> Self {
        let rate = |v: &str| Rate::parse(v).expect("validated at load");
        Throttles {
            enabled: settings.throttle_enabled(),
            redis,
            key_prefix: settings.cache_key_prefix.clone(),
            login: Limiter::new("login", rate(&settings.throttle_login)),
            password_reset: Limiter::new("password_reset", rate(&settings.throttle_password_reset)),
            register: Limiter::new("register", rate(&settings.throttle_register)),
            anon: Limiter::new("anon", rate(&settings.throttle_anon)),
            user: Limiter::new("user", rate(&settings.throttle_user)),
        }
    }

    /// Counts one request against every key; the first refusal is returned (all keys are counted).
    pub async fn check(&self, limiter: &Limiter, keys: &[String]) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        let mut result = Ok(());
        for key in keys {
            let r = match &self.redis {
                Some(conn) => limiter.check_redis(conn, &self.key_prefix, key).await,
                None => limiter.check_local(key),
            };
            if r.is_err() && result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// Forget keys whose limits have fully recovered, so memory stays bounded.
    pub fn prune(&self) {
        for l in [
            &self.login,
            &self.password_reset,
            &self.register,
            &self.anon,
            &self.user,
        ] {
            l.local.retain_recent();
        }
    }
}

/// Every API request counts against the user's rate, or the client address's when anonymous.
pub async fn api_rates(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !super::is_api_path(req.uri().path()) {
        return next.run(req).await;
    }
    let user = req
        .extensions()
        .get::<CurrentUser>()
        .and_then(|c| c.0.clone());
    let (parts, body) = req.into_parts();
    let checked = match &user {
        Some(u) => {
            state
                .throttles
                .check(&state.throttles.user, &[format!("user:{}", u.id)])
                .await
        }
        None => {
            let ip = super::client_ip(&parts, state.settings.trust_proxy);
            state
                .throttles
                .check(&state.throttles.anon, &[format!("ip:{ip}")])
                .await
        }
    };
    match checked {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => e.into_response(),
    }
}
