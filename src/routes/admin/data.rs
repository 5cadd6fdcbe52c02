//! Administration of what a campaign is made of and what happens in it: routes, cohorts,
//! rosters, step imports and cheat review. CSV bodies are streamed (`web::Payload`), never
//! buffered whole.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, dev::Payload, get, http::header, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    http::{error::ApiResult, timeouts::LongRunning},
    routes::{campaigns::Page, ok},
    services::{
        admin::{
            cohorts::{
                self, CohortAdminView, CohortCreate, CohortImportReport, CohortList, CohortPatch, RosterImportReport,
            },
            csv_lines::CsvFile,
            route_catalog::{self, RouteAdminView, RouteCsvQuery, RouteList, StationAdminView, StationPatch},
        },
        identity::Organiser,
        steps::{
            imports::{self, StepImportReport},
            review::{self, FlagList, FlagQuery, ParticipantDays, ReasonBody, ReviewDay, StandingView},
        },
    },
    state::AppState,
};

/// `?dry_run=true` on a CSV import.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Judge every line and answer as the import would, but store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What every CSV import takes: its streamed body, the size it may reach
/// (`limits.csv_body_bytes`), `?dry_run`, and the longer deadline of [`LongRunning`].
pub struct CsvImport(CsvFile<web::Payload>);

impl FromRequest for CsvImport {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Self::extract(req, payload))
    }
}

impl CsvImport {
    fn extract(req: &HttpRequest, payload: &mut Payload) -> Result<Self, actix_web::Error> {
        LongRunning::from_request(req, payload).into_inner()?;
        let state = web::Data::<AppState>::from_request(req, payload).into_inner()?;
        let query = web::Query::<ImportQuery>::from_request(req, payload).into_inner()?;
        Ok(Self(CsvFile {
            body: web::Payload::from_request(req, payload).into_inner()?,
            limit: state.settings.limits.csv_body_bytes,
            dry_run: query.dry_run,
        }))
    }
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(list_routes)
        .service(create_route)
        .service(get_route)
        .service(patch_station)
        .service(list_cohorts)
        .service(create_cohort)
        .service(import_cohorts)
        .service(patch_cohort)
        .service(delete_cohort)
        .service(import_roster)
        .service(import_steps)
        .service(list_flags)
        .service(void_step_day)
        .service(restore_step_day)
        .service(participant_days)
        .service(suspend_participant)
        .service(reinstate_participant)
        .service(erase_participant);
}

/// Lists routes.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(Page), responses((status = 200, body = RouteList)))]
#[get("/admin/routes")]
pub async fn list_routes(
    state: web::Data<AppState>,
    _who: Organiser,
    page: web::Query<Page>,
) -> ApiResult<HttpResponse> {
    let (limit, offset) = page.resolve(state.settings.limits.max_page_size);
    Ok(ok(&route_catalog::list(&state.db, limit, offset).await?))
}

/// Imports a route: a JSON route document (`application/json`, the format of
/// `config/routes/long-march.json`) or CSV (`text/csv`,
/// `seq,name,metres,event_date,title,story,image_url`, with `?slug=&name=`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(RouteCsvQuery),
    request_body(content = crate::services::campaigns::route_documents::RouteDoc, description = "JSON route document, or text/csv"),
    responses(
        (status = 201, body = RouteAdminView),
        (status = 409, description = "route_exists", content_type = "application/problem+json"),
        (status = 422, description = "validation_failed, csv_invalid, csv_header", content_type = "application/problem+json")
    )
)]
#[post("/admin/routes")]
pub async fn create_route(
    _long: LongRunning,
    state: web::Data<AppState>,
    who: Organiser,
    req: HttpRequest,
    q: web::Query<RouteCsvQuery>,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let limit = state.settings.limits.csv_body_bytes.min(8 * 1024 * 1024);
    let is_csv = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    let doc = if is_csv {
        route_catalog::read_csv(body, limit, &q).await?
    } else {
        route_catalog::read_json(body, limit).await?
    };
    let created = route_catalog::create(&state.db, &who, doc).await?;
    Ok(HttpResponse::Created().json(created))
}

