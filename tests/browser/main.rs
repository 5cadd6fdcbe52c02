//! Browser tests: the real server (in process, on its own database, SQLite or PostgreSQL as
//! for the API tests) driven through headless Chromium by chromedriver, as a person would
//! use it. Screenshots land in `target/screenshots/`. Without Chromium the tests print
//! "browser tests SKIPPED" and pass, unless `CI` is set.

#[path = "../api/helpers.rs"]
mod helpers;

mod console;
mod driver;
mod screen;

use serde_json::{Value, json};

use helpers::{TestApp, dev_login, json as body, today};

/// A participant logs in, joins `slug` with a class's code and gets a token.
async fn participant(app: &TestApp, slug: &str, openid: &str, name: &str, code: &str) -> String {
    let token = dev_login(app, openid).await;
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{slug}/join"),
            &token,
            &json!({ "join_code": code, "display_name": name }),
        )
        .await;
    assert!(resp.status().is_success(), "join: {}", body(resp).await);
    token
}

/// Uploads today's `steps` through the API; answers the upload's body.
async fn upload(app: &TestApp, slug: &str, token: &str, steps: i64) -> Value {
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{slug}/steps"),
            token,
            &json!({ "days": [{ "date": today().to_string(), "steps": steps }] }),
        )
        .await;
    assert_eq!(resp.status(), 200);
    body(resp).await
}
