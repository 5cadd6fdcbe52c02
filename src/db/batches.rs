//! The upload path's set-based statements, written once per dialect. Each takes its rows as
//! one JSON parameter, an array of objects that the statement reads by field name, so that
//! one statement text serves every batch size (a multi-row `VALUES` list would be a new
//! text for every count, each prepared and cached by every pooled connection; on SQLite
//! megabytes apiece). Rows are the named structs below; results decode into named structs.
//!
//! PostgreSQL reads the parameter with `jsonb_array_elements` and `->>`; SQLite with
//! `jsonb_each` (parsed once, not per `json_extract`) and `json_extract(…, '$.field')`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};
use serde::{Deserialize, Serialize};

use crate::{domain::step_day::StoredDay, models::enrollments};

/// An upload's enrollment and the days it brings, as [`lock_enrollments_with_days`] reads them.
#[derive(Serialize)]
pub struct UploadKey {
    pub campaign_id: i32,
    pub participant_id: i32,
    pub days: Vec<NaiveDate>,
}

/// The locked enrollments by (campaign, participant), each with its stored rows among the
/// days uploaded.
pub type LockedEnrollments = HashMap<(i32, i32), (enrollments::Model, Vec<StoredDay>)>;

/// The enrollments of `keys`, locked so that uploads of one participant serialise, with
/// their stored rows among the days uploaded. An enrollment that does not exist is missing
/// from the map.
///
/// On SQLite `BEGIN IMMEDIATE` has already serialised every writer, and one statement reads
/// both (each enrollment's day rows as one JSON array: joined, every day row would repeat
/// the enrollment's columns, and sqlx copies every value of every row). On PostgreSQL the
/// enrollments are locked in id order, and the days need a statement of their own after
/// the locks: a locking read that waited for another upload sees the locked row as that
/// upload committed it, but every other row of the statement as of the statement's start
/// (READ COMMITTED), so a joined read of the days would miss what the other upload stored
/// and count it twice.
///
/// # Errors
/// On database failure.
pub async fn lock_enrollments_with_days(
    db: &impl ConnectionTrait,
    keys: &[UploadKey],
) -> Result<LockedEnrollments, DbErr> {
    let mut locked = HashMap::with_capacity(keys.len());
    if keys.is_empty() {
        return Ok(locked);
    }
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let sql = "SELECT e.* FROM enrollments e WHERE (e.campaign_id, e.participant_id) IN \
                   (SELECT (r->>'campaign_id')::integer, (r->>'participant_id')::integer \
                   FROM jsonb_array_elements($1::jsonb) AS r) \
                   ORDER BY e.id FOR UPDATE OF e";
        let rows = enrollments::Model::find_by_statement(Statement::from_sql_and_values(backend, sql, [json(keys)?]))
            .all(db)
            .await?;
        for e in rows {
            locked.insert((e.campaign_id, e.participant_id), (e, Vec::new()));
        }
        if keys.iter().all(|k| k.days.is_empty()) {
            return Ok(locked);
        }
        let sql = "SELECT d.campaign_id, d.participant_id, d.day, d.steps, d.counted, d.flagged, d.voided \
                   FROM jsonb_array_elements($1::jsonb) AS r \
                   CROSS JOIN jsonb_array_elements_text(r->'days') AS w(day) JOIN step_days d \
                   ON d.participant_id = (r->>'participant_id')::integer \
                   AND d.campaign_id = (r->>'campaign_id')::integer AND d.day = w.day::date";
        let rows = StoredDayRow::find_by_statement(Statement::from_sql_and_values(backend, sql, [json(keys)?]))
            .all(db)
            .await?;
        for row in rows {
            if let Some((_, days)) = locked.get_mut(&(row.campaign_id, row.participant_id)) {
                days.push(row.stored());
            }
        }
        return Ok(locked);
    }
    // `CROSS JOIN` keeps the uploads as the outer loop: one index lookup each.
    let sql = "SELECT e.*, (SELECT json_group_array(json_object('day', d.day, 'steps', d.steps, \
               'counted', d.counted, 'flagged', d.flagged, 'voided', d.voided)) \
               FROM step_days d WHERE d.participant_id = e.participant_id AND d.campaign_id = e.campaign_id \
               AND d.day IN (SELECT value FROM json_each(r.value, '$.days'))) AS stored_days \
               FROM jsonb_each(?) AS r CROSS JOIN enrollments e \
               ON e.campaign_id = json_extract(r.value, '$.campaign_id') \
               AND e.participant_id = json_extract(r.value, '$.participant_id')";
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, [json(keys)?]))
        .await?;
    for row in rows {
        let enrollment = enrollments::Model::from_query_result(&row, "")?;
        let stored: String = row.try_get("", "stored_days")?;
        let stored: Vec<StoredDayJson> = serde_json::from_str(&stored).map_err(|e| DbErr::Json(e.to_string()))?;
        locked.insert(
            (enrollment.campaign_id, enrollment.participant_id),
            (enrollment, stored.into_iter().map(StoredDayJson::stored).collect()),
        );
    }
    Ok(locked)
}

