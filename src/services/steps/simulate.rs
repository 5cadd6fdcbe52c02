//! `longmarch simulate`: fills a campaign with N participants and D days of realistic steps,
//! ingested through the same code as the API.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::{
    domain::states::StepSource,
    http::error::{ApiError, ApiResult},
    models::{cohorts, enrollments, participants},
    services::{
        progress::{CampaignCtx, CohortDates, recompute_in, refresh_stale_cohorts},
        steps::store::store_all_in,
    },
};

/// Participants created and ingested per transaction.
const CHUNK: usize = 200;

/// One simulated day's steps: most 4,000–15,000, a few idle days, a few over the cap.
pub fn realistic_steps(rng: &mut impl Rng) -> i64 {
    match rng.random_range(0..100) {
        0..=4 => 0,
        5..=7 => rng.random_range(50_000..75_000),
        8..=19 => rng.random_range(15_000..25_000),
        _ => rng.random_range(4_000..15_000),
    }
}

/// Creates `participants` participants in the campaign's leaf cohorts and ingests `days`
/// days (ending today, inside the campaign window) for each.
///
/// # Errors
/// 404 unknown campaign; 422 for a draft campaign or one without leaf cohorts in a cohort
/// mode; on database failure.
pub async fn run(
    db: &DatabaseConnection,
    slug: &str,
    participants_n: u32,
    days: u32,
    progress: bool,
) -> ApiResult<String> {
    let campaign = crate::services::campaigns::find_any(db, slug).await?;
    let ctx = CampaignCtx::from_model(db, campaign).await?;
    let all = cohorts::Model::all_of(db, ctx.campaign.id).await?;
    let leaves: Vec<&cohorts::Model> = all
        .iter()
        .filter(|c| !all.iter().any(|o| o.parent_id == Some(c.id)))
        .collect();
    if ctx.cohort_mode() && leaves.is_empty() {
        return Err(ApiError::unprocessable(
            "no_cohorts",
            "The campaign has no cohorts to put participants in.",
        ));
    }
    let today = ctx.today().min(ctx.campaign.ends_on);
    let first = (today - Duration::days(i64::from(days.max(1)) - 1)).max(ctx.campaign.starts_on);
    let dates: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= today).collect();
    let started = std::time::Instant::now();
    let tag: u32 = rand::rng().random();
    let mut rng = StdRng::seed_from_u64(u64::from(tag));

    // 1. Participants and enrollments in bulk, then member counts through a rebuild.
    let now = Utc::now();
    let total = usize::try_from(participants_n).unwrap_or(0);
    let mut ids = Vec::with_capacity(total);
    for start in (0..total).step_by(CHUNK) {
        let end = (start + CHUNK).min(total);
        let txn = crate::db::begin_write(db).await?;
        let rows = (start..end).map(|i| participants::ActiveModel {
            openid: Set(format!("sim-{tag:08x}-{i}")),
            unionid: Set(None),
            session_key: Set(None),
            display_name: Set(format!("队员{i:05}")),
            name_check_pending: Set(false),
            student_no: Set(Some(format!("S{tag:08x}{i:06}"))),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(now),
            ..Default::default()
        });
        participants::Entity::insert_many(rows).exec(&txn).await?;
        let created = participants::Entity::find()
            .filter(participants::Column::Openid.starts_with(format!("sim-{tag:08x}-")))
            .filter(participants::Column::CreatedAt.eq(now))
            .all(&txn)
            .await?;
        let fresh: Vec<_> = created.iter().filter(|p| !ids.contains(&p.id)).map(|p| p.id).collect();
        let rows = fresh.iter().enumerate().map(|(k, pid)| {
            let cohort = (!leaves.is_empty()).then(|| leaves[(start + k) % leaves.len()].id);
            enrollments::new_active(ctx.campaign.id, *pid, cohort, now)
        });
        enrollments::Entity::insert_many(rows).exec(&txn).await?;
        txn.commit().await?;
        ids.extend(fresh);
    }
    let txn = crate::db::begin_write(db).await?;
    recompute_in(&txn, &ctx).await?;
    txn.commit().await?;

    // 2. Days, ingested participant by participant through the API's code path.
    let bar = if progress {
        let bar = ProgressBar::new(ids.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} participants {elapsed_precise} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    for chunk in ids.chunks(50) {
        let txn = crate::db::begin_write(db).await?;
        let goods: Vec<(i32, BTreeMap<NaiveDate, i64>)> = chunk
            .iter()
            .map(|pid| (*pid, dates.iter().map(|d| (*d, realistic_steps(&mut rng))).collect()))
            .collect();
        // The chunk's classes, colleges and campaign days are written once, at its end.
        let uploads = goods.iter().map(|(pid, good)| (*pid, good));
        store_all_in(&txn, &ctx, uploads, StepSource::Import, CohortDates::Deferred).await?;
        txn.commit().await?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    // The classes' moved unlock dates, once for all of them rather than once per member.
    refresh_stale_cohorts(db, Some(ctx.campaign.id)).await?;
    Ok(format!(
        "simulated {} participants × {} days in campaign `{}` in {:.1} s",
        ids.len(),
        dates.len(),
        ctx.campaign.slug,
        started.elapsed().as_secs_f64()
    ))
}
