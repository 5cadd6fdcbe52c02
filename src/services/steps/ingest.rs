//! Uploads: manual batches and WeChat WeRun payloads, judged day by day; the good days go
//! through the upload queue to [`super::store`], and the answer tells the participant what
//! was counted, what was refused and where they now stand.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::days::{DayRejection, DayWindow, StepCount, parse_local_day, werun_day},
    http::error::{ApiError, ApiResult},
    models::campaigns,
    services::{
        boards::{
            cache::BoardCache,
            me::{self, ProgressView},
        },
        campaigns::cache::CampaignCache,
        identity::{session_keys::SessionKeys, werun},
        live::{self, EventHub},
        progress::{CampaignCtx, CohortDates, UnlockedStation},
        steps::{
            queue::{Upload, UploadQueue},
            store::AcceptedDay,
        },
    },
    settings::Settings,
};

/// Most days in one manual batch.
pub const MAX_BATCH_DAYS: usize = 31;

use crate::domain::states::StepSource;

/// One day of a manual upload.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDayInput {
    /// Local date `YYYY-MM-DD` in the campaign's time zone.
    pub date: String,
    pub steps: i64,
}

/// `POST /campaigns/{slug}/steps`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBatch {
    pub days: Vec<StepDayInput>,
}

/// `POST /campaigns/{slug}/steps/werun`: what `wx.getWeRunData` gives the mini-program.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WerunUpload {
    pub encrypted_data: String,
    pub iv: String,
}

/// A day refused, with its reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedDay {
    /// The date as sent (or derived from a WeRun timestamp).
    pub date: String,
    pub steps: i64,
    pub code: String,
    pub reason: String,
}

/// Answer to an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadAnswer {
    pub accepted: Vec<AcceptedDay>,
    pub rejected: Vec<RejectedDay>,
    pub progress: ProgressView,
    /// Stations this upload unlocked for its subject of record: the participant, or in
    /// cohort modes their class. When several uploads of one class are stored in one
    /// transaction, the class's new stations are listed in the last one's answer only.
    pub newly_unlocked: Vec<UnlockedStation>,
}

fn reject(date: impl Into<String>, steps: i64, why: DayRejection) -> RejectedDay {
    RejectedDay {
        date: date.into(),
        steps,
        code: why.code().to_owned(),
        reason: why.message().to_owned(),
    }
}

/// Campaign-level checks shared by every source.
fn check_campaign(ctx: &CampaignCtx, source: StepSource) -> ApiResult<()> {
    if ctx.campaign.status == campaigns::CampaignStatus::Closed {
        return Err(ApiError::conflict(
            "campaign_closed",
            "The campaign is closed; its results are final.",
        ));
    }
    if ctx.campaign.status != campaigns::CampaignStatus::Active {
        return Err(ApiError::conflict(
            "campaign_not_open",
            "The campaign has not started yet.",
        ));
    }
    if !ctx.campaign.accepts(source) {
        return Err(ApiError::unprocessable(
            "source_not_accepted",
            format!("This campaign does not accept `{source}` steps."),
        ));
    }
    if !ctx.window.uploads_open(ctx.today()) {
        return Err(ApiError::conflict(
            "uploads_closed",
            format!("Uploads closed after {}.", ctx.window.upload_deadline()),
        ));
    }
    Ok(())
}

/// Judges each day alone: good days (merged by max per date) and rejected ones.
pub fn judge_days(ctx: &CampaignCtx, days: impl IntoIterator<Item = (String, Option<NaiveDate>, i64)>) -> Judged {
    judge_days_in(&ctx.window, ctx.today(), days)
}

