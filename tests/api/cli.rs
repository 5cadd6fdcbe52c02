//! The operator commands, run as the real binary against the test's own database.

use std::{io::Write, process::Stdio};

use longmarch::models::{enrollments, organisers, step_days};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::{
    helpers::{DEMO, assert_problem, json, spawn_app},
    shutdown::longmarch_command,
    steps::snapshot,
};

pub fn run(url: &str, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = longmarch_command()
        .env("LONGMARCH_ENV", "test")
        .env("LONGMARCH__DATABASE__URL", url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn longmarch");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn organiser_create_reads_the_password_from_stdin_and_refuses_short_ones() {
    let app = spawn_app().await;
    let url = app.database_url();
    let (ok, text) = run(&url, &["organiser", "create", "--username", "root"], "short\n");
    assert!(!ok, "a 5-character password is refused: {text}");
    assert!(text.contains("password"), "{text}");
    assert_eq!(organisers::Entity::find().count(&app.db).await.expect("count"), 0);

    let (ok, text) = run(
        &url,
        &["organiser", "create", "--username", "root", "--admin"],
        "correct horse battery\n",
    );
    assert!(ok, "{text}");
    assert!(text.contains("created admin `root`"), "{text}");
    let login = app
        .post_json(
            "/api/v1/auth/organiser",
            &json!({"username": "root", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(json(login).await["organiser"]["role"], "admin");
    let (ok, _) = run(
        &url,
        &["organiser", "create", "--username", "root"],
        "another long password\n",
    );
    assert!(!ok, "a taken username is refused");
    let again = app
        .post_json(
            "/api/v1/auth/organiser",
            &json!({"username": "root", "password": "another long password"}),
        )
        .await;
    assert_problem(again, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn simulate_fills_the_classes_through_the_ingestion_path_and_recompute_agrees() {
    let app = spawn_app().await;
    let url = app.database_url();
    let (ok, text) = run(
        &url,
        &["simulate", "--campaign", DEMO, "--participants", "12", "--days", "3"],
        "",
    );
    assert!(ok, "{text}");
    assert!(text.contains("simulated 12 participants × 3 days"), "{text}");
    let rows = enrollments::Entity::find().all(&app.db).await.expect("enrollments");
    assert_eq!(rows.len(), 12);
    let mut per_class = std::collections::BTreeMap::new();
    for e in &rows {
        *per_class.entry(e.cohort_id.expect("a class")).or_insert(0) += 1;
    }
    assert_eq!(
        per_class.values().copied().collect::<Vec<_>>(),
        vec![3, 3, 3, 3],
        "spread over the 4 classes"
    );
    assert_eq!(step_days::Entity::find().count(&app.db).await.expect("count"), 36);
    assert!(rows.iter().map(|e| e.total_counted).sum::<i64>() > 0);

    let before = snapshot(&app).await;
    let (ok, text) = run(&url, &["recompute", "--campaign", DEMO], "");
    assert!(ok, "{text}");
    assert!(
        text.contains("recomputed campaign `long-march-demo`: 12 participants, 6 cohorts"),
        "{text}"
    );
    assert_eq!(before, snapshot(&app).await, "simulated state equals its rebuild");

    let (ok, text) = run(&url, &["recompute", "--campaign", "no-such-campaign"], "");
    assert!(!ok, "{text}");
    assert!(text.contains("no-such-campaign"), "{text}");
}
