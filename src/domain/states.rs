//! The named states the game stores as text: a campaign's status, an enrollment's, where a
//! day's steps came from, whose unlock a row is. Each is an enum in Rust and its stable name in the database
//! and the API (the sea-orm `string_value`); a name that is none of them fails where it is
//! read instead of travelling on as a string.

use sea_orm::entity::prelude::{DeriveActiveEnum, EnumIter, StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being set up: only organisers see it, nobody can join or upload.
    #[sea_orm(string_value = "draft")]
    Draft,
    /// Open: participants join and upload.
    #[sea_orm(string_value = "active")]
    Active,
    /// Over: boards, exports and certificates stay; nothing changes any more.
    #[sea_orm(string_value = "closed")]
    Closed,
}

impl CampaignStatus {
    /// The stable name (database, API, audit log).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Closed => "closed",
        }
    }
}

impl std::fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a participant takes part in a campaign: ranked and uploading, or suspended by an
/// organiser (with a reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "suspended")]
    Suspended,
}

impl EnrollmentStatus {
    /// The stable name (database, API, exports).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

impl std::fmt::Display for EnrollmentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose unlock a station is: a participant's own, or a cohort's (in the cohort modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    #[sea_orm(string_value = "participant")]
    Participant,
    #[sea_orm(string_value = "cohort")]
    Cohort,
}

impl Subject {
    /// The stable name (database, API).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Participant => "participant",
            Self::Cohort => "cohort",
        }
    }
}

/// Where a day's steps came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, ToSchema)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum StepSource {
    /// WeChat Sport, decrypted from the mini-program's payload.
    #[sea_orm(string_value = "werun")]
    Werun,
    /// Typed in by the participant.
    #[sea_orm(string_value = "manual")]
    Manual,
    /// An organiser's CSV import, or `longmarch simulate`.
    #[sea_orm(string_value = "import")]
    Import,
}

impl StepSource {
    /// Every source, in the order campaigns list them by default.
    pub const ALL: [Self; 3] = [Self::Werun, Self::Manual, Self::Import];

    /// The stable name (database, API, a campaign's `step_sources`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Werun => "werun",
            Self::Manual => "manual",
            Self::Import => "import",
        }
    }

    /// The source of this name.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for StepSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::*;

    #[test]
    fn each_status_has_one_name_in_the_database_the_api_and_the_code() {
        for status in CampaignStatus::iter() {
            let name = status.as_str();
            assert_eq!(status.to_value(), name);
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::json!(name)));
            assert_eq!(CampaignStatus::try_from_value(&name.to_owned()).ok(), Some(status));
        }
        assert!(CampaignStatus::try_from_value(&"open".to_owned()).is_err());
    }

    #[test]
    fn each_subject_has_one_name_in_the_database_the_api_and_the_code() {
        for subject in Subject::iter() {
            let name = subject.as_str();
            assert_eq!(subject.to_value(), name);
            assert_eq!(serde_json::to_value(subject).ok(), Some(serde_json::json!(name)));
            assert_eq!(Subject::try_from_value(&name.to_owned()).ok(), Some(subject));
        }
        assert!(Subject::try_from_value(&"class".to_owned()).is_err());
    }

    #[test]
    fn each_source_has_one_name_in_the_database_the_api_and_the_code() {
        assert_eq!(StepSource::iter().count(), StepSource::ALL.len());
        for source in StepSource::iter() {
            let name = source.as_str();
            assert_eq!(source.to_value(), name);
            assert_eq!(serde_json::to_value(source).ok(), Some(serde_json::json!(name)));
            assert_eq!(StepSource::try_from_value(&name.to_owned()).ok(), Some(source));
            assert_eq!(StepSource::named(name), Some(source));
        }
        assert_eq!(StepSource::named("fitbit"), None);
    }
}
