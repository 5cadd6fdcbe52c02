//! The WeChat platform (issue 22) against the local mock: one shared access token, the
//! display-name content check, class join posters, certificates, evening reminders, unionid.

use std::sync::atomic::Ordering;

use chrono::{Duration, NaiveTime, TimeZone, Utc};
use longmarch::{
    services::wechat::{WechatApi, content, reminders},
    settings::{ContentCheckPolicy, Settings},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    admin_support::{campaign_body, joined, upload},
    helpers::{
        DEMO, TestApp, assert_problem, dev_login, json, organiser_token, spawn_app_on_with, spawn_app_with, today,
    },
    wechat_mock::{self, PNG, WechatMock},
};

fn point_at(mock: &WechatMock) -> impl Fn(&mut Settings) + Clone {
    let base = mock.base.clone();
    move |s: &mut Settings| {
        s.wechat.api_base = base.clone();
        s.wechat.appid = wechat_mock::APPID.to_owned();
    }
}

async fn app_with_mock() -> (TestApp, WechatMock) {
    let mock = wechat_mock::start().await;
    let app = spawn_app_with(point_at(&mock)).await;
    (app, mock)
}

fn api(app: &TestApp) -> WechatApi {
    WechatApi::new(&app.settings.wechat, app.db.clone()).expect("wechat api")
}

async fn rename(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    app.patch_auth("/api/v1/me", token, &json!({ "display_name": name }))
        .await
}

async fn participant(app: &TestApp, openid: &str) -> longmarch::models::participants::Model {
    longmarch::models::participants::Entity::find()
        .filter(longmarch::models::participants::Column::Openid.eq(openid))
        .one(&app.db)
        .await
        .expect("query")
        .expect("participant")
}

async fn stored_token(app: &TestApp) -> String {
    longmarch::models::wechat_tokens::Entity::find()
        .one(&app.db)
        .await
        .expect("query")
        .expect("token row")
        .value
}

// ---- one access token ----

#[tokio::test]
async fn two_instances_on_one_database_fetch_the_access_token_once() {
    let (first, mock) = app_with_mock().await;
    let second = spawn_app_on_with(&first.database_url(), point_at(&mock)).await;
    // A slow token answer keeps both instances waiting for it at the same time.
    mock.platform.token_delay_ms.store(300, Ordering::SeqCst);
    let mut tokens = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &first } else { &second };
        tokens.push(dev_login(app, &format!("o_pair_{i}")).await);
    }
    let renames = tokens.iter().enumerate().map(|(i, t)| {
        let app = if i % 2 == 0 { &first } else { &second };
        rename(app, t, "同学")
    });
    for resp in futures_util::future::join_all(renames).await {
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        mock.platform.token_calls(),
        1,
        "one stable_token call for both instances"
    );
    assert_eq!(mock.platform.checks().len(), 8);
    let issued = mock.platform.tokens.lock().unwrap().clone();
    assert_eq!(stored_token(&first).await, issued[0]);
    assert!(!participant(&first, "o_pair_0").await.name_check_pending);
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_refreshed_once_and_the_call_succeeds() {
    let (app, mock) = app_with_mock().await;
    let token = dev_login(&app, "o_expiry").await;
    assert_eq!(rename(&app, &token, "小明").await.status(), 200);
    assert_eq!(mock.platform.token_calls(), 1);
    mock.platform.expire_next_call.store(true, Ordering::SeqCst);
    let resp = rename(&app, &token, "小红").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["display_name"], "小红");
    assert_eq!(mock.platform.token_calls(), 2, "exactly one refresh");
    // The refused call never reached the check; its retry with the new token did.
    assert_eq!(mock.platform.checks().len(), 2);
    let issued = mock.platform.tokens.lock().unwrap().clone();
    assert_eq!(issued.len(), 2);
    assert_eq!(stored_token(&app).await, issued[1]);
    assert!(!participant(&app, "o_expiry").await.name_check_pending);
}

// ---- content check ----

