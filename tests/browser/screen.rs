//! The big screen, opened from a board-token link as the console gives it: it follows
//! uploads live, fits a 1920×1080 and a 1280×720 projector, and rides out a server restart.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    driver::Browser,
    helpers::{DEMO, TestApp, TestDatabase, json as body, organiser_token, spawn_app},
    participant, upload,
};

/// The screen link of the demo campaign, with a fresh board token.
async fn screen_link(app: &TestApp, organiser: &str) -> String {
    let resp = app
        .post_auth(
            &format!("/api/v1/admin/campaigns/{DEMO}/board-token"),
            organiser,
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let token = body(resp).await["token"].as_str().expect("token").to_owned();
    app.url(&format!("/screen/{DEMO}?access_token={token}"))
}

/// Waits at most `limit` for `script` to return something truthy.
async fn within(b: &Browser, limit: Duration, what: &str, script: &str) -> Value {
    b.wait_for(what, script, json!([]), limit).await
}

/// Makes the page itself (the viewport) `width`×`height`, and waits until it says so.
async fn set_viewport(b: &Browser, width: u32, height: u32) {
    b.resize(width, height).await;
    b.set_viewport(width, height).await;
    within(
        b,
        Duration::from_secs(5),
        &format!("a {width}×{height} viewport"),
        &format!("return window.innerWidth === {width} && window.innerHeight === {height};"),
    )
    .await;
}

/// Everything on the page that sticks out of the viewport or out of its own box, as
/// descriptions (empty when the layout fits).
const OVERFLOWS: &str = r"
const out = [];
const W = window.innerWidth, H = window.innerHeight;
if (document.documentElement.scrollWidth > W || document.documentElement.scrollHeight > H) {
  out.push(`page scrolls: ${document.documentElement.scrollWidth}x${document.documentElement.scrollHeight}`);
}
for (const e of document.querySelectorAll('#screen *')) {
  if (e.closest('svg') && e.tagName.toLowerCase() !== 'svg') continue;
  const r = e.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1) {
    out.push(`${e.tagName}#${e.id}.${e.className} at ${Math.round(r.left)},${Math.round(r.top)},${Math.round(r.right)},${Math.round(r.bottom)}`);
  }
}
for (const e of document.querySelectorAll('.board, .figure, .top, .ticker, .side')) {
  if (e.scrollHeight > e.clientHeight + 1) out.push(`${e.className} overflows: ${e.scrollHeight} > ${e.clientHeight}`);
}
for (const li of document.querySelectorAll('.rows li')) {
  const board = li.closest('.board').getBoundingClientRect();
  const r = li.getBoundingClientRect();
  if (r.bottom > board.bottom + 1) out.push(`row ${li.innerText} below its board`);
}
return out;
";

#[tokio::test]
async fn the_big_screen_follows_uploads_within_two_seconds_and_fits_both_projector_sizes() {
    let app = spawn_app().await;
    let Some(b) = Browser::launch().await else { return };
    let admin = organiser_token(&app, "alice", "admin").await;
    let classes = ["DEMO01", "DEMO02", "DEMO03", "DEMO04"];
    let names = [
        "赵一",
        "钱二",
        "孙三",
        "李四",
        "周五",
        "吴六",
        "郑七",
        "王八",
        "冯九",
        "陈十",
        "褚十一",
        "卫十二",
    ];
    let mut walkers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let token = participant(&app, DEMO, &format!("o-{i}"), name, classes[i % 4]).await;
        walkers.push(token);
    }
    set_viewport(&b, 1920, 1080).await;
    b.goto(&screen_link(&app, &admin).await).await;
    within(
        &b,
        Duration::from_secs(10),
        "the route, the classes and the live stream",
        "return document.querySelectorAll('#map circle.station').length === 36
            && document.querySelectorAll('#top-cohorts li[data-key]').length === 4
            && document.getElementById('reconnecting').hidden
            && document.getElementById('total-km').innerText === '0';",
    )
    .await;
    let href = b.script("return location.href;", json!([])).await;
    assert!(
        !href.as_str().unwrap_or_default().contains("access_token"),
        "the token left the address bar: {href}"
    );
    assert!(
        b.text("#countdown").await.contains('天'),
        "{}",
        b.text("#countdown").await
    );
    b.screenshot("screen-1920x1080-start").await;

    // One upload: 9,000 steps at 18 steps a km are 500 km, a third of it for 软件2301 (three
    // members, cohort_mean).
    let sent = Instant::now();
    upload(&app, DEMO, &walkers[0], 9_000).await;
    within(
        &b,
        Duration::from_secs(2),
        "the unlock in the ticker",
        "return document.getElementById('ticker').innerText.includes('软件2301 到达 瑞金出发');",
    )
    .await;
    within(
        &b,
        Duration::from_secs(2),
        "the class's marker at 166 km and the new figures",
        "const m = [...document.querySelectorAll('#map g.marker')].find(g => g.textContent === '软件2301');
         return m && m.dataset.metres === '166666'
            && document.getElementById('total-km').innerText === '500'
            && document.querySelector('#top-participants li').innerText.includes('赵一')
            && document.querySelector('#top-cohorts li').innerText.includes('软件2301');",
    )
    .await;
    assert!(sent.elapsed() < Duration::from_secs(2), "took {:?}", sent.elapsed());

    // The rest walk different distances, so both boards fill and the markers spread out.
    for (i, token) in walkers.iter().enumerate().skip(1) {
        let steps = 4_000 + 7_000 * i64::try_from(i).expect("small");
        upload(&app, DEMO, token, steps.min(50_000)).await;
    }
    within(
        &b,
        Duration::from_secs(3),
        "ten participants on the board",
        "return document.querySelectorAll('#top-participants li[data-key]').length === 10;",
    )
    .await;
    within(
        &b,
        Duration::from_secs(3),
        "the walked part of the route",
        "return document.querySelector('#map .route-walked').getAttribute('points').split(' ').length > 5;",
    )
    .await;
    // Let the markers finish their move before the picture.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fits = b.script(OVERFLOWS, json!([])).await;
    assert_eq!(fits, json!([]), "at 1920×1080");
    b.screenshot("screen-1920x1080").await;

    set_viewport(&b, 1280, 720).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fits = b.script(OVERFLOWS, json!([])).await;
    assert_eq!(fits, json!([]), "at 1280×720");
    b.screenshot("screen-1280x720").await;
    b.assert_no_js_errors().await;
}

