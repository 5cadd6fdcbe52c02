//! The OpenAPI specification, assembled from the handlers' `#[utoipa::path]` annotations.

use std::collections::btree_map::Entry;

use actix_web::http::header;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, HeaderBuilder, Object, PathItem, Ref, RefOr, Response, Type,
        link::LinkBuilder,
        path::{Operation, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{http::error, routes, services};

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
        routes::me::erase_me,
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
        routes::admin::data::list_routes,
        routes::admin::data::create_route,
        routes::admin::data::get_route,
        routes::admin::data::patch_station,
        routes::admin::data::list_cohorts,
        routes::admin::data::create_cohort,
        routes::admin::data::import_cohorts,
        routes::admin::data::patch_cohort,
        routes::admin::data::delete_cohort,
        routes::admin::data::import_roster,
        routes::admin::data::import_steps,
        routes::admin::data::list_flags,
        routes::admin::data::void_step_day,
        routes::admin::data::restore_step_day,
        routes::admin::data::participant_days,
        routes::admin::data::suspend_participant,
        routes::admin::data::reinstate_participant,
        routes::admin::data::erase_participant,
        routes::leaderboards::participants_board,
        routes::leaderboards::my_rank,
        routes::leaderboards::cohorts_board,
        routes::admin::reports::campaign_stats,
        routes::admin::reports::export_participants,
        routes::admin::reports::export_cohorts,
        routes::admin::reports::export_steps,
        routes::admin::reports::board_token,
        routes::events::campaign_events,
        routes::certificates::my_certificate,
        routes::certificates::verify_certificate,
        routes::posters::cohort_qrcode,
        routes::reminders::subscribe,
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
        services::campaigns::join::JoinRequest,
        services::identity::EnrollmentView,
        services::identity::CohortRef,
        services::steps::ingest::StepBatch,
        services::steps::ingest::StepDayInput,
        services::steps::ingest::WerunUpload,
        services::steps::ingest::UploadAnswer,
        services::steps::store::AcceptedDay,
        services::steps::ingest::RejectedDay,
        services::progress::UnlockedStation,
        services::progress::PositionView,
        services::progress::StationRef,
        services::boards::me::ProgressView,
        services::boards::me::CohortProgress,
        services::boards::me::MilestonesView,
        services::boards::me::MilestoneView,
        services::boards::me::StepDaysView,
        services::boards::me::StepDayView,
        services::admin::campaigns::CampaignCreate,
        services::admin::campaigns::CampaignPatch,
        services::admin::campaigns::AdminCampaign,
        services::admin::campaigns::AdminCampaignList,
        services::admin::campaigns::GrantView,
        services::admin::campaigns::PlanView,
        services::admin::audit::AuditEntry,
        services::admin::audit::AuditPage,
        services::admin::route_catalog::RouteList,
        services::admin::route_catalog::RouteListItem,
        services::admin::route_catalog::RouteAdminView,
        services::admin::route_catalog::StationAdminView,
        services::admin::route_catalog::StationPatch,
        services::campaigns::route_documents::RouteDoc,
        services::campaigns::route_documents::StationDoc,
        services::admin::cohorts::CohortAdminView,
        services::admin::cohorts::CohortList,
        services::admin::cohorts::CohortCreate,
        services::admin::cohorts::CohortPatch,
        services::admin::cohorts::CohortImportReport,
        services::admin::cohorts::RosterImportReport,
        services::steps::imports::StepImportReport,
        services::steps::imports::RejectedLine,
        services::admin::csv_lines::LineError,
        services::steps::review::ReasonBody,
        services::steps::review::ReviewDay,
        services::steps::review::FlagList,
        services::steps::review::StandingView,
        services::steps::review::ParticipantDays,
        services::boards::leaderboard::BoardPage,
        services::boards::leaderboard::BoardEntry,
        services::boards::leaderboard::MyRank,
        services::boards::leaderboard::CohortBoard,
        services::boards::leaderboard::CohortEntry,
        services::reports::stats::CampaignStats,
        services::reports::stats::StatsSummary,
        services::reports::stats::DayPoint,
        services::certificates::CertificateView,
        services::wechat::reminders::SubscriptionRequest,
        services::wechat::reminders::SubscriptionsView,
        services::wechat::reminders::SubscriptionCredit,
        services::wechat::reminders::ReminderDay,
        services::live::BoardToken,
        services::live::UnlockEvent,
        services::live::LeaderboardEvent,
        services::live::ResyncEvent,
        services::live::StreamEvent,
        error::Problem,
        error::ProblemItem,
    )),
    modifiers(&BearerAuth, &ApiScope, &ProblemResponses, &CampaignLinks),
    tags(
        (name = "ops", description = "Liveness, readiness, metrics"),
        (name = "campaigns", description = "Public campaign information"),
        (name = "auth", description = "Logins: WeChat, development, organiser"),
        (name = "me", description = "The participant's profile"),
        (name = "participation", description = "Joining, uploading steps, progress and milestones"),
        (name = "admin", description = "Campaign administration (organisers)"),
        (name = "leaderboards", description = "Participant and cohort rankings"),
        (name = "reports", description = "Statistics, exports and live events for organisers"),
        (name = "certificates", description = "Finishers' certificates and their public verification"),
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

/// An error answer an operation may give because of its shape, whatever it does: the
/// status, when it applies, and what it means (the problem `code`s first).
struct Common {
    status: &'static str,
    applies: fn(&Shape) -> bool,
    description: &'static str,
}

/// What [`ProblemResponses`] reads from an operation to know which [`COMMON`] answers apply.
struct Shape {
    /// Under `/api/v1`: every such handler may use the database.
    api: bool,
    /// Needs a bearer token.
    secured: bool,
    query: bool,
    path: bool,
    body: bool,
}

/// The answers every operation of a given shape may give, besides its own. Each goes
/// through `ApiError` (or the extractor error handlers of `routes::config`, which map to it).
const COMMON: [Common; 9] = [
    Common {
        status: "400",
        applies: |s| s.query,
        description: "invalid_query: a query parameter is malformed, out of range or missing",
    },
    Common {
        status: "400",
        applies: |s| s.body,
        description: "malformed_json: the body is not valid JSON; bad_body: the body could not be read",
    },
    Common {
        status: "401",
        applies: |s| s.secured,
        description: "missing_token, invalid_token, token_expired, token_revoked: send `Authorization: Bearer <token>` \
                      with a valid token (the answer carries `WWW-Authenticate: Bearer`)",
    },
    Common {
        status: "403",
        applies: |s| s.secured,
        description: "participant_only, organiser_only: the token's role may not call this operation",
    },
    Common {
        status: "404",
        applies: |s| s.path,
        description: "not_found: a path parameter is malformed (e.g. not a number) or names nothing \
                      the caller may see",
    },
    Common {
        status: "408",
        applies: |_| true,
        description: "request_timeout: the request did not finish within `limits.request_timeout_secs` \
                      (imports: `limits.import_timeout_secs`), or its body stopped arriving; \
                      uncommitted work was rolled back",
    },
    Common {
        status: "413",
        applies: |s| s.body,
        description: "body_too_large: the body exceeds `limits.json_body_bytes` (CSV: `limits.csv_body_bytes`)",
    },
    Common {
        status: "422",
        applies: |s| s.body,
        description: "unsupported_content_type: the body is not sent with a documented content type; \
                      invalid_body: it does not match the documented schema",
    },
    Common {
        status: "503",
        applies: |s| s.api,
        description: "busy or database_unavailable: no database connection within \
                      `database.acquire_timeout_ms`, a lock held past its timeout, or the database \
                      is down; nothing was stored; retry after `Retry-After`",
    },
];

/// Makes every operation document every status it can answer: adds the [`COMMON`] answers
/// that apply to its shape (merged into its own description where it already documents the
/// status), and gives every 4xx/5xx answer the [`Problem`] body as `application/problem+json`,
/// 401 its `WWW-Authenticate` header and 429/503 their `Retry-After`.
///
/// A new handler gets all of this by declaring its `security`, `params` and `request_body`;
/// it documents only the answers of its own rules (409 `slug_taken`, …).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let api = path.starts_with(API_SCOPE);
            for op in operations(item) {
                let shape = Shape::of(op, api);
                for common in COMMON.iter().filter(|c| (c.applies)(&shape)) {
                    match op.responses.responses.entry(common.status.to_owned()) {
                        Entry::Vacant(slot) => {
                            slot.insert(Response::new(common.description).into());
                        }
                        Entry::Occupied(mut own) => {
                            // Already said (`invalid_query` documented by hand): once is enough.
                            let code = common.description.split([':', ',', ' ']).next().unwrap_or_default();
                            if let RefOr::T(own) = own.get_mut()
                                && !own.description.contains(code)
                            {
                                own.description = format!("{}; or {}", own.description, common.description);
                            }
                        }
                    }
                }
                for (status, response) in &mut op.responses.responses {
                    if let RefOr::T(response) = response {
                        describe_problem(status, response);
                    }
                }
            }
        }
    }
}