#[tokio::test]
async fn display_names_go_through_msg_sec_check_version_2_and_risky_ones_are_refused() {
    let (app, mock) = app_with_mock().await;
    let token = dev_login(&app, "o_names").await;
    assert_eq!(rename(&app, &token, "长征小将").await.status(), 200);
    let check = mock.platform.checks()[0].clone();
    assert_eq!(
        check,
        json!({"version": 2, "openid": "o_names", "scene": 1, "content": "长征小将"})
    );
    // `review` is WeChat being unsure: accepted.
    assert_eq!(rename(&app, &token, "review me").await.status(), 200);

    let body = assert_problem(rename(&app, &token, "坏人").await, 422, "display_name_rejected").await;
    assert!(body["detail"].as_str().unwrap().contains("content check"));
    assert_eq!(participant(&app, "o_names").await.display_name, "review me");

    let body = json!({ "join_code": "DEMO01", "display_name": "坏蛋" });
    let resp = app
        .post_auth(&format!("/api/v1/campaigns/{DEMO}/join"), &token, &body)
        .await;
    assert_problem(resp, 422, "display_name_rejected").await;
    let me = json(app.get_auth("/api/v1/me", &token).await).await;
    assert_eq!(me["enrollments"].as_array().unwrap().len(), 0, "not enrolled");
    assert_eq!(me["display_name"], "review me");

    // An unchanged name is not checked again.
    let before = mock.platform.checks().len();
    assert_eq!(rename(&app, &token, "review me").await.status(), 200);
    assert_eq!(mock.platform.checks().len(), before);
}

#[tokio::test]
async fn while_the_check_is_unavailable_names_are_accepted_and_checked_again_later() {
    let (app, mock) = app_with_mock().await;
    let token = dev_login(&app, "o_later").await;
    mock.platform.set_check_errcode(Some(-1));
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/join"),
            &token,
            &json!({ "join_code": "DEMO01", "display_name": "坏名字" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let p = participant(&app, "o_later").await;
    assert_eq!(p.display_name, "坏名字");
    assert!(p.name_check_pending);

    // Still unavailable: the mark stays.
    assert_eq!(content::recheck_pending(&app.db, &api(&app)).await.unwrap(), 0);
    assert!(participant(&app, "o_later").await.name_check_pending);

    mock.platform.set_check_errcode(None);
    assert_eq!(content::recheck_pending(&app.db, &api(&app)).await.unwrap(), 1);
    let p = participant(&app, "o_later").await;
    assert!(!p.name_check_pending);
    assert_eq!(p.display_name, "长征队员ater", "a risky name falls back to the default");
}

#[tokio::test]
async fn the_refuse_policy_answers_503_when_wechat_times_out() {
    let mock = wechat_mock::start().await;
    let adjust = point_at(&mock);
    let app = spawn_app_with(move |s| {
        adjust(s);
        s.wechat.content_check_unavailable = ContentCheckPolicy::Refuse;
        s.wechat.timeout_ms = 300;
    })
    .await;
    let token = dev_login(&app, "o_refuse").await;
    assert_eq!(rename(&app, &token, "先热身").await.status(), 200);
    mock.platform.set_delay(1500);
    let resp = rename(&app, &token, "超时了").await;
    assert_eq!(
        resp.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("30")
    );
    assert_problem(resp, 503, "content_check_unavailable").await;
    assert_eq!(participant(&app, "o_refuse").await.display_name, "先热身");
    mock.platform.set_delay(0);
    mock.platform.set_check_errcode(Some(40003));
    assert_problem(rename(&app, &token, "错误码").await, 503, "content_check_unavailable").await;
}

#[tokio::test]
async fn without_an_appid_the_content_check_is_off() {
    let mock = wechat_mock::start().await;
    let adjust = point_at(&mock);
    let app = spawn_app_with(move |s| {
        adjust(s);
        s.wechat.appid = String::new();
    })
    .await;
    let token = dev_login(&app, "o_off").await;
    assert_eq!(rename(&app, &token, "坏人").await.status(), 200);
    assert!(mock.platform.checks().is_empty());
    assert_eq!(mock.platform.token_calls(), 0);
    assert!(!participant(&app, "o_off").await.name_check_pending);
}

// ---- posters ----

async fn cohort_id(app: &TestApp, code: &str) -> i32 {
    longmarch::models::cohorts::Entity::find()
        .filter(longmarch::models::cohorts::Column::JoinCode.eq(code))
        .one(&app.db)
        .await
        .expect("query")
        .expect("cohort")
        .id
}

fn poster_path(cohort: i32) -> String {
    format!("/api/v1/admin/campaigns/{DEMO}/cohorts/{cohort}/qrcode.png")
}

#[tokio::test]
async fn a_class_poster_is_drawn_once_and_then_served_unchanged() {
    let (app, mock) = app_with_mock().await;
    let admin = organiser_token(&app, "root", "admin").await;
    let class = cohort_id(&app, "DEMO01").await;
    let resp = app.get_auth(&poster_path(class), &admin).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG.as_slice());
    assert_eq!(
        mock.platform.qrcodes(),
        vec![json!({
            "scene": "DEMO01", "page": "pages/join/join", "check_path": true,
            "env_version": "release", "width": 430
        })]
    );
    // WeChat failing now changes nothing: the stored image is served.
    mock.platform.set_qrcode_errcode(Some(45009));
    let again = app.get_auth(&poster_path(class), &admin).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.bytes().await.unwrap().as_ref(), PNG.as_slice());
    assert_eq!(mock.platform.qrcodes().len(), 1);
    let stored = longmarch::models::join_qrcodes::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].png, PNG.to_vec());
}