/// A route with all its stations' texts.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = i32, Path)), responses((status = 200, body = RouteAdminView)))]
#[get("/admin/routes/{id}")]
pub async fn get_route(state: web::Data<AppState>, _who: Organiser, id: web::Path<i32>) -> ApiResult<HttpResponse> {
    Ok(ok(&route_catalog::get(&state.db, *id).await?))
}

/// Edits a station's title, story and image; `metres` only while no active campaign walks the route.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i32, Path), ("seq" = i32, Path)),
    request_body = StationPatch,
    responses(
        (status = 200, body = StationAdminView),
        (status = 403, description = "route_shared", content_type = "application/problem+json"),
        (status = 409, description = "route_in_use", content_type = "application/problem+json")
    )
)]
#[patch("/admin/routes/{id}/stations/{seq}")]
pub async fn patch_station(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(i32, i32)>,
    body: web::Json<StationPatch>,
) -> ApiResult<HttpResponse> {
    let (id, seq) = path.into_inner();
    Ok(ok(&route_catalog::patch_station(
        &state.db,
        &state.campaigns,
        &who,
        id,
        seq,
        body.into_inner(),
    )
    .await?))
}

/// The campaign's cohort tree, parents before children.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("slug" = String, Path)), responses((status = 200, body = CohortList)))]
#[get("/admin/campaigns/{slug}/cohorts")]
pub async fn list_cohorts(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&cohorts::list(&state.db, &who, &slug).await?))
}

