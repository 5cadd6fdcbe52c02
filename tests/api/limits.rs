//! Rate limits (OWASP API4): logins per client IP, uploads per participant and the organiser
//! lock-out. Each test sets small limits of its own; the `test` settings keep the login
//! limit out of reach of the other tests.

use std::time::Duration;

use longmarch::{
    models::{participants, step_days},
    settings::Settings,
};
use reqwest::Response;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::{
    helpers::{DEMO, TestApp, assert_problem, dev_login, json, spawn_app_with},
    steps::{day, member},
};

fn retry_after(resp: &Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After of whole seconds: {:?}", resp.headers()))
}

async fn dev_login_from(app: &TestApp, openid: &str, forwarded_for: Option<&str>) -> Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/auth/dev"))
        .json(&json!({ "openid": openid }));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.expect("request")
}

async fn organiser_login(app: &TestApp, username: &str, password: &str) -> Response {
    app.post_json(
        "/api/v1/auth/organiser",
        &json!({ "username": username, "password": password }),
    )
    .await
}

/// `n` logins with a wrong password, each refused as such.
async fn fail_logins(app: &TestApp, username: &str, n: usize) {
    for _ in 0..n {
        let resp = organiser_login(app, username, "wrong").await;
        assert_problem(resp, 401, "invalid_credentials").await;
    }
}

async fn upload_day(app: &TestApp, token: &str, offset: i64) -> Response {
    app.post_auth(
        &format!("/api/v1/campaigns/{DEMO}/steps"),
        token,
        &json!({ "days": [{ "date": day(offset), "steps": 5000 }] }),
    )
    .await
}

async fn stored_days(app: &TestApp, token: &str) -> usize {
    let resp = app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/steps"), token).await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    body["items"]
        .as_array()
        .map_or_else(|| panic!("days: {body}"), Vec::len)
}

// ---- rate limits --------------------------------------------------------------------------

#[tokio::test]
async fn logins_from_one_address_are_limited_then_recover() {
    // A refill slow enough that a loaded machine still makes the burst in time.
    let app = spawn_app_with(|s| {
        s.rate_limit.login_burst = 3;
        s.rate_limit.login_refill_ms = 1500;
    })
    .await;
    let token = member(&app, "o_first", "DEMO01").await; // one login
    for n in 0..2 {
        assert_eq!(dev_login_from(&app, &format!("o_{n}"), None).await.status(), 200);
    }
    let resp = dev_login_from(&app, "o_over", None).await;
    assert!((1..=2).contains(&retry_after(&resp)), "{:?}", resp.headers());
    let body = assert_problem(resp, 429, "rate_limited").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("logins"), "{body}");
    // The bucket is the client's, shared by every login endpoint.
    assert_problem(
        organiser_login(&app, "nobody", "password123").await,
        429,
        "rate_limited",
    )
    .await;
    let resp = app.post_json("/api/v1/auth/wechat", &json!({ "code": "x" })).await;
    assert_problem(resp, 429, "rate_limited").await;
    assert_eq!(participants::Entity::find().count(&app.db).await.expect("count"), 3);
    // Other endpoints are not affected.
    assert_eq!(upload_day(&app, &token, 0).await.status(), 200);
    // One token refills every 1.5 seconds.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(dev_login_from(&app, "o_later", None).await.status(), 200);
    assert_problem(dev_login_from(&app, "o_again", None).await, 429, "rate_limited").await;
}

