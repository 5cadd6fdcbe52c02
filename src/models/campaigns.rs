//! Queries on `campaigns`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use super::entities::campaigns::*;

/// Campaign lifecycle states.
pub const DRAFT: &str = "draft";
pub const ACTIVE: &str = "active";
pub const CLOSED: &str = "closed";

impl Model {
    /// Finds a campaign by its slug.
    ///
    /// # Errors
    /// On database failure.
    pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<Model>, DbErr> {
        Entity::find().filter(Column::Slug.eq(slug)).one(db).await
    }

    /// The step sources this campaign accepts (`werun`, `manual`, `import`).
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.step_sources.split(',').map(str::trim).filter(|s| !s.is_empty())
    }

    /// True when the campaign accepts steps from `source`.
    pub fn accepts(&self, source: &str) -> bool {
        self.sources().any(|s| s == source)
    }

    /// True for campaigns the public may see (not drafts).
    pub fn is_public(&self) -> bool {
        self.status != DRAFT
    }
}
