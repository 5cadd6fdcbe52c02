//! Cohort trees and rosters of a campaign: create, rename, delete, and CSV imports.

use std::{collections::HashMap, fmt::Display};

use bytes::Bytes;
use chrono::Utc;
use futures_util::Stream;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    domain::names::JoinCode,
    http::error::{ApiError, ApiResult},
    models::{campaigns, cohorts, enrollments, roster_entries, unlocks},
    services::{
        admin::{
            access, audit,
            csv_lines::{CsvFile, CsvLines, LineErrors, columns},
        },
        campaigns::cache::CampaignCache,
        identity::{Organiser, parse_display_name, parse_student_no},
        progress::Subject,
    },
};

/// A cohort as organisers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CohortAdminView {
    pub id: i32,
    pub parent_id: Option<i32>,
    pub name: String,
    pub path: String,
    pub depth: i32,
    pub join_code: String,
    /// Enrolled members in the whole subtree.
    pub member_count: i32,
    pub total_counted: i64,
    pub metres: i64,
}

impl From<cohorts::Model> for CohortAdminView {
    fn from(c: cohorts::Model) -> Self {
        Self {
            id: c.id,
            parent_id: c.parent_id,
            name: c.name,
            path: c.path,
            depth: c.depth,
            join_code: c.join_code,
            member_count: c.member_count,
            total_counted: c.total_counted,
            metres: c.metres,
        }
    }
}

/// Every cohort of a campaign, parents before children.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohortList {
    pub items: Vec<CohortAdminView>,
    pub total: u64,
}

/// `POST /admin/campaigns/{slug}/cohorts`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CohortCreate {
    pub name: String,
    pub parent_id: Option<i32>,
    /// Generated (6 characters, no look-alikes) when absent.
    pub join_code: Option<String>,
}

/// `PATCH /admin/campaigns/{slug}/cohorts/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CohortPatch {
    pub name: Option<String>,
    pub join_code: Option<String>,
}

/// Validates a cohort name: 1–64 characters, no `/` (the path separator), no control characters.
///
/// # Errors
/// 422 naming `name`.
pub fn parse_cohort_name(raw: &str) -> ApiResult<String> {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > 64 || n.contains('/') || n.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1–64 characters without `/` or control characters",
        ));
    }
    Ok(n.to_owned())
}

/// A join code as an organiser typed it, normalised (see `domain::names::JoinCode`).
///
/// # Errors
/// 422 naming `join_code`.
pub fn parse_join_code(raw: &str) -> ApiResult<String> {
    JoinCode::parse(raw)
        .map(JoinCode::into_string)
        .ok_or_else(|| ApiError::invalid_field("join_code", JoinCode::RULE))
}

async fn code_taken(db: &impl ConnectionTrait, campaign_id: i32, code: &str, except: Option<i32>) -> ApiResult<bool> {
    Ok(cohorts::Model::find_by_code(db, campaign_id, code)
        .await?
        .is_some_and(|c| Some(c.id) != except))
}

fn code_conflict(code: &str) -> ApiError {
    ApiError::conflict(
        "join_code_taken",
        format!("Another cohort of this campaign already uses the join code `{code}`."),
    )
}

async fn find_cohort(db: &impl ConnectionTrait, campaign: &campaigns::Model, id: i32) -> ApiResult<cohorts::Model> {
    cohorts::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|c| c.campaign_id == campaign.id)
        .ok_or_else(|| ApiError::not_found("cohort_not_found", format!("No cohort {id} in this campaign.")))
}