#[tokio::test]
async fn a_screen_opened_without_its_token_says_how_to_open_it() {
    let app = spawn_app().await;
    let Some(b) = Browser::launch().await else { return };
    b.goto(&app.url(&format!("/screen/{DEMO}"))).await;
    b.wait_text("#fatal", "大屏链接").await;
    b.goto(&app.url(&format!("/screen/{DEMO}?access_token=forged"))).await;
    b.wait_text("#fatal", "令牌无效").await;
    b.assert_no_js_errors().await;
}

/// `longmarch serve` (the real binary) on `port` over `database_url`, once it is healthy.
async fn serve(database_url: &str, port: u16) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_longmarch"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LONGMARCH") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .env("LONGMARCH_ENV", "test")
        .env("LONGMARCH__DATABASE__URL", database_url)
        .env("LONGMARCH__SERVER__PORT", port.to_string())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn longmarch serve");
    let client = crate::helpers::client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await
            && resp.status() == 200
        {
            return child;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the server exited before it was healthy: {status}");
        }
        assert!(Instant::now() < deadline, "the server did not become healthy in 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the server when the test ends, however it ends.
struct Server(Option<Child>);

impl Server {
    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            drop(child.kill());
            drop(child.wait());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn the_big_screen_keeps_its_last_state_while_the_server_restarts() {
    let (database, url) = TestDatabase::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut server = Server(Some(serve(&url, port).await));
    let Some(b) = Browser::launch().await else { return };
    // A `TestApp` view of the running binary, for the request helpers.
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: crate::helpers::client(),
        db: sea_orm::Database::connect(&url).await.expect("connect"),
        settings: crate::helpers::test_settings(&url),
        database: TestDatabase::Shared,
    };
    let admin = organiser_token(&app, "alice", "admin").await;
    let walker = participant(&app, DEMO, "o-1", "赵一", "DEMO02").await;
    b.goto(&screen_link(&app, &admin).await).await;
    within(
        &b,
        Duration::from_secs(10),
        "the live screen",
        // The headline figures come from the stream's first `stats`: the stream is subscribed.
        // (The badge alone is hidden as soon as the campaign loads, before the stream opens,
        // and an unlock in that gap is not replayed to a stream opened without a last id.)
        "return document.querySelectorAll('#top-cohorts li[data-key]').length === 4
            && document.getElementById('reconnecting').hidden
            && document.getElementById('total-km').innerText === '0';",
    )
    .await;
    upload(&app, DEMO, &walker, 9_000).await;
    // The state the restart must keep: the 2 s bound itself is asserted by the test above;
    // here a stream opened a moment ago (its LISTEN on PostgreSQL) gets a little longer.
    within(
        &b,
        Duration::from_secs(5),
        "the upload on screen",
        "return document.getElementById('total-km').innerText === '500'
            && document.getElementById('ticker').innerText.includes('网络2302 到达');",
    )
    .await;

    server.stop();
    within(
        &b,
        Duration::from_secs(10),
        "the reconnecting badge",
        "return !document.getElementById('reconnecting').hidden;",
    )
    .await;
    let kept = b
        .script(
            "return [document.getElementById('total-km').innerText,
                     document.getElementById('ticker').innerText.includes('网络2302 到达'),
                     document.querySelectorAll('#map g.marker').length,
                     document.getElementById('fatal').hidden];",
            json!([]),
        )
        .await;
    assert_eq!(kept, json!(["500", true, 4, true]), "the last state stays on screen");
    b.screenshot("screen-reconnecting").await;

    server = Server(Some(serve(&url, port).await));
    within(
        &b,
        Duration::from_secs(30),
        "the screen to reconnect by itself",
        "return document.getElementById('reconnecting').hidden;",
    )
    .await;
    upload(&app, DEMO, &walker, 18_000).await;
    within(
        &b,
        Duration::from_secs(2),
        "the next upload after the restart",
        "return document.getElementById('total-km').innerText === '1,000';",
    )
    .await;
    b.assert_no_js_errors().await;
    drop(app);
    server.stop();
    drop(database);
}
