use serde_json::json;

use crate::admin_support::{active_campaign, delete, joined, post_csv};
use crate::helpers::{assert_problem, dev_login, json, organiser_token, spawn_app};

#[tokio::test]
async fn admin_cohort_tree_has_unique_codes_and_deletes_only_when_empty() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "tree", "cohort_total").await;
    let base = "/api/v1/admin/campaigns/tree/cohorts";
    let college = json(app.post_auth(base, &alice, &json!({ "name": "计算机学院" })).await).await;
    let code = college["join_code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    assert!(code.chars().all(|c| !"01OIL".contains(c)), "no look-alikes in {code}");
    let resp = app
        .post_auth(
            base,
            &alice,
            &json!({ "name": "软件2301", "parent_id": college["id"], "join_code": "sw2301" }),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let class = json(resp).await;
    assert_eq!(class["path"], "计算机学院/软件2301");
    assert_eq!(class["join_code"], "SW2301");
    let resp = app
        .post_auth(
            base,
            &alice,
            &json!({ "name": "网络2302", "parent_id": college["id"], "join_code": "SW2301" }),
        )
        .await;
    assert_problem(resp, 409, "join_code_taken").await;
    let resp = app.post_auth(base, &alice, &json!({ "name": "a/b" })).await;
    assert_problem(resp, 422, "validation_failed").await;

    // Rename: the subtree's paths follow.
    let resp = app
        .patch_auth(
            &format!("{base}/{}", college["id"]),
            &alice,
            &json!({ "name": "信息学院" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let list = json(app.get_auth(base, &alice).await).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][1]["path"], "信息学院/软件2301");

    assert_problem(
        delete(&app, &format!("{base}/{}", college["id"]), &alice).await,
        409,
        "cohort_not_empty",
    )
    .await;
    joined(&app, "tree", "member-1", Some("SW2301"), None).await;
    assert_problem(
        delete(&app, &format!("{base}/{}", class["id"]), &alice).await,
        409,
        "cohort_not_empty",
    )
    .await;
    let empty = json(app.post_auth(base, &alice, &json!({ "name": "空班" })).await).await;
    assert_eq!(
        delete(&app, &format!("{base}/{}", empty["id"]), &alice).await.status(),
        204
    );
    assert_problem(
        delete(&app, &format!("{base}/{}", empty["id"]), &alice).await,
        404,
        "cohort_not_found",
    )
    .await;
}

#[tokio::test]
async fn admin_cohort_csv_import_is_idempotent_and_creates_parents() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "imp", "cohort_mean").await;
    let path = "/api/v1/admin/campaigns/imp/cohorts/import";
    let csv = "\u{feff}path,join_code\r\n计算机学院/软件2301,CS2301\r\n计算机学院/网络2302,\r\n\r\n商学院/电商2301,BIZ2301\r\n";
    let report = json(post_csv(&app, path, &alice, csv).await).await;
    assert_eq!(report["lines"], 3);
    assert_eq!(report["created"], 5);
    let again = json(post_csv(&app, path, &alice, csv).await).await;
    assert_eq!(again["created"], 0);
    assert_eq!(again["unchanged"], 3);
    let list = json(app.get_auth("/api/v1/admin/campaigns/imp/cohorts", &alice).await).await;
    assert_eq!(list["total"], 5);
    // A participant joins with an imported code.
    joined(&app, "imp", "p1", Some("cs2301"), None).await;

    // A bad file changes nothing.
    let bad = "path,join_code\n新学院/新班,NEW1\n新学院/旧班,CS2301\n//,\n";
    let problem = assert_problem(post_csv(&app, path, &alice, bad).await, 422, "csv_invalid").await;
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors[0]["line"], 3);
    assert_eq!(errors[0]["code"], "join_code_taken");
    assert_eq!(errors[1]["line"], 4);
    assert_eq!(errors[1]["code"], "invalid_path");
    let list = json(app.get_auth("/api/v1/admin/campaigns/imp/cohorts", &alice).await).await;
    assert_eq!(list["total"], 5);

    let resp = post_csv(&app, path, &alice, "name,code\nx,y\n").await;
    assert_problem(resp, 422, "csv_header").await;
    assert_problem(post_csv(&app, path, &alice, "").await, 422, "csv_empty").await;
    let resp = post_csv(&app, path, &alice, "path,join_code\na,b,c\n").await;
    let problem = assert_problem(resp, 422, "csv_invalid").await;
    assert_eq!(problem["errors"][0]["code"], "wrong_columns");
}

#[tokio::test]
async fn admin_roster_import_places_joiners_and_reports_unknown_cohorts() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "ros", "cohort_total").await;
    post_csv(
        &app,
        "/api/v1/admin/campaigns/ros/cohorts/import",
        &alice,
        "path,join_code\n计算机学院/软件2301,CS2301\n",
    )
    .await;
    let path = "/api/v1/admin/campaigns/ros/roster/import";
    let bad = "student_no,display_name,cohort_path\n2023001,张三,计算机学院/软件2301\n2023002,李四,外语学院/英语2301\n2023003,王五,计算机学院\n";
    let problem = assert_problem(post_csv(&app, path, &alice, bad).await, 422, "csv_invalid").await;
    assert_eq!(problem["errors"][0]["line"], 3);
    assert_eq!(problem["errors"][0]["code"], "unknown_cohort");
    assert_eq!(problem["errors"][1]["line"], 4);
    assert_eq!(problem["errors"][1]["code"], "cohort_not_leaf");

    let good = "student_no,display_name,cohort_path\r\n2023001,张三,计算机学院/软件2301\r\n";
    let report = json(post_csv(&app, path, &alice, good).await).await;
    assert_eq!(report["created"], 1);
    let report = json(post_csv(&app, path, &alice, good).await).await;
    assert_eq!(report["unchanged"], 1);

    // Joining with the rostered student number and no code lands in the class.
    let token = dev_login(&app, "rostered").await;
    let resp = app
        .post_auth(
            "/api/v1/campaigns/ros/join",
            &token,
            &json!({ "student_no": "2023001" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["cohort"]["path"], "计算机学院/软件2301");
}