/// Lists a campaign's cohorts.
///
/// # Errors
/// 404 `campaign_not_found`.
pub async fn list(db: &impl ConnectionTrait, who: &Organiser, slug: &str) -> ApiResult<CohortList> {
    let c = access::require_campaign_access(db, who, slug).await?;
    let items: Vec<CohortAdminView> = cohorts::Model::all_of(db, c.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(CohortList {
        total: items.len() as u64,
        items,
    })
}

/// Creates a cohort under an optional parent.
///
/// # Errors
/// 404 `campaign_not_found` / `cohort_not_found` (parent); 409 `join_code_taken`,
/// `cohort_exists`, `parent_has_members`; 422 per field.
#[tracing::instrument(skip(db, cache, body), fields(organiser = who.id, campaign = %slug))]
pub async fn create(
    db: &DatabaseConnection,
    cache: &CampaignCache,
    who: &Organiser,
    slug: &str,
    body: CohortCreate,
) -> ApiResult<CohortAdminView> {
    let name = parse_cohort_name(&body.name)?;
    let code = body.join_code.as_deref().map(parse_join_code).transpose()?;
    let txn = crate::db::begin_write(db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    let parent = match body.parent_id {
        Some(id) => Some(find_cohort(&txn, &campaign, id).await?),
        None => None,
    };
    if let Some(p) = &parent
        && has_members(&txn, p.id).await?
    {
        return Err(ApiError::conflict(
            "parent_has_members",
            format!(
                "`{}` has enrolled members; only a cohort without members can hold other cohorts.",
                p.path
            ),
        ));
    }
    let path = parent
        .as_ref()
        .map_or_else(|| name.clone(), |p| format!("{}/{name}", p.path));
    if cohorts::Model::find_by_path(&txn, campaign.id, &path).await?.is_some() {
        return Err(ApiError::conflict(
            "cohort_exists",
            format!("A cohort `{path}` already exists."),
        ));
    }
    if let Some(code) = &code
        && code_taken(&txn, campaign.id, code, None).await?
    {
        return Err(code_conflict(code));
    }
    let created = cohorts::Model::create(&txn, campaign.id, parent.as_ref(), &name, code.as_deref()).await?;
    audit::record(
        &txn,
        Some(campaign.id),
        who,
        "cohort.create",
        &format!("cohort:{}", created.id),
        json!({ "after": { "path": created.path, "join_code": created.join_code } }),
    )
    .await?;
    txn.commit().await?;
    cache.forget_all();
    Ok(created.into())
}

async fn has_members(db: &impl ConnectionTrait, cohort_id: i32) -> ApiResult<bool> {
    Ok(enrollments::Entity::find()
        .filter(enrollments::Column::CohortId.eq(cohort_id))
        .count(db)
        .await?
        > 0)
}

/// Renames a cohort (its subtree's paths follow) or changes its join code.
///
/// # Errors
/// 404 `campaign_not_found` / `cohort_not_found`; 409 `join_code_taken`, `cohort_exists`; 422 per field.
#[tracing::instrument(skip(db, cache, patch), fields(organiser = who.id, campaign = %slug))]
pub async fn update(
    db: &DatabaseConnection,
    cache: &CampaignCache,
    who: &Organiser,
    slug: &str,
    id: i32,
    patch: CohortPatch,
) -> ApiResult<CohortAdminView> {
    let name = patch.name.as_deref().map(parse_cohort_name).transpose()?;
    let code = patch.join_code.as_deref().map(parse_join_code).transpose()?;
    let txn = crate::db::begin_write(db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    let before = find_cohort(&txn, &campaign, id).await?;
    let mut a = before.clone().into_active_model();
    if let Some(code) = &code
        && *code != before.join_code
    {
        if code_taken(&txn, campaign.id, code, Some(id)).await? {
            return Err(code_conflict(code));
        }
        a.join_code = Set(code.clone());
    }
    if let Some(name) = &name
        && *name != before.name
    {
        let new_path = match before.path.rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/{name}"),
            None => name.clone(),
        };
        if cohorts::Model::find_by_path(&txn, campaign.id, &new_path)
            .await?
            .is_some()
        {
            return Err(ApiError::conflict(
                "cohort_exists",
                format!("A cohort `{new_path}` already exists."),
            ));
        }
        let old_prefix = format!("{}/", before.path);
        let below: Vec<cohorts::Model> = cohorts::Model::all_of(&txn, campaign.id)
            .await?
            .into_iter()
            .filter(|d| d.path.starts_with(&old_prefix))
            .collect();
        // Members' board rows show the name and path: stamp them, enrollments before
        // cohorts as uploads lock them.
        enrollments::touch_cohorts(&txn, below.iter().map(|d| d.id).chain([id]).collect()).await?;
        for d in below {
            if let Some(rest) = d.path.strip_prefix(&old_prefix) {
                let path = format!("{new_path}/{rest}");
                let mut da = d.into_active_model();
                da.path = Set(path);
                da.update(&txn).await?;
            }
        }
        a.name = Set(name.clone());
        a.path = Set(new_path);
    }
    let after = if a.is_changed() {
        a.update(&txn).await?
    } else {
        before.clone()
    };
    if after != before {
        audit::record(
            &txn,
            Some(campaign.id),
            who,
            "cohort.update",
            &format!("cohort:{id}"),
            json!({
                "before": { "path": before.path, "join_code": before.join_code },
                "after": { "path": after.path, "join_code": after.join_code },
            }),
        )
        .await?;
    }
    txn.commit().await?;
    cache.forget_all();
    Ok(after.into())
}

/// Deletes an empty cohort (no members, no child cohorts).
///
/// # Errors
/// 404 `campaign_not_found` / `cohort_not_found`; 409 `cohort_not_empty`.
#[tracing::instrument(skip(db, cache), fields(organiser = who.id, campaign = %slug))]
pub async fn delete(
    db: &DatabaseConnection,
    cache: &CampaignCache,
    who: &Organiser,
    slug: &str,
    id: i32,
) -> ApiResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    let cohort = find_cohort(&txn, &campaign, id).await?;
    if cohort.has_children(&txn).await? || has_members(&txn, id).await? {
        return Err(ApiError::conflict(
            "cohort_not_empty",
            format!("`{}` still has members or cohorts under it.", cohort.path),
        ));
    }
    unlocks::Entity::delete_many()
        .filter(unlocks::Column::CampaignId.eq(campaign.id))
        .filter(unlocks::Column::SubjectKind.eq(Subject::Cohort))
        .filter(unlocks::Column::SubjectId.eq(id))
        .exec(&txn)
        .await?;
    cohorts::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        Some(campaign.id),
        who,
        "cohort.delete",
        &format!("cohort:{id}"),
        json!({ "before": { "path": cohort.path, "join_code": cohort.join_code } }),
    )
    .await?;
    txn.commit().await?;
    cache.forget_all();
    Ok(())
}