/// [`judge_days`] against a bare window and local `today`: no campaign row or clock needed,
/// so the rules can be fuzzed and property-tested on their own.
pub fn judge_days_in(
    window: &DayWindow,
    today: NaiveDate,
    days: impl IntoIterator<Item = (String, Option<NaiveDate>, i64)>,
) -> Judged {
    let mut good = BTreeMap::new();
    let mut rejected = Vec::new();
    for (raw, date, steps) in days {
        let Some(date) = date else {
            rejected.push(RejectedDay {
                date: raw,
                steps,
                code: "invalid_date".to_owned(),
                reason: "The date must be YYYY-MM-DD.".to_owned(),
            });
            continue;
        };
        let verdict = StepCount::try_from(steps).and_then(|_| window.judge(date, today));
        match verdict {
            Ok(()) => {
                let slot = good.entry(date).or_insert(steps);
                *slot = (*slot).max(steps);
            }
            Err(why) => rejected.push(reject(raw, steps, why)),
        }
    }
    (good, rejected)
}

/// What an upload uses: the database, the campaign contexts, the upload queue, the session
/// keys (WeRun), the boards and the live events (for the answer and the screens), and the
/// settings it reads (WeChat's appid and WeRun age, how cohort dates are kept).
#[derive(Clone, Copy)]
pub struct Uploads<'a> {
    pub db: &'a DatabaseConnection,
    pub campaigns: &'a CampaignCache,
    pub queue: &'a UploadQueue,
    pub session_keys: &'a SessionKeys,
    pub boards: &'a BoardCache,
    pub events: &'a Arc<EventHub>,
    pub settings: &'a Settings,
}

/// A manual batch.
///
/// # Errors
/// 404 unknown campaign; 409 closed or not open campaign, uploads closed; 403 not enrolled
/// or suspended; 422 source not accepted, empty or oversized batch.
#[tracing::instrument(skip(up, batch), fields(campaign = %slug, days = batch.days.len()))]
pub async fn upload_manual(
    up: Uploads<'_>,
    participant_id: i32,
    slug: &str,
    batch: StepBatch,
) -> ApiResult<UploadAnswer> {
    let ctx = up.campaigns.public(up.db, slug).await?;
    check_campaign(&ctx, StepSource::Manual)?;
    if batch.days.is_empty() {
        return Err(ApiError::invalid_field("days", "send at least one day"));
    }
    if batch.days.len() > MAX_BATCH_DAYS {
        return Err(ApiError::invalid_field(
            "days",
            format!("send at most {MAX_BATCH_DAYS} days at once"),
        ));
    }
    let (good, rejected) = judge_batch(&ctx.window, ctx.today(), batch.days);
    finish_upload(up, &ctx, participant_id, good, rejected, StepSource::Manual).await
}

/// A WeRun payload, decrypted with the participant's stored session key.
///
/// # Errors
/// As `upload_manual`, plus 422 `werun_undecryptable`, `werun_not_step_data`,
/// `werun_foreign_appid`, `werun_stale`.
#[tracing::instrument(skip(up, upload), fields(campaign = %slug))]
pub async fn upload_werun(
    up: Uploads<'_>,
    participant_id: i32,
    slug: &str,
    upload: WerunUpload,
) -> ApiResult<UploadAnswer> {
    let ctx = up.campaigns.public(up.db, slug).await?;
    check_campaign(&ctx, StepSource::Werun)?;
    let now = Utc::now().timestamp();
    let wechat = &up.settings.wechat;
    let (good, rejected) = up
        .session_keys
        .judge(up.db, participant_id, |key| {
            judge_werun(
                key,
                &upload,
                &wechat.appid,
                now,
                wechat.werun_max_age_secs,
                ctx.tz,
                &ctx.window,
            )
        })
        .await?
        .map_err(|e| ApiError::unprocessable(e.code(), format!("{}.", capitalise(&e.to_string()))))?;
    finish_upload(up, &ctx, participant_id, good, rejected, StepSource::Werun).await
}

/// Days judged for an upload: the good ones merged by max per date, and the refused ones.
pub type Judged = (BTreeMap<NaiveDate, i64>, Vec<RejectedDay>);

/// Judges a manual batch's days (strict `YYYY-MM-DD` dates) on local day `today`.
pub fn judge_batch(window: &DayWindow, today: NaiveDate, days: Vec<StepDayInput>) -> Judged {
    judge_days_in(
        window,
        today,
        days.into_iter().map(|d| {
            let parsed = parse_local_day(&d.date);
            (d.date, parsed, d.steps)
        }),
    )
}

