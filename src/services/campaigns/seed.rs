//! First-start seeding: the built-in route and, when `seed.demo` is on, the demo campaign
//! `long-march-demo` with its four classes. Seeding checks before it writes and runs in one
//! transaction, so starting again (or two processes starting at once) never seeds twice.

use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, IntoActiveModel, Set};

use crate::{
    http::error::is_unique_violation,
    models::{campaigns, cohorts, routes},
    services::campaigns::route_documents::RouteDoc,
    settings::SeedSettings,
};

/// Slug of the demo campaign.
pub const DEMO_SLUG: &str = "long-march-demo";
/// Slug of the built-in route.
pub const BUILT_IN_ROUTE_SLUG: &str = "long-march";

/// The demo's classes: (college, class, join code).
const DEMO_COHORTS: [(&str, &str, &str); 4] = [
    ("计算机学院", "软件2301", "DEMO01"),
    ("计算机学院", "网络2302", "DEMO02"),
    ("商学院", "电商2301", "DEMO03"),
    ("商学院", "会计2302", "DEMO04"),
];

/// Seeds what the settings ask for and is missing.
///
/// # Errors
/// On database failure other than losing a race to another process seeding the same rows.
pub async fn run(db: &DatabaseConnection, settings: &SeedSettings) -> anyhow::Result<()> {
    if !(settings.route || settings.demo) {
        return Ok(());
    }
    match seed(db, settings.demo).await {
        Err(e) if e.downcast_ref::<sea_orm::DbErr>().is_some_and(is_unique_violation) => {
            tracing::info!("another process seeded the database first");
            Ok(())
        }
        other => other,
    }
}

/// An active campaign with the demo's rules (Shanghai time, cohort_mean, 18 steps per km,
/// 50,000-step cap, flag at 60,000, 3 grace days, WeRun and manual uploads), without cohorts.
pub fn demo_shaped(
    route_id: i32,
    slug: &str,
    starts_on: chrono::NaiveDate,
    ends_on: chrono::NaiveDate,
) -> campaigns::ActiveModel {
    let now = Utc::now();
    campaigns::ActiveModel {
        slug: Set(slug.to_owned()),
        title: Set(slug.to_owned()),
        description: Set(String::new()),
        route_id: Set(route_id),
        timezone: Set(chrono_tz::Asia::Shanghai.name().to_owned()),
        starts_on: Set(starts_on),
        ends_on: Set(ends_on),
        status: Set(campaigns::CampaignStatus::Active),
        progress_mode: Set(crate::domain::conversion::ProgressMode::CohortMean),
        steps_per_km: Set(18),
        daily_step_cap: Set(50_000),
        flag_steps_over: Set(60_000),
        sync_grace_days: Set(3),
        step_sources: Set("werun,manual".to_owned()),
        owner_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Gives the built-in route's stations stored before stations had coordinates the
/// built-in positions: only stations without one, matched by `seq` and name, so a route
/// an organiser edited keeps its edits.
async fn place_stations(db: &impl ConnectionTrait, route: &routes::Model) -> anyhow::Result<()> {
    let doc = RouteDoc::built_in()?;
    let mut placed = 0;
    for st in route.stations(db).await? {
        if st.lat.is_some() || st.lon.is_some() {
            continue;
        }
        let Some(known) = doc.stations.iter().find(|d| d.seq == st.seq && d.name == st.name) else {
            continue;
        };
        if known.lat.is_none() {
            continue;
        }
        let mut a = st.into_active_model();
        a.lat = Set(known.lat);
        a.lon = Set(known.lon);
        a.update(db).await?;
        placed += 1;
    }
    if placed > 0 {
        tracing::info!(route = %route.slug, stations = placed, "gave the built-in route's stations their coordinates");
    }
    Ok(())
}

async fn seed(db: &DatabaseConnection, demo: bool) -> anyhow::Result<()> {
    let txn = crate::db::begin_write(db).await?;
    let route = match routes::Model::find_by_slug(&txn, BUILT_IN_ROUTE_SLUG).await? {
        Some(r) => {
            place_stations(&txn, &r).await?;
            r
        }
        None => {
            let doc = RouteDoc::built_in()?;
            let route = doc.insert(&txn).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!(route = %route.slug, stations = doc.stations.len(), "seeded the built-in route");
            route
        }
    };
    if demo && campaigns::Model::find_by_slug(&txn, DEMO_SLUG).await?.is_none() {
        let tz = chrono_tz::Asia::Shanghai;
        let today = Utc::now().with_timezone(&tz).date_naive();
        let mut campaign = demo_shaped(
            route.id,
            DEMO_SLUG,
            today - Duration::days(7),
            today + Duration::days(30),
        );
        campaign.title = Set("长征永远在路上 · 演示活动".to_owned());
        campaign.description = Set("每天一万步，二十三天走完二万五千里长征路。".to_owned());
        let campaign = campaign.insert(&txn).await?;
        for (college, class, code) in DEMO_COHORTS {
            let parent = match cohorts::Model::find_by_path(&txn, campaign.id, college).await? {
                Some(p) => p,
                None => cohorts::Model::create(&txn, campaign.id, None, college, None).await?,
            };
            cohorts::Model::create(&txn, campaign.id, Some(&parent), class, Some(code)).await?;
        }
        tracing::info!(campaign = DEMO_SLUG, "seeded the demo campaign");
    }
    txn.commit().await?;
    Ok(())
}
