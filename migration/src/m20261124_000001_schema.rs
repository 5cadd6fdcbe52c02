//! The whole domain schema of DESIGN.md: routes and stations, campaigns and their cohorts,
//! participants and enrollments, step days, running totals per day, unlocks, organisers,
//! grants, roster and the audit log.
//!
//! Ids are 32-bit integers (SQLite's `INTEGER PRIMARY KEY` and PostgreSQL's `serial`);
//! step and metre totals are 64-bit.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organisers {
    Table,
    Id,
    Username,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Routes {
    Table,
    Id,
    Slug,
    Name,
    Description,
    DistanceNote,
    TotalMetres,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Stations {
    Table,
    Id,
    RouteId,
    Seq,
    Name,
    Metres,
    EventDate,
    EventDateEnd,
    Title,
    Story,
    ImageUrl,
}

#[derive(DeriveIden, Clone, Copy)]
enum Campaigns {
    Table,
    Id,
    Slug,
    Title,
    Description,
    RouteId,
    Timezone,
    StartsOn,
    EndsOn,
    Status,
    ProgressMode,
    StepsPerKm,
    DailyStepCap,
    FlagStepsOver,
    SyncGraceDays,
    StepSources,
    OwnerId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CampaignGrants {
    Table,
    Id,
    CampaignId,
    OrganiserId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Cohorts {
    Table,
    Id,
    CampaignId,
    ParentId,
    Name,
    Path,
    Depth,
    JoinCode,
    MemberCount,
    ActiveMembers,
    TotalSteps,
    TotalCounted,
    Metres,
    StationsReached,
    LastReachedOn,
    FinishedOn,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Participants {
    Table,
    Id,
    Openid,
    Unionid,
    SessionKey,
    DisplayName,
    StudentNo,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Enrollments {
    Table,
    Id,
    CampaignId,
    ParticipantId,
    CohortId,
    Status,
    SuspendReason,
    TotalSteps,
    TotalCounted,
    DaysActive,
    Metres,
    StationsReached,
    LastReachedOn,
    FinishedOn,
    JoinedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StepDays {
    Table,
    Id,
    CampaignId,
    ParticipantId,
    EnrollmentId,
    Day,
    Steps,
    Counted,
    Source,
    Flagged,
    Voided,
    VoidReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CohortDays {
    Table,
    Id,
    CohortId,
    Day,
    Counted,
    ActiveMembers,
}

#[derive(DeriveIden, Clone, Copy)]
enum CampaignDays {
    Table,
    Id,
    CampaignId,
    Day,
    Counted,
    ActiveParticipants,
}

#[derive(DeriveIden, Clone, Copy)]
enum Unlocks {
    Table,
    Id,
    CampaignId,
    SubjectKind,
    SubjectId,
    StationSeq,
    UnlockedAt,
    ReachedOn,
}

#[derive(DeriveIden, Clone, Copy)]
enum RosterEntries {
    Table,
    Id,
    CampaignId,
    StudentNo,
    DisplayName,
    CohortId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    CampaignId,
    ActorId,
    ActorName,
    Action,
    Target,
    Summary,
    CreatedAt,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organisers::Table)
                    .col(pk_auto(Organisers::Id))
                    .col(string_uniq(Organisers::Username))
                    .col(string(Organisers::PasswordHash))
                    .col(string(Organisers::Role))
                    .col(timestamp_with_time_zone(Organisers::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Routes::Table)
                    .col(pk_auto(Routes::Id))
                    .col(string_uniq(Routes::Slug))
                    .col(string(Routes::Name))
                    .col(text(Routes::Description).default(""))
                    .col(text(Routes::DistanceNote).default(""))
                    .col(big_integer(Routes::TotalMetres))
                    .col(timestamp_with_time_zone(Routes::CreatedAt))
                    .col(timestamp_with_time_zone(Routes::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Stations::Table)
                    .col(pk_auto(Stations::Id))
                    .col(integer(Stations::RouteId))
                    .col(integer(Stations::Seq))
                    .col(string(Stations::Name))
                    .col(big_integer(Stations::Metres))
                    .col(date_null(Stations::EventDate))
                    .col(date_null(Stations::EventDateEnd))
                    .col(string(Stations::Title))
                    .col(text(Stations::Story))
                    .col(string_null(Stations::ImageUrl))
                    .foreign_key(&mut fk(
                        "fk_stations_route",
                        (Stations::Table, Stations::RouteId),
                        (Routes::Table, Routes::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_stations_route_seq",
            Stations::Table,
            &[Stations::RouteId, Stations::Seq],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Campaigns::Table)
                    .col(pk_auto(Campaigns::Id))
                    .col(string_uniq(Campaigns::Slug))
                    .col(string(Campaigns::Title))
                    .col(text(Campaigns::Description).default(""))
                    .col(integer(Campaigns::RouteId))
                    .col(string(Campaigns::Timezone))
                    .col(date(Campaigns::StartsOn))
                    .col(date(Campaigns::EndsOn))
                    .col(string(Campaigns::Status))
                    .col(string(Campaigns::ProgressMode))
                    .col(integer(Campaigns::StepsPerKm))
                    .col(integer(Campaigns::DailyStepCap))
                    .col(integer(Campaigns::FlagStepsOver))
                    .col(integer(Campaigns::SyncGraceDays))
                    .col(string(Campaigns::StepSources))
                    .col(integer_null(Campaigns::OwnerId))
                    .col(timestamp_with_time_zone(Campaigns::CreatedAt))
                    .col(timestamp_with_time_zone(Campaigns::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_campaigns_route",
                        (Campaigns::Table, Campaigns::RouteId),
                        (Routes::Table, Routes::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "fk_campaigns_owner",
                        (Campaigns::Table, Campaigns::OwnerId),
                        (Organisers::Table, Organisers::Id),
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CampaignGrants::Table)
                    .col(pk_auto(CampaignGrants::Id))
                    .col(integer(CampaignGrants::CampaignId))
                    .col(integer(CampaignGrants::OrganiserId))
                    .col(timestamp_with_time_zone(CampaignGrants::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_grants_campaign",
                        (CampaignGrants::Table, CampaignGrants::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_grants_organiser",
                        (CampaignGrants::Table, CampaignGrants::OrganiserId),
                        (Organisers::Table, Organisers::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_grants_campaign_organiser",
            CampaignGrants::Table,
            &[CampaignGrants::CampaignId, CampaignGrants::OrganiserId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Cohorts::Table)
                    .col(pk_auto(Cohorts::Id))
                    .col(integer(Cohorts::CampaignId))
                    .col(integer_null(Cohorts::ParentId))
                    .col(string(Cohorts::Name))
                    .col(string(Cohorts::Path))
                    .col(integer(Cohorts::Depth))
                    .col(string(Cohorts::JoinCode))
                    .col(integer(Cohorts::MemberCount).default(0))
                    .col(integer(Cohorts::ActiveMembers).default(0))
                    .col(big_integer(Cohorts::TotalSteps).default(0))
                    .col(big_integer(Cohorts::TotalCounted).default(0))
                    .col(big_integer(Cohorts::Metres).default(0))
                    .col(integer(Cohorts::StationsReached).default(0))
                    .col(date_null(Cohorts::LastReachedOn))
                    .col(date_null(Cohorts::FinishedOn))
                    .col(timestamp_with_time_zone(Cohorts::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_cohorts_campaign",
                        (Cohorts::Table, Cohorts::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_cohorts_parent",
                        (Cohorts::Table, Cohorts::ParentId),
                        (Cohorts::Table, Cohorts::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_cohorts_campaign_code",
            Cohorts::Table,
            &[Cohorts::CampaignId, Cohorts::JoinCode],
        )
        .await?;
        unique(
            manager,
            "ux_cohorts_campaign_path",
            Cohorts::Table,
            &[Cohorts::CampaignId, Cohorts::Path],
        )
        .await?;
        index(manager, "ix_cohorts_parent", Cohorts::Table, &[Cohorts::ParentId]).await?;

        manager
            .create_table(
                Table::create()
                    .table(Participants::Table)
                    .col(pk_auto(Participants::Id))
                    .col(string_uniq(Participants::Openid))
                    .col(string_null(Participants::Unionid))
                    .col(string_null(Participants::SessionKey))
                    .col(string(Participants::DisplayName))
                    .col(string_null(Participants::StudentNo))
                    .col(timestamp_with_time_zone(Participants::CreatedAt))
                    .col(timestamp_with_time_zone(Participants::UpdatedAt))
                    .col(timestamp_with_time_zone(Participants::LastLoginAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Enrollments::Table)
                    .col(pk_auto(Enrollments::Id))
                    .col(integer(Enrollments::CampaignId))
                    .col(integer(Enrollments::ParticipantId))
                    .col(integer_null(Enrollments::CohortId))
                    .col(string(Enrollments::Status))
                    .col(string_null(Enrollments::SuspendReason))
                    .col(big_integer(Enrollments::TotalSteps).default(0))
                    .col(big_integer(Enrollments::TotalCounted).default(0))
                    .col(integer(Enrollments::DaysActive).default(0))
                    .col(big_integer(Enrollments::Metres).default(0))
                    .col(integer(Enrollments::StationsReached).default(0))
                    .col(date_null(Enrollments::LastReachedOn))
                    .col(date_null(Enrollments::FinishedOn))
                    .col(timestamp_with_time_zone(Enrollments::JoinedAt))
                    .col(timestamp_with_time_zone(Enrollments::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_enrollments_campaign",
                        (Enrollments::Table, Enrollments::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_enrollments_participant",
                        (Enrollments::Table, Enrollments::ParticipantId),
                        (Participants::Table, Participants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_enrollments_cohort",
                        (Enrollments::Table, Enrollments::CohortId),
                        (Cohorts::Table, Cohorts::Id),
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_enrollments_campaign_participant",
            Enrollments::Table,
            &[Enrollments::CampaignId, Enrollments::ParticipantId],
        )
        .await?;
        // The leaderboard orders by counted steps within a campaign; ranking one participant
        // is a count of rows with more steps, which this index answers without a table scan.
        index(
            manager,
            "ix_enrollments_leaderboard",
            Enrollments::Table,
            &[Enrollments::CampaignId, Enrollments::TotalCounted, Enrollments::Id],
        )
        .await?;
        // Boards rank active enrollments only: with `status` in the key, counting the rows
        // with more steps is an index-only range scan, and pages walk the index in order.
        index(
            manager,
            "ix_enrollments_board",
            Enrollments::Table,
            &[
                Enrollments::CampaignId,
                Enrollments::Status,
                Enrollments::TotalCounted,
                Enrollments::LastReachedOn,
                Enrollments::Id,
            ],
        )
        .await?;
        index(
            manager,
            "ix_enrollments_cohort",
            Enrollments::Table,
            &[Enrollments::CohortId],
        )
        .await?;
        index(
            manager,
            "ix_enrollments_participant",
            Enrollments::Table,
            &[Enrollments::ParticipantId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(StepDays::Table)
                    .col(pk_auto(StepDays::Id))
                    .col(integer(StepDays::CampaignId))
                    .col(integer(StepDays::ParticipantId))
                    .col(integer(StepDays::EnrollmentId))
                    .col(date(StepDays::Day))
                    .col(big_integer(StepDays::Steps))
                    .col(big_integer(StepDays::Counted))
                    .col(string(StepDays::Source))
                    .col(boolean(StepDays::Flagged).default(false))
                    .col(boolean(StepDays::Voided).default(false))
                    .col(string_null(StepDays::VoidReason))
                    .col(timestamp_with_time_zone(StepDays::CreatedAt))
                    .col(timestamp_with_time_zone(StepDays::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_step_days_campaign",
                        (StepDays::Table, StepDays::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_step_days_participant",
                        (StepDays::Table, StepDays::ParticipantId),
                        (Participants::Table, Participants::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_step_days_enrollment",
                        (StepDays::Table, StepDays::EnrollmentId),
                        (Enrollments::Table, Enrollments::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // One row per participant, campaign and local day: the max-merge upsert relies on it.
        unique(
            manager,
            "ux_step_days_participant_campaign_day",
            StepDays::Table,
            &[StepDays::ParticipantId, StepDays::CampaignId, StepDays::Day],
        )
        .await?;
        index(
            manager,
            "ix_step_days_campaign_day",
            StepDays::Table,
            &[StepDays::CampaignId, StepDays::Day],
        )
        .await?;
        index(
            manager,
            "ix_step_days_campaign_flagged",
            StepDays::Table,
            &[StepDays::CampaignId, StepDays::Flagged],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CohortDays::Table)
                    .col(pk_auto(CohortDays::Id))
                    .col(integer(CohortDays::CohortId))
                    .col(date(CohortDays::Day))
                    .col(big_integer(CohortDays::Counted).default(0))
                    .col(integer(CohortDays::ActiveMembers).default(0))
                    .foreign_key(&mut fk(
                        "fk_cohort_days_cohort",
                        (CohortDays::Table, CohortDays::CohortId),
                        (Cohorts::Table, Cohorts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_cohort_days_cohort_day",
            CohortDays::Table,
            &[CohortDays::CohortId, CohortDays::Day],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CampaignDays::Table)
                    .col(pk_auto(CampaignDays::Id))
                    .col(integer(CampaignDays::CampaignId))
                    .col(date(CampaignDays::Day))
                    .col(big_integer(CampaignDays::Counted).default(0))
                    .col(integer(CampaignDays::ActiveParticipants).default(0))
                    .foreign_key(&mut fk(
                        "fk_campaign_days_campaign",
                        (CampaignDays::Table, CampaignDays::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_campaign_days_campaign_day",
            CampaignDays::Table,
            &[CampaignDays::CampaignId, CampaignDays::Day],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Unlocks::Table)
                    .col(pk_auto(Unlocks::Id))
                    .col(integer(Unlocks::CampaignId))
                    .col(string(Unlocks::SubjectKind))
                    .col(integer(Unlocks::SubjectId))
                    .col(integer(Unlocks::StationSeq))
                    .col(timestamp_with_time_zone(Unlocks::UnlockedAt))
                    .col(date(Unlocks::ReachedOn))
                    .foreign_key(&mut fk(
                        "fk_unlocks_campaign",
                        (Unlocks::Table, Unlocks::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // Each unlock is stored once per subject and station.
        unique(
            manager,
            "ux_unlocks_subject_station",
            Unlocks::Table,
            &[
                Unlocks::CampaignId,
                Unlocks::SubjectKind,
                Unlocks::SubjectId,
                Unlocks::StationSeq,
            ],
        )
        .await?;
        index(
            manager,
            "ix_unlocks_campaign_time",
            Unlocks::Table,
            &[Unlocks::CampaignId, Unlocks::UnlockedAt],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(RosterEntries::Table)
                    .col(pk_auto(RosterEntries::Id))
                    .col(integer(RosterEntries::CampaignId))
                    .col(string(RosterEntries::StudentNo))
                    .col(string(RosterEntries::DisplayName))
                    .col(integer(RosterEntries::CohortId))
                    .col(timestamp_with_time_zone(RosterEntries::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_roster_campaign",
                        (RosterEntries::Table, RosterEntries::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "fk_roster_cohort",
                        (RosterEntries::Table, RosterEntries::CohortId),
                        (Cohorts::Table, Cohorts::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_roster_campaign_student",
            RosterEntries::Table,
            &[RosterEntries::CampaignId, RosterEntries::StudentNo],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_auto(AuditLog::Id))
                    .col(integer_null(AuditLog::CampaignId))
                    .col(integer_null(AuditLog::ActorId))
                    .col(string(AuditLog::ActorName))
                    .col(string(AuditLog::Action))
                    .col(string(AuditLog::Target))
                    .col(text(AuditLog::Summary))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_audit_campaign",
                        (AuditLog::Table, AuditLog::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_audit_campaign",
            AuditLog::Table,
            &[AuditLog::CampaignId, AuditLog::Id],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            RosterEntries::Table.into_iden(),
            Unlocks::Table.into_iden(),
            CampaignDays::Table.into_iden(),
            CohortDays::Table.into_iden(),
            StepDays::Table.into_iden(),
            Enrollments::Table.into_iden(),
            Participants::Table.into_iden(),
            Cohorts::Table.into_iden(),
            CampaignGrants::Table.into_iden(),
            Campaigns::Table.into_iden(),
            Stations::Table.into_iden(),
            Routes::Table.into_iden(),
            Organisers::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

async fn unique<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[C],
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table).unique();
    for col in cols {
        stmt.col(*col);
    }
    manager.create_index(stmt.to_owned()).await
}

async fn index<T: IntoIden + Copy + 'static, C: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[C],
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(*col);
    }
    manager.create_index(stmt.to_owned()).await
}
