//! Step ingestion, the progress engine and participant views.

use chrono::{Duration, Utc};
use longmarch::models::{cohort_days, cohorts, enrollments, participants, step_days, unlocks};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};

use crate::{
    helpers::{
        DEMO, TestApp, assert_problem, close_demo, dev_login, json, spawn_app, spawn_app_with, today, update_demo,
    },
    wechat_mock,
};

pub fn day(offset: i64) -> String {
    (today() + Duration::days(offset)).to_string()
}

/// Logs a new participant in and joins the demo campaign with `code`.
pub async fn member(app: &TestApp, openid: &str, code: &str) -> String {
    let token = dev_login(app, openid).await;
    join_demo(app, &token, code).await;
    token
}

async fn join_demo(app: &TestApp, token: &str, code: &str) {
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/join"),
            token,
            &json!({ "join_code": code }),
        )
        .await;
    assert_eq!(resp.status(), 200);
}

/// An app whose WeChat API is a fresh mock (kept alive as long as the test's runtime).
pub async fn spawn_with_wechat() -> TestApp {
    let mock = wechat_mock::start().await;
    let base = mock.base.clone();
    // The mock's server task runs until the runtime stops; its handle isn't needed.
    drop(mock);
    spawn_app_with(|s| s.wechat.api_base = base).await
}

/// A participant token through WeChat login (so a session key is on record); the app must
/// point at the WeChat mock.
pub async fn wechat_login(app: &TestApp, openid: &str) -> String {
    let resp = app
        .post_json("/api/v1/auth/wechat", &json!({ "code": format!("ok-{openid}") }))
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await["token"].as_str().expect("token").to_owned()
}

/// Logs a new participant in through WeChat and joins the demo campaign with `code`.
pub async fn wechat_member(app: &TestApp, openid: &str, code: &str) -> String {
    let token = wechat_login(app, openid).await;
    join_demo(app, &token, code).await;
    token
}

