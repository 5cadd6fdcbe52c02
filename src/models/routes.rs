//! Queries on `routes` and `stations`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

pub use super::entities::routes::*;
use super::entities::{routes, stations};

impl routes::Model {
    /// Finds a route by its slug.
    ///
    /// # Errors
    /// On database failure.
    pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<routes::Model>, DbErr> {
        routes::Entity::find()
            .filter(routes::Column::Slug.eq(slug))
            .one(db)
            .await
    }

    /// This route's stations in `seq` order.
    ///
    /// # Errors
    /// On database failure.
    pub async fn stations(&self, db: &impl ConnectionTrait) -> Result<Vec<stations::Model>, DbErr> {
        stations::Entity::find()
            .filter(stations::Column::RouteId.eq(self.id))
            .order_by_asc(stations::Column::Seq)
            .all(db)
            .await
    }
}
