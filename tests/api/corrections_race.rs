//! Organiser corrections racing uploads of the same participants: void and restore, suspend
//! and reinstate, CSV step imports. Every writer of a participant's days takes the same
//! lock order, so nothing deadlocks into a 5xx and the totals end equal to a rebuild.

use chrono::Duration;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::{
    admin_support::{active_campaign, joined, post_csv, upload},
    helpers::{TestApp, json, organiser_token, spawn_app, today},
    steps::snapshot,
};

const SLUG: &str = "race";
const MEMBERS: usize = 12;

struct Race {
    app: TestApp,
    organiser: String,
    /// Participants' tokens; participant `i` has student number `S{i}`.
    members: Vec<String>,
}

/// A cohort-total campaign of two classes, 12 members, each with a flagged day two days ago.
async fn race() -> Race {
    let app = spawn_app().await;
    let organiser = organiser_token(&app, "olga", "organiser").await;
    active_campaign(&app, &organiser, SLUG, "cohort_total").await;
    for code in ["RACE01", "RACE02"] {
        let resp = app
            .post_auth(
                &format!("/api/v1/admin/campaigns/{SLUG}/cohorts"),
                &organiser,
                &json!({ "name": format!("班{code}"), "join_code": code }),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let code = if i % 2 == 0 { "RACE01" } else { "RACE02" };
        let token = joined(&app, SLUG, &format!("o_race{i}"), Some(code), Some(&format!("S{i}"))).await;
        let resp = upload(&app, SLUG, &token, &[(2, 70_000), (1, 4_000)]).await;
        assert_eq!(resp.status(), 200);
        members.push(token);
    }
    Race {
        app,
        organiser,
        members,
    }
}

/// Each member uploads `rounds` times, counts growing, days two ago to today; every answer
/// is 200 or one of `allowed` (never a 5xx).
async fn uploads(r: &Race, rounds: i64, allowed: &[u16]) {
    join_all(r.members.iter().map(|token| async move {
        for k in 0..rounds {
            let resp = upload(
                &r.app,
                SLUG,
                token,
                &[(2, 70_000 + k * 100), (1, 4_000 + k * 700), (0, 1_000 * k)],
            )
            .await;
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            assert!(status == 200 || allowed.contains(&status), "upload → {status}: {body}");
        }
    }))
    .await;
}

async fn post_ok(app: &TestApp, path: String, token: &str, body: Value) {
    let resp = app.post_auth(&path, token, &body).await;
    let status = resp.status().as_u16();
    assert_eq!(
        status,
        200,
        "{path} → {status}: {}",
        resp.text().await.unwrap_or_default()
    );
}

/// Rebuilding the campaign from its step days changes nothing.
async fn assert_totals_equal_recompute(app: &TestApp) {
    let stored = snapshot(app).await;
    longmarch::services::progress::recompute_campaign(&app.db, SLUG)
        .await
        .expect("recompute");
    assert_eq!(stored, snapshot(app).await, "stored totals equal a rebuild");
}

#[tokio::test]
async fn voiding_and_restoring_days_while_their_owners_upload_keeps_totals_exact() {
    let r = race().await;
    let flags = json(
        r.app
            .get_auth(&format!("/api/v1/admin/campaigns/{SLUG}/flags?limit=100"), &r.organiser)
            .await,
    )
    .await;
    let ids: Vec<i64> = flags["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), MEMBERS);
    let corrections = async {
        for _ in 0..6 {
            join_all(ids.iter().map(|id| {
                post_ok(
                    &r.app,
                    format!("/api/v1/admin/campaigns/{SLUG}/step-days/{id}/void"),
                    &r.organiser,
                    json!({ "reason": "too many steps" }),
                )
            }))
            .await;
            join_all(ids.iter().map(|id| {
                post_ok(
                    &r.app,
                    format!("/api/v1/admin/campaigns/{SLUG}/step-days/{id}/restore"),
                    &r.organiser,
                    json!({}),
                )
            }))
            .await;
        }
    };
    tokio::join!(corrections, uploads(&r, 8, &[]));
    assert_totals_equal_recompute(&r.app).await;
    // The flagged days were restored last and hold the largest count uploaded.
    let flags = json(
        r.app
            .get_auth(&format!("/api/v1/admin/campaigns/{SLUG}/flags?limit=100"), &r.organiser)
            .await,
    )
    .await;
    assert_eq!(flags["total"], MEMBERS);
    for d in flags["items"].as_array().expect("items") {
        assert_eq!(d["steps"], 70_700, "{d}");
        assert_eq!(d["voided"], false);
    }
}

#[tokio::test]
async fn suspending_and_reinstating_members_while_they_upload_keeps_totals_exact() {
    let r = race().await;
    let ids: Vec<i64> = {
        use sea_orm::EntityTrait;
        longmarch::models::enrollments::Entity::find()
            .all(&r.app.db)
            .await
            .expect("enrollments")
            .into_iter()
            .map(|e| i64::from(e.participant_id))
            .collect()
    };
    let corrections = async {
        for _ in 0..6 {
            for action in ["suspend", "reinstate"] {
                join_all(ids.iter().map(|id| {
                    post_ok(
                        &r.app,
                        format!("/api/v1/admin/campaigns/{SLUG}/participants/{id}/{action}"),
                        &r.organiser,
                        json!({ "reason": "checking the steps" }),
                    )
                }))
                .await;
            }
        }
    };
    // A suspended member's upload is refused with 403 `participant_suspended`.
    tokio::join!(corrections, uploads(&r, 8, &[403]));
    assert_totals_equal_recompute(&r.app).await;
}

#[tokio::test]
async fn csv_step_imports_while_the_same_members_upload_keep_totals_exact() {
    let r = race().await;
    let imports = async {
        for k in 0..6_i64 {
            let mut csv = String::from("student_no,date,steps\n");
            for i in 0..MEMBERS {
                for ago in 0..3 {
                    let day = today() - Duration::days(ago);
                    csv.push_str(&format!("S{i},{day},{}\n", 3_000 + k * 900 + ago * 10));
                }
            }
            let resp = post_csv(
                &r.app,
                &format!("/api/v1/admin/campaigns/{SLUG}/steps/import"),
                &r.organiser,
                csv,
            )
            .await;
            let status = resp.status().as_u16();
            assert_eq!(
                status,
                200,
                "import → {status}: {}",
                resp.text().await.unwrap_or_default()
            );
        }
    };
    tokio::join!(imports, uploads(&r, 8, &[]));
    assert_totals_equal_recompute(&r.app).await;
}
