//! The in-memory campaign contexts and boards, with the production settings' lifetimes
//! (the test profile turns both off): an organiser's change is seen at once, and a board
//! is never further behind an upload than `cache.board_max_staleness_ms`.

use std::time::Duration;

use serde_json::json;

use crate::{
    helpers::{DEMO, assert_problem, json, organiser_token, spawn_app_with, today},
    steps::{member, upload},
};

#[tokio::test]
async fn an_organiser_closing_a_campaign_is_seen_by_the_next_upload_despite_the_cache() {
    let app = spawn_app_with(|s| s.cache.campaign_ttl_ms = 60_000).await;
    let token = member(&app, "o_cached", "DEMO01").await;
    upload(&app, DEMO, &token, &[(today().to_string(), 5_000)]).await;
    let admin = organiser_token(&app, "root", "admin").await;
    let resp = app
        .post_auth(&format!("/api/v1/admin/campaigns/{DEMO}/close"), &admin, &json!({}))
        .await;
    assert!(resp.status().is_success(), "{}", json(resp).await);
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps"),
            &token,
            &json!({"days": [{"date": today().to_string(), "steps": 6_000}]}),
        )
        .await;
    assert_problem(resp, 409, "campaign_closed").await;
}

#[tokio::test]
async fn a_board_shows_an_upload_once_its_staleness_bound_has_passed() {
    const BOUND_MS: u64 = 300;
    let app = spawn_app_with(|s| {
        s.cache.board_max_staleness_ms = BOUND_MS;
        s.cache.campaign_ttl_ms = 60_000;
    })
    .await;
    let first = member(&app, "o_fast", "DEMO01").await;
    let second = member(&app, "o_late", "DEMO02").await;
    upload(&app, DEMO, &first, &[(today().to_string(), 9_000)]).await;
    upload(&app, DEMO, &second, &[(today().to_string(), 4_000)]).await;
    let board = format!("/api/v1/campaigns/{DEMO}/leaderboards/participants");
    let counted = |v: &serde_json::Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|i| i["counted_steps"].as_i64()).collect())
            .unwrap_or_default()
    };
    // Read the board now, so the next read has a snapshot it could serve if it were lax.
    let _ = json(app.get_auth(&board, &first).await).await;
    upload(&app, DEMO, &second, &[(today().to_string(), 20_000)]).await;
    tokio::time::sleep(Duration::from_millis(BOUND_MS + 50)).await;
    let page = json(app.get_auth(&board, &first).await).await;
    assert_eq!(counted(&page), [20_000, 9_000], "{page}");
    assert_eq!(page["total"], 2);
    let mine = json(app.get_auth(&format!("{board}/me"), &second).await).await;
    assert_eq!(mine["rank"], 1, "{mine}");
    assert_eq!(mine["me"]["counted_steps"], 20_000, "{mine}");
    assert_eq!(mine["below"][0]["counted_steps"], 9_000, "{mine}");
}
