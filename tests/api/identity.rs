use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::{
    helpers::{
        TestApp, assert_problem, close_demo, dev_login, json, organiser_token, spawn_app, spawn_app_on_with,
        spawn_app_with,
    },
    wechat_mock,
};

async fn app_with_mock() -> (TestApp, wechat_mock::WechatMock) {
    let mock = wechat_mock::start().await;
    let base = mock.base.clone();
    let app = spawn_app_with(|s| {
        s.wechat.api_base = base;
        s.wechat.timeout_ms = 1000;
    })
    .await;
    (app, mock)
}

#[tokio::test]
async fn wechat_login_creates_the_participant_once_and_never_reveals_the_session_key() {
    let (app, mock) = app_with_mock().await;
    let resp = app
        .post_json("/api/v1/auth/wechat", &json!({ "code": "ok-o_alice" }))
        .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(!text.contains("session_key") && !text.contains("o_alice"), "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["new"], true);
    assert!(body["token"].is_string() && body["expires_at"].is_string());
    let again = json(
        app.post_json("/api/v1/auth/wechat", &json!({ "code": "ok-o_alice" }))
            .await,
    )
    .await;
    assert_eq!(again["new"], false);
    assert_eq!(again["participant"]["id"], body["participant"]["id"]);
    assert_eq!(mock.calls.lock().expect("lock").len(), 2);

    use sea_orm::EntityTrait;
    let stored = longmarch::models::participants::Entity::find()
        .all(&app.db)
        .await
        .expect("participants");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].openid, "o_alice");
    assert!(stored[0].session_key.is_some());
}

#[tokio::test]
async fn wechat_errors_map_to_clear_problems() {
    let (app, _mock) = app_with_mock().await;
    for (code, status, problem) in [
        ("invalid", 401, "wechat_code_invalid"),
        ("used", 401, "wechat_code_invalid"),
        ("ratelimit", 429, "wechat_rate_limited"),
        ("blocked", 403, "wechat_user_blocked"),
        ("busy", 503, "wechat_unavailable"),
        ("garbage", 503, "wechat_unavailable"),
        ("slow", 503, "wechat_unavailable"),
    ] {
        let resp = app.post_json("/api/v1/auth/wechat", &json!({ "code": code })).await;
        assert_problem(resp, status, problem).await;
    }
    assert_problem(
        app.post_json("/api/v1/auth/wechat", &json!({ "code": "  " })).await,
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn wechat_unreachable_answers_503() {
    let app = spawn_app_with(|s| s.wechat.api_base = "http://127.0.0.1:9".to_owned()).await;
    let resp = app.post_json("/api/v1/auth/wechat", &json!({ "code": "ok-x" })).await;
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.to_str().unwrap_or("")),
        Some("5")
    );
    assert_problem(resp, 503, "wechat_unavailable").await;
}

#[tokio::test]
async fn dev_login_is_absent_when_disabled() {
    let app = spawn_app_with(|s| s.auth.dev_login = false).await;
    assert_problem(
        app.post_json("/api/v1/auth/dev", &json!({ "openid": "x" })).await,
        404,
        "not_found",
    )
    .await;
}

fn forge(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("key"),
    )
    .expect("encode")
}

#[tokio::test]
async fn every_token_defect_gets_401_with_www_authenticate() {
    let app = spawn_app().await;
    let secret = "dev-only-secret-change-me-dev-only-secret";
    let now = chrono::Utc::now().timestamp();
    let good = json!({"sub": "1", "role": "participant", "iss": "longmarch", "aud": "longmarch-api", "iat": now, "exp": now + 600});
    let mut expired = good.clone();
    expired["exp"] = json!(now - 3600);
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("evil");
    let mut no_exp = good.clone();
    no_exp.as_object_mut().expect("obj").remove("exp");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let alg_none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(good.to_string())
    );
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("malformed", Some("not-a-jwt".to_owned())),
        ("expired", Some(forge(&expired, secret))),
        (
            "wrong signature",
            Some(forge(&good, "another-secret-another-secret-123")),
        ),
        ("alg none", Some(alg_none)),
        ("wrong audience", Some(forge(&wrong_aud, secret))),
        ("wrong issuer", Some(forge(&wrong_iss, secret))),
        ("no exp", Some(forge(&no_exp, secret))),
    ];
    for (name, token) in cases {
        let mut req = app.client.get(app.url("/api/v1/me"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 401, "{name}");
        assert_eq!(
            resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{name}"
        );
        let body = json(resp).await;
        assert!(
            body["code"].as_str().is_some_and(|c| c.contains("token")),
            "{name}: {body}"
        );
    }
    // The same claims signed with the right secret pass.
    assert_eq!(
        app.get_auth("/api/v1/me", &forge(&good, secret)).await.status(),
        401,
        "participant 1 does not exist yet"
    );
    let token = dev_login(&app, "o_real").await;
    assert_eq!(app.get_auth("/api/v1/me", &token).await.status(), 200);
}

