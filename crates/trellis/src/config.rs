//! Typed settings: built-in defaults, then an optional `trellis.toml`, then `TRELLIS_*` environment variables.
//!
//! Every field has a default that works on a laptop. Production mode (`TRELLIS_ENV=production`) is stricter:
//! it needs a real secret key and turns on secure cookies, HSTS and terse error pages.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Environment variables with the `TRELLIS_` prefix that are read elsewhere, not settings.
const NON_SETTING_VARS: &[&str] = &[
    "superuser_username",
    "superuser_email",
    "superuser_password",
    "config",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmailBackend {
    /// Print messages to the log (development default).
    #[default]
    Console,
    /// Write each message as a `.eml` file under `email_dir`.
    File,
    /// Send through `smtp_url`.
    Smtp,
}

/// A value that must never appear in logs or debug output.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub env: Environment,
    /// Address the server listens on.
    pub bind: String,
    /// Holds the SQLite database, the development secret key, uploads and mail files.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `<data_dir>/trellis.sqlite3`.
    pub database_url: Option<String>,
    /// Largest number of pooled database connections.
    pub database_max_connections: u32,
    /// When set, sessions live in Redis instead of the database.
    pub redis_url: Option<Secret>,
    /// Keys the HMACs of password-reset links and of sessions' binding to a password. Generated once in development.
    pub secret_key: Option<Secret>,
    /// Comma list of `length,similarity,common,numeric` (Django's AUTH_PASSWORD_VALIDATORS).
    pub password_validators: String,
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `trellis=debug,info`.
    pub log_level: String,
    /// The public address used in links sent by email, e.g. `https://trellis.example.com`.
    pub base_url: Option<String>,
    pub email_backend: EmailBackend,
    pub email_from: String,
    /// Where the file backend writes messages; defaults to `<data_dir>/mail`.
    pub email_dir: Option<PathBuf>,
    /// `smtp://user:pass@host:587` (STARTTLS) or `smtps://…` for the SMTP backend.
    pub smtp_url: Option<Secret>,
    /// Idle time after which a session ends.
    pub session_age_secs: u64,
    /// Validity of a password-reset link.
    pub password_reset_timeout_secs: u64,
    /// Largest accepted request body, uploads included.
    pub max_body_bytes: usize,
    /// Largest accepted image upload.
    pub max_image_bytes: usize,
    /// Whole-request timeout. Shutdown also gives in-flight requests this long (plus 5 s) to finish.
    pub request_timeout_secs: u64,
    /// Time a client has to send a request's headers, and the longest a keep-alive connection may sit
    /// idle between requests.
    pub header_read_timeout_secs: u64,
    /// Client connections open at once; more wait to be accepted. Lowered at start-up to fit the
    /// open-file limit (`ulimit -n`).
    pub max_connections: usize,
    /// `on` or `off`; off is for benchmarks and is refused in production.
    pub throttle: String,
    /// Login attempts per account and per client address, as `N/sec|min|hour|day`.
    pub throttle_login: String,
    /// Password-reset requests per address and per email, as `N/sec|min|hour|day`.
    pub throttle_password_reset: String,
    /// Account registrations per client address.
    pub throttle_register: String,
    /// API requests per client address without credentials.
    pub throttle_anon: String,
    /// API requests per signed-in user.
    pub throttle_user: String,
    /// Lifetime of the JWTs the API hands out.
    pub jwt_ttl_secs: u64,
    /// Origins allowed to call the API from browsers (CORS), comma-separated; empty turns CORS off.
    pub cors_origins: String,
    /// Let every signed-in user write and publish blog posts (RealWorld behaviour). Off: only the
    /// `authors` and `editors` groups may.
    pub blog_open_authoring: bool,
    /// Trust `X-Forwarded-For` for the client address (only behind a proxy you run).
    pub trust_proxy: bool,
    /// A directory whose templates override the built-in ones of the same name.
    pub templates_dir: Option<PathBuf>,
    /// Background jobs this instance runs at once; 0 leaves them to other instances (`trellis worker`).
    pub job_workers: u32,
    /// Largest sentiment dataset upload.
    pub sentiment_max_dataset_bytes: usize,
    /// Most rows in one sentiment dataset.
    pub sentiment_max_dataset_rows: usize,
    /// Where `trellis sentiment install-model` puts the transformer's encoder; defaults to
    /// `<data_dir>/models/minilm`.
    pub sentiment_encoder_dir: Option<PathBuf>,
    /// Most sentiment datasets one user may keep; 0 means no limit.
    pub quota_datasets: u64,
    /// Most background jobs one user may have queued or running at once; 0 means no limit.
    pub quota_active_jobs: u64,
    /// Most trained sentiment models one user may keep (training jobs under way count); 0 means no limit.
    pub quota_models: u64,
    /// Most personal API tokens one user may hold; 0 means no limit.
    pub quota_api_tokens: u64,
    /// How long a shop order may stay unpaid before it is cancelled and its stock returned.
    pub shop_order_ttl_secs: u64,
    /// The key payment webhooks are signed with (HMAC-SHA256); derived from the secret key when unset.
    pub shop_webhook_secret: Option<Secret>,
    /// Who may read `/metrics`: `auto` (open in development; in production only with the token), `on`, `off`.
    pub metrics: String,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// `s3://bucket/prefix` keeps uploads in an S3-compatible store; unset keeps them in `<data_dir>/media`.
    pub storage_url: Option<String>,
    /// The S3 API's address for stores other than AWS, e.g. `http://seaweedfs:8333`.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    /// Unset: taken from `AWS_ACCESS_KEY_ID` (and the secret from `AWS_SECRET_ACCESS_KEY`).
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    /// `auto` (Redis when `redis_url` is set, in-process otherwise), `memory`, `redis` or `off`.
    pub cache: String,
    /// Largest size of the in-process cache, in bytes.
    pub cache_max_bytes: u64,
    /// How long cached values and pages live unless a write makes them stale sooner.
    pub cache_ttl_secs: u64,
    /// Part of every cache key: raise it when a release changes what cached values look like.
    pub cache_version: u32,
    /// Starts every key in a shared cache, so several sites can share one Redis.
    pub cache_key_prefix: String,
    /// `Server-Timing` on every answer and the SQL panel on pages; unset: on in development. Refused
    /// in production.
    pub debug_toolbar: Option<bool>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: Environment::Development,
            bind: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("./trellis-data"),
            database_url: None,
            database_max_connections: 10,
            redis_url: None,
            secret_key: None,
            password_validators: "length,similarity,common,numeric".into(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            base_url: None,
            email_backend: EmailBackend::Console,
            email_from: "Trellis <noreply@localhost>".into(),
            email_dir: None,
            smtp_url: None,
            session_age_secs: 14 * 24 * 3600,
            password_reset_timeout_secs: 3 * 24 * 3600,
            max_body_bytes: 8 * 1024 * 1024,
            max_image_bytes: 5 * 1024 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_connections: 1000,
            throttle: "on".into(),
            throttle_login: "10/min".into(),
            throttle_password_reset: "5/hour".into(),
            throttle_register: "30/min".into(),
            throttle_anon: "600/min".into(),
            throttle_user: "1200/min".into(),
            jwt_ttl_secs: 24 * 3600,
            cors_origins: String::new(),
            blog_open_authoring: false,
            trust_proxy: false,
            templates_dir: None,
            job_workers: 1,
            sentiment_max_dataset_bytes: 5 * 1024 * 1024,
            sentiment_max_dataset_rows: 50_000,
            sentiment_encoder_dir: None,
            quota_datasets: 50,
            quota_active_jobs: 5,
            quota_models: 20,
            quota_api_tokens: 50,
            shop_order_ttl_secs: 30 * 60,
            shop_webhook_secret: None,
            metrics: "auto".into(),
            metrics_token: None,
            storage_url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            cache: "auto".into(),
            cache_max_bytes: 64 * 1024 * 1024,
            cache_ttl_secs: 300,
            cache_version: 1,
            cache_key_prefix: "trellis".into(),
            debug_toolbar: None,
        }
    }
}

