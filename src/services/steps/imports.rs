//! Step import from CSV `student_no,date,steps` (source `import`, e.g. another pedometer).
//!
//! Policy — **all or nothing per file for malformed input, rules per line**: the body is
//! streamed and every line checked first (column count, a student number enrolled in the
//! campaign, a `YYYY-MM-DD` date, an integer step count). If any line is malformed the file
//! is refused with 422 `csv_invalid` listing the lines, and nothing is stored. A well-formed
//! file is then stored in one transaction through the same rules as the API (`judge_days`
//! then `store::store_all_in`: max-merge, caps, flags, windows, unlocks); days those rules refuse
//! (outside the window, in the future, absurd counts) or that belong to a suspended
//! participant are reported per line in `rejected`, exactly as an upload rejects one bad day
//! and keeps the others.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Display,
};

use bytes::Bytes;
use futures_util::Stream;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, sea_query::Query};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    domain::{days::parse_local_day, states::StepSource},
    http::error::{ApiError, ApiResult},
    models::{campaigns, enrollments, participants},
    services::{
        admin::{
            access, audit,
            csv_lines::{CsvFile, CsvLines, LineErrors, columns},
        },
        identity::Organiser,
        progress::{CampaignCtx, CohortDates},
        steps::{ingest, store},
    },
};

/// Most rejected lines listed in a report (all are counted).
pub const MAX_LISTED_REJECTIONS: usize = 1000;

/// A line the campaign's rules refused.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedLine {
    pub line: usize,
    pub student_no: String,
    pub date: String,
    pub steps: i64,
    pub code: String,
    pub reason: String,
}

/// What a step import stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepImportReport {
    /// Data lines read.
    pub lines: usize,
    /// Lines taken into account (merged by max with what was stored).
    pub accepted: usize,
    /// Lines refused by the campaign's rules.
    pub rejected_count: usize,
    /// The refused lines, at most 1000.
    pub rejected: Vec<RejectedLine>,
    /// Participants whose days were imported.
    pub participants: usize,
    /// Stations newly unlocked by the import.
    pub newly_unlocked: usize,
}

fn reject(report: &mut StepImportReport, r: RejectedLine) {
    report.rejected_count += 1;
    if report.rejected.len() < MAX_LISTED_REJECTIONS {
        report.rejected.push(r);
    }
}

struct Enrolled {
    participant_id: i32,
    suspended: bool,
}

/// Imports step days from a streamed CSV body. A `dry_run` judges every line as the
/// import would (`rejected` included) and stores nothing; `newly_unlocked` is then 0.
///
/// # Errors
/// 404 `campaign_not_found`; 409 `campaign_closed` / `campaign_not_open`; 422
/// `source_not_accepted`, `csv_header`, `csv_empty`, `csv_invalid`; 413 `body_too_large`.
#[tracing::instrument(skip(db, file), fields(organiser = who.id, campaign = %slug))]
pub async fn import_steps<S, E>(
    db: &DatabaseConnection,
    who: &Organiser,
    slug: &str,
    file: CsvFile<S>,
) -> ApiResult<StepImportReport>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    let campaign = access::require_campaign_access(db, who, slug).await?;
    if campaign.status == campaigns::CampaignStatus::Closed {
        return Err(ApiError::conflict(
            "campaign_closed",
            "The campaign is closed; its results are final.",
        ));
    }
    if campaign.status != campaigns::CampaignStatus::Active {
        return Err(ApiError::conflict(
            "campaign_not_open",
            "Activate the campaign before importing steps.",
        ));
    }
    if !campaign.accepts(StepSource::Import) {
        return Err(ApiError::unprocessable(
            "source_not_accepted",
            "This campaign does not accept `import` steps; add it to step_sources first.",
        ));
    }
    let ctx = CampaignCtx::from_model(db, campaign).await?;
    let enrolled = enrolled_by_student_no(db, ctx.campaign.id).await?;

    let mut reader = CsvLines::new(file.body, file.limit);
    reader.expect_header(&["student_no", "date", "steps"]).await?;
    let mut errors = LineErrors::default();
    let mut report = StepImportReport {
        lines: 0,
        accepted: 0,
        rejected_count: 0,
        rejected: Vec::new(),
        participants: 0,
        newly_unlocked: 0,
    };
    let mut good: BTreeMap<i32, BTreeMap<chrono::NaiveDate, i64>> = BTreeMap::new();
    while let Some((no, rec)) = reader.next_record().await? {
        report.lines += 1;
        let fields = match rec.and_then(|f| columns(no, f, 3)) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let (student_no, date_raw, steps_raw) = (&fields[0], &fields[1], &fields[2]);
        let who_line = match enrolled.get(student_no.as_str()) {
            Some(Some(e)) => e,
            Some(None) => {
                errors.add(
                    no,
                    "ambiguous_student_no",
                    format!("several participants of this campaign have student number `{student_no}`"),
                );
                continue;
            }
            None => {
                errors.add(
                    no,
                    "unknown_student",
                    format!("no participant enrolled in this campaign has student number `{student_no}`"),
                );
                continue;
            }
        };
        let Some(date) = parse_local_day(date_raw) else {
            errors.add(no, "invalid_date", format!("`{date_raw}` is not a date YYYY-MM-DD"));
            continue;
        };
        let Ok(steps) = steps_raw.parse::<i64>() else {
            errors.add(
                no,
                "invalid_steps",
                format!("`{steps_raw}` is not a whole number of steps"),
            );
            continue;
        };
        if !errors.is_empty() {
            // The file will be refused; only keep checking the remaining lines.
            continue;
        }
        if who_line.suspended {
            reject(
                &mut report,
                RejectedLine {
                    line: no,
                    student_no: student_no.clone(),
                    date: date_raw.clone(),
                    steps,
                    code: "participant_suspended".to_owned(),
                    reason: "The participant is suspended.".to_owned(),
                },
            );
            continue;
        }
        let (ok, mut refused) = ingest::judge_days(&ctx, std::iter::once((date_raw.clone(), Some(date), steps)));
        if let Some(r) = refused.pop() {
            reject(
                &mut report,
                RejectedLine {
                    line: no,
                    student_no: student_no.clone(),
                    date: r.date,
                    steps,
                    code: r.code,
                    reason: r.reason,
                },
            );
            continue;
        }
        let days = good.entry(who_line.participant_id).or_default();
        for (d, s) in ok {
            let slot = days.entry(d).or_insert(s);
            *slot = (*slot).max(s);
        }
        report.accepted += 1;
    }
    errors.into_result()?;
    report.participants = good.len();
    if file.dry_run {
        // Unlocks depend on what else is stored at the time: a dry run doesn't predict them.
        return Ok(report);
    }

    // Many participants' days in one transaction meet uploads on their cohorts' rows: a
    // transaction aborted to break a lock cycle is run again (nothing of it was stored).
    report.newly_unlocked =
        crate::db::retry::retry_conflicts(|| store_import(db, &ctx, who, slug, &good, &report)).await?;
    Ok(report)
}

