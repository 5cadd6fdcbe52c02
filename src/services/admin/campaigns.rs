//! Campaign administration: create, read, update, list, lifecycle, grants and the planner.

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{
        conversion::{self, ProgressMode},
        days::parse_local_day,
        names::Slug,
    },
    http::error::{ApiError, ApiResult},
    models::{
        campaign_grants,
        campaigns::{self, CampaignStatus, StepSource},
        organisers, routes, step_days,
    },
    services::{
        admin::{access, audit},
        campaigns::cache::CampaignCache,
        identity::Organiser,
        progress,
    },
};

fn default_route() -> String {
    "long-march".to_owned()
}
fn default_timezone() -> String {
    "Asia/Shanghai".to_owned()
}
fn default_cap() -> i32 {
    50_000
}
fn default_flag() -> i32 {
    60_000
}
fn default_grace() -> i32 {
    3
}
fn default_sources() -> Vec<String> {
    [StepSource::Werun, StepSource::Manual]
        .map(|s| s.as_str().to_owned())
        .into()
}

/// `POST /admin/campaigns`. Unknown fields (such as `status`, `owner` or `id`) are rejected.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignCreate {
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// A route's slug; default `long-march`.
    #[serde(default = "default_route")]
    pub route: String,
    /// IANA zone; default `Asia/Shanghai`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// `YYYY-MM-DD`, inclusive.
    pub starts_on: String,
    /// `YYYY-MM-DD`, inclusive; not before `starts_on`.
    pub ends_on: String,
    /// `individual`, `cohort_total` or `cohort_mean`.
    pub progress_mode: String,
    pub steps_per_km: i64,
    #[serde(default = "default_cap")]
    pub daily_step_cap: i32,
    #[serde(default = "default_flag")]
    pub flag_steps_over: i32,
    #[serde(default = "default_grace")]
    pub sync_grace_days: i32,
    /// Subset of `werun`, `manual`, `import`.
    #[serde(default = "default_sources")]
    pub step_sources: Vec<String>,
}

/// `PATCH /admin/campaigns/{slug}`: only the fields sent change. `route`, `timezone`,
/// `starts_on`, `ends_on`, `progress_mode`, `steps_per_km` and `daily_step_cap` change only
/// while the campaign is a draft, or when active with `?recompute=true`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub route: Option<String>,
    pub timezone: Option<String>,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    pub progress_mode: Option<String>,
    pub steps_per_km: Option<i64>,
    pub daily_step_cap: Option<i32>,
    pub flag_steps_over: Option<i32>,
    pub sync_grace_days: Option<i32>,
    pub step_sources: Option<Vec<String>>,
    /// Evening reminders on or off.
    pub reminders_enabled: Option<bool>,
    /// Campaign-local `HH:MM` at which reminders go out.
    pub reminder_time: Option<String>,
    /// The 订阅消息 template of reminders; an empty string clears it.
    pub reminder_template_id: Option<String>,
}

impl CampaignPatch {
    /// True when a field that changes everyone's progress is present.
    fn touches_progress(&self) -> bool {
        self.route.is_some()
            || self.timezone.is_some()
            || self.starts_on.is_some()
            || self.ends_on.is_some()
            || self.progress_mode.is_some()
            || self.steps_per_km.is_some()
            || self.daily_step_cap.is_some()
    }
}

/// A campaign as organisers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminCampaign {
    pub id: i32,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub route: String,
    pub route_id: i32,
    pub timezone: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub status: CampaignStatus,
    pub progress_mode: ProgressMode,
    pub steps_per_km: i32,
    pub daily_step_cap: i32,
    pub flag_steps_over: i32,
    pub sync_grace_days: i32,
    pub step_sources: Vec<StepSource>,
    pub reminders_enabled: bool,
    pub reminder_time: String,
    pub reminder_template_id: Option<String>,
    pub owner: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// A page of campaigns.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminCampaignList {
    pub items: Vec<AdminCampaign>,
    pub total: u64,
}

