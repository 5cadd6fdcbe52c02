//! The load benchmark behind `cargo bench --bench load`: the real server in-process on a
//! fresh database, participants prepared through the service code (not timed), then C
//! concurrent keep-alive connections driving real HTTP requests per scenario, with two
//! baselines measured in the same run so that every figure can be read as a ratio:
//! `floor_http` (a trivial endpoint of the same server) and `floor_db` (the upload's
//! step-day upsert plus totals update straight through sea-orm, no HTTP).
//!
//! The smoke test in `tests/api/bench_smoke.rs` runs every scenario for a moment with a
//! handful of participants, so this code is compiled and exercised by `cargo test`.

pub mod drive;
pub mod prepare;
pub mod report;
pub mod scale;
pub mod scenarios;

use std::{path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};

/// Which database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What one run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Scenario {
    /// GET /healthz: what HTTP alone allows on this machine.
    FloorHttp,
    /// The upload's upsert and totals update through sea-orm, no HTTP.
    FloorDb,
    /// One manual day per request, today's count growing.
    Ingest,
    /// The 31-day encrypted WeRun payload, each participant with its own session key, from
    /// a school that synced yesterday: a day's first sync raises yesterday's count too.
    Werun,
    /// The same payload from members who never synced: every day of the window is new.
    WerunFirst,
    /// Top 20 and `/participants/me` on a board of `--board-participants`.
    Leaderboard,
    /// 80 % reads (progress, milestones, leaderboards), 20 % uploads.
    Mixed,
    /// The evening before midnight: members sync once each (a day's first WeRun sync, as
    /// `werun`) while `--screens` big screens hold the live stream and two organisers read
    /// the boards; measures syncs and how late the screens hear of each unlock.
    Burst,
    /// `longmarch simulate` of `--participants` × `--simulate-days` (one timed call).
    Simulate,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::FloorHttp => "floor_http",
            Self::FloorDb => "floor_db",
            Self::Ingest => "ingest",
            Self::Werun => "werun",
            Self::WerunFirst => "werun_first",
            Self::Leaderboard => "leaderboard",
            Self::Mixed => "mixed",
            Self::Burst => "burst",
            Self::Simulate => "simulate",
        }
    }
}

/// `cargo bench --bench load -- [options]`
#[derive(Debug, Clone, Parser)]
#[command(name = "load", about = "Load benchmark of the longmarch service")]
pub struct Args {
    /// Database the server runs on (PostgreSQL: a fresh database on --pg-url's server).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub db: Backend,
    /// Participants of the ingest, werun, mixed and simulate scenarios.
    #[arg(long, default_value_t = 10_000)]
    pub participants: usize,
    /// Participants on the leaderboard scenario's board.
    #[arg(long, default_value_t = 100_000)]
    pub board_participants: usize,
    /// Concurrent keep-alive connections (tasks for floor_db).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Unmeasured seconds before each scenario.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Live-stream connections (big screens) held open during `burst`.
    #[arg(long, default_value_t = 100)]
    pub screens: usize,
    /// Days of `simulate`.
    #[arg(long, default_value_t = 23)]
    pub simulate_days: u32,
    /// Sizes of a scale curve, comma-separated (e.g. 10000,100000,1000000): ingest, werun
    /// and leaderboard on one campaign of each size, and how they grow. Replaces --scenario,
    /// --participants and --board-participants.
    #[arg(long, value_delimiter = ',')]
    pub scale: Vec<usize>,
    /// Scenarios, comma-separated, in this order (the floors are always measured first).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [
        Scenario::Ingest, Scenario::Werun, Scenario::WerunFirst, Scenario::Leaderboard, Scenario::Mixed,
        Scenario::Simulate,
    ])]
    pub scenario: Vec<Scenario>,
    /// Server holding the PostgreSQL benchmark database (created and dropped by the run).
    #[arg(
        long,
        env = "BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub pg_url: String,
    /// Where the JSON report goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench/load.json"))]
    pub out: PathBuf,
    /// Passed by `cargo bench` to every bench target; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

impl Args {
    pub fn seconds(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.1))
    }

    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup.max(0.0))
    }

    /// The floors first, then the chosen scenarios without repeats.
    pub fn plan(&self) -> Vec<Scenario> {
        let mut plan = vec![Scenario::FloorHttp, Scenario::FloorDb];
        for s in &self.scenario {
            if !plan.contains(s) {
                plan.push(*s);
            }
        }
        plan
    }
}

/// Runs the whole benchmark and returns the report (also printed and written as JSON).
///
/// # Errors
/// When the database cannot be prepared or the server cannot start.
pub async fn run(args: &Args) -> anyhow::Result<report::Report> {
    let bench = prepare::Bench::start(args).await?;
    let mut results = Vec::new();
    let mut simulate = None;
    let result = async {
        for scenario in args.plan() {
            eprintln!("== {}", scenario.name());
            match scenario {
                Scenario::Simulate => simulate = Some(scenarios::simulate(&bench, args).await?),
                _ => results.push(scenarios::run(&bench, args, scenario).await?),
            }
        }
        anyhow::Ok(())
    }
    .await;
    bench.finish().await;
    result?;
    let report = report::Report::new(args, results, simulate);
    report.print();
    report.write(&args.out)?;
    Ok(report)
}
