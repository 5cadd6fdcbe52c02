//! Faults: the database goes away mid-run and comes back, and several processes write to one
//! SQLite file. Every upload the server acknowledged with a 2xx must be in the database
//! afterwards, and the stored totals must equal a rebuild from the step days.
//!
//! The PostgreSQL test starts its own throwaway server (initdb + pg_ctl in a temp dir), so it
//! needs no `TEST_DATABASE_URL`: it runs in the pass without it and skips itself in the
//! `TEST_DATABASE_URL` pass, which would only repeat it.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use longmarch::models::{participants, step_days};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::{DEMO, TestApp, TestDatabase, spawn_app_on_with, test_settings, today},
    shutdown::{free_port, get_json, send_signal, serve_logged, wait_for_exit},
    steps::snapshot,
};

/// The longest a failed request may take while the database is down: no hangs.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// One upload attempt and what came of it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub openid: String,
    pub day: NaiveDate,
    pub steps: i64,
    pub started: Instant,
    pub elapsed: Duration,
    pub outcome: Outcome,
}

/// An HTTP answer (status, problem `code`, `Retry-After`), or a transport error.
#[derive(Debug, Clone)]
pub enum Outcome {
    Answer {
        status: u16,
        problem: bool,
        code: Option<String>,
        retry_after: Option<String>,
    },
    Transport(String),
}

impl Attempt {
    /// True when the server acknowledged the upload.
    pub fn acknowledged(&self) -> bool {
        matches!(self.outcome, Outcome::Answer { status, .. } if (200..300).contains(&status))
    }

    /// True for a deliberate 503 problem+json (`busy` or `database_unavailable`) with a
    /// `Retry-After` header.
    pub fn unavailable(&self) -> bool {
        matches!(&self.outcome, Outcome::Answer { status: 503, problem: true, code: Some(code), retry_after: Some(_) }
            if code == "busy" || code == "database_unavailable")
    }

    fn ended(&self) -> Instant {
        self.started + self.elapsed
    }
}

/// A participant who uploads in a loop.
#[derive(Debug, Clone)]
pub struct Uploader {
    pub openid: String,
    pub token: String,
}

/// Logs `openid` in and enrolls them in the demo campaign (class `DEMO01`..`DEMO04` by `i`).
pub async fn enroll(client: &reqwest::Client, base: &str, openid: &str, i: usize) -> Uploader {
    let resp = client
        .post(format!("{base}/api/v1/auth/dev"))
        .json(&json!({ "openid": openid }))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200, "dev login");
    let body: Value = resp.json().await.expect("JSON");
    let token = body["token"].as_str().expect("token").to_owned();
    let resp = client
        .post(format!("{base}/api/v1/campaigns/{DEMO}/join"))
        .bearer_auth(&token)
        .json(&json!({ "join_code": format!("DEMO0{}", i % 4 + 1) }))
        .send()
        .await
        .expect("join");
    assert!(resp.status().is_success(), "join: {}", resp.status());
    Uploader {
        openid: openid.to_owned(),
        token,
    }
}

/// Uploads ever larger counts for today and the two days before, round-robin over `bases`,
/// one request at a time with `pause` between them, until `stop` is set. Each request has a
/// generous client timeout, so a hung server shows up as a slow attempt rather than a hang.
pub async fn upload_until(who: Uploader, bases: Vec<String>, stop: Arc<AtomicBool>, pause: Duration) -> Vec<Attempt> {
    let client = longmarch::http_client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut attempts = Vec::new();
    let mut k: i64 = 0;
    while !stop.load(Ordering::SeqCst) {
        k += 1;
        let day = today() - chrono::Days::new(u64::try_from(k % 3).expect("small"));
        let base = &bases[usize::try_from(k).expect("small") % bases.len()];
        attempts.push(upload_once(&client, base, &who, day, 1_000 + k * 37).await);
        tokio::time::sleep(pause).await;
    }
    attempts
}