impl Shape {
    fn of(op: &Operation, api: bool) -> Self {
        let params = op.parameters.iter().flatten().filter_map(|p| match p {
            RefOr::T(p) => Some(&p.parameter_in),
            RefOr::Ref(_) => None,
        });
        let (mut query, mut path) = (false, false);
        for place in params {
            query |= matches!(place, ParameterIn::Query);
            path |= matches!(place, ParameterIn::Path);
        }
        // `security(("bearer" = []))` is a non-empty requirement; `security(())` (optional) is not.
        let secured = op.security.iter().flatten().any(|req| {
            serde_json::to_value(req)
                .ok()
                .is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        });
        Self {
            api,
            secured,
            query,
            path,
            body: op.request_body.is_some(),
        }
    }
}

/// An error answer's body and headers, as `ApiError::error_response` writes them.
fn describe_problem(status: &str, response: &mut Response) {
    if !status.starts_with('4') && !status.starts_with('5') {
        return;
    }
    response.content.clear();
    response.content.insert(
        PROBLEM_JSON.to_owned(),
        RefOr::T(
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        ),
    );
    let header = match status {
        "401" => Some((
            header::WWW_AUTHENTICATE.as_str(),
            "`Bearer`: the scheme to authenticate with",
        )),
        "429" | "503" => Some((header::RETRY_AFTER.as_str(), "Seconds to wait before retrying")),
        _ => None,
    };
    if let Some((name, description)) = header {
        response.headers.insert(
            canonical_header(name),
            HeaderBuilder::new()
                .schema(Some(Object::with_type(if status == "401" {
                    Type::String
                } else {
                    Type::Integer
                })))
                .description(Some(description))
                .build()
                .into(),
        );
    }
}

