use chrono::Duration;
use serde_json::json;

use crate::admin_support::{active_campaign, joined, post_csv, progress};
use crate::helpers::{assert_problem, json, organiser_token, spawn_app, today};

fn day(ago: i64) -> String {
    (today() - Duration::days(ago)).to_string()
}

#[tokio::test]
async fn admin_step_import_merges_by_max_and_reports_rule_rejections_per_line() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "steps", "individual").await;
    let a = joined(&app, "steps", "pa", None, Some("2023001")).await;
    let b = joined(&app, "steps", "pb", None, Some("2023002")).await;
    let path = "/api/v1/admin/campaigns/steps/steps/import";
    let csv = format!(
        "\u{feff}student_no,date,steps\r\n2023001,{},8000\r\n2023001,{},6000\r\n2023001,{},3000\r\n2023002,{},70000\r\n2023002,{},1000\r\n2023002,{},1000\r\n",
        day(1),
        day(2),
        day(1),
        day(3),
        day(-5),
        day(400),
    );
    let resp = post_csv(&app, path, &alice, csv).await;
    assert_eq!(resp.status(), 200);
    let report = json(resp).await;
    assert_eq!(report["lines"], 6);
    assert_eq!(report["accepted"], 4);
    assert_eq!(report["rejected_count"], 2);
    assert_eq!(report["rejected"][0]["line"], 6);
    assert_eq!(report["rejected"][1]["line"], 7);
    assert_eq!(report["participants"], 2);
    // 8,000 (max of 8,000 and 3,000) + 6,000 at 1,000 steps/km.
    assert_eq!(progress(&app, "steps", &a).await["metres"], 14_000);
    // Capped at 50,000 and flagged.
    assert_eq!(progress(&app, "steps", &b).await["metres"], 50_000);
    let flags = json(app.get_auth("/api/v1/admin/campaigns/steps/flags", &alice).await).await;
    assert_eq!(flags["items"][0]["source"], "import");
    // Re-importing is idempotent.
    let again = json(
        post_csv(
            &app,
            path,
            &alice,
            format!("student_no,date,steps\n2023001,{},8000\n", day(1)),
        )
        .await,
    )
    .await;
    assert_eq!(again["accepted"], 1);
    assert_eq!(progress(&app, "steps", &a).await["metres"], 14_000);
}

#[tokio::test]
async fn admin_step_import_with_a_malformed_line_stores_nothing() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "bad", "individual").await;
    let a = joined(&app, "bad", "pa", None, Some("2023001")).await;
    let path = "/api/v1/admin/campaigns/bad/steps/import";
    let csv = format!(
        "student_no,date,steps\n2023001,{},8000\n2023001,2025/01/01,100\n9999999,{},100\n2023001,{},many\n2023001,{}\n",
        day(1),
        day(2),
        day(2),
        day(2)
    );
    let problem = assert_problem(post_csv(&app, path, &alice, csv).await, 422, "csv_invalid").await;
    let codes: Vec<(i64, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["code"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (3, "invalid_date".to_owned()),
            (4, "unknown_student".to_owned()),
            (5, "invalid_steps".to_owned()),
            (6, "wrong_columns".to_owned()),
        ]
    );
    assert_eq!(progress(&app, "bad", &a).await["metres"], 0);

    // A 1 MB line is reported by number, never a 5xx.
    let huge = format!(
        "student_no,date,steps\n2023001,{},8000\n{}\n",
        day(1),
        "9".repeat(1024 * 1024)
    );
    let problem = assert_problem(post_csv(&app, path, &alice, huge).await, 422, "csv_invalid").await;
    assert_eq!(problem["errors"][0]["line"], 3);
    assert_eq!(problem["errors"][0]["code"], "line_too_long");
    assert_eq!(progress(&app, "bad", &a).await["metres"], 0);

    assert_problem(post_csv(&app, path, &alice, "date,steps\n").await, 422, "csv_header").await;
    let resp = post_csv(&app, path, &alice, vec![0xffu8, 0xfe, b'\n']).await;
    assert_problem(resp, 422, "csv_header").await;
}

#[tokio::test]
async fn admin_step_import_streams_a_large_file_and_respects_the_body_limit() {
    let app = crate::helpers::spawn_app_with(|s| s.limits.csv_body_bytes = 1_000_000).await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "big", "individual").await;
    let a = joined(&app, "big", "pa", None, Some("2023001")).await;
    let mut csv = String::from("student_no,date,steps\n");
    for i in 0..20_000 {
        csv.push_str(&format!("2023001,{},{}\n", day(1 + i % 5), 1000 + i));
    }
    let resp = post_csv(&app, "/api/v1/admin/campaigns/big/steps/import", &alice, csv).await;
    assert_eq!(resp.status(), 200);
    let report = json(resp).await;
    assert_eq!(report["lines"], 20_000);
    assert!(progress(&app, "big", &a).await["metres"].as_i64().unwrap() > 0);
    let too_big = "x".repeat(1_100_000);
    let resp = post_csv(&app, "/api/v1/admin/campaigns/big/steps/import", &alice, too_big).await;
    assert_problem(resp, 413, "body_too_large").await;
}

