//! Set-up shared by the admin tests: organisers, campaigns, participants, CSV posts.

use chrono::Duration;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, dev_login, json, today};

/// A campaign body running from 10 days ago to 20 days ahead.
pub fn campaign_body(slug: &str, mode: &str) -> Value {
    json!({
        "slug": slug,
        "title": format!("Campaign {slug}"),
        "starts_on": (today() - Duration::days(10)).to_string(),
        "ends_on": (today() + Duration::days(20)).to_string(),
        "progress_mode": mode,
        "steps_per_km": 1000,
        "step_sources": ["werun", "manual", "import"],
    })
}

/// Creates a campaign and answers its JSON.
pub async fn create_campaign(app: &TestApp, token: &str, slug: &str, mode: &str) -> Value {
    let resp = app
        .post_auth("/api/v1/admin/campaigns", token, &campaign_body(slug, mode))
        .await;
    assert_eq!(resp.status(), 201, "create campaign");
    json(resp).await
}

/// Creates and activates a campaign.
pub async fn active_campaign(app: &TestApp, token: &str, slug: &str, mode: &str) -> Value {
    create_campaign(app, token, slug, mode).await;
    let resp = app
        .post_auth(&format!("/api/v1/admin/campaigns/{slug}/activate"), token, &json!({}))
        .await;
    assert_eq!(resp.status(), 200, "activate");
    json(resp).await
}

/// Logs a participant in and joins `slug` (with an optional join code and student number).
pub async fn joined(app: &TestApp, slug: &str, openid: &str, code: Option<&str>, student_no: Option<&str>) -> String {
    let token = dev_login(app, openid).await;
    let mut body = json!({ "display_name": format!("P {openid}") });
    if let Some(c) = code {
        body["join_code"] = json!(c);
    }
    if let Some(s) = student_no {
        body["student_no"] = json!(s);
    }
    let resp = app
        .post_auth(&format!("/api/v1/campaigns/{slug}/join"), &token, &body)
        .await;
    assert_eq!(resp.status(), 200, "join: {}", resp.text().await.unwrap_or_default());
    token
}

/// Uploads manual steps `(days_ago, steps)`.
pub async fn upload(app: &TestApp, slug: &str, token: &str, days: &[(i64, i64)]) -> Response {
    let days: Vec<Value> = days
        .iter()
        .map(|(ago, steps)| json!({ "date": (today() - Duration::days(*ago)).to_string(), "steps": steps }))
        .collect();
    app.post_auth(
        &format!("/api/v1/campaigns/{slug}/steps"),
        token,
        &json!({ "days": days }),
    )
    .await
}

/// The caller's progress.
pub async fn progress(app: &TestApp, slug: &str, token: &str) -> Value {
    let resp = app
        .get_auth(&format!("/api/v1/campaigns/{slug}/me/progress"), token)
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

/// POSTs a CSV body.
pub async fn post_csv(app: &TestApp, path: &str, token: &str, body: impl Into<reqwest::Body>) -> Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("request")
}

/// PUT without a body.
pub async fn put(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// DELETE.
pub async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}
