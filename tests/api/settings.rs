//! Settings: layering, production refusals naming the key, secrets kept out of `Debug`.

use std::path::{Path, PathBuf};

use longmarch::settings::{DEV_JWT_SECRET, Settings, SettingsError};
use secrecy::{ExposeSecret, SecretString};

use crate::shutdown::longmarch_command;

const STRONG_SECRET: &str = "a-production-secret-of-more-than-32-bytes";

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// A config directory holding the repository's `production.toml` and a `default.toml` of our own.
fn production_dir(default_toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        repo_config().join("production.toml"),
        dir.path().join("production.toml"),
    )
    .expect("copy production.toml");
    std::fs::write(dir.path().join("default.toml"), default_toml).expect("write default.toml");
    dir
}

fn invalid_key(result: Result<Settings, SettingsError>) -> (&'static str, String) {
    match result {
        Err(SettingsError::Invalid { key, reason }) => (key, reason),
        Err(other) => panic!("expected a validation error, got {other}"),
        Ok(_) => panic!("expected a validation error, the settings loaded"),
    }
}

fn load_production(dir: &Path) -> Result<Settings, SettingsError> {
    Settings::load_from(dir, "production", false)
}

#[test]
fn production_refuses_the_development_jwt_secret() {
    // The repository's production.toml sets no secret: the compiled-in default applies.
    let result = load_production(&repo_config());
    let (key, reason) = invalid_key(result);
    assert_eq!(key, "auth.jwt_secret");
    assert!(reason.contains("development secret"), "reason: {reason}");
}

#[test]
fn production_refuses_a_jwt_secret_under_32_bytes() {
    let dir = production_dir("[auth]\njwt_secret = \"only-31-bytes-long-secret-xxxxx\"\n");
    let err = load_production(dir.path()).expect_err("short secret refused");
    let message = err.to_string();
    assert!(
        message.contains("`auth.jwt_secret`"),
        "message names the key: {message}"
    );
    assert!(message.contains("32 bytes"), "message says why: {message}");
}

#[test]
fn production_refuses_dev_login() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("production.toml"),
        format!("[auth]\njwt_secret = \"{STRONG_SECRET}\"\ndev_login = true\n"),
    )
    .expect("write production.toml");
    let (key, reason) = invalid_key(load_production(dir.path()));
    assert_eq!(key, "auth.dev_login");
    assert!(reason.contains("false in production"), "reason: {reason}");
}

#[test]
fn the_environment_file_overrides_the_defaults() {
    // default.toml asks for dev_login, production.toml (copied from the repository) says no.
    let dir = production_dir(&format!("[auth]\njwt_secret = \"{STRONG_SECRET}\"\ndev_login = true\n"));
    let settings = load_production(dir.path()).expect("production.toml wins over default.toml");
    assert!(!settings.auth.dev_login);
}

#[test]
fn a_valid_production_config_loads_with_the_environment_file_on_top() {
    let dir = production_dir(&format!(
        "[auth]\njwt_secret = \"{STRONG_SECRET}\"\n[database]\nurl = \"postgres://lm:pw@db.internal/longmarch\"\n"
    ));
    let settings = load_production(dir.path()).expect("valid production settings");
    assert_eq!(settings.env, "production");
    assert_eq!(settings.auth.jwt_secret.expose_secret(), STRONG_SECRET);
    assert_eq!(
        settings.database.url.expose_secret(),
        "postgres://lm:pw@db.internal/longmarch"
    );
    assert!(!settings.database.is_sqlite());
    // From production.toml, over the compiled-in defaults.
    assert_eq!(settings.server.host, "0.0.0.0");
    assert_eq!(settings.log.format, "json");
    assert!(!settings.auth.dev_login);
    assert!(!settings.seed.demo);
    // From the compiled-in defaults, untouched by either file.
    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.limits.max_page_size, 100);
}

#[test]
fn other_environments_accept_the_development_secret() {
    let dev = Settings::load_from(&repo_config(), "development", false).expect("development settings");
    assert_eq!(dev.auth.jwt_secret.expose_secret(), DEV_JWT_SECRET);
    assert!(dev.auth.dev_login);
    assert!(dev.seed.demo);
    let test = Settings::load_from(&repo_config(), "test", false).expect("test settings");
    assert_eq!(test.server.port, 0);
}

