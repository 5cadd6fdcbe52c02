//! `--scale N1,N2,…`: the same scenarios on one campaign of each size in turn (a fresh
//! database and server per size), and how each figure grows with the campaign.
//!
//! Each step prepares a single campaign of N members with a ranked history (three past days
//! each) and drives every scenario against it: the uploads of `ingest` and `werun` move its
//! board, `leaderboard` reads it. The board's memory is what the process's resident set grew
//! by while the board was built.

use serde::Serialize;

use super::{
    Args, Backend, Scenario,
    prepare::Bench,
    report::{self, Machine, Row, Target},
    scenarios,
};

/// The scenarios of each step, the floors first (every ratio is to its own step's floors).
const PLAN: [Scenario; 5] = [
    Scenario::FloorHttp,
    Scenario::FloorDb,
    Scenario::Ingest,
    Scenario::Werun,
    Scenario::Leaderboard,
];

/// The scenarios whose growth the curve prints.
const GROWING: [&str; 3] = ["ingest", "werun", "leaderboard"];

/// One size of the curve.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub participants: usize,
    pub prepare_s: f64,
    pub boards_s: f64,
    /// What the resident set grew by while the board was built.
    pub board_mb: Option<f64>,
    pub board_bytes_per_participant: Option<f64>,
    pub scenarios: Vec<Row>,
}

impl Step {
    fn row(&self, name: &str) -> Option<&Row> {
        self.scenarios.iter().find(|r| r.scenario == name)
    }

    fn peak_rss_mb(&self) -> Option<f64> {
        self.scenarios.iter().filter_map(|r| r.peak_rss_mb).reduce(f64::max)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub db: Backend,
    pub connections: usize,
    pub seconds_per_scenario: f64,
    pub machine: Machine,
    pub steps: Vec<Step>,
    pub targets: Vec<Target>,
}

/// Runs every size of `--scale`, smallest first; prints and writes the curve.
///
/// # Errors
/// When a database cannot be prepared or a server cannot start.
pub async fn run(args: &Args) -> anyhow::Result<Curve> {
    let mut sizes = args.scale.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let mut steps = Vec::with_capacity(sizes.len());
    for n in sizes {
        eprintln!("== scale step: {n} participants");
        let bench = Bench::start_scaled(args, n).await?;
        let mut rows = Vec::with_capacity(PLAN.len());
        let measured = async {
            for scenario in PLAN {
                eprintln!("== {} ({n})", scenario.name());
                rows.push(scenarios::run(&bench, args, scenario).await?);
            }
            anyhow::Ok(())
        }
        .await;
        let (prepared_in, built) = (bench.prepared_in, bench.built);
        bench.finish().await;
        measured?;
        report::with_ratios(&mut rows);
        #[allow(clippy::cast_precision_loss)]
        let per_participant = built.resident_mb.map(|mb| mb * 1e6 / n.max(1) as f64);
        steps.push(Step {
            participants: n,
            prepare_s: prepared_in.as_secs_f64(),
            boards_s: built.seconds,
            board_mb: built.resident_mb,
            board_bytes_per_participant: per_participant,
            scenarios: rows,
        });
    }
    let curve = Curve {
        db: args.db,
        connections: args.connections,
        seconds_per_scenario: args.seconds,
        machine: report::machine(),
        targets: targets(&steps),
        steps,
    };
    curve.print();
    report::write_json(&args.out, &curve)?;
    Ok(curve)
}

/// `a / b`, when `b` is not zero.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn or_dash(x: Option<f64>, show: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_owned(), show)
}

