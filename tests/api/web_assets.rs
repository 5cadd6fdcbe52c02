//! The embedded web pages: content types, security and cache headers, compression, ETags.

use std::io::Read;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn console_without_a_slash_redirects_into_its_folder() {
    let app = spawn_app().await;
    let client = longmarch::http_client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()["location"], "/console/");
}

#[tokio::test]
async fn console_page_is_html_with_a_strict_policy_and_versioned_assets() {
    let app = spawn_app().await;
    let resp = app.get("/console/").await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    let script = html
        .split("src=\"")
        .map(|s| s.split('"').next().unwrap_or_default())
        .find(|s| s.starts_with("js/app.js?v="))
        .expect("app.js referenced with its version");

    let resp = app.get(&format!("/console/{script}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(resp.headers()["cache-control"], "public, max-age=31536000, immutable");
    let js = resp.text().await.unwrap();
    let version = script.split("?v=").nth(1).unwrap();
    assert!(
        js.contains(&format!(".js?v={version}'")),
        "module imports carry the version"
    );

    let stale = app.get("/console/js/app.js?v=0000").await;
    assert_eq!(
        stale.headers()["cache-control"],
        "no-cache",
        "an unknown version is not cached"
    );
}

#[tokio::test]
async fn assets_are_compressed_as_the_client_accepts() {
    let app = spawn_app().await;
    let plain = app.get("/console/js/i18n.js").await.bytes().await.unwrap();
    let gz = app
        .client
        .get(app.url("/console/js/i18n.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    let packed = gz.bytes().await.unwrap();
    assert!(packed.len() < plain.len());
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain);

    let br = app
        .client
        .get(app.url("/console/js/i18n.js"))
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");
    let packed = br.bytes().await.unwrap();
    let mut unpacked = Vec::new();
    brotli::Decompressor::new(&packed[..], 4096)
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain);

    let refused = app
        .client
        .get(app.url("/console/js/i18n.js"))
        .header("accept-encoding", "br;q=0, gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn a_known_etag_is_answered_not_modified() {
    let app = spawn_app().await;
    let first = app.get("/console/").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url("/console/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.headers().contains_key("content-security-policy"));
    let other = app
        .client
        .get(app.url("/console/"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn an_unknown_console_file_is_a_problem_not_found() {
    let app = spawn_app().await;
    assert_problem(app.get("/console/nope.js").await, 404, "asset_not_found").await;
    assert_problem(app.get("/console/..%2fCargo.toml").await, 404, "asset_not_found").await;
}
