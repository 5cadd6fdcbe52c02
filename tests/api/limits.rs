//! Resource limits and rate limits (OWASP API4): body sizes, request and body timeouts, page
//! sizes, an exhausted pool, logins per client IP, uploads per participant and the organiser
//! lock-out. Each test sets small limits of its own; the `test` settings keep the login
//! limit out of reach of the other tests.

use std::time::{Duration, Instant};

use longmarch::{
    models::{participants, roster_entries, step_days},
    settings::Settings,
};
use reqwest::Response;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    admin_support::{create_campaign, post_csv},
    helpers::{
        DEMO, TestApp, assert_problem, dev_login, hold_upload_locks, json, organiser_token, organiser_token_issued,
        spawn_app_with,
    },
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

/// Sends `head`, then each chunk after its pause, on a raw connection, while reading the
/// answer, which must end with the server closing the connection. The sending side is never
/// shut, so the server sees a body that stalls, not one that ends. Answers the response and
/// how long it took to start arriving.
async fn raw_exchange(app: &TestApp, head: &str, chunks: &[(Duration, &[u8])]) -> (String, Duration) {
    let started = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(head.as_bytes()).await.expect("write head");
    let chunks: Vec<(Duration, Vec<u8>)> = chunks.iter().map(|(d, c)| (*d, c.to_vec())).collect();
    let writer = tokio::spawn(async move {
        for (pause, chunk) in chunks {
            tokio::time::sleep(pause).await;
            // Writes after the server gave up may fail; that is the point.
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        wr
    });
    let mut answer = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(20), rd.read(&mut answer))
        .await
        .expect("the server answers in bounded time")
        .expect("read");
    let elapsed = started.elapsed();
    answer.truncate(n);
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection after answering")
        .ok();
    answer.extend_from_slice(&rest);
    writer.abort();
    (String::from_utf8_lossy(&answer).into_owned(), elapsed)
}

fn problem_code(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<Value>(body).map_or(Value::Null, |v| v["code"].clone())
}

// ---- resource limits ----------------------------------------------------------------------

#[tokio::test]
async fn a_json_body_over_the_limit_answers_413_and_creates_nothing() {
    let app = spawn_app_with(|s| s.limits.json_body_bytes = 2048).await;
    let big = json!({ "openid": "o".repeat(4000) });
    let body = assert_problem(app.post_json("/api/v1/auth/dev", &big).await, 413, "body_too_large").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("2048"), "{body}");
    // Without a Content-Length (chunked), the limit is enforced while reading.
    let chunked = raw_exchange(
        &app,
        "POST /api/v1/auth/dev HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        &[(
            Duration::ZERO,
            format!("1000\r\n{}\r\n0\r\n\r\n", "x".repeat(4096)).as_bytes(),
        )],
    )
    .await
    .0;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert_eq!(problem_code(&chunked), "body_too_large");
    assert_eq!(participants::Entity::find().count(&app.db).await.expect("count"), 0);
    // The same request under the limit goes through.
    assert_eq!(dev_login_from(&app, "o_small", None).await.status(), 200);
}

fn roster(lines: usize) -> String {
    let mut csv = String::from("student_no,display_name,cohort_path\n");
    for i in 0..lines {
        csv.push_str(&format!("2023{i:04},Student {i},计算机学院/软件2301\n"));
    }
    csv
}

#[tokio::test]
async fn a_csv_import_over_the_limit_answers_413_and_stores_nothing() {
    let app = spawn_app_with(|s| s.limits.csv_body_bytes = 2048).await;
    let root = organiser_token(&app, "root", "admin").await;
    let path = format!("/api/v1/admin/campaigns/{DEMO}/roster/import");
    let too_big = roster(80);
    assert!(too_big.len() > 2048);
    let body = assert_problem(post_csv(&app, &path, &root, too_big).await, 413, "body_too_large").await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("2048"), "{body}");
    assert_eq!(roster_entries::Entity::find().count(&app.db).await.expect("count"), 0);
    // A file under the limit is imported.
    let resp = post_csv(&app, &path, &root, roster(10)).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    assert_eq!(roster_entries::Entity::find().count(&app.db).await.expect("count"), 10);
}

#[tokio::test]
async fn a_handler_slower_than_the_request_timeout_answers_408_and_leaves_nothing_half_written() {
    let app = spawn_app_with(|s| s.limits.request_timeout_secs = 1).await;
    let token = member(&app, "o_slow", "DEMO01").await;
    let (other, holder) = hold_upload_locks(&app).await;
    let started = Instant::now();
    let resp = upload_day(&app, &token, 0).await;
    let elapsed = started.elapsed();
    assert!(resp.headers().contains_key("x-request-id"), "{:?}", resp.headers());
    let body = assert_problem(resp, 408, "request_timeout").await;
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("1 seconds"),
        "{body}"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "answered after {elapsed:?}"
    );
    holder.rollback().await.expect("release the lock");
    drop(other.close().await);
    // The cancelled transaction was rolled back: no step day, no totals.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(step_days::Entity::find().count(&app.db).await.expect("count"), 0);
    assert_eq!(stored_days(&app, &token).await, 0);
    // And nothing is left stuck: the same upload now goes through.
    let resp = upload_day(&app, &token, 0).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    assert_eq!(stored_days(&app, &token).await, 1);
}

