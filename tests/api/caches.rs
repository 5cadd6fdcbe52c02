//! The in-memory campaign contexts and boards, with the production settings' lifetimes
//! (the test profile turns both off): an organiser's change is seen at once, and a board
//! is never further behind an upload than `cache.board_max_staleness_ms`.

use std::time::Duration;

use longmarch::services::boards::cache::BoardCache;
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
async fn an_organiser_changing_steps_per_km_is_seen_by_the_next_upload_despite_the_cache() {
    let app = spawn_app_with(|s| s.cache.campaign_ttl_ms = 60_000).await;
    let token = member(&app, "o_spk", "DEMO01").await;
    upload(&app, DEMO, &token, &[(today().to_string(), 5_000)]).await;
    let admin = organiser_token(&app, "root", "admin").await;
    let campaign = json(app.get_auth(&format!("/api/v1/admin/campaigns/{DEMO}"), &admin).await).await;
    let spk = if campaign["steps_per_km"] == 2_000 {
        2_500
    } else {
        2_000
    };
    let resp = app
        .patch_auth(
            &format!("/api/v1/admin/campaigns/{DEMO}?recompute=true"),
            &admin,
            &json!({ "steps_per_km": spk }),
        )
        .await;
    assert!(resp.status().is_success(), "{}", json(resp).await);

    let body = upload(&app, DEMO, &token, &[(today().to_string(), 6_000)]).await;
    assert_eq!(body["progress"]["own"]["metres"], 6_000 * 1_000 / spk, "{body}");
}

#[tokio::test]
async fn an_organiser_retitling_a_station_is_seen_by_the_next_milestones_read_despite_the_cache() {
    let app = spawn_app_with(|s| s.cache.campaign_ttl_ms = 60_000).await;
    let token = member(&app, "o_title", "DEMO01").await;
    let milestones = format!("/api/v1/campaigns/{DEMO}/me/milestones");
    let before = json(app.get_auth(&milestones, &token).await).await;
    assert_ne!(before["items"][0]["title"], "瑞金出发", "{before}");
    let admin = organiser_token(&app, "root", "admin").await;
    let campaign = json(app.get_auth(&format!("/api/v1/admin/campaigns/{DEMO}"), &admin).await).await;
    let route = campaign["route_id"].as_i64().expect("route_id");
    let resp = app
        .patch_auth(
            &format!("/api/v1/admin/routes/{route}/stations/1"),
            &admin,
            &json!({ "title": "瑞金出发" }),
        )
        .await;
    assert!(resp.status().is_success(), "{}", json(resp).await);

    let after = json(app.get_auth(&milestones, &token).await).await;
    assert_eq!(after["items"][0]["title"], "瑞金出发", "{after}");
}

/// Two members of the demo campaign with 9,000 and 4,000 steps, on a board kept within
/// `bound_ms` (settings adjusted further by `adjust`): the app, the board's path and the
/// members' tokens.
async fn two_on_a_board(
    bound_ms: u64,
    adjust: impl FnOnce(&mut longmarch::settings::Settings),
) -> (crate::helpers::TestApp, String, String, String) {
    let app = spawn_app_with(|s| {
        s.cache.board_max_staleness_ms = bound_ms;
        s.cache.campaign_ttl_ms = 60_000;
        adjust(s);
    })
    .await;
    let first = member(&app, "o_first", "DEMO01").await;
    let second = member(&app, "o_second", "DEMO02").await;
    upload(&app, DEMO, &first, &[(today().to_string(), 9_000)]).await;
    upload(&app, DEMO, &second, &[(today().to_string(), 4_000)]).await;
    let board = format!("/api/v1/campaigns/{DEMO}/leaderboards/participants");
    (app, board, first, second)
}