/// One manual upload of `steps` for `day`, and what came of it.
pub async fn upload_once(client: &reqwest::Client, base: &str, who: &Uploader, day: NaiveDate, steps: i64) -> Attempt {
    let started = Instant::now();
    let sent = client
        .post(format!("{base}/api/v1/campaigns/{DEMO}/steps"))
        .bearer_auth(&who.token)
        .json(&json!({ "days": [{ "date": day, "steps": steps }] }))
        .send()
        .await;
    let outcome = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let problem = header("content-type").as_deref() == Some("application/problem+json");
            let retry_after = header("retry-after");
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            Outcome::Answer {
                status,
                problem,
                code: body["code"].as_str().map(str::to_owned),
                retry_after,
            }
        }
        Err(e) => Outcome::Transport(e.to_string()),
    };
    Attempt {
        openid: who.openid.clone(),
        day,
        steps,
        started,
        elapsed: started.elapsed(),
        outcome,
    }
}

/// Starts one `upload_until` task per uploader; stop them with the returned flag.
pub fn start_uploads(
    uploaders: &[Uploader],
    bases: &[String],
    pause: Duration,
) -> (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<Vec<Attempt>>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = uploaders
        .iter()
        .map(|who| tokio::spawn(upload_until(who.clone(), bases.to_vec(), stop.clone(), pause)))
        .collect();
    (stop, tasks)
}

/// Stops the upload tasks and gathers every attempt.
pub async fn finish_uploads(stop: &AtomicBool, tasks: Vec<tokio::task::JoinHandle<Vec<Attempt>>>) -> Vec<Attempt> {
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("upload task"));
    }
    all
}

/// Asserts that every acknowledged (participant, day, steps) is stored with at least those
/// steps, reading `step_days` directly; returns how many acknowledgements were checked.
pub async fn assert_acknowledged_stored(db: &DatabaseConnection, attempts: &[Attempt]) -> usize {
    let ids: HashMap<i32, String> = participants::Entity::find()
        .all(db)
        .await
        .expect("participants")
        .into_iter()
        .map(|p| (p.id, p.openid))
        .collect();
    let stored: HashMap<(String, NaiveDate), i64> = step_days::Entity::find()
        .all(db)
        .await
        .expect("step days")
        .into_iter()
        .map(|d| ((ids[&d.participant_id].clone(), d.day), d.steps))
        .collect();
    let mut checked = 0;
    for a in attempts.iter().filter(|a| a.acknowledged()) {
        let have = stored.get(&(a.openid.clone(), a.day)).copied();
        assert!(
            have.is_some_and(|s| s >= a.steps),
            "acknowledged upload lost: {} {} {} steps, stored {have:?}",
            a.openid,
            a.day,
            a.steps
        );
        checked += 1;
    }
    checked
}

/// Asserts that rebuilding the demo campaign from its step days changes nothing.
pub async fn assert_totals_equal_recompute(app: &TestApp) {
    let stored = snapshot(app).await;
    longmarch::services::progress::recompute_campaign(&app.db, DEMO)
        .await
        .expect("recompute");
    assert_eq!(
        stored,
        snapshot(app).await,
        "stored totals equal a rebuild from the step days"
    );
}

/// A `TestApp` over an existing database, for the checks above (it serves nothing).
async fn checker(url: &str) -> TestApp {
    TestApp {
        address: String::new(),
        port: 0,
        client: crate::helpers::client(),
        db: Database::connect(url).await.expect("connect for the checks"),
        settings: test_settings(url),
        database: TestDatabase::Shared,
    }
}

/// Counts of attempts by outcome, for failure messages and the report.
fn tally(attempts: &[Attempt]) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for a in attempts {
        let key = match &a.outcome {
            Outcome::Answer { status, code, .. } => format!("{status} {}", code.as_deref().unwrap_or("-")),
            Outcome::Transport(e) => format!("transport error: {e}"),
        };
        *counts.entry(key).or_default() += 1;
    }
    let mut lines: Vec<String> = counts.into_iter().map(|(k, n)| format!("{n} × {k}")).collect();
    lines.sort();
    lines.join("; ")
}

/// A PostgreSQL server of its own in a temp dir, stopped and removed when dropped (also when
/// the test fails). As root, initdb refuses to run, so the server runs as an unprivileged
/// user (`postgres`, else `nobody`) through `runuser`, in a directory handed to that user.
pub struct ThrowawayPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    run_as: Option<String>,
}

