//! WeChat `code2Session` client: exchanges a mini-program login code for the user's
//! `openid` and `session_key`. The base URL is configurable so tests talk to a local mock
//! speaking WeChat's exact wire format.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{http::error::ApiError, settings::WechatSettings};

/// A successful code2Session answer.
pub struct WechatSession {
    pub openid: String,
    /// Decrypts this user's WeRun data; never logged, never sent to a client.
    pub session_key: SecretString,
    pub unionid: Option<String>,
}

impl std::fmt::Debug for WechatSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatSession")
            .field("openid", &redact_openid(&self.openid))
            .field("session_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The raw answer: WeChat omits `errcode` (or sends 0) on success.
#[derive(Deserialize)]
struct Code2SessionBody {
    openid: Option<String>,
    session_key: Option<String>,
    unionid: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// Calls WeChat's server API.
#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: SecretString,
}

/// The first characters of an openid, enough to correlate log lines, not to identify.
pub fn redact_openid(openid: &str) -> String {
    let head: String = openid.chars().take(4).collect();
    format!("{head}…")
}

impl WechatClient {
    /// Builds a client with the configured timeout.
    ///
    /// # Errors
    /// When the HTTP client can't be built (TLS initialisation).
    pub fn new(settings: &WechatSettings) -> anyhow::Result<Self> {
        let http = crate::http_client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(3000)))
            .build()?;
        Ok(Self {
            http,
            base: settings.api_base.trim_end_matches('/').to_owned(),
            appid: settings.appid.clone(),
            secret: settings.secret.clone(),
        })
    }

    /// `GET {base}/sns/jscode2session?appid=…&secret=…&js_code=…&grant_type=authorization_code`.
    ///
    /// # Errors
    /// 401 `wechat_code_invalid` (40029, 40163), 429 `wechat_rate_limited` (45011),
    /// 403 `wechat_user_blocked` (40226), 503 `wechat_unavailable` (-1, other codes,
    /// network failures, timeouts, malformed answers).
    pub async fn code2session(&self, code: &str) -> Result<WechatSession, ApiError> {
        let url = format!("{}/sns/jscode2session", self.base);
        let resp = self
            .http
            .get(&url)
            .query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.secret.expose_secret()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(|e| {
                // The URL carries the app secret: log the error without it.
                tracing::warn!(error = %e.without_url(), "code2Session request failed");
                unavailable()
            })?;
        if !resp.status().is_success() {
            tracing::warn!(status = %resp.status(), "code2Session answered an HTTP error");
            return Err(unavailable());
        }
        // WeChat answers JSON with `Content-Type: text/plain`: read text, parse JSON.
        let text = resp.text().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "code2Session body unreadable");
            unavailable()
        })?;
        let body: Code2SessionBody = serde_json::from_str(&text).map_err(|e| {
            tracing::warn!(error = %e, "code2Session answered something that is not JSON");
            unavailable()
        })?;
        match body.errcode.unwrap_or(0) {
            0 => match (body.openid, body.session_key) {
                (Some(openid), Some(key)) if !openid.is_empty() && !key.is_empty() => Ok(WechatSession {
                    openid,
                    session_key: SecretString::from(key),
                    unionid: body.unionid.filter(|u| !u.is_empty()),
                }),
                _ => {
                    tracing::warn!("code2Session succeeded without openid or session_key");
                    Err(unavailable())
                }
            },
            40029 | 40163 => Err(ApiError::unauthorized(
                "wechat_code_invalid",
                "The WeChat login code is invalid or was already used; call wx.login again.",
            )),
            45011 => Err(ApiError::TooManyRequests {
                code: "wechat_rate_limited",
                detail: "WeChat is limiting logins for this user; try again in a minute.".to_owned(),
                retry_after_secs: 60,
            }),
            40226 => Err(ApiError::forbidden(
                "wechat_user_blocked",
                "WeChat has blocked this user from logging in.",
            )),
            other => {
                tracing::warn!(
                    errcode = other,
                    errmsg = body.errmsg.as_deref().unwrap_or(""),
                    "code2Session failed"
                );
                Err(unavailable())
            }
        }
    }
}

fn unavailable() -> ApiError {
    ApiError::Unavailable {
        code: "wechat_unavailable",
        detail: "WeChat's login service is unavailable; try again shortly.".to_owned(),
        retry_after_secs: 5,
    }
}
