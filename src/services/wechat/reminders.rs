//! Evening reminders (订阅消息). WeRun steps reach the server only when a student opens the
//! mini-program, so at a campaign-local time (`campaigns.reminder_time`, default 21:00)
//! every enrolled, unsuspended participant who accepted the campaign's template and has not
//! synced that day gets one message through `POST /cgi-bin/message/subscribe/send`.
//!
//! - Credits: each acceptance on the sync tap (`POST /me/subscriptions`) is one credit per
//!   template; a message spends one. WeChat's 43101 (refused, or no acceptance left on its
//!   side) clears the participant's credits of that template.
//! - Once per participant and local day, across instances and restarts: a reminder is sent
//!   only by whoever inserted its `reminder_claims` row (unique campaign, participant, day).
//!   A claim whose sender died mid-way stays `sending` and is not sent again: at most once.
//! - Other errors are retried [`MAX_ATTEMPTS`] times with doubling back-off, then recorded
//!   `failed` with the error, and the credit is given back.
//! - [`run_pass`] takes the instant to act at, so tests drive the scheduler with their own
//!   clock; [`spawn_scheduler`] calls it every `wechat.scheduler_interval_secs`.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TryInsertResult,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{WechatApi, WechatError};
use crate::{
    http::error::{ApiError, ApiResult},
    models::{campaigns, enrollments, participants, reminder_claims, step_days, subscription_credits},
};

/// Claim states.
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const SKIPPED: &str = "skipped";
pub const FAILED: &str = "failed";

/// Sends tried per reminder before it is recorded `failed`.
pub const MAX_ATTEMPTS: i32 = 3;

/// The wait before the second attempt; doubled before each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Templates accepted in one call at most (WeChat asks for at most 3 at once).
const MAX_TEMPLATES: usize = 10;

/// WeChat's limits on template values.
const THING_MAX: usize = 20;
const PHRASE_MAX: usize = 5;

/// errcodes a retry can't fix: bad openid, template, data or page.
const PERMANENT: [i64; 4] = [40003, 40037, 47003, 41030];

/// `POST /me/subscriptions` body: the templates the student accepted in
/// `wx.requestSubscribeMessage` (those answered `accept`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    pub template_ids: Vec<String>,
}

/// A participant's credits for one template.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionCredit {
    pub template_id: String,
    pub credits: i32,
}

/// The caller's credits after recording.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionsView {
    pub items: Vec<SubscriptionCredit>,
}

