use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::admin_support::{active_campaign, campaign_body, joined, progress, upload};
use crate::helpers::{assert_problem, json, organiser_token, spawn_app};
use crate::steps::snapshot;

#[tokio::test]
async fn admin_voiding_a_flagged_day_drops_progress_and_restoring_returns_it() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "rev", "cohort_total").await;
    let class = json(
        app.post_auth(
            "/api/v1/admin/campaigns/rev/cohorts",
            &alice,
            &json!({ "name": "班", "join_code": "CLASS1" }),
        )
        .await,
    )
    .await;
    let cheat = joined(&app, "rev", "cheat", Some("CLASS1"), Some("S-1")).await;
    let honest = joined(&app, "rev", "honest", Some("CLASS1"), None).await;
    assert_eq!(
        upload(&app, "rev", &cheat, &[(2, 90_000), (1, 4_000)]).await.status(),
        200
    );
    assert_eq!(upload(&app, "rev", &honest, &[(1, 6_000)]).await.status(), 200);
    // cap 50,000: 50,000 + 4,000 + 6,000 counted for the class at 1,000 steps/km.
    let before = progress(&app, "rev", &honest).await;
    assert_eq!(before["metres"], 60_000);

    let flags = json(app.get_auth("/api/v1/admin/campaigns/rev/flags", &alice).await).await;
    assert_eq!(flags["total"], 1);
    let flagged = &flags["items"][0];
    assert_eq!(flagged["steps"], 90_000);
    assert_eq!(flagged["display_name"], "P cheat");
    assert_eq!(flagged["student_no"], "S-1");
    let id = flagged["id"].as_i64().unwrap();

    let path = format!("/api/v1/admin/campaigns/rev/step-days/{id}/void");
    assert_problem(
        app.post_auth(&path, &alice, &json!({ "reason": " " })).await,
        422,
        "validation_failed",
    )
    .await;
    let resp = app
        .post_auth(&path, &alice, &json!({ "reason": "90k steps in a day" }))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["voided"], true);
    assert_eq!(progress(&app, "rev", &honest).await["metres"], 10_000);
    assert_eq!(progress(&app, "rev", &cheat).await["own"]["metres"], 4_000);
    let row = longmarch::models::cohorts::Entity::find_by_id(class["id"].as_i64().unwrap() as i32)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.total_counted, 10_000);
    // The incremental update equals a rebuild from the step days.
    let voided_state = snapshot(&app).await;
    longmarch::services::progress::recompute_campaign(&app.db, "rev")
        .await
        .unwrap();
    assert_eq!(voided_state, snapshot(&app).await);
    // Voided days leave the default flag list.
    assert_eq!(
        json(app.get_auth("/api/v1/admin/campaigns/rev/flags", &alice).await).await["total"],
        0
    );

    let resp = app
        .post_auth(
            &format!("/api/v1/admin/campaigns/rev/step-days/{id}/restore"),
            &alice,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(progress(&app, "rev", &honest).await["metres"], 60_000);
    let restored_state = snapshot(&app).await;
    longmarch::services::progress::recompute_campaign(&app.db, "rev")
        .await
        .unwrap();
    assert_eq!(restored_state, snapshot(&app).await);

    let resp = app
        .post_auth(
            "/api/v1/admin/campaigns/rev/step-days/999999/void",
            &alice,
            &json!({ "reason": "x" }),
        )
        .await;
    assert_problem(resp, 404, "step_day_not_found").await;
    let audit = json(app.get_auth("/api/v1/admin/campaigns/rev/audit", &alice).await).await;
    assert_eq!(audit["items"][0]["action"], "step_day.restore");
    assert_eq!(audit["items"][1]["action"], "step_day.void");
    assert_eq!(audit["items"][1]["summary"]["after"]["reason"], "90k steps in a day");
}