/// Everything a WeRun upload goes through before the database: decrypt with the session
/// key, read the step list, check the watermark against `appid` at `now_unix`, map each
/// entry to its campaign-local day in `tz` and judge it against `window` on that day.
///
/// # Errors
/// The [`werun::WerunError`] of the first check that fails.
pub fn judge_werun(
    session_key: &str,
    upload: &WerunUpload,
    appid: &str,
    now_unix: i64,
    max_age_secs: i64,
    tz: chrono_tz::Tz,
    window: &DayWindow,
) -> Result<Judged, werun::WerunError> {
    let plain = werun::decrypt(session_key, &upload.iv, &upload.encrypted_data)?;
    let data = werun::parse(&plain)?;
    werun::check_watermark(&data, appid, now_unix, max_age_secs)?;
    let now = chrono::DateTime::from_timestamp(now_unix, 0).unwrap_or_default();
    let today = crate::domain::days::today_in(tz, now);
    Ok(judge_days_in(
        window,
        today,
        data.step_info_list.iter().map(|e| {
            let day = werun_day(e.timestamp, tz);
            let raw = day.map_or_else(|| format!("@{}", e.timestamp), |d| d.to_string());
            (raw, day, e.step)
        }),
    ))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().collect::<String>() + c.as_str())
}

async fn finish_upload(
    up: Uploads<'_>,
    ctx: &Arc<CampaignCtx>,
    participant_id: i32,
    good: BTreeMap<NaiveDate, i64>,
    rejected: Vec<RejectedDay>,
    source: StepSource,
) -> ApiResult<UploadAnswer> {
    let dates = if up.settings.cache.cohort_dates_max_staleness_ms == 0 {
        CohortDates::Now
    } else {
        CohortDates::Deferred
    };
    let outcome = up
        .queue
        .store(Upload {
            ctx: Arc::clone(ctx),
            participant_id,
            good,
            source,
            dates,
        })
        .await?;
    // A replay changes no board: no screen needs to hear of it.
    if outcome.changed {
        live::after_upload(up.db, up.events, ctx, &outcome.enrollment, &outcome.newly).await;
    }
    let progress = match &outcome.class {
        Some(class) => me::progress_view_with(up.db, up.boards, ctx, &outcome.enrollment, Some(class)).await?,
        None => me::progress_view(up.db, up.boards, ctx, &outcome.enrollment).await?,
    };
    let newly_unlocked = outcome
        .newly
        .iter()
        .filter_map(|(seq, day)| {
            ctx.station(*seq).map(|s| UnlockedStation {
                seq: s.seq,
                name: s.name.clone(),
                title: s.title.clone(),
                reached_on: *day,
            })
        })
        .collect();
    Ok(UploadAnswer {
        accepted: outcome.accepted,
        rejected,
        progress,
        newly_unlocked,
    })
}

#[cfg(test)]
mod tests {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use chrono::{Days, TimeZone};
    use chrono_tz::Asia::Shanghai;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::days::MAX_STEPS_PER_DAY;

    const KEY: [u8; 16] = *b"longmarch-key-16";
    const IV: [u8; 16] = *b"0123456789abcdef";
    const APPID: &str = "wx4f4bc4dec97d474b";

    /// A window of 20 days ending on `today`, and noon of `today` in Shanghai.
    fn setting() -> (DayWindow, NaiveDate, i64) {
        let today = NaiveDate::from_ymd_opt(2025, 3, 20).expect("date");
        let window = DayWindow {
            starts_on: today - Days::new(19),
            ends_on: today + Days::new(10),
            sync_grace_days: 3,
        };
        let noon = Shanghai
            .from_local_datetime(&today.and_hms_opt(12, 0, 0).expect("noon"))
            .single()
            .expect("unambiguous")
            .timestamp();
        (window, today, noon)
    }

