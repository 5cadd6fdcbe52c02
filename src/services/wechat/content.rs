//! Display names pass WeChat's text check, `POST /wxa/msg_sec_check` version 2
//! (`{version: 2, openid, scene: 1, content}` → `result.suggest`: pass, review or risky),
//! before they can appear on a board or the big screen. `risky` is refused; `review` is
//! accepted (WeChat is unsure, and an organiser can still rename). While WeChat can't
//! answer, `wechat.content_check_unavailable` decides: `accept` stores the name marked
//! `name_check_pending` for [`recheck_pending`], `refuse` answers 503. Without an appid the
//! check is off. Cohort names and roster imports come from organisers and are not checked.

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};
use serde_json::{Value, json};

use super::{WechatApi, WechatError};
use crate::{
    http::error::{ApiError, ApiResult},
    models::{enrollments, participants},
    services::identity::wechat_login::redact_openid,
    settings::ContentCheckPolicy,
};

/// `scene` 1: a profile (资料).
const SCENE_PROFILE: i64 = 1;

/// `errcode` 87014: content judged risky (version 1's answer, still sent on some paths).
const RISKY_CONTENT: i64 = 87014;

/// Participants a background pass checks at most.
const RECHECK_BATCH: u64 = 100;

/// WeChat's verdict on a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggest {
    Pass,
    Review,
    Risky,
}

/// What a display name that may be stored got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameCheck {
    /// Passed, or the check is off.
    Passed,
    /// Stored while WeChat could not answer; checked again later.
    Pending,
}

impl NameCheck {
    /// The value of `participants.name_check_pending`.
    pub fn pending(self) -> bool {
        self == Self::Pending
    }
}

/// Asks WeChat about `content` written by the user `openid`.
///
/// # Errors
/// [`WechatError`] when WeChat can't answer or answers an error.
pub async fn suggest(api: &WechatApi, openid: &str, content: &str) -> Result<Suggest, WechatError> {
    let body = json!({"version": 2, "openid": openid, "scene": SCENE_PROFILE, "content": content});
    let answer = match api.post_json("/wxa/msg_sec_check", &body).await {
        Err(WechatError::Api {
            errcode: RISKY_CONTENT, ..
        }) => return Ok(Suggest::Risky),
        other => other?,
    };
    match answer.pointer("/result/suggest").and_then(Value::as_str) {
        Some("pass") => Ok(Suggest::Pass),
        Some("review") => Ok(Suggest::Review),
        Some("risky") => Ok(Suggest::Risky),
        other => Err(WechatError::Unreachable(format!(
            "msg_sec_check answered an unknown suggest {other:?}"
        ))),
    }
}

/// Checks a new display name of the participant `openid`.
///
/// # Errors
/// 422 `display_name_rejected` when WeChat judges it risky; 503 `content_check_unavailable`
/// when WeChat can't answer and the policy is `refuse`.
#[tracing::instrument(skip_all, fields(openid = %redact_openid(openid)))]
pub async fn check_display_name(api: &WechatApi, openid: &str, name: &str) -> ApiResult<NameCheck> {
    if !api.enabled() {
        return Ok(NameCheck::Passed);
    }
    match suggest(api, openid, name).await {
        Ok(Suggest::Pass | Suggest::Review) => Ok(NameCheck::Passed),
        Ok(Suggest::Risky) => Err(ApiError::Unprocessable {
            code: "display_name_rejected",
            detail: "This display name did not pass WeChat's content check; please choose another \
                     (该昵称未通过微信内容安全检测，请换一个)."
                .to_owned(),
            errors: Some(json!([{ "field": "display_name", "message": "rejected by WeChat's content check" }])),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "content check unavailable");
            match api.settings().content_check_unavailable {
                ContentCheckPolicy::Accept => Ok(NameCheck::Pending),
                ContentCheckPolicy::Refuse => Err(ApiError::Unavailable {
                    code: "content_check_unavailable",
                    detail: "WeChat's content check is unavailable, so the display name can't be \
                             saved now; try again shortly."
                        .to_owned(),
                    retry_after_secs: 30,
                }),
            }
        }
    }
}

/// Checks again names stored while WeChat could not answer: a passing name loses its mark,
/// a risky one is replaced by the default name. Stops at the first name WeChat still can't
/// judge (the next pass tries again). Returns how many names were settled.
///
/// # Errors
/// On database failure.
pub async fn recheck_pending(db: &impl ConnectionTrait, api: &WechatApi) -> ApiResult<usize> {
    if !api.enabled() {
        return Ok(0);
    }
    let pending = participants::Entity::find()
        .filter(participants::Column::NameCheckPending.eq(true))
        .order_by_asc(participants::Column::Id)
        .limit(RECHECK_BATCH)
        .all(db)
        .await?;
    let mut settled = 0;
    for p in pending {
        let verdict = match suggest(api, &p.openid, &p.display_name).await {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(error = %e, "content re-check still unavailable");
                break;
            }
        };
        let mut change = participants::Entity::update_many()
            .col_expr(participants::Column::NameCheckPending, Expr::value(false))
            // A name changed meanwhile was checked on its own: leave it alone.
            .filter(participants::Column::Id.eq(p.id))
            .filter(participants::Column::DisplayName.eq(p.display_name.as_str()));
        if verdict == Suggest::Risky {
            // Boards show the default name once they see the enrollments stamped.
            enrollments::touch_participant(db, p.id).await?;
            tracing::info!(
                participant = p.id,
                "a display name failed its re-check; reset to the default"
            );
            change = change
                .col_expr(
                    participants::Column::DisplayName,
                    Expr::value(crate::services::identity::default_display_name(&p.openid)),
                )
                .col_expr(participants::Column::UpdatedAt, Expr::value(Utc::now()));
        }
        change.exec(db).await?;
        settled += 1;
    }
    Ok(settled)
}
