//! A small W3C WebDriver client for the browser tests: starts `chromedriver` on a free port,
//! opens headless Chromium in a fresh profile at 1920×1080, and offers what a test needs —
//! navigate, find, click, type, read, wait, run a script, screenshot — plus the browser's
//! console log, so a test fails on any JavaScript error.
//!
//! When Chromium or chromedriver is missing the tests skip (and say so), unless `CI` is set:
//! then they fail, so CI can't pass without running them.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C WebDriver uses for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser at a time: a Chromium per test in parallel would starve a small machine and
/// make the timing assertions meaningless.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where screenshots go: `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    target.join("screenshots")
}

impl Browser {
    /// A fresh browser, or `None` (after saying so) when Chromium isn't installed and `CI`
    /// is not set.
    pub async fn launch() -> Option<Self> {
        let chromium = find_program("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
        let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "browser tests cannot run: chromium/chromedriver not found and CI is set"
            );
            eprintln!("browser tests SKIPPED: chromium/chromedriver not found");
            return None;
        };
        let turn = TURN.lock().await;
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let base = format!("http://127.0.0.1:{port}");
        let http = crate::helpers::client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(resp) = ready
                && let Ok(body) = resp.json::<Value>().await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1920,1080".to_owned(),
            "--lang=zh-CN".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {resp}"))
            .to_owned();
        let browser = Self {
            http,
            session,
            base,
            driver,
            _profile: profile,
            _turn: turn,
        };
        // The window size includes the browser's own frame: fix the page's viewport itself.
        browser
            .post(
                "/goog/cdp/execute",
                json!({ "cmd": "Emulation.setDeviceMetricsOverride",
                        "params": { "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false } }),
            )
            .await;
        Some(browser)
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "webdriver {path}: {status} {body}");
        body["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    /// Opens a URL and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Polls until `script` returns something truthy, returning it; fails after `timeout`.
    pub async fn wait_for(&self, what: &str, script: &str, args: Value, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.script(script, args.clone()).await;
            let truthy = !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                self.screenshot("failure").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what}; page says: {}",
                    self.text("body").await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element `css` is shown and its text contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); \
             return e && e.getClientRects().length > 0 && e.innerText.includes(arguments[1]) ? e.innerText : null;";
        let v = self
            .wait_for(
                &format!("`{needle}` in {css}"),
                script,
                json!([css, needle]),
                Duration::from_secs(10),
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The visible text of the first element matching `css` ("" when there is none).
    pub async fn text(&self, css: &str) -> String {
        let v = self
            .script(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                json!([css]),
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching `css`, waiting up to 10 s for it to be shown.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let script =
            "const e = document.querySelector(arguments[0]); return e && e.getClientRects().length > 0 ? e : null;";
        let v = self
            .wait_for(&format!("element {css}"), script, json!([css]), Duration::from_secs(10))
            .await;
        let id = v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("not an element: {v}"))
            .to_owned();
        Element { browser: self, id }
    }

    /// Clicks the first shown element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await;
    }

    /// Replaces the value of the input matching `css` with `text`, as typed.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await;
        e.send_keys(text).await;
    }

    /// Waits until the `.value` of the dashboard tile `css` reads exactly `expected`.
    pub async fn wait_tile(&self, css: &str, expected: &str) {
        let script =
            "const v = document.querySelector(arguments[0] + ' .value'); return v && v.innerText === arguments[1];";
        self.wait_for(
            &format!("{css} to read {expected}"),
            script,
            json!([css, expected]),
            Duration::from_secs(10),
        )
        .await;
    }

    /// Resizes the browser window (in headless Chromium, the viewport) to `width`×`height`.
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    /// Makes the page's viewport exactly `width`×`height` CSS pixels at scale 1, through the
    /// DevTools protocol: unlike a window resize, it takes effect before the call returns
    /// and does not depend on the size of the browser's own frame.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.post(
            "/goog/cdp/execute",
            json!({
                "cmd": "Emulation.setDeviceMetricsOverride",
                "params": { "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false },
            }),
        )
        .await;
    }

    /// Saves a PNG of the viewport as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The browser console's entries since the last call.
    pub async fn console_log(&self) -> Vec<Value> {
        let v = self.post("/se/log", json!({ "type": "browser" })).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Fails on any JavaScript error (uncaught exception, rejected promise, `console.error`,
    /// CSP violation) logged since the last call. Failed HTTP answers are logged by Chromium
    /// too, under the `network` source: a 422 the page shows to the user is not a script error.
    pub async fn assert_no_js_errors(&self) {
        let errors: Vec<String> = self
            .console_log()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE" && e["source"] != "network")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(
            errors.is_empty(),
            "JavaScript errors in the browser console: {errors:#?}"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session quits Chromium; then chromedriver (our child) is stopped.
        let url = format!("{}/session/{}", self.base, self.session);
        let quit = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(async {
                    let client = crate::helpers::client();
                    drop(client.delete(&url).timeout(Duration::from_secs(10)).send().await);
                });
            }
        });
        drop(quit.join());
        drop(self.driver.kill());
        drop(self.driver.wait());
    }
}

/// An element found on the page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    pub async fn click(&self) {
        self.browser
            .post(&format!("/element/{}/click", self.id), json!({}))
            .await;
    }

    pub async fn clear(&self) {
        self.browser
            .post(&format!("/element/{}/clear", self.id), json!({}))
            .await;
    }

    /// Types `text`; on a file input, `text` is the path of the file to choose.
    pub async fn send_keys(&self, text: &str) {
        self.browser
            .post(&format!("/element/{}/value", self.id), json!({ "text": text }))
            .await;
    }
}