pub async fn upload(app: &TestApp, slug: &str, token: &str, days: &[(String, i64)]) -> Value {
    let body = json!({ "days": days.iter().map(|(d, s)| json!({"date": d, "steps": s})).collect::<Vec<_>>() });
    let resp = app
        .post_auth(&format!("/api/v1/campaigns/{slug}/steps"), token, &body)
        .await;
    let status = resp.status();
    let body = json(resp).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Turns the demo campaign into an individual one (no cohorts needed to join).
pub async fn make_demo_individual(app: &TestApp) {
    update_demo(app, |c| {
        c.progress_mode = Set(longmarch::domain::conversion::ProgressMode::Individual);
    })
    .await;
}

#[tokio::test]
async fn each_day_is_judged_alone_and_good_days_are_kept() {
    let app = spawn_app().await;
    let token = member(&app, "o_rules", "DEMO01").await;
    let body = upload(
        &app,
        DEMO,
        &token,
        &[
            (day(0), 9000),
            (day(-1), 12000),
            (day(1), 5000),
            (day(-8), 5000),
            (day(-2), -5),
            (day(-3), 200_001),
            ("2026-13-01".to_owned(), 10),
            ("yesterday".to_owned(), 10),
        ],
    )
    .await;
    let accepted: Vec<&str> = body["accepted"]
        .as_array()
        .expect("accepted")
        .iter()
        .map(|d| d["date"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(accepted, vec![day(-1), day(0)]);
    let codes: Vec<(String, String)> = body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap_or("").to_owned(),
                r["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(codes.contains(&(day(1), "future".to_owned())), "{codes:?}");
    assert!(codes.contains(&(day(-8), "before_start".to_owned())), "{codes:?}");
    assert!(codes.contains(&(day(-2), "negative_steps".to_owned())), "{codes:?}");
    assert!(codes.contains(&(day(-3), "absurd_steps".to_owned())), "{codes:?}");
    assert!(
        codes.contains(&("2026-13-01".to_owned(), "invalid_date".to_owned())),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("yesterday".to_owned(), "invalid_date".to_owned())),
        "{codes:?}"
    );
    let rows = step_days::Entity::find().all(&app.db).await.expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(body["progress"]["counted_steps"], 21000);
}

#[tokio::test]
async fn batches_are_bounded_and_must_not_be_empty() {
    let app = spawn_app().await;
    let token = member(&app, "o_batch", "DEMO01").await;
    let path = format!("/api/v1/campaigns/{DEMO}/steps");
    let many: Vec<Value> = (0..32).map(|i| json!({"date": day(-(i % 7)), "steps": 1})).collect();
    assert_problem(
        app.post_auth(&path, &token, &json!({"days": many})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post_auth(&path, &token, &json!({"days": []})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.post_auth(&path, &token, &json!({"days": "x"})).await,
        422,
        "invalid_body",
    )
    .await;
    let resp = app
        .client
        .post(app.url(&path))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"days\": [")
        .send()
        .await
        .expect("send");
    assert_problem(resp, 400, "malformed_json").await;
    assert_eq!(step_days::Entity::find().all(&app.db).await.expect("rows").len(), 0);
}

#[tokio::test]
async fn re_uploads_merge_by_max_with_cap_and_flag() {
    let app = spawn_app().await;
    let token = member(&app, "o_max", "DEMO01").await;
    upload(&app, DEMO, &token, &[(day(0), 5000)]).await;
    upload(&app, DEMO, &token, &[(day(0), 3000)]).await;
    let body = upload(&app, DEMO, &token, &[(day(0), 8000)]).await;
    assert_eq!(body["accepted"][0]["stored_steps"], 8000);
    let big = upload(&app, DEMO, &token, &[(day(-1), 65_000)]).await;
    assert_eq!(big["accepted"][0]["counted"], 50_000);
    assert_eq!(big["accepted"][0]["flagged"], true);
    let rows = step_days::Entity::find()
        .order_by_asc(step_days::Column::Day)
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].steps, rows[0].counted, rows[0].flagged),
        (65_000, 50_000, true)
    );
    assert_eq!((rows[1].steps, rows[1].counted, rows[1].flagged), (8000, 8000, false));
    let e = enrollments::Entity::find()
        .one(&app.db)
        .await
        .expect("q")
        .expect("enrollment");
    assert_eq!(e.total_counted, 58_000, "never summed twice");
    assert_eq!(e.total_steps, 73_000);
    assert_eq!(e.days_active, 2);
    let mine = json(
        app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/steps"), &token)
            .await,
    )
    .await;
    assert_eq!(mine["total"], 2);
    assert_eq!(mine["items"][0]["flagged"], true);
}

#[tokio::test]
async fn unlock_reached_on_is_the_day_the_station_was_crossed_whatever_the_upload_order() {
    let app = spawn_app().await;
    make_demo_individual(&app).await;
    // 18 steps per km: station 2 (于都渡河) sits at 234 km = 4,212 steps; station 3 at 368 km = 6,624.
    let a = dev_login(&app, "o_order_a").await;
    let b = dev_login(&app, "o_order_b").await;
    for t in [&a, &b] {
        app.post_auth(&format!("/api/v1/campaigns/{DEMO}/join"), t, &json!({}))
            .await;
    }
    // A: in date order. B: the later day first, then the earlier one.
    upload(&app, DEMO, &a, &[(day(-3), 3000)]).await;
    let first = upload(&app, DEMO, &a, &[(day(-2), 2000)]).await;
    assert_eq!(
        first["newly_unlocked"]
            .as_array()
            .map(|v| v.iter().map(|s| s["seq"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(2)])
    );
    upload(&app, DEMO, &a, &[(day(-1), 2000)]).await;
    upload(&app, DEMO, &b, &[(day(-1), 2000)]).await;
    upload(&app, DEMO, &b, &[(day(-2), 2000)]).await;
    upload(&app, DEMO, &b, &[(day(-3), 3000)]).await;
    let ma = json(
        app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/milestones"), &a)
            .await,
    )
    .await;
    let mb = json(
        app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/milestones"), &b)
            .await,
    )
    .await;
    for m in [&ma, &mb] {
        assert_eq!(
            m["items"][0]["reached_on"],
            json!(day(-3)),
            "start reached on the first day"
        );
        assert_eq!(m["items"][1]["reached_on"], json!(day(-2)), "{m}");
        assert_eq!(m["items"][1]["status"], "unlocked");
        assert_eq!(m["items"][2]["reached_on"], json!(day(-1)));
        assert_eq!(m["items"][3]["status"], "next");
        assert_eq!(m["items"][4]["status"], "locked");
    }
}

#[tokio::test]
async fn a_locked_station_story_is_never_served() {
    let app = spawn_app().await;
    let token = member(&app, "o_story", "DEMO01").await;
    upload(&app, DEMO, &token, &[(day(0), 5000)]).await;
    let m = json(
        app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/milestones"), &token)
            .await,
    )
    .await;
    let items = m["items"].as_array().expect("items");
    assert_eq!(items.len(), 36);
    let last_story = longmarch::models::stations::Entity::find()
        .filter(longmarch::models::stations::Column::Seq.eq(36))
        .one(&app.db)
        .await
        .expect("q")
        .expect("station")
        .story;
    for item in items {
        let unlocked = item["status"] == "unlocked";
        assert_eq!(item.get("story").is_some(), unlocked, "{item}");
    }
    assert_eq!(items[35]["status"], "locked");
    // No endpoint a participant can reach carries the last station's story.
    for path in [
        format!("/api/v1/campaigns/{DEMO}"),
        format!("/api/v1/campaigns/{DEMO}/me/milestones"),
        format!("/api/v1/campaigns/{DEMO}/me/progress"),
        "/api/v1/campaigns".to_owned(),
    ] {
        let text = app.get_auth(&path, &token).await.text().await.expect("body");
        let needle: String = last_story.chars().take(12).collect();
        assert!(!text.contains(&needle), "{path} leaks a locked story");
    }
}

#[tokio::test]
async fn cohort_mean_progress_moves_the_class_and_counts_contribution() {
    let app = spawn_app().await;
    let a = member(&app, "o_mean_a", "DEMO01").await;
    let b = member(&app, "o_mean_b", "DEMO01").await;
    upload(&app, DEMO, &a, &[(day(0), 18_000)]).await;
    let body = upload(&app, DEMO, &b, &[(day(0), 0)]).await;
    let p = &body["progress"];
    assert_eq!(p["subject"], "cohort");
    // Σ 18,000 steps over 2 members at 18 steps/km = 500 km.
    assert_eq!(p["cohort"]["position"]["metres"], 500_000);
    assert_eq!(p["metres"], 500_000);
    assert_eq!(p["own"]["metres"], 0);
    assert_eq!(p["cohort"]["contribution_percent"], 0.0);
    let pa = json(app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/progress"), &a).await).await;
    assert_eq!(pa["cohort"]["contribution_percent"], 100.0);
    assert_eq!(pa["rank"], 1);
    assert_eq!(pa["own"]["metres"], 1_000_000);
    assert_eq!(
        pa["current_station"]["seq"], 3,
        "500 km passes 于都 (234) and the first blockade (368)"
    );
    let college = cohorts::Entity::find()
        .filter(cohorts::Column::Path.eq("计算机学院"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("college");
    assert_eq!(
        (college.member_count, college.total_counted, college.metres),
        (2, 18_000, 500_000)
    );
    let cd = cohort_days::Entity::find()
        .filter(cohort_days::Column::CohortId.eq(college.id))
        .all(&app.db)
        .await
        .expect("q");
    assert_eq!(cd.len(), 1);
    assert_eq!((cd[0].counted, cd[0].active_members), (18_000, 1));
}

#[tokio::test]
async fn closed_campaigns_and_suspended_participants_take_no_uploads() {
    let app = spawn_app().await;
    let token = member(&app, "o_closed", "DEMO01").await;
    let e = enrollments::Entity::find().one(&app.db).await.expect("q").expect("e");
    let mut active = e.into_active_model();
    active.status = Set(enrollments::EnrollmentStatus::Suspended);
    active.suspend_reason = Set(Some("步数异常".to_owned()));
    active.update(&app.db).await.expect("suspend");
    let upload_one_step = async || {
        app.post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps"),
            &token,
            &json!({"days": [{"date": day(0), "steps": 1}]}),
        )
        .await
    };
    let body = assert_problem(upload_one_step().await, 403, "participant_suspended").await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("步数异常")));
    close_demo(&app).await;
    assert_problem(upload_one_step().await, 409, "campaign_closed").await;
}

pub fn werun_payload(entries: &[(i64, i64)], appid: &str, watermark_ts: i64) -> Value {
    werun_payload_with(&wechat_mock::SESSION_KEY, entries, appid, watermark_ts)
}

/// [`werun_payload`] encrypted with `key`.
pub fn werun_payload_with(key: &[u8; 16], entries: &[(i64, i64)], appid: &str, watermark_ts: i64) -> Value {
    let plain = json!({
        "stepInfoList": entries.iter().map(|(ts, step)| json!({"timestamp": ts, "step": step})).collect::<Vec<_>>(),
        "watermark": {"appid": appid, "timestamp": watermark_ts}
    });
    let iv = *b"0123456789abcdef";
    use base64::Engine as _;
    json!({
        "encrypted_data": longmarch::services::identity::werun::encrypt(key, &iv, plain.to_string().as_bytes()),
        "iv": base64::engine::general_purpose::STANDARD.encode(iv),
    })
}

/// 00:00 of the local day `offset` days from today, as a device in Shanghai reports it.
pub fn midnight(offset: i64) -> i64 {
    use chrono::TimeZone;
    let d = today() + Duration::days(offset);
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("unambiguous")
        .timestamp()
}

#[tokio::test]
async fn werun_uploads_decrypt_with_the_stored_session_key() {
    let app = spawn_with_wechat().await;
    let token = wechat_member(&app, "o_werun", "DEMO02").await;
    let path = format!("/api/v1/campaigns/{DEMO}/steps/werun");
    let now = Utc::now().timestamp();
    // WeChat sends 31 days: most before the campaign window.
    let entries: Vec<(i64, i64)> = (0..31).map(|i| (midnight(-30 + i), 1000 + i)).collect();
    let body = json(
        app.post_auth(&path, &token, &werun_payload(&entries, wechat_mock::APPID, now))
            .await,
    )
    .await;
    assert_eq!(body["accepted"].as_array().map(Vec::len), Some(8), "{body}");
    assert_eq!(body["accepted"][7]["date"], json!(day(0)));
    assert_eq!(body["accepted"][7]["steps"], 1030);
    assert!(
        body["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .all(|r| r["code"] == "before_start")
    );
    // Replaying the same payload is only the same idempotent merge: the same answer, nothing
    // newly unlocked, not one stored row or total changed.
    let stored = snapshot(&app).await;
    let rows = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            step_days::Entity::find()
                .order_by_asc(step_days::Column::Id)
                .all(&db)
                .await
                .expect("q")
                .into_iter()
                .map(|d| json!([d.id, d.day, d.steps, d.counted, d.source, d.flagged, d.updated_at]))
                .collect::<Vec<_>>()
        }
    };
    let stored_rows = rows(&app).await;
    let again = json(
        app.post_auth(&path, &token, &werun_payload(&entries, wechat_mock::APPID, now))
            .await,
    )
    .await;
    assert_eq!(again["progress"]["counted_steps"], body["progress"]["counted_steps"]);
    assert_eq!(again["accepted"], body["accepted"], "{again}");
    assert_eq!(again["rejected"], body["rejected"]);
    assert_eq!(again["newly_unlocked"], json!([]));
    assert_eq!(snapshot(&app).await, stored, "a replay changed the progress state");
    assert_eq!(rows(&app).await, stored_rows, "a replay rewrote step days");

    let foreign = app
        .post_auth(&path, &token, &werun_payload(&entries, "wx-someone-else", now))
        .await;
    assert_problem(foreign, 422, "werun_foreign_appid").await;
    let stale = app
        .post_auth(
            &path,
            &token,
            &werun_payload(&entries, wechat_mock::APPID, now - 3 * 86_400),
        )
        .await;
    assert_problem(stale, 422, "werun_stale").await;
    let mut garbled = werun_payload(&entries, wechat_mock::APPID, now);
    garbled["iv"] = json!("AAAAAAAAAAAAAAAAAAAAAA==");
    let resp = app.post_auth(&path, &token, &garbled).await;
    assert_eq!(resp.status(), 422);
    let code = json(resp).await["code"].clone();
    assert!(code == "werun_undecryptable" || code == "werun_not_step_data", "{code}");
    let resp = app
        .post_auth(&path, &token, &json!({"encrypted_data": "%%%", "iv": "x"}))
        .await;
    let body = assert_problem(resp, 422, "werun_undecryptable").await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("log in again")));
    // Valid data that is not a step list.
    use base64::Engine as _;
    let iv = *b"fedcba9876543210";
    let other = json!({
        "encrypted_data": longmarch::services::identity::werun::encrypt(&wechat_mock::SESSION_KEY, &iv, br#"{"nickName":"x"}"#),
        "iv": base64::engine::general_purpose::STANDARD.encode(iv),
    });
    assert_problem(app.post_auth(&path, &token, &other).await, 422, "werun_not_step_data").await;
}

