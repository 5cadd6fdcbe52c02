//! The upload queue: uploads that wait are stored together in one transaction, and each
//! still gets exactly the answer, and leaves exactly the data, it would have alone — refused,
//! stored, or failed and rolled back. SQLite has one lane, PostgreSQL four. The tests that
//! inject a fault with a SQLite trigger or wait out SQLite's busy timeout skip themselves on
//! PostgreSQL (where a row lock is waited for, not timed out).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use longmarch::services::progress::recompute_campaign;
use reqwest::Response;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::{
    helpers::{DEMO, TestApp, assert_problem, dev_login, hold_upload_locks, json, spawn_app, spawn_app_with},
    steps::{day, member, snapshot},
};

async fn upload(app: &TestApp, token: &str, steps: i64) -> Response {
    app.post_auth(
        &format!("/api/v1/campaigns/{DEMO}/steps"),
        token,
        &json!({ "days": [{ "date": day(0), "steps": steps }, { "date": day(-1), "steps": steps / 2 }] }),
    )
    .await
}

/// `upload_batch_size`'s sum (uploads) and count (transactions) from `/metrics`.
async fn batches(app: &TestApp) -> (f64, f64) {
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
            .unwrap_or(0.0)
    };
    (value("upload_batch_size_sum "), value("upload_batch_size_count "))
}

/// True (and says so) on PostgreSQL, for a test built on SQLite's triggers or busy timeout.
fn skipped_on_postgres(app: &TestApp) -> bool {
    let skip = app.database.is_postgres();
    if skip {
        eprintln!("skipped: the test is built on SQLite's triggers or busy timeout");
    }
    skip
}

/// `n` members of DEMO01's class, logged in as `{prefix}{i}`; their tokens.
async fn class_members(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut members = Vec::with_capacity(n);
    for i in 0..n {
        members.push(member(app, &format!("{prefix}{i}"), "DEMO01").await);
    }
    members
}

async fn suspend(app: &TestApp, openid: &str) {
    app.db
        .execute_unprepared(&format!(
            "UPDATE enrollments SET status = 'suspended', suspend_reason = 'Under review.' \
             WHERE participant_id = (SELECT id FROM participants WHERE openid = '{openid}')"
        ))
        .await
        .expect("suspend");
}

#[tokio::test]
async fn uploads_waiting_for_the_lock_share_a_transaction_and_each_keeps_its_own_answer() {
    let app = spawn_app().await;
    let mut members = Vec::new();
    for i in 0..10 {
        let code = if i % 2 == 0 { "DEMO01" } else { "DEMO02" };
        members.push(member(&app, &format!("o_queue_{i}"), code).await);
    }
    let stranger = dev_login(&app, "o_queue_stranger").await;
    let suspended = member(&app, "o_queue_suspended", "DEMO01").await;
    suspend(&app, "o_queue_suspended").await;
    let (before_sum, before_count) = batches(&app).await;

    let (other, holder) = hold_upload_locks(&app).await;
    let sent = join_all(
        members
            .iter()
            .enumerate()
            .map(|(i, t)| upload(&app, t, 6_000 + 1_000 * i64::try_from(i).unwrap_or(0)))
            .chain([upload(&app, &stranger, 9_000), upload(&app, &suspended, 9_000)]),
    );
    let release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        holder.rollback().await.expect("release the lock");
    };
    let (answers, ()) = tokio::join!(sent, release);
    drop(other.close().await);

    let mut answers = answers.into_iter();
    for (i, resp) in answers.by_ref().take(members.len()).enumerate() {
        assert_eq!(resp.status(), 200, "member {i}");
        let body = json(resp).await;
        let steps = 6_000 + 1_000 * i64::try_from(i).unwrap_or(0);
        assert_eq!(body["accepted"][1]["stored_steps"], steps, "{body}");
        assert_eq!(body["progress"]["total_steps"], steps + steps / 2, "{body}");
    }
    assert_problem(answers.next().expect("stranger"), 403, "not_enrolled").await;
    assert_problem(answers.next().expect("suspended"), 403, "participant_suspended").await;

    let (sum, count) = batches(&app).await;
    assert_eq!(sum - before_sum, 12.0, "every upload went through the queue once");
    assert!(
        count - before_count < 12.0,
        "uploads that waited together were stored together: {} transactions",
        count - before_count
    );
    // What the shared transactions stored is what a rebuild from the step days gives.
    let stored = snapshot(&app).await;
    recompute_campaign(&app.db, DEMO).await.expect("recompute");
    assert_eq!(stored, snapshot(&app).await);
}

