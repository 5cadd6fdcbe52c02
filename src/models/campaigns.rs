//! Queries on `campaigns`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use super::entities::campaigns::*;

pub use crate::domain::states::{CampaignStatus, StepSource};

impl Model {
    /// Finds a campaign by its slug.
    ///
    /// # Errors
    /// On database failure.
    pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<Model>, DbErr> {
        Entity::find().filter(Column::Slug.eq(slug)).one(db).await
    }

    /// The step sources this campaign accepts (`werun`, `manual`, `import`); a name that is
    /// none of them is ignored (the organisers' API accepts none such).
    pub fn sources(&self) -> impl Iterator<Item = StepSource> {
        self.step_sources.split(',').filter_map(|s| StepSource::named(s.trim()))
    }

    /// True when the campaign accepts steps from `source`.
    pub fn accepts(&self, source: StepSource) -> bool {
        self.sources().any(|s| s == source)
    }

    /// True for campaigns the public may see (not drafts).
    pub fn is_public(&self) -> bool {
        self.status != CampaignStatus::Draft
    }
}
