//! The OpenAPI specification, assembled from the handlers' `#[utoipa::path]` annotations.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
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
    modifiers(&BearerAuth),
    tags(
        (name = "ops", description = "Liveness, readiness, metrics"),
        (name = "campaigns", description = "Public campaign information"),
        (name = "auth", description = "Logins: WeChat, development, organiser"),
        (name = "me", description = "The participant's profile"),
        (name = "participation", description = "Joining, uploading steps, progress and milestones"),
        (name = "leaderboards", description = "Participant and cohort rankings"),
        (name = "reports", description = "Statistics, exports and live events for organisers"),
    )
)]
pub struct ApiDoc;

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