#[tokio::test]
async fn an_upload_that_fails_rolls_its_batch_back_and_the_others_are_stored_alone() {
    let app = spawn_app().await;
    if skipped_on_postgres(&app) {
        return;
    }
    let members = class_members(&app, "o_fail_", 6).await;
    // A fault only one upload meets, after it has written its step days.
    app.db
        .execute_unprepared(
            "CREATE TRIGGER poisoned BEFORE UPDATE ON enrollments WHEN NEW.total_steps = 13332 \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
        )
        .await
        .expect("trigger");

    let (other, holder) = hold_upload_locks(&app).await;
    let sent = join_all(members.iter().enumerate().map(|(i, t)| {
        // 8,888 today and 4,444 yesterday make 13,332: the poisoned total.
        let steps = if i == 3 { 8_888 } else { 7_000 };
        upload(&app, t, steps)
    }));
    let release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        holder.rollback().await.expect("release the lock");
    };
    let (answers, ()) = tokio::join!(sent, release);
    drop(other.close().await);

    for (i, resp) in answers.into_iter().enumerate() {
        if i == 3 {
            assert_eq!(resp.status(), 500, "the poisoned upload fails");
        } else {
            assert_eq!(
                resp.status(),
                200,
                "member {i}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
    }
    for (i, t) in members.iter().enumerate() {
        let me = json(app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/progress"), t).await).await;
        let expected = if i == 3 { 0 } else { 10_500 };
        assert_eq!(me["total_steps"], expected, "member {i}: {me}");
        let days = json(app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/steps"), t).await).await;
        let expected = if i == 3 { 0 } else { 2 };
        assert_eq!(
            days["items"].as_array().map(Vec::len),
            Some(expected),
            "member {i}: {days}"
        );
    }
    let stored = snapshot(&app).await;
    app.db
        .execute_unprepared("DROP TRIGGER poisoned")
        .await
        .expect("drop trigger");
    recompute_campaign(&app.db, DEMO).await.expect("recompute");
    assert_eq!(stored, snapshot(&app).await, "nothing half-written");
}

#[tokio::test]
async fn uploads_that_cannot_get_the_lock_all_answer_busy_within_one_wait_each_batch() {
    let app = spawn_app_with(|s| s.database.sqlite_busy_timeout_ms = 300).await;
    if skipped_on_postgres(&app) {
        return;
    }
    let members = class_members(&app, "o_busy_", 6).await;
    let (other, holder) = hold_upload_locks(&app).await;
    let started = Instant::now();
    let answers = join_all(members.iter().map(|t| async {
        let resp = upload(&app, t, 5_000).await;
        (resp, started.elapsed())
    }))
    .await;
    let slowest = answers.iter().map(|(_, t)| *t).max().unwrap_or_default();
    holder.rollback().await.expect("release the lock");
    drop(other.close().await);
    for (resp, _) in answers {
        let body = assert_problem(resp, 503, "busy").await;
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    }
    // Two batches at most (the first upload, then the five that queued behind it), each
    // waiting 0.3 s for the lock; one at a time they would have waited 0.3 s each on top.
    assert!(
        slowest < Duration::from_millis(1_500),
        "the last answered after {slowest:?}"
    );
    // And nothing is stuck: the same uploads now go through.
    for t in &members {
        assert_eq!(upload(&app, t, 5_000).await.status(), 200);
    }
}