/// The view of a campaign row.
///
/// # Errors
/// On database failure.
pub async fn view(db: &impl ConnectionTrait, c: campaigns::Model) -> ApiResult<AdminCampaign> {
    let route = routes::Entity::find_by_id(c.route_id)
        .one(db)
        .await?
        .map(|r| r.slug)
        .unwrap_or_default();
    let owner = match c.owner_id {
        Some(id) => organisers::Entity::find_by_id(id).one(db).await?.map(|o| o.username),
        None => None,
    };
    Ok(AdminCampaign {
        id: c.id,
        step_sources: c.sources().collect(),
        slug: c.slug,
        title: c.title,
        description: c.description,
        route,
        route_id: c.route_id,
        timezone: c.timezone,
        starts_on: c.starts_on,
        ends_on: c.ends_on,
        status: c.status,
        progress_mode: c.progress_mode,
        steps_per_km: c.steps_per_km,
        daily_step_cap: c.daily_step_cap,
        flag_steps_over: c.flag_steps_over,
        sync_grace_days: c.sync_grace_days,
        reminders_enabled: c.reminders_enabled,
        reminder_time: c.reminder_time,
        reminder_template_id: c.reminder_template_id,
        owner,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// A short summary of the settings of a campaign, for the audit log.
fn audit_summary(c: &campaigns::Model) -> serde_json::Value {
    json!({
        "title": c.title,
        "route_id": c.route_id,
        "timezone": c.timezone,
        "starts_on": c.starts_on,
        "ends_on": c.ends_on,
        "status": c.status,
        "progress_mode": c.progress_mode,
        "steps_per_km": c.steps_per_km,
        "daily_step_cap": c.daily_step_cap,
        "flag_steps_over": c.flag_steps_over,
        "sync_grace_days": c.sync_grace_days,
        "step_sources": c.step_sources,
        "reminders_enabled": c.reminders_enabled,
        "reminder_time": c.reminder_time,
        "reminder_template_id": c.reminder_template_id,
    })
}

/// Reminder settings of a campaign patch; they may change in any state.
fn apply_reminder_patch(a: &mut campaigns::ActiveModel, patch: &CampaignPatch) -> ApiResult<()> {
    if let Some(on) = patch.reminders_enabled {
        a.reminders_enabled = Set(on);
    }
    if let Some(t) = &patch.reminder_time {
        let time = crate::services::wechat::reminders::parse_reminder_time(t)
            .ok_or_else(|| ApiError::invalid_field("reminder_time", "must be a 24-hour time HH:MM, e.g. 21:00"))?;
        a.reminder_time = Set(time.format("%H:%M").to_string());
    }
    if let Some(t) = &patch.reminder_template_id {
        let t = t.trim();
        if t.len() > 128 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ApiError::invalid_field(
                "reminder_template_id",
                "must be a 订阅消息 template id (letters, digits, - and _)",
            ));
        }
        a.reminder_template_id = Set((!t.is_empty()).then(|| t.to_owned()));
    }
    Ok(())
}

fn parse_title(raw: &str) -> ApiResult<String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 100 {
        return Err(ApiError::invalid_field("title", "must be 1–100 characters"));
    }
    Ok(t.to_owned())
}

fn parse_description(raw: &str) -> ApiResult<String> {
    if raw.chars().count() > 10_000 {
        return Err(ApiError::invalid_field(
            "description",
            "must be at most 10,000 characters",
        ));
    }
    Ok(raw.to_owned())
}

fn parse_timezone(raw: &str) -> ApiResult<String> {
    raw.trim()
        .parse::<Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| ApiError::invalid_field("timezone", "must be an IANA time zone such as Asia/Shanghai"))
}

fn parse_date(field: &str, raw: &str) -> ApiResult<NaiveDate> {
    parse_local_day(raw.trim()).ok_or_else(|| ApiError::invalid_field(field, "must be a date YYYY-MM-DD"))
}