/// `www-authenticate` → `WWW-Authenticate`, as the spec reads best.
fn canonical_header(name: &str) -> String {
    match name {
        "www-authenticate" => "WWW-Authenticate".to_owned(),
        "retry-after" => "Retry-After".to_owned(),
        other => other.to_owned(),
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

/// The operations of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// The path of the operation that creates campaigns; its 201 answer carries the new slug.
const CAMPAIGN_CREATE: &str = "/api/v1/admin/campaigns";

/// OpenAPI links from `POST /admin/campaigns` (201) to every operation addressed by a
/// campaign `{slug}`, with `slug` taken from the created campaign: clients (and the
/// schemathesis stateful phase) can follow them to act on the campaign just created.
struct CampaignLinks;

impl Modify for CampaignLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut links = Vec::new();
        for (path, item) in &mut openapi.paths.paths {
            let by_slug =
                path.starts_with("/api/v1/admin/campaigns/{slug}") || path.starts_with("/api/v1/campaigns/{slug}");
            if !by_slug {
                continue;
            }
            for op in operations(item) {
                if let Some(id) = &op.operation_id {
                    links.push(id.clone());
                }
            }
        }
        let Some(create) = openapi
            .paths
            .paths
            .get_mut(CAMPAIGN_CREATE)
            .and_then(|item| item.post.as_mut())
        else {
            return;
        };
        if let Some(RefOr::T(created)) = create.responses.responses.get_mut("201") {
            for id in links {
                created.links.insert(
                    id.clone(),
                    LinkBuilder::new()
                        .operation_id(id)
                        .parameter("slug", "$response.body#/slug")
                        .build()
                        .into(),
                );
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
