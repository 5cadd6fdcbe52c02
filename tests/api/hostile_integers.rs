//! No request can take a worker down: hostile integers in every documented integer parameter
//! answer 4xx while other requests are in flight on the same one-worker server, and a panic
//! inside a handler answers 500 for that request alone.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{App, HttpResponse, HttpServer, middleware, web};
use serde_json::{Value, json};

use crate::{
    helpers::{DEMO, TestDatabase},
    shutdown::{free_port, send_signal, serve_logged},
};

/// Beyond `i64`, beyond `u64`, negative, a float and a number too long for any integer.
const HOSTILE: [&str; 5] = [
    "9223372036854775808",
    "18446744073709551616",
    "-1",
    "1e30",
    "99999999999999999999",
];

/// Every operation of the served spec with an integer parameter, as (method, path template,
/// parameter name, where it goes).
fn integer_parameters(spec: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let ty = &p["schema"]["type"];
                let integer = ty == "integer" || ty.as_array().is_some_and(|t| t.iter().any(|t| t == "integer"));
                if integer {
                    out.push((
                        method.to_uppercase(),
                        path.clone(),
                        p["name"].as_str().expect("name").to_owned(),
                        p["in"].as_str().expect("in").to_owned(),
                    ));
                }
            }
        }
    }
    out
}

/// The path with `name` set to `value` and every other parameter to a real object.
fn fill(template: &str, name: &str, value: &str) -> String {
    let mut path = template.to_owned();
    for (param, real) in [("slug", DEMO), ("id", "1"), ("seq", "1"), ("username", "nobody")] {
        let real = if param == name { value } else { real };
        path = path.replace(&format!("{{{param}}}"), real);
    }
    path
}

#[tokio::test]
async fn hostile_integers_in_every_integer_parameter_answer_4xx_and_drop_no_other_request() {
    let (database, url) = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("server.log");
    // One worker: every request below shares it, as the requests of a real worker do.
    let (mut guard, base, client) = serve_logged(&url, &log_path, &[("LONGMARCH__SERVER__WORKERS", "1")]).await;

    let db = sea_orm::Database::connect(&url).await.expect("connect");
    longmarch::services::identity::organiser_accounts::create(&db, "fuzz-admin", "password123", "admin")
        .await
        .expect("organiser");
    drop(db.close().await);
    let login = |path: &'static str, body: Value| {
        let req = client.post(format!("{base}/api/v1{path}")).json(&body);
        async move {
            let body: Value = req.send().await.expect("login").json().await.expect("JSON");
            body["token"].as_str().expect("token").to_owned()
        }
    };
    let admin = login(
        "/auth/organiser",
        json!({"username": "fuzz-admin", "password": "password123"}),
    )
    .await;
    let student = login("/auth/dev", json!({"openid": "o_fuzz"})).await;
    let resp = client
        .post(format!("{base}/api/v1/campaigns/{DEMO}/join"))
        .bearer_auth(&student)
        .json(&json!({"join_code": "DEMO01", "display_name": "测试"}))
        .send()
        .await
        .expect("join");
    assert_eq!(resp.status(), 200);

    // Other requests in flight for the whole run, on the same worker.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut bystanders = Vec::new();
    for _ in 0..4 {
        let (client, base, token, stop, served) = (
            client.clone(),
            base.clone(),
            student.clone(),
            stop.clone(),
            served.clone(),
        );
        bystanders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let resp = client
                    .get(format!("{base}/api/v1/campaigns/{DEMO}/me/progress"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("a request in flight beside the hostile ones was dropped");
                assert_eq!(resp.status(), 200);
                resp.bytes().await.expect("its body was cut off");
                served.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let spec: Value = client
        .get(format!("{base}/api-docs/openapi.json"))
        .send()
        .await
        .expect("spec")
        .json()
        .await
        .expect("JSON");
    let params = integer_parameters(&spec);
    for expected in [
        ("GET", "/api/v1/campaigns", "offset"),
        ("GET", "/api/v1/admin/campaigns", "limit"),
        ("GET", "/api/v1/admin/campaigns/{slug}/flags", "offset"),
        ("GET", "/api/v1/admin/routes", "offset"),
        ("GET", "/api/v1/campaigns/{slug}/leaderboards/participants", "offset"),
    ] {
        assert!(
            params
                .iter()
                .any(|(m, p, n, _)| (m.as_str(), p.as_str(), n.as_str()) == expected),
            "the spec documents {expected:?} as an integer: {params:?}"
        );
    }
    let mut sent = 0;
    for (method, template, name, place) in &params {
        for value in HOSTILE {
            let mut path = fill(template, name, value);
            if place == "query" {
                path = format!("{path}?{name}={value}");
            }
            for token in [&admin, &student] {
                let resp = client
                    .request(method.parse().expect("method"), format!("{base}{path}"))
                    .bearer_auth(token)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{method} {path}: the connection was dropped: {e}"));
                let status = resp.status().as_u16();
                let body = resp.text().await.expect("body");
                assert!((400..500).contains(&status), "{method} {path} → {status}: {body}");
                sent += 1;
            }
        }
    }
    assert!(sent >= 100, "only {sent} hostile requests were sent");

    stop.store(true, Ordering::Relaxed);
    for b in bystanders {
        b.await.expect("a bystander failed");
    }
    assert!(served.load(Ordering::Relaxed) > 0, "the bystanders were served");

    send_signal(guard.child(), "TERM");
    drop(guard.0.take().expect("child").wait());
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(!log.contains("panicked"), "{log}");
    drop(database);
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_the_requests_beside_it_carry_on() {
    let port = free_port();
    let server = HttpServer::new(|| {
        App::new()
            .wrap(middleware::from_fn(longmarch::http::panic::catch_panic))
            .route(
                "/slow",
                web::get().to(|| async {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    HttpResponse::Ok().body("slow and fine")
                }),
            )
            .route(
                "/boom",
                web::get().to(|| async {
                    if std::hint::black_box(true) {
                        panic!("deliberate panic in a handler");
                    }
                    HttpResponse::Ok().finish()
                }),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .expect("bind")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let client = crate::helpers::client();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..50 {
        if client.get(format!("{base}/nothing")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let slow = tokio::spawn({
        let (client, base) = (client.clone(), base.clone());
        async move { client.get(format!("{base}/slow")).send().await?.text().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..5 {
        let resp = client
            .get(format!("{base}/boom"))
            .send()
            .await
            .expect("answered, not dropped");
        assert_eq!(resp.status(), 500);
        assert_eq!(
            resp.headers()["content-type"].to_str().expect("ascii"),
            "application/problem+json"
        );
        let body: Value = resp.json().await.expect("JSON");
        assert_eq!(body["code"], "internal_error");
        assert!(
            !body.to_string().contains("deliberate"),
            "no panic message in the body: {body}"
        );
    }
    assert_eq!(slow.await.expect("task").expect("slow request"), "slow and fine");
    let resp = client.get(format!("{base}/slow")).send().await.expect("worker alive");
    assert_eq!(resp.status(), 200);
    handle.stop(true).await;
}
