//! The organisers' console, through whole tasks.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    driver::Browser,
    helpers::{TestApp, json as body, spawn_app},
    participant, upload,
};

const SLUG: &str = "spring-2026";

/// An organiser account made the way the CLI makes it.
async fn organiser(app: &TestApp, username: &str, role: &str) {
    longmarch::services::identity::organiser_accounts::create(&app.db, username, "password123", role)
        .await
        .expect("create organiser");
}

async fn log_in(b: &Browser, app: &TestApp, username: &str) {
    b.goto(&app.url("/console/")).await;
    b.fill("#login-form input[name=username]", username).await;
    b.fill("#login-form input[name=password]", "password123").await;
    b.click("#login-form button[type=submit]").await;
    b.find("#new-campaign").await;
}

fn csv_file(dir: &tempfile::TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write csv");
    path.display().to_string()
}

#[tokio::test]
async fn an_organiser_sets_up_a_campaign_watches_it_live_and_voids_a_flagged_day() {
    let app = spawn_app().await;
    organiser(&app, "secretary", "organiser").await;
    let Some(b) = Browser::launch().await else { return };
    log_in(&b, &app, "secretary").await;

    // The wizard: basics, dates, mode and route, then the planner.
    b.click("#new-campaign").await;
    b.fill("#w-title", "2026 春季重走长征路").await;
    b.fill("#w-slug", SLUG).await;
    b.click("#wizard-next").await;
    b.find("#w-starts_on").await;
    b.click("#wizard-next").await;
    b.find("#w-route").await;
    b.click("#wizard-next").await;
    let explained = b.wait_text("#plan-answer", "12,").await;
    assert!(explained.contains("公里"), "the planner explains itself: {explained}");
    b.screenshot("console-wizard-planner").await;
    b.click("#plan-apply").await;
    b.wait_text("#toast", "已设为每公里").await;
    b.click("#wizard-done").await;
    b.click("#activate").await;
    b.click("#confirm-ok").await;
    b.wait_text("#campaign-status", "进行中").await;
    let stored = app
        .get_auth(&format!("/api/v1/admin/campaigns/{SLUG}"), &organiser_token(&app).await)
        .await;
    let stored = body(stored).await;
    assert_eq!(stored["status"], "active");
    assert_eq!(stored["progress_mode"], "cohort_mean");

    // A cohort file with one bad line: named with its line number, nothing stored.
    let files = tempfile::tempdir().unwrap();
    let bad = csv_file(
        &files,
        "cohorts-bad.csv",
        "path,join_code\n计算机学院/软件2301,SW2301\n计算机学院/网络2302,NW2302\n商学院//电商2301,EC2301\n",
    );
    b.goto(&app.url(&format!("/console/#/c/{SLUG}/imports"))).await;
    b.find("#file-cohorts").await.send_keys(&bad).await;
    let shown = b.wait_text("#result-cohorts", "路径格式不对").await;
    assert!(shown.contains("1 行错误"), "{shown}");
    assert_eq!(
        b.text("#result-cohorts tr[data-line='4'] td").await,
        "4",
        "the bad line is named by its number"
    );
    b.screenshot("console-import-bad-line").await;
    let token = organiser_token(&app).await;
    let cohorts = body(
        app.get_auth(&format!("/api/v1/admin/campaigns/{SLUG}/cohorts"), &token)
            .await,
    )
    .await;
    assert_eq!(cohorts["total"], 0, "a previewed file stores nothing");

    let good = csv_file(
        &files,
        "cohorts.csv",
        "path,join_code\n计算机学院/软件2301,SW2301\n计算机学院/网络2302,NW2302\n商学院/电商2301,EC2301\n",
    );
    b.find("#file-cohorts").await.send_keys(&good).await;
    b.wait_text("#result-cohorts", "检查通过").await;
    b.click("#commit-cohorts").await;
    b.wait_text("#result-cohorts", "导入完成").await;
    let cohorts = body(
        app.get_auth(&format!("/api/v1/admin/campaigns/{SLUG}/cohorts"), &token)
            .await,
    )
    .await;
    assert_eq!(cohorts["total"], 5, "two schools and three classes");

    // Participants upload through the API; the open dashboard follows within 2 s.
    let li = participant(&app, SLUG, "o-li", "李雷", "SW2301").await;
    let han = participant(&app, SLUG, "o-han", "韩梅梅", "NW2302").await;
    b.goto(&app.url(&format!("/console/#/c/{SLUG}/dashboard"))).await;
    b.wait_text("#live", "实时").await;
    b.wait_tile("#tile-enrolled", "2").await;
    b.wait_tile("#tile-km", "0.0").await;

    upload(&app, SLUG, &li, 12_000).await;
    let uploaded = Instant::now();
    b.wait_for(
        "total km to change after an upload",
        "return document.querySelector('#tile-km .value')?.innerText !== '0.0' \
         && document.querySelector('#participant-board')?.innerText.includes('李雷')",
        json!([]),
        Duration::from_secs(2),
    )
    .await;
    let seen_after = uploaded.elapsed();
    assert!(seen_after <= Duration::from_secs(2), "shown after {seen_after:?}");
    b.wait_tile("#tile-active", "1").await;

    // A day over the review threshold (60,000) is flagged; voided from the queue, it leaves the boards.
    upload(&app, SLUG, &han, 70_000).await;
    b.wait_text("#participant-board", "韩梅梅").await;
    b.wait_text("#participant-board", "50,000").await;
    b.wait_tile("#tile-flagged", "1").await;
    b.screenshot("console-dashboard").await;
    b.assert_no_js_errors().await;

    b.goto(&app.url(&format!("/console/#/c/{SLUG}/review"))).await;
    b.wait_text("#flag-list", "韩梅梅").await;
    b.click("#flag-list a").await;
    b.wait_text("#participant-series", "70,000").await;
    b.click("#flag-list button[data-action=void]").await;
    b.fill("#confirm-reason", "步数异常，核实为手机摇步").await;
    b.screenshot("console-review").await;
    b.click("#confirm-ok").await;
    b.find("#review-empty").await;

    b.goto(&app.url(&format!("/console/#/c/{SLUG}/dashboard"))).await;
    b.wait_text("#participant-board", "韩梅梅").await;
    let board = b.text("#participant-board").await;
    assert!(!board.contains("50,000"), "the voided day left the board: {board}");
    let li_row = b
        .script(
            "return [...document.querySelectorAll('#participant-board tr')].find(r => r.innerText.includes('李雷'))?.cells[0].innerText;",
            json!([]),
        )
        .await;
    assert_eq!(li_row, "1", "李雷 leads again");

    // Searching the participant board.
    b.fill("#participant-search", "韩").await;
    b.wait_for(
        "the search to narrow the board",
        "const t = document.querySelector('#participant-board').innerText; return t.includes('韩梅梅') && !t.includes('李雷');",
        json!([]),
        Duration::from_secs(5),
    )
    .await;
    b.assert_no_js_errors().await;
}