impl ThrowawayPostgres {
    /// The directory holding `initdb`, `pg_ctl` and `postgres`: the newest
    /// `/usr/lib/postgresql/*/bin`, else the one of the `initdb` found on `PATH`.
    pub fn binaries() -> Option<PathBuf> {
        let complete = |dir: &Path| ["initdb", "pg_ctl", "postgres"].iter().all(|b| dir.join(b).is_file());
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                complete(&bin).then_some((version, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return Some(bin);
        }
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
            .filter_map(|initdb| initdb.parent().map(Path::to_path_buf))
            .find(|dir| complete(dir))
    }

    /// initdb in a fresh temp dir, then start on a free port (trust auth, 127.0.0.1 only,
    /// its unix socket in the temp dir so no other server's is touched).
    pub async fn start_new(bin: PathBuf) -> Self {
        let dir = tempfile::Builder::new().prefix("lm-pg-").tempdir().expect("temp dir");
        let run_as = running_as_root().then(unprivileged_user);
        if let Some(user) = &run_as {
            run(
                Command::new("chown").arg(format!("{user}:")).arg(dir.path()),
                "chown the temp dir",
            );
        }
        let mut pg = Self {
            bin,
            dir,
            port: 0,
            run_as,
        };
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(pg.data()).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        blocking(move || run(&mut initdb, "initdb")).await;
        // A free port can be taken between the probe and the start: try a few.
        for _ in 0..3 {
            pg.port = free_port();
            if pg.try_start().await {
                return pg;
            }
        }
        panic!("the throwaway PostgreSQL did not start: {}", pg.log());
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server: `fast` or `immediate` (a crash: WAL recovery at the next start).
    pub async fn stop(&self, mode: &str) {
        let mut cmd = self.pg_ctl(&["stop", "-m", mode]);
        blocking(move || run(&mut cmd, "pg_ctl stop")).await;
    }

    /// Starts it again on the same port.
    pub async fn start(&self) {
        assert!(self.try_start().await, "PostgreSQL did not start again: {}", self.log());
    }

    async fn try_start(&self) -> bool {
        let options = format!("-p {} -k {} -h 127.0.0.1", self.port, self.dir.path().display());
        let mut cmd = self.pg_ctl(&["start", "-o", &options, "-l"]);
        cmd.arg(self.dir.path().join("server.log"));
        blocking(move || cmd.output().expect("run pg_ctl").status.success()).await
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(self.data()).args(["-w", "-t", "30"]).args(args);
        cmd
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if self.port != 0 {
            drop(self.pg_ctl(&["stop", "-m", "immediate"]).output());
        }
    }
}

/// Runs blocking work (a child process) off the async threads: the app under test shares
/// this runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.expect("blocking task")
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn unprivileged_user() -> String {
    ["postgres", "nobody"]
        .into_iter()
        .find(|user| {
            Command::new("id")
                .arg("-u")
                .arg(user)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("running as root and no `postgres` or `nobody` user to run PostgreSQL as")
        .to_owned()
}

/// The PostgreSQL binaries, or `None` (with a printed reason) when this test should skip.
fn postgres_binaries_or_skip(test: &str) -> Option<PathBuf> {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        eprintln!("{test}: skipped in the TEST_DATABASE_URL pass; it runs its own PostgreSQL in the other pass");
        return None;
    }
    let bin = ThrowawayPostgres::binaries();
    if bin.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: no PostgreSQL server binaries (initdb, pg_ctl, postgres) and CI is set"
        );
        eprintln!("{test}: skipped: no PostgreSQL server binaries (initdb, pg_ctl, postgres) found");
    }
    bin
}

async fn readyz(client: &reqwest::Client, base: &str) -> (u16, Option<String>, Duration) {
    let started = Instant::now();
    let resp = client
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("readyz answers even when the database is down");
    let status = resp.status().as_u16();
    let problem = resp.headers().get("content-type").and_then(|v| v.to_str().ok()) == Some("application/problem+json");
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = problem.then(|| body["code"].as_str().unwrap_or_default().to_owned());
    (status, code, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_fail_fast_while_postgres_restarts_and_every_acknowledged_one_survives() {
    let test = "uploads_fail_fast_while_postgres_restarts_and_every_acknowledged_one_survives";
    let Some(bin) = postgres_binaries_or_skip(test) else {
        return;
    };
    let pg = ThrowawayPostgres::start_new(bin).await;
    let app = spawn_app_on_with(&pg.url(), |s| {
        s.database.acquire_timeout_ms = 1_000;
        s.database.connect_timeout_ms = 1_000;
        s.seed.demo = true;
    })
    .await;
    let mut uploaders = Vec::new();
    for i in 0..16 {
        uploaders.push(enroll(&app.client, &app.address, &format!("o_fault{i}"), i).await);
    }
    // Four uploads a second per participant: under any sensible per-participant rate limit.
    let (stop, tasks) = start_uploads(
        &uploaders,
        std::slice::from_ref(&app.address),
        Duration::from_millis(250),
    );
    // A crash (`immediate`: WAL recovery at the restart), then a clean stop (`fast`: busy
    // sessions are told `admin_shutdown`).
    let mut outages = Vec::new();
    for mode in ["immediate", "fast"] {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stopping = Instant::now();
        pg.stop(mode).await;
        let down = Instant::now();
        let mut probes = Vec::new();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            probes.push(readyz(&app.client, &app.address).await);
            let live = app.get("/healthz").await;
            assert_eq!(live.status(), 200, "liveness does not depend on the database");
        }
        // pg_ctl returns a moment after the server accepts connections: the outage is the
        // time between `down` and `starting`, and recovery is measured from `up`.
        let starting = Instant::now();
        pg.start().await;
        let up = Instant::now();
        let ready_again = loop {
            let (status, _, _) = readyz(&app.client, &app.address).await;
            if status == 200 {
                break up.elapsed();
            }
            assert!(
                up.elapsed() < Duration::from_secs(15),
                "/readyz is not 200 15 s after the {mode} restart"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        outages.push(Outage {
            mode,
            stopping,
            down,
            starting,
            up,
            probes,
            ready_again,
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attempts = finish_uploads(&stop, tasks).await;
    let summary = tally(&attempts);

    for a in &attempts {
        assert!(
            a.acknowledged() || a.unavailable(),
            "every upload is a 2xx or a 503 with Retry-After, not {:?}; all: {summary}",
            a.outcome
        );
        assert!(a.elapsed < FAIL_FAST, "an upload took {:?}: {:?}", a.elapsed, a.outcome);
    }
    let mut report = Vec::new();
    for (i, o) in outages.iter().enumerate() {
        for (status, code, took) in &o.probes {
            assert_eq!(*status, 503, "/readyz during the {} outage", o.mode);
            assert_eq!(code.as_deref(), Some("database_unavailable"));
            assert!(*took < FAIL_FAST, "/readyz took {took:?} during the {} outage", o.mode);
        }
        let during: Vec<&Attempt> = attempts
            .iter()
            .filter(|a| a.started >= o.down && a.ended() <= o.starting)
            .collect();
        assert!(
            during.len() >= 10,
            "uploads kept coming during the {} outage: {}",
            o.mode,
            during.len()
        );
        assert!(
            during.iter().all(|a| a.unavailable()),
            "nothing is acknowledged while the database is down"
        );
        let recovered = attempts
            .iter()
            .filter(|a| a.started >= o.up && a.acknowledged())
            .map(|a| a.ended().duration_since(o.up))
            .min()
            .expect("uploads succeed again after the restart, without restarting the app");
        // A second after the first success, until the next outage, every upload succeeds.
        let settled = o.up + recovered + Duration::from_secs(1);
        let next_stop = outages.get(i + 1).map(|n| n.stopping);
        let late_failures: Vec<&Attempt> = attempts
            .iter()
            .filter(|a| a.started >= settled && next_stop.is_none_or(|s| a.ended() < s) && !a.acknowledged())
            .collect();
        assert!(
            late_failures.is_empty(),
            "every upload succeeds a second after recovery from the {} outage: {late_failures:?}",
            o.mode
        );
        report.push(format!(
            "{}: {} failed during the outage (slowest {:?}), /readyz 200 after {:?}, uploads again after {recovered:?}",
            o.mode,
            during.len(),
            during.iter().map(|a| a.elapsed).max().unwrap_or_default(),
            o.ready_again
        ));
    }

    let db = Database::connect(&pg.url()).await.expect("connect directly");
    let acknowledged = assert_acknowledged_stored(&db, &attempts).await;
    assert_totals_equal_recompute(&app).await;
    eprintln!(
        "{test}: {} uploads, {acknowledged} acknowledged and stored; {}; {summary}",
        attempts.len(),
        report.join("; ")
    );
}

/// One stop and restart of the throwaway server, and `/readyz` answers while it was down.
struct Outage {
    mode: &'static str,
    /// When `pg_ctl stop` was called, and when it returned (the server is down).
    stopping: Instant,
    down: Instant,
    /// When `pg_ctl start` was called, and when it returned.
    starting: Instant,
    up: Instant,
    probes: Vec<(u16, Option<String>, Duration)>,
    ready_again: Duration,
}

#[tokio::test]
async fn two_servers_on_one_sqlite_file_lose_no_acknowledged_upload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shared.db");
    let url = format!("sqlite://{}", path.display());
    let warn = [("LONGMARCH__LOG__LEVEL", "warn")];
    let (mut first, base_a, client) = serve_logged(&url, &dir.path().join("a.log"), &warn).await;
    let (mut second, base_b, _) = serve_logged(&url, &dir.path().join("b.log"), &warn).await;
    let mut uploaders = Vec::new();
    for i in 0..16 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        uploaders.push(enroll(&client, base, &format!("o_two{i}"), i).await);
    }
    // Each participant alternates between the two processes.
    let (stop, tasks) = start_uploads(&uploaders, &[base_a, base_b], Duration::from_millis(200));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let attempts = finish_uploads(&stop, tasks).await;
    let summary = tally(&attempts);

    for guard in [&mut first, &mut second] {
        send_signal(guard.child(), "TERM");
    }
    for guard in [&mut first, &mut second] {
        let (status, _) = wait_for_exit(guard, Duration::from_secs(15)).await;
        assert!(status.success(), "exit status {status}");
    }
    drop((first, second));
    for a in &attempts {
        assert!(
            a.acknowledged()
                || (a.unavailable() && matches!(&a.outcome, Outcome::Answer { code: Some(c), .. } if c == "busy")),
            "a 2xx or a 503 busy, never a 500: {:?}; all: {summary}",
            a.outcome
        );
    }
    let check = checker(&url).await;
    let integrity = check
        .db
        .query_one_raw(Statement::from_string(
            check.db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .expect("integrity_check")
        .expect("a row");
    assert_eq!(integrity.try_get_by_index::<String>(0).expect("text"), "ok");
    let acknowledged = assert_acknowledged_stored(&check.db, &attempts).await;
    assert!(acknowledged >= attempts.len() / 2, "most uploads succeed: {summary}");
    assert_totals_equal_recompute(&check).await;
    eprintln!(
        "two_servers_on_one_sqlite_file_lose_no_acknowledged_upload: {} uploads through two processes, \
         {acknowledged} acknowledged and stored; {summary}",
        attempts.len()
    );
}

#[tokio::test]
async fn two_servers_starting_together_on_an_empty_database_both_migrate_and_serve() {
    // A fresh SQLite file, or a fresh PostgreSQL database in the TEST_DATABASE_URL pass.
    let (_database, url) = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let warn = [("LONGMARCH__LOG__LEVEL", "warn")];
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let ((mut first, base_a, client), (mut second, base_b, _)) =
        tokio::join!(serve_logged(&url, &log_a, &warn), serve_logged(&url, &log_b, &warn),);
    for base in [&base_a, &base_b] {
        let resp = client.get(format!("{base}/readyz")).send().await.expect("readyz");
        assert_eq!(resp.status(), 200);
        let campaigns = get_json(&client, &format!("{base}/api/v1/campaigns")).await;
        let demos = campaigns["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|c| c["slug"] == DEMO)
            .count();
        assert_eq!(demos, 1, "the demo is seeded once: {campaigns}");
    }
    let who = enroll(&client, &base_a, "o_together", 0).await;
    let upload = upload_once(&client, &base_b, &who, today(), 4_000).await;
    assert!(upload.acknowledged(), "{:?}", upload.outcome);
    for guard in [&mut first, &mut second] {
        send_signal(guard.child(), "TERM");
    }
    for guard in [&mut first, &mut second] {
        let (status, _) = wait_for_exit(guard, Duration::from_secs(15)).await;
        assert!(status.success(), "exit status {status}");
    }
}
