//! The report: a table on stdout, the same as JSON, ratios to the floors measured in the
//! same run, and the targets checked against the figures.

use std::{collections::BTreeMap, path::Path};

use serde::Serialize;

use super::{Args, Backend, Scenario, drive::Outcome};

/// One measured request scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: &'static str,
    pub requests: u64,
    pub seconds: f64,
    pub req_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// req/s divided by floor_http's (same run).
    pub vs_floor_http: Option<f64>,
    /// req/s divided by floor_db's (same run).
    pub vs_floor_db: Option<f64>,
    /// Peak resident set of the benchmark process (server and generator) during the scenario.
    pub peak_rss_mb: Option<f64>,
    /// How far behind the latest upload the board was (leaderboard only).
    pub staleness: Option<Staleness>,
    /// How late the screens heard of unlocks (burst only).
    pub delivery: Option<Delivery>,
}

impl Row {
    pub fn new(scenario: Scenario, o: &Outcome, peak_rss_mb: Option<f64>, staleness: Option<Staleness>) -> Self {
        Self {
            scenario: scenario.name(),
            requests: o.requests,
            seconds: o.elapsed.as_secs_f64(),
            req_per_s: o.rate(),
            p50_ms: o.quantile_ms(0.50),
            p90_ms: o.quantile_ms(0.90),
            p99_ms: o.quantile_ms(0.99),
            max_ms: o.quantile_ms(1.0),
            errors: o.errors,
            error_kinds: o.error_kinds.clone(),
            vs_floor_http: None,
            vs_floor_db: None,
            peak_rss_mb,
            staleness,
            delivery: None,
        }
    }
}

/// How late the live stream's `unlock` events reached the screens: from the moment the
/// server published each (its `unlocked_at`) to its arrival at each screen.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub screens: usize,
    /// Screens whose stream failed or ended before the run did.
    pub screens_lost: usize,
    /// Unlock events received, over all screens.
    pub events: usize,
    /// `resync` events: a screen fell behind the broadcast.
    pub resyncs: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Delivery {
    pub fn new(screens: usize, screens_lost: usize, mut delays_ms: Vec<f64>, resyncs: usize) -> Self {
        delays_ms.sort_by(f64::total_cmp);
        let at = |q| quantile(&delays_ms, q);
        Self {
            screens,
            screens_lost,
            events: delays_ms.len(),
            resyncs,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// The value at quantile `q` (0..=1) of `sorted`, 0 when empty.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * q).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// Upload-to-board lag as seen by the probe.
#[derive(Debug, Clone, Serialize)]
pub struct Staleness {
    pub probes: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
    /// Probes whose upload failed or whose total did not show within 5 s.
    pub never_seen: u32,
}

impl Staleness {
    pub fn new(mut lags_ms: Vec<f64>, never_seen: u32) -> Self {
        lags_ms.sort_by(f64::total_cmp);
        let at = |q| quantile(&lags_ms, q);
        Self {
            probes: lags_ms.len(),
            p50_ms: at(0.5),
            max_ms: at(1.0),
            never_seen,
        }
    }
}

/// The timed `simulate` call.
#[derive(Debug, Clone, Serialize)]
pub struct Simulated {
    pub participants: usize,
    pub days: u32,
    pub seconds: f64,
    pub peak_rss_mb: Option<f64>,
}

/// One target of issue #7 and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub what: String,
    pub wanted: String,
    pub got: String,
    pub met: bool,
}

/// Where and how the figures were taken.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub taken_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub db: Backend,
    pub participants: usize,
    pub board_participants: usize,
    pub connections: usize,
    pub seconds_per_scenario: f64,
    pub machine: Machine,
    pub scenarios: Vec<Row>,
    pub simulate: Option<Simulated>,
    pub targets: Vec<Target>,
}

impl Report {
    pub fn new(args: &Args, mut scenarios: Vec<Row>, simulate: Option<Simulated>) -> Self {
        with_ratios(&mut scenarios);
        let targets = targets(&scenarios, simulate.as_ref());
        Self {
            db: args.db,
            participants: args.participants,
            board_participants: args.board_participants,
            connections: args.connections,
            seconds_per_scenario: args.seconds,
            machine: machine(),
            scenarios,
            simulate,
            targets,
        }
    }

    pub fn print(&self) {
        let db = match self.db {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        println!(
            "\nlongmarch load benchmark — {db}, C = {}, {} s per scenario, {} participants ({} on the board)",
            self.connections, self.seconds_per_scenario, self.participants, self.board_participants
        );
        println!(
            "machine: {} × {}, Linux {}, {}",
            self.machine.cpus, self.machine.cpu_model, self.machine.kernel, self.machine.taken_at
        );
        println!(
            "{:<12} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8} {:>8}",
            "scenario", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "×http", "×db", "RSS MB"
        );
        let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        for r in &self.scenarios {
            println!(
                "{:<12} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>7} {:>8} {:>8} {:>8}",
                r.scenario,
                r.requests,
                r.req_per_s,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.max_ms,
                r.errors,
                ratio(r.vs_floor_http),
                ratio(r.vs_floor_db),
                r.peak_rss_mb.map_or_else(|| "-".to_owned(), |m| format!("{m:.0}")),
            );
            if !r.error_kinds.is_empty() {
                println!("{:<12} errors: {:?}", "", r.error_kinds);
            }
            if let Some(d) = &r.delivery {
                println!(
                    "{:<12} {} screens ({} lost): {} unlocks delivered, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms after publishing; {} resyncs",
                    "", d.screens, d.screens_lost, d.events, d.p50_ms, d.p99_ms, d.max_ms, d.resyncs
                );
            }
            if let Some(s) = &r.staleness {
                println!(
                    "{:<12} board behind the latest upload: p50 {:.0} ms, max {:.0} ms over {} probes ({} not seen)",
                    "", s.p50_ms, s.max_ms, s.probes, s.never_seen
                );
            }
        }
        if let Some(s) = &self.simulate {
            println!(
                "simulate     {} participants × {} days in {:.1} s (peak RSS {})",
                s.participants,
                s.days,
                s.seconds,
                s.peak_rss_mb.map_or_else(|| "-".to_owned(), |m| format!("{m:.0} MB")),
            );
        }
        println!("\ntargets (issue #7):");
        for t in &self.targets {
            println!(
                "  {} {:<44} wanted {:<12} got {}",
                if t.met { "met   " } else { "MISSED" },
                t.what,
                t.wanted,
                t.got
            );
        }
    }

    /// Writes the report as JSON, creating the directory.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        write_json(path, self)
    }
}

/// Sets each row's ratios to the floors measured among `rows`.
pub fn with_ratios(rows: &mut [Row]) {
    let rate = |name: &str| rows.iter().find(|r| r.scenario == name).map(|r| r.req_per_s);
    let (http, db) = (rate("floor_http"), rate("floor_db"));
    for row in rows.iter_mut() {
        row.vs_floor_http = http.filter(|f| *f > 0.0).map(|f| row.req_per_s / f);
        row.vs_floor_db = db.filter(|f| *f > 0.0).map(|f| row.req_per_s / f);
    }
}

/// Writes `report` as JSON to `path`, creating the directory.
///
/// # Errors
/// When the file cannot be written.
pub fn write_json(path: &Path, report: &impl Serialize) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(report)?)?;
    println!("\nwrote {}", path.display());
    Ok(())
}