/// Creates a cohort; the join code is generated when not given.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path)),
    request_body = CohortCreate,
    responses(
        (status = 201, body = CohortAdminView),
        (status = 409, description = "join_code_taken, cohort_exists, parent_has_members", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/cohorts")]
pub async fn create_cohort(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    body: web::Json<CohortCreate>,
) -> ApiResult<HttpResponse> {
    let created = cohorts::create(&state.db, &state.campaigns, &who, &slug, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Imports a cohort tree from CSV `path,join_code`; idempotent, all or nothing.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = CohortImportReport),
        (status = 422, description = "csv_invalid, csv_header, csv_empty", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/cohorts/import")]
pub async fn import_cohorts(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    csv: CsvImport,
) -> ApiResult<HttpResponse> {
    Ok(ok(&cohorts::import_tree(
        &state.db,
        &state.campaigns,
        &who,
        &slug,
        csv.0,
    )
    .await?))
}

/// Renames a cohort or changes its join code.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    request_body = CohortPatch,
    responses((status = 200, body = CohortAdminView))
)]
#[patch("/admin/campaigns/{slug}/cohorts/{id}")]
pub async fn patch_cohort(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
    body: web::Json<CohortPatch>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    Ok(ok(&cohorts::update(
        &state.db,
        &state.campaigns,
        &who,
        &slug,
        id,
        body.into_inner(),
    )
    .await?))
}

/// Deletes a cohort without members or child cohorts.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    responses(
        (status = 204),
        (status = 409, description = "cohort_not_empty", content_type = "application/problem+json")
    )
)]
#[delete("/admin/campaigns/{slug}/cohorts/{id}")]
pub async fn delete_cohort(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    cohorts::delete(&state.db, &state.campaigns, &who, &slug, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Imports a roster from CSV `student_no,display_name,cohort_path`; all or nothing.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = RosterImportReport),
        (status = 422, description = "csv_invalid (unknown_cohort, …), csv_header, csv_empty", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/roster/import")]
pub async fn import_roster(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    csv: CsvImport,
) -> ApiResult<HttpResponse> {
    Ok(ok(&cohorts::import_roster(&state.db, &who, &slug, csv.0).await?))
}

/// Imports step days from CSV `student_no,date,steps` (source `import`). Any malformed line
/// refuses the whole file (422 `csv_invalid`, nothing stored); days the campaign's rules
/// refuse are reported per line while the others are stored.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, body = StepImportReport),
        (status = 409, description = "campaign_closed, campaign_not_open", content_type = "application/problem+json"),
        (status = 413, description = "body_too_large", content_type = "application/problem+json"),
        (status = 422, description = "csv_invalid, csv_header, csv_empty, source_not_accepted", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/steps/import")]
pub async fn import_steps(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    csv: CsvImport,
) -> ApiResult<HttpResponse> {
    Ok(ok(&imports::import_steps(&state.db, &who, &slug, csv.0).await?))
}

/// Flagged step days, highest first, with the participant's name and student number.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("slug" = String, Path), FlagQuery), responses((status = 200, body = FlagList)))]
#[get("/admin/campaigns/{slug}/flags")]
pub async fn list_flags(
    state: web::Data<AppState>,
    who: Organiser,
    slug: web::Path<String>,
    q: web::Query<FlagQuery>,
) -> ApiResult<HttpResponse> {
    let max = state.settings.limits.max_page_size;
    Ok(ok(&review::flags(&state.db, &who, &slug, &q, max).await?))
}

/// Voids a step day: it counts nothing and progress is recomputed.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    request_body = ReasonBody,
    responses(
        (status = 200, body = ReviewDay),
        (status = 404, description = "campaign_not_found, step_day_not_found", content_type = "application/problem+json"),
        (status = 409, description = "campaign_closed", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/step-days/{id}/void")]
pub async fn void_step_day(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
    body: web::Json<ReasonBody>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    Ok(ok(
        &review::set_voided(&state.db, &who, &slug, id, Some(&body.reason)).await?
    ))
}

/// Restores a voided step day; progress is recomputed.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    responses(
        (status = 200, body = ReviewDay),
        (status = 404, description = "campaign_not_found, step_day_not_found", content_type = "application/problem+json"),
        (status = 409, description = "campaign_closed", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/step-days/{id}/restore")]
pub async fn restore_step_day(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    Ok(ok(&review::set_voided(&state.db, &who, &slug, id, None).await?))
}

/// A participant's standing and recent step days (newest first, voided ones included), to
/// judge a flagged day against their usual walking.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    responses(
        (status = 200, body = ParticipantDays),
        (status = 404, description = "participant_not_found", content_type = "application/problem+json")
    )
)]
#[get("/admin/campaigns/{slug}/participants/{id}/days")]
pub async fn participant_days(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    Ok(ok(&review::participant_days(&state.db, &who, &slug, id).await?))
}

/// Suspends a participant: uploads answer 403 `participant_suspended`; they can read the reason.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    request_body = ReasonBody,
    responses(
        (status = 200, body = StandingView),
        (status = 404, description = "participant_not_found", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/participants/{id}/suspend")]
pub async fn suspend_participant(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
    body: web::Json<ReasonBody>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    Ok(ok(&review::set_suspended(
        &state.db,
        &who,
        &slug,
        id,
        Some(&body.reason),
    )
    .await?))
}

/// Reinstates a suspended participant.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    responses(
        (status = 200, body = StandingView),
        (status = 404, description = "campaign_not_found, participant_not_found", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/participants/{id}/reinstate")]
pub async fn reinstate_participant(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    Ok(ok(&review::set_suspended(&state.db, &who, &slug, id, None).await?))
}

/// Erases a participant's personal data on their behalf (as `DELETE /me`): openid, unionid,
/// session key, display name and student number go, their counted steps stay with their
/// cohort as an anonymous "已注销" member. Audited without the erased data.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i32, Path)),
    responses(
        (status = 204, description = "erased (or erased before)"),
        (status = 404, description = "participant_not_found", content_type = "application/problem+json")
    )
)]
#[post("/admin/campaigns/{slug}/participants/{id}/erase")]
pub async fn erase_participant(
    state: web::Data<AppState>,
    who: Organiser,
    path: web::Path<(String, i32)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    crate::services::identity::erasure::erase_in_campaign(state.erasure(), &who, &slug, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
