//! The big screen's page (`/screen/{slug}`), what a board token may read for it, and that
//! its token never reaches the log.

use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::{DEMO, TestApp, assert_problem, json, organiser_token, spawn_app},
    leaderboards::{participant, upload},
    shutdown::{send_signal, serve_logged},
};

async fn board_token(app: &TestApp, organiser: &str, slug: &str) -> String {
    let resp = app
        .post_auth(
            &format!("/api/v1/admin/campaigns/{slug}/board-token"),
            organiser,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn the_screen_page_and_its_assets_are_served_with_a_strict_policy() {
    let app = spawn_app().await;
    let resp = app.get(&format!("/screen/{DEMO}?access_token=abc")).await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    assert!(header("content-security-policy").contains("script-src 'self'"));
    assert!(!header("content-security-policy").contains("unsafe-inline"));
    assert_eq!(
        header("referrer-policy"),
        "no-referrer",
        "the page's URL carries a token"
    );
    let html = resp.text().await.expect("body");
    assert!(html.contains("<svg id=\"map\""), "{html}");
    assert!(!html.contains("<script>"), "no inline script");
    for asset in [
        "js/main.js",
        "js/api.js",
        "js/map.js",
        "js/geometry.js",
        "js/panels.js",
        "css/screen.css",
    ] {
        let resp = app.get(&format!("/screen/{asset}")).await;
        assert_eq!(resp.status(), 200, "{asset}");
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let want = if asset.ends_with(".js") {
            "javascript"
        } else {
            "text/css"
        };
        assert!(kind.contains(want), "{asset}: {kind}");
        let body = resp
            .text()
            .await
            .expect("body")
            .replace("http://www.w3.org/2000/svg", "");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{asset} loads nothing from elsewhere"
        );
    }
    let missing = app.get("/screen/js/nothing.js").await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_board_token_reads_every_class_ranked_by_progress_for_its_campaign_only() {
    let app = spawn_app().await;
    let admin = organiser_token(&app, "alice", "admin").await;
    let board = board_token(&app, &admin, DEMO).await;
    let a = participant(&app, "o-1", "甲", "S1", "DEMO03").await;
    upload(&app, &a, &[(1, 9_000)]).await;
    let path = format!("/api/v1/campaigns/{DEMO}/leaderboards/cohorts?metric=progress&level=leaf");
    let leaves = json(app.get_auth(&path, &board).await).await;
    let names: Vec<&str> = leaves["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 4, "{leaves}");
    assert_eq!(names[0], "电商2301", "the class that walked leads");
    assert_eq!(leaves["items"][0]["position"]["metres"], 500_000);
    assert_eq!(leaves["items"][0]["path"], "商学院/电商2301");
    assert!(
        leaves["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["has_children"] == false)
    );

    let top = json(
        app.get_auth(&format!("/api/v1/campaigns/{DEMO}/leaderboards/cohorts"), &board)
            .await,
    )
    .await;
    let college = top["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["name"] == "计算机学院")
        .expect("college")["id"]
        .as_i64()
        .unwrap();
    let under = json(app.get_auth(&format!("{path}&parent={college}"), &board).await).await;
    assert_eq!(under["total"], 2, "{under}");
    assert_problem(
        app.get_auth(
            &format!("/api/v1/campaigns/{DEMO}/leaderboards/cohorts?level=all"),
            &board,
        )
        .await,
        400,
        "invalid_query",
    )
    .await;

    // The token reads its own campaign's boards, nothing else, and writes nothing.
    let other = crate::admin_support::active_campaign(&app, &admin, "other", "cohort_total").await;
    assert_eq!(other["slug"], "other");
    assert_problem(
        app.get_auth("/api/v1/campaigns/other/leaderboards/cohorts?level=leaf", &board)
            .await,
        403,
        "board_token_scope",
    )
    .await;
    assert_problem(
        app.post_auth(
            &format!("/api/v1/admin/campaigns/{DEMO}/board-token"),
            &board,
            &json!({}),
        )
        .await,
        403,
        "organiser_only",
    )
    .await;
    assert_problem(
        app.post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps"),
            &board,
            &json!({ "days": [] }),
        )
        .await,
        403,
        "participant_only",
    )
    .await;
}

#[tokio::test]
async fn a_token_in_the_screen_address_never_reaches_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    let url = format!("sqlite://{}", dir.path().join("screen-logs.db").display());
    let (mut guard, base, client) = serve_logged(&url, &log_path, &[("LONGMARCH__LOG__LEVEL", "debug")]).await;
    let secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwicm9sZSI6ImJvYXJkIn0.screen-secret";
    let resp = client
        .get(format!("{base}/screen/{DEMO}?lang=zh&access_token={secret}"))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 200);
    let resp = client
        .get(format!("{base}/screen/{DEMO}?access_token={secret}"))
        .header("Authorization", format!("Bearer {secret}"))
        .send()
        .await
        .expect("page");
    assert_eq!(resp.status(), 200, "the page holds no data: it checks no token");
    // Answers that are not 2xx are logged at any level, with their URI.
    let resp = client
        .get(format!("{base}/screen/js/missing.js?access_token={secret}"))
        .send()
        .await
        .expect("asset");
    assert_eq!(resp.status(), 404);
    let resp = client
        .post(format!("{base}/screen/{DEMO}?lang=zh&access_token={secret}"))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 404);

    send_signal(guard.child(), "TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(guard.0.take().expect("child").wait());
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains(&format!("/screen/{DEMO}")),
        "the requests were logged: {log}"
    );
    assert!(log.contains("/screen/js/missing.js"), "{log}");
    assert!(log.contains("lang=zh"), "the rest of the query is kept: {log}");
    assert!(!log.contains("screen-secret"), "the token leaked into the log");
    assert!(!log.contains("access_token"), "{log}");
}

#[tokio::test]
async fn a_board_token_reads_its_draft_campaign_while_the_public_does_not() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    crate::admin_support::create_campaign(&app, &alice, "spring", "cohort_mean").await;
    let board = board_token(&app, &alice, "spring").await;
    assert_problem(app.get("/api/v1/campaigns/spring").await, 404, "campaign_not_found").await;
    let participant = crate::helpers::dev_login(&app, "o-1").await;
    assert_problem(
        app.get_auth("/api/v1/campaigns/spring", &participant).await,
        404,
        "campaign_not_found",
    )
    .await;
    let detail = json(app.get_auth("/api/v1/campaigns/spring", &board).await).await;
    assert_eq!(detail["status"], "draft");
    assert_eq!(detail["stations"].as_array().map(Vec::len), Some(36));
    assert!(detail["stations"][0]["lat"].is_number());

    // Another campaign's board token, or a stale token, changes nothing.
    let root = organiser_token(&app, "root", "admin").await;
    let demo_board = board_token(&app, &root, DEMO).await;
    assert_problem(
        app.get_auth("/api/v1/campaigns/spring", &demo_board).await,
        404,
        "campaign_not_found",
    )
    .await;
    let resp = app
        .get_auth(&format!("/api/v1/campaigns/{DEMO}"), "stale.token.value")
        .await;
    assert_eq!(resp.status(), 200);
}
