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
