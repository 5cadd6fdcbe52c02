//! `spawn_app()`: a real server on a random port over a fresh database per test: a new
//! SQLite file by default, or a new PostgreSQL database when `TEST_DATABASE_URL` is set
//! (dropped again when the `TestApp` is dropped).

#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{NaiveDate, Utc};
use longmarch::{models::campaigns, settings::Settings, startup::Application};
use rand::Rng;
use reqwest::{Client, Response};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, IntoActiveModel, Set};
use secrecy::SecretString;
use serde_json::{Value, json as json_value};

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: Client,
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub database: TestDatabase,
}

/// Where a test's database lives, so it can be removed afterwards.
pub enum TestDatabase {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another `TestApp`'s database (see `spawn_app_on`): its owner removes it.
    Shared,
}

impl TestDatabase {
    /// A fresh, empty database and its URL.
    pub async fn create() -> (Self, String) {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("lm_test_{:016x}", rand::rng().random::<u64>());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                drop(admin.close().await);
                let url = replace_db_name(&admin_url, &name);
                (Self::Postgres { admin_url, name }, url)
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("longmarch-test.db");
                let url = format!("sqlite://{}", path.display());
                (Self::Sqlite { _dir: dir, path }, url)
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, name } = self {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs outside async context guarantees: use a thread with its own runtime.
            let handle = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        drop(
                            admin
                                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .await,
                        );
                        drop(admin.close().await);
                    }
                });
            });
            drop(handle.join());
        }
    }
}

/// `postgres://user@host:port/db?x` with the database name replaced.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Settings of the `test` environment, pointed at `database_url`.
pub fn test_settings(database_url: &str) -> Settings {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_from(&dir, "test", false).expect("test settings");
    settings.database.url = SecretString::from(database_url.to_owned());
    settings.database.max_connections = Some(8);
    settings
}

/// Spawns another app on an existing database (a second instance, or a restart).
pub async fn spawn_app_on(url: &str) -> TestApp {
    spawn_app_on_with(url, |_| {}).await
}

/// Spawns another app on an existing database after letting the test adjust its settings.
pub async fn spawn_app_on_with(url: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(url);
    adjust(&mut settings);
    start(settings, TestDatabase::Shared).await
}

/// Spawns the app with the `test` settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app on a fresh database after letting the test adjust its settings.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let (database, url) = TestDatabase::create().await;
    let mut settings = test_settings(&url);
    adjust(&mut settings);
    start(settings, database).await
}

async fn start(settings: Settings, database: TestDatabase) -> TestApp {
    let app = Application::build(settings.clone()).await.expect("build app");
    let port = app.port();
    let db = app.state().db.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: client(),
        db,
        settings,
        database,
    }
}

/// An HTTP client for the test servers, built as the service builds its own.
pub fn client() -> Client {
    longmarch::http_client::builder().build().expect("client")
}

impl TestApp {
    /// The URL of this app's database.
    pub fn database_url(&self) -> String {
        use secrecy::ExposeSecret;
        self.settings.database.url.expose_secret().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch_auth(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

/// Reads a JSON body, panicking with the status and text when it isn't JSON.
pub async fn json(resp: Response) -> Value {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text}"))
}

/// Asserts a problem+json answer with the given status and code; returns the body.
pub async fn assert_problem(resp: Response, status: u16, code: &str) -> Value {
    assert_eq!(
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "content type of a {} answer",
        resp.status()
    );
    let actual = resp.status().as_u16();
    let body = json(resp).await;
    assert_eq!(actual, status, "status; body: {body}");
    assert_eq!(body["code"], code, "code; body: {body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// The demo campaign every test database is seeded with.
pub const DEMO: &str = "long-march-demo";

/// Changes the demo campaign's row directly, behind the API's back.
pub async fn update_demo(app: &TestApp, change: impl FnOnce(&mut campaigns::ActiveModel)) {
    let demo = campaigns::Model::find_by_slug(&app.db, DEMO)
        .await
        .expect("q")
        .expect("demo");
    let mut active = demo.into_active_model();
    change(&mut active);
    active.update(&app.db).await.expect("update the demo campaign");
}

/// Closes the demo campaign.
pub async fn close_demo(app: &TestApp) {
    update_demo(app, |c| c.status = Set(campaigns::CampaignStatus::Closed)).await;
}

/// Today in the demo campaign's zone (Asia/Shanghai).
pub fn today() -> NaiveDate {
    longmarch::domain::days::today_in(chrono_tz::Asia::Shanghai, Utc::now())
}

/// A participant token through the development login.
pub async fn dev_login(app: &TestApp, openid: &str) -> String {
    let resp = app
        .post_json("/api/v1/auth/dev", &json_value!({ "openid": openid }))
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await["token"].as_str().expect("token").to_owned()
}

/// Creates an organiser (`admin` or `organiser`) with password `password123` and logs in.
pub async fn organiser_token(app: &TestApp, username: &str, role: &str) -> String {
    longmarch::services::identity::organiser_accounts::create(&app.db, username, "password123", role)
        .await
        .expect("create organiser");
    let resp = app
        .post_json(
            "/api/v1/auth/organiser",
            &json_value!({ "username": username, "password": "password123" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await["token"].as_str().expect("token").to_owned()
}

/// An organiser's token issued with the service's keys, without the login request: for
/// tests whose limits (a request timeout of a second) are not about logging in, where the
/// password hash alone may take that long on a loaded machine.
pub async fn organiser_token_issued(app: &TestApp, username: &str, role: &str) -> String {
    let organiser = longmarch::services::identity::organiser_accounts::create(&app.db, username, "password123", role)
        .await
        .expect("create organiser");
    let role = match role {
        "admin" => longmarch::services::identity::jwt::Role::Admin,
        _ => longmarch::services::identity::jwt::Role::Organiser,
    };
    longmarch::services::identity::jwt::JwtKeys::new(&app.settings.auth)
        .expect("the signing keys")
        .issue(organiser.id, role, None)
        .expect("issue a token")
        .token
}

/// Takes, on a connection of our own as another process would, the locks an upload of a
/// DEMO01 member needs: SQLite's write lock (the upload waits at `BEGIN IMMEDIATE`), and on
/// PostgreSQL the class's row, which the upload updates after its step day and enrollment.
/// Rolling the transaction back releases them.
pub async fn hold_upload_locks(app: &TestApp) -> (sea_orm::DatabaseConnection, sea_orm::DatabaseTransaction) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let other = sea_orm::Database::connect(app.database_url()).await.expect("connect");
    let holder = other.begin().await.expect("begin");
    holder
        .execute_unprepared("UPDATE cohorts SET name = name WHERE join_code = 'DEMO01'")
        .await
        .expect("take the lock");
    (other, holder)
}
