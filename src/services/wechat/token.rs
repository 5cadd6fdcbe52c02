//! The app's access token, from `POST /cgi-bin/stable_token`, kept in the `wechat_tokens`
//! row so every instance uses the same one. One refresher at a time: on PostgreSQL the one
//! holding a transaction-scoped advisory lock, on SQLite the one holding the write lock.
//! A refresher re-reads the row once it holds the lock, so instances that found the token
//! stale together call WeChat once. The token is never logged: it lives in a
//! [`SecretString`] and errors are reported without the URLs that carry it.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::OnConflict};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{WechatApi, WechatError, parse_json};
use crate::models::wechat_tokens;

/// The row holding the access token.
const TOKEN_NAME: &str = "access_token";

/// The advisory lock refreshers take on PostgreSQL ("WXTOKEN" in ASCII).
const ADVISORY_KEY: i64 = 0x0057_5854_4f4b_454e;

/// How long a refresher waits for another instance's refresh before giving up.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct StableToken {
    access_token: Option<String>,
    expires_in: Option<i64>,
}

impl WechatApi {
    /// The shared token, refreshed when it expires within `wechat.token_refresh_margin_secs`.
    pub(super) async fn token(&self) -> Result<SecretString, WechatError> {
        if let Some(token) = self.usable(&self.inner.db, None).await? {
            return Ok(token);
        }
        self.refresh(None).await
    }

    /// The stored token if it is neither about to expire nor the one WeChat just refused.
    async fn usable(
        &self,
        db: &impl ConnectionTrait,
        refused: Option<&SecretString>,
    ) -> Result<Option<SecretString>, WechatError> {
        let row = wechat_tokens::Entity::find()
            .filter(wechat_tokens::Column::Name.eq(TOKEN_NAME))
            .one(db)
            .await
            .map_err(|e| WechatError::Unreachable(format!("reading the stored token: {e}")))?;
        let margin = chrono::Duration::seconds(self.inner.settings.token_refresh_margin_secs);
        Ok(row
            .filter(|r| r.expires_at - margin > Utc::now())
            .filter(|r| refused.is_none_or(|t| t.expose_secret() != r.value))
            .map(|r| SecretString::from(r.value)))
    }

    /// Gets a new token from WeChat unless another refresher already stored one.
    pub(super) async fn refresh(&self, refused: Option<&SecretString>) -> Result<SecretString, WechatError> {
        let _ours = self.inner.refreshing.lock().await;
        let db = &self.inner.db;
        let unavailable = |e: sea_orm::DbErr| WechatError::Unreachable(format!("storing the token: {e}"));
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER;
        loop {
            let txn = crate::db::begin_write(db).await.map_err(unavailable)?;
            if !crate::db::try_lock_for_transaction(&txn, ADVISORY_KEY)
                .await
                .map_err(unavailable)?
            {
                txn.rollback().await.map_err(unavailable)?;
                // Another instance is refreshing: use its token once it is stored.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(token) = self.usable(db, refused).await? {
                    return Ok(token);
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(WechatError::Unreachable(
                        "another instance is still refreshing the token".to_owned(),
                    ));
                }
                continue;
            }
            if let Some(token) = self.usable(&txn, refused).await? {
                txn.commit().await.map_err(unavailable)?;
                return Ok(token);
            }
            // Dropping the transaction on an error releases the lock.
            let (token, expires_in) = self.stable_token().await?;
            let now = Utc::now();
            wechat_tokens::Entity::insert(wechat_tokens::ActiveModel {
                name: Set(TOKEN_NAME.to_owned()),
                value: Set(token.expose_secret().to_owned()),
                expires_at: Set(now + chrono::Duration::seconds(expires_in)),
                updated_at: Set(now),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::column(wechat_tokens::Column::Name)
                    .update_columns([
                        wechat_tokens::Column::Value,
                        wechat_tokens::Column::ExpiresAt,
                        wechat_tokens::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&txn)
            .await
            .map_err(unavailable)?;
            txn.commit().await.map_err(unavailable)?;
            tracing::info!(expires_in, "refreshed the WeChat access token");
            return Ok(token);
        }
    }

    /// `POST /cgi-bin/stable_token` in normal mode (`force_refresh: false`): WeChat hands out
    /// a new token only when the current one is within 5 minutes of expiry or expired.
    async fn stable_token(&self) -> Result<(SecretString, i64), WechatError> {
        let inner = &self.inner;
        let resp = inner
            .http
            .post(format!("{}/cgi-bin/stable_token", inner.base))
            .json(&json!({
                "grant_type": "client_credential",
                "appid": inner.appid,
                "secret": inner.secret.expose_secret(),
                "force_refresh": false,
            }))
            .send()
            .await
            .map_err(|e| WechatError::Unreachable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(WechatError::Unreachable(format!(
                "stable_token answered HTTP {}",
                resp.status()
            )));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| WechatError::Unreachable(e.without_url().to_string()))?;
        let value = parse_json("/cgi-bin/stable_token", &bytes)?;
        let body: StableToken = serde_json::from_value(value)
            .map_err(|e| WechatError::Unreachable(format!("stable_token answered an unexpected shape: {e}")))?;
        match (body.access_token, body.expires_in) {
            (Some(token), Some(expires_in)) if !token.is_empty() && expires_in > 0 => {
                Ok((SecretString::from(token), expires_in))
            }
            _ => Err(WechatError::Unreachable(
                "stable_token answered without a token".to_owned(),
            )),
        }
    }
}