impl Curve {
    pub fn print(&self) {
        let db = match self.db {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        println!(
            "\nlongmarch scale curve — {db}, C = {}, {} s per scenario",
            self.connections, self.seconds_per_scenario
        );
        println!(
            "machine: {} × {}, Linux {}, {}",
            self.machine.cpus, self.machine.cpu_model, self.machine.kernel, self.machine.taken_at
        );
        println!(
            "{:>12} {:>9} {:>8} {:>9} {:>9} {:>20} {:>20} {:>20} {:>9} {:>8}",
            "participants",
            "prepare s",
            "board s",
            "board MB",
            "B/member",
            "ingest req/s (p99)",
            "werun req/s (p99)",
            "board req/s (p99)",
            "behind ms",
            "RSS MB"
        );
        for step in &self.steps {
            let cell = |name: &str| {
                step.row(name).map_or_else(
                    || "-".to_owned(),
                    |r| format!("{:.0} ({:.1} ms)", r.req_per_s, r.p99_ms),
                )
            };
            let behind = step
                .row("leaderboard")
                .and_then(|r| r.staleness.as_ref())
                .map(|s| s.max_ms);
            println!(
                "{:>12} {:>9.1} {:>8.1} {:>9} {:>9} {:>20} {:>20} {:>20} {:>9} {:>8}",
                step.participants,
                step.prepare_s,
                step.boards_s,
                or_dash(step.board_mb, |m| format!("{m:.0}")),
                or_dash(step.board_bytes_per_participant, |b| format!("{b:.0}")),
                cell("ingest"),
                cell("werun"),
                cell("leaderboard"),
                or_dash(behind, |m| format!("{m:.0}")),
                or_dash(step.peak_rss_mb(), |m| format!("{m:.0}")),
            );
            for r in step.scenarios.iter().filter(|r| r.errors > 0) {
                println!("{:>12} {} errors: {:?}", "", r.scenario, r.error_kinds);
            }
        }
        println!("\ngrowth from one step to the next (req/s and board memory, as a factor):");
        for pair in self.steps.windows(2) {
            let (small, big) = (&pair[0], &pair[1]);
            #[allow(clippy::cast_precision_loss)]
            let times = big.participants as f64 / small.participants.max(1) as f64;
            let mut parts: Vec<String> = GROWING
                .iter()
                .map(|name| {
                    let grown = small
                        .row(name)
                        .zip(big.row(name))
                        .and_then(|(s, b)| ratio(b.req_per_s, s.req_per_s));
                    format!("{name} ×{}", or_dash(grown, |g| format!("{g:.2}")))
                })
                .collect();
            let memory = small.board_mb.zip(big.board_mb).and_then(|(s, b)| ratio(b, s));
            parts.push(format!("board memory ×{}", or_dash(memory, |g| format!("{g:.1}"))));
            println!(
                "  {} → {} participants (×{times:.0}): {}",
                small.participants,
                big.participants,
                parts.join(", ")
            );
        }
        println!("\ntargets at the largest size:");
        for t in &self.targets {
            println!(
                "  {} {:<52} wanted {:<12} got {}",
                if t.met { "met   " } else { "MISSED" },
                t.what,
                t.wanted,
                t.got
            );
        }
    }
}

/// The targets for a province: at the largest size, the board read at least half as fast
/// as at a tenth of it, quick, fresh, and the whole process within 400 MB.
fn targets(steps: &[Step]) -> Vec<Target> {
    let mut out = Vec::new();
    let Some(big) = steps.last() else { return out };
    let mut add = |what: String, wanted: &str, got: String, met: bool| {
        out.push(Target {
            what,
            wanted: wanted.to_owned(),
            got,
            met,
        });
    };
    let n = big.participants;
    let errors: u64 = big.scenarios.iter().map(|r| r.errors).sum();
    add(format!("errors at {n}"), "0", errors.to_string(), errors == 0);
    if let Some(board) = big.row("leaderboard") {
        if let Some(small) = steps.iter().rev().skip(1).find(|s| s.participants * 10 <= n)
            && let Some(x) = small
                .row("leaderboard")
                .and_then(|r| ratio(board.req_per_s, r.req_per_s))
        {
            add(
                format!("leaderboard at {n} vs at {}", small.participants),
                "≥ 0.50",
                format!("{x:.2}"),
                x >= 0.5,
            );
        }
        add(
            format!("leaderboard p99 at {n}"),
            "≤ 50 ms",
            format!("{:.1} ms", board.p99_ms),
            board.p99_ms <= 50.0,
        );
        if let Some(s) = &board.staleness {
            add(
                format!("board behind the latest upload at {n}"),
                "≤ 1000 ms",
                format!("{:.0} ms max, {} unseen", s.max_ms, s.never_seen),
                s.max_ms <= 1000.0 && s.never_seen == 0 && s.probes > 0,
            );
        }
    }
    if let Some(m) = big.peak_rss_mb() {
        add(
            format!("peak RSS of the process at {n}"),
            "≤ 400 MB",
            format!("{m:.0} MB"),
            m <= 400.0,
        );
    }
    out
}