#[tokio::test]
async fn a_session_key_changed_by_a_login_elsewhere_is_read_again() {
    use base64::Engine as _;
    let app = spawn_with_wechat().await;
    let token = wechat_member(&app, "o_relogin", "DEMO02").await;
    let path = format!("/api/v1/campaigns/{DEMO}/steps/werun");
    let now = Utc::now().timestamp();
    let upload = async |key: &[u8; 16], steps: i64| {
        let body = werun_payload_with(key, &[(midnight(0), steps)], wechat_mock::APPID, now);
        app.post_auth(&path, &token, &body).await
    };
    assert_eq!(
        json(upload(&wechat_mock::SESSION_KEY, 1_000).await).await["accepted"][0]["steps"],
        1_000
    );
    // Another instance serves the next login: WeChat's new key is stored behind this one's back.
    let fresh = *b"another-key-16b!";
    let p = participants::Entity::find()
        .filter(participants::Column::Openid.eq("o_relogin"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("participant");
    let mut active = p.into_active_model();
    active.session_key = Set(Some(base64::engine::general_purpose::STANDARD.encode(fresh)));
    active.update(&app.db).await.expect("new key");
    let body = json(upload(&fresh, 2_000).await).await;
    assert_eq!(body["accepted"][0]["stored_steps"], 2_000, "{body}");
    // The old key is no longer the participant's: its payloads are refused, and nothing is stored.
    let resp = upload(&wechat_mock::SESSION_KEY, 3_000).await;
    assert_eq!(resp.status(), 422);
    let code = json(resp).await["code"].clone();
    assert!(code == "werun_undecryptable" || code == "werun_not_step_data", "{code}");
    let body = json(upload(&fresh, 2_500).await).await;
    assert_eq!(body["accepted"][0]["stored_steps"], 2_500, "{body}");
}

#[tokio::test]
async fn werun_without_a_wechat_session_asks_to_log_in_again() {
    let app = spawn_app().await;
    let token = member(&app, "o_nokey", "DEMO01").await;
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps/werun"),
            &token,
            &werun_payload(&[(midnight(0), 1)], wechat_mock::APPID, Utc::now().timestamp()),
        )
        .await;
    assert_problem(resp, 422, "werun_undecryptable").await;
}

/// Everything the progress engine stores, without ids and timestamps of rows it rewrites.
pub async fn snapshot(app: &TestApp) -> Value {
    snapshot_of(&app.db).await
}

/// `snapshot` of any database.
pub async fn snapshot_of(db: &sea_orm::DatabaseConnection) -> Value {
    let e: Vec<Value> = enrollments::Entity::find()
        .order_by_asc(enrollments::Column::Id)
        .all(db)
        .await
        .expect("q")
        .into_iter()
        .map(|e| {
            json!([
                e.id,
                e.total_steps,
                e.total_counted,
                e.days_active,
                e.metres,
                e.stations_reached,
                e.last_reached_on,
                e.finished_on
            ])
        })
        .collect();
    let c: Vec<Value> = cohorts::Entity::find()
        .order_by_asc(cohorts::Column::Id)
        .all(db)
        .await
        .expect("q")
        .into_iter()
        .map(|c| {
            json!([
                c.id,
                c.member_count,
                c.active_members,
                c.total_steps,
                c.total_counted,
                c.metres,
                c.stations_reached,
                c.last_reached_on,
                c.finished_on,
                c.reached_dates_stale
            ])
        })
        .collect();
    let cd: Vec<Value> = cohort_days::Entity::find()
        .order_by_asc(cohort_days::Column::CohortId)
        .order_by_asc(cohort_days::Column::Day)
        .all(db)
        .await
        .expect("q")
        .into_iter()
        .filter(|d| d.counted != 0 || d.active_members != 0)
        .map(|d| json!([d.cohort_id, d.day, d.counted, d.active_members]))
        .collect();
    let pd: Vec<Value> = longmarch::models::campaign_days::Entity::find()
        .order_by_asc(longmarch::models::campaign_days::Column::Day)
        .all(db)
        .await
        .expect("q")
        .into_iter()
        .filter(|d| d.counted != 0 || d.active_participants != 0)
        .map(|d| json!([d.campaign_id, d.day, d.counted, d.active_participants]))
        .collect();
    let u: Vec<Value> = unlocks::Entity::find()
        .order_by_asc(unlocks::Column::SubjectKind)
        .order_by_asc(unlocks::Column::SubjectId)
        .order_by_asc(unlocks::Column::StationSeq)
        .all(db)
        .await
        .expect("q")
        .into_iter()
        .map(|u| json!([u.subject_kind, u.subject_id, u.station_seq, u.reached_on, u.unlocked_at]))
        .collect();
    json!({"enrollments": e, "cohorts": c, "cohort_days": cd, "campaign_days": pd, "unlocks": u})
}

#[tokio::test]
async fn recompute_leaves_the_database_exactly_as_incremental_ingestion_did() {
    let app = spawn_app().await;
    let codes = ["DEMO01", "DEMO02", "DEMO03", "DEMO04", "DEMO01", "DEMO03"];
    let mut tokens = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        tokens.push(member(&app, &format!("o_rc{i}"), code).await);
    }
    // Out of order, re-uploads, caps and a zero day.
    let plan: [(usize, i64, i64); 12] = [
        (0, -1, 12_000),
        (1, -3, 30_000),
        (0, -4, 9_000),
        (2, 0, 70_000),
        (3, -2, 0),
        (4, -5, 15_000),
        (0, -1, 11_000),
        (5, -6, 22_000),
        (1, -2, 41_000),
        (2, -7, 8_000),
        (4, -5, 18_000),
        (3, -1, 6_000),
    ];
    for (who, offset, steps) in plan {
        upload(&app, DEMO, &tokens[who], &[(day(offset), steps)]).await;
    }
    let before = snapshot(&app).await;
    let report = longmarch::services::progress::recompute_campaign(&app.db, DEMO)
        .await
        .expect("recompute");
    assert!(report.contains("6 participants"));
    let after = snapshot(&app).await;
    assert_eq!(before, after);
    assert!(!before["unlocks"].as_array().expect("unlocks").is_empty());
}