fn parse_mode(raw: &str) -> ApiResult<ProgressMode> {
    raw.parse()
        .map_err(|_| ApiError::invalid_field("progress_mode", "must be individual, cohort_total or cohort_mean"))
}

fn parse_spk(raw: i64) -> ApiResult<i32> {
    i32::try_from(raw)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| ApiError::invalid_field("steps_per_km", "must be a positive integer"))
}

fn positive(field: &str, v: i32) -> ApiResult<i32> {
    if v > 0 {
        Ok(v)
    } else {
        Err(ApiError::invalid_field(field, "must be greater than 0"))
    }
}

fn parse_grace(v: i32) -> ApiResult<i32> {
    if (0..=60).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::invalid_field("sync_grace_days", "must be 0–60"))
    }
}

fn parse_sources(raw: &[String]) -> ApiResult<String> {
    if raw.is_empty() {
        return Err(ApiError::invalid_field("step_sources", "name at least one source"));
    }
    let mut out: Vec<&str> = Vec::new();
    for s in raw {
        let Some(source) = StepSource::named(s.trim()) else {
            return Err(ApiError::invalid_field(
                "step_sources",
                format!("`{}` is not one of werun, manual, import", s.trim()),
            ));
        };
        if !out.contains(&source.as_str()) {
            out.push(source.as_str());
        }
    }
    Ok(out.join(","))
}

async fn find_route(db: &impl ConnectionTrait, slug: &str) -> ApiResult<routes::Model> {
    routes::Model::find_by_slug(db, slug.trim())
        .await?
        .ok_or_else(|| ApiError::invalid_field("route", format!("no route `{}` exists", slug.trim())))
}

fn check_dates(starts_on: NaiveDate, ends_on: NaiveDate) -> ApiResult<()> {
    if starts_on > ends_on {
        return Err(ApiError::invalid_field("ends_on", "must not be before starts_on"));
    }
    if (ends_on - starts_on).num_days() > 3660 {
        return Err(ApiError::invalid_field("ends_on", "a campaign lasts at most ten years"));
    }
    Ok(())
}

fn check_caps(cap: i32, flag: i32) -> ApiResult<()> {
    positive("daily_step_cap", cap)?;
    positive("flag_steps_over", flag)?;
    Ok(())
}

