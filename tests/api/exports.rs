//! Statistics and CSV exports for organisers.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::{
    helpers::{DEMO, TestApp, assert_problem, json, organiser_token, spawn_app},
    leaderboards::{day, participant, upload},
};

async fn get_csv(app: &TestApp, token: &str, what: &str) -> (String, Vec<Vec<String>>) {
    let resp = app
        .get_auth(&format!("/api/v1/admin/campaigns/{DEMO}/export/{what}.csv"), token)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/csv; charset=utf-8")
    );
    let disposition = resp
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains(&format!("{DEMO}-{what}.csv")), "{disposition}");
    let bytes = resp.bytes().await.expect("body");
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 byte-order mark first");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let rows = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    (text, rows)
}

#[tokio::test]
async fn participants_csv_is_ranked_quoted_and_has_a_bom() {
    let app = spawn_app().await;
    let a = participant(&app, "o-1", "张, \"小三\"", "2023001", "DEMO01").await;
    let b = participant(&app, "o-2", "=HYPERLINK(1)", "2023002", "DEMO03").await;
    let c = participant(&app, "o-3", "李四", "2023003", "DEMO04").await;
    upload(&app, &a, &[(1, 9_000)]).await;
    upload(&app, &b, &[(1, 9_000)]).await;
    upload(&app, &c, &[(2, 3_000)]).await;
    let admin = organiser_token(&app, "alice", "admin").await;
    let (text, rows) = get_csv(&app, &admin, "participants").await;
    assert_eq!(
        rows[0],
        vec![
            "rank",
            "display_name",
            "student_no",
            "cohort_path",
            "status",
            "counted_steps",
            "total_steps",
            "km",
            "stations_reached",
            "days_active",
            "finished_on"
        ]
    );
    assert_eq!(rows.len(), 4);
    assert!(
        text.contains("\"张, \"\"小三\"\"\""),
        "commas and quotes are quoted: {text}"
    );
    assert_eq!(rows[1][0], "1");
    assert_eq!(rows[1][1], "张, \"小三\"");
    assert_eq!(rows[1][2], "2023001");
    assert_eq!(rows[1][3], "计算机学院/软件2301");
    assert_eq!(rows[1][5], "9000");
    assert_eq!(rows[1][7], "500.000");
    assert_eq!(rows[2][0], "1", "a tie shares the rank");
    assert_eq!(rows[2][1], "'=HYPERLINK(1)", "formulas are defused");
    assert_eq!(rows[3][0], "3");
    assert_eq!(rows[3][1], "李四");
    assert!(rows.iter().all(|r| r.len() == 11));
}

#[tokio::test]
async fn cohorts_and_steps_csv_cover_every_row() {
    let app = spawn_app().await;
    let a = participant(&app, "o-1", "王五", "S1", "DEMO02").await;
    upload(&app, &a, &[(1, 4_000), (2, 70_000)]).await;
    let admin = organiser_token(&app, "alice", "admin").await;
    let (_, rows) = get_csv(&app, &admin, "cohorts").await;
    assert_eq!(rows.len(), 1 + 6, "header and the six demo cohorts: {rows:?}");
    assert_eq!(rows[0][0], "path");
    let net = rows.iter().find(|r| r[0] == "计算机学院/网络2302").expect("class row");
    assert_eq!(net[2], "1");
    assert_eq!(net[5], "54000", "counted steps are capped at 50,000 a day");
    let (_, rows) = get_csv(&app, &admin, "steps").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][3], "date");
    let big = rows.iter().find(|r| r[3] == day(2)).expect("day row");
    assert_eq!(big[4], "70000");
    assert_eq!(big[5], "50000");
    assert_eq!(big[6], "true", "over the review threshold");
    assert_eq!(big[2], "计算机学院/网络2302");
}

#[tokio::test]
async fn stats_count_participation_steps_and_flags() {
    let app = spawn_app().await;
    let a = participant(&app, "o-1", "甲", "S1", "DEMO01").await;
    let b = participant(&app, "o-2", "乙", "S2", "DEMO02").await;
    participant(&app, "o-3", "丙", "S3", "DEMO03").await;
    upload(&app, &a, &[(0, 6_000), (1, 70_000)]).await;
    upload(&app, &b, &[(1, 2_000)]).await;
    let admin = organiser_token(&app, "alice", "admin").await;
    let resp = app
        .get_auth(&format!("/api/v1/admin/campaigns/{DEMO}/stats"), &admin)
        .await;
    let body = json(resp).await;
    assert_eq!(body["enrolled"], 3, "{body}");
    assert_eq!(body["active_ever"], 2);
    assert_eq!(body["active_today"], 1);
    assert_eq!(body["participation_percent"], 66.66);
    assert_eq!(body["counted_steps"], 58_000);
    assert_eq!(body["total_steps"], 78_000);
    assert_eq!(body["flagged_days"], 1);
    assert_eq!(body["subject"], "cohort");
    assert_eq!(body["stations_total"], 36);
    assert!(body["furthest_stations_reached"].as_i64().expect("furthest") >= 1);
    let series = body["series"].as_array().expect("series");
    assert_eq!(series.len(), 8, "the window starts 7 days before today: {body}");
    let yesterday = series.iter().find(|p| p["date"] == day(1)).expect("yesterday");
    assert_eq!(yesterday["active"], 2);
    assert_eq!(yesterday["counted_steps"], 52_000);
    assert_eq!(series.last().expect("today")["enrolled"], 3);
}

#[tokio::test]
async fn reports_are_for_organisers_with_access_only() {
    let app = spawn_app().await;
    let p = participant(&app, "o-1", "甲", "S1", "DEMO01").await;
    let bob = organiser_token(&app, "bob", "organiser").await;
    for path in [
        "stats",
        "export/participants.csv",
        "export/steps.csv",
        "export/cohorts.csv",
    ] {
        let url = format!("/api/v1/admin/campaigns/{DEMO}/{path}");
        assert_problem(app.get_auth(&url, &p).await, 403, "organiser_only").await;
        assert_problem(app.get_auth(&url, &bob).await, 404, "campaign_not_found").await;
        assert_problem(app.get(&url).await, 401, "missing_token").await;
    }
    let resp = app
        .get_auth(
            "/api/v1/admin/campaigns/nope/stats",
            &organiser_token(&app, "root", "admin").await,
        )
        .await;
    assert_problem(resp, 404, "campaign_not_found").await;
    // A grant opens the campaign to bob.
    let campaign = longmarch::models::campaigns::Model::find_by_slug(&app.db, DEMO)
        .await
        .expect("query")
        .expect("demo");
    let bob_row = longmarch::models::organisers::Entity::find()
        .filter(longmarch::models::organisers::Column::Username.eq("bob"))
        .one(&app.db)
        .await
        .expect("query")
        .expect("bob");
    longmarch::models::campaign_grants::ActiveModel {
        campaign_id: Set(campaign.id),
        organiser_id: Set(bob_row.id),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("grant");
    let resp = app
        .get_auth(&format!("/api/v1/admin/campaigns/{DEMO}/stats"), &bob)
        .await;
    assert_eq!(resp.status(), 200);
}