#[tokio::test]
async fn fifty_concurrent_uploads_of_one_day_leave_the_maximum_and_each_unlock_once() {
    let app = spawn_app().await;
    let token = member(&app, "o_race", "DEMO01").await;
    let path = format!("/api/v1/campaigns/{DEMO}/steps");
    let mut handles = Vec::new();
    for i in 0..50_i64 {
        let client = app.client.clone();
        let url = app.url(&path);
        let token = token.clone();
        let body = json!({"days": [{"date": day(0), "steps": 1000 + i * 100}]});
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    for h in handles {
        assert_eq!(h.await.expect("join"), 200);
    }
    let rows = step_days::Entity::find().all(&app.db).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].steps, 5900);
    let e = enrollments::Entity::find().one(&app.db).await.expect("q").expect("e");
    assert_eq!(e.total_counted, 5900);
    let us = unlocks::Entity::find().all(&app.db).await.expect("unlocks");
    let mut keys: Vec<_> = us
        .iter()
        .map(|u| (u.subject_kind.as_str(), u.subject_id, u.station_seq))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "each unlock exactly once");
    let before = snapshot(&app).await;
    longmarch::services::progress::recompute_campaign(&app.db, DEMO)
        .await
        .expect("recompute");
    assert_eq!(before, snapshot(&app).await);
}