/// Stores an import's judged days and its audit entry in one transaction; answers how many
/// stations it unlocked.
async fn store_import(
    db: &DatabaseConnection,
    ctx: &CampaignCtx,
    who: &Organiser,
    slug: &str,
    good: &BTreeMap<i32, BTreeMap<chrono::NaiveDate, i64>>,
    report: &StepImportReport,
) -> ApiResult<usize> {
    let txn = crate::db::begin_write(db).await?;
    // An import's result is whole when it answers: unlock dates included.
    let uploads = good.iter().map(|(participant_id, days)| (*participant_id, days));
    let mut newly_unlocked = 0;
    for outcome in store::store_all_in(&txn, ctx, uploads, StepSource::Import, CohortDates::Now).await? {
        newly_unlocked += outcome.newly.len();
    }
    audit::record(
        &txn,
        Some(ctx.campaign.id),
        who,
        "steps.import",
        &format!("campaign:{slug}"),
        json!({
            "lines": report.lines,
            "accepted": report.accepted,
            "rejected": report.rejected_count,
            "participants": report.participants,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(newly_unlocked)
}

/// Enrolled participants by student number; `None` marks a number shared by several.
async fn enrolled_by_student_no(
    db: &DatabaseConnection,
    campaign_id: i32,
) -> ApiResult<HashMap<String, Option<Enrolled>>> {
    let rows: Vec<(i32, String)> = participants::Entity::find()
        .select_only()
        .column(participants::Column::Id)
        .column(participants::Column::StudentNo)
        .filter(participants::Column::StudentNo.is_not_null())
        .filter(
            participants::Column::Id.in_subquery(
                Query::select()
                    .column(enrollments::Column::ParticipantId)
                    .from(enrollments::Entity)
                    .and_where(enrollments::Column::CampaignId.eq(campaign_id))
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    let suspended: std::collections::HashSet<i32> = enrollments::Entity::find()
        .select_only()
        .column(enrollments::Column::ParticipantId)
        .filter(enrollments::Column::CampaignId.eq(campaign_id))
        .filter(enrollments::Column::Status.eq(enrollments::EnrollmentStatus::Suspended))
        .into_tuple::<i32>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut out: HashMap<String, Option<Enrolled>> = HashMap::with_capacity(rows.len());
    for (id, no) in rows {
        let entry = Enrolled {
            participant_id: id,
            suspended: suspended.contains(&id),
        };
        out.entry(no).and_modify(|e| *e = None).or_insert(Some(entry));
    }
    Ok(out)
}