#[tokio::test]
async fn poster_failures_answer_clear_problems() {
    let (app, mock) = app_with_mock().await;
    let admin = organiser_token(&app, "root", "admin").await;
    let class = cohort_id(&app, "DEMO02").await;
    mock.platform.set_qrcode_errcode(Some(41030));
    let body = assert_problem(
        app.get_auth(&poster_path(class), &admin).await,
        502,
        "qrcode_page_invalid",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("pages/join/join"));
    mock.platform.set_qrcode_errcode(Some(45009));
    assert_problem(
        app.get_auth(&poster_path(class), &admin).await,
        503,
        "qrcode_quota_exhausted",
    )
    .await;
    mock.platform.set_qrcode_errcode(Some(-1));
    assert_problem(app.get_auth(&poster_path(class), &admin).await, 502, "qrcode_rejected").await;
    assert!(
        longmarch::models::join_qrcodes::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .is_empty()
    );

    // A school holds classes and takes no members: no poster.
    let school = longmarch::models::cohorts::Entity::find()
        .filter(longmarch::models::cohorts::Column::ParentId.is_null())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_problem(
        app.get_auth(&poster_path(school.id), &admin).await,
        422,
        "cohort_not_leaf",
    )
    .await;
    assert_problem(
        app.get_auth(&poster_path(999_999), &admin).await,
        404,
        "cohort_not_found",
    )
    .await;
    // An organiser without access to the campaign sees nothing of it.
    let stranger = organiser_token(&app, "stranger", "organiser").await;
    assert_problem(
        app.get_auth(&poster_path(class), &stranger).await,
        404,
        "campaign_not_found",
    )
    .await;
    let participant = dev_login(&app, "o_poster").await;
    assert_eq!(app.get_auth(&poster_path(class), &participant).await.status(), 403);
}

#[tokio::test]
async fn without_a_mini_program_configured_a_poster_answers_wechat_not_configured() {
    let app = spawn_app_with(|s| s.wechat.appid = String::new()).await;
    let admin = organiser_token(&app, "root", "admin").await;
    let class = cohort_id(&app, "DEMO02").await;
    let body = assert_problem(
        app.get_auth(&poster_path(class), &admin).await,
        503,
        "wechat_not_configured",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("wechat.appid"));
}

#[tokio::test]
async fn a_poster_times_out_as_503_and_is_drawn_on_the_next_try() {
    let mock = wechat_mock::start().await;
    let adjust = point_at(&mock);
    let app = spawn_app_with(move |s| {
        adjust(s);
        s.wechat.timeout_ms = 300;
    })
    .await;
    let admin = organiser_token(&app, "root", "admin").await;
    let class = cohort_id(&app, "DEMO03").await;
    mock.platform.set_delay(1500);
    assert_problem(
        app.get_auth(&poster_path(class), &admin).await,
        503,
        "wechat_unavailable",
    )
    .await;
    mock.platform.set_delay(0);
    assert_eq!(app.get_auth(&poster_path(class), &admin).await.status(), 200);
}

