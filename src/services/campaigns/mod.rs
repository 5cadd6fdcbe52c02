//! Public campaign information: what anyone may see before joining.

pub mod cache;
pub mod join;
pub mod route_documents;
pub mod seed;

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    http::error::{ApiError, ApiResult},
    models::{campaigns, cohorts, routes, stations},
};

/// A campaign as the public sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignSummary {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: campaigns::CampaignStatus,
    pub timezone: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub progress_mode: crate::domain::conversion::ProgressMode,
    pub steps_per_km: i32,
    pub daily_step_cap: i32,
    pub step_sources: Vec<crate::domain::states::StepSource>,
    pub route: RouteSummary,
}

/// The route a campaign walks.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteSummary {
    pub slug: String,
    pub name: String,
    pub total_metres: i64,
    pub station_count: u64,
}

/// A station in the public route outline: no story, no image.
#[derive(Debug, Serialize, ToSchema)]
pub struct StationOutline {
    pub seq: i32,
    pub name: String,
    pub metres: i64,
    pub event_date: Option<NaiveDate>,
    pub event_date_end: Option<NaiveDate>,
    /// WGS84 degrees of the place, when the route gives them (both or neither).
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// A cohort in the public outline: names only, never join codes.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohortOutline {
    pub id: i32,
    pub parent_id: Option<i32>,
    pub name: String,
    pub path: String,
}

/// A campaign with its route outline.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignDetail {
    #[serde(flatten)]
    pub campaign: CampaignSummary,
    pub distance_note: String,
    pub stations: Vec<StationOutline>,
    pub cohorts: Vec<CohortOutline>,
    /// The 订阅消息 templates the mini-program asks the student to accept on the sync tap;
    /// empty when the campaign's reminders are off or have no template.
    pub reminder_template_ids: Vec<String>,
}

/// A page of public campaigns.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    pub items: Vec<CampaignSummary>,
    pub total: u64,
}

async fn summary(db: &impl ConnectionTrait, c: campaigns::Model, route: &routes::Model) -> ApiResult<CampaignSummary> {
    let station_count = stations::Entity::find()
        .filter(stations::Column::RouteId.eq(route.id))
        .count(db)
        .await?;
    Ok(CampaignSummary {
        step_sources: c.sources().collect(),
        slug: c.slug,
        title: c.title,
        description: c.description,
        status: c.status,
        timezone: c.timezone,
        starts_on: c.starts_on,
        ends_on: c.ends_on,
        progress_mode: c.progress_mode,
        steps_per_km: c.steps_per_km,
        daily_step_cap: c.daily_step_cap,
        route: RouteSummary {
            slug: route.slug.clone(),
            name: route.name.clone(),
            total_metres: route.total_metres,
            station_count,
        },
    })
}

/// Lists active and closed campaigns, newest start first.
///
/// # Errors
/// On database failure.
pub async fn list_public(db: &impl ConnectionTrait, limit: u64, offset: u64) -> ApiResult<CampaignList> {
    let query = campaigns::Entity::find().filter(campaigns::Column::Status.ne(campaigns::CampaignStatus::Draft));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(campaigns::Column::StartsOn)
        .order_by_asc(campaigns::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for c in rows {
        let route = routes::Entity::find_by_id(c.route_id)
            .one(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("campaign {} has no route", c.slug))?;
        items.push(summary(db, c, &route).await?);
    }
    Ok(CampaignList { items, total })
}

/// The one answer for a campaign a caller may not see, whether it exists or not.
pub fn not_found(slug: &str) -> ApiError {
    ApiError::not_found("campaign_not_found", format!("No campaign `{slug}` exists."))
}

/// Loads a campaign by slug, drafts included (for organisers' and operators' tools).
///
/// # Errors
/// 404 `campaign_not_found` for unknown slugs.
pub async fn find_any(db: &impl ConnectionTrait, slug: &str) -> ApiResult<campaigns::Model> {
    campaigns::Model::find_by_slug(db, slug)
        .await?
        .ok_or_else(|| not_found(slug))
}

/// Loads a campaign the public may see.
///
/// # Errors
/// 404 `campaign_not_found` for unknown slugs and drafts.
pub async fn find_public(db: &impl ConnectionTrait, slug: &str) -> ApiResult<campaigns::Model> {
    campaigns::Model::find_by_slug(db, slug)
        .await?
        .filter(campaigns::Model::is_public)
        .ok_or_else(|| not_found(slug))
}

/// A public campaign with its route outline (stations without stories) and cohort names;
/// with `draft_too` (a board screen of this very campaign), also a draft.
///
/// # Errors
/// 404 `campaign_not_found` for unknown slugs and (unless `draft_too`) drafts.
pub async fn detail(db: &impl ConnectionTrait, slug: &str, draft_too: bool) -> ApiResult<CampaignDetail> {
    let c = if draft_too {
        find_any(db, slug).await?
    } else {
        find_public(db, slug).await?
    };
    let route = routes::Entity::find_by_id(c.route_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("campaign {} has no route", c.slug))?;
    let stations = route
        .stations(db)
        .await?
        .into_iter()
        .map(|s| StationOutline {
            seq: s.seq,
            name: s.name,
            metres: s.metres,
            event_date: s.event_date,
            event_date_end: s.event_date_end,
            lat: s.lat,
            lon: s.lon,
        })
        .collect();
    let cohorts = cohorts::Model::all_of(db, c.id)
        .await?
        .into_iter()
        .map(|k| CohortOutline {
            id: k.id,
            parent_id: k.parent_id,
            name: k.name,
            path: k.path,
        })
        .collect();
    let distance_note = route.distance_note.clone();
    let reminder_template_ids = c
        .reminder_template_id
        .clone()
        .filter(|t| c.reminders_enabled && !t.is_empty())
        .into_iter()
        .collect();
    Ok(CampaignDetail {
        reminder_template_ids,
        campaign: summary(db, c, &route).await?,
        distance_note,
        stations,
        cohorts,
    })
}
