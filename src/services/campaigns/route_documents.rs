//! Route documents (`config/routes/long-march.json` and admin imports): parsing,
//! validation and storage.

use std::collections::HashSet;

use chrono::{NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::{
        geo::{Coordinates, CoordinatesError},
        names::Slug,
    },
    http::error::{ApiError, ApiResult},
    models::{routes, stations},
};

/// The built-in route, compiled into the binary.
pub const BUILT_IN_ROUTE: &str = include_str!("../../../config/routes/long-march.json");

/// A route as JSON: the format of `config/routes/long-march.json`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteDoc {
    /// Lowercase letters, digits and hyphens.
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How the stations' distances were derived.
    #[serde(default)]
    pub distance_note: String,
    pub stations: Vec<StationDoc>,
}

/// One station of a route document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationDoc {
    pub seq: i32,
    pub name: String,
    /// Distance from the start in metres; strictly increasing with `seq`.
    pub metres: i64,
    #[serde(default)]
    pub event_date: Option<NaiveDate>,
    #[serde(default)]
    pub event_date_end: Option<NaiveDate>,
    #[serde(default)]
    pub title: String,
    /// Markdown, shown to a participant once the station is unlocked.
    #[serde(default)]
    pub story: String,
    #[serde(default)]
    pub image_url: Option<String>,
    /// WGS84 latitude in degrees (−90..=90); give both `lat` and `lon`, or neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// WGS84 longitude in degrees (−180..=180).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// 422 `invalid_coordinates` for the station (or field) `at`.
pub fn invalid_coordinates(at: &str, e: CoordinatesError) -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_coordinates",
        detail: format!("{at}: {e}."),
        errors: Some(serde_json::json!([{ "field": at, "message": e.to_string() }])),
    }
}

impl RouteDoc {
    /// Checks the rules of a route: valid slug and name, 2–200 stations, unique `seq`,
    /// strictly increasing non-negative metres in `seq` order, named stations, coordinates
    /// in range and given as pairs.
    ///
    /// # Errors
    /// 422 naming the first field at fault (`invalid_coordinates` for coordinates).
    pub fn validate(&mut self) -> ApiResult<()> {
        if Slug::parse(&self.slug).is_none() {
            return Err(ApiError::invalid_field("slug", Slug::RULE));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 100 {
            return Err(ApiError::invalid_field("name", "must be 1–100 characters"));
        }
        if !(2..=200).contains(&self.stations.len()) {
            return Err(ApiError::invalid_field("stations", "a route has 2 to 200 stations"));
        }
        let mut seen = HashSet::new();
        for s in &self.stations {
            if !seen.insert(s.seq) {
                return Err(ApiError::invalid_field(
                    "stations",
                    format!("seq {} appears twice", s.seq),
                ));
            }
        }
        self.stations.sort_by_key(|s| s.seq);
        let mut last: Option<i64> = None;
        for s in &self.stations {
            if s.seq < 1 {
                return Err(ApiError::invalid_field(
                    "stations",
                    format!("seq {} must be at least 1", s.seq),
                ));
            }
            if s.name.trim().is_empty() || s.name.chars().count() > 100 {
                return Err(ApiError::invalid_field(
                    "stations",
                    format!("station {} needs a name of 1–100 characters", s.seq),
                ));
            }
            if s.metres < 0 || last.is_some_and(|l| s.metres <= l) {
                return Err(ApiError::invalid_field(
                    "stations",
                    format!("station {} must lie strictly further than the one before it", s.seq),
                ));
            }
            if let (Some(a), Some(b)) = (s.event_date, s.event_date_end)
                && b < a
            {
                return Err(ApiError::invalid_field(
                    "stations",
                    format!("station {}: event_date_end precedes event_date", s.seq),
                ));
            }
            Coordinates::from_pair(s.lat, s.lon)
                .map_err(|e| invalid_coordinates(&format!("stations[seq={}]", s.seq), e))?;
            last = Some(s.metres);
        }
        Ok(())
    }

    /// Parses and validates the built-in route.
    ///
    /// # Errors
    /// When the compiled-in file is malformed (a build defect caught by the tests).
    pub fn built_in() -> anyhow::Result<Self> {
        let mut doc: RouteDoc = serde_json::from_str(BUILT_IN_ROUTE)?;
        doc.validate()
            .map_err(|e| anyhow::anyhow!("built-in route is invalid: {e}"))?;
        Ok(doc)
    }

    /// Inserts the route and its stations.
    ///
    /// # Errors
    /// On database failure; a duplicate slug is a unique violation (409).
    pub async fn insert(&self, db: &impl ConnectionTrait) -> ApiResult<routes::Model> {
        let now = Utc::now();
        let total = self.stations.last().map_or(0, |s| s.metres);
        let route = routes::ActiveModel {
            slug: Set(self.slug.clone()),
            name: Set(self.name.trim().to_owned()),
            description: Set(self.description.clone()),
            distance_note: Set(self.distance_note.clone()),
            total_metres: Set(total),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let rows = self.stations.iter().map(|s| stations::ActiveModel {
            route_id: Set(route.id),
            seq: Set(s.seq),
            name: Set(s.name.trim().to_owned()),
            metres: Set(s.metres),
            event_date: Set(s.event_date),
            event_date_end: Set(s.event_date_end),
            title: Set(s.title.clone()),
            story: Set(s.story.clone()),
            image_url: Set(s.image_url.clone()),
            lat: Set(s.lat),
            lon: Set(s.lon),
            ..Default::default()
        });
        stations::Entity::insert_many(rows).exec(db).await?;
        Ok(route)
    }
}