/// Adds one credit per template named.
///
/// # Errors
/// 422 `invalid_template_ids` for an empty or overlong list or a malformed id.
pub async fn record_subscriptions(
    db: &impl ConnectionTrait,
    participant_id: i32,
    req: SubscriptionRequest,
) -> ApiResult<SubscriptionsView> {
    let mut ids: Vec<&str> = req.template_ids.iter().map(|t| t.trim()).collect();
    ids.sort_unstable();
    ids.dedup();
    let malformed = |t: &&str| {
        t.is_empty() || t.len() > 128 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if ids.is_empty() || ids.len() > MAX_TEMPLATES || ids.iter().any(malformed) {
        return Err(ApiError::Unprocessable {
            code: "invalid_template_ids",
            detail: format!(
                "template_ids must list 1–{MAX_TEMPLATES} 订阅消息 template ids (letters, digits, - and _)."
            ),
            errors: Some(json!([{ "field": "template_ids", "message": format!("1–{MAX_TEMPLATES} template ids") }])),
        });
    }
    let now = Utc::now();
    for id in &ids {
        subscription_credits::Entity::insert(subscription_credits::ActiveModel {
            participant_id: Set(participant_id),
            template_id: Set((*id).to_owned()),
            credits: Set(1),
            updated_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([
                subscription_credits::Column::ParticipantId,
                subscription_credits::Column::TemplateId,
            ])
            .value(
                subscription_credits::Column::Credits,
                Expr::col((subscription_credits::Entity, subscription_credits::Column::Credits)).add(1),
            )
            .value(subscription_credits::Column::UpdatedAt, Expr::value(now))
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    let items = subscription_credits::Entity::find()
        .filter(subscription_credits::Column::ParticipantId.eq(participant_id))
        .order_by_asc(subscription_credits::Column::TemplateId)
        .all(db)
        .await?
        .into_iter()
        .map(|c| SubscriptionCredit {
            template_id: c.template_id,
            credits: c.credits,
        })
        .collect();
    Ok(SubscriptionsView { items })
}

/// Parses a campaign's `reminder_time` (`HH:MM`, 24-hour clock).
pub fn parse_reminder_time(raw: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").ok()
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Sends the reminders due at `now`: for each active campaign with reminders on and a
/// template, whose local time has reached its reminder time on a day of its window, one to
/// each active participant with a credit and no claim that day.
///
/// # Errors
/// On database failure (reminders already claimed stay claimed).
#[tracing::instrument(skip(db, api))]
pub async fn run_pass(db: &DatabaseConnection, api: &WechatApi, now: DateTime<Utc>) -> ApiResult<PassReport> {
    let mut report = PassReport::default();
    if !api.enabled() {
        return Ok(report);
    }
    let due = campaigns::Entity::find()
        .filter(campaigns::Column::Status.eq(campaigns::CampaignStatus::Active))
        .filter(campaigns::Column::RemindersEnabled.eq(true))
        .filter(campaigns::Column::ReminderTemplateId.is_not_null())
        .all(db)
        .await?;
    for campaign in due {
        let (Ok(tz), Some(at), Some(template)) = (
            campaign.timezone.parse::<chrono_tz::Tz>(),
            parse_reminder_time(&campaign.reminder_time),
            campaign.reminder_template_id.clone().filter(|t| !t.is_empty()),
        ) else {
            continue;
        };
        let local = now.with_timezone(&tz);
        let day = local.date_naive();
        if day < campaign.starts_on || day > campaign.ends_on || local.time() < at {
            continue;
        }
        for participant_id in candidates(db, &campaign, &template, day).await? {
            match remind(db, api, &campaign, &template, participant_id, day).await? {
                Some(SENT) => report.sent += 1,
                Some(SKIPPED) => report.skipped += 1,
                Some(_) => report.failed += 1,
                None => {}
            }
        }
    }
    if report != PassReport::default() {
        tracing::info!(
            sent = report.sent,
            skipped = report.skipped,
            failed = report.failed,
            "reminder pass"
        );
    }
    Ok(report)
}

/// Active participants of `campaign` with a credit for `template` and no claim on `day`.
async fn candidates(
    db: &impl ConnectionTrait,
    campaign: &campaigns::Model,
    template: &str,
    day: NaiveDate,
) -> ApiResult<Vec<i32>> {
    let with_credit = Query::select()
        .column(subscription_credits::Column::ParticipantId)
        .from(subscription_credits::Entity)
        .and_where(subscription_credits::Column::TemplateId.eq(template))
        .and_where(subscription_credits::Column::Credits.gt(0))
        .to_owned();
    let claimed = Query::select()
        .column(reminder_claims::Column::ParticipantId)
        .from(reminder_claims::Entity)
        .and_where(reminder_claims::Column::CampaignId.eq(campaign.id))
        .and_where(reminder_claims::Column::Day.eq(day))
        .to_owned();
    Ok(enrollments::Entity::find()
        .select_only()
        .column(enrollments::Column::ParticipantId)
        .filter(enrollments::Column::CampaignId.eq(campaign.id))
        .filter(enrollments::Column::Status.eq(enrollments::EnrollmentStatus::Active))
        .filter(enrollments::Column::ParticipantId.in_subquery(with_credit))
        .filter(enrollments::Column::ParticipantId.not_in_subquery(claimed))
        .order_by_asc(enrollments::Column::ParticipantId)
        .into_tuple()
        .all(db)
        .await?)
}

/// Claims and sends one reminder; the state it ended in, or `None` when another sender
/// claimed it first.
async fn remind(
    db: &DatabaseConnection,
    api: &WechatApi,
    campaign: &campaigns::Model,
    template: &str,
    participant_id: i32,
    day: NaiveDate,
) -> ApiResult<Option<&'static str>> {
    let now = Utc::now();
    let claimed = reminder_claims::Entity::insert(reminder_claims::ActiveModel {
        campaign_id: Set(campaign.id),
        participant_id: Set(participant_id),
        day: Set(day),
        status: Set(SENDING.to_owned()),
        attempts: Set(0),
        error: Set(None),
        claimed_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([
        reminder_claims::Column::CampaignId,
        reminder_claims::Column::ParticipantId,
        reminder_claims::Column::Day,
    ])
    .exec_without_returning(db)
    .await?;
    if !matches!(claimed, TryInsertResult::Inserted(n) if n > 0) {
        return Ok(None);
    }
    let finish = |status: &'static str, attempts: i32, error: Option<String>| async move {
        reminder_claims::Entity::update_many()
            .col_expr(reminder_claims::Column::Status, Expr::value(status))
            .col_expr(reminder_claims::Column::Attempts, Expr::value(attempts))
            .col_expr(reminder_claims::Column::Error, Expr::value(error))
            .col_expr(reminder_claims::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(reminder_claims::Column::CampaignId.eq(campaign.id))
            .filter(reminder_claims::Column::ParticipantId.eq(participant_id))
            .filter(reminder_claims::Column::Day.eq(day))
            .exec(db)
            .await
            .map(|_| Some(status))
    };
    let synced = step_days::Entity::find()
        .filter(step_days::Column::CampaignId.eq(campaign.id))
        .filter(step_days::Column::ParticipantId.eq(participant_id))
        .filter(step_days::Column::Day.eq(day))
        .count(db)
        .await?
        > 0;
    if synced {
        return Ok(finish(SKIPPED, 0, Some("already synced today".to_owned())).await?);
    }
    let credit = || {
        subscription_credits::Entity::update_many()
            .filter(subscription_credits::Column::ParticipantId.eq(participant_id))
            .filter(subscription_credits::Column::TemplateId.eq(template))
    };
    let spent = credit()
        .col_expr(
            subscription_credits::Column::Credits,
            Expr::col(subscription_credits::Column::Credits).sub(1),
        )
        .filter(subscription_credits::Column::Credits.gt(0))
        .exec(db)
        .await?
        .rows_affected;
    if spent == 0 {
        return Ok(finish(SKIPPED, 0, Some("no credit left".to_owned())).await?);
    }
    let Some(p) = participants::Entity::find_by_id(participant_id).one(db).await? else {
        return Ok(finish(SKIPPED, 0, Some("participant erased".to_owned())).await?);
    };
    let body = message(api, campaign, template, &p.openid);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match api.post_json("/cgi-bin/message/subscribe/send", &body).await {
            Ok(_) => return Ok(finish(SENT, attempts, None).await?),
            Err(WechatError::Api { errcode: 43101, errmsg }) => {
                credit()
                    .col_expr(subscription_credits::Column::Credits, Expr::value(0))
                    .exec(db)
                    .await?;
                return Ok(finish(SKIPPED, attempts, Some(format!("errcode 43101: {errmsg}"))).await?);
            }
            Err(e) => e,
        };
        let permanent = error.errcode().is_some_and(|c| PERMANENT.contains(&c));
        if permanent || attempts >= MAX_ATTEMPTS {
            tracing::warn!(error = %error, participant = participant_id, attempts, "reminder failed");
            // WeChat did not take the message, so the acceptance is still good.
            credit()
                .col_expr(
                    subscription_credits::Column::Credits,
                    Expr::col(subscription_credits::Column::Credits).add(1),
                )
                .exec(db)
                .await?;
            return Ok(finish(FAILED, attempts, Some(error.to_string())).await?);
        }
        tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(u32::try_from(attempts - 1).unwrap_or(0))).await;
    }
}

/// The `subscribe/send` body of a campaign's reminder to `openid`.
fn message(api: &WechatApi, campaign: &campaigns::Model, template: &str, openid: &str) -> Value {
    let s = api.settings();
    let mut data = serde_json::Map::new();
    for (key, value, max) in [
        (&s.reminder_title_key, campaign.title.as_str(), THING_MAX),
        (&s.reminder_status_key, "未同步", PHRASE_MAX),
        (&s.reminder_tip_key, "今天的步数还没同步，点此同步", THING_MAX),
    ] {
        if !key.is_empty() {
            data.insert(key.clone(), json!({"value": truncate(value, max)}));
        }
    }
    json!({
        "touser": openid,
        "template_id": template,
        "page": format!("{}?campaign={}", s.reminder_page, campaign.slug),
        "data": data,
        "miniprogram_state": s.miniprogram_state,
        "lang": s.lang,
    })
}

/// The first `max` characters (WeChat counts characters, not bytes).
fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

/// Reminder counts of one campaign-local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReminderDay {
    pub date: NaiveDate,
    pub sent: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// Per-day reminder counts of a campaign, oldest first. `sending` claims (a sender that
/// stopped mid-way) count as failed.
///
/// # Errors
/// On database failure.
pub async fn daily_counts(db: &impl ConnectionTrait, campaign_id: i32) -> ApiResult<Vec<ReminderDay>> {
    let rows: Vec<(NaiveDate, String, i64)> = reminder_claims::Entity::find()
        .select_only()
        .column(reminder_claims::Column::Day)
        .column(reminder_claims::Column::Status)
        .column_as(Expr::col(reminder_claims::Column::Id).count(), "n")
        .filter(reminder_claims::Column::CampaignId.eq(campaign_id))
        .group_by(reminder_claims::Column::Day)
        .group_by(reminder_claims::Column::Status)
        .order_by_asc(reminder_claims::Column::Day)
        .into_tuple()
        .all(db)
        .await?;
    let mut days: Vec<ReminderDay> = Vec::new();
    for (date, status, n) in rows {
        if days.last().is_none_or(|d| d.date != date) {
            days.push(ReminderDay {
                date,
                sent: 0,
                skipped: 0,
                failed: 0,
            });
        }
        let n = u64::try_from(n).unwrap_or(0);
        if let Some(d) = days.last_mut() {
            match status.as_str() {
                SENT => d.sent += n,
                SKIPPED => d.skipped += n,
                _ => d.failed += n,
            }
        }
    }
    Ok(days)
}

/// Runs [`run_pass`] at the current time and re-checks pending display names every
/// `interval`, among `workers` until they stop (the server shut down).
pub fn spawn_scheduler(workers: &crate::workers::Workers, db: DatabaseConnection, api: WechatApi, interval: Duration) {
    workers.spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = run_pass(&db, &api, Utc::now()).await {
                tracing::warn!(error = %e, "reminder pass failed");
            }
            if let Err(e) = super::content::recheck_pending(&db, &api).await {
                tracing::warn!(error = %e, "display-name re-check failed");
            }
        }
    });
}