/// A key and a change to valid settings that makes that key invalid.
type Breakage = (&'static str, fn(&mut Settings));

#[test]
fn validation_errors_name_the_key() {
    let base = Settings::load_from(&repo_config(), "test", false).expect("test settings");
    let cases: [Breakage; 21] = [
        ("database.url", |s| s.database.url = SecretString::from("mysql://x/y")),
        ("database.max_connections", |s| s.database.max_connections = Some(0)),
        ("database.min_connections", |s| {
            s.database.min_connections = s.database.pool_size() + 1
        }),
        ("auth.jwt_secret", |s| s.auth.jwt_secret = SecretString::from("")),
        ("auth.token_ttl_secs", |s| s.auth.token_ttl_secs = 0),
        ("wechat.api_base", |s| s.wechat.api_base = "ftp://x".to_owned()),
        ("log.format", |s| s.log.format = "xml".to_owned()),
        ("database.max_connections", |s| {
            s.database.url = SecretString::from("postgres://lm@db/lm");
            s.database.max_connections = Some(1);
        }),
        ("limits.request_timeout_secs", |s| s.limits.request_timeout_secs = 0),
        ("limits.request_timeout_secs", |s| {
            s.limits.request_timeout_secs = 100_000
        }),
        ("limits.import_timeout_secs", |s| s.limits.import_timeout_secs = 0),
        ("limits.body_idle_timeout_secs", |s| s.limits.body_idle_timeout_secs = 0),
        ("limits.csv_body_bytes", |s| s.limits.csv_body_bytes = 10),
        ("limits.max_page_size", |s| s.limits.max_page_size = 0),
        ("limits.rate.login_refill_ms", |s| s.limits.rate.login_refill_ms = 0),
        ("limits.rate.upload_refill_ms", |s| s.limits.rate.upload_refill_ms = 0),
        ("limits.rate.organiser_failure_window_secs", |s| {
            s.limits.rate.organiser_failure_window_secs = 0
        }),
        ("limits.rate.organiser_lockout_secs", |s| {
            s.limits.rate.organiser_lockout_secs = 0
        }),
        ("limits.rate.max_keys", |s| s.limits.rate.max_keys = 10),
        ("limits.rate.trusted_proxies", |s| {
            s.limits.rate.trusted_proxies = vec!["10.0.0.0/8".to_owned(), "proxy.internal".to_owned()]
        }),
        ("limits.rate.trusted_proxies", |s| {
            s.limits.rate.trusted_proxies = vec!["10.0.0.0/33".to_owned()]
        }),
    ];
    for (key, break_it) in cases {
        let mut settings = base.clone();
        break_it(&mut settings);
        match settings.validate() {
            Err(SettingsError::Invalid { key: named, .. }) => assert_eq!(named, key),
            other => panic!("{key}: expected a validation error naming it, got {other:?}"),
        }
    }
    // A rate limit that is off needs no refill or window.
    let mut off = base.clone();
    off.limits.rate.upload_burst = 0;
    off.limits.rate.upload_refill_ms = 0;
    off.limits.rate.organiser_max_failures = 0;
    off.limits.rate.organiser_lockout_secs = 0;
    off.validate().expect("limits that are off");
}

#[test]
fn a_value_of_the_wrong_type_is_a_load_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("test.toml"), "[server]\nport = \"eighty\"\n").expect("write");
    let err = Settings::load_from(dir.path(), "test", false).expect_err("bad type refused");
    assert!(matches!(err, SettingsError::Load(_)), "{err}");
    assert!(err.to_string().contains("port"), "message names the key: {err}");
}

#[test]
fn debug_output_never_contains_secrets() {
    let mut settings = Settings::load_from(&repo_config(), "test", false).expect("test settings");
    settings.auth.jwt_secret = SecretString::from("jwt-secret-that-must-not-leak-0123456789");
    settings.auth.previous_jwt_secret = Some(SecretString::from("previous-secret-that-must-not-leak"));
    settings.wechat.secret = SecretString::from("wechat-secret-that-must-not-leak");
    settings.database.url = SecretString::from("postgres://lm:db-password-must-not-leak@db/lm");
    let debug = format!("{settings:?} {settings:#?}");
    for secret in [
        "jwt-secret-that-must-not-leak",
        "previous-secret-that-must-not-leak",
        "wechat-secret-that-must-not-leak",
        "db-password-must-not-leak",
        DEV_JWT_SECRET,
    ] {
        assert!(!debug.contains(secret), "Debug output leaks {secret}: {debug}");
    }
    assert!(debug.contains("REDACTED"), "secrets are shown as redacted: {debug}");
    // Non-secret values are still there to help debugging.
    assert!(debug.contains("wx4f4bc4dec97d474b"));
}

// Environment variables are process-global and the tests run in parallel, so the
// `LONGMARCH__…` layer is exercised in a child process: the real binary loading its settings.

#[test]
fn production_binary_refuses_to_start_naming_the_key() {
    let out = longmarch_command()
        .env("LONGMARCH_ENV", "production")
        .arg("openapi")
        .output()
        .expect("run longmarch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("`auth.jwt_secret`"), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing printed on stdout");
}

#[test]
fn environment_variables_override_the_files() {
    // A strong secret from the environment makes production settings valid…
    let out = longmarch_command()
        .env("LONGMARCH_ENV", "production")
        .env("LONGMARCH__AUTH__JWT_SECRET", STRONG_SECRET)
        .arg("openapi")
        .output()
        .expect("run longmarch");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("spec is JSON");
    assert!(spec["paths"].is_object());

    // …and a boolean from the environment overrides production.toml's `dev_login = false`.
    let out = longmarch_command()
        .env("LONGMARCH_ENV", "production")
        .env("LONGMARCH__AUTH__JWT_SECRET", STRONG_SECRET)
        .env("LONGMARCH__AUTH__DEV_LOGIN", "true")
        .arg("openapi")
        .output()
        .expect("run longmarch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("`auth.dev_login`"), "stderr: {stderr}");
    assert!(!stderr.contains(STRONG_SECRET), "the secret is never printed: {stderr}");
}

#[test]
fn the_pool_size_follows_the_backend_unless_set() {
    let mut s = Settings::load_from(&repo_config(), "development", false).expect("settings");
    assert_eq!(
        s.database.max_connections, None,
        "the shipped defaults leave it to the backend"
    );
    s.database.url = SecretString::from("sqlite://data/x.db");
    assert_eq!(s.database.pool_size(), 6);
    s.database.url = SecretString::from("postgres://lm@db/lm");
    assert_eq!(s.database.pool_size(), 16);
    s.database.max_connections = Some(40);
    assert_eq!(s.database.pool_size(), 40);
}
