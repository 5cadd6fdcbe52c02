//! Moved cohort unlock dates left to the background refresh (`cache.cohort_dates_max_staleness_ms`):
//! a back-dated upload that gains no station marks its cohorts instead of re-deriving them;
//! the refresh brings them to exactly what a rebuild gives; stations gained are never late.
//!
//! The demo campaign is cohort_mean at 18 steps per km; its first stations stand at 0, 234
//! and 368 km, the fourth at 869 km. Members A and B share class DEMO01 (and its college).

use chrono::{Duration, NaiveDate};
use longmarch::{
    models::{cohorts, unlocks},
    services::progress::{Subject, recompute_campaign, refresh_stale_cohorts},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    helpers::{DEMO, TestApp, spawn_app_with, today},
    steps::{member, snapshot},
};

async fn upload(app: &TestApp, token: &str, day: NaiveDate, steps: i64) -> Value {
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps"),
            token,
            &json!({"days": [{"date": day.to_string(), "steps": steps}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

async fn milestones(app: &TestApp, token: &str) -> Value {
    app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/milestones"), token)
        .await
        .json()
        .await
        .expect("json")
}

fn newly(answer: &Value) -> Vec<i64> {
    answer["newly_unlocked"]
        .as_array()
        .expect("newly_unlocked")
        .iter()
        .filter_map(|u| u["seq"].as_i64())
        .collect()
}

async fn class(app: &TestApp) -> cohorts::Model {
    cohorts::Entity::find()
        .filter(cohorts::Column::JoinCode.eq("DEMO01"))
        .one(&app.db)
        .await
        .expect("query")
        .expect("class DEMO01")
}

/// `reached_on` of the class's unlock of station `seq`, as stored.
async fn class_reached_on(app: &TestApp, seq: i32) -> Option<NaiveDate> {
    let id = class(app).await.id;
    unlocks::Entity::find()
        .filter(unlocks::Column::SubjectKind.eq(Subject::Cohort))
        .filter(unlocks::Column::SubjectId.eq(id))
        .filter(unlocks::Column::StationSeq.eq(seq))
        .one(&app.db)
        .await
        .expect("query")
        .map(|u| u.reached_on)
}

/// A and B enrolled; A's 20,000 steps yesterday take the class (mean 10,000) past stations
/// 1–3, all reached yesterday.
async fn two_members(app: &TestApp) -> (String, String) {
    let a = member(app, "o_dates_a", "DEMO01").await;
    let b = member(app, "o_dates_b", "DEMO01").await;
    let first = upload(app, &a, today() - Duration::days(1), 20_000).await;
    assert_eq!(newly(&first), vec![1, 2, 3]);
    (a, b)
}

#[tokio::test]
async fn a_back_dated_day_marks_the_class_and_one_refresh_moves_its_dates() {
    // Far longer than the test: only the explicit refresh below may move the dates.
    let app = spawn_app_with(|s| s.cache.cohort_dates_max_staleness_ms = 60_000).await;
    let (_, b) = two_members(&app).await;
    let yesterday = today() - Duration::days(1);
    let earlier = today() - Duration::days(3);

    // B's 1,000 steps three days ago: the class now reaches station 1 (0 m) on that day, and
    // still three stations in all (mean 10,500 steps, 583 km).
    let answer = upload(&app, &b, earlier, 1_000).await;
    assert_eq!(newly(&answer), Vec::<i64>::new(), "no station gained");
    let marked = class(&app).await;
    assert!(marked.reached_dates_stale, "the class is marked");
    assert_eq!(marked.stations_reached, 3);
    assert_eq!(
        class_reached_on(&app, 1).await,
        Some(yesterday),
        "the date waits for the refresh"
    );
    assert_eq!(milestones(&app, &b).await["items"][0]["status"], "unlocked");

    // One pass re-derives the class and its college together.
    let refreshed = refresh_stale_cohorts(&app.db, None).await.expect("refresh");
    assert_eq!(refreshed, 2, "the class and its college");
    assert_eq!(class_reached_on(&app, 1).await, Some(earlier));
    assert_eq!(class_reached_on(&app, 2).await, Some(yesterday));
    let after = class(&app).await;
    assert!(!after.reached_dates_stale);
    assert_eq!(after.last_reached_on, Some(yesterday));
    assert_eq!(
        refresh_stale_cohorts(&app.db, None).await.expect("refresh"),
        0,
        "nothing left"
    );

    let refreshed_state = snapshot(&app).await;
    recompute_campaign(&app.db, DEMO).await.expect("recompute");
    assert_eq!(refreshed_state, snapshot(&app).await, "the refresh equals a rebuild");
}

#[tokio::test]
async fn a_station_gained_is_stored_by_the_upload_itself() {
    let app = spawn_app_with(|s| s.cache.cohort_dates_max_staleness_ms = 60_000).await;
    let (_, b) = two_members(&app).await;
    // 20,000 more two days ago: mean 20,000 steps, 1,111 km, past station 4 (869 km) — and
    // station 1 now dates from two days ago.
    let answer = upload(&app, &b, today() - Duration::days(2), 20_000).await;
    assert_eq!(newly(&answer), vec![4], "the new station is in the answer");
    let now = class(&app).await;
    assert!(!now.reached_dates_stale, "re-derived whole inside the upload");
    assert_eq!(class_reached_on(&app, 1).await, Some(today() - Duration::days(2)));
    let before = snapshot(&app).await;
    recompute_campaign(&app.db, DEMO).await.expect("recompute");
    assert_eq!(before, snapshot(&app).await);
}

#[tokio::test]
async fn the_background_refresh_moves_the_dates_within_its_bound() {
    let app = spawn_app_with(|s| s.cache.cohort_dates_max_staleness_ms = 200).await;
    let (_, b) = two_members(&app).await;
    let earlier = today() - Duration::days(3);
    upload(&app, &b, earlier, 1_000).await;
    let started = std::time::Instant::now();
    // The bound is 200 ms; a loaded test machine gets ten times that.
    while class_reached_on(&app, 1).await != Some(earlier) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "the refresh did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        milestones(&app, &b).await["items"][0]["reached_on"],
        json!(earlier.to_string())
    );
    assert!(!class(&app).await.reached_dates_stale);
}

#[tokio::test]
async fn members_own_unlocks_are_not_stored_in_cohort_modes() {
    let app = spawn_app_with(|_| {}).await;
    let (a, _) = two_members(&app).await;
    let own = unlocks::Entity::find()
        .filter(unlocks::Column::SubjectKind.eq("participant"))
        .all(&app.db)
        .await
        .expect("query");
    assert!(own.is_empty(), "{own:?}");
    // Their own station count still is, on the enrollment: A's 20,000 steps walk 1,111 km,
    // past the fourth station (869 km).
    let progress: Value = app
        .get_auth(&format!("/api/v1/campaigns/{DEMO}/me/progress"), &a)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(progress["own"]["stations_reached"], 4, "{progress}");
}