#[tokio::test]
async fn a_request_body_that_stops_arriving_answers_408_in_bounded_time() {
    let app = spawn_app_with(|s| {
        s.limits.request_timeout_secs = 30;
        s.limits.body_idle_timeout_secs = 1;
    })
    .await;
    // No `Connection: close`: the server must still hang up rather than wait for the rest.
    let head = "POST /api/v1/auth/dev HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n";
    let (answer, elapsed) = raw_exchange(&app, head, &[(Duration::ZERO, b"{\"openid\": \"o_st")]).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert_eq!(problem_code(&answer), "request_timeout");
    assert!(elapsed < Duration::from_secs(5), "answered after {elapsed:?}");
    assert_eq!(participants::Entity::find().count(&app.db).await.expect("count"), 0);
}

#[tokio::test]
async fn a_body_trickled_just_fast_enough_is_still_cut_by_the_request_timeout() {
    let app = spawn_app_with(|s| {
        s.limits.request_timeout_secs = 2;
        s.limits.body_idle_timeout_secs = 1;
    })
    .await;
    let head = "POST /api/v1/auth/dev HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                Content-Length: 40\r\nConnection: close\r\n\r\n";
    let drip: Vec<(Duration, &[u8])> = (0..20).map(|_| (Duration::from_millis(400), &b" "[..])).collect();
    let (answer, elapsed) = raw_exchange(&app, head, &drip).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(problem_code(&answer), "request_timeout");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(9),
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn imports_may_outlast_the_request_timeout_but_not_a_stalled_body() {
    let app = spawn_app_with(|s| {
        s.limits.request_timeout_secs = 1;
        s.limits.import_timeout_secs = 20;
        s.limits.body_idle_timeout_secs = 1;
    })
    .await;
    let root = organiser_token_issued(&app, "root", "admin").await;
    let csv = roster(6);
    let head = |len: usize| {
        format!(
            "POST /api/v1/admin/campaigns/{DEMO}/roster/import HTTP/1.1\r\nHost: t\r\n\
             Authorization: Bearer {root}\r\nContent-Type: text/csv\r\nContent-Length: {len}\r\n\
             Connection: close\r\n\r\n"
        )
    };
    // A file arriving steadily for about 2 seconds: longer than the request timeout, with
    // no pause as long as the idle timeout.
    let lines: Vec<&str> = csv.split_inclusive('\n').collect();
    let steady: Vec<(Duration, &[u8])> = lines
        .iter()
        .map(|l| (Duration::from_millis(300), l.as_bytes()))
        .collect();
    let (answer, elapsed) = raw_exchange(&app, &head(csv.len()), &steady).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(elapsed > Duration::from_millis(1500), "took {elapsed:?}");
    assert_eq!(roster_entries::Entity::find().count(&app.db).await.expect("count"), 6);
    // A file that stops half-way is cut after the idle timeout and imports nothing.
    let other = roster(8).replace("2023", "2024");
    let half = &other.as_bytes()[..other.len() / 2];
    let (answer, elapsed) = raw_exchange(&app, &head(other.len()), &[(Duration::ZERO, half)]).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(problem_code(&answer), "request_timeout");
    assert!(elapsed < Duration::from_secs(5), "answered after {elapsed:?}");
    assert_eq!(roster_entries::Entity::find().count(&app.db).await.expect("count"), 6);
}

#[tokio::test]
async fn a_page_size_over_the_cap_is_clamped_and_the_spec_says_so() {
    let app = spawn_app_with(|s| s.limits.max_page_size = 2).await;
    let root = organiser_token(&app, "root", "admin").await;
    for slug in ["c-one", "c-two", "c-three"] {
        create_campaign(&app, &root, slug, "individual").await;
    }
    let resp = app.get_auth("/api/v1/admin/campaigns?limit=50", &root).await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["total"], 4, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2), "{body}");
    let resp = app.get_auth("/api/v1/admin/campaigns?limit=2&offset=2", &root).await;
    assert_eq!(json(resp).await["items"].as_array().map(Vec::len), Some(2));

    let spec = json(app.get("/api-docs/openapi.json").await).await;
    let limit_doc = |path: &str| -> String {
        spec["paths"][path]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
            .and_then(|p| p["description"].as_str())
            .unwrap_or_else(|| panic!("{path} documents `limit`"))
            .to_owned()
    };
    for path in [
        "/api/v1/campaigns",
        "/api/v1/admin/campaigns",
        "/api/v1/admin/campaigns/{slug}/flags",
    ] {
        let doc = limit_doc(path);
        assert!(
            doc.contains("max_page_size") && doc.contains("clamped"),
            "{path}: {doc}"
        );
    }
    // Leaderboards refuse a page size over 100 instead; their documentation says that.
    let doc = limit_doc("/api/v1/campaigns/{slug}/leaderboards/participants");
    assert!(doc.contains("refused"), "{doc}");
    assert_problem(
        app.get_auth(
            &format!("/api/v1/campaigns/{DEMO}/leaderboards/participants?limit=101"),
            &root,
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_busy_with_retry_after_quickly() {
    // On PostgreSQL the live-events listener holds one connection of the pool for good.
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let app = spawn_app_with(|s| {
        s.database.max_connections = Some(if postgres { 2 } else { 1 });
        s.database.min_connections = 1;
        s.database.acquire_timeout_ms = 300;
    })
    .await;
    // `app.db` is the server's own pool: this transaction holds its only free connection.
    let held = app.db.begin().await.expect("begin");
    let started = Instant::now();
    let resp = app.get("/api/v1/campaigns").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
    assert_eq!(retry_after(&resp), 1);
    assert_problem(resp, 503, "busy").await;
    held.rollback().await.expect("release");
    assert_eq!(app.get("/api/v1/campaigns").await.status(), 200);
}

// ---- rate limits --------------------------------------------------------------------------

#[tokio::test]
async fn logins_from_one_address_are_limited_then_recover() {
    // A refill slow enough that a loaded machine still makes the burst in time.
    let app = spawn_app_with(|s| {
        s.limits.rate.login_burst = 3;
        s.limits.rate.login_refill_ms = 1500;
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
        s.limits.rate.login_burst = 2;
        s.limits.rate.login_refill_ms = 60_000;
        s.limits.rate.trusted_proxies = Vec::new();
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
        s.limits.rate.login_burst = 2;
        s.limits.rate.login_refill_ms = 60_000;
        s.limits.rate.trusted_proxies = vec!["127.0.0.1".to_owned(), "10.0.0.0/8".to_owned()];
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
        s.limits.rate.upload_burst = 2;
        s.limits.rate.upload_refill_ms = 1500;
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
        s.limits.rate.upload_burst = 0;
        s.limits.rate.upload_refill_ms = 0;
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
        s.limits.rate.organiser_max_failures = 3;
        s.limits.rate.organiser_failure_window_secs = 60;
        s.limits.rate.organiser_lockout_secs = 3;
    })
    .await;
    longmarch::services::identity::organiser_accounts::create(&app.db, "alice", "password123", "organiser")
        .await
        .expect("create alice");
    longmarch::services::identity::organiser_accounts::create(&app.db, "bob", "password123", "organiser")
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
        s.limits.rate.organiser_max_failures = 3;
        s.limits.rate.organiser_lockout_secs = 60;
    })
    .await;
    longmarch::services::identity::organiser_accounts::create(&app.db, "alice", "password123", "organiser")
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
async fn the_spec_documents_429_on_limited_endpoints_408_everywhere_and_503_on_the_api() {
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
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let doc = op["responses"]["408"]["description"].as_str().unwrap_or_default();
            assert!(doc.contains("request_timeout"), "{method} {path} documents 408");
            if path.starts_with("/api/v1/") {
                let doc = op["responses"]["503"]["description"].as_str().unwrap_or_default();
                assert!(doc.contains("busy"), "{method} {path} documents 503");
            }
        }
    }
    assert!(operations > 40, "{operations}");
}

