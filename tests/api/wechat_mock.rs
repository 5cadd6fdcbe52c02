//! A local stand-in for WeChat's `sns/jscode2session`, speaking its exact wire format:
//! JSON bodies served as `text/plain`, `errcode`/`errmsg` on failure, no `errcode` on success.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::json;

pub const APPID: &str = "wx4f4bc4dec97d474b";
pub const SECRET: &str = "wechat-app-secret";

/// The session key the mock hands out for every successful login (16 bytes, base64).
pub const SESSION_KEY: [u8; 16] = *b"longmarch-key-16";

pub struct WechatMock {
    pub base: String,
    pub calls: Arc<Mutex<Vec<String>>>,
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

/// Starts the mock on a random port.
pub async fn start() -> WechatMock {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let data = web::Data::new(calls.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/sns/jscode2session", web::get().to(code2session))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind mock");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    WechatMock {
        base: format!("http://127.0.0.1:{port}"),
        calls,
    }
}