#[tokio::test]
async fn a_replayed_upload_stores_nothing_and_says_so() {
    use longmarch::{
        domain::states::StepSource,
        services::{
            progress::{CampaignCtx, CohortDates},
            steps::store,
        },
    };
    use std::collections::BTreeMap;
    let app = spawn_app().await;
    member(&app, "o_replay", "DEMO01").await;
    let e = enrollments::Entity::find().one(&app.db).await.expect("q").expect("e");
    let campaign = longmarch::services::campaigns::find_any(&app.db, DEMO)
        .await
        .expect("demo");
    let ctx = CampaignCtx::from_model(&app.db, campaign).await.expect("ctx");
    let outcome = |steps: i64| {
        let good = BTreeMap::from([(today(), steps)]);
        let (db, ctx) = (app.db.clone(), ctx.clone());
        async move {
            store::store_alone(
                &db,
                store::ToStore {
                    ctx: &ctx,
                    participant_id: e.participant_id,
                    good: &good,
                    source: StepSource::Manual,
                    dates: CohortDates::Now,
                },
            )
            .await
            .expect("ingest")
            .changed
        }
    };
    assert!(outcome(5000).await, "a new day is a change");
    assert!(!outcome(5000).await, "the same count again is a replay");
    assert!(!outcome(3000).await, "a lower count merges to the stored maximum");
    assert!(outcome(6000).await, "a higher count is a change");
}