/// The counted steps of a board page, top first.
fn counted(page: &serde_json::Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["counted_steps"].as_i64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_board_shows_an_upload_once_its_staleness_bound_has_passed() {
    const BOUND_MS: u64 = 300;
    let (app, board, first, second) = two_on_a_board(BOUND_MS, |_| {}).await;
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

/// A board request within the staleness bound is answered from the snapshot it finds, and
/// does not wait for the refresh that its age starts: here that refresh cannot even get a
/// connection (the pool is held), so a request that waited for it would answer 503.
#[tokio::test]
async fn a_board_within_its_bound_answers_without_waiting_for_its_refresh() {
    use sea_orm::TransactionTrait;

    const BOUND_MS: u64 = 6_000;
    // On PostgreSQL the live-events listener holds one connection of the pool for good.
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let (app, board, first, second) = two_on_a_board(BOUND_MS, |s| {
        s.database.max_connections = Some(if postgres { 2 } else { 1 });
        s.database.min_connections = 1;
        s.database.acquire_timeout_ms = 2_000;
    })
    .await;
    let caught_up = |want: [i64; 2]| {
        let (app, board, first) = (&app, &board, &first);
        async move {
            let mut latest = serde_json::Value::Null;
            for _ in 0..100 {
                latest = json(app.get_auth(board, first).await).await;
                if counted(&latest) == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the board never showed {want:?}: {latest}");
        }
    };
    // A snapshot with both uploads, just taken.
    caught_up([9_000, 4_000]).await;
    upload(&app, DEMO, &second, &[(today().to_string(), 20_000)]).await;
    // Past a quarter of the bound, the next request starts a refresh; well within the bound.
    tokio::time::sleep(Duration::from_millis(BOUND_MS / 4 + 200)).await;
    let held = app.db.begin().await.expect("hold the pool's free connection");
    let resp = app.get_auth(&board, &first).await;
    assert_eq!(resp.status(), 200, "the request waited for the refresh");
    let page = json(resp).await;
    assert_eq!(counted(&page), [9_000, 4_000], "the snapshot within the bound: {page}");
    held.rollback().await.expect("release");
    // The refresh goes on once it has a connection, and the board catches up.
    caught_up([20_000, 9_000]).await;
}

/// The board's build reads in pages of 5,000 rows: a board of 5,500 with many ties must
/// still rank everyone exactly once, in the database's order, whether a page is answered
/// from the database (while the board is built) or from the built board.
#[tokio::test]
async fn a_board_read_in_several_pages_ranks_everyone_once_in_database_order() {
    use longmarch::{
        models::{campaigns, enrollments, participants},
        services::boards::scope::{Period, Scope},
    };
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

    const N: usize = 5_500;
    let app = spawn_app_with(|s| s.cache.board_max_staleness_ms = 1_000).await;
    let campaign = campaigns::Model::find_by_slug(&app.db, DEMO)
        .await
        .expect("q")
        .expect("demo");
    let now = chrono::Utc::now();
    for start in (0..N).step_by(1_000) {
        let end = (start + 1_000).min(N);
        participants::Entity::insert_many((start..end).map(|i| participants::ActiveModel {
            openid: Set(format!("paged-{i}")),
            display_name: Set(format!("p{i}")),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(now),
            ..Default::default()
        }))
        .exec(&app.db)
        .await
        .expect("participants");
        // In id order: the newest chunk is the last `fresh` ids (PostgreSQL's heap order
        // is not insertion order once rows move).
        let ids: Vec<i32> = participants::Entity::find()
            .filter(participants::Column::Openid.starts_with("paged-"))
            .order_by_asc(participants::Column::Id)
            .all(&app.db)
            .await
            .expect("q")
            .into_iter()
            .map(|p| p.id)
            .filter(|id| *id > 0)
            .collect();
        let fresh = ids.len() - start;
        let rows = ids[ids.len() - fresh..].iter().enumerate().map(|(k, pid)| {
            let mut e = enrollments::new_active(campaign.id, *pid, None, now);
            // Few distinct totals: long runs of ties cross the page boundaries.
            e.total_counted = Set(i64::try_from((start + k) % 7).expect("small") * 1_000);
            e
        });
        enrollments::Entity::insert_many(rows)
            .exec(&app.db)
            .await
            .expect("enrollments");
    }
    let first = member(&app, "o_paged", "DEMO01").await;
    // The board was built at start-up, before the bulk insert: once past its staleness bound,
    // the next read waits for the refresh that brings every inserted row in.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let scope = Scope {
        campaign_id: campaign.id,
        period: Period::Total,
        cohorts: None,
    };
    let board = format!("/api/v1/campaigns/{DEMO}/leaderboards/participants");
    let mut seen = std::collections::HashSet::new();
    for offset in (0..=N as u64).step_by(100) {
        let page = json(
            app.get_auth(&format!("{board}?limit=100&offset={offset}"), &first)
                .await,
        )
        .await;
        assert_eq!(page["total"], N as u64 + 1, "{offset}");
        let expected = scope.page(&app.db, 100, offset).await.expect("database page");
        let items = page["items"].as_array().expect("items");
        assert_eq!(items.len(), expected.len(), "{offset}");
        for (item, (rank, row)) in items.iter().zip(&expected) {
            assert_eq!(item["rank"], *rank, "{offset}");
            assert_eq!(item["display_name"], row.display_name.as_str(), "{offset}");
            assert!(seen.insert(row.enrollment_id), "ranked twice: {}", row.enrollment_id);
        }
    }
    assert_eq!(seen.len(), N + 1);

    // The built board itself, page by page against the database.
    let boards = BoardCache::new(Duration::from_secs(60), tokio::runtime::Handle::current());
    let built = built_board(&boards, &app.db, campaign.id).await;
    assert_eq!(built.len(), N as u64 + 1);
    for offset in (0..=N as u64).step_by(100) {
        let expected = scope.page(&app.db, 100, offset).await.expect("database page");
        let ids = |rows: &[(u64, longmarch::services::boards::scope::BoardRow)]| {
            rows.iter()
                .map(|(rank, r)| (*rank, r.enrollment_id))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&built.page(100, offset)), ids(&expected), "{offset}");
    }
}

/// The campaign's board once its build in the background is done (the first ask starts it).
async fn built_board(
    boards: &BoardCache,
    db: &sea_orm::DatabaseConnection,
    campaign_id: i32,
) -> std::sync::Arc<longmarch::services::boards::cache::Snapshot> {
    for _ in 0..200 {
        if let Some(board) = boards.snapshot(db, campaign_id).await.expect("board") {
            return board;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the board was never built");
}

/// A board nobody has asked for yet is not waited for: the first ask answers `None` at once
/// (the caller reads the database) and starts the build in the background, whose snapshot
/// the next asks get.
#[tokio::test]
async fn a_board_not_yet_built_is_not_waited_for_and_builds_in_the_background() {
    use longmarch::models::campaigns;

    let (app, _, _, _) = two_on_a_board(0, |_| {}).await;
    let campaign = campaigns::Model::find_by_slug(&app.db, DEMO)
        .await
        .expect("q")
        .expect("demo");
    let boards = BoardCache::new(Duration::ZERO, tokio::runtime::Handle::current());
    assert!(
        boards.snapshot(&app.db, campaign.id).await.expect("board").is_none(),
        "the first ask waited for the build"
    );
    let built = built_board(&boards, &app.db, campaign.id).await;
    let top: Vec<i64> = built.page(2, 0).into_iter().map(|(_, r)| r.score).collect();
    assert_eq!(top, [9_000, 4_000]);
}

/// A participant's row on the board after a refresh (the cache is read-your-writes).
async fn refreshed_row(
    boards: &BoardCache,
    db: &sea_orm::DatabaseConnection,
    campaign_id: i32,
    participant_id: i32,
) -> longmarch::services::boards::scope::BoardRow {
    let board = boards.snapshot(db, campaign_id).await.expect("board").expect("built");
    board.participant(participant_id).expect("ranked")
}

/// What a board shows besides the figures (names, cohorts) changes with them: renaming a
/// participant or a cohort stamps the enrollments concerned, and the next refresh of a
/// built board shows the new names.
#[tokio::test]
async fn a_built_board_shows_renamed_participants_and_cohorts_after_its_refresh() {
    use longmarch::models::campaigns;

    let (app, _, first, _) = two_on_a_board(0, |_| {}).await;
    let campaign = campaigns::Model::find_by_slug(&app.db, DEMO)
        .await
        .expect("q")
        .expect("demo");
    // Read-your-writes: each ask refreshes the built board.
    let boards = BoardCache::new(Duration::ZERO, tokio::runtime::Handle::current());
    let before = built_board(&boards, &app.db, campaign.id).await;
    let top = before.page(1, 0);
    let (participant_id, cohort_path) = (top[0].1.participant_id, top[0].1.cohort_path.clone());

    let resp = app
        .patch_auth("/api/v1/me", &first, &json!({"display_name": "改了名字"}))
        .await;
    assert!(resp.status().is_success(), "{}", json(resp).await);
    let row = refreshed_row(&boards, &app.db, campaign.id, participant_id).await;
    assert_eq!(row.display_name, "改了名字");

    let admin = organiser_token(&app, "root", "admin").await;
    let cohorts = json(
        app.get_auth(&format!("/api/v1/admin/campaigns/{DEMO}/cohorts"), &admin)
            .await,
    )
    .await;
    let cohort = cohorts["items"]
        .as_array()
        .expect("cohorts")
        .iter()
        .find(|c| c["path"].as_str() == cohort_path.as_deref())
        .expect("the member's cohort")
        .clone();
    let resp = app
        .patch_auth(
            &format!("/api/v1/admin/campaigns/{DEMO}/cohorts/{}", cohort["id"]),
            &admin,
            &json!({"name": "新名字班"}),
        )
        .await;
    assert!(resp.status().is_success(), "{}", json(resp).await);
    let row = refreshed_row(&boards, &app.db, campaign.id, participant_id).await;
    assert_eq!(row.cohort_name.as_deref(), Some("新名字班"), "{row:?}");
    assert!(
        row.cohort_path.as_deref().is_some_and(|p| p.ends_with("新名字班")),
        "{row:?}"
    );
}

/// Many concurrent writers with a short SQLite busy timeout: writers of one process queue
/// for their turn instead of meeting SQLite's busy handler, so none is refused. (Without the
/// queue, 48 uploads at once with a 20 ms busy timeout answer 503 `busy`.) On PostgreSQL the
/// same load runs on row locks.
#[tokio::test]
async fn concurrent_uploads_queue_for_the_writer_instead_of_failing_busy() {
    let app = spawn_app_with(|s| s.database.sqlite_busy_timeout_ms = 20).await;
    let mut tokens = Vec::new();
    for i in 0..48 {
        tokens.push(
            member(
                &app,
                &format!("o_queue{i}"),
                ["DEMO01", "DEMO02", "DEMO03", "DEMO04"][i % 4],
            )
            .await,
        );
    }
    let path = format!("/api/v1/campaigns/{DEMO}/steps");
    let answers = futures_util::future::join_all(tokens.iter().enumerate().map(|(i, token)| {
        let body = json!({"days": [
            {"date": (today() - chrono::Duration::days(2)).to_string(), "steps": 3_000 + i},
            {"date": (today() - chrono::Duration::days(1)).to_string(), "steps": 4_000 + i},
            {"date": today().to_string(), "steps": 5_000 + i},
        ]});
        let (app, path) = (&app, &path);
        async move { app.post_auth(path, token, &body).await.status().as_u16() }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
}