#[tokio::test]
async fn roles_are_enforced_by_the_extractors() {
    let app = spawn_app().await;
    let participant = dev_login(&app, "o_p").await;
    let organiser = organiser_token(&app, "olga", "organiser").await;
    assert_problem(app.get_auth("/api/v1/me", &organiser).await, 403, "participant_only").await;
    let resp = app.get_auth("/api/v1/me", &participant).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn organiser_login_fails_alike_for_unknown_user_and_wrong_password() {
    let app = spawn_app().await;
    longmarch::services::identity::organiser_accounts::create(&app.db, "root", "password123", "admin")
        .await
        .expect("create");
    let wrong_pw = app
        .post_json(
            "/api/v1/auth/organiser",
            &json!({"username": "root", "password": "nope-nope-nope"}),
        )
        .await;
    let a = assert_problem(wrong_pw, 401, "invalid_credentials").await;
    let unknown = app
        .post_json(
            "/api/v1/auth/organiser",
            &json!({"username": "ghost", "password": "nope-nope-nope"}),
        )
        .await;
    let b = assert_problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(a, b);
    let ok = json(
        app.post_json(
            "/api/v1/auth/organiser",
            &json!({"username": "root", "password": "password123"}),
        )
        .await,
    )
    .await;
    assert_eq!(ok["organiser"]["role"], "admin");
    assert!(ok["organiser"].get("password_hash").is_none());
    let short =
        longmarch::services::identity::organiser_accounts::create(&app.db, "shorty", "123456789", "organiser").await;
    assert!(short.is_err(), "passwords under 10 characters are refused");
}

#[tokio::test]
async fn profile_can_be_read_and_changed_within_rules() {
    let app = spawn_app().await;
    let token = dev_login(&app, "o_prof").await;
    let me = json(
        app.patch_auth(
            "/api/v1/me",
            &token,
            &json!({"display_name": "  小红  ", "student_no": "2023-001"}),
        )
        .await,
    )
    .await;
    assert_eq!(me["display_name"], "小红");
    assert_eq!(me["student_no"], "2023-001");
    assert!(me.get("openid").is_none());
    for bad in [
        json!({"display_name": "   "}),
        json!({"display_name": "x".repeat(33)}),
        json!({"student_no": "a b"}),
    ] {
        assert_problem(
            app.patch_auth("/api/v1/me", &token, &bad).await,
            422,
            "validation_failed",
        )
        .await;
    }
    assert_problem(
        app.patch_auth("/api/v1/me", &token, &json!({"id": 7})).await,
        422,
        "invalid_body",
    )
    .await;
}

#[tokio::test]
async fn joining_follows_the_cohort_rules_and_is_idempotent() {
    let app = spawn_app().await;
    let token = dev_login(&app, "o_join").await;
    let path = "/api/v1/campaigns/long-march-demo/join";
    assert_problem(
        app.post_auth(path, &token, &json!({"join_code": "NOPE99"})).await,
        404,
        "cohort_not_found",
    )
    .await;
    assert_problem(app.post_auth(path, &token, &json!({})).await, 422, "join_code_required").await;
    // A college's own code is not a class: find it in the database.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let college = longmarch::models::cohorts::Entity::find()
        .filter(longmarch::models::cohorts::Column::Path.eq("计算机学院"))
        .one(&app.db)
        .await
        .expect("query")
        .expect("college");
    assert_problem(
        app.post_auth(path, &token, &json!({"join_code": college.join_code}))
            .await,
        422,
        "cohort_not_leaf",
    )
    .await;
    let first = json(app.post_auth(path, &token, &json!({"join_code": "demo01"})).await).await;
    assert_eq!(first["cohort"]["path"], "计算机学院/软件2301");
    let second = json(app.post_auth(path, &token, &json!({"join_code": "DEMO01"})).await).await;
    assert_eq!(first, second);
    assert_problem(
        app.post_auth(path, &token, &json!({"join_code": "DEMO02"})).await,
        409,
        "already_enrolled",
    )
    .await;
    let rows = longmarch::models::enrollments::Entity::find()
        .all(&app.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    let class = longmarch::models::cohorts::Entity::find_by_id(rows[0].cohort_id.expect("cohort"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("class");
    assert_eq!(class.member_count, 1);
    let parent = longmarch::models::cohorts::Entity::find_by_id(class.parent_id.expect("parent"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("parent");
    assert_eq!(parent.member_count, 1, "a cohort counts its whole subtree");
    let me = json(app.get_auth("/api/v1/me", &token).await).await;
    assert_eq!(me["enrollments"][0]["campaign"], "long-march-demo");
}

#[tokio::test]
async fn joining_a_closed_or_draft_campaign_is_refused() {
    let app = spawn_app().await;
    let token = dev_login(&app, "o_late").await;
    close_demo(&app).await;
    let resp = app
        .post_auth(
            "/api/v1/campaigns/long-march-demo/join",
            &token,
            &json!({"join_code": "DEMO01"}),
        )
        .await;
    assert_problem(resp, 409, "campaign_not_open").await;
}

#[tokio::test]
async fn one_participant_cannot_act_as_another() {
    let app = spawn_app().await;
    let a = dev_login(&app, "o_a").await;
    let b = dev_login(&app, "o_b").await;
    app.post_auth(
        "/api/v1/campaigns/long-march-demo/join",
        &a,
        &json!({"join_code": "DEMO01"}),
    )
    .await;
    let me_b = json(app.get_auth("/api/v1/me", &b).await).await;
    assert_eq!(me_b["enrollments"].as_array().map(Vec::len), Some(0));
    // Identity comes only from the token: a participant id in the body is refused.
    let resp = app
        .patch_auth("/api/v1/me", &b, &json!({"participant_id": 1, "display_name": "x"}))
        .await;
    assert_problem(resp, 422, "invalid_body").await;
    let steps = app
        .post_auth(
            "/api/v1/campaigns/long-march-demo/steps",
            &b,
            &json!({"days": [{"date": "2026-01-01", "steps": 1}]}),
        )
        .await;
    assert_problem(steps, 403, "not_enrolled").await;
}

#[tokio::test]
async fn a_token_signed_with_the_previous_secret_passes_only_while_it_is_configured() {
    use secrecy::SecretString;
    let old = "the-secret-we-are-rotating-away-from";
    let new = "the-new-secret-of-at-least-32-bytes!";
    let before = spawn_app_with(|s| s.auth.jwt_secret = SecretString::from(old.to_owned())).await;
    let token = dev_login(&before, "o_rotate").await;

    let during = spawn_app_on_with(&before.database_url(), |s| {
        s.auth.jwt_secret = SecretString::from(new.to_owned());
        s.auth.previous_jwt_secret = Some(SecretString::from(old.to_owned()));
    })
    .await;
    assert_eq!(
        during.get_auth("/api/v1/me", &token).await.status(),
        200,
        "verify-only key accepted"
    );
    let fresh = dev_login(&during, "o_rotate").await;
    let after = spawn_app_on_with(&before.database_url(), |s| {
        s.auth.jwt_secret = SecretString::from(new.to_owned())
    })
    .await;
    assert_eq!(
        after.get_auth("/api/v1/me", &fresh).await.status(),
        200,
        "new tokens use the new key"
    );
    assert_problem(after.get_auth("/api/v1/me", &token).await, 401, "invalid_token").await;
}
