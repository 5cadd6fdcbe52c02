//! The WeChat platform around a campaign (issue 22):
//!
//! - `wechat_tokens`: the app's access token, one row per name, shared by every instance.
//! - `subscription_credits`: 订阅消息 acceptances per participant and template.
//! - `reminder_claims`: one row per campaign, participant and local day, claimed before a
//!   reminder is sent, so it goes out once across instances and restarts.
//! - `join_qrcodes`: a class's 小程序码 as WeChat drew it, so a printed poster never changes.
//! - `certificates`: issued once per participant and campaign, with a random public id.
//! - `campaigns.reminders_enabled`, `reminder_time`, `reminder_template_id`.
//! - `participants.name_check_pending`: a display name stored while WeChat's content check
//!   was unreachable, checked again by a background pass.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum WechatTokens {
    Table,
    Id,
    Name,
    Value,
    ExpiresAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SubscriptionCredits {
    Table,
    Id,
    ParticipantId,
    TemplateId,
    Credits,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReminderClaims {
    Table,
    Id,
    CampaignId,
    ParticipantId,
    Day,
    Status,
    Attempts,
    Error,
    ClaimedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum JoinQrcodes {
    Table,
    Id,
    CohortId,
    Scene,
    Png,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Certificates {
    Table,
    Id,
    PublicId,
    ParticipantId,
    CampaignId,
    FinishedOn,
    Metres,
    IssuedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Campaigns {
    Table,
    Id,
    RemindersEnabled,
    ReminderTime,
    ReminderTemplateId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Participants {
    Table,
    Id,
    NameCheckPending,
}

#[derive(DeriveIden, Clone, Copy)]
enum Cohorts {
    Table,
    Id,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WechatTokens::Table)
                    .col(pk_auto(WechatTokens::Id))
                    .col(string(WechatTokens::Name))
                    .col(text(WechatTokens::Value))
                    .col(timestamp_with_time_zone(WechatTokens::ExpiresAt))
                    .col(timestamp_with_time_zone(WechatTokens::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_wechat_tokens_name",
            WechatTokens::Table,
            &[WechatTokens::Name],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SubscriptionCredits::Table)
                    .col(pk_auto(SubscriptionCredits::Id))
                    .col(integer(SubscriptionCredits::ParticipantId))
                    .col(string(SubscriptionCredits::TemplateId))
                    .col(integer(SubscriptionCredits::Credits).default(0))
                    .col(timestamp_with_time_zone(SubscriptionCredits::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_subscription_credits_participant",
                        (SubscriptionCredits::Table, SubscriptionCredits::ParticipantId),
                        (Participants::Table, Participants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_subscription_credits_participant_template",
            SubscriptionCredits::Table,
            &[SubscriptionCredits::ParticipantId, SubscriptionCredits::TemplateId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReminderClaims::Table)
                    .col(pk_auto(ReminderClaims::Id))
                    .col(integer(ReminderClaims::CampaignId))
                    .col(integer(ReminderClaims::ParticipantId))
                    .col(date(ReminderClaims::Day))
                    .col(string(ReminderClaims::Status))
                    .col(integer(ReminderClaims::Attempts).default(0))
                    .col(text_null(ReminderClaims::Error))
                    .col(timestamp_with_time_zone(ReminderClaims::ClaimedAt))
                    .col(timestamp_with_time_zone(ReminderClaims::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_reminder_claims_campaign",
                        (ReminderClaims::Table, ReminderClaims::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_reminder_claims_participant",
                        (ReminderClaims::Table, ReminderClaims::ParticipantId),
                        (Participants::Table, Participants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // The claim: one reminder per participant and campaign-local day, whoever sends it.
        unique(
            manager,
            "ux_reminder_claims_campaign_participant_day",
            ReminderClaims::Table,
            &[
                ReminderClaims::CampaignId,
                ReminderClaims::ParticipantId,
                ReminderClaims::Day,
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(JoinQrcodes::Table)
                    .col(pk_auto(JoinQrcodes::Id))
                    .col(integer(JoinQrcodes::CohortId))
                    .col(string(JoinQrcodes::Scene))
                    .col(blob(JoinQrcodes::Png))
                    .col(timestamp_with_time_zone(JoinQrcodes::CreatedAt))
                    .foreign_key(&mut fk(
                        "fk_join_qrcodes_cohort",
                        (JoinQrcodes::Table, JoinQrcodes::CohortId),
                        (Cohorts::Table, Cohorts::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_join_qrcodes_cohort",
            JoinQrcodes::Table,
            &[JoinQrcodes::CohortId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Certificates::Table)
                    .col(pk_auto(Certificates::Id))
                    .col(string(Certificates::PublicId))
                    .col(integer(Certificates::ParticipantId))
                    .col(integer(Certificates::CampaignId))
                    .col(date(Certificates::FinishedOn))
                    .col(big_integer(Certificates::Metres))
                    .col(timestamp_with_time_zone(Certificates::IssuedAt))
                    .foreign_key(&mut fk(
                        "fk_certificates_participant",
                        (Certificates::Table, Certificates::ParticipantId),
                        (Participants::Table, Participants::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_certificates_campaign",
                        (Certificates::Table, Certificates::CampaignId),
                        (Campaigns::Table, Campaigns::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "ux_certificates_public_id",
            Certificates::Table,
            &[Certificates::PublicId],
        )
        .await?;
        unique(
            manager,
            "ux_certificates_participant_campaign",
            Certificates::Table,
            &[Certificates::ParticipantId, Certificates::CampaignId],
        )
        .await?;

        // SQLite adds one column per ALTER TABLE.
        for column in [
            ColumnDef::new(Campaigns::RemindersEnabled)
                .boolean()
                .not_null()
                .default(true)
                .to_owned(),
            ColumnDef::new(Campaigns::ReminderTime)
                .string()
                .not_null()
                .default("21:00")
                .to_owned(),
            ColumnDef::new(Campaigns::ReminderTemplateId).string().null().to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(Campaigns::Table).add_column(column).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Participants::Table)
                    .add_column(
                        ColumnDef::new(Participants::NameCheckPending)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Participants::Table)
                    .drop_column(Participants::NameCheckPending)
                    .to_owned(),
            )
            .await?;
        for column in [
            Campaigns::ReminderTemplateId,
            Campaigns::ReminderTime,
            Campaigns::RemindersEnabled,
        ] {
            manager
                .alter_table(Table::alter().table(Campaigns::Table).drop_column(column).to_owned())
                .await?;
        }
        for table in [
            Certificates::Table.into_iden(),
            JoinQrcodes::Table.into_iden(),
            ReminderClaims::Table.into_iden(),
            SubscriptionCredits::Table.into_iden(),
            WechatTokens::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
