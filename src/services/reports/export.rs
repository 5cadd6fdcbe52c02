//! CSV exports for organisers: participants (board order), cohorts, step days (audit).
//!
//! Files are UTF-8 with a byte-order mark, so spreadsheet programs open Chinese names right,
//! and are streamed: each chunk is one page fetched from the database (keyset pagination),
//! so a campaign of any size is exported in bounded memory.

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{Stream, stream};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationDef,
};

use crate::{
    domain::percent::{basis_points, bp_percent},
    http::error::{ApiError, ApiResult},
    models::{cohorts, enrollments, participants, step_days},
    services::{
        boards::scope::{BoardRow, RowKey, Scope, unranked_after},
        progress::{CampaignCtx, km},
    },
};

/// Rows fetched per chunk.
pub const PAGE: u64 = 1000;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Participants,
    Cohorts,
    Steps,
}

impl ExportKind {
    /// The file name offered to the browser.
    pub fn file_name(self, slug: &str) -> String {
        let what = match self {
            Self::Participants => "participants",
            Self::Cohorts => "cohorts",
            Self::Steps => "steps",
        };
        format!("{slug}-{what}.csv")
    }

    fn header(self) -> &'static [&'static str] {
        match self {
            Self::Participants => &[
                "rank",
                "display_name",
                "student_no",
                "cohort_path",
                "status",
                "counted_steps",
                "total_steps",
                "km",
                "stations_reached",
                "days_active",
                "finished_on",
            ],
            Self::Cohorts => &[
                "path",
                "depth",
                "member_count",
                "active_members",
                "participation_percent",
                "counted_steps",
                "total_steps",
                "mean_steps",
                "km",
                "stations_reached",
                "current_station",
                "finished_on",
            ],
            Self::Steps => &[
                "student_no",
                "display_name",
                "cohort_path",
                "date",
                "steps",
                "counted",
                "flagged",
                "voided",
                "void_reason",
                "source",
                "updated_at",
            ],
        }
    }
}

/// Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading
/// apostrophe: display names are typed by participants (CSV injection).
pub fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

fn opt_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// Where a stream stands.
enum Cursor {
    Start,
    Ranked {
        last: Option<RowKey>,
        position: u64,
        prev: Option<(i64, u64)>,
    },
    Unranked {
        after: i32,
    },
    Steps {
        after: i32,
    },
    Done,
}

struct Export {
    db: DatabaseConnection,
    ctx: CampaignCtx,
    kind: ExportKind,
    cursor: Cursor,
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> ApiResult<Bytes> {
    let buf = w.into_inner().map_err(|e| anyhow::anyhow!("csv buffer: {e}"))?;
    Ok(Bytes::from(buf))
}

fn csv_err(e: csv::Error) -> ApiError {
    anyhow::anyhow!("csv: {e}").into()
}

impl Export {
    fn participant_record(&self, rank: Option<u64>, r: &BoardRow) -> Vec<String> {
        vec![
            rank.map(|r| r.to_string()).unwrap_or_default(),
            cell(&r.display_name),
            cell(r.student_no.as_deref().unwrap_or_default()),
            cell(r.cohort_path.as_deref().unwrap_or_default()),
            r.status.as_str().to_owned(),
            r.total_counted.to_string(),
            r.total_steps.to_string(),
            format!("{:.3}", km(r.metres)),
            r.stations_reached.to_string(),
            r.days_active.to_string(),
            opt_date(r.finished_on),
        ]
    }

    /// The next chunk, or `None` at the end.
    async fn next_chunk(&mut self) -> ApiResult<Option<Bytes>> {
        let mut w = writer();
        let cid = self.ctx.campaign.id;
        match std::mem::replace(&mut self.cursor, Cursor::Done) {
            Cursor::Done => return Ok(None),
            Cursor::Start => {
                let mut head = BOM.to_vec();
                let mut hw = writer();
                hw.write_record(self.kind.header()).map_err(csv_err)?;
                head.extend_from_slice(&finish(hw)?);
                self.cursor = match self.kind {
                    ExportKind::Participants => Cursor::Ranked {
                        last: None,
                        position: 0,
                        prev: None,
                    },
                    ExportKind::Cohorts => {
                        self.write_cohorts(&mut head).await?;
                        Cursor::Done
                    }
                    ExportKind::Steps => Cursor::Steps { after: 0 },
                };
                return Ok(Some(Bytes::from(head)));
            }
            Cursor::Ranked {
                last,
                mut position,
                mut prev,
            } => {
                let scope = Scope::total(cid);
                let rows = scope.after(&self.db, last.as_ref(), PAGE).await?;
                for r in &rows {
                    position += 1;
                    // Walking the whole board in order: a new score starts a new rank.
                    let rank = match prev {
                        Some((s, rank)) if s == r.score => rank,
                        _ => position,
                    };
                    prev = Some((r.score, rank));
                    w.write_record(self.participant_record(Some(rank), r))
                        .map_err(csv_err)?;
                }
                self.cursor = if u64::try_from(rows.len()).unwrap_or(0) < PAGE {
                    Cursor::Unranked { after: 0 }
                } else {
                    Cursor::Ranked {
                        last: rows.last().map(RowKey::from),
                        position,
                        prev,
                    }
                };
            }
            Cursor::Unranked { after } => {
                let rows = unranked_after(&self.db, cid, after, PAGE).await?;
                for r in &rows {
                    w.write_record(self.participant_record(None, r)).map_err(csv_err)?;
                }
                if let Some(last) = rows.last()
                    && u64::try_from(rows.len()).unwrap_or(0) == PAGE
                {
                    self.cursor = Cursor::Unranked {
                        after: last.enrollment_id,
                    };
                }
            }
            Cursor::Steps { after } => {
                let rows = step_rows(&self.db, cid, after).await?;
                for r in &rows {
                    w.write_record([
                        cell(r.student_no.as_deref().unwrap_or_default()),
                        cell(&r.display_name),
                        cell(r.cohort_path.as_deref().unwrap_or_default()),
                        r.day.to_string(),
                        r.steps.to_string(),
                        r.counted.to_string(),
                        r.flagged.to_string(),
                        r.voided.to_string(),
                        cell(r.void_reason.as_deref().unwrap_or_default()),
                        r.source.as_str().to_owned(),
                        r.updated_at.to_rfc3339(),
                    ])
                    .map_err(csv_err)?;
                }
                if let Some(last) = rows.last()
                    && u64::try_from(rows.len()).unwrap_or(0) == PAGE
                {
                    self.cursor = Cursor::Steps { after: last.id };
                }
            }
        }
        finish(w).map(Some)
    }