#[tokio::test]
async fn a_participant_token_logged_in_before_the_limit_keeps_working() {
    // The login limit guards logins only: a token already issued is not refused.
    let app = spawn_app_with(|s| {
        s.limits.rate.login_burst = 1;
        s.limits.rate.login_refill_ms = 60_000;
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
        "[limits.rate]\ntrusted_proxies = \"10.0.0.0/8, 127.0.0.1 ,::1\"\n",
    )
    .expect("write");
    let settings = Settings::load_from(dir.path(), "test", false).expect("settings");
    assert_eq!(settings.limits.rate.trusted_proxies, ["10.0.0.0/8", "127.0.0.1", "::1"]);
    let defaults = Settings::load_from(dir.path(), "development", false).expect("settings");
    assert!(defaults.limits.rate.trusted_proxies.is_empty());
    assert_eq!(defaults.limits.rate.upload_burst, 30);
    assert_eq!(defaults.limits.rate.upload_refill_ms, 1000);
    assert_eq!(defaults.limits.request_timeout_secs, 30);
}

#[tokio::test]
async fn a_participants_reads_do_not_use_up_the_upload_quota() {
    let app = spawn_app_with(|s| {
        s.limits.rate.upload_burst = 1;
        s.limits.rate.upload_refill_ms = 60_000;
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