/// A throttle rate: `count` requests per `per_secs` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per_secs: u64,
}

impl Rate {
    /// Parses DRF's `N/sec|min|hour|day` notation.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let (n, unit) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not of the form N/sec|min|hour|day"))?;
        let count: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| format!("`{n}` is not a positive whole number"))?;
        let per_secs = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86400,
            other => {
                return Err(format!(
                    "unknown period `{other}`; use sec, min, hour or day"
                ));
            }
        };
        Ok(Rate { count, per_secs })
    }
}

/// The password rules a deployment applies, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordRule {
    Length,
    Similarity,
    Common,
    Numeric,
}

impl Settings {
    /// Loads defaults, then `trellis.toml` (or `$TRELLIS_CONFIG`), then `TRELLIS_*` variables, and checks them.
    pub fn load() -> anyhow::Result<Settings> {
        let file = std::env::var("TRELLIS_CONFIG").unwrap_or_else(|_| "trellis.toml".into());
        Self::figment(Path::new(&file), Env::prefixed("TRELLIS_"))
            .extract::<Settings>()
            .map_err(describe_figment_error)
            .and_then(|s| s.validated())
    }

    /// Settings for tests and embedding: defaults plus the given overrides, checked.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        for (k, v) in pairs {
            // Parsed as environment values are, so "5" is a number and "true" a boolean.
            let value: figment::value::Value = v.parse().expect("parsing a value is infallible");
            fig = fig.merge((*k, value));
        }
        fig.extract::<Settings>()
            .map_err(describe_figment_error)
            .and_then(|s| s.validated())
    }

    fn figment(file: &Path, env: Env) -> Figment {
        let env = env
            .filter(|key| !NON_SETTING_VARS.contains(&key.as_str().to_ascii_lowercase().as_str()));
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file))
            .merge(env)
    }

    fn validated(self) -> anyhow::Result<Settings> {
        self.bind_addr()?;
        self.password_rules()?;
        for (name, value) in [
            ("TRELLIS_THROTTLE_LOGIN", &self.throttle_login),
            (
                "TRELLIS_THROTTLE_PASSWORD_RESET",
                &self.throttle_password_reset,
            ),
            ("TRELLIS_THROTTLE_REGISTER", &self.throttle_register),
            ("TRELLIS_THROTTLE_ANON", &self.throttle_anon),
            ("TRELLIS_THROTTLE_USER", &self.throttle_user),
        ] {
            Rate::parse(value).map_err(|e| anyhow::anyhow!("setting {name}: {e}"))?;
        }
        if !(1..=3600).contains(&self.header_read_timeout_secs) {
            bail!(
                "setting TRELLIS_HEADER_READ_TIMEOUT_SECS: `{}` must be between 1 and 3600 seconds",
                self.header_read_timeout_secs
            );
        }
        if self.max_connections == 0 {
            bail!(
                "setting TRELLIS_MAX_CONNECTIONS: must be at least 1 (0 would accept no connection)"
            );
        }
        match self.throttle.as_str() {
            "on" => {}
            "off" if self.is_production() => {
                bail!("setting TRELLIS_THROTTLE: `off` is refused in production")
            }
            "off" => {}
            other => bail!("setting TRELLIS_THROTTLE: `{other}` must be `on` or `off`"),
        }
        if self.is_production() && self.debug_toolbar == Some(true) {
            bail!(
                "setting TRELLIS_DEBUG_TOOLBAR: refused in production (it shows every page's SQL)"
            );
        }
        match (self.cache.as_str(), &self.redis_url) {
            ("auto" | "memory" | "off", _) | ("redis", Some(_)) => {}
            ("redis", None) => bail!("setting TRELLIS_CACHE: `redis` needs TRELLIS_REDIS_URL"),
            (other, _) => {
                bail!("setting TRELLIS_CACHE: `{other}` must be `auto`, `memory`, `redis` or `off`")
            }
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            bail!("setting TRELLIS_DATABASE_URL: must start with sqlite: or postgres://");
        }
        if self.email_backend == EmailBackend::Smtp && self.smtp_url.is_none() {
            bail!("setting TRELLIS_SMTP_URL: required when TRELLIS_EMAIL_BACKEND is smtp");
        }
        for origin in self.cors_origin_list() {
            let parsed = url::Url::parse(&origin)
                .map_err(|e| anyhow::anyhow!("setting TRELLIS_CORS_ORIGINS: `{origin}`: {e}"))?;
            if parsed.path() != "/" || parsed.query().is_some() {
                bail!(
                    "setting TRELLIS_CORS_ORIGINS: `{origin}` must be an origin like https://app.example.com"
                );
            }
        }
        if !matches!(self.metrics.as_str(), "auto" | "on" | "off") {
            bail!(
                "setting TRELLIS_METRICS: `{}` must be `auto`, `on` or `off`",
                self.metrics
            );
        }
        // TRELLIS_STORAGE_URL is checked where the store is opened (`Storage::from_settings`), at start-up
        // and by `trellis check`, so the settings need not know the storage layer.
        if let Some(endpoint) = &self.s3_endpoint {
            let parsed = url::Url::parse(endpoint)
                .map_err(|e| anyhow::anyhow!("setting TRELLIS_S3_ENDPOINT: `{endpoint}`: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!(
                    "setting TRELLIS_S3_ENDPOINT: `{endpoint}` must be an http:// or https:// address"
                );
            }
        }
        if let Some(base) = &self.base_url {
            url::Url::parse(base).map_err(|e| anyhow::anyhow!("setting TRELLIS_BASE_URL: {e}"))?;
        }
        if self.is_production() {
            match &self.secret_key {
                None => bail!(
                    "setting TRELLIS_SECRET_KEY: production needs a secret key of at least 32 characters \
                     (for example the output of `openssl rand -hex 32`)"
                ),
                Some(k) if k.expose().len() < 32 => {
                    bail!(
                        "setting TRELLIS_SECRET_KEY: must be at least 32 characters in production"
                    )
                }
                Some(_) => {}
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| anyhow::anyhow!("setting TRELLIS_LOG_LEVEL: {e}"))?;
        Ok(self)
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// The debug toolbar: as set, or on in development; never in production.
    pub fn debug_toolbar_enabled(&self) -> bool {
        !self.is_production() && self.debug_toolbar.unwrap_or(true)
    }

    pub fn throttle_enabled(&self) -> bool {
        self.throttle == "on"
    }

    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.bind.parse().with_context(|| {
            format!(
                "setting TRELLIS_BIND: `{}` is not an address like 127.0.0.1:8000",
                self.bind
            )
        })
    }

    pub fn password_rules(&self) -> anyhow::Result<Vec<PasswordRule>> {
        let mut rules = Vec::new();
        for name in self
            .password_validators
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let rule = match name {
                "length" => PasswordRule::Length,
                "similarity" => PasswordRule::Similarity,
                "common" => PasswordRule::Common,
                "numeric" => PasswordRule::Numeric,
                other => bail!(
                    "setting TRELLIS_PASSWORD_VALIDATORS: unknown validator `{other}` \
                     (choose from length, similarity, common, numeric)"
                ),
            };
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        Ok(rules)
    }

    /// Allowed CORS origins, without trailing slashes.
    pub fn cors_origin_list(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect()
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("trellis.sqlite3").display()
            ),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    pub fn email_dir(&self) -> PathBuf {
        self.email_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("mail"))
    }

    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }

    /// The sentiment transformer's encoder files.
    pub fn encoder_dir(&self) -> PathBuf {
        self.sentiment_encoder_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models").join("minilm"))
    }

    /// The public origin for links in emails.
    pub fn base_url(&self) -> String {
        match &self.base_url {
            Some(b) => b.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.bind),
        }
    }

    /// The secret key: the configured one, or in development one generated once into the data directory.
    pub fn resolve_secret_key(&self) -> anyhow::Result<Secret> {
        if let Some(key) = &self.secret_key {
            return Ok(key.clone());
        }
        if self.is_production() {
            bail!("setting TRELLIS_SECRET_KEY: required in production");
        }
        let path = self.data_dir.join("secret_key");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let existing = existing.trim();
            if existing.len() >= 32 {
                return Ok(Secret::new(existing));
            }
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        let key = hex::encode(rand::random::<[u8; 32]>());
        write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
        Ok(Secret::new(key))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Figment's errors name the key in its own words; say it as the environment variable users set.
fn describe_figment_error(err: figment::Error) -> anyhow::Error {
    let mut lines = Vec::new();
    for e in err {
        let key = e.path.join("_").to_ascii_uppercase();
        let what = match &e.kind {
            figment::error::Kind::UnknownField(name, _) => {
                format!(
                    "unknown setting TRELLIS_{} (or `{name}` in trellis.toml)",
                    name.to_ascii_uppercase()
                )
            }
            _ if key.is_empty() => format!("configuration: {}", e.kind),
            kind => format!("setting TRELLIS_{key}: {kind}"),
        };
        lines.push(what);
    }
    anyhow::anyhow!(lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_drf_notation() {
        assert_eq!(
            Rate::parse("5/min").unwrap(),
            Rate {
                count: 5,
                per_secs: 60
            }
        );
        assert_eq!(
            Rate::parse("100/day").unwrap(),
            Rate {
                count: 100,
                per_secs: 86400
            }
        );
        assert!(Rate::parse("0/min").is_err());
        assert!(Rate::parse("5/fortnight").is_err());
        assert!(Rate::parse("five").is_err());
    }

    #[test]
    fn unknown_password_validator_is_named() {
        let err = Settings::from_pairs(&[("password_validators", "length,entropy")]).unwrap_err();
        assert!(
            err.to_string().contains("TRELLIS_PASSWORD_VALIDATORS"),
            "{err}"
        );
        assert!(err.to_string().contains("entropy"), "{err}");
    }

    #[test]
    fn unknown_setting_is_named() {
        let err = Settings::from_pairs(&[("colour", "blue")]).unwrap_err();
        assert!(err.to_string().contains("TRELLIS_COLOUR"), "{err}");
    }

    #[test]
    fn malformed_setting_is_named() {
        let err = Settings::from_pairs(&[("session_age_secs", "soon")]).unwrap_err();
        assert!(
            err.to_string().contains("TRELLIS_SESSION_AGE_SECS"),
            "{err}"
        );
    }

    #[test]
    fn production_requires_a_secret_key() {
        let err = Settings::from_pairs(&[("env", "production")]).unwrap_err();
        assert!(err.to_string().contains("TRELLIS_SECRET_KEY"), "{err}");
        let ok = Settings::from_pairs(&[("env", "production"), ("secret_key", &"k".repeat(40))]);
        assert!(ok.is_ok());
    }

    #[test]
    fn throttle_off_is_refused_in_production() {
        let err = Settings::from_pairs(&[
            ("env", "production"),
            ("secret_key", &"k".repeat(40)),
            ("throttle", "off"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("TRELLIS_THROTTLE"), "{err}");
    }

    #[test]
    fn connection_limits_refuse_zero() {
        let err = Settings::from_pairs(&[("max_connections", "0")]).unwrap_err();
        assert!(err.to_string().contains("TRELLIS_MAX_CONNECTIONS"), "{err}");
        let err = Settings::from_pairs(&[("header_read_timeout_secs", "0")]).unwrap_err();
        assert!(
            err.to_string().contains("TRELLIS_HEADER_READ_TIMEOUT_SECS"),
            "{err}"
        );
        assert!(Settings::from_pairs(&[("header_read_timeout_secs", "86400")]).is_err());
        assert!(
            Settings::from_pairs(&[("max_connections", "1"), ("header_read_timeout_secs", "1")])
                .is_ok()
        );
    }

    #[test]
    fn secret_debug_output_is_redacted() {
        let s = Secret::new("hunter2hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