    async fn write_cohorts(&self, out: &mut Vec<u8>) -> ApiResult<()> {
        let all = cohorts::Model::all_of(&self.db, self.ctx.campaign.id).await?;
        let mut sorted: Vec<&cohorts::Model> = all.iter().collect();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        let mut w = writer();
        for c in sorted {
            let members = i64::from(c.member_count);
            let pos = self.ctx.position_view(c.metres, c.stations_reached, c.finished_on);
            w.write_record([
                cell(&c.path),
                c.depth.to_string(),
                c.member_count.to_string(),
                c.active_members.to_string(),
                format!("{:.2}", bp_percent(basis_points(i64::from(c.active_members), members))),
                c.total_counted.to_string(),
                c.total_steps.to_string(),
                c.total_counted.checked_div(members).unwrap_or(0).to_string(),
                format!("{:.3}", km(c.metres)),
                c.stations_reached.to_string(),
                pos.current_station.map(|s| s.name).unwrap_or_default(),
                opt_date(c.finished_on),
            ])
            .map_err(csv_err)?;
        }
        out.extend_from_slice(&finish(w)?);
        Ok(())
    }
}

/// A step day with who it belongs to.
#[derive(Debug, Clone, FromQueryResult)]
struct StepRow {
    id: i32,
    day: NaiveDate,
    steps: i64,
    counted: i64,
    flagged: bool,
    voided: bool,
    void_reason: Option<String>,
    source: String,
    updated_at: DateTime<Utc>,
    display_name: String,
    student_no: Option<String>,
    cohort_path: Option<String>,
}

async fn step_rows(db: &DatabaseConnection, campaign_id: i32, after: i32) -> ApiResult<Vec<StepRow>> {
    let to_enrollment: RelationDef = step_days::Entity::belongs_to(enrollments::Entity)
        .from(step_days::Column::EnrollmentId)
        .to(enrollments::Column::Id)
        .into();
    let to_participant: RelationDef = step_days::Entity::belongs_to(participants::Entity)
        .from(step_days::Column::ParticipantId)
        .to(participants::Column::Id)
        .into();
    let to_cohort: RelationDef = enrollments::Entity::belongs_to(cohorts::Entity)
        .from(enrollments::Column::CohortId)
        .to(cohorts::Column::Id)
        .into();
    Ok(step_days::Entity::find()
        .filter(step_days::Column::CampaignId.eq(campaign_id))
        .filter(step_days::Column::Id.gt(after))
        .select_only()
        .column(step_days::Column::Id)
        .column(step_days::Column::Day)
        .column(step_days::Column::Steps)
        .column(step_days::Column::Counted)
        .column(step_days::Column::Flagged)
        .column(step_days::Column::Voided)
        .column(step_days::Column::VoidReason)
        .column(step_days::Column::Source)
        .column(step_days::Column::UpdatedAt)
        .column_as(participants::Column::DisplayName, "display_name")
        .column_as(participants::Column::StudentNo, "student_no")
        .column_as(cohorts::Column::Path, "cohort_path")
        .join(JoinType::InnerJoin, to_enrollment)
        .join(JoinType::InnerJoin, to_participant)
        .join(JoinType::LeftJoin, to_cohort)
        .order_by_asc(step_days::Column::Id)
        .limit(PAGE)
        .into_model::<StepRow>()
        .all(db)
        .await?)
}

/// The CSV of a campaign as a stream of chunks: the BOM and header first, then one chunk
/// per page. A database failure mid-way ends the stream with an error (the client sees a
/// truncated download; the cause is logged).
pub fn csv_stream(
    db: DatabaseConnection,
    ctx: CampaignCtx,
    kind: ExportKind,
) -> impl Stream<Item = Result<Bytes, ApiError>> + 'static {
    let export = Export {
        db,
        ctx,
        kind,
        cursor: Cursor::Start,
    };
    stream::try_unfold(export, |mut export| async move {
        match export.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, export))),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::error!(error = %e, campaign = %export.ctx.campaign.slug, "export failed mid-stream");
                Err(e)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formula_like_cells_are_defused() {
        assert_eq!(cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(cell("@cmd"), "'@cmd");
        assert_eq!(cell("张三, \"小三\""), "张三, \"小三\"");
        assert_eq!(cell(""), "");
    }
}
