//! The OpenAPI specification, assembled from the handlers' `#[utoipa::path]` annotations.

use std::collections::btree_map::Entry;

use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, RefOr, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{routes, services};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "longmarch",
        description = "Step-to-mileage campaigns along the Long March: participants upload daily step counts, \
                       steps become distance along a route of stations, stations unlock as they progress.",
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::campaigns::list_campaigns,
        routes::campaigns::get_campaign,
        routes::auth::login_wechat,
        routes::auth::login_dev,
        routes::auth::login_organiser,
        routes::me::get_me,
        routes::me::patch_me,
        routes::participation::join,
        routes::participation::upload_steps,
        routes::participation::upload_werun,
        routes::participation::my_progress,
        routes::participation::my_milestones,
        routes::participation::my_steps,
        routes::admin::list_campaigns,
        routes::admin::create_campaign,
        routes::admin::get_campaign,
        routes::admin::patch_campaign,
        routes::admin::activate_campaign,
        routes::admin::close_campaign,
        routes::admin::plan_campaign,
        routes::admin::put_grant,
        routes::admin::delete_grant,
        routes::admin::campaign_audit,
        routes::admin_data::list_routes,
        routes::admin_data::create_route,
        routes::admin_data::get_route,
        routes::admin_data::patch_station,
        routes::admin_data::list_cohorts,
        routes::admin_data::create_cohort,
        routes::admin_data::import_cohorts,
        routes::admin_data::patch_cohort,
        routes::admin_data::delete_cohort,
        routes::admin_data::import_roster,
        routes::admin_data::import_steps,
        routes::admin_data::list_flags,
        routes::admin_data::void_step_day,
        routes::admin_data::restore_step_day,
        routes::admin_data::suspend_participant,
        routes::admin_data::reinstate_participant,
        routes::leaderboards::participants_board,
        routes::leaderboards::my_rank,
        routes::leaderboards::cohorts_board,
        routes::admin_reports::campaign_stats,
        routes::admin_reports::export_participants,
        routes::admin_reports::export_cohorts,
        routes::admin_reports::export_steps,
        routes::admin_reports::board_token,
        routes::events::campaign_events,
    ),
    components(schemas(
        services::campaigns::CampaignList,
        services::campaigns::CampaignSummary,
        services::campaigns::CampaignDetail,
        services::campaigns::RouteSummary,
        services::campaigns::StationOutline,
        services::campaigns::CohortOutline,
        routes::auth::WechatLogin,
        routes::auth::DevLogin,
        routes::auth::OrganiserLogin,
        services::identity::LoginAnswer,
        services::identity::OrganiserLoginAnswer,
        services::identity::OrganiserView,
        services::identity::ParticipantView,
        services::identity::MeView,
        services::identity::ProfilePatch,
        services::identity::JoinRequest,
        services::identity::EnrollmentView,
        services::identity::CohortRef,
        services::ingest::StepBatch,
        services::ingest::StepDayInput,
        services::ingest::WerunUpload,
        services::ingest::UploadAnswer,
        services::ingest::AcceptedDay,
        services::ingest::RejectedDay,
        services::progress::UnlockedStation,
        services::progress::PositionView,
        services::progress::StationRef,
        services::me::ProgressView,
        services::me::CohortProgress,
        services::me::MilestonesView,
        services::me::MilestoneView,
        services::me::StepDaysView,
        services::me::StepDayView,
        services::admin_campaigns::CampaignCreate,
        services::admin_campaigns::CampaignPatch,
        services::admin_campaigns::AdminCampaign,
        services::admin_campaigns::AdminCampaignList,
        services::admin_campaigns::GrantView,
        services::admin_campaigns::PlanView,
        services::audit::AuditEntry,
        services::audit::AuditPage,
        services::admin_routes::RouteList,
        services::admin_routes::RouteListItem,
        services::admin_routes::RouteAdminView,
        services::admin_routes::StationAdminView,
        services::admin_routes::StationPatch,
        services::routes::RouteDoc,
        services::routes::StationDoc,
        services::admin_cohorts::CohortAdminView,
        services::admin_cohorts::CohortList,
        services::admin_cohorts::CohortCreate,
        services::admin_cohorts::CohortPatch,
        services::admin_cohorts::CohortImportReport,
        services::admin_cohorts::RosterImportReport,
        services::imports::StepImportReport,
        services::imports::RejectedLine,
        services::csv_lines::LineError,
        services::review::ReasonBody,
        services::review::ReviewDay,
        services::review::FlagList,
        services::review::StandingView,
        services::leaderboard::BoardPage,
        services::leaderboard::BoardEntry,
        services::leaderboard::MyRank,
        services::leaderboard::CohortBoard,
        services::leaderboard::CohortEntry,
        services::stats::CampaignStats,
        services::stats::StatsSummary,
        services::stats::DayPoint,
        services::events::BoardToken,
        services::events::UnlockEvent,
        services::events::LeaderboardEvent,
    )),
    modifiers(&BearerAuth, &CommonResponses, &ApiScope),
    tags(
        (name = "ops", description = "Liveness, readiness, metrics"),
        (name = "campaigns", description = "Public campaign information"),
        (name = "auth", description = "Logins: WeChat, development, organiser"),
        (name = "me", description = "The participant's profile"),
        (name = "participation", description = "Joining, uploading steps, progress and milestones"),
        (name = "admin", description = "Campaign administration (organisers)"),
        (name = "leaderboards", description = "Participant and cohort rankings"),
        (name = "reports", description = "Statistics, exports and live events for organisers"),
    )
)]
pub struct ApiDoc;

