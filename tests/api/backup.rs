//! `longmarch backup`: a consistent copy of the SQLite database, taken while uploads run.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use longmarch::models::step_days;
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait, Statement};
use serde_json::json;

use crate::{
    cli::run,
    helpers::{DEMO, spawn_app},
    steps::{day, member, snapshot_of, upload},
};

#[tokio::test]
async fn a_backup_taken_during_uploads_is_intact_and_its_totals_match_a_rebuild() {
    let app = spawn_app().await;
    let url = app.database_url();
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.db");
    let copy_arg = copy.to_string_lossy().into_owned();
    if app.database.is_postgres() {
        let (ok, text) = run(&url, &["backup", "--to", &copy_arg], "");
        assert!(!ok, "PostgreSQL is not copied: {text}");
        assert!(text.contains("pg_dump"), "{text}");
        assert!(!copy.exists());
        return;
    }

    let mut tokens = Vec::new();
    for i in 0..8 {
        let token = member(&app, &format!("o_backup{i}"), &format!("DEMO0{}", i % 4 + 1)).await;
        upload(&app, DEMO, &token, &[(day(0), 100)]).await;
        tokens.push(token);
    }
    let app = Arc::new(app);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut uploaders = Vec::new();
    for token in tokens {
        let (app, stop, done) = (app.clone(), stop.clone(), done.clone());
        uploaders.push(tokio::spawn(async move {
            // Today only, ever larger: no back-dated day leaves a cohort's dates to refresh.
            let mut steps = 0;
            while !stop.load(Ordering::SeqCst) {
                steps += 700;
                let resp = app
                    .post_auth(
                        &format!("/api/v1/campaigns/{DEMO}/steps"),
                        &token,
                        &json!({ "days": [{ "date": day(0), "steps": steps }] }),
                    )
                    .await;
                assert_eq!(resp.status(), 200, "upload during the backup");
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while done.load(Ordering::SeqCst) < 40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (ok, text) = {
        let (url, copy_arg) = (url.clone(), copy_arg.clone());
        tokio::task::spawn_blocking(move || run(&url, &["backup", "--to", &copy_arg], ""))
            .await
            .expect("backup")
    };
    assert!(ok, "{text}");
    assert!(text.contains("integrity check ok"), "{text}");
    let after_backup = done.load(Ordering::SeqCst);
    while done.load(Ordering::SeqCst) < after_backup + 40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for u in uploaders {
        u.await.expect("uploader");
    }

    let copy_url = format!("sqlite://{copy_arg}");
    let db = Database::connect(&copy_url).await.expect("the copy opens");
    let check = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .expect("integrity_check")
        .expect("a row");
    assert_eq!(check.try_get_by_index::<String>(0).expect("text"), "ok");
    let days = step_days::Entity::find().count(&db).await.expect("count");
    assert_eq!(days, 8, "every member's day was in the copy");
    let before = snapshot_of(&db).await;
    let (ok, text) = run(&copy_url, &["recompute", "--campaign", DEMO], "");
    assert!(ok, "{text}");
    assert_eq!(before, snapshot_of(&db).await, "the copy's totals equal their rebuild");
    assert_ne!(
        before,
        snapshot_of(&app.db).await,
        "uploads went on after the copy was taken"
    );

    let (ok, text) = run(&url, &["backup", "--to", &copy_arg], "");
    assert!(!ok, "an existing file is never overwritten: {text}");
    assert!(text.contains("already exists"), "{text}");
    let still = Database::connect(&copy_url).await.expect("the copy still opens");
    assert_eq!(snapshot_of(&still).await, before, "the first copy is untouched");
}
