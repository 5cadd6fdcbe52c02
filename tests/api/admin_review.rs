use sea_orm::EntityTrait;
use serde_json::json;

use crate::admin_support::{active_campaign, joined, progress, upload};
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