/// What a cohort import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohortImportReport {
    /// Data lines read (header and blank lines excluded).
    pub lines: usize,
    pub created: usize,
    pub unchanged: usize,
}

/// A cohort path `a/b/c` from an import line: its trimmed names, or `None` when any name is
/// not a valid cohort name.
pub fn split_path(path: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = path.split('/').map(|p| p.trim().to_owned()).collect();
    parts.iter().all(|p| parse_cohort_name(p).is_ok()).then_some(parts)
}

/// Imports a cohort tree from CSV `path,join_code` (`计算机学院/软件2301,CS2301`); missing
/// parents are created with generated codes, existing cohorts are left alone, so the import
/// is idempotent. All or nothing: any bad line rejects the whole file. A `dry_run` judges
/// every line the same way and answers the same, but stores nothing.
///
/// # Errors
/// 404 `campaign_not_found`; 422 `csv_header` / `csv_empty` / `csv_invalid` (lines with
/// `invalid_path`, `invalid_join_code`, `join_code_taken`, `join_code_mismatch`,
/// `wrong_columns`, …); 413 `body_too_large`.
#[tracing::instrument(skip(db, cache, file), fields(organiser = who.id, campaign = %slug))]
pub async fn import_tree<S, E>(
    db: &DatabaseConnection,
    cache: &CampaignCache,
    who: &Organiser,
    slug: &str,
    file: CsvFile<S>,
) -> ApiResult<CohortImportReport>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    // Scope first, so a stranger learns nothing from how the file is judged.
    access::require_campaign_access(db, who, slug).await?;
    let mut reader = CsvLines::new(file.body, file.limit);
    reader.expect_header(&["path", "join_code"]).await?;
    let txn = crate::db::begin_write(db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    let mut by_path: HashMap<String, cohorts::Model> = cohorts::Model::all_of(&txn, campaign.id)
        .await?
        .into_iter()
        .map(|c| (c.path.clone(), c))
        .collect();
    let mut errors = LineErrors::default();
    let mut report = CohortImportReport {
        lines: 0,
        created: 0,
        unchanged: 0,
    };
    while let Some((no, rec)) = reader.next_record().await? {
        report.lines += 1;
        let fields = match rec.and_then(|f| columns(no, f, 2)) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let Some(parts) = split_path(&fields[0]) else {
            errors.add(
                no,
                "invalid_path",
                "the path must be names of 1–64 characters separated by `/`",
            );
            continue;
        };
        let code = if fields[1].is_empty() {
            None
        } else {
            match parse_join_code(&fields[1]) {
                Ok(c) => Some(c),
                Err(_) => {
                    errors.add(no, "invalid_join_code", "use 3–16 letters, digits or hyphens");
                    continue;
                }
            }
        };
        let full = parts.join("/");
        if let Some(existing) = by_path.get(&full) {
            match &code {
                Some(c) if *c != existing.join_code => errors.add(
                    no,
                    "join_code_mismatch",
                    format!("`{full}` already exists with the join code `{}`", existing.join_code),
                ),
                _ => report.unchanged += 1,
            }
            continue;
        }
        if let Some(c) = &code
            && code_taken(&txn, campaign.id, c, None).await?
        {
            errors.add(no, "join_code_taken", format!("the join code `{c}` is already used"));
            continue;
        }
        if !errors.is_empty() {
            // The file is rejected anyway; keep validating lines without writing more.
            continue;
        }
        let mut parent: Option<cohorts::Model> = None;
        for depth in 0..parts.len() {
            let path = parts[..=depth].join("/");
            let node = match by_path.get(&path) {
                Some(n) => n.clone(),
                None => {
                    if let Some(p) = &parent
                        && has_members(&txn, p.id).await?
                    {
                        errors.add(
                            no,
                            "parent_has_members",
                            format!("`{}` has members and can't hold other cohorts", p.path),
                        );
                        break;
                    }
                    let leaf = depth + 1 == parts.len();
                    let code = if leaf { code.as_deref() } else { None };
                    let n = cohorts::Model::create(&txn, campaign.id, parent.as_ref(), &parts[depth], code).await?;
                    report.created += 1;
                    by_path.insert(path, n.clone());
                    n
                }
            };
            parent = Some(node);
        }
    }
    errors.into_result()?;
    if file.dry_run {
        txn.rollback().await?;
        return Ok(report);
    }
    if report.created > 0 {
        audit::record(
            &txn,
            Some(campaign.id),
            who,
            "cohort.import",
            &format!("campaign:{slug}"),
            json!({ "lines": report.lines, "created": report.created, "unchanged": report.unchanged }),
        )
        .await?;
    }
    txn.commit().await?;
    cache.forget_all();
    Ok(report)
}