/// Creates a draft campaign owned by its creator.
///
/// # Errors
/// 422 `validation_failed` naming the field at fault; 409 `slug_taken`.
#[tracing::instrument(skip(db, body), fields(organiser = who.id, campaign = %body.slug))]
pub async fn create(db: &DatabaseConnection, who: &Organiser, body: CampaignCreate) -> ApiResult<AdminCampaign> {
    let slug = Slug::parse(body.slug.trim())
        .ok_or_else(|| ApiError::invalid_field("slug", Slug::RULE))?
        .into_string();
    let title = parse_title(&body.title)?;
    let description = parse_description(&body.description)?;
    let timezone = parse_timezone(&body.timezone)?;
    let starts_on = parse_date("starts_on", &body.starts_on)?;
    let ends_on = parse_date("ends_on", &body.ends_on)?;
    check_dates(starts_on, ends_on)?;
    let mode = parse_mode(&body.progress_mode)?;
    let spk = parse_spk(body.steps_per_km)?;
    check_caps(body.daily_step_cap, body.flag_steps_over)?;
    let grace = parse_grace(body.sync_grace_days)?;
    let sources = parse_sources(&body.step_sources)?;

    let txn = crate::db::begin_write(db).await?;
    let route = find_route(&txn, &body.route).await?;
    if campaigns::Model::find_by_slug(&txn, &slug).await?.is_some() {
        return Err(ApiError::conflict(
            "slug_taken",
            format!("A campaign `{slug}` already exists."),
        ));
    }
    let now = Utc::now();
    let model = campaigns::ActiveModel {
        slug: Set(slug.clone()),
        title: Set(title),
        description: Set(description),
        route_id: Set(route.id),
        timezone: Set(timezone),
        starts_on: Set(starts_on),
        ends_on: Set(ends_on),
        status: Set(CampaignStatus::Draft),
        progress_mode: Set(mode),
        steps_per_km: Set(spk),
        daily_step_cap: Set(body.daily_step_cap),
        flag_steps_over: Set(body.flag_steps_over),
        sync_grace_days: Set(grace),
        step_sources: Set(sources),
        owner_id: Set(Some(who.id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        Some(model.id),
        who,
        "campaign.create",
        &format!("campaign:{slug}"),
        json!({ "after": audit_summary(&model) }),
    )
    .await?;
    let out = view(&txn, model).await?;
    txn.commit().await?;
    Ok(out)
}

/// The campaigns an organiser may administer (all for admins), newest first.
///
/// # Errors
/// On database failure.
pub async fn list(db: &impl ConnectionTrait, who: &Organiser, limit: u64, offset: u64) -> ApiResult<AdminCampaignList> {
    let mut q = campaigns::Entity::find();
    if !who.admin {
        let granted: Vec<i32> = campaign_grants::Entity::find()
            .filter(campaign_grants::Column::OrganiserId.eq(who.id))
            .all(db)
            .await?
            .into_iter()
            .map(|g| g.campaign_id)
            .collect();
        let mut cond = sea_orm::Condition::any().add(campaigns::Column::OwnerId.eq(who.id));
        if !granted.is_empty() {
            cond = cond.add(campaigns::Column::Id.is_in(granted));
        }
        q = q.filter(cond);
    }
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(campaigns::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for c in rows {
        items.push(view(db, c).await?);
    }
    Ok(AdminCampaignList { items, total })
}

/// One campaign the organiser may administer.
///
/// # Errors
/// 404 `campaign_not_found`.
pub async fn get(db: &impl ConnectionTrait, who: &Organiser, slug: &str) -> ApiResult<AdminCampaign> {
    let c = access::require_campaign_access(db, who, slug).await?;
    view(db, c).await
}

/// Updates a campaign. Fields that move everyone's progress change only in a draft, or in
/// an active campaign with `recompute` (every total and unlock is then rebuilt in the same
/// transaction). A closed campaign only takes a new title or description.
///
/// # Errors
/// 404 `campaign_not_found`; 409 `campaign_locked` / `campaign_closed`; 422 per field.
#[tracing::instrument(skip(db, cache, patch), fields(organiser = who.id, campaign = %slug))]
pub async fn update(
    db: &DatabaseConnection,
    cache: &CampaignCache,
    who: &Organiser,
    slug: &str,
    patch: CampaignPatch,
    recompute: bool,
) -> ApiResult<AdminCampaign> {
    let txn = crate::db::begin_write(db).await?;
    let before = access::require_campaign_access(&txn, who, slug).await?;
    let settings_touched = patch.flag_steps_over.is_some()
        || patch.sync_grace_days.is_some()
        || patch.step_sources.is_some()
        || patch.touches_progress();
    if before.status == CampaignStatus::Closed && settings_touched {
        return Err(ApiError::conflict(
            "campaign_closed",
            "The campaign is closed; only its title and description may change.",
        ));
    }
    let rebuild = patch.touches_progress() && before.status == CampaignStatus::Active;
    if rebuild && !recompute {
        return Err(ApiError::conflict(
            "campaign_locked",
            "The campaign is active: route, time zone, dates, mode, steps_per_km and daily_step_cap \
             change only with ?recompute=true, which rebuilds everyone's progress.",
        ));
    }
    let mut a = before.clone().into_active_model();
    if let Some(t) = &patch.title {
        a.title = Set(parse_title(t)?);
    }
    if let Some(d) = &patch.description {
        a.description = Set(parse_description(d)?);
    }
    if let Some(r) = &patch.route {
        a.route_id = Set(find_route(&txn, r).await?.id);
    }
    if let Some(tz) = &patch.timezone {
        a.timezone = Set(parse_timezone(tz)?);
    }
    let starts_on = match &patch.starts_on {
        Some(s) => parse_date("starts_on", s)?,
        None => before.starts_on,
    };
    let ends_on = match &patch.ends_on {
        Some(s) => parse_date("ends_on", s)?,
        None => before.ends_on,
    };
    check_dates(starts_on, ends_on)?;
    a.starts_on = Set(starts_on);
    a.ends_on = Set(ends_on);
    if let Some(m) = &patch.progress_mode {
        a.progress_mode = Set(parse_mode(m)?);
    }
    if let Some(v) = patch.steps_per_km {
        a.steps_per_km = Set(parse_spk(v)?);
    }
    let cap = patch.daily_step_cap.unwrap_or(before.daily_step_cap);
    let flag = patch.flag_steps_over.unwrap_or(before.flag_steps_over);
    check_caps(cap, flag)?;
    a.daily_step_cap = Set(cap);
    a.flag_steps_over = Set(flag);
    if let Some(g) = patch.sync_grace_days {
        a.sync_grace_days = Set(parse_grace(g)?);
    }
    if let Some(s) = &patch.step_sources {
        a.step_sources = Set(parse_sources(s)?);
    }
    apply_reminder_patch(&mut a, &patch)?;
    if !a.is_changed() {
        let out = view(&txn, before).await?;
        txn.commit().await?;
        cache.forget_all();
        return Ok(out);
    }
    a.updated_at = Set(Utc::now());
    let after = a.update(&txn).await?;
    if rebuild {
        if after.daily_step_cap != before.daily_step_cap {
            recount_step_days(&txn, &after).await?;
        }
        let ctx = progress::CampaignCtx::from_model(&txn, after.clone()).await?;
        progress::recompute_in(&txn, &ctx).await?;
    }
    audit::record(
        &txn,
        Some(after.id),
        who,
        if rebuild {
            "campaign.update_recompute"
        } else {
            "campaign.update"
        },
        &format!("campaign:{}", after.slug),
        json!({ "before": audit_summary(&before), "after": audit_summary(&after) }),
    )
    .await?;
    let out = view(&txn, after).await?;
    txn.commit().await?;
    cache.forget_all();
    Ok(out)
}

/// Re-applies the daily cap to every stored day: `counted = min(steps, cap)`.
async fn recount_step_days(db: &impl ConnectionTrait, c: &campaigns::Model) -> ApiResult<()> {
    step_days::Entity::update_many()
        .col_expr(
            step_days::Column::Counted,
            conversion::counted_sql(Expr::col(step_days::Column::Steps), i64::from(c.daily_step_cap)),
        )
        .filter(step_days::Column::CampaignId.eq(c.id))
        .exec(db)
        .await?;
    Ok(())
}

/// A change of a campaign's status an organiser may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// draft → active: participants may join and upload.
    Activate,
    /// active → closed: results are frozen, uploads answer 409 `campaign_closed`.
    Close,
}

impl Transition {
    /// The status it leaves, the status it enters, and its audit action.
    fn parts(self) -> (CampaignStatus, CampaignStatus, &'static str) {
        match self {
            Self::Activate => (CampaignStatus::Draft, CampaignStatus::Active, "campaign.activate"),
            Self::Close => (CampaignStatus::Active, CampaignStatus::Closed, "campaign.close"),
        }
    }
}

/// Moves a campaign through `transition`, audited; the campaign caches forget it.
///
/// # Errors
/// 404 `campaign_not_found`; 409 `invalid_transition` when the campaign is not in the
/// status the transition leaves.
#[tracing::instrument(skip(db, cache), fields(organiser = who.id, campaign = %slug))]
pub async fn transition(
    db: &DatabaseConnection,
    cache: &CampaignCache,
    who: &Organiser,
    slug: &str,
    transition: Transition,
) -> ApiResult<AdminCampaign> {
    let (from, to, action) = transition.parts();
    let txn = crate::db::begin_write(db).await?;
    let before = access::require_campaign_access(&txn, who, slug).await?;
    if before.status != from {
        return Err(ApiError::conflict(
            "invalid_transition",
            format!(
                "The campaign is {}; only a {from} campaign can become {to}.",
                before.status
            ),
        ));
    }
    let mut a = before.clone().into_active_model();
    a.status = Set(to);
    a.updated_at = Set(Utc::now());
    let after = a.update(&txn).await?;
    audit::record(
        &txn,
        Some(after.id),
        who,
        action,
        &format!("campaign:{slug}"),
        json!({ "before": { "status": before.status }, "after": { "status": after.status } }),
    )
    .await?;
    let out = view(&txn, after).await?;
    txn.commit().await?;
    cache.forget_all();
    Ok(out)
}

/// A grant as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub campaign: String,
    pub username: String,
    pub granted: bool,
}

/// The campaign and the organiser a grant names; the caller is an admin ([`set_grant`]).
async fn grant_parties(
    db: &impl ConnectionTrait,
    who: &Organiser,
    slug: &str,
    username: &str,
) -> ApiResult<(campaigns::Model, organisers::Model)> {
    let campaign = access::require_campaign_access(db, who, slug).await?;
    let organiser = organisers::Entity::find()
        .filter(organisers::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("organiser_not_found", format!("No organiser `{username}` exists.")))?;
    Ok((campaign, organiser))
}

/// What an admin does to an organiser's access to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Share the campaign with the organiser.
    Add,
    /// Withdraw the organiser's access.
    Remove,
}

