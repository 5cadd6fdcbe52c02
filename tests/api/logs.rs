//! What the running server writes to its log, read from the real binary's output.

use std::time::Duration;

use serde_json::json;

use crate::shutdown::{send_signal, serve};

#[tokio::test]
async fn a_token_sent_in_the_events_query_string_never_reaches_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut guard, base, client) = serve(&dir.path().join("logs.db")).await;

    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/dev"))
        .json(&json!({ "openid": "o_logged" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("JSON");
    let token = login["token"].as_str().expect("token").to_owned();
    let events = format!("{base}/api/v1/campaigns/long-march-demo/events");
    // A participant's valid token (403) and a forged one (401): both answers are logged.
    let resp = client
        .get(format!("{events}?last_event_id=x&access_token={token}"))
        .send()
        .await
        .expect("events");
    assert_eq!(
        resp.status(),
        403,
        "the query token was read: a participant may not watch"
    );
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged-signature-value";
    let resp = client
        .get(format!("{events}?access_token={forged}"))
        .send()
        .await
        .expect("events");
    assert_eq!(resp.status(), 401);

    send_signal(guard.child(), "TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = guard.0.take().expect("child").wait_with_output().expect("output");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains("/api/v1/campaigns/long-march-demo/events"),
        "the requests were logged: {log}"
    );
    assert!(log.contains("last_event_id=x"), "the rest of the query is kept: {log}");
    assert!(!log.contains(&token), "a valid token leaked into the log");
    assert!(!log.contains(forged), "a forged token leaked into the log");
    assert!(!log.contains("access_token"), "{log}");
}

/// `longmarch serve` over a SQLite file with JSON logs at `level`, WeChat at `wechat_base`.
/// Its output goes to `log_path`: at trace level a pipe read only at the end would fill up
/// and block the server. Answers once it is healthy.
async fn serve_at(
    db_path: &std::path::Path,
    log_path: &std::path::Path,
    level: &str,
    wechat_base: &str,
) -> (crate::shutdown::Guard, String) {
    use crate::shutdown::{Guard, free_port, longmarch_command, wait_until_healthy};
    let port = free_port();
    let log = std::fs::File::create(log_path).expect("log file");
    let child = longmarch_command()
        .env("LONGMARCH_ENV", "test")
        .env("LONGMARCH__DATABASE__URL", format!("sqlite://{}", db_path.display()))
        .env("LONGMARCH__SERVER__PORT", port.to_string())
        .env("LONGMARCH__LOG__LEVEL", level)
        .env("LONGMARCH__LOG__FORMAT", "json")
        .env("LONGMARCH__WECHAT__API_BASE", wechat_base)
        .arg("serve")
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("spawn longmarch serve");
    let mut guard = Guard(Some(child));
    let base = format!("http://127.0.0.1:{port}");
    wait_until_healthy(&crate::helpers::client(), &format!("{base}/healthz"), guard.child()).await;
    (guard, base)
}

/// Runs the login and WeRun flows against a server logging at `level`; returns its whole
/// output and the secrets that went through it.
async fn flows_logged_at(level: &str) -> (String, Vec<String>) {
    use crate::{steps::werun_payload, wechat_mock};
    let mock = wechat_mock::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("secrets.db");
    let log_path = dir.path().join("server.log");
    let (mut guard, base) = serve_at(&db_path, &log_path, level, &mock.base).await;
    let client = crate::helpers::client();
    let password = "Correct-Horse-Battery-7";
    let wrong_password = "Wrong-Staple-Guess-8";
    let db = sea_orm::Database::connect(format!("sqlite://{}", db_path.display()))
        .await
        .expect("connect");
    longmarch::services::identity::organiser_accounts::create(&db, "log-admin", password, "admin")
        .await
        .expect("organiser");
    drop(db.close().await);
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let get = |path: &str, token: &str| client.get(format!("{base}{path}")).bearer_auth(token.to_owned()).send();

    let (status, admin) = post(
        "/api/v1/auth/organiser",
        None,
        json!({"username": "log-admin", "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{admin}");
    let admin = admin["token"].as_str().expect("token").to_owned();
    let (status, _) = post(
        "/api/v1/auth/organiser",
        None,
        json!({"username": "log-admin", "password": wrong_password}),
    )
    .await;
    assert_eq!(status, 401);
    let openid = "o_SecretOpenid4242";
    let code = format!("ok-{openid}");
    let (status, login) = post("/api/v1/auth/wechat", None, json!({"code": code})).await;
    assert_eq!(status, 200, "{login}");
    let participant = login["token"].as_str().expect("token").to_owned();
    for bad in ["invalid", "used", "garbage"] {
        let (status, _) = post("/api/v1/auth/wechat", None, json!({"code": bad})).await;
        assert!((400..600).contains(&status) && status != 500, "{bad}: {status}");
    }
    let dev_openid = "o_DevSecretOpenid77";
    let (status, dev) = post("/api/v1/auth/dev", None, json!({"openid": dev_openid})).await;
    assert_eq!(status, 200);
    let dev = dev["token"].as_str().expect("token").to_owned();

    let (status, _) = post(
        "/api/v1/campaigns/long-march-demo/join",
        Some(&participant),
        json!({"join_code": "DEMO01", "student_no": "SN-LOG-1"}),
    )
    .await;
    assert_eq!(status, 200);
    let now = chrono::Utc::now().timestamp();
    let payload = werun_payload(&[(now - 3600, 4321)], wechat_mock::APPID, now);
    let werun = "/api/v1/campaigns/long-march-demo/steps/werun";
    let (status, answer) = post(werun, Some(&participant), payload.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let mut tampered = payload.clone();
    tampered["iv"] = json!("AAAAAAAAAAAAAAAAAAAAAA==");
    assert_eq!(post(werun, Some(&participant), tampered).await.0, 422);
    let stale = werun_payload(&[(now - 3600, 1)], wechat_mock::APPID, now - 10 * 86_400);
    assert_eq!(post(werun, Some(&participant), stale).await.0, 422);
    // The dev participant has no session key; the admin is the wrong kind of caller.
    assert_eq!(post(werun, Some(&dev), payload.clone()).await.0, 422);
    assert_eq!(post(werun, Some(&admin), payload).await.0, 403);
    for (path, token) in [
        ("/api/v1/me", participant.as_str()),
        ("/api/v1/me", dev.as_str()),
        ("/api/v1/admin/campaigns", admin.as_str()),
        (
            "/api/v1/admin/campaigns/long-march-demo/export/participants.csv",
            admin.as_str(),
        ),
    ] {
        assert_eq!(get(path, token).await.expect("get").status(), 200, "{path}");
    }
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3Iiwicm9sZSI6ImFkbWluIn0.Zm9yZ2VkLXNpZ25hdHVyZQ";
    assert_eq!(get("/api/v1/me", forged).await.expect("get").status(), 401);

    send_signal(guard.child(), "TERM");
    guard.0.take().expect("child").wait().expect("exit");
    let log = std::fs::read_to_string(&log_path).expect("log");
    use base64::Engine as _;
    let secrets = vec![
        admin,
        participant,
        dev,
        forged.to_owned(),
        password.to_owned(),
        wrong_password.to_owned(),
        code,
        openid.to_owned(),
        dev_openid.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(wechat_mock::SESSION_KEY),
        String::from_utf8_lossy(&wechat_mock::SESSION_KEY).into_owned(),
        wechat_mock::SECRET.to_owned(),
    ];
    (log, secrets)
}

#[tokio::test]
async fn no_token_password_session_key_code_or_openid_is_logged_at_any_level() {
    // Our crate at its most verbose, and every crate at its most verbose.
    for level in ["info", "longmarch=trace,tracing_actix_web=trace,info", "trace"] {
        let (log, secrets) = flows_logged_at(level).await;
        assert!(
            log.contains("/api/v1/auth/wechat") && log.contains("/steps/werun"),
            "at {level} the requests were logged: {log}"
        );
        assert!(log.contains("wechat login"), "at {level}: {log}");
        if level == "trace" {
            assert!(
                log.contains(r#""level":"TRACE""#),
                "at {level} trace lines were written"
            );
        }
        for line in log.lines() {
            for secret in &secrets {
                assert!(!line.contains(secret.as_str()), "at {level}, `{secret}` leaked: {line}");
            }
            // Any JWT at all (header `{"alg"…` and claims both start `eyJ`).
            let jwt = line
                .find("eyJ")
                .is_some_and(|i| line[i..].split('.').nth(1).is_some_and(|c| c.starts_with("eyJ")));
            assert!(!jwt, "at {level}, a JWT leaked: {line}");
        }
    }
}