/// The scope `routes::config` mounts the API handlers under; their `#[get]` paths are
/// relative to it, so the documented paths must be prefixed to be callable.
const API_SCOPE: &str = "/api/v1";
/// Operations endpoints, mounted at the root rather than under [`API_SCOPE`].
const ROOT_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

struct ApiScope;

impl Modify for ApiScope {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = std::mem::take(&mut openapi.paths.paths);
        openapi.paths.paths = paths
            .into_iter()
            .map(|(path, item)| {
                if ROOT_PATHS.contains(&path.as_str()) {
                    (path, item)
                } else {
                    (format!("{API_SCOPE}{path}"), item)
                }
            })
            .collect();
    }
}

/// Every request is timed (`crate::timeouts`), so every operation may answer 408; and every
/// operation under [`API_SCOPE`] uses the database, so it may answer 503 when the database
/// is busy or unreachable.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let timeout = ResponseBuilder::new()
            .description(
                "request_timeout: the request did not finish within `limits.request_timeout_secs` \
                 (imports: `limits.import_timeout_secs`), or its body stopped arriving; \
                 uncommitted work was rolled back",
            )
            .content("application/problem+json", ContentBuilder::new().build())
            .build();
        let unavailable = ResponseBuilder::new()
            .description(
                "busy or database_unavailable: no database connection within \
                 `database.acquire_timeout_ms`, a lock held past its timeout, or the database \
                 is down; nothing was stored; retry after `Retry-After`",
            )
            .content("application/problem+json", ContentBuilder::new().build())
            .build();
        for (path, item) in &mut openapi.paths.paths {
            let api = !ROOT_PATHS.contains(&path.as_str());
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry("408".to_owned())
                    .or_insert_with(|| timeout.clone().into());
                if api {
                    match op.responses.responses.entry("503".to_owned()) {
                        Entry::Vacant(slot) => {
                            slot.insert(unavailable.clone().into());
                        }
                        // An operation's own 503 (WeChat unreachable) gains the database's.
                        Entry::Occupied(mut own) => {
                            if let RefOr::T(own) = own.get_mut() {
                                own.description = format!("{}; or {}", own.description, unavailable.description);
                            }
                        }
                    }
                }
            }
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The specification as pretty JSON.
///
/// # Errors
/// Never in practice; serialisation of the generated document can't fail.
pub fn spec_json() -> anyhow::Result<String> {
    Ok(ApiDoc::openapi().to_pretty_json()?)
}
