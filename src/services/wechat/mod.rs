//! WeChat's server API beyond login: one access token shared by every instance
//! ([`token`]), the display-name content check ([`content`]), class join 小程序码
//! ([`qrcode`]) and evening reminders ([`reminders`]). Every call goes to
//! `wechat.api_base`, which tests point at a local mock speaking WeChat's wire format:
//! JSON answers served as `text/plain`, `errcode`/`errmsg` on failure, image bytes where
//! WeChat draws a picture.

pub mod content;
pub mod qrcode;
pub mod reminders;
mod token;

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::settings::WechatSettings;

/// `errcode`s that mean the access token was refused: invalid (40001) or expired (42001).
const TOKEN_ERRORS: [i64; 2] = [40001, 42001];

/// Why a WeChat call gave no answer to use.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// Network failure, time-out, an HTTP error status or a body WeChat would not send.
    #[error("WeChat is unreachable: {0}")]
    Unreachable(String),
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat answered errcode {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
}

impl WechatError {
    /// The `errcode`, when WeChat answered one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            Self::Unreachable(_) => None,
        }
    }
}

/// What a call answered: JSON (`errcode` 0 or absent), or an image.
enum Answer {
    Json(Value),
    Image(Vec<u8>),
}

/// The client of WeChat's server API; cheap to clone (one HTTP client and one token store).
#[derive(Clone)]
pub struct WechatApi {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WechatApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatApi")
            .field("base", &self.inner.base)
            .field("appid", &self.inner.appid)
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: SecretString,
    settings: WechatSettings,
    db: DatabaseConnection,
    /// Refreshers of this process queue here before they queue at the database.
    refreshing: tokio::sync::Mutex<()>,
}

impl WechatApi {
    /// Builds the client with the configured time-outs.
    ///
    /// # Errors
    /// When the HTTP client can't be built (TLS initialisation).
    pub fn new(settings: &WechatSettings, db: DatabaseConnection) -> anyhow::Result<Self> {
        let http = crate::http_client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms))
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(3000)))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: settings.api_base.trim_end_matches('/').to_owned(),
                appid: settings.appid.clone(),
                secret: settings.secret.clone(),
                settings: settings.clone(),
                db,
                refreshing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The `[wechat]` settings this client was built with.
    pub fn settings(&self) -> &WechatSettings {
        &self.inner.settings
    }

    /// False without an appid (development, demos): nothing is sent to WeChat.
    pub fn enabled(&self) -> bool {
        self.inner.settings.enabled()
    }

    /// `POST {base}{path}?access_token=…` with a JSON body; the JSON answer.
    ///
    /// # Errors
    /// [`WechatError::Api`] for a non-zero `errcode`, [`WechatError::Unreachable`] otherwise.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, WechatError> {
        match self.call(path, body).await? {
            Answer::Json(v) => Ok(v),
            Answer::Image(_) => Err(WechatError::Unreachable(format!("{path} answered an image"))),
        }
    }

    /// Like [`Self::post_json`] for an endpoint that answers an image on success.
    ///
    /// # Errors
    /// [`WechatError::Api`] for a JSON error, [`WechatError::Unreachable`] otherwise.
    pub async fn post_for_image(&self, path: &str, body: &Value) -> Result<Vec<u8>, WechatError> {
        match self.call(path, body).await? {
            Answer::Image(bytes) => Ok(bytes),
            Answer::Json(_) => Err(WechatError::Unreachable(format!(
                "{path} answered JSON without an image"
            ))),
        }
    }

    /// Calls with the shared token; when WeChat refuses the token (40001, 42001), refreshes
    /// it once and calls again.
    async fn call(&self, path: &str, body: &Value) -> Result<Answer, WechatError> {
        let token = self.token().await?;
        match self.send(path, body, &token).await {
            Err(WechatError::Api { errcode, .. }) if TOKEN_ERRORS.contains(&errcode) => {
                tracing::info!(errcode, path, "WeChat refused the access token; refreshing it");
                let fresh = self.refresh(Some(&token)).await?;
                self.send(path, body, &fresh).await
            }
            other => other,
        }
    }

    async fn send(&self, path: &str, body: &Value, token: &SecretString) -> Result<Answer, WechatError> {
        let url = format!("{}{path}", self.inner.base);
        let resp = self
            .inner
            .http
            .post(&url)
            .query(&[("access_token", token.expose_secret())])
            .json(body)
            .send()
            .await
            // The URL carries the access token: errors are reported without it.
            .map_err(|e| WechatError::Unreachable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(WechatError::Unreachable(format!(
                "{path} answered HTTP {}",
                resp.status()
            )));
        }
        let image = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("image/"));
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| WechatError::Unreachable(e.without_url().to_string()))?;
        if image {
            return Ok(Answer::Image(bytes.to_vec()));
        }
        parse_json(path, &bytes).map(Answer::Json)
    }
}

/// Parses a JSON answer (WeChat serves it as `text/plain`, sometimes `application/json`);
/// a non-zero `errcode` becomes [`WechatError::Api`].
fn parse_json(path: &str, bytes: &[u8]) -> Result<Value, WechatError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| WechatError::Unreachable(format!("{path} answered something that is not JSON: {e}")))?;
    match value.get("errcode").and_then(Value::as_i64).unwrap_or(0) {
        0 => Ok(value),
        errcode => Err(WechatError::Api {
            errcode,
            errmsg: value.get("errmsg").and_then(Value::as_str).unwrap_or("").to_owned(),
        }),
    }
}