/// A fresh token for the API-side checks of what the console did.
async fn organiser_token(app: &TestApp) -> String {
    let resp = app
        .post_json(
            "/api/v1/auth/organiser",
            &json!({ "username": "secretary", "password": "password123" }),
        )
        .await;
    body(resp).await["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn the_language_switch_is_remembered_and_a_refused_token_leads_back_to_the_login() {
    let app = spawn_app().await;
    organiser(&app, "admin1", "admin").await;
    let Some(b) = Browser::launch().await else { return };
    log_in(&b, &app, "admin1").await;
    assert_eq!(b.text("#new-campaign").await, "创建活动");
    b.click("#lang").await;
    b.wait_text("#new-campaign", "New campaign").await;
    b.goto(&app.url("/console/#/campaigns")).await;
    b.wait_text("#new-campaign", "New campaign").await;

    // The demo campaign is the admin's to see; its printable join codes list every class.
    b.goto(&app.url("/console/#/c/long-march-demo/codes")).await;
    let sheet = b.wait_text("#code-sheet", "DEMO04").await;
    assert!(sheet.contains("软件2301") && sheet.contains("DEMO01"), "{sheet}");
    let cards = b
        .script("return document.querySelectorAll('.code-card').length;", json!([]))
        .await;
    assert_eq!(cards, 4, "one card per class, none for the colleges");

    b.script(
        "sessionStorage.setItem('longmarch.console.token', 'not-a-token');",
        json!([]),
    )
    .await;
    b.goto(&app.url("/console/#/campaigns")).await;
    b.find("#login-form").await;
    b.assert_no_js_errors().await;
}