fn targets(rows: &[Row], simulate: Option<&Simulated>) -> Vec<Target> {
    let mut out = Vec::new();
    let mut add = |what: &str, wanted: &str, got: String, met: bool| {
        out.push(Target {
            what: what.to_owned(),
            wanted: wanted.to_owned(),
            got,
            met,
        });
    };
    let row = |name: &str| rows.iter().find(|r| r.scenario == name);
    if let Some(r) = row("ingest") {
        add(
            "ingest req/s",
            "≥ 2000",
            format!("{:.0}", r.req_per_s),
            r.req_per_s >= 2000.0,
        );
        if let Some(x) = r.vs_floor_db {
            add("ingest vs floor_db", "≥ 0.50", format!("{x:.2}"), x >= 0.5);
        }
        add("ingest p99", "≤ 50 ms", format!("{:.1} ms", r.p99_ms), r.p99_ms <= 50.0);
        add("ingest errors", "0", r.errors.to_string(), r.errors == 0);
    }
    if let Some(r) = row("werun") {
        add(
            "werun req/s",
            "≥ 1000",
            format!("{:.0}", r.req_per_s),
            r.req_per_s >= 1000.0,
        );
        add("werun errors", "0", r.errors.to_string(), r.errors == 0);
    }
    // The first sync of someone who never synced has no target of its own: it is measured
    // so that its cost (a month of days at once) is known, and must not fail.
    if let Some(r) = row("werun_first") {
        add("werun_first errors", "0", r.errors.to_string(), r.errors == 0);
    }
    if let Some(r) = row("leaderboard") {
        add(
            "leaderboard req/s",
            "≥ 5000",
            format!("{:.0}", r.req_per_s),
            r.req_per_s >= 5000.0,
        );
        add(
            "leaderboard p99",
            "≤ 20 ms",
            format!("{:.1} ms", r.p99_ms),
            r.p99_ms <= 20.0,
        );
        add("leaderboard errors", "0", r.errors.to_string(), r.errors == 0);
        if let Some(s) = &r.staleness {
            add(
                "leaderboard behind the latest upload",
                "≤ 1000 ms",
                format!("{:.0} ms max, {} unseen", s.max_ms, s.never_seen),
                s.max_ms <= 1000.0 && s.never_seen == 0 && s.probes > 0,
            );
        }
        if let Some(m) = r.peak_rss_mb {
            add(
                "peak RSS under leaderboard",
                "≤ 200 MB",
                format!("{m:.0} MB"),
                m <= 200.0,
            );
        }
    }
    if let Some(r) = row("mixed") {
        add("mixed errors", "0", r.errors.to_string(), r.errors == 0);
    }
    if let Some(r) = row("burst") {
        add("burst errors", "0", r.errors.to_string(), r.errors == 0);
        if let Some(d) = &r.delivery {
            add(
                "burst screens kept and heard unlocks",
                "all, > 0",
                format!("{} lost, {} unlocks", d.screens_lost, d.events),
                d.screens_lost == 0 && d.events > 0,
            );
        }
    }
    if let Some(s) = simulate {
        add(
            &format!("simulate {} × {} days", s.participants, s.days),
            "≤ 60 s",
            format!("{:.1} s", s.seconds),
            s.seconds <= 60.0,
        );
    }
    out
}

/// Resets the kernel's peak-RSS mark of this process (Linux: `clear_refs` 5), after handing
/// memory freed by the untimed preparation back to the kernel, so that the peak is what the
/// scenario itself needs: the server (and the generator, in the same process).
pub fn reset_peak_rss() {
    trim_heap();
    // Without the file (not Linux) the peak is since start; the report says "peak" either way.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The resident set now, in MB (VmRSS), after handing freed heap pages back to the kernel.
pub fn resident_mb() -> Option<f64> {
    trim_heap();
    status_mb("VmRSS:")
}

/// Peak resident set since the last reset, in MB (VmHWM).
pub fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Hands the heap's free pages back to the kernel (glibc).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only returns free heap pages to the kernel.
        unsafe {
            malloc_trim(0);
        }
    }
}

pub fn machine() -> Machine {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        taken_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}
