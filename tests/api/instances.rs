//! Several instances for real: three `longmarch serve` processes on one PostgreSQL database
//! behind HAProxy (round-robin), as a deployment that has outgrown one process runs.
//!
//! Runs when `TEST_DATABASE_URL` points at PostgreSQL (several instances need a shared
//! server database) and `haproxy` is installed; otherwise it says why and passes, unless
//! `CI` is set, where a missing `haproxy` fails it.

use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use chrono::Utc;
use reqwest::Client;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::{
    helpers::{DEMO, TestDatabase, today},
    shutdown::{Guard, free_port, serve_logged, wait_until_healthy},
    steps::{midnight, werun_payload},
    wechat_mock,
};

/// How far an instance's board and campaign settings may lag (the documented defaults).
const BOUND: Duration = Duration::from_millis(1000);

fn haproxy_config(port: u16, backends: &[String]) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, b)| format!("    server i{i} {}\n", b.trim_start_matches("http://")))
        .collect();
    format!(
        "global\n    maxconn 1000\n\
         defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\n\
         frontend web\n    bind 127.0.0.1:{port}\n    default_backend longmarch\n\
         backend longmarch\n    balance roundrobin\n    http-response set-header X-Served-By %[srv_name]\n{servers}"
    )
}

async fn post(client: &Client, url: String, token: Option<&str>, body: Value) -> (u16, Value, String) {
    let mut req = client.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let served_by = resp
        .headers()
        .get("x-served-by")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, resp.json().await.unwrap_or_default(), served_by)
}

async fn get(client: &Client, url: String, token: &str) -> Value {
    let resp = client.get(url).bearer_auth(token).send().await.expect("request");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("JSON")
}

