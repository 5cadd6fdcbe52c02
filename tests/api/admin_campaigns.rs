use chrono::Duration;
use serde_json::json;

use crate::admin_support::{active_campaign, campaign_body, create_campaign, delete, joined, progress, put, upload};
use crate::helpers::{assert_problem, json, organiser_token, spawn_app, today};

#[tokio::test]
async fn admin_organiser_creates_a_draft_campaign_that_they_own() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let body = create_campaign(&app, &alice, "spring-walk", "individual").await;
    assert_eq!(body["status"], "draft");
    assert_eq!(body["owner"], "alice");
    assert_eq!(body["route"], "long-march");
    assert_eq!(body["timezone"], "Asia/Shanghai");
    assert_eq!(body["daily_step_cap"], 50_000);
    assert_eq!(body["flag_steps_over"], 60_000);
    assert_eq!(body["sync_grace_days"], 3);
    // Drafts stay out of the public API.
    assert_problem(
        app.get("/api/v1/campaigns/spring-walk").await,
        404,
        "campaign_not_found",
    )
    .await;
}

#[tokio::test]
async fn admin_mass_assignment_of_status_owner_or_id_is_rejected() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    for (field, value) in [
        ("status", json!("active")),
        ("owner", json!("bob")),
        ("owner_id", json!(99)),
        ("id", json!(1)),
    ] {
        let mut body = campaign_body("sneaky", "individual");
        body[field] = value;
        let resp = app.post_auth("/api/v1/admin/campaigns", &alice, &body).await;
        let problem = assert_problem(resp, 422, "invalid_body").await;
        assert!(problem["detail"].as_str().unwrap().contains(field), "{problem}");
    }
    assert!(
        longmarch::models::campaigns::Model::find_by_slug(&app.db, "sneaky")
            .await
            .unwrap()
            .is_none()
    );
    let created = create_campaign(&app, &alice, "honest", "individual").await;
    let resp = app
        .patch_auth("/api/v1/admin/campaigns/honest", &alice, &json!({ "status": "closed" }))
        .await;
    assert_problem(resp, 422, "invalid_body").await;
    let row = longmarch::models::campaigns::Model::find_by_slug(&app.db, "honest")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status.as_str(), "draft");
    assert_eq!(created["status"], "draft");
}