/// A stored day of one of the locked enrollments (PostgreSQL).
#[derive(FromQueryResult)]
struct StoredDayRow {
    campaign_id: i32,
    participant_id: i32,
    day: NaiveDate,
    steps: i64,
    counted: i64,
    flagged: bool,
    voided: bool,
}

impl StoredDayRow {
    fn stored(self) -> StoredDay {
        StoredDay {
            day: self.day,
            steps: self.steps,
            counted: self.counted,
            flagged: self.flagged,
            voided: self.voided,
        }
    }
}

/// A stored day as SQLite's `json_object` writes it (booleans as 0 and 1).
#[derive(Deserialize)]
struct StoredDayJson {
    day: NaiveDate,
    steps: i64,
    counted: i64,
    flagged: i64,
    voided: i64,
}

impl StoredDayJson {
    fn stored(self) -> StoredDay {
        StoredDay {
            day: self.day,
            steps: self.steps,
            counted: self.counted,
            flagged: self.flagged != 0,
            voided: self.voided != 0,
        }
    }
}

/// A new or grown step day, as [`upsert_step_days`] writes it.
#[derive(Serialize)]
pub struct DayRow<'a> {
    pub campaign_id: i32,
    pub participant_id: i32,
    pub enrollment_id: i32,
    pub day: NaiveDate,
    pub steps: i64,
    pub counted: i64,
    pub source: &'a str,
    pub flagged: bool,
}

/// Writes new and grown days in one statement. A day already stored keeps its id, creation
/// time and void state: only steps, counted, flag, source and update time are written.
///
/// # Errors
/// On database failure.
pub async fn upsert_step_days(db: &impl ConnectionTrait, rows: &[DayRow<'_>], now: DateTime<Utc>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let rows_of = match backend {
        DbBackend::Postgres => {
            "SELECT (r->>'campaign_id')::integer, (r->>'participant_id')::integer, \
             (r->>'enrollment_id')::integer, (r->>'day')::date, (r->>'steps')::bigint, (r->>'counted')::bigint, \
             r->>'source', (r->>'flagged')::boolean, false, NULL, $2, $2 FROM jsonb_array_elements($1::jsonb) AS r"
        }
        // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
        _ => {
            "SELECT json_extract(value, '$.campaign_id'), json_extract(value, '$.participant_id'), \
             json_extract(value, '$.enrollment_id'), json_extract(value, '$.day'), json_extract(value, '$.steps'), \
             json_extract(value, '$.counted'), json_extract(value, '$.source'), json_extract(value, '$.flagged'), \
             0, NULL, ?2, ?2 FROM jsonb_each(?1) WHERE true"
        }
    };
    let sql = format!(
        "INSERT INTO step_days (campaign_id, participant_id, enrollment_id, day, steps, counted, source, flagged, \
         voided, void_reason, created_at, updated_at) {rows_of} \
         ON CONFLICT (participant_id, campaign_id, day) DO UPDATE SET steps = excluded.steps, \
         counted = excluded.counted, flagged = excluded.flagged, source = excluded.source, \
         updated_at = excluded.updated_at"
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [json(rows)?, now.into()]))
        .await?;
    Ok(())
}