/// Polls `check` until it answers true, at most `limit`.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < until, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn haproxy_present() -> bool {
    Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn three_instances_behind_a_round_robin_proxy_act_as_one_service() {
    let (database, url) = TestDatabase::create().await;
    if !database.is_postgres() {
        eprintln!("instances test SKIPPED: several instances need PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    if !haproxy_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "haproxy is not installed (Debian package haproxy); .ci/run installs it"
        );
        eprintln!("instances test SKIPPED: haproxy not found (apt-get install haproxy)");
        return;
    }
    let mock = wechat_mock::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("LONGMARCH__CACHE__BOARD_MAX_STALENESS_MS", "1000"),
        ("LONGMARCH__CACHE__CAMPAIGN_TTL_MS", "1000"),
        ("LONGMARCH__WECHAT__API_BASE", mock.base.as_str()),
        ("LONGMARCH__WECHAT__APPID", wechat_mock::APPID),
        ("LONGMARCH__WECHAT__SECRET", wechat_mock::SECRET),
    ];
    // One after the other: the first migrates and seeds the empty database.
    let mut guards: Vec<Guard> = Vec::new();
    let mut bases = Vec::new();
    for i in 0..3 {
        let (guard, base, _) = serve_logged(&url, &dir.path().join(format!("i{i}.log")), &env).await;
        guards.push(guard);
        bases.push(base);
    }
    let port = free_port();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(port, &bases)).expect("haproxy config");
    let proxy = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start haproxy");
    let mut proxy = Guard(Some(proxy));
    let client = crate::helpers::client();
    let front = format!("http://127.0.0.1:{port}");
    wait_until_healthy(&client, &format!("{front}/healthz"), proxy.child()).await;
    let api = |base: &str, path: &str| format!("{base}/api/v1{path}");

    let organiser = organiser_token(&client, &url, &front).await;

    // A screen on instance 0 before anything happens.
    let stream = client
        .get(api(&bases[0], &format!("/campaigns/{DEMO}/events")))
        .bearer_auth(&organiser)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), 200);
    let mut stream = stream;

    // Twelve members of one class join and upload through the proxy: all three serve them.
    let mut served: BTreeMap<String, usize> = BTreeMap::new();
    let mut members = Vec::new();
    for i in 0..12 {
        let (status, body, by) = post(
            &client,
            api(&front, "/auth/dev"),
            None,
            json!({"openid": format!("o_inst{i}")}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        *served.entry(by).or_default() += 1;
        let token = body["token"].as_str().expect("token").to_owned();
        let (status, body, by) = post(
            &client,
            api(&front, &format!("/campaigns/{DEMO}/join")),
            Some(&token),
            json!({"join_code": "DEMO01", "display_name": format!("成员{i}")}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        *served.entry(by).or_default() += 1;
        members.push(token);
    }
    for (i, token) in members.iter().enumerate() {
        let steps = 9_000 + 100 * i64::try_from(i).expect("small");
        let (status, body, by) = post(
            &client,
            api(&front, &format!("/campaigns/{DEMO}/steps")),
            Some(token),
            json!({"days": [{"date": today().to_string(), "steps": steps}]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        *served.entry(by).or_default() += 1;
    }
    assert_eq!(
        served.len(),
        3,
        "round-robin spread the requests over three instances: {served:?}"
    );
    assert!(served.values().all(|n| *n >= 8), "{served:?}");

    // The class reached stations through uploads handled by all three: instance 0's screen
    // hears of them.
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("event: unlock") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no unlock reached instance 0's stream: {other:?}; got {seen}"),
        }
    }
    assert!(seen.contains("DEMO01") || seen.contains("软件2301"), "{seen}");

    // Every instance's board agrees with the database within its staleness bound.
    let db = sea_orm::Database::connect(&url).await.expect("connect");
    let stored: Vec<i64> = longmarch::models::enrollments::Entity::find()
        .order_by_desc(longmarch::models::enrollments::Column::TotalCounted)
        .all(&db)
        .await
        .expect("enrollments")
        .into_iter()
        .map(|e| e.total_counted)
        .collect();
    for base in &bases {
        within(BOUND * 2, "the board matching the database", || async {
            let board = get(
                &client,
                api(base, &format!("/campaigns/{DEMO}/leaderboards/participants?limit=100")),
                &organiser,
            )
            .await;
            let rows: Vec<i64> = board["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|r| r["counted_steps"].as_i64().expect("steps"))
                .collect();
            rows == stored
        })
        .await;
    }

    // A WeChat login on instance 1, its WeRun sync through instance 2: the session key is
    // shared through the database.
    let (status, body, _) = post(
        &client,
        api(&bases[1], "/auth/wechat"),
        None,
        json!({"code": "ok-o_werun"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("token").to_owned();
    let (status, body, _) = post(
        &client,
        api(&bases[2], &format!("/campaigns/{DEMO}/join")),
        Some(&token),
        json!({"join_code": "DEMO02", "display_name": "微信用户"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let payload = werun_payload(&[(midnight(0), 7_000)], wechat_mock::APPID, Utc::now().timestamp());
    let (status, body, _) = post(
        &client,
        api(&bases[2], &format!("/campaigns/{DEMO}/steps/werun")),
        Some(&token),
        payload,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"].as_array().map(Vec::len), Some(1), "{body}");

    // An organiser's change on instance 0 is seen by the others within the bound.
    let resp = client
        .patch(api(&bases[0], &format!("/admin/campaigns/{DEMO}")))
        .bearer_auth(&organiser)
        .json(&json!({"title": "长征永远在路上 · 全校"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status(), 200);
    for base in &bases[1..] {
        within(BOUND * 2, "the new title on another instance", || async {
            let c: Value = client
                .get(api(base, &format!("/campaigns/{DEMO}")))
                .send()
                .await
                .expect("campaign")
                .json()
                .await
                .expect("JSON");
            c["title"] == "长征永远在路上 · 全校"
        })
        .await;
    }

    drop(proxy.0.take().map(|mut p| p.kill()));
    drop(guards);
    drop(db.close().await);
    drop(database);
}

/// An admin organiser created in the shared database, logged in through the proxy.
async fn organiser_token(client: &Client, url: &str, front: &str) -> String {
    let db = sea_orm::Database::connect(url).await.expect("connect");
    longmarch::services::identity::organiser_accounts::create(&db, "inst-admin", "password123", "admin")
        .await
        .expect("organiser");
    drop(db.close().await);
    let (status, body, _) = post(
        client,
        format!("{front}/api/v1/auth/organiser"),
        None,
        json!({"username": "inst-admin", "password": "password123"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_owned()
}
