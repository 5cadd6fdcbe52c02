//! Route administration: list, read, import (JSON as `config/routes/long-march.json`, or
//! CSV), and edits of a station's texts.

use std::fmt::Display;

use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use futures_util::{Stream, StreamExt};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::{
    domain::{
        days::parse_local_day,
        geo::{Coordinates, CoordinatesError},
    },
    http::error::{ApiError, ApiResult},
    models::{campaigns, routes, stations},
    services::{
        admin::{
            access, audit,
            csv_lines::{CsvLines, LineError, LineErrors, columns},
        },
        campaigns::cache::CampaignCache,
        campaigns::route_documents::{RouteDoc, StationDoc, invalid_coordinates},
        identity::Organiser,
    },
};

/// A route in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteListItem {
    pub id: i32,
    pub slug: String,
    pub name: String,
    pub total_metres: i64,
    pub stations: u64,
    /// Campaigns (any status) using the route.
    pub campaigns: u64,
}

/// A page of routes.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteList {
    pub items: Vec<RouteListItem>,
    pub total: u64,
}

/// A station with every text.
#[derive(Debug, Serialize, ToSchema)]
pub struct StationAdminView {
    pub seq: i32,
    pub name: String,
    pub metres: i64,
    pub event_date: Option<NaiveDate>,
    pub event_date_end: Option<NaiveDate>,
    pub title: String,
    pub story: String,
    pub image_url: Option<String>,
    /// WGS84 degrees; both or neither.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl From<stations::Model> for StationAdminView {
    fn from(s: stations::Model) -> Self {
        Self {
            seq: s.seq,
            name: s.name,
            metres: s.metres,
            event_date: s.event_date,
            event_date_end: s.event_date_end,
            title: s.title,
            story: s.story,
            image_url: s.image_url,
            lat: s.lat,
            lon: s.lon,
        }
    }
}

/// A route with its stations.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteAdminView {
    pub id: i32,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub distance_note: String,
    pub total_metres: i64,
    /// True while an active campaign walks it: stations can't move then.
    pub in_active_use: bool,
    pub stations: Vec<StationAdminView>,
}

/// `PATCH /admin/routes/{id}/stations/{seq}`: texts, and `metres` only while no active
/// campaign uses the route.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationPatch {
    pub title: Option<String>,
    pub story: Option<String>,
    /// An `http(s)` URL, or `""` to remove the image.
    pub image_url: Option<String>,
    pub metres: Option<i64>,
    /// WGS84 latitude; send `lat` and `lon` together, both `null` to remove the position.
    /// Allowed while campaigns walk the route: positions only draw the map.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub lat: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub lon: Option<Option<f64>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

impl StationPatch {
    /// The new position when the patch moves the station on the map: `Some(None)` removes it.
    ///
    /// # Errors
    /// 422 `invalid_coordinates` for one of the pair alone or a value out of range.
    fn position(&self) -> ApiResult<Option<Option<Coordinates>>> {
        let at = |e| invalid_coordinates("lat/lon", e);
        match (self.lat, self.lon) {
            (None, None) => Ok(None),
            (Some(lat), Some(lon)) => Coordinates::from_pair(lat, lon).map(Some).map_err(at),
            _ => Err(at(CoordinatesError::OnlyOne)),
        }
    }
}

/// `?slug=&name=` of a CSV route import.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct RouteCsvQuery {
    pub slug: Option<String>,
    pub name: Option<String>,
}

/// Lists routes.
///
/// # Errors
/// On database failure.
pub async fn list(db: &impl ConnectionTrait, limit: u64, offset: u64) -> ApiResult<RouteList> {
    let total = routes::Entity::find().count(db).await?;
    let rows = routes::Entity::find()
        .order_by_asc(routes::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let n_stations = stations::Entity::find()
            .filter(stations::Column::RouteId.eq(r.id))
            .count(db)
            .await?;
        let n_campaigns = campaigns::Entity::find()
            .filter(campaigns::Column::RouteId.eq(r.id))
            .count(db)
            .await?;
        items.push(RouteListItem {
            id: r.id,
            slug: r.slug,
            name: r.name,
            total_metres: r.total_metres,
            stations: n_stations,
            campaigns: n_campaigns,
        });
    }
    Ok(RouteList { items, total })
}

async fn find(db: &impl ConnectionTrait, id: i32) -> ApiResult<routes::Model> {
    routes::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("route_not_found", format!("No route {id} exists.")))
}

async fn in_active_use(db: &impl ConnectionTrait, route_id: i32) -> ApiResult<bool> {
    Ok(campaigns::Entity::find()
        .filter(campaigns::Column::RouteId.eq(route_id))
        .filter(campaigns::Column::Status.eq(campaigns::CampaignStatus::Active))
        .count(db)
        .await?
        > 0)
}