#[tokio::test]
async fn a_forwarded_for_header_from_an_untrusted_peer_does_not_escape_the_limit() {
    let app = spawn_app_with(|s| {
        s.rate_limit.login_burst = 2;
        s.rate_limit.login_refill_ms = 60_000;
        s.rate_limit.trusted_proxies = Vec::new();
    })
    .await;
    for (n, xff) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        assert_eq!(dev_login_from(&app, &format!("o_{n}"), Some(xff)).await.status(), 200);
    }
    let resp = dev_login_from(&app, "o_3", Some("203.0.113.3")).await;
    assert!(retry_after(&resp) > 50);
    assert_problem(resp, 429, "rate_limited").await;
    assert_problem(dev_login_from(&app, "o_4", None).await, 429, "rate_limited").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = spawn_app_with(|s| {
        s.rate_limit.login_burst = 2;
        s.rate_limit.login_refill_ms = 60_000;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".to_owned(), "10.0.0.0/8".to_owned()];
    })
    .await;
    let a = "203.0.113.1";
    for n in 0..2 {
        assert_eq!(dev_login_from(&app, &format!("a_{n}"), Some(a)).await.status(), 200);
    }
    assert_problem(dev_login_from(&app, "a_2", Some(a)).await, 429, "rate_limited").await;
    // What the client writes on the left of the chain doesn't make it someone else; a
    // further trusted proxy on the right is skipped.
    let spoofed = "198.51.100.7, 203.0.113.1";
    assert_problem(dev_login_from(&app, "a_3", Some(spoofed)).await, 429, "rate_limited").await;
    let via_two_proxies = "203.0.113.1, 10.1.2.3";
    assert_problem(
        dev_login_from(&app, "a_4", Some(via_two_proxies)).await,
        429,
        "rate_limited",
    )
    .await;
    // Another client behind the same proxy is not affected, nor is the proxy itself.
    assert_eq!(dev_login_from(&app, "b_0", Some("203.0.113.2")).await.status(), 200);
    assert_eq!(
        dev_login_from(&app, "b_1", Some("203.0.113.2, 10.1.2.3"))
            .await
            .status(),
        200
    );
    assert_eq!(dev_login_from(&app, "p_0", None).await.status(), 200);
}

#[tokio::test]
async fn step_uploads_are_limited_per_participant_then_recover() {
    let app = spawn_app_with(|s| {
        s.rate_limit.upload_burst = 2;
        s.rate_limit.upload_refill_ms = 1500;
    })
    .await;
    let alice = member(&app, "o_alice", "DEMO01").await;
    let bob = member(&app, "o_bob", "DEMO02").await;
    assert_eq!(upload_day(&app, &alice, 0).await.status(), 200);
    assert_eq!(upload_day(&app, &alice, -1).await.status(), 200);
    let resp = upload_day(&app, &alice, -2).await;
    assert!((1..=2).contains(&retry_after(&resp)), "{:?}", resp.headers());
    let body = assert_problem(resp, 429, "rate_limited").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("upload"), "{body}");
    // WeRun uploads share the bucket; the limit answers before the body is looked at.
    let werun = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps/werun"),
            &alice,
            &json!({ "encrypted_data": "x", "iv": "y" }),
        )
        .await;
    assert_problem(werun, 429, "rate_limited").await;
    assert_eq!(stored_days(&app, &alice).await, 2, "the refused upload stored nothing");
    // Another participant has their own bucket.
    for offset in [0, -1] {
        assert_eq!(upload_day(&app, &bob, offset).await.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(upload_day(&app, &alice, -2).await.status(), 200);
    assert_eq!(stored_days(&app, &alice).await, 3);
}

#[tokio::test]
async fn an_upload_burst_of_zero_turns_the_upload_limit_off() {
    let app = spawn_app_with(|s| {
        s.rate_limit.upload_burst = 0;
        s.rate_limit.upload_refill_ms = 0;
    })
    .await;
    let token = member(&app, "o_bench", "DEMO01").await;
    for n in 0..40 {
        let resp = upload_day(&app, &token, -(n % 5)).await;
        assert_eq!(resp.status(), 200, "upload {n}");
    }
}

#[tokio::test]
async fn an_organiser_username_is_locked_after_repeated_failures_even_with_the_right_password() {
    let app = spawn_app_with(|s| {
        s.rate_limit.organiser_max_failures = 3;
        s.rate_limit.organiser_failure_window_secs = 60;
        s.rate_limit.organiser_lockout_secs = 3;
    })
    .await;
    longmarch::services::organisers::create(&app.db, "alice", "password123", "organiser")
        .await
        .expect("create alice");
    longmarch::services::organisers::create(&app.db, "bob", "password123", "organiser")
        .await
        .expect("create bob");
    // A real username and a made-up one fail and lock alike.
    for username in ["alice", "ghost"] {
        fail_logins(&app, username, 3).await;
        let resp = organiser_login(&app, username, "password123").await;
        let wait = retry_after(&resp);
        assert!((1..=3).contains(&wait), "Retry-After {wait}");
        let body = assert_problem(resp, 429, "login_locked").await;
        assert_eq!(
            body["detail"],
            "Too many failed logins for this username; wait before trying again."
        );
        // Surrounding spaces don't make it another username.
        let resp = organiser_login(&app, &format!(" {username} "), "password123").await;
        assert_problem(resp, 429, "login_locked").await;
    }
    // Other usernames are not locked.
    assert_eq!(organiser_login(&app, "bob", "password123").await.status(), 200);
    // The lock-out ends.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let resp = organiser_login(&app, "alice", "password123").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["organiser"]["username"], "alice");
}

#[tokio::test]
async fn a_successful_organiser_login_resets_the_failure_count() {
    let app = spawn_app_with(|s| {
        s.rate_limit.organiser_max_failures = 3;
        s.rate_limit.organiser_lockout_secs = 60;
    })
    .await;
    longmarch::services::organisers::create(&app.db, "alice", "password123", "organiser")
        .await
        .expect("create alice");
    fail_logins(&app, "alice", 2).await;
    assert_eq!(organiser_login(&app, "alice", "password123").await.status(), 200);
    fail_logins(&app, "alice", 2).await;
    assert_eq!(organiser_login(&app, "alice", "password123").await.status(), 200);
    // Without a success in between, the third failure locks.
    fail_logins(&app, "alice", 3).await;
    assert_problem(organiser_login(&app, "alice", "password123").await, 429, "login_locked").await;
}

#[tokio::test]
async fn the_spec_documents_429_on_limited_endpoints() {
    let app = spawn_app_with(|_| {}).await;
    let spec = json(app.get("/api-docs/openapi.json").await).await;
    for (path, codes) in [
        ("/api/v1/auth/wechat", vec!["rate_limited"]),
        ("/api/v1/auth/dev", vec!["rate_limited"]),
        ("/api/v1/auth/organiser", vec!["rate_limited", "login_locked"]),
        ("/api/v1/campaigns/{slug}/steps", vec!["rate_limited"]),
        ("/api/v1/campaigns/{slug}/steps/werun", vec!["rate_limited"]),
    ] {
        let doc = spec["paths"][path]["post"]["responses"]["429"]["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{path} documents 429"));
        for code in codes {
            assert!(doc.contains(code), "{path}: {doc}");
        }
    }
}

