//! Typed, layered settings: `config/default.toml` (compiled in, so the binary runs anywhere)
//! ← `config/{LONGMARCH_ENV}.toml` ← `LONGMARCH__SECTION__KEY` environment variables.
//! Validated once at start-up; every error names the offending key.

use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The JWT secret shipped in `config/default.toml`: fine on a laptop, refused in production.
pub const DEV_JWT_SECRET: &str = "dev-only-secret-change-me-dev-only-secret";

const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// All settings of one process.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The environment name the settings were loaded for (`development`, `test`, `production`, …).
    #[serde(default)]
    pub env: String,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub wechat: WechatSettings,
    pub limits: LimitSettings,
    pub cache: CacheSettings,
    pub seed: SeedSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Worker threads; 0 means one per CPU core.
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`. Kept secret: it may hold a password.
    pub url: SecretString,
    /// Most pooled connections; unset, the backend's default (see [`DatabaseSettings::pool_size`]).
    #[serde(default)]
    pub max_connections: Option<u32>,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub log_statements: bool,
}

impl DatabaseSettings {
    /// True when the URL points at a SQLite file.
    pub fn is_sqlite(&self) -> bool {
        self.url.expose_secret().starts_with("sqlite:")
    }

    /// `max_connections`, or the backend's default: 6 on SQLite, whose uploads go through one
    /// queue and where each connection keeps its own page cache (the leaderboard benchmark's
    /// peak RSS with 16 / 6 connections: 228 / 182 MB, at the same throughput); 16 on
    /// PostgreSQL, whose commits wait for the log flush, so more in flight help (ingest 2,093
    /// vs 1,763 req/s with 16 vs 6 on 2 cores).
    pub fn pool_size(&self) -> u32 {
        self.max_connections.unwrap_or(if self.is_sqlite() { 6 } else { 16 })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    /// A previous secret, accepted for verification only while tokens signed with it expire.
    #[serde(default)]
    pub previous_jwt_secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
    pub token_ttl_secs: i64,
    pub dev_login: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WechatSettings {
    pub appid: String,
    pub secret: SecretString,
    /// Base URL of WeChat's server API; tests point it at a local mock.
    pub api_base: String,
    pub timeout_ms: u64,
    /// How old a WeRun watermark may be before the payload is refused as stale.
    pub werun_max_age_secs: i64,
    /// The access token is refreshed this long before WeChat says it expires.
    pub token_refresh_margin_secs: i64,
    /// What a display name gets while WeChat's content check can't answer.
    pub content_check_unavailable: ContentCheckPolicy,
    /// The mini-program page a class join 小程序码 opens (its `scene` is the join code).
    pub join_page: String,
    /// `check_path` of `getwxacodeunlimit`: false lets a poster name a page not yet released.
    pub qrcode_check_path: bool,
    /// `env_version` of `getwxacodeunlimit`: `release`, `trial` or `develop`.
    pub qrcode_env_version: String,
    /// Width of the 小程序码 in pixels (280–1280).
    pub qrcode_width: u32,
    /// The page a reminder opens.
    pub reminder_page: String,
    /// `miniprogram_state` of reminders: `formal`, `trial` or `developer`.
    pub miniprogram_state: String,
    /// `lang` of reminders: `zh_CN`, `en_US`, `zh_HK` or `zh_TW`.
    pub lang: String,
    /// How often the reminder scheduler looks for campaigns whose reminder time came; 0 = off.
    pub scheduler_interval_secs: u64,
    /// The reminder template's keys: a `thing` for the campaign title (≤ 20 characters),
    /// a `phrase` for the state (≤ 5) and a `thing` for the tip; empty leaves a key out.
    pub reminder_title_key: String,
    pub reminder_status_key: String,
    pub reminder_tip_key: String,
}

impl WechatSettings {
    /// False when no appid is configured (development, demos): the content check is off and
    /// nothing is sent to WeChat.
    pub fn enabled(&self) -> bool {
        !self.appid.trim().is_empty()
    }
}

/// `wechat.content_check_unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentCheckPolicy {
    /// Store the name, mark it and check it again in the background.
    Accept,
    /// Answer 503 `content_check_unavailable`; the participant tries again.
    Refuse,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub json_body_bytes: usize,
    pub csv_body_bytes: usize,
    /// How long a request's handler (reading a JSON body included) may run: 408 after it.
    pub request_timeout_secs: u64,
    /// The handler timeout of streamed imports (CSV and route files), which read big bodies.
    pub import_timeout_secs: u64,
    /// The longest wait for the next chunk of a request body: a stalled upload answers 408.
    pub body_idle_timeout_secs: u64,
    /// Page sizes (`limit`) above this are clamped to it.
    pub max_page_size: u64,
    /// Rate limits (`[limits.rate]`).
    pub rate: RateLimitSettings,
}

