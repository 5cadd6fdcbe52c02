//! Steps → metres, in integer arithmetic so every instance and every recompute agrees exactly.
//!
//! Where a set-based UPDATE must apply a rule in SQL, the fragment is built here, beside the
//! rule (`…_sql`, sea-query expressions, never run here); `tests/api/sql_rules.rs` runs both
//! on the same cases on SQLite and PostgreSQL.

use std::fmt;
use std::str::FromStr;

// `ExprTrait` is imported inside the `…_sql` functions only: it gives every integer a
// `min` and a `max` of its own.
use sea_orm::sea_query::{CaseStatement, Expr, SimpleExpr, StringLen};

/// Steps that count towards progress for one day: `min(steps, daily_cap)`, never negative.
#[must_use]
pub fn counted(steps: i64, daily_cap: i64) -> i64 {
    steps.min(daily_cap).max(0)
}

/// [`counted`] in SQL, over an expression of steps (a column, for a recount of stored days).
#[must_use]
pub fn counted_sql(steps: impl Into<SimpleExpr>, daily_cap: i64) -> SimpleExpr {
    use sea_orm::sea_query::ExprTrait as _;
    if daily_cap <= 0 {
        return Expr::val(0_i64);
    }
    let steps = steps.into();
    CaseStatement::new()
        .case(steps.clone().gt(daily_cap), Expr::val(daily_cap))
        .case(steps.clone().lt(0_i64), Expr::val(0_i64))
        .finally(steps)
        .into()
}

/// What a stored day counts towards progress: its counted steps, or nothing once an
/// organiser has voided it.
#[must_use]
pub fn effective(counted: i64, voided: bool) -> i64 {
    if voided { 0 } else { counted }
}

/// Whether a day's reported steps are high enough to be shown to organisers for review.
#[must_use]
pub fn is_flagged(steps: i64, flag_over: i64) -> bool {
    steps >= flag_over
}

/// Clamp an `i128` intermediate result back into `i64`.
fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Metres walked for `counted_total` counted steps: `floor(counted_total × 1000 / steps_per_km)`.
///
/// Computed in `i128` so large cohort totals cannot overflow; the result saturates at the
/// `i64` bounds. Returns 0 when `steps_per_km <= 0` (an invalid setting must not divide by 0).
#[must_use]
pub fn metres(counted_total: i64, steps_per_km: i64) -> i64 {
    if steps_per_km <= 0 {
        return 0;
    }
    // div_euclid with a positive divisor is floor division, also for negative totals.
    saturate((i128::from(counted_total) * 1000).div_euclid(i128::from(steps_per_km)))
}

/// [`metres`] in SQL, for totals that are never negative (there SQL's truncating division
/// is the floor).
#[must_use]
pub fn metres_sql(counted_total: SimpleExpr, steps_per_km: i64) -> SimpleExpr {
    use sea_orm::sea_query::ExprTrait as _;
    if steps_per_km <= 0 {
        return Expr::val(0_i64);
    }
    counted_total.mul(1000).div(steps_per_km)
}

/// Mean metres per member for a cohort:
/// `floor(counted_total × 1000 / (steps_per_km × members))`.
///
/// A single floor over the exact quotient, not `metres(counted_total / members, ..)`: averaging
/// the steps first truncates twice and can lose up to `1000 / steps_per_km` metres. Returns 0 when `members <= 0` or
/// `steps_per_km <= 0`.
#[must_use]
pub fn mean_metres(counted_total: i64, members: i64, steps_per_km: i64) -> i64 {
    if members <= 0 || steps_per_km <= 0 {
        return 0;
    }
    let denominator = i128::from(steps_per_km) * i128::from(members);
    saturate((i128::from(counted_total) * 1000).div_euclid(denominator))
}

