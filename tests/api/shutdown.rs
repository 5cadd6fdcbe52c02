//! The real binary: it serves, and exits cleanly on SIGTERM.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
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

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
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
pub async fn serve(db_path: &std::path::Path) -> (Guard, String, reqwest::Client) {
    let port = free_port();
    let child = longmarch_command()
        .env("LONGMARCH_ENV", "test")
        .env("LONGMARCH__DATABASE__URL", format!("sqlite://{}", db_path.display()))
        .env("LONGMARCH__SERVER__PORT", port.to_string())
        .env("LONGMARCH__LOG__LEVEL", "info")
        .env("LONGMARCH__LOG__FORMAT", "json")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn longmarch serve");
    let mut guard = Guard(Some(child));
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_until_healthy(&client, &format!("{base}/healthz"), guard.child()).await;
    (guard, base, client)
}

async fn serve_then_signal(signal: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("nested").join("longmarch.db");
    let (mut guard, base, client) = serve(&db_path).await;

    // It serves the seeded demo over a SQLite file whose directory it created.
    let body: serde_json::Value = client
        .get(format!("{base}/api/v1/campaigns/long-march-demo"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["stations"].as_array().map(Vec::len), Some(36));
    assert!(db_path.exists(), "database file created");

    send_signal(guard.child(), signal);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = guard.child().try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit within 15 s of SIG{signal}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