/// Shares a campaign with an organiser or withdraws the grant (admins only); idempotent,
/// audited when it changes something.
///
/// # Errors
/// 403 `admin_only`; 404 `campaign_not_found` / `organiser_not_found`.
#[tracing::instrument(skip(db), fields(organiser = who.id, campaign = %slug))]
pub async fn set_grant(
    db: &DatabaseConnection,
    who: &Organiser,
    slug: &str,
    username: &str,
    change: Grant,
) -> ApiResult<GrantView> {
    // Before the write transaction: a refused caller waits for no writer's turn.
    access::require_admin(who)?;
    let txn = crate::db::begin_write(db).await?;
    let (campaign, organiser) = grant_parties(&txn, who, slug, username).await?;
    let pair = sea_orm::Condition::all()
        .add(campaign_grants::Column::CampaignId.eq(campaign.id))
        .add(campaign_grants::Column::OrganiserId.eq(organiser.id));
    let changed = match change {
        Grant::Add => {
            let existing = campaign_grants::Entity::find().filter(pair).one(&txn).await?;
            if existing.is_none() {
                campaign_grants::ActiveModel {
                    campaign_id: Set(campaign.id),
                    organiser_id: Set(organiser.id),
                    created_at: Set(Utc::now()),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
            }
            existing.is_none()
        }
        Grant::Remove => {
            let deleted = campaign_grants::Entity::delete_many().filter(pair).exec(&txn).await?;
            deleted.rows_affected > 0
        }
    };
    if changed {
        audit::record(
            &txn,
            Some(campaign.id),
            who,
            match change {
                Grant::Add => "grant.add",
                Grant::Remove => "grant.remove",
            },
            &format!("organiser:{username}"),
            json!({ "username": username }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(GrantView {
        campaign: campaign.slug,
        username: organiser.username,
        granted: change == Grant::Add,
    })
}

/// `GET /admin/campaigns/{slug}/plan` parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PlanQuery {
    /// Members of a cohort (used in `cohort_total` mode); default 1.
    pub participants: Option<i64>,
    /// Steps a participant walks a day; default 10,000.
    pub daily_steps: Option<i64>,
    /// Days to finish the route in; default the campaign's length.
    pub days: Option<i64>,
}

/// The planner's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub campaign: String,
    pub progress_mode: ProgressMode,
    pub route_metres: i64,
    pub participants: i64,
    pub daily_steps: i64,
    pub days: i64,
    /// The largest `steps_per_km` with which the route is finished within `days`.
    pub suggested_steps_per_km: i64,
    /// Days needed at the suggestion (≤ `days`).
    pub finish_in_days: i64,
    /// Local date the route would be finished when walking from `starts_on`.
    pub finish_on: Option<NaiveDate>,
    pub current_steps_per_km: i32,
    /// Days needed at the campaign's current `steps_per_km`.
    pub finish_in_days_at_current: i64,
}

/// Days to walk `metres` when the subject gains `daily_subject_steps` a day at `spk`.
fn days_to_finish(metres: i64, spk: i64, daily_subject_steps: i128) -> i64 {
    if daily_subject_steps <= 0 {
        return i64::MAX;
    }
    let need = i128::from(metres) * i128::from(spk);
    let per_day = daily_subject_steps * 1000;
    i64::try_from((need + per_day - 1) / per_day).unwrap_or(i64::MAX)
}

/// Suggests `steps_per_km` so the campaign's route is finished in `days`.
///
/// # Errors
/// 404 `campaign_not_found`; 422 for non-positive or impossible inputs.
pub async fn plan(db: &impl ConnectionTrait, who: &Organiser, slug: &str, q: &PlanQuery) -> ApiResult<PlanView> {
    let c = access::require_campaign_access(db, who, slug).await?;
    let route = routes::Entity::find_by_id(c.route_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("campaign {} has no route", c.slug))?;
    let mode = c.progress_mode;
    let participants = q.participants.unwrap_or(1);
    let daily = q.daily_steps.unwrap_or(10_000);
    let days = q.days.unwrap_or_else(|| (c.ends_on - c.starts_on).num_days() + 1);
    if participants <= 0 || participants > 1_000_000 {
        return Err(ApiError::invalid_field("participants", "must be 1–1,000,000"));
    }
    if daily <= 0 || daily > 200_000 {
        return Err(ApiError::invalid_field("daily_steps", "must be 1–200,000"));
    }
    if days <= 0 || days > 3660 {
        return Err(ApiError::invalid_field("days", "must be 1–3,660"));
    }
    let spk =
        conversion::suggest_steps_per_km(route.total_metres, mode, participants, daily, days).ok_or_else(|| {
            ApiError::invalid_field(
                "days",
                "the route can't be finished in that time even at one step per kilometre",
            )
        })?;
    let subject_daily = match mode {
        ProgressMode::CohortTotal => i128::from(daily) * i128::from(participants),
        ProgressMode::Individual | ProgressMode::CohortMean => i128::from(daily),
    };
    let finish_in_days = days_to_finish(route.total_metres, spk, subject_daily);
    let finish_on = finish_in_days
        .checked_sub(1)
        .and_then(|d| c.starts_on.checked_add_signed(chrono::Duration::days(d)));
    Ok(PlanView {
        campaign: c.slug,
        progress_mode: mode,
        route_metres: route.total_metres,
        participants,
        daily_steps: daily,
        days,
        suggested_steps_per_km: spk,
        finish_in_days,
        finish_on,
        current_steps_per_km: c.steps_per_km,
        finish_in_days_at_current: days_to_finish(route.total_metres, i64::from(c.steps_per_km), subject_daily),
    })
}

/// A campaign's audit log, newest first.
///
/// # Errors
/// 404 `campaign_not_found`.
pub async fn audit_log(
    db: &impl ConnectionTrait,
    who: &Organiser,
    slug: &str,
    limit: u64,
    offset: u64,
) -> ApiResult<audit::AuditPage> {
    let c = access::require_campaign_access(db, who, slug).await?;
    audit::list(db, c.id, limit, offset).await
}