/// One route with every station.
///
/// # Errors
/// 404 `route_not_found`.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> ApiResult<RouteAdminView> {
    let r = find(db, id).await?;
    let st = r.stations(db).await?;
    Ok(RouteAdminView {
        in_active_use: in_active_use(db, r.id).await?,
        id: r.id,
        slug: r.slug,
        name: r.name,
        description: r.description,
        distance_note: r.distance_note,
        total_metres: r.total_metres,
        stations: st.into_iter().map(Into::into).collect(),
    })
}

/// Stores a validated route document.
///
/// # Errors
/// 422 per field; 409 `route_exists`.
#[tracing::instrument(skip(db, doc), fields(organiser = who.id, route = %doc.slug))]
pub async fn create(db: &DatabaseConnection, who: &Organiser, mut doc: RouteDoc) -> ApiResult<RouteAdminView> {
    doc.validate()?;
    for s in &doc.stations {
        check_image_url(s.image_url.as_deref())?;
    }
    let txn = crate::db::begin_write(db).await?;
    if routes::Model::find_by_slug(&txn, &doc.slug).await?.is_some() {
        return Err(ApiError::conflict(
            "route_exists",
            format!("A route `{}` already exists.", doc.slug),
        ));
    }
    let route = doc.insert(&txn).await?;
    audit::record(
        &txn,
        None,
        who,
        "route.create",
        &format!("route:{}", route.slug),
        json!({ "stations": doc.stations.len(), "total_metres": route.total_metres }),
    )
    .await?;
    let view = get(&txn, route.id).await?;
    txn.commit().await?;
    Ok(view)
}

/// Parses a JSON route document from a body of at most `limit` bytes.
///
/// # Errors
/// 413 `body_too_large`; 400 `malformed_json`; 422 `invalid_body`.
pub async fn read_json<S, E>(mut body: S, limit: usize) -> ApiResult<RouteDoc>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let mut buf = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("body_unreadable", format!("The request body could not be read: {e}"))
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge {
                code: "body_too_large",
                detail: format!("The request body exceeds {limit} bytes."),
            });
        }
        buf.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&buf).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable(
                "invalid_body",
                format!("The JSON body does not match a route document: {e}"),
            )
        } else {
            ApiError::bad_request("malformed_json", format!("The body is not valid JSON: {e}"))
        }
    })
}

/// Parses a CSV route `seq,name,metres,event_date,title,story,image_url[,lat,lon]` (one
/// station a line; `event_date`, `image_url` and the pair `lat,lon` may be empty) named by
/// `?slug=&name=`.
///
/// # Errors
/// 422 `validation_failed` for a missing slug or name, `csv_header`, `csv_empty`,
/// `csv_invalid` listing bad lines (`invalid_coordinates` among them); 413 `body_too_large`.
pub async fn read_csv<S, E>(body: S, limit: usize, q: &RouteCsvQuery) -> ApiResult<RouteDoc>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let slug = q
        .slug
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_field("slug", "give the route's slug as ?slug="))?;
    let name = q
        .name
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_field("name", "give the route's name as ?name="))?;
    let mut reader = CsvLines::new(body, limit);
    let base = ["seq", "name", "metres", "event_date", "title", "story", "image_url"];
    let with_position = [
        "seq",
        "name",
        "metres",
        "event_date",
        "title",
        "story",
        "image_url",
        "lat",
        "lon",
    ];
    let width = reader.expect_one_header(&[&base, &with_position]).await?;
    let mut errors = LineErrors::default();
    let mut stations = Vec::new();
    while let Some((no, rec)) = reader.next_record().await? {
        let f = match rec.and_then(|f| columns(no, f, width)) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let Ok(seq) = f[0].parse::<i32>() else {
            errors.add(no, "invalid_seq", "seq must be a whole number");
            continue;
        };
        let Ok(metres) = f[2].parse::<i64>() else {
            errors.add(no, "invalid_metres", "metres must be a whole number");
            continue;
        };
        let event_date = if f[3].is_empty() {
            None
        } else if let Some(d) = parse_local_day(&f[3]) {
            Some(d)
        } else {
            errors.add(no, "invalid_date", format!("`{}` is not a date YYYY-MM-DD", f[3]));
            continue;
        };
        let (lat, lon) = match csv_position(no, f.get(7..9)) {
            Ok(pair) => pair,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        stations.push(StationDoc {
            seq,
            name: f[1].clone(),
            metres,
            event_date,
            event_date_end: None,
            title: f[4].clone(),
            story: f[5].clone(),
            image_url: Some(f[6].clone()).filter(|u| !u.is_empty()),
            lat,
            lon,
        });
        if stations.len() > 200 {
            errors.add(no, "too_many_stations", "a route has at most 200 stations");
            break;
        }
    }
    errors.into_result()?;
    Ok(RouteDoc {
        slug: slug.trim().to_owned(),
        name,
        description: String::new(),
        distance_note: String::new(),
        stations,
    })
}