/// The statement that adds a batch's steps to its cohorts computes their metres too
/// (`CampaignCtx::cohort_metres_sql`), next to other bound values, in every mode: a metres
/// left wrong there is put right by one more UPDATE per cohort, in every upload batch.
#[tokio::test]
async fn the_cohorts_update_computes_their_metres_in_every_mode() {
    use longmarch::{domain::conversion::ProgressMode, services::progress::CampaignCtx};
    use sea_orm::sea_query::{Expr, ExprTrait};
    let app = spawn_app().await;
    member(&app, "o_metres_a", "DEMO01").await;
    member(&app, "o_metres_b", "DEMO01").await;
    let campaign = longmarch::services::campaigns::find_any(&app.db, DEMO)
        .await
        .expect("demo");
    let class = cohorts::Entity::find()
        .filter(cohorts::Column::JoinCode.eq("DEMO01"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("class");
    assert_eq!(class.member_count, 2);
    for (mode, added) in [
        (ProgressMode::CohortTotal, 18_000_i64),
        (ProgressMode::CohortMean, 36_019),
        (ProgressMode::Individual, 7),
    ] {
        let mut ctx = CampaignCtx::from_model(&app.db, campaign.clone()).await.expect("ctx");
        ctx.mode = mode;
        let before = cohorts::Entity::find_by_id(class.id)
            .one(&app.db)
            .await
            .expect("q")
            .expect("class");
        // Bound values before and after the metres, as the upload batches' statement has.
        cohorts::Entity::update_many()
            .col_expr(
                cohorts::Column::TotalSteps,
                Expr::col(cohorts::Column::TotalSteps).add(3),
            )
            .col_expr(
                cohorts::Column::TotalCounted,
                Expr::col(cohorts::Column::TotalCounted).add(added),
            )
            .col_expr(cohorts::Column::Metres, ctx.cohort_metres_sql(Expr::val(added)))
            .filter(cohorts::Column::Id.is_in([class.id, class.id]))
            .exec(&app.db)
            .await
            .expect("update");
        let after = cohorts::Entity::find_by_id(class.id)
            .one(&app.db)
            .await
            .expect("q")
            .expect("class");
        assert_eq!(after.total_counted, before.total_counted + added);
        assert_eq!(
            after.metres,
            ctx.cohort_metres(after.total_counted, i64::from(after.member_count)),
            "{mode:?}"
        );
    }
}