/// An enrollment's totals, as [`write_totals`] writes them.
#[derive(Serialize)]
pub struct TotalsRow {
    pub id: i32,
    pub total_steps: i64,
    pub total_counted: i64,
    pub days_active: i32,
    pub metres: i64,
    pub stations_reached: i32,
    pub last_reached_on: Option<NaiveDate>,
    pub finished_on: Option<NaiveDate>,
}

/// Writes the enrollments' totals in one statement. Returns how many rows it updated.
///
/// # Errors
/// On database failure.
pub async fn write_totals(db: &impl ConnectionTrait, rows: &[TotalsRow], now: DateTime<Utc>) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "UPDATE enrollments AS e SET total_steps = (r->>'total_steps')::bigint, \
             total_counted = (r->>'total_counted')::bigint, days_active = (r->>'days_active')::integer, \
             metres = (r->>'metres')::bigint, stations_reached = (r->>'stations_reached')::integer, \
             last_reached_on = (r->>'last_reached_on')::date, finished_on = (r->>'finished_on')::date, \
             updated_at = $2 FROM jsonb_array_elements($1::jsonb) AS r WHERE e.id = (r->>'id')::integer"
        }
        _ => {
            "UPDATE enrollments SET total_steps = json_extract(r.value, '$.total_steps'), \
             total_counted = json_extract(r.value, '$.total_counted'), \
             days_active = json_extract(r.value, '$.days_active'), metres = json_extract(r.value, '$.metres'), \
             stations_reached = json_extract(r.value, '$.stations_reached'), \
             last_reached_on = json_extract(r.value, '$.last_reached_on'), \
             finished_on = json_extract(r.value, '$.finished_on'), updated_at = ?2 \
             FROM jsonb_each(?1) AS r WHERE enrollments.id = json_extract(r.value, '$.id')"
        }
    };
    let result = db
        .execute_raw(Statement::from_sql_and_values(backend, sql, [json(rows)?, now.into()]))
        .await?;
    Ok(result.rows_affected())
}

/// What a batch adds to one cohort's day, as [`add_cohort_days`] writes it.
#[derive(Serialize)]
pub struct CohortDayRow {
    pub cohort_id: i32,
    pub day: NaiveDate,
    pub counted: i64,
    pub active_members: i32,
}

/// Adds the rows to the cohorts' per-day rows (creating the missing ones) in one statement.
///
/// # Errors
/// On database failure.
pub async fn add_cohort_days(db: &impl ConnectionTrait, rows: &[CohortDayRow]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let rows_of = match backend {
        DbBackend::Postgres => {
            "SELECT (r->>'cohort_id')::integer, (r->>'day')::date, (r->>'counted')::bigint, \
             (r->>'active_members')::integer FROM jsonb_array_elements($1::jsonb) AS r"
        }
        // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
        _ => {
            "SELECT json_extract(value, '$.cohort_id'), json_extract(value, '$.day'), \
             json_extract(value, '$.counted'), json_extract(value, '$.active_members') FROM jsonb_each(?) WHERE true"
        }
    };
    let sql = format!(
        "INSERT INTO cohort_days (cohort_id, day, counted, active_members) {rows_of} \
         ON CONFLICT (cohort_id, day) DO UPDATE SET \
         counted = cohort_days.counted + excluded.counted, \
         active_members = cohort_days.active_members + excluded.active_members"
    );
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [json(rows)?]))
        .await?;
    Ok(())
}

/// Rows as the statements' one JSON parameter.
fn json(rows: &(impl Serialize + ?Sized)) -> Result<Value, DbErr> {
    serde_json::to_string(rows)
        .map(Value::from)
        .map_err(|e| DbErr::Json(e.to_string()))
}