/// Per-process rate limits (token buckets; a burst of 0 turns a limit off).
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Logins (WeChat, development, organiser) per client IP at once.
    pub login_burst: u32,
    /// One more login per client IP every this many milliseconds.
    pub login_refill_ms: u64,
    /// Step uploads (manual and WeRun) per participant at once.
    pub upload_burst: u32,
    /// One more upload per participant every this many milliseconds.
    pub upload_refill_ms: u64,
    /// Wrong organiser passwords per username within the window before a lock-out; 0 = off.
    pub organiser_max_failures: u32,
    pub organiser_failure_window_secs: u64,
    pub organiser_lockout_secs: u64,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-For` is believed: a list, or a comma-separated
    /// string (the form an environment variable takes).
    #[serde(deserialize_with = "list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// Keys remembered per limiter, so a flood of distinct keys can't exhaust memory.
    pub max_keys: usize,
}

/// A list of strings given as a TOML array or as one comma-separated string.
fn list_or_csv<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(de)? {
        ListOrCsv::List(items) => items,
        ListOrCsv::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl RateLimitSettings {
    /// The trusted proxies as networks (a bare IP is a /32 or /128).
    ///
    /// # Errors
    /// The first entry that is neither an IP address nor a CIDR.
    pub fn trusted_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("`{entry}` is neither an IP address nor a CIDR"))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// How far behind the latest upload a participant board may be (0: never behind).
    pub board_max_staleness_ms: u64,
    /// How long a campaign's settings and stations are reused (0: read every time).
    pub campaign_ttl_ms: u64,
    /// How far behind a back-dated upload the `reached_on` dates of cohort unlocks may be
    /// (0: moved inside the upload itself). Stations gained are never deferred.
    pub cohort_dates_max_staleness_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedSettings {
    pub route: bool,
    pub demo: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub level: String,
}

/// A settings file that cannot be read, or a value that fails validation.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot load settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        reason: reason.into(),
    }
}

impl Settings {
    /// Loads the settings for `LONGMARCH_ENV` (default `development`) from `./config`.
    ///
    /// # Errors
    /// When a file is malformed, a value has the wrong type, or validation fails.
    pub fn load() -> Result<Self, SettingsError> {
        let env = std::env::var("LONGMARCH_ENV").unwrap_or_else(|_| "development".to_owned());
        let dir = std::env::var("LONGMARCH_CONFIG_DIR").map_or_else(|_| PathBuf::from("config"), PathBuf::from);
        Self::load_from(&dir, &env, true)
    }

    /// Loads the settings for `env` from `dir`, optionally reading `LONGMARCH__…` variables.
    ///
    /// # Errors
    /// When a file is malformed, a value has the wrong type, or validation fails.
    pub fn load_from(dir: &Path, env: &str, with_env_vars: bool) -> Result<Self, SettingsError> {
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(false))
            .add_source(File::from(dir.join(format!("{env}.toml"))).required(false))
            .set_override("env", env)?;
        if with_env_vars {
            builder = builder.add_source(
                Environment::with_prefix("LONGMARCH")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that types alone can't, with production's stricter rules.
    ///
    /// # Errors
    /// The first invalid key, with the reason.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if self.database.pool_size() == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if !self.database.is_sqlite() && self.database.pool_size() < 2 {
            // With one connection every request would wait for the pool and answer 503.
            return Err(invalid(
                "database.max_connections",
                "must be at least 2 on PostgreSQL: the live-events listener holds one connection",
            ));
        }
        if self.database.min_connections > self.database.pool_size() {
            return Err(invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        if self.database.acquire_timeout_ms == 0 {
            return Err(invalid("database.acquire_timeout_ms", "must be positive"));
        }
        if self.auth.token_ttl_secs <= 0 {
            return Err(invalid("auth.token_ttl_secs", "must be positive"));
        }
        if self.auth.issuer.trim().is_empty() {
            return Err(invalid("auth.issuer", "must not be empty"));
        }
        if self.auth.audience.trim().is_empty() {
            return Err(invalid("auth.audience", "must not be empty"));
        }
        let secret = self.auth.jwt_secret.expose_secret();
        if secret.is_empty() {
            return Err(invalid("auth.jwt_secret", "must not be empty"));
        }
        if !self.wechat.api_base.starts_with("http://") && !self.wechat.api_base.starts_with("https://") {
            return Err(invalid("wechat.api_base", "must be an http(s) URL"));
        }
        if self.wechat.werun_max_age_secs <= 0 {
            return Err(invalid("wechat.werun_max_age_secs", "must be positive"));
        }
        self.validate_wechat()?;
        if self.limits.json_body_bytes < 1024 {
            return Err(invalid("limits.json_body_bytes", "must be at least 1024"));
        }
        if self.limits.max_page_size == 0 {
            return Err(invalid("limits.max_page_size", "must be at least 1"));
        }
        if self.cache.board_max_staleness_ms > 60_000 {
            return Err(invalid("cache.board_max_staleness_ms", "must be at most 60000"));
        }
        if self.cache.campaign_ttl_ms > 60_000 {
            return Err(invalid("cache.campaign_ttl_ms", "must be at most 60000"));
        }
        if self.cache.cohort_dates_max_staleness_ms > 60_000 {
            return Err(invalid("cache.cohort_dates_max_staleness_ms", "must be at most 60000"));
        }
        self.validate_limits()?;
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(invalid("log.format", "must be `pretty` or `json`"));
        }
        if self.env == "production" {
            if secret == DEV_JWT_SECRET {
                return Err(invalid(
                    "auth.jwt_secret",
                    "the development secret is refused in production",
                ));
            }
            if secret.len() < 32 {
                return Err(invalid("auth.jwt_secret", "must be at least 32 bytes in production"));
            }
            if self.auth.dev_login {
                return Err(invalid("auth.dev_login", "must be false in production"));
            }
        }
        Ok(())
    }

    /// The WeChat platform's values: each must be one WeChat accepts.
    fn validate_wechat(&self) -> Result<(), SettingsError> {
        let w = &self.wechat;
        if !(0..=3600).contains(&w.token_refresh_margin_secs) {
            return Err(invalid(
                "wechat.token_refresh_margin_secs",
                "must be between 0 and 3600",
            ));
        }
        if !matches!(w.qrcode_env_version.as_str(), "release" | "trial" | "develop") {
            return Err(invalid(
                "wechat.qrcode_env_version",
                "must be `release`, `trial` or `develop`",
            ));
        }
        if !(280..=1280).contains(&w.qrcode_width) {
            return Err(invalid("wechat.qrcode_width", "must be between 280 and 1280"));
        }
        if !matches!(w.miniprogram_state.as_str(), "formal" | "trial" | "developer") {
            return Err(invalid(
                "wechat.miniprogram_state",
                "must be `formal`, `trial` or `developer`",
            ));
        }
        if !matches!(w.lang.as_str(), "zh_CN" | "en_US" | "zh_HK" | "zh_TW") {
            return Err(invalid("wechat.lang", "must be zh_CN, en_US, zh_HK or zh_TW"));
        }
        for (key, page) in [
            ("wechat.join_page", &w.join_page),
            ("wechat.reminder_page", &w.reminder_page),
        ] {
            if page.trim().is_empty() || page.starts_with('/') {
                return Err(invalid(key, "must be a mini-program page path without a leading `/`"));
            }
        }
        Ok(())
    }

    /// Resource and rate limits: every timeout at least a second, every enabled bucket refilling.
    fn validate_limits(&self) -> Result<(), SettingsError> {
        let limits = &self.limits;
        if limits.csv_body_bytes < 1024 {
            return Err(invalid("limits.csv_body_bytes", "must be at least 1024"));
        }
        for (key, secs) in [
            ("limits.request_timeout_secs", limits.request_timeout_secs),
            ("limits.import_timeout_secs", limits.import_timeout_secs),
            ("limits.body_idle_timeout_secs", limits.body_idle_timeout_secs),
        ] {
            if !(1..=86_400).contains(&secs) {
                return Err(invalid(key, "must be between 1 and 86400 seconds"));
            }
        }
        let rate = &self.limits.rate;
        for (key, burst, refill_ms) in [
            ("limits.rate.login_refill_ms", rate.login_burst, rate.login_refill_ms),
            ("limits.rate.upload_refill_ms", rate.upload_burst, rate.upload_refill_ms),
        ] {
            if burst > 0 && !(1..=86_400_000).contains(&refill_ms) {
                return Err(invalid(
                    key,
                    "must be between 1 and 86400000 milliseconds while its burst is above 0",
                ));
            }
        }
        if rate.organiser_max_failures > 0 {
            for (key, secs) in [
                (
                    "limits.rate.organiser_failure_window_secs",
                    rate.organiser_failure_window_secs,
                ),
                ("limits.rate.organiser_lockout_secs", rate.organiser_lockout_secs),
            ] {
                if !(1..=86_400).contains(&secs) {
                    return Err(invalid(
                        key,
                        "must be between 1 and 86400 seconds while organiser_max_failures is above 0",
                    ));
                }
            }
        }
        if rate.max_keys < 1000 {
            return Err(invalid("limits.rate.max_keys", "must be at least 1000"));
        }
        rate.trusted_networks()
            .map_err(|reason| invalid("limits.rate.trusted_proxies", reason))?;
        Ok(())
    }
}