/// The `lat,lon` cells of a CSV line (absent with the 7-column header).
fn csv_position(no: usize, cells: Option<&[String]>) -> Result<(Option<f64>, Option<f64>), LineError> {
    let bad = |message: String| LineError::new(no, "invalid_coordinates", message);
    let Some(cells) = cells else {
        return Ok((None, None));
    };
    let mut pair = [None, None];
    for (slot, (cell, field)) in pair.iter_mut().zip(cells.iter().zip(["lat", "lon"])) {
        if !cell.is_empty() {
            *slot = Some(
                cell.parse::<f64>()
                    .map_err(|_| bad(format!("{field} `{cell}` is not a number of degrees")))?,
            );
        }
    }
    Coordinates::from_pair(pair[0], pair[1]).map_err(|e| bad(e.to_string()))?;
    Ok((pair[0], pair[1]))
}

fn check_image_url(url: Option<&str>) -> ApiResult<()> {
    match url.map(str::trim) {
        Some(u) if !u.is_empty() && (!(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 1000) => {
            Err(ApiError::invalid_field(
                "image_url",
                "must be an http(s) URL of at most 1000 characters",
            ))
        }
        _ => Ok(()),
    }
}

/// Edits a station's texts; `metres` only while no active campaign walks the route, and
/// only between its neighbours, so stations never swap places.
///
/// Any organiser may edit a route that no campaign outside their scope uses; shared routes
/// (such as the built-in one used by others) are edited by admins.
///
/// # Errors
/// 404 `route_not_found` / `station_not_found`; 403 `route_shared`; 409 `route_in_use`;
/// 422 per field.
#[tracing::instrument(skip(db, cache, patch), fields(organiser = who.id, route = id, seq))]
pub async fn patch_station(
    db: &DatabaseConnection,
    cache: &CampaignCache,
    who: &Organiser,
    id: i32,
    seq: i32,
    patch: StationPatch,
) -> ApiResult<StationAdminView> {
    if let Some(t) = &patch.title
        && t.chars().count() > 200
    {
        return Err(ApiError::invalid_field("title", "must be at most 200 characters"));
    }
    if let Some(s) = &patch.story
        && s.chars().count() > 50_000
    {
        return Err(ApiError::invalid_field("story", "must be at most 50,000 characters"));
    }
    check_image_url(patch.image_url.as_deref())?;
    let position = patch.position()?;
    let txn = crate::db::begin_write(db).await?;
    let route = find(&txn, id).await?;
    if !who.admin {
        for c in campaigns::Entity::find()
            .filter(campaigns::Column::RouteId.eq(route.id))
            .all(&txn)
            .await?
        {
            if !access::can_access(&txn, who, &c).await? {
                return Err(ApiError::forbidden(
                    "route_shared",
                    "Campaigns of other organisers use this route; ask an admin to edit it.",
                ));
            }
        }
    }
    let all = route.stations(&txn).await?;
    let Some(pos) = all.iter().position(|s| s.seq == seq) else {
        return Err(ApiError::not_found(
            "station_not_found",
            format!("The route has no station {seq}."),
        ));
    };
    let before = all[pos].clone();
    let mut a = before.clone().into_active_model();
    if let Some(t) = &patch.title {
        a.title = Set(t.trim().to_owned());
    }
    if let Some(s) = &patch.story {
        a.story = Set(s.clone());
    }
    if let Some(u) = &patch.image_url {
        a.image_url = Set(Some(u.trim().to_owned()).filter(|u| !u.is_empty()));
    }
    if let Some(p) = position {
        let (lat, lon) = Coordinates::split(p);
        a.lat = Set(lat);
        a.lon = Set(lon);
    }
    if let Some(m) = patch.metres
        && m != before.metres
    {
        if in_active_use(&txn, route.id).await? {
            return Err(ApiError::conflict(
                "route_in_use",
                "An active campaign walks this route: its stations can't move.",
            ));
        }
        let low = pos.checked_sub(1).map(|p| all[p].metres);
        let high = all.get(pos + 1).map(|s| s.metres);
        if m < 0 || low.is_some_and(|l| m <= l) || high.is_some_and(|h| m >= h) {
            return Err(ApiError::invalid_field(
                "metres",
                "must lie strictly between the neighbouring stations",
            ));
        }
        a.metres = Set(m);
        if high.is_none() {
            let mut ra = route.clone().into_active_model();
            ra.total_metres = Set(m);
            ra.updated_at = Set(Utc::now());
            ra.update(&txn).await?;
        }
    }
    let after = if a.is_changed() {
        a.update(&txn).await?
    } else {
        before.clone()
    };
    if after != before {
        audit::record(
            &txn,
            None,
            who,
            "station.update",
            &format!("route:{}/station:{seq}", route.slug),
            json!({
                "before": { "title": before.title, "image_url": before.image_url, "metres": before.metres, "lat": before.lat, "lon": before.lon, "story_chars": before.story.chars().count() },
                "after": { "title": after.title, "image_url": after.image_url, "metres": after.metres, "lat": after.lat, "lon": after.lon, "story_chars": after.story.chars().count() },
            }),
        )
        .await?;
    }
    txn.commit().await?;
    cache.forget_all();
    Ok(after.into())
}