#[tokio::test]
async fn a_participant_token_logged_in_before_the_limit_keeps_working() {
    // The login limit guards logins only: a token already issued is not refused.
    let app = spawn_app_with(|s| {
        s.rate_limit.login_burst = 1;
        s.rate_limit.login_refill_ms = 60_000;
    })
    .await;
    let token = dev_login(&app, "o_one").await;
    assert_problem(dev_login_from(&app, "o_two", None).await, 429, "rate_limited").await;
    let resp = app.get_auth("/api/v1/me", &token).await;
    assert_eq!(resp.status(), 200);
}

// ---- settings ----------------------------------------------------------------------------

#[test]
fn trusted_proxies_may_come_as_a_comma_separated_string() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("test.toml"),
        "[rate_limit]\ntrusted_proxies = \"10.0.0.0/8, 127.0.0.1 ,::1\"\n",
    )
    .expect("write");
    let settings = Settings::load_from(dir.path(), "test", false).expect("settings");
    assert_eq!(settings.rate_limit.trusted_proxies, ["10.0.0.0/8", "127.0.0.1", "::1"]);
    let defaults = Settings::load_from(dir.path(), "development", false).expect("settings");
    assert!(defaults.rate_limit.trusted_proxies.is_empty());
    assert_eq!(defaults.rate_limit.upload_burst, 30);
    assert_eq!(defaults.rate_limit.upload_refill_ms, 1000);
    assert_eq!(defaults.limits.request_timeout_secs, 30);
}

#[tokio::test]
async fn a_participants_reads_do_not_use_up_the_upload_quota() {
    let app = spawn_app_with(|s| {
        s.rate_limit.upload_burst = 1;
        s.rate_limit.upload_refill_ms = 60_000;
    })
    .await;
    let token = member(&app, "o_reader", "DEMO01").await;
    for _ in 0..5 {
        assert_eq!(stored_days(&app, &token).await, 0);
    }
    assert_eq!(upload_day(&app, &token, 0).await.status(), 200);
    assert_problem(upload_day(&app, &token, -1).await, 429, "rate_limited").await;
    let days: Vec<step_days::Model> = step_days::Entity::find()
        .filter(step_days::Column::Steps.eq(5000))
        .all(&app.db)
        .await
        .expect("days");
    assert_eq!(days.len(), 1);
}