/// [`mean_metres`] in SQL, for totals and member counts that are never negative.
#[must_use]
pub fn mean_metres_sql(counted_total: SimpleExpr, members: SimpleExpr, steps_per_km: i64) -> SimpleExpr {
    use sea_orm::sea_query::ExprTrait as _;
    if steps_per_km <= 0 {
        return Expr::val(0_i64);
    }
    CaseStatement::new()
        .case(
            members.clone().gt(0_i64),
            counted_total.mul(1000).div(members.mul(steps_per_km)),
        )
        .finally(Expr::val(0_i64))
        .into()
}

/// A cohort's metres in a campaign of `mode`: the whole total in `cohort_total`, else the
/// mean per member.
#[must_use]
pub fn cohort_metres(mode: ProgressMode, counted_total: i64, members: i64, steps_per_km: i64) -> i64 {
    match mode {
        ProgressMode::CohortTotal => metres(counted_total, steps_per_km),
        ProgressMode::CohortMean | ProgressMode::Individual => mean_metres(counted_total, members, steps_per_km),
    }
}

/// [`cohort_metres`] in SQL.
#[must_use]
pub fn cohort_metres_sql(
    mode: ProgressMode,
    counted_total: SimpleExpr,
    members: SimpleExpr,
    steps_per_km: i64,
) -> SimpleExpr {
    match mode {
        ProgressMode::CohortTotal => metres_sql(counted_total, steps_per_km),
        ProgressMode::CohortMean | ProgressMode::Individual => mean_metres_sql(counted_total, members, steps_per_km),
    }
}

/// Whose progress moves along the route (stored as its name, `campaigns.progress_mode`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum ProgressMode {
    /// Each participant walks the route alone.
    #[sea_orm(string_value = "individual")]
    Individual,
    /// A cohort walks with the sum of its members' steps.
    #[sea_orm(string_value = "cohort_total")]
    CohortTotal,
    /// A cohort walks with the mean of its enrolled members' steps.
    #[sea_orm(string_value = "cohort_mean")]
    CohortMean,
}

impl ProgressMode {
    /// The stable name used in the database, configuration and API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::CohortTotal => "cohort_total",
            Self::CohortMean => "cohort_mean",
        }
    }
}

impl fmt::Display for ProgressMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of `individual`, `cohort_total`, `cohort_mean`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown progress mode {0:?}: expected individual, cohort_total or cohort_mean")]
pub struct UnknownProgressMode(pub String);

impl FromStr for ProgressMode {
    type Err = UnknownProgressMode;

    /// Parses the exact lowercase names returned by [`ProgressMode::as_str`].
    ///
    /// # Errors
    ///
    /// [`UnknownProgressMode`] for anything else.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "individual" => Ok(Self::Individual),
            "cohort_total" => Ok(Self::CohortTotal),
            "cohort_mean" => Ok(Self::CohortMean),
            other => Err(UnknownProgressMode(other.to_owned())),
        }
    }
}

