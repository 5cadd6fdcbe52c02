//! The real binary: it serves, and exits cleanly on SIGTERM.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use sea_orm::EntityTrait;
use serde_json::json;

use crate::{
    faults::{Attempt, Outcome, assert_acknowledged_stored, enroll, finish_uploads, start_uploads},
    helpers::{DEMO, TestDatabase, today},
};

/// The `longmarch` binary, run from the repository root (for `config/`), with no
/// `LONGMARCH…` variable inherited from the environment of the test run.
pub fn longmarch_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_longmarch"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LONGMARCH") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A port that was free a moment ago, for a server started in another process.
///
/// Drawn below Linux's ephemeral range (32768–60999): a port the kernel hands out for `bind 0`
/// is also what the suite's many outgoing connections (HTTP clients, database pools) get, so
/// one of them could take it before the server binds it, and the server would exit.
pub fn free_port() -> u16 {
    use rand::Rng;
    for _ in 0..1000 {
        let port = rand::rng().random_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// Kills the child if the test fails before it exits.
pub struct Guard(pub Option<Child>);

impl Guard {
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child still owned")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            drop(child.kill());
            drop(child.wait());
        }
    }
}

pub async fn wait_until_healthy(client: &reqwest::Client, url: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = client.get(url).send().await
            && resp.status() == 200
        {
            return;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the server exited before it was healthy: {status}");
        }
        assert!(Instant::now() < deadline, "the server did not become healthy in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// `longmarch serve` on a free port over the SQLite file `db_path`, with JSON logs at info,
/// once it answers `/healthz`: the guard, the base URL and a client.
pub async fn serve(db_path: &Path) -> (Guard, String, reqwest::Client) {
    let port = free_port();
    let mut cmd = serve_command(&format!("sqlite://{}", db_path.display()), port);
    cmd.env("LONGMARCH__LOG__LEVEL", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    start(cmd, port).await
}

/// `longmarch serve` on a free port over `database_url` with extra `LONGMARCH__…` settings,
/// its output written to `log` (a pipe nobody reads would fill up and stall a busy server).
pub async fn serve_logged(database_url: &str, log: &Path, env: &[(&str, &str)]) -> (Guard, String, reqwest::Client) {
    let port = free_port();
    let file = std::fs::File::create(log).expect("create the server's log file");
    let mut cmd = serve_command(database_url, port);
    cmd.envs(env.iter().copied())
        .stdout(file.try_clone().expect("log file handle"))
        .stderr(file);
    start(cmd, port).await
}

fn serve_command(database_url: &str, port: u16) -> Command {
    let mut cmd = longmarch_command();
    cmd.env("LONGMARCH_ENV", "test")
        .env("LONGMARCH__DATABASE__URL", database_url)
        .env("LONGMARCH__SERVER__PORT", port.to_string())
        .env("LONGMARCH__LOG__FORMAT", "json")
        .arg("serve");
    cmd
}

async fn start(mut cmd: Command, port: u16) -> (Guard, String, reqwest::Client) {
    let child = cmd.spawn().expect("spawn longmarch serve");
    let mut guard = Guard(Some(child));
    let client = crate::helpers::client();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_healthy(&client, &format!("{base}/healthz"), guard.child()).await;
    (guard, base, client)
}

/// GETs `url` and reads its JSON body.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let resp = client.get(url).send().await.expect("request");
    resp.json().await.expect("JSON")
}

/// Waits for the child to exit, at most `limit`; its status and how long it took.
pub async fn wait_for_exit(guard: &mut Guard, limit: Duration) -> (ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = guard.child().try_wait().expect("try_wait") {
            return (status, started.elapsed());
        }
        assert!(started.elapsed() < limit, "no exit within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn serve_then_signal(signal: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("nested").join("longmarch.db");
    let (mut guard, base, client) = serve(&db_path).await;

    // It serves the seeded demo over a SQLite file whose directory it created.
    let body = get_json(&client, &format!("{base}/api/v1/campaigns/long-march-demo")).await;
    assert_eq!(body["stations"].as_array().map(Vec::len), Some(36));
    assert!(db_path.exists(), "database file created");

    send_signal(guard.child(), signal);
    let (status, _) = wait_for_exit(&mut guard, Duration::from_secs(15)).await;
    // The exit status is cached by `try_wait`; this only collects the output.
    let out = guard.0.take().expect("child").wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        status.success(),
        "exit status {status}; stdout: {stdout}; stderr: {stderr}"
    );
    assert!(stdout.contains("\"listening\""), "logs the start: {stdout}");
    assert!(stdout.contains("\"stopped\""), "logs the clean stop: {stdout}");
    assert!(
        client.get(format!("{base}/healthz")).send().await.is_err(),
        "the port is closed after exit"
    );
}

#[tokio::test]
async fn serve_exits_cleanly_on_sigterm() {
    serve_then_signal("TERM").await;
}

#[tokio::test]
async fn serve_exits_cleanly_on_sigint() {
    serve_then_signal("INT").await;
}

/// An upload whose head and first half of body are sent on a raw connection: in flight until
/// `finish` sends the rest.
struct HalfSent {
    stream: tokio::net::TcpStream,
    rest: Vec<u8>,
}

impl HalfSent {
    async fn start(port: u16, token: &str, body: &serde_json::Value) -> Self {
        use tokio::io::AsyncWriteExt;
        let body = body.to_string().into_bytes();
        let head = format!(
            "POST /api/v1/campaigns/{DEMO}/steps HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (first, rest) = body.split_at(body.len() / 2);
        stream.write_all(head.as_bytes()).await.expect("send head");
        stream.write_all(first).await.expect("send half the body");
        stream.flush().await.expect("flush");
        Self {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the rest of the body; the answer's status line, or the I/O error.
    async fn finish(mut self) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(&self.rest).await?;
        let mut answer = Vec::new();
        self.stream.read_to_end(&mut answer).await?;
        let text = String::from_utf8_lossy(&answer);
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in base URL")
}

/// Polls until a fresh TCP connection to `port` is refused; false if it never is within `limit`.
async fn refuses_connections(port: u16, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn sigterm_finishes_in_flight_uploads_refuses_new_connections_and_loses_no_acknowledged_write() {
    let (_database, url) = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("LONGMARCH__LOG__LEVEL", "warn"),
        ("LONGMARCH__SERVER__SHUTDOWN_TIMEOUT_SECS", "10"),
    ];
    let (mut guard, base, client) = serve_logged(&url, &dir.path().join("server.log"), &env).await;
    let port = port_of(&base);
    let mut uploaders = Vec::new();
    for i in 0..24 {
        uploaders.push(enroll(&client, &base, &format!("o_term{i}"), i).await);
    }
    // Sixteen uploads in flight at the signal: head and half the body sent, the rest after.
    let mut in_flight = Vec::new();
    for i in 0..16 {
        let who = enroll(&client, &base, &format!("o_term_slow{i}"), i).await;
        let steps = 4_000 + i64::try_from(i).expect("small");
        let body = json!({ "days": [{ "date": today(), "steps": steps }] });
        let request = HalfSent::start(port, &who.token, &body).await;
        in_flight.push((who, steps, request));
    }
    let (stop, tasks) = start_uploads(&uploaders, std::slice::from_ref(&base), Duration::from_millis(200));
    tokio::time::sleep(Duration::from_secs(1)).await;

    send_signal(guard.child(), "TERM");
    let signalled = Instant::now();
    assert!(
        refuses_connections(port, Duration::from_secs(3)).await,
        "new connections are refused after SIGTERM"
    );
    assert!(
        guard.child().try_wait().expect("try_wait").is_none(),
        "the server is still finishing the requests in flight"
    );
    let mut attempts = Vec::new();
    for (who, steps, request) in in_flight {
        let status_line = request.finish().await.expect("the in-flight upload gets its answer");
        assert!(
            status_line.starts_with("HTTP/1.1 200"),
            "in-flight upload: {status_line}"
        );
        attempts.push(Attempt {
            openid: who.openid,
            day: today(),
            steps,
            started: signalled,
            elapsed: signalled.elapsed(),
            outcome: Outcome::Answer {
                status: 200,
                problem: false,
                code: None,
                retry_after: None,
            },
        });
    }
    attempts.extend(finish_uploads(&stop, tasks).await);
    let (status, _) = wait_for_exit(&mut guard, Duration::from_secs(15)).await;
    let exit_after = signalled.elapsed();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(status.success(), "exit status {status}; log: {log}");
    assert!(
        exit_after < Duration::from_secs(10 + 2),
        "exit within server.shutdown_timeout_secs (10 s) of SIGTERM: {exit_after:?}"
    );

    for a in &attempts {
        assert!(
            matches!(a.outcome, Outcome::Transport(_)) || a.acknowledged(),
            "an upload answered neither 2xx nor a refused connection: {:?}",
            a.outcome
        );
    }
    let db = sea_orm::Database::connect(&url).await.expect("open the database");
    let acknowledged = assert_acknowledged_stored(&db, &attempts).await;
    let after_signal = attempts
        .iter()
        .filter(|a| a.acknowledged() && a.started + a.elapsed >= signalled)
        .count();
    assert!(acknowledged > 50, "the run uploaded something: {acknowledged}");
    eprintln!(
        "sigterm: {} uploads, {acknowledged} acknowledged and stored ({after_signal} answered after SIGTERM), \
         {} refused after it; exit 0 {exit_after:?} after SIGTERM",
        attempts.len(),
        attempts
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Transport(_)))
            .count(),
    );
}

#[tokio::test]
async fn sigterm_waits_for_a_stalled_request_no_longer_than_the_shutdown_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("stall.db").display());
    let env = [("LONGMARCH__SERVER__SHUTDOWN_TIMEOUT_SECS", "2")];
    let (mut guard, base, client) = serve_logged(&url, &dir.path().join("server.log"), &env).await;
    let who = enroll(&client, &base, "o_stall", 0).await;
    let stalled = HalfSent::start(
        port_of(&base),
        &who.token,
        &json!({ "days": [{ "date": today(), "steps": 777 }] }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    send_signal(guard.child(), "TERM");
    let (status, took) = wait_for_exit(&mut guard, Duration::from_secs(8)).await;
    assert!(status.success(), "exit status {status}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "waited for the stalled request, then gave up at the 2 s shutdown timeout: {took:?}"
    );
    let answer = stalled.finish().await;
    assert!(
        !answer.as_deref().is_ok_and(|line| line.starts_with("HTTP/1.1 2")),
        "the abandoned upload was not acknowledged: {answer:?}"
    );
    let db = sea_orm::Database::connect(&url).await.expect("open the database");
    let rows = longmarch::models::step_days::Entity::find()
        .all(&db)
        .await
        .expect("rows");
    assert!(rows.is_empty(), "the abandoned upload stored nothing: {rows:?}");
}

/// `Application::handle` stops a server inside its process as SIGTERM stops `serve`: the run
/// ends (its background workers with it) and the port refuses new connections. The load
/// benchmark's `--scale` relies on it to start one server per campaign size in one process.
#[tokio::test]
async fn a_server_stopped_through_its_handle_ends_its_run_and_frees_its_port() {
    let (database, url) = TestDatabase::create().await;
    let app = longmarch::startup::Application::build(crate::helpers::test_settings(&url))
        .await
        .expect("build app");
    let port = app.port();
    let handle = app.handle();
    let run = tokio::spawn(app.run_until_stopped());
    let health = crate::helpers::client()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("the server answers");
    assert!(health.status().is_success(), "{}", health.status());

    handle.stop(false).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends once stopped")
        .expect("the run's task");
    assert!(ended.is_ok(), "the run ended with {ended:?}");
    assert!(
        refuses_connections(port, Duration::from_secs(2)).await,
        "port {port} still accepts connections"
    );
    drop(database);
}