#[tokio::test]
async fn admin_campaign_validation_names_each_field() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let cases = [
        ("slug", json!("Bad Slug!")),
        ("timezone", json!("Mars/Olympus")),
        ("ends_on", json!((today() - Duration::days(30)).to_string())),
        ("starts_on", json!("2025-13-01")),
        ("steps_per_km", json!(0)),
        ("daily_step_cap", json!(0)),
        ("flag_steps_over", json!(-1)),
        ("progress_mode", json!("relay")),
        ("step_sources", json!(["werun", "carrier-pigeon"])),
        ("route", json!("no-such-route")),
        ("title", json!("  ")),
    ];
    for (field, value) in cases {
        let mut body = campaign_body("checked", "individual");
        body[field] = value;
        let resp = app.post_auth("/api/v1/admin/campaigns", &alice, &body).await;
        let problem = assert_problem(resp, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    create_campaign(&app, &alice, "taken", "individual").await;
    let resp = app
        .post_auth("/api/v1/admin/campaigns", &alice, &campaign_body("taken", "individual"))
        .await;
    assert_problem(resp, 409, "slug_taken").await;
}

#[tokio::test]
async fn admin_lifecycle_locks_progress_fields_and_close_freezes_uploads() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    create_campaign(&app, &alice, "walk", "individual").await;
    // Draft: anything may change.
    let resp = app
        .patch_auth(
            "/api/v1/admin/campaigns/walk",
            &alice,
            &json!({ "steps_per_km": 2000, "title": "Walk" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["steps_per_km"], 2000);
    let resp = app
        .post_auth("/api/v1/admin/campaigns/walk/close", &alice, &json!({}))
        .await;
    assert_problem(resp, 409, "invalid_transition").await;
    let resp = app
        .post_auth("/api/v1/admin/campaigns/walk/activate", &alice, &json!({}))
        .await;
    assert_eq!(json(resp).await["status"], "active");
    let resp = app
        .post_auth("/api/v1/admin/campaigns/walk/activate", &alice, &json!({}))
        .await;
    assert_problem(resp, 409, "invalid_transition").await;

    let p = joined(&app, "walk", "walker-1", None, None).await;
    assert_eq!(upload(&app, "walk", &p, &[(1, 10_000)]).await.status(), 200);
    assert_eq!(progress(&app, "walk", &p).await["metres"], 5_000);

    // Active: progress fields need an explicit recompute.
    let resp = app
        .patch_auth("/api/v1/admin/campaigns/walk", &alice, &json!({ "steps_per_km": 1000 }))
        .await;
    assert_problem(resp, 409, "campaign_locked").await;
    assert_eq!(progress(&app, "walk", &p).await["metres"], 5_000);
    let resp = app
        .patch_auth(
            "/api/v1/admin/campaigns/walk?recompute=true",
            &alice,
            &json!({ "steps_per_km": 1000 }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(progress(&app, "walk", &p).await["metres"], 10_000);
    // A lower cap is re-applied to stored days.
    let resp = app
        .patch_auth(
            "/api/v1/admin/campaigns/walk?recompute=true",
            &alice,
            &json!({ "daily_step_cap": 8000 }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(progress(&app, "walk", &p).await["metres"], 8_000);
    // Texts change freely.
    let resp = app
        .patch_auth("/api/v1/admin/campaigns/walk", &alice, &json!({ "description": "Go!" }))
        .await;
    assert_eq!(resp.status(), 200);

    let resp = app
        .post_auth("/api/v1/admin/campaigns/walk/close", &alice, &json!({}))
        .await;
    assert_eq!(json(resp).await["status"], "closed");
    assert_problem(upload(&app, "walk", &p, &[(1, 20_000)]).await, 409, "campaign_closed").await;
    let resp = app
        .patch_auth(
            "/api/v1/admin/campaigns/walk?recompute=true",
            &alice,
            &json!({ "steps_per_km": 10 }),
        )
        .await;
    assert_problem(resp, 409, "campaign_closed").await;
}

#[tokio::test]
async fn admin_organiser_cannot_see_or_change_another_organisers_campaign() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let bob = organiser_token(&app, "bob", "organiser").await;
    let root = organiser_token(&app, "root", "admin").await;
    active_campaign(&app, &alice, "alices", "individual").await;
    let p = joined(&app, "alices", "pa", None, None).await;
    upload(&app, "alices", &p, &[(1, 70_000)]).await;

    let list = json(app.get_auth("/api/v1/admin/campaigns", &bob).await).await;
    assert_eq!(list["total"], 0);
    for path in [
        "/api/v1/admin/campaigns/alices",
        "/api/v1/admin/campaigns/alices/cohorts",
        "/api/v1/admin/campaigns/alices/flags",
        "/api/v1/admin/campaigns/alices/audit",
        "/api/v1/admin/campaigns/alices/plan",
    ] {
        assert_problem(app.get_auth(path, &bob).await, 404, "campaign_not_found").await;
    }
    for (path, body) in [
        ("/api/v1/admin/campaigns/alices/close", json!({})),
        (
            "/api/v1/admin/campaigns/alices/step-days/1/void",
            json!({ "reason": "x" }),
        ),
        ("/api/v1/admin/campaigns/alices/step-days/1/restore", json!({})),
        (
            "/api/v1/admin/campaigns/alices/participants/1/suspend",
            json!({ "reason": "x" }),
        ),
        ("/api/v1/admin/campaigns/alices/cohorts", json!({ "name": "x" })),
    ] {
        let resp = app.post_auth(path, &bob, &body).await;
        assert_problem(resp, 404, "campaign_not_found").await;
    }
    let resp = app
        .patch_auth("/api/v1/admin/campaigns/alices", &bob, &json!({ "title": "Mine" }))
        .await;
    assert_problem(resp, 404, "campaign_not_found").await;
    let resp = crate::admin_support::post_csv(
        &app,
        "/api/v1/admin/campaigns/alices/steps/import",
        &bob,
        "student_no,date,steps\n",
    )
    .await;
    assert_problem(resp, 404, "campaign_not_found").await;
    // Unknown and foreign slugs answer alike.
    assert_problem(
        app.get_auth("/api/v1/admin/campaigns/nope", &bob).await,
        404,
        "campaign_not_found",
    )
    .await;
    // Participants are not organisers.
    assert_problem(app.get_auth("/api/v1/admin/campaigns", &p).await, 403, "organiser_only").await;

    // Only an admin grants; then bob sees it, until revoked.
    assert_problem(
        put(&app, "/api/v1/admin/campaigns/alices/grants/bob", &alice).await,
        403,
        "admin_only",
    )
    .await;
    assert_problem(
        put(&app, "/api/v1/admin/campaigns/alices/grants/ghost", &root).await,
        404,
        "organiser_not_found",
    )
    .await;
    assert_eq!(
        put(&app, "/api/v1/admin/campaigns/alices/grants/bob", &root)
            .await
            .status(),
        200
    );
    assert_eq!(
        put(&app, "/api/v1/admin/campaigns/alices/grants/bob", &root)
            .await
            .status(),
        200
    );
    assert_eq!(app.get_auth("/api/v1/admin/campaigns/alices", &bob).await.status(), 200);
    assert_eq!(
        json(app.get_auth("/api/v1/admin/campaigns", &bob).await).await["total"],
        1
    );
    assert_eq!(
        delete(&app, "/api/v1/admin/campaigns/alices/grants/bob", &root)
            .await
            .status(),
        200
    );
    assert_problem(
        app.get_auth("/api/v1/admin/campaigns/alices", &bob).await,
        404,
        "campaign_not_found",
    )
    .await;
    // The admin sees everything.
    let all = json(app.get_auth("/api/v1/admin/campaigns", &root).await).await;
    assert_eq!(all["total"], 2, "alice's campaign and the demo campaign");
}

#[tokio::test]
async fn grants_and_status_changes_are_audited_once_per_change() {
    let app = spawn_app().await;
    let root = organiser_token(&app, "root", "admin").await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    organiser_token(&app, "bob", "organiser").await;
    create_campaign(&app, &alice, "shared", "individual").await;
    let grant = "/api/v1/admin/campaigns/shared/grants/bob";
    // Granting or withdrawing twice changes, and records, only once.
    for _ in 0..2 {
        let view = json(put(&app, grant, &root).await).await;
        assert_eq!(view["granted"], true, "{view}");
    }
    for _ in 0..2 {
        let view = json(delete(&app, grant, &root).await).await;
        assert_eq!(view["granted"], false, "{view}");
    }
    for step in ["activate", "close"] {
        let resp = app
            .post_auth(&format!("/api/v1/admin/campaigns/shared/{step}"), &alice, &json!({}))
            .await;
        assert_eq!(resp.status(), 200, "{step}");
    }
    let page = json(
        app.get_auth("/api/v1/admin/campaigns/shared/audit?limit=10", &root)
            .await,
    )
    .await;
    let actions: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "campaign.close",
            "campaign.activate",
            "grant.remove",
            "grant.add",
            "campaign.create"
        ]
    );
}

#[tokio::test]
async fn admin_audit_log_lists_changes_newest_first() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    create_campaign(&app, &alice, "audited", "individual").await;
    app.patch_auth(
        "/api/v1/admin/campaigns/audited",
        &alice,
        &json!({ "steps_per_km": 1500 }),
    )
    .await;
    app.post_auth("/api/v1/admin/campaigns/audited/activate", &alice, &json!({}))
        .await;
    let page = json(
        app.get_auth("/api/v1/admin/campaigns/audited/audit?limit=2", &alice)
            .await,
    )
    .await;
    assert_eq!(page["total"], 3);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "campaign.activate");
    assert_eq!(items[0]["actor"], "alice");
    assert_eq!(items[0]["summary"]["after"]["status"], "active");
    assert_eq!(items[1]["action"], "campaign.update");
    assert_eq!(items[1]["summary"]["before"]["steps_per_km"], 1000);
    assert_eq!(items[1]["summary"]["after"]["steps_per_km"], 1500);
    let rest = json(
        app.get_auth("/api/v1/admin/campaigns/audited/audit?offset=2", &alice)
            .await,
    )
    .await;
    assert_eq!(rest["items"][0]["action"], "campaign.create");
}

#[tokio::test]
async fn admin_planner_suggests_steps_per_km_for_the_mode() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    create_campaign(&app, &alice, "plan-i", "individual").await;
    create_campaign(&app, &alice, "plan-t", "cohort_total").await;
    let plan = json(
        app.get_auth("/api/v1/admin/campaigns/plan-i/plan?daily_steps=10000&days=23", &alice)
            .await,
    )
    .await;
    assert_eq!(plan["suggested_steps_per_km"], 18);
    assert!(plan["finish_in_days"].as_i64().unwrap() <= 23);
    assert_eq!(plan["route_metres"], 12_500_000);
    let plan = json(
        app.get_auth(
            "/api/v1/admin/campaigns/plan-t/plan?participants=40&daily_steps=10000&days=23",
            &alice,
        )
        .await,
    )
    .await;
    assert_eq!(plan["suggested_steps_per_km"], 736);
    let resp = app
        .get_auth("/api/v1/admin/campaigns/plan-i/plan?daily_steps=0", &alice)
        .await;
    assert_problem(resp, 422, "validation_failed").await;
    let resp = app
        .get_auth("/api/v1/admin/campaigns/plan-i/plan?daily_steps=1&days=1", &alice)
        .await;
    assert_problem(resp, 422, "validation_failed").await;
    let resp = app
        .get_auth("/api/v1/admin/campaigns/plan-i/plan?days=abc", &alice)
        .await;
    assert_problem(resp, 400, "invalid_query").await;
}

#[tokio::test]
async fn admin_endpoints_are_documented_in_the_openapi_spec() {
    let app = spawn_app().await;
    let spec = json(app.get("/api-docs/openapi.json").await).await;
    for path in [
        "/admin/campaigns",
        "/admin/campaigns/{slug}/plan",
        "/admin/campaigns/{slug}/grants/{username}",
        "/admin/campaigns/{slug}/steps/import",
        "/admin/campaigns/{slug}/step-days/{id}/void",
        "/admin/routes/{id}/stations/{seq}",
    ] {
        assert!(
            spec["paths"][format!("/api/v1{path}")].is_object(),
            "/api/v1{path} missing from the spec"
        );
    }
}