/// The planner: the largest integer `steps_per_km` with which a subject finishes a route of
/// `route_metres` in `days` days when every member walks `daily_steps` a day.
///
/// With `S` = the subject's steps over the period:
/// - `Individual`, `CohortMean`: `S = daily_steps × days` (the mean member walks that much);
/// - `CohortTotal`: `S = daily_steps × days × cohort_members`;
///
/// `steps_per_km = floor(S × 1000 / route_metres)`. Rounding down makes a kilometre cheaper,
/// never dearer, so `metres(S, steps_per_km) >= route_metres`: the subject finishes within
/// `days` days.
///
/// `cohort_members` is only used (and only has to be positive) in `CohortTotal` mode.
/// Returns `None` when an input used is `<= 0`, or when the result would be below 1
/// (the route is too long to finish even at one step per kilometre) or overflow `i64`.
#[must_use]
pub fn suggest_steps_per_km(
    route_metres: i64,
    mode: ProgressMode,
    cohort_members: i64,
    daily_steps: i64,
    days: i64,
) -> Option<i64> {
    if route_metres <= 0 || daily_steps <= 0 || days <= 0 {
        return None;
    }
    let members = match mode {
        ProgressMode::Individual | ProgressMode::CohortMean => 1,
        ProgressMode::CohortTotal if cohort_members > 0 => i128::from(cohort_members),
        ProgressMode::CohortTotal => return None,
    };
    // Three i64 factors can overflow even i128; such inputs are nonsense, so None.
    let steps = i128::from(daily_steps)
        .checked_mul(i128::from(days))?
        .checked_mul(members)?
        .checked_mul(1000)?;
    let per_km = steps / i128::from(route_metres);
    if per_km < 1 {
        return None;
    }
    i64::try_from(per_km).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counted_table() {
        let cases = [
            (0, 50_000, 0),
            (12_000, 50_000, 12_000),
            (50_000, 50_000, 50_000),
            (70_000, 50_000, 50_000),
            (-5, 50_000, 0),
            (100, -1, 0),
            (i64::MAX, i64::MAX, i64::MAX),
            (i64::MIN, 10, 0),
        ];
        for (steps, cap, expected) in cases {
            assert_eq!(counted(steps, cap), expected, "counted({steps}, {cap})");
        }
    }

    #[test]
    fn flagged_at_threshold() {
        assert!(!is_flagged(59_999, 60_000));
        assert!(is_flagged(60_000, 60_000));
        assert!(is_flagged(60_001, 60_000));
    }

    #[test]
    fn metres_table() {
        let cases = [
            (0, 1400, 0),
            (1400, 1400, 1000),
            (1399, 1400, 999),
            (1, 1400, 0),
            (2, 1400, 1),
            (10_000, 18, 555_555),
            (230_000, 18, 12_777_777),
            (5, 0, 0),
            (5, -3, 0),
            (-1, 1400, -1),
            (i64::MAX, 1, i64::MAX),
            (i64::MAX, 1000, i64::MAX),
            (i64::MIN, 1, i64::MIN),
        ];
        for (total, spk, expected) in cases {
            assert_eq!(metres(total, spk), expected, "metres({total}, {spk})");
        }
    }

    #[test]
    fn mean_metres_table() {
        let cases = [
            (0, 3, 1400, 0),
            (4200, 3, 1400, 1000),
            (4199, 3, 1400, 999),
            // Averaging the steps first would give metres(5 / 2, 3) = metres(2, 3) = 666.
            (5, 2, 3, 833),
            (100, 0, 1400, 0),
            (100, -2, 1400, 0),
            (100, 2, 0, 0),
            (i64::MAX, 1, 1, i64::MAX),
        ];
        for (total, members, spk, expected) in cases {
            assert_eq!(
                mean_metres(total, members, spk),
                expected,
                "mean_metres({total}, {members}, {spk})"
            );
        }
    }

    #[test]
    fn progress_mode_names_round_trip() {
        for mode in [
            ProgressMode::Individual,
            ProgressMode::CohortTotal,
            ProgressMode::CohortMean,
        ] {
            assert_eq!(mode.as_str().parse::<ProgressMode>(), Ok(mode));
            assert_eq!(mode.to_string(), mode.as_str());
            let json = serde_json::to_string(&mode).unwrap();
            assert_eq!(json, format!("\"{}\"", mode.as_str()));
            assert_eq!(serde_json::from_str::<ProgressMode>(&json).unwrap(), mode);
            // The name the database holds (the entity's `string_value`) is the same one.
            assert_eq!(sea_orm::ActiveEnum::to_value(&mode), mode.as_str());
            assert_eq!(
                <ProgressMode as sea_orm::ActiveEnum>::try_from_value(&mode.as_str().to_owned()).ok(),
                Some(mode)
            );
        }
        for bad in ["", "Individual", "cohort", "cohort-mean", " individual"] {
            assert_eq!(bad.parse::<ProgressMode>(), Err(UnknownProgressMode(bad.to_owned())));
        }
    }

    #[test]
    fn planner_demo_case_suggests_18() {
        // The built-in route (~12,500 km) walked in 23 days at 10,000 steps a day.
        let spk = suggest_steps_per_km(12_500_000, ProgressMode::Individual, 0, 10_000, 23);
        assert_eq!(spk, Some(18));
        assert!(metres(10_000 * 23, 18) >= 12_500_000);
        assert_eq!(
            suggest_steps_per_km(12_500_000, ProgressMode::CohortMean, 40, 10_000, 23),
            Some(18)
        );
        // A class of 40 walking together needs 40 times the steps per kilometre.
        assert_eq!(
            suggest_steps_per_km(12_500_000, ProgressMode::CohortTotal, 40, 10_000, 23),
            Some(736)
        );
    }

    #[test]
    fn planner_rejects_bad_inputs() {
        use ProgressMode::*;
        let cases = [
            (0, Individual, 1, 10_000, 23),
            (-1, Individual, 1, 10_000, 23),
            (1000, Individual, 1, 0, 23),
            (1000, Individual, 1, 10_000, 0),
            (1000, Individual, 1, -5, 23),
            (1000, CohortTotal, 0, 10_000, 23),
            (1000, CohortTotal, -3, 10_000, 23),
            // Too long to finish even at 1 step/km.
            (12_500_000, Individual, 1, 100, 1),
        ];
        for (route, mode, members, daily, days) in cases {
            assert_eq!(
                suggest_steps_per_km(route, mode, members, daily, days),
                None,
                "{route} {mode} {members} {daily} {days}"
            );
        }
        // Members are irrelevant outside cohort_total.
        assert_eq!(suggest_steps_per_km(1000, Individual, 0, 10, 1), Some(10));
        // Overflowing i64 is None, not a wrapped value.
        assert_eq!(suggest_steps_per_km(1, CohortTotal, i64::MAX, i64::MAX, i64::MAX), None);
    }

    proptest! {
        #[test]
        fn planner_finishes_within_days(
            route in 1i64..50_000_000,
            members in 1i64..5_000,
            daily in 1i64..100_000,
            days in 1i64..400,
        ) {
            for mode in [ProgressMode::Individual, ProgressMode::CohortMean, ProgressMode::CohortTotal] {
                if let Some(spk) = suggest_steps_per_km(route, mode, members, daily, days) {
                    prop_assert!(spk >= 1);
                    let walked = match mode {
                        ProgressMode::Individual => metres(daily * days, spk),
                        ProgressMode::CohortTotal => metres(daily * days * members, spk),
                        ProgressMode::CohortMean => mean_metres(daily * days * members, members, spk),
                    };
                    prop_assert!(walked >= route, "{mode}: {walked} < {route}");
                    // And it is the largest such integer: one more step per km falls short.
                    let total = match mode {
                        ProgressMode::CohortTotal => daily * days * members,
                        _ => daily * days,
                    };
                    prop_assert!(metres(total, spk + 1) < route);
                } else {
                    let total = i128::from(daily) * i128::from(days)
                        * if mode == ProgressMode::CohortTotal { i128::from(members) } else { 1 };
                    prop_assert!(total * 1000 < i128::from(route));
                }
            }
        }

        #[test]
        fn metres_is_monotone_and_floored(total in 0i64..1_000_000_000_000, spk in 1i64..100_000) {
            let m = metres(total, spk);
            prop_assert!(i128::from(m) * i128::from(spk) <= i128::from(total) * 1000);
            prop_assert!((i128::from(m) + 1) * i128::from(spk) > i128::from(total) * 1000);
            prop_assert!(metres(total + 1, spk) >= m);
        }

        #[test]
        fn mean_metres_is_single_floor(total in 0i64..1_000_000_000_000, members in 1i64..10_000, spk in 1i64..100_000) {
            let m = i128::from(mean_metres(total, members, spk));
            let den = i128::from(spk) * i128::from(members);
            prop_assert!(m * den <= i128::from(total) * 1000);
            prop_assert!((m + 1) * den > i128::from(total) * 1000);
            prop_assert!(m >= i128::from(metres(total / members, spk)));
        }

        #[test]
        fn counted_is_within_bounds(steps in any::<i64>(), cap in 0i64..1_000_000) {
            let c = counted(steps, cap);
            prop_assert!((0..=cap).contains(&c));
            prop_assert!(c <= steps.max(0));
        }
    }
}
