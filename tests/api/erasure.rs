//! A participant erases their personal data (`DELETE /me`), or an organiser does it for them:
//! nothing shows their name, student number or openid afterwards, their steps still count
//! for their class, their old token is refused, and they can sign up afresh.

use longmarch::models::{participants, roster_entries};
use reqwest::{Client, Method, Response};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    helpers::{DEMO, TestApp, assert_problem, json, organiser_token, spawn_app, spawn_app_on},
    shutdown::{send_signal, serve_logged},
    steps::{day, snapshot},
};

const NAME: &str = "王小明抹除";
const STUDENT_NO: &str = "SN-ERASE-42";
const OPENID: &str = "o_erase_me_7f3k9q";

/// Requests to one server (the in-process app or a `longmarch serve` child).
struct Api<'a> {
    base: &'a str,
    client: &'a Client,
}

impl Api<'_> {
    async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    async fn text(&self, path: &str, token: &str) -> String {
        let resp = self.send(Method::GET, path, Some(token), None).await;
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.text().await.expect("body")
    }

    async fn login(&self, openid: &str) -> Value {
        let resp = self
            .send(
                Method::POST,
                "/api/v1/auth/dev",
                None,
                Some(json!({ "openid": openid })),
            )
            .await;
        assert_eq!(resp.status(), 200);
        json(resp).await
    }

    async fn join(&self, token: &str, body: Value) {
        let resp = self
            .send(
                Method::POST,
                &format!("/api/v1/campaigns/{DEMO}/join"),
                Some(token),
                Some(body),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    }

    async fn upload(&self, token: &str, days: &[(i64, i64)]) {
        let days: Vec<Value> = days
            .iter()
            .map(|(d, s)| json!({ "date": day(*d), "steps": s }))
            .collect();
        let resp = self
            .send(
                Method::POST,
                &format!("/api/v1/campaigns/{DEMO}/steps"),
                Some(token),
                Some(json!({ "days": days })),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }

    /// The demo campaign's audit log, as an organiser reads it.
    async fn audit(&self, admin: &str) -> Value {
        let path = format!("/api/v1/admin/campaigns/{DEMO}/audit");
        json(self.send(Method::GET, &path, Some(admin), None).await).await
    }

    /// Every answer that could show a participant: boards, exports, stats, audit, profiles.
    async fn everything_shown(&self, admin: &str, classmate: &str) -> Vec<(String, String)> {
        let c = format!("/api/v1/campaigns/{DEMO}");
        let a = format!("/api/v1/admin/campaigns/{DEMO}");
        let mut shown = Vec::new();
        for (path, token) in [
            (format!("{c}/leaderboards/participants"), classmate),
            (
                format!("{c}/leaderboards/participants?period=day&date={}", day(-1)),
                classmate,
            ),
            (format!("{c}/leaderboards/participants/me"), classmate),
            (format!("{c}/leaderboards/cohorts"), classmate),
            ("/api/v1/me".to_owned(), classmate),
            (format!("{c}/leaderboards/participants"), admin),
            (format!("{a}/export/participants.csv"), admin),
            (format!("{a}/export/steps.csv"), admin),
            (format!("{a}/export/cohorts.csv"), admin),
            (format!("{a}/stats"), admin),
            (format!("{a}/audit"), admin),
            (format!("{a}/flags"), admin),
        ] {
            let text = self.text(&path, token).await;
            shown.push((path, text));
        }
        shown
    }
}

fn assert_nothing_identifies(shown: &[(String, String)]) {
    for (path, text) in shown {
        for secret in [NAME, STUDENT_NO, OPENID] {
            assert!(!text.contains(secret), "{path} still shows `{secret}`: {text}");
        }
    }
}

/// Alice (rostered, named, numbered) and her classmate Bob upload; Alice erases herself
/// through `api`; everything is checked. Answers Alice's old id.
async fn erase_and_check(app: &TestApp, api: &Api<'_>) -> i32 {
    let admin = organiser_token(app, "erase-admin", "admin").await;
    let roster = format!("student_no,display_name,cohort_path\n{STUDENT_NO},{NAME},计算机学院/软件2301\n");
    let resp = api
        .client
        .post(format!("{}/api/v1/admin/campaigns/{DEMO}/roster/import", api.base))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(roster)
        .send()
        .await
        .expect("roster");
    assert_eq!(resp.status(), 200);
    let login = api.login(OPENID).await;
    let alice = login["token"].as_str().expect("token").to_owned();
    let alice_id = i32::try_from(login["participant"]["id"].as_i64().expect("id")).expect("id");
    // No join code: her student number places her through the roster.
    api.join(&alice, json!({ "display_name": NAME, "student_no": STUDENT_NO }))
        .await;
    let bob = api.login("o_erase_classmate").await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    api.join(&bob, json!({ "join_code": "DEMO01", "display_name": "同班同学" }))
        .await;
    api.upload(&alice, &[(-2, 12_000), (-1, 15_000), (0, 9_000)]).await;
    api.upload(&bob, &[(-1, 8_000)]).await;
    let before_shown = api.everything_shown(&admin, &bob).await;
    let all: String = before_shown.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        all.contains(NAME) && all.contains(STUDENT_NO),
        "the checks can see her at first"
    );

    let before = snapshot(app).await;
    let resp = api.send(Method::DELETE, "/api/v1/me", Some(&alice), None).await;
    assert_eq!(resp.status(), 204);

    assert_eq!(snapshot(app).await, before, "steps, totals and unlocks are unchanged");
    longmarch::services::progress::recompute_campaign(&app.db, DEMO)
        .await
        .expect("recompute");
    assert_eq!(snapshot(app).await, before, "and they equal their rebuild");

    for (method, path, body) in [
        (Method::GET, "/api/v1/me".to_owned(), None),
        (
            Method::POST,
            format!("/api/v1/campaigns/{DEMO}/steps"),
            Some(json!({ "days": [{ "date": day(0), "steps": 20_000 }] })),
        ),
        (Method::GET, format!("/api/v1/campaigns/{DEMO}/me/progress"), None),
        (Method::DELETE, "/api/v1/me".to_owned(), None),
    ] {
        let resp = api.send(method, &path, Some(&alice), body).await;
        assert_problem(resp, 401, "token_revoked").await;
    }

    let shown = api.everything_shown(&admin, &bob).await;
    assert_nothing_identifies(&shown);
    assert!(
        shown[0].1.contains("已注销"),
        "the board keeps her row, anonymous: {}",
        shown[0].1
    );

    let row = participants::Entity::find_by_id(alice_id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("the row stays");
    assert!(
        row.openid.starts_with("erased:") && row.openid.len() > 30,
        "{}",
        row.openid
    );
    assert_eq!(row.display_name, "已注销");
    assert_eq!((row.student_no, row.session_key, row.unionid), (None, None, None));
    assert!(row.erased_at.is_some());
    let rostered = roster_entries::Entity::find()
        .filter(roster_entries::Column::StudentNo.eq(STUDENT_NO))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(rostered, 0, "her roster entry went too");

    // The same WeChat user signs up afresh, from zero.
    let again = api.login(OPENID).await;
    assert_eq!(again["new"], true);
    assert_ne!(again["participant"]["id"], alice_id);
    assert_ne!(again["participant"]["display_name"], NAME);
    let token = again["token"].as_str().expect("token");
    api.join(token, json!({ "join_code": "DEMO02" })).await;
    let progress = json(
        api.send(
            Method::GET,
            &format!("/api/v1/campaigns/{DEMO}/me/progress"),
            Some(token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(progress["counted_steps"], 0, "{progress}");
    assert_eq!(progress["days_active"], 0);
    alice_id
}

#[tokio::test]
async fn an_erased_participant_disappears_from_every_view_while_their_steps_keep_counting() {
    let app = spawn_app().await;
    let api = Api {
        base: &app.address,
        client: &app.client,
    };
    erase_and_check(&app, &api).await;
}

#[tokio::test]
async fn no_log_line_carries_the_erased_participants_name_student_number_or_openid() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    // The flow goes through a `longmarch serve` of its own, logging our crate at trace.
    let (mut guard, base, client) = serve_logged(
        &app.database_url(),
        &log_path,
        &[("LONGMARCH__LOG__LEVEL", "longmarch=trace,tracing_actix_web=trace,info")],
    )
    .await;
    let api = Api {
        base: &base,
        client: &client,
    };
    let old_id = erase_and_check(&app, &api).await;
    send_signal(guard.child(), "TERM");
    drop(guard.0.take().expect("child").wait());
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.contains("DELETE") && log.contains("/api/v1/me"),
        "the erasure was logged: {log}"
    );
    assert!(
        log.contains(&format!("\"participant\":{old_id}")),
        "the erasure is logged by id: {log}"
    );
    for line in log.lines() {
        for secret in [NAME, STUDENT_NO, OPENID] {
            assert!(!line.contains(secret), "`{secret}` reached the log: {line}");
        }
    }
}

#[tokio::test]
async fn an_organiser_erases_a_participant_of_their_campaign_audited_without_the_erased_data() {
    let app = spawn_app().await;
    let admin = organiser_token(&app, "erase-root", "admin").await;
    let api = Api {
        base: &app.address,
        client: &app.client,
    };
    let login = api.login(OPENID).await;
    let alice = login["token"].as_str().expect("token").to_owned();
    let id = login["participant"]["id"].as_i64().expect("id");
    api.join(
        &alice,
        json!({ "join_code": "DEMO03", "display_name": NAME, "student_no": STUDENT_NO }),
    )
    .await;
    api.upload(&alice, &[(-1, 30_000)]).await;
    let before = snapshot(&app).await;
    let erase = format!("/api/v1/admin/campaigns/{DEMO}/participants/{id}/erase");

    let resp = api.send(Method::POST, &erase, Some(&admin), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(snapshot(&app).await, before);
    let resp = api.send(Method::GET, "/api/v1/me", Some(&alice), None).await;
    assert_problem(resp, 401, "token_revoked").await;

    let audit = api.audit(&admin).await;
    assert_eq!(audit["items"][0]["action"], "participant.erase");
    assert_eq!(audit["items"][0]["target"], format!("participant:{id}"));
    let text = audit.to_string();
    for secret in [NAME, STUDENT_NO, OPENID] {
        assert!(!text.contains(secret), "the audit shows `{secret}`: {text}");
    }
    // Again: nothing more to erase, nothing more audited.
    let resp = api.send(Method::POST, &erase, Some(&admin), None).await;
    assert_eq!(resp.status(), 204);
    let again = api.audit(&admin).await;
    assert_eq!(again["total"], audit["total"]);
    let resp = api
        .send(
            Method::POST,
            &format!("/api/v1/admin/campaigns/{DEMO}/participants/999999/erase"),
            Some(&admin),
            None,
        )
        .await;
    assert_problem(resp, 404, "participant_not_found").await;
}

#[tokio::test]
async fn another_instance_refuses_an_erased_participants_token_within_seconds() {
    let app = spawn_app().await;
    let other = spawn_app_on(&app.database_url()).await;
    let login = json(
        app.post_json("/api/v1/auth/dev", &json!({ "openid": "o_erase_elsewhere" }))
            .await,
    )
    .await;
    let token = login["token"].as_str().expect("token").to_owned();
    assert_eq!(other.get_auth("/api/v1/me", &token).await.status(), 200);
    let resp = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("erase");
    assert_eq!(resp.status(), 204);
    let started = std::time::Instant::now();
    loop {
        let status = other.get_auth("/api/v1/me", &token).await.status();
        if status == 401 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the other instance still answers {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