#[tokio::test]
async fn admin_step_import_follows_the_campaign_state_and_sources() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let mut body = crate::admin_support::campaign_body("nosrc", "individual");
    body["step_sources"] = json!(["werun"]);
    app.post_auth("/api/v1/admin/campaigns", &alice, &body).await;
    let path = "/api/v1/admin/campaigns/nosrc/steps/import";
    assert_problem(
        post_csv(&app, path, &alice, "student_no,date,steps\n").await,
        409,
        "campaign_not_open",
    )
    .await;
    app.post_auth("/api/v1/admin/campaigns/nosrc/activate", &alice, &json!({}))
        .await;
    assert_problem(
        post_csv(&app, path, &alice, "student_no,date,steps\n").await,
        422,
        "source_not_accepted",
    )
    .await;
    app.post_auth("/api/v1/admin/campaigns/nosrc/close", &alice, &json!({}))
        .await;
    assert_problem(
        post_csv(&app, path, &alice, "student_no,date,steps\n").await,
        409,
        "campaign_closed",
    )
    .await;
}

#[tokio::test]
async fn admin_routes_import_as_json_or_csv_and_stations_move_only_when_unused() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let doc = json!({
        "slug": "lake-loop",
        "name": "Lake loop",
        "stations": [
            { "seq": 1, "name": "Start", "metres": 0 },
            { "seq": 2, "name": "Bridge", "metres": 5000, "title": "The bridge" },
            { "seq": 3, "name": "End", "metres": 9000 }
        ]
    });
    let resp = app.post_auth("/api/v1/admin/routes", &alice, &doc).await;
    assert_eq!(resp.status(), 201);
    let route = json(resp).await;
    assert_eq!(route["total_metres"], 9000);
    assert_problem(
        app.post_auth("/api/v1/admin/routes", &alice, &doc).await,
        409,
        "route_exists",
    )
    .await;
    let mut bad = doc.clone();
    bad["slug"] = json!("other");
    bad["stations"][2]["metres"] = json!(4000);
    assert_problem(
        app.post_auth("/api/v1/admin/routes", &alice, &bad).await,
        422,
        "validation_failed",
    )
    .await;

    let csv = "seq,name,metres,event_date,title,story,image_url\r\n1,起点,0,1934-10-10,出发,\"故事, 一\",\r\n2,终点,1000,,到达,故事二,https://example.com/a.png\r\n";
    let resp = post_csv(&app, "/api/v1/admin/routes?slug=mini&name=Mini", &alice, csv).await;
    assert_eq!(resp.status(), 201);
    let mini = json(resp).await;
    assert_eq!(mini["stations"][0]["story"], "故事, 一");
    assert_eq!(mini["stations"][1]["image_url"], "https://example.com/a.png");
    let resp = post_csv(
        &app,
        "/api/v1/admin/routes?slug=mini2&name=M",
        &alice,
        "seq,name,metres,event_date,title,story,image_url\n1,a,0,1934-13-01,,,\n",
    )
    .await;
    assert_problem(resp, 422, "csv_invalid").await;
    assert_problem(
        post_csv(&app, "/api/v1/admin/routes", &alice, csv).await,
        422,
        "validation_failed",
    )
    .await;

    let id = route["id"].as_i64().unwrap();
    let st = format!("/api/v1/admin/routes/{id}/stations/2");
    let resp = app
        .patch_auth(&st, &alice, &json!({ "metres": 6000, "story": "Over the water" }))
        .await;
    assert_eq!(resp.status(), 200);
    assert_problem(
        app.patch_auth(&st, &alice, &json!({ "metres": 9500 })).await,
        422,
        "validation_failed",
    )
    .await;

    let mut body = crate::admin_support::campaign_body("lake", "individual");
    body["route"] = json!("lake-loop");
    app.post_auth("/api/v1/admin/campaigns", &alice, &body).await;
    app.post_auth("/api/v1/admin/campaigns/lake/activate", &alice, &json!({}))
        .await;
    assert_problem(
        app.patch_auth(&st, &alice, &json!({ "metres": 7000 })).await,
        409,
        "route_in_use",
    )
    .await;
    let resp = app
        .patch_auth(&st, &alice, &json!({ "title": "The long bridge" }))
        .await;
    assert_eq!(json(resp).await["title"], "The long bridge");
    let got = json(app.get_auth(&format!("/api/v1/admin/routes/{id}"), &alice).await).await;
    assert_eq!(got["in_active_use"], true);
    assert_eq!(got["stations"][1]["metres"], 6000);
    // Another organiser can't edit a route alice's campaign walks.
    let bob = organiser_token(&app, "bob", "organiser").await;
    assert_problem(
        app.patch_auth(&st, &bob, &json!({ "title": "Mine" })).await,
        403,
        "route_shared",
    )
    .await;
    let list = json(app.get_auth("/api/v1/admin/routes", &bob).await).await;
    assert_eq!(list["total"], 3);
}
