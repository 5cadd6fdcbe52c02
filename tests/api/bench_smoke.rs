//! Keeps the load benchmark from rotting: every scenario for a moment with a handful of
//! participants, on the database this run tests. Figures are not checked, only that every
//! request of every scenario was answered as a real client expects.

#[path = "../../benches/load/harness/mod.rs"]
mod harness;

use clap::Parser;

/// The benchmark's arguments: `options`, briefly (4 connections, 1 second, no warm-up), the
/// report to `out`, on the database this run tests.
fn args(options: &[&str], out: &std::path::Path) -> harness::Args {
    let briefly = ["--connections", "4", "--seconds", "1", "--warmup", "0"];
    let mut argv: Vec<String> = std::iter::once("load")
        .chain(options.iter().copied())
        .chain(briefly)
        .map(str::to_owned)
        .collect();
    argv.extend(["--out".to_owned(), out.display().to_string()]);
    if let Ok(url) = std::env::var("TEST_DATABASE_URL")
        && !url.is_empty()
    {
        argv.extend(["--db".to_owned(), "postgres".to_owned(), "--pg-url".to_owned(), url]);
    }
    harness::Args::parse_from(argv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_benchmark_scenario_runs_without_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("load.json");
    let args = args(
        &[
            "--participants",
            "40",
            "--board-participants",
            "300",
            "--simulate-days",
            "3",
            "--scenario",
            "ingest,werun,werun_first,leaderboard,mixed,burst,simulate",
            "--screens",
            "3",
        ],
        &out,
    );
    let report = harness::run(&args).await.expect("the benchmark runs");

    let names: Vec<&str> = report.scenarios.iter().map(|r| r.scenario).collect();
    assert_eq!(
        names,
        [
            "floor_http",
            "floor_db",
            "ingest",
            "werun",
            "werun_first",
            "leaderboard",
            "mixed",
            "burst"
        ]
    );
    for row in &report.scenarios {
        assert!(row.requests > 0, "{} sent no request", row.scenario);
        assert_eq!(row.errors, 0, "{}: {:?}", row.scenario, row.error_kinds);
    }
    let board = report
        .scenarios
        .iter()
        .find(|r| r.scenario == "leaderboard")
        .expect("board");
    let staleness = board.staleness.as_ref().expect("the probe ran");
    assert!(staleness.probes > 0, "no upload reached the board");
    assert_eq!(staleness.never_seen, 0, "an upload never showed on the board");
    let burst = report.scenarios.iter().find(|r| r.scenario == "burst").expect("burst");
    let delivery = burst.delivery.as_ref().expect("the screens listened");
    assert_eq!((delivery.screens, delivery.screens_lost), (3, 0));
    let simulated = report.simulate.as_ref().expect("simulate ran");
    assert_eq!((simulated.participants, simulated.days), (40, 3));

    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("load.json written")).expect("JSON");
    assert_eq!(written["scenarios"].as_array().map(Vec::len), Some(8));
    assert!(written["targets"].as_array().is_some_and(|t| !t.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_curve_runs_each_size_on_its_own_server_and_compares_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("scale.json");
    let args = args(&["--scale", "300,30"], &out);
    let curve = harness::scale::run(&args).await.expect("the curve runs");

    let sizes: Vec<usize> = curve.steps.iter().map(|s| s.participants).collect();
    assert_eq!(sizes, [30, 300], "smallest first");
    for step in &curve.steps {
        let names: Vec<&str> = step.scenarios.iter().map(|r| r.scenario).collect();
        assert_eq!(names, ["floor_http", "floor_db", "ingest", "werun", "leaderboard"]);
        for row in &step.scenarios {
            assert!(
                row.requests > 0,
                "{} at {} sent no request",
                row.scenario,
                step.participants
            );
            assert_eq!(row.errors, 0, "{}: {:?}", row.scenario, row.error_kinds);
            assert!(row.vs_floor_db.is_some(), "a ratio to the step's own floor");
        }
        let board = step.scenarios.last().expect("leaderboard");
        let staleness = board.staleness.as_ref().expect("the probe ran");
        assert!(staleness.probes > 0 && staleness.never_seen == 0, "{staleness:?}");
        assert!(step.board_mb.is_some(), "the board's memory is measured");
    }
    let whats: Vec<&str> = curve.targets.iter().map(|t| t.what.as_str()).collect();
    assert!(whats.contains(&"leaderboard at 300 vs at 30"), "{whats:?}");

    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("scale.json written")).expect("JSON");
    assert_eq!(written["steps"].as_array().map(Vec::len), Some(2));
}
