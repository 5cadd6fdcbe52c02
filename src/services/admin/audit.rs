//! The audit log: every change an organiser makes, with a before/after summary.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{
    http::error::ApiResult,
    models::{audit_log, organisers},
    services::identity::Organiser,
};

/// Records one organiser action. Call it inside the transaction that makes the change, so
/// the entry exists exactly when the change does.
///
/// # Errors
/// On database failure.
#[tracing::instrument(skip(db, summary), fields(organiser = organiser.id))]
pub async fn record(
    db: &impl ConnectionTrait,
    campaign_id: Option<i32>,
    organiser: &Organiser,
    action: &str,
    target: &str,
    summary: Value,
) -> ApiResult<()> {
    let actor_name = organisers::Entity::find_by_id(organiser.id)
        .one(db)
        .await?
        .map_or_else(|| format!("#{}", organiser.id), |o| o.username);
    audit_log::ActiveModel {
        campaign_id: Set(campaign_id),
        actor_id: Set(Some(organiser.id)),
        actor_name: Set(actor_name),
        action: Set(action.to_owned()),
        target: Set(target.to_owned()),
        summary: Set(summary.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i32,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// What changed: usually `{before, after}` or the parameters of the action.
    #[schema(value_type = Object)]
    pub summary: Value,
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub total: u64,
}

/// A campaign's audit entries, newest first.
///
/// # Errors
/// On database failure.
pub async fn list(db: &impl ConnectionTrait, campaign_id: i32, limit: u64, offset: u64) -> ApiResult<AuditPage> {
    let q = audit_log::Entity::find().filter(audit_log::Column::CampaignId.eq(campaign_id));
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_desc(audit_log::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    let items = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.created_at,
            actor: r.actor_name,
            action: r.action,
            target: r.target,
            summary: serde_json::from_str(&r.summary).unwrap_or(Value::String(r.summary)),
        })
        .collect();
    Ok(AuditPage { items, total })
}