// ---- certificates ----

async fn short_route(app: &TestApp, admin: &str) {
    let doc = json!({
        "slug": "short-walk",
        "name": "短途长征",
        "stations": [
            { "seq": 1, "name": "起点", "metres": 0 },
            { "seq": 2, "name": "中途", "metres": 5000 },
            { "seq": 3, "name": "终点", "metres": 9000 }
        ]
    });
    assert_eq!(app.post_auth("/api/v1/admin/routes", admin, &doc).await.status(), 201);
}

async fn short_campaign(app: &TestApp, admin: &str, slug: &str, mode: &str) {
    let mut body = campaign_body(slug, mode);
    body["route"] = json!("short-walk");
    body["title"] = json!("寒假长征");
    assert_eq!(
        app.post_auth("/api/v1/admin/campaigns", admin, &body).await.status(),
        201
    );
    let resp = app
        .post_auth(&format!("/api/v1/admin/campaigns/{slug}/activate"), admin, &json!({}))
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn an_individual_finisher_gets_one_certificate_that_anyone_can_verify() {
    let (app, _mock) = app_with_mock().await;
    let admin = organiser_token(&app, "root", "admin").await;
    short_route(&app, &admin).await;
    short_campaign(&app, &admin, "solo", "individual").await;
    let token = dev_login(&app, "o_solo").await;
    let resp = app
        .post_auth(
            "/api/v1/campaigns/solo/join",
            &token,
            &json!({ "display_name": "张三" }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mine = "/api/v1/campaigns/solo/me/certificate";
    upload(&app, "solo", &token, &[(3, 5_000)]).await;
    assert_problem(app.get_auth(mine, &token).await, 404, "certificate_not_issued").await;
    // 1,000 steps a km: 9,000 m reached on the day before yesterday.
    upload(&app, "solo", &token, &[(2, 4_500)]).await;
    let cert = json(app.get_auth(mine, &token).await).await;
    let id = cert["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(cert["verify_url"], format!("/api/v1/certificates/{id}"));
    assert_eq!(cert["display_name_masked"], "张*");
    assert_eq!(cert["campaign_title"], "寒假长征");
    assert_eq!(cert["route_name"], "短途长征");
    assert_eq!(cert["finished_on"], (today() - Duration::days(2)).to_string());
    assert_eq!(cert["km"], 9.0);
    assert_eq!(cert["school"], Value::Null);

    // Asking again, more steps, and a rebuild change nothing.
    upload(&app, "solo", &token, &[(1, 20_000)]).await;
    longmarch::services::progress::recompute_campaign(&app.db, "solo")
        .await
        .unwrap();
    assert_eq!(json(app.get_auth(mine, &token).await).await, cert);
    let verified = json(app.get(&format!("/api/v1/certificates/{id}")).await).await;
    assert_eq!(verified, cert);
    assert_eq!(
        longmarch::models::certificates::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .len(),
        1
    );

    assert_problem(
        app.get("/api/v1/certificates/0123456789abcdef").await,
        404,
        "certificate_not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/certificates/not-an-id!").await,
        404,
        "certificate_not_found",
    )
    .await;
    let outsider = dev_login(&app, "o_outsider").await;
    assert_problem(app.get_auth(mine, &outsider).await, 403, "not_enrolled").await;
}

#[tokio::test]
async fn in_cohort_modes_the_class_finishing_issues_its_members_certificates() {
    let (app, _mock) = app_with_mock().await;
    let admin = organiser_token(&app, "root", "admin").await;
    short_route(&app, &admin).await;
    short_campaign(&app, &admin, "team", "cohort_total").await;
    let path = "/api/v1/admin/campaigns/team/cohorts";
    let school = json(app.post_auth(path, &admin, &json!({ "name": "第一中学" })).await).await;
    let class = app
        .post_auth(
            path,
            &admin,
            &json!({ "name": "高一(1)班", "parent_id": school["id"], "join_code": "TEAM01" }),
        )
        .await;
    assert_eq!(class.status(), 201);
    let walker = joined(&app, "team", "o_walker", Some("TEAM01"), None).await;
    let idle = joined(&app, "team", "o_idle", Some("TEAM01"), None).await;
    let mine = "/api/v1/campaigns/team/me/certificate";
    assert_problem(app.get_auth(mine, &idle).await, 404, "certificate_not_issued").await;
    upload(&app, "team", &walker, &[(1, 9_000)]).await;
    // The class reached the end: its idle member's certificate too.
    let cert = json(app.get_auth(mine, &idle).await).await;
    assert_eq!(cert["school"], "第一中学");
    assert_eq!(cert["finished_on"], (today() - Duration::days(1)).to_string());
    assert_eq!(cert["display_name_masked"], "P*");
    let other = json(app.get_auth(mine, &walker).await).await;
    assert_ne!(other["id"], cert["id"]);
    longmarch::services::progress::recompute_campaign(&app.db, "team")
        .await
        .unwrap();
    assert_eq!(json(app.get_auth(mine, &idle).await).await, cert);
}

// ---- reminders ----

/// Today at `hh:mm` in the demo campaign's zone.
fn at_local(days_ahead: i64, hh: u32, mm: u32) -> chrono::DateTime<Utc> {
    let day = today() + Duration::days(days_ahead);
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(hh, mm, 0).unwrap()))
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

async fn subscribe(app: &TestApp, token: &str, templates: &[&str]) -> Value {
    let resp = app
        .post_auth("/api/v1/me/subscriptions", token, &json!({ "template_ids": templates }))
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

async fn set_reminders(app: &TestApp, admin: &str, patch: Value) -> reqwest::Response {
    app.patch_auth(&format!("/api/v1/admin/campaigns/{DEMO}"), admin, &patch)
        .await
}

async fn claims(app: &TestApp) -> Vec<longmarch::models::reminder_claims::Model> {
    use sea_orm::QueryOrder;
    longmarch::models::reminder_claims::Entity::find()
        .order_by_asc(longmarch::models::reminder_claims::Column::Day)
        .order_by_asc(longmarch::models::reminder_claims::Column::ParticipantId)
        .all(&app.db)
        .await
        .unwrap()
}

async fn credits(app: &TestApp, openid: &str) -> i32 {
    let p = participant(app, openid).await;
    longmarch::models::subscription_credits::Entity::find()
        .filter(longmarch::models::subscription_credits::Column::ParticipantId.eq(p.id))
        .one(&app.db)
        .await
        .unwrap()
        .map_or(0, |c| c.credits)
}

#[tokio::test]
async fn subscriptions_add_one_credit_per_template_and_refuse_bad_ids() {
    let (app, _mock) = app_with_mock().await;
    let token = dev_login(&app, "o_sub").await;
    subscribe(&app, &token, &["TPL_A"]).await;
    let got = subscribe(&app, &token, &["TPL_A", "TPL-B", "TPL_A"]).await;
    assert_eq!(
        got,
        json!({"items": [{"template_id": "TPL-B", "credits": 1}, {"template_id": "TPL_A", "credits": 2}]})
    );
    for bad in [
        json!([]),
        json!(["has space"]),
        Value::from((0..11).map(|i| format!("T{i}")).collect::<Vec<_>>()),
    ] {
        let resp = app
            .post_auth("/api/v1/me/subscriptions", &token, &json!({ "template_ids": bad }))
            .await;
        let problem = assert_problem(resp, 422, "invalid_template_ids").await;
        // The documented `Problem`: `errors` lists items, as every other 422 does.
        assert_eq!(problem["errors"][0]["field"], "template_ids", "{problem}");
    }
    assert_eq!(
        app.post_json("/api/v1/me/subscriptions", &json!({"template_ids": ["A"]}))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn reminders_go_once_at_the_local_time_to_subscribed_participants_who_have_not_synced() {
    let (app, mock) = app_with_mock().await;
    let admin = organiser_token(&app, "root", "admin").await;
    let detail = json(app.get(&format!("/api/v1/campaigns/{DEMO}")).await).await;
    assert_eq!(detail["reminder_template_ids"], json!([]));
    let resp = set_reminders(&app, &admin, json!({ "reminder_template_id": "TPL_EVENING" })).await;
    assert_eq!(resp.status(), 200);
    let campaign = json(resp).await;
    assert_eq!(campaign["reminder_time"], "21:00");
    assert_eq!(campaign["reminders_enabled"], true);
    let detail = json(app.get(&format!("/api/v1/campaigns/{DEMO}")).await).await;
    assert_eq!(detail["reminder_template_ids"], json!(["TPL_EVENING"]));

    let mut tokens = Vec::new();
    for who in [
        "o_rem_a",
        "o_rem_b",
        "o_rem_synced",
        "o_rem_nocredit",
        "o_rem_suspended",
    ] {
        tokens.push(joined(&app, DEMO, who, Some("DEMO01"), None).await);
    }
    for t in &tokens[..3] {
        subscribe(&app, t, &["TPL_EVENING"]).await;
    }
    subscribe(&app, &tokens[4], &["TPL_EVENING"]).await;
    subscribe(&app, &tokens[3], &["TPL_OTHER"]).await;
    upload(&app, DEMO, &tokens[2], &[(0, 3_000)]).await;
    let suspended = participant(&app, "o_rem_suspended").await.id;
    let resp = app
        .post_auth(
            &format!("/api/v1/admin/campaigns/{DEMO}/participants/{suspended}/suspend"),
            &admin,
            &json!({ "reason": "test" }),
        )
        .await;
    assert_eq!(resp.status(), 200);

    let api = api(&app);
    let early = reminders::run_pass(&app.db, &api, at_local(0, 20, 59)).await.unwrap();
    assert_eq!(early, reminders::PassReport::default());
    assert!(mock.platform.sends().is_empty());

    // Two instances' passes at once: still one reminder each.
    let second = spawn_app_on_with(&app.database_url(), point_at(&mock)).await;
    let other_api = self::api(&second);
    let (one, two) = tokio::join!(
        reminders::run_pass(&app.db, &api, at_local(0, 21, 5)),
        reminders::run_pass(&second.db, &other_api, at_local(0, 21, 5)),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.sent + two.sent, 2);
    assert_eq!(one.skipped + two.skipped, 1);
    let again = reminders::run_pass(&app.db, &api, at_local(0, 23, 30)).await.unwrap();
    assert_eq!(again, reminders::PassReport::default());

    let sends = mock.platform.sends();
    assert_eq!(sends.len(), 2);
    let mut to: Vec<&str> = sends.iter().map(|s| s["touser"].as_str().unwrap()).collect();
    to.sort_unstable();
    assert_eq!(to, ["o_rem_a", "o_rem_b"]);
    let send = &sends[0];
    assert_eq!(send["template_id"], "TPL_EVENING");
    assert_eq!(send["page"], format!("pages/index/index?campaign={DEMO}"));
    assert_eq!(send["miniprogram_state"], "formal");
    assert_eq!(send["lang"], "zh_CN");
    let title = send["data"]["thing1"]["value"].as_str().unwrap();
    assert!(title.chars().count() <= 20 && !title.is_empty());
    assert_eq!(send["data"]["phrase2"]["value"], "未同步");
    assert!(send["data"]["thing3"]["value"].as_str().unwrap().chars().count() <= 20);

    assert_eq!(credits(&app, "o_rem_a").await, 0, "the credit is spent");
    assert_eq!(credits(&app, "o_rem_synced").await, 1, "kept for another day");
    assert_eq!(credits(&app, "o_rem_suspended").await, 1);
    let rows = claims(&app).await;
    assert_eq!(rows.len(), 3);
    let statuses: Vec<&str> = rows.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses, ["sent", "sent", "skipped"]);

    let stats = json(
        app.get_auth(&format!("/api/v1/admin/campaigns/{DEMO}/stats"), &admin)
            .await,
    )
    .await;
    assert_eq!(
        stats["reminders"],
        json!([{"date": today().to_string(), "sent": 2, "skipped": 1, "failed": 0}])
    );
}

#[tokio::test]
async fn errors_are_retried_then_recorded_and_a_refusal_clears_the_credit() {
    let (app, mock) = app_with_mock().await;
    let admin = organiser_token(&app, "root", "admin").await;
    let resp = set_reminders(
        &app,
        &admin,
        json!({ "reminder_template_id": "TPL_EVENING", "reminder_time": "20:30" }),
    )
    .await;
    assert_eq!(json(resp).await["reminder_time"], "20:30");
    let token = joined(&app, DEMO, "o_retry", Some("DEMO02"), None).await;
    subscribe(&app, &token, &["TPL_EVENING"]).await;
    let api = api(&app);

    // Day 1: WeChat busy three times in a row → failed, the credit given back.
    mock.platform.send_errcodes.lock().unwrap().extend([-1, -1, -1]);
    let report = reminders::run_pass(&app.db, &api, at_local(0, 20, 31)).await.unwrap();
    assert_eq!(report.failed, 1);
    assert_eq!(mock.platform.sends().len(), 3);
    assert_eq!(credits(&app, "o_retry").await, 1);
    // Day 2: busy once, then delivered on the retry.
    mock.platform.send_errcodes.lock().unwrap().push_back(-1);
    let report = reminders::run_pass(&app.db, &api, at_local(1, 20, 31)).await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(credits(&app, "o_retry").await, 0);
    // Day 3: accepted again on the phone, refused (cancelled) at WeChat → credits cleared.
    subscribe(&app, &token, &["TPL_EVENING"]).await;
    subscribe(&app, &token, &["TPL_EVENING"]).await;
    mock.platform.refusing.lock().unwrap().insert("o_retry".to_owned());
    let report = reminders::run_pass(&app.db, &api, at_local(2, 20, 31)).await.unwrap();
    assert_eq!(report.skipped, 1);
    assert_eq!(credits(&app, "o_retry").await, 0);
    // Day 4: no credit, no message.
    let report = reminders::run_pass(&app.db, &api, at_local(3, 20, 31)).await.unwrap();
    assert_eq!(report, reminders::PassReport::default());

    let rows = claims(&app).await;
    let got: Vec<(&str, i32)> = rows.iter().map(|c| (c.status.as_str(), c.attempts)).collect();
    assert_eq!(got, [("failed", 3), ("sent", 2), ("skipped", 1)]);
    assert!(rows[0].error.as_deref().unwrap().contains("-1"));
    assert!(rows[2].error.as_deref().unwrap().contains("43101"));
}

#[tokio::test]
async fn reminders_turned_off_send_nothing_and_bad_settings_are_refused() {
    let (app, mock) = app_with_mock().await;
    let admin = organiser_token(&app, "root", "admin").await;
    let token = joined(&app, DEMO, "o_quiet", Some("DEMO01"), None).await;
    subscribe(&app, &token, &["TPL_EVENING"]).await;
    // No template yet: nothing to send.
    let api = api(&app);
    assert_eq!(
        reminders::run_pass(&app.db, &api, at_local(0, 22, 0)).await.unwrap(),
        reminders::PassReport::default()
    );
    let patch = json!({ "reminder_template_id": "TPL_EVENING", "reminders_enabled": false });
    assert_eq!(set_reminders(&app, &admin, patch).await.status(), 200);
    let detail = json(app.get(&format!("/api/v1/campaigns/{DEMO}")).await).await;
    assert_eq!(detail["reminder_template_ids"], json!([]));
    assert_eq!(
        reminders::run_pass(&app.db, &api, at_local(0, 22, 0)).await.unwrap(),
        reminders::PassReport::default()
    );
    assert!(mock.platform.sends().is_empty());
    for bad in [
        json!({ "reminder_time": "25:00" }),
        json!({ "reminder_template_id": "bad id" }),
    ] {
        assert_problem(set_reminders(&app, &admin, bad).await, 422, "validation_failed").await;
    }
}

// ---- unionid ----

#[tokio::test]
async fn the_unionid_from_code2session_is_stored() {
    let (app, _mock) = app_with_mock().await;
    let resp = app
        .post_json("/api/v1/auth/wechat", &json!({ "code": "ok-o_union" }))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(participant(&app, "o_union").await.unionid.as_deref(), Some("u_o_union"));
}