#[tokio::test]
async fn admin_suspended_participant_cannot_upload_and_reads_the_reason() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "sus", "individual").await;
    let p = joined(&app, "sus", "suspect", None, None).await;
    let me = json(app.get_auth("/api/v1/me", &p).await).await;
    let id = me["id"].as_i64().unwrap();

    let path = format!("/api/v1/admin/campaigns/sus/participants/{id}/suspend");
    let resp = app.post_auth(&path, &alice, &json!({ "reason": "shared phone" })).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["status"], "suspended");
    assert_problem(
        upload(&app, "sus", &p, &[(1, 5_000)]).await,
        403,
        "participant_suspended",
    )
    .await;
    let me = json(app.get_auth("/api/v1/me", &p).await).await;
    assert_eq!(me["enrollments"][0]["status"], "suspended");
    assert_eq!(me["enrollments"][0]["suspend_reason"], "shared phone");

    let resp = app
        .post_auth(
            &format!("/api/v1/admin/campaigns/sus/participants/{id}/reinstate"),
            &alice,
            &json!({}),
        )
        .await;
    assert_eq!(json(resp).await["status"], "active");
    assert_eq!(upload(&app, "sus", &p, &[(1, 5_000)]).await.status(), 200);
    let resp = app
        .post_auth(
            "/api/v1/admin/campaigns/sus/participants/424242/suspend",
            &alice,
            &json!({ "reason": "x" }),
        )
        .await;
    assert_problem(resp, 404, "participant_not_found").await;
}

/// A rebuild reads participants a page at a time: from the step days alone, with pages
/// smaller than the campaign and a participant without steps between pages, it stores what
/// the uploads stored one by one (own unlocks, totals, per-day series).
#[tokio::test]
async fn a_rebuild_in_small_pages_equals_the_uploads_stored_one_by_one() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    // 20 steps a kilometre: a few days walk past several stations.
    let mut body = campaign_body("pages", "individual");
    body["steps_per_km"] = json!(20);
    assert_eq!(
        app.post_auth("/api/v1/admin/campaigns", &alice, &body).await.status(),
        201
    );
    let resp = app
        .post_auth("/api/v1/admin/campaigns/pages/activate", &alice, &json!({}))
        .await;
    assert_eq!(resp.status(), 200);
    for i in 0..7_i64 {
        let p = joined(&app, "pages", &format!("walker{i}"), None, None).await;
        if i == 3 {
            continue;
        }
        let days = [(3, 20_000 + 3_000 * i), (2, 45_000), (1, 4_000 * i)];
        assert_eq!(upload(&app, "pages", &p, &days).await.status(), 200);
    }
    let stored = snapshot(&app).await;
    let unlocks = |v: &serde_json::Value| v["unlocks"].as_array().map_or(0, Vec::len);
    assert!(
        unlocks(&stored) > 20,
        "every walker unlocked stations: {}",
        unlocks(&stored)
    );

    let without_times = |mut v: serde_json::Value| {
        for row in v["unlocks"].as_array_mut().into_iter().flatten() {
            row.as_array_mut().map(Vec::pop);
        }
        v
    };
    let campaign = longmarch::services::campaigns::find_any(&app.db, "pages")
        .await
        .unwrap();
    for page in [1, 2, 3, 5, 100] {
        longmarch::models::unlocks::Entity::delete_many()
            .filter(longmarch::models::unlocks::Column::CampaignId.eq(campaign.id))
            .exec(&app.db)
            .await
            .unwrap();
        longmarch::services::progress::recompute_campaign_paged(&app.db, "pages", page)
            .await
            .unwrap();
        assert_eq!(
            without_times(stored.clone()),
            without_times(snapshot(&app).await),
            "pages of {page}"
        );
    }
    // A rebuild over stored unlocks keeps them, times included.
    let rebuilt = snapshot(&app).await;
    longmarch::services::progress::recompute_campaign_paged(&app.db, "pages", 2)
        .await
        .unwrap();
    assert_eq!(rebuilt, snapshot(&app).await);
}