/// What a roster import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterImportReport {
    pub lines: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Imports a roster from CSV `student_no,display_name,cohort_path`: a participant who later
/// joins with a rostered student number (and no join code) lands in that cohort. Entries are
/// upserted by student number. All or nothing: any bad line rejects the whole file. A
/// `dry_run` judges every line the same way and answers the same, but stores nothing.
///
/// # Errors
/// 404 `campaign_not_found`; 422 `csv_header` / `csv_empty` / `csv_invalid` (lines with
/// `unknown_cohort`, `cohort_not_leaf`, `invalid_student_no`, `invalid_display_name`,
/// `duplicate_student_no`, `wrong_columns`, …); 413 `body_too_large`.
#[tracing::instrument(skip(db, file), fields(organiser = who.id, campaign = %slug))]
pub async fn import_roster<S, E>(
    db: &DatabaseConnection,
    who: &Organiser,
    slug: &str,
    file: CsvFile<S>,
) -> ApiResult<RosterImportReport>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    // Scope first, so a stranger learns nothing from how the file is judged.
    access::require_campaign_access(db, who, slug).await?;
    let mut reader = CsvLines::new(file.body, file.limit);
    reader
        .expect_header(&["student_no", "display_name", "cohort_path"])
        .await?;
    let txn = crate::db::begin_write(db).await?;
    let campaign = access::require_campaign_access(&txn, who, slug).await?;
    let all = cohorts::Model::all_of(&txn, campaign.id).await?;
    let parents: std::collections::HashSet<i32> = all.iter().filter_map(|c| c.parent_id).collect();
    let by_path: HashMap<String, (i32, bool)> = all
        .iter()
        .map(|c| (c.path.clone(), (c.id, !parents.contains(&c.id))))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut errors = LineErrors::default();
    let mut report = RosterImportReport {
        lines: 0,
        created: 0,
        updated: 0,
        unchanged: 0,
    };
    let now = Utc::now();
    while let Some((no, rec)) = reader.next_record().await? {
        report.lines += 1;
        let fields = match rec.and_then(|f| columns(no, f, 3)) {
            Ok(f) => f,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let student_no = match parse_student_no(&fields[0]) {
            Ok(Some(s)) => s,
            _ => {
                errors.add(
                    no,
                    "invalid_student_no",
                    "the student number must be 1–32 letters, digits or hyphens",
                );
                continue;
            }
        };
        let Ok(display_name) = parse_display_name(&fields[1]) else {
            errors.add(no, "invalid_display_name", "the name must be 1–32 characters");
            continue;
        };
        let path = fields[2].split('/').map(str::trim).collect::<Vec<_>>().join("/");
        let Some(&(cohort_id, leaf)) = by_path.get(&path) else {
            errors.add(
                no,
                "unknown_cohort",
                format!("no cohort `{path}` exists in this campaign"),
            );
            continue;
        };
        if !leaf {
            errors.add(
                no,
                "cohort_not_leaf",
                format!("`{path}` contains other cohorts; roster students into a class"),
            );
            continue;
        }
        if let Some(first) = seen.insert(student_no.clone(), no) {
            errors.add(
                no,
                "duplicate_student_no",
                format!("student number {student_no} already appears on line {first}"),
            );
            continue;
        }
        if !errors.is_empty() {
            continue;
        }
        let existing = roster_entries::Entity::find()
            .filter(roster_entries::Column::CampaignId.eq(campaign.id))
            .filter(roster_entries::Column::StudentNo.eq(student_no.as_str()))
            .one(&txn)
            .await?;
        match existing {
            Some(e) if e.display_name == display_name && e.cohort_id == cohort_id => report.unchanged += 1,
            Some(e) => {
                let mut a = e.into_active_model();
                a.display_name = Set(display_name);
                a.cohort_id = Set(cohort_id);
                a.update(&txn).await?;
                report.updated += 1;
            }
            None => {
                roster_entries::ActiveModel {
                    campaign_id: Set(campaign.id),
                    student_no: Set(student_no),
                    display_name: Set(display_name),
                    cohort_id: Set(cohort_id),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
                report.created += 1;
            }
        }
    }
    errors.into_result()?;
    if file.dry_run {
        txn.rollback().await?;
        return Ok(report);
    }
    if report.created + report.updated > 0 {
        audit::record(
            &txn,
            Some(campaign.id),
            who,
            "roster.import",
            &format!("campaign:{slug}"),
            json!({ "lines": report.lines, "created": report.created, "updated": report.updated }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(report)
}