    fn assert_within_rules(window: &DayWindow, today: NaiveDate, (good, rejected): &Judged, entries: usize) {
        assert!(good.len() + rejected.len() <= entries);
        for (day, steps) in good {
            assert!(*day >= window.starts_on && *day <= today, "{day}");
            assert!((0..=MAX_STEPS_PER_DAY).contains(steps), "{steps}");
        }
    }

    #[test]
    fn every_flipped_bit_of_iv_or_ciphertext_fails_cleanly_or_stays_within_the_rules() {
        let (window, today, now) = setting();
        let entries: Vec<String> = (0..31)
            .map(|i| {
                let day = today - Days::new(30 - i);
                let midnight = Shanghai
                    .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
                    .single()
                    .expect("unambiguous")
                    .timestamp();
                format!(r#"{{"timestamp":{midnight},"step":{}}}"#, 49_000 + i)
            })
            .collect();
        let plain = format!(
            r#"{{"stepInfoList":[{}],"watermark":{{"timestamp":{now},"appid":"{APPID}"}}}}"#,
            entries.join(",")
        );
        let key = STANDARD.encode(KEY);
        let iv = IV.to_vec();
        let data = STANDARD
            .decode(werun::encrypt(&KEY, &IV, plain.as_bytes()))
            .expect("base64");
        let judge = |iv: &[u8], data: &[u8]| {
            let upload = WerunUpload {
                encrypted_data: STANDARD.encode(data),
                iv: STANDARD.encode(iv),
            };
            judge_werun(&key, &upload, APPID, now, 86_400, Shanghai, &window)
        };
        let untouched = judge(&iv, &data).expect("the genuine payload passes");
        assert_eq!(untouched.0.len(), 20);
        let (mut refused, mut passed) = (0usize, 0usize);
        let mut check = |result: Result<Judged, werun::WerunError>| match result {
            Err(e) => {
                assert!(e.code().starts_with("werun_"));
                refused += 1;
            }
            Ok(judged) => {
                assert_within_rules(&window, today, &judged, 31);
                passed += 1;
            }
        };
        for bit in 0..iv.len() * 8 {
            let mut t = iv.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            check(judge(&t, &data));
        }
        for bit in 0..data.len() * 8 {
            let mut t = data.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            check(judge(&iv, &t));
        }
        assert_eq!(refused + passed, (iv.len() + data.len()) * 8);
        assert!(
            refused * 10 > (refused + passed) * 9,
            "{refused} refused, {passed} passed"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_step_batches_are_judged_within_the_rules(
            days in prop::collection::vec(("\\PC{0,12}|20[0-9]{2}-[01][0-9]-[0-3][0-9]", any::<i64>()), 0..40),
        ) {
            let (window, today, _) = setting();
            let n = days.len();
            let input = days.into_iter().map(|(date, steps)| StepDayInput { date, steps }).collect();
            let judged = judge_batch(&window, today, input);
            assert_within_rules(&window, today, &judged, n);
            for r in &judged.1 {
                prop_assert!(!r.code.is_empty() && !r.reason.is_empty());
            }
        }

        #[test]
        fn arbitrary_bytes_as_a_step_batch_body_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let (window, today, _) = setting();
            if let Ok(batch) = serde_json::from_slice::<StepBatch>(&body) {
                let n = batch.days.len();
                assert_within_rules(&window, today, &judge_batch(&window, today, batch.days), n);
            }
        }

        #[test]
        fn arbitrary_werun_uploads_fail_cleanly_or_stay_within_the_rules(
            iv in "\\PC{0,30}|[A-Za-z0-9+/]{22}==",
            data in "\\PC{0,100}|([A-Za-z0-9+/]{4}){4,40}",
        ) {
            let (window, today, now) = setting();
            let upload = WerunUpload { encrypted_data: data, iv };
            if let Ok(judged) = judge_werun(&STANDARD.encode(KEY), &upload, APPID, now, 86_400, Shanghai, &window) {
                assert_within_rules(&window, today, &judged, werun::MAX_STEP_ENTRIES);
            }
        }
    }
}
