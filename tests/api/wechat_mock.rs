//! A local stand-in for WeChat's server API, speaking its exact wire format: JSON bodies
//! served as `text/plain`, `errcode`/`errmsg` on failure, no `errcode` (or 0) on success,
//! image bytes from `getwxacodeunlimit`. Answers `sns/jscode2session`,
//! `cgi-bin/stable_token`, `wxa/msg_sec_check`, `wxa/getwxacodeunlimit` and
//! `cgi-bin/message/subscribe/send`; [`Platform`] counts calls and switches errors on.

use std::{
    collections::{HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{App, HttpResponse, HttpServer, Route, web};
use serde::Deserialize;
use serde_json::{Value, json};

pub const APPID: &str = "wx4f4bc4dec97d474b";
pub const SECRET: &str = "wechat-app-secret";

/// The session key the mock hands out for every successful login (16 bytes, base64).
pub const SESSION_KEY: [u8; 16] = *b"longmarch-key-16";

pub struct WechatMock {
    pub base: String,
    pub calls: Arc<Mutex<Vec<String>>>,
    /// Counters and switches of the endpoints that take an access token.
    pub platform: Arc<Platform>,
}

/// A 1×1 greyscale PNG: what the mock draws for every 小程序码.
pub const PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b, 0x55, 0x00, 0x00, 0x00, 0x0a, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x48, 0xaf, 0xa4, 0x71, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// State of the access-token endpoints: like WeChat's normal mode, `stable_token` hands out
/// the current token until it expires (or an endpoint answered 42001 for it), then a new one.
#[derive(Default)]
pub struct Platform {
    /// `stable_token` calls answered.
    pub token_calls: AtomicUsize,
    /// Every token handed out; the last one is the only one the endpoints accept.
    pub tokens: Mutex<Vec<String>>,
    current_expired: AtomicBool,
    /// `expires_in` of new tokens; 0 means 7200.
    pub expires_in: AtomicU64,
    /// How long `stable_token` takes to answer, in milliseconds.
    pub token_delay_ms: AtomicU64,
    /// The next call of an endpoint with a token answers 42001 (expired) once.
    pub expire_next_call: AtomicBool,
    /// How long the other endpoints take to answer, in milliseconds (time-out tests).
    pub delay_ms: AtomicU64,
    /// Bodies of `msg_sec_check` calls.
    pub checks: Mutex<Vec<Value>>,
    /// `msg_sec_check` answers this errcode while set.
    pub check_errcode: Mutex<Option<i64>>,
    /// Bodies of `getwxacodeunlimit` calls.
    pub qrcodes: Mutex<Vec<Value>>,
    /// `getwxacodeunlimit` answers this errcode while set (41030, 45009, …).
    pub qrcode_errcode: Mutex<Option<i64>>,
    /// Bodies of `subscribe/send` calls.
    pub sends: Mutex<Vec<Value>>,
    /// Errcodes the next `subscribe/send` calls answer, in order.
    pub send_errcodes: Mutex<VecDeque<i64>>,
    /// Users who refused (or cancelled) the subscription: their sends answer 43101.
    pub refusing: Mutex<HashSet<String>>,
}

impl Platform {
    pub fn token_calls(&self) -> usize {
        self.token_calls.load(Ordering::SeqCst)
    }
    pub fn checks(&self) -> Vec<Value> {
        self.checks.lock().expect("lock").clone()
    }
    pub fn qrcodes(&self) -> Vec<Value> {
        self.qrcodes.lock().expect("lock").clone()
    }
    pub fn sends(&self) -> Vec<Value> {
        self.sends.lock().expect("lock").clone()
    }
    pub fn set_check_errcode(&self, code: Option<i64>) {
        *self.check_errcode.lock().expect("lock") = code;
    }
    pub fn set_qrcode_errcode(&self, code: Option<i64>) {
        *self.qrcode_errcode.lock().expect("lock") = code;
    }
    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The errcode for a call carrying `token`, if it is not the current, valid one.
    fn refuse_token(&self, token: Option<&str>) -> Option<i64> {
        let tokens = self.tokens.lock().expect("lock");
        if token.is_none() || tokens.last().map(String::as_str) != token {
            return Some(40001);
        }
        if self.expire_next_call.swap(false, Ordering::SeqCst) {
            self.current_expired.store(true, Ordering::SeqCst);
        }
        self.current_expired.load(Ordering::SeqCst).then_some(42001)
    }

    async fn delay(&self) {
        let ms = self.delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

#[derive(Deserialize)]
struct Query {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

fn text(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(body.to_string())
}

async fn code2session(q: web::Query<Query>, calls: web::Data<Arc<Mutex<Vec<String>>>>) -> HttpResponse {
    let code = q.js_code.clone().unwrap_or_default();
    calls.lock().expect("lock").push(code.clone());
    if q.appid.as_deref() != Some(APPID) || q.secret.as_deref() != Some(SECRET) {
        return text(json!({"errcode": 40013, "errmsg": "invalid appid"}));
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return text(json!({"errcode": 40002, "errmsg": "invalid grant_type"}));
    }
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(SESSION_KEY);
    match code.as_str() {
        "invalid" => text(json!({"errcode": 40029, "errmsg": "invalid code"})),
        "used" => text(json!({"errcode": 40163, "errmsg": "code been used"})),
        "ratelimit" => text(json!({"errcode": 45011, "errmsg": "api minute-quota reach limit"})),
        "blocked" => text(json!({"errcode": 40226, "errmsg": "high risk user"})),
        "busy" => text(json!({"errcode": -1, "errmsg": "system error"})),
        "garbage" => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html>gateway</html>"),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            text(json!({"openid": "o_slow", "session_key": key}))
        }
        other => {
            // `ok-<openid>` logs in as <openid>; an explicit errcode 0 is also success.
            let openid = other.strip_prefix("ok-").unwrap_or(other);
            text(
                json!({"openid": openid, "session_key": key, "unionid": format!("u_{openid}"), "errcode": 0, "errmsg": "ok"}),
            )
        }
    }
}

fn errcode(code: i64, errmsg: &str) -> HttpResponse {
    text(json!({"errcode": code, "errmsg": format!("{errmsg} rid: 6650f2a1-0b1c2d3e-4f5a6b7c")}))
}

async fn stable_token(body: web::Bytes, platform: web::Data<Arc<Platform>>) -> HttpResponse {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return errcode(47001, "data format error");
    };
    let delay = platform.token_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    platform.token_calls.fetch_add(1, Ordering::SeqCst);
    if body["grant_type"] != "client_credential" {
        return errcode(40002, "invalid grant_type");
    }
    if body["appid"] != APPID || body["secret"] != SECRET {
        return errcode(40013, "invalid appid");
    }
    if body.get("force_refresh").is_some_and(|f| f != false) {
        return errcode(40097, "the mock expects normal mode (force_refresh: false)");
    }
    let mut tokens = platform.tokens.lock().expect("lock");
    if tokens.is_empty() || platform.current_expired.swap(false, Ordering::SeqCst) {
        let n = tokens.len() + 1;
        tokens.push(format!("ACCESS_TOKEN_{n}_{:08x}", rand::random::<u32>()));
    }
    let expires_in = match platform.expires_in.load(Ordering::SeqCst) {
        0 => 7200,
        n => n,
    };
    text(json!({"access_token": tokens.last(), "expires_in": expires_in}))
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

/// Serves an endpoint that takes an access token the way WeChat does: after `delay_ms`, a
/// missing, stale or expired token is refused before the body is looked at; otherwise the
/// body is recorded in the platform's `log` and `answer` answers it.
fn with_token(log: fn(&Platform) -> &Mutex<Vec<Value>>, answer: fn(&Platform, &Value) -> HttpResponse) -> Route {
    web::post().to(
        move |q: web::Query<TokenQuery>, body: web::Json<Value>, platform: web::Data<Arc<Platform>>| async move {
            platform.delay().await;
            if let Some(code) = platform.refuse_token(q.access_token.as_deref()) {
                return errcode(code, "access_token expired or invalid");
            }
            let body = body.into_inner();
            log(&platform).lock().expect("lock").push(body.clone());
            answer(&platform, &body)
        },
    )
}

fn msg_sec_check(platform: &Platform, body: &Value) -> HttpResponse {
    if let Some(code) = *platform.check_errcode.lock().expect("lock") {
        return errcode(code, "system error");
    }
    if body["version"] != 2 || body["scene"] != 1 || !body["openid"].is_string() || !body["content"].is_string() {
        return errcode(40003, "invalid openid, version or scene");
    }
    let content = body["content"].as_str().unwrap_or_default();
    let (suggest, label) = if content.contains("坏") || content.contains("risky") {
        ("risky", 20001)
    } else if content.contains("review") {
        ("review", 21000)
    } else {
        ("pass", 100)
    };
    text(json!({
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": suggest, "label": label},
        "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
        "trace_id": "6650f2a1-0b1c2d3e-4f5a6b7c",
    }))
}

fn getwxacodeunlimit(platform: &Platform, body: &Value) -> HttpResponse {
    match *platform.qrcode_errcode.lock().expect("lock") {
        Some(41030) => return errcode(41030, "invalid page"),
        Some(45009) => return errcode(45009, "reach max api daily quota limit"),
        Some(code) => return errcode(code, "system error"),
        None => {}
    }
    let scene = body["scene"].as_str().unwrap_or_default();
    if scene.is_empty() || scene.len() > 32 {
        return errcode(40129, "invalid scene");
    }
    HttpResponse::Ok().content_type("image/png").body(PNG.to_vec())
}

/// WeChat's limits on template values: `thing` up to 20 characters, `phrase` up to 5.
fn invalid_data(data: &Value) -> Option<String> {
    let fields = data.as_object()?;
    fields.iter().find_map(|(key, field)| {
        let value = field["value"].as_str()?;
        let max = if key.starts_with("thing") {
            20
        } else if key.starts_with("phrase") {
            5
        } else {
            return None;
        };
        (value.is_empty() || value.chars().count() > max).then(|| key.clone())
    })
}

fn subscribe_send(platform: &Platform, body: &Value) -> HttpResponse {
    if let Some(code) = platform.send_errcodes.lock().expect("lock").pop_front() {
        return errcode(code, "mock error");
    }
    let touser = body["touser"].as_str().unwrap_or_default();
    if touser.is_empty() {
        return errcode(40003, "invalid openid");
    }
    if body["template_id"].as_str().is_none_or(str::is_empty) {
        return errcode(40037, "invalid template_id");
    }
    if let Some(key) = invalid_data(&body["data"]) {
        return errcode(47003, &format!("argument invalid! data.{key}.value invalid"));
    }
    if !matches!(
        body["miniprogram_state"].as_str(),
        Some("formal" | "trial" | "developer")
    ) {
        return errcode(47003, "argument invalid! miniprogram_state");
    }
    if platform.refusing.lock().expect("lock").contains(touser) {
        return errcode(43101, "user refuse to accept the msg");
    }
    text(json!({"errcode": 0, "errmsg": "ok", "msgid": rand::random::<u32>()}))
}

/// Starts the mock on a random port.
pub async fn start() -> WechatMock {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let platform = Arc::new(Platform::default());
    let data = web::Data::new(calls.clone());
    let platform_data = web::Data::new(platform.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(platform_data.clone())
            .route("/sns/jscode2session", web::get().to(code2session))
            .route("/cgi-bin/stable_token", web::post().to(stable_token))
            .route("/wxa/msg_sec_check", with_token(|p| &p.checks, msg_sec_check))
            .route("/wxa/getwxacodeunlimit", with_token(|p| &p.qrcodes, getwxacodeunlimit))
            .route(
                "/cgi-bin/message/subscribe/send",
                with_token(|p| &p.sends, subscribe_send),
            )
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .expect("bind mock");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    WechatMock {
        base: format!("http://127.0.0.1:{port}"),
        calls,
        platform,
    }
}
