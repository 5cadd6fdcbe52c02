//! What the organisers' console needs of the API: dry-run imports, a participant's recent
//! days for review, and the participant board's search.

use serde_json::json;

use crate::admin_support::{active_campaign, joined, post_csv, progress, upload};
use crate::helpers::{assert_problem, json, organiser_token, spawn_app, today};

#[tokio::test]
async fn a_dry_run_cohort_import_lists_every_bad_line_and_stores_nothing() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "dry", "cohort_mean").await;
    let path = "/api/v1/admin/campaigns/dry/cohorts/import?dry_run=true";

    let bad = "path,join_code\nA/a1,AA1\nA//a2,AA2\nB/b1,x\n";
    let problem = assert_problem(post_csv(&app, path, &alice, bad).await, 422, "csv_invalid").await;
    let lines: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        lines,
        vec![(3, "invalid_path".to_owned()), (4, "invalid_join_code".to_owned())]
    );

    let good = "path,join_code\nA/a1,AA1\nA/a2,AA2\n";
    let report = json(post_csv(&app, path, &alice, good).await).await;
    assert_eq!(report["lines"], 2);
    assert_eq!(report["created"], 3, "the school and its two classes would be created");
    let cohorts = json(app.get_auth("/api/v1/admin/campaigns/dry/cohorts", &alice).await).await;
    assert_eq!(cohorts["total"], 0, "a dry run stores nothing");
    let audit = json(app.get_auth("/api/v1/admin/campaigns/dry/audit", &alice).await).await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "cohort.import"),
        "nor does it leave an audit entry: {audit}"
    );

    let real = json(post_csv(&app, "/api/v1/admin/campaigns/dry/cohorts/import", &alice, good).await).await;
    assert_eq!(real["created"], 3, "the real import does what the dry run announced");
}

#[tokio::test]
async fn a_dry_run_roster_and_step_import_judge_lines_as_the_import_would_but_store_nothing() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "dry", "individual").await;
    post_csv(
        &app,
        "/api/v1/admin/campaigns/dry/cohorts/import",
        &alice,
        "path,join_code\nA/a1,AA1\n",
    )
    .await;
    let roster = "/api/v1/admin/campaigns/dry/roster/import?dry_run=true";
    let problem = assert_problem(
        post_csv(
            &app,
            roster,
            &alice,
            "student_no,display_name,cohort_path\n1,Li,A/a1\n2,Han,A\n",
        )
        .await,
        422,
        "csv_invalid",
    )
    .await;
    assert_eq!(problem["errors"][0]["line"], 3);
    assert_eq!(problem["errors"][0]["code"], "cohort_not_leaf");
    let report = json(post_csv(&app, roster, &alice, "student_no,display_name,cohort_path\n1,Li,A/a1\n").await).await;
    assert_eq!(report["created"], 1);
    let again = json(post_csv(&app, roster, &alice, "student_no,display_name,cohort_path\n1,Li,A/a1\n").await).await;
    assert_eq!(again["created"], 1, "the first dry run stored nothing");

    let pa = joined(&app, "dry", "pa", None, Some("2023001")).await;
    let steps = "/api/v1/admin/campaigns/dry/steps/import?dry_run=true";
    let csv = format!(
        "student_no,date,steps\n2023001,{},8000\n2023001,{},9000\n",
        today(),
        today() + chrono::Duration::days(3)
    );
    let report = json(post_csv(&app, steps, &alice, csv).await).await;
    assert_eq!(report["accepted"], 1);
    assert_eq!(report["rejected_count"], 1);
    assert_eq!(report["rejected"][0]["line"], 3);
    assert_eq!(report["participants"], 1);
    assert_eq!(progress(&app, "dry", &pa).await["metres"], 0, "no step was stored");
    let bad = format!("student_no,date,steps\n9999,{},8000\n", today());
    let problem = assert_problem(post_csv(&app, steps, &alice, bad).await, 422, "csv_invalid").await;
    assert_eq!(problem["errors"][0]["code"], "unknown_student");
}

#[tokio::test]
async fn an_organiser_reads_a_participants_standing_and_recent_days_for_review() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let bob = organiser_token(&app, "bob", "organiser").await;
    active_campaign(&app, &alice, "rev", "individual").await;
    let pa = joined(&app, "rev", "pa", None, Some("2023001")).await;
    assert_eq!(
        upload(&app, "rev", &pa, &[(2, 6000), (1, 70_000), (0, 5000)])
            .await
            .status(),
        200
    );
    let flags = json(app.get_auth("/api/v1/admin/campaigns/rev/flags", &alice).await).await;
    let id = flags["items"][0]["participant_id"].as_i64().unwrap();
    let path = format!("/api/v1/admin/campaigns/rev/participants/{id}/days");

    let view = json(app.get_auth(&path, &alice).await).await;
    assert_eq!(view["status"], "active");
    assert_eq!(view["student_no"], "2023001");
    let steps: Vec<i64> = view["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["steps"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, vec![5000, 70_000, 6000], "newest first");
    assert_eq!(view["days"][1]["flagged"], true);

    let resp = app
        .post_auth(
            &format!("/api/v1/admin/campaigns/rev/participants/{id}/suspend"),
            &alice,
            &json!({ "reason": "shaking the phone" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let view = json(app.get_auth(&path, &alice).await).await;
    assert_eq!(view["status"], "suspended");
    assert_eq!(view["suspend_reason"], "shaking the phone");

    assert_problem(app.get_auth(&path, &bob).await, 404, "campaign_not_found").await;
    assert_problem(
        app.get_auth("/api/v1/admin/campaigns/rev/participants/999999/days", &alice)
            .await,
        404,
        "participant_not_found",
    )
    .await;
}

#[tokio::test]
async fn the_participant_board_finds_people_by_name_or_student_number_with_their_ranks() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    active_campaign(&app, &alice, "find", "individual").await;
    let pa = joined(&app, "find", "pa", None, Some("2023001")).await;
    let pb = joined(&app, "find", "pb", None, Some("2024002")).await;
    upload(&app, "find", &pa, &[(0, 9000)]).await;
    upload(&app, "find", &pb, &[(0, 3000)]).await;
    let board = "/api/v1/campaigns/find/leaderboards/participants";

    let by_no = json(app.get_auth(&format!("{board}?q=2024"), &alice).await).await;
    assert_eq!(by_no["total"], 1);
    assert_eq!(by_no["items"][0]["display_name"], "P pb");
    assert_eq!(by_no["items"][0]["rank"], 2, "a hit keeps its rank on the whole board");

    let by_name = json(app.get_auth(&format!("{board}?q=p%20P"), &alice).await).await;
    assert_eq!(by_name["total"], 2, "names match in any case");
    let none = json(app.get_auth(&format!("{board}?q=nobody"), &alice).await).await;
    assert_eq!(none["total"], 0);
    assert_eq!(none["items"], json!([]));

    let as_participant = json(app.get_auth(&format!("{board}?q=2024"), &pa).await).await;
    assert_eq!(as_participant["total"], 0, "participants can't probe student numbers");
}
