//! Where a subject stands on the route, and when it reached each station.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use sea_orm::sea_query::SimpleExpr;

use super::step_day::DayDelta;

/// A station's place on the route.
///
/// Routes pass stations sorted by `seq` with strictly increasing `metres`; station 1 may be at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StationMark {
    /// 1-based order on the route.
    pub seq: i32,
    /// Distance from the start.
    pub metres: i64,
}

/// A subject's position on the route.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// Index (into the station slice) of the last station with `metres <= m`.
    pub current: Option<usize>,
    /// Index of the first station with `metres > m`; `None` once the route is finished.
    pub next: Option<usize>,
    /// Metres still to walk to `next`.
    pub metres_to_next: Option<i64>,
    /// Share of the route walked, 0–100, rounded to 2 decimals.
    pub percent: f64,
    /// Number of stations with `metres <= m`.
    pub stations_reached: usize,
    /// Whether the last station is reached.
    pub finished: bool,
}

/// Position of a subject that has walked `metres` along `stations` (sorted by metres).
///
/// `percent` is `min(100, metres / last station's metres × 100)`, rounded half-up to 2 decimals
/// in integer arithmetic (so 1/3 gives exactly `33.33`). A route of length 0 is 100 % done as
/// soon as its station is reached; an empty route is 0 % and never finished.
#[must_use]
pub fn position(stations: &[StationMark], metres: i64) -> Position {
    let reached = stations.partition_point(|s| s.metres <= metres);
    let next = (reached < stations.len()).then_some(reached);
    let finished = !stations.is_empty() && next.is_none();
    let length = stations.last().map_or(0, |s| s.metres);
    let percent = if length <= 0 {
        if finished { 100.0 } else { 0.0 }
    } else {
        // Hundredths of a percent, rounded half up: (2·m·10⁴ + len) / (2·len).
        let m = i128::from(metres.max(0));
        let len = i128::from(length);
        let hundredths = ((2 * m * 10_000 + len) / (2 * len)).min(10_000);
        // At most 10_000, so the conversion is exact.
        f64::from(u16::try_from(hundredths).unwrap_or(10_000)) / 100.0
    };
    Position {
        current: reached.checked_sub(1),
        next,
        metres_to_next: next.map(|i| stations[i].metres.saturating_sub(metres)),
        percent,
        stations_reached: reached,
        finished,
    }
}

/// For each station reached, `(seq, the earliest local date it was reached)`, sorted by `seq`.
///
/// `days` are `(local date, counted steps)` in any order, possibly several entries per date
/// (they are summed). Dates are walked in order, accumulating counted steps; `to_metres` turns
/// the cumulative total into metres, and a station is reached on the first date on which those
/// metres are `>=` the station's. Negative counts are treated as 0 (counted steps never are).
///
/// This is the rule behind unlocks and `longmarch recompute`, so it depends only on the
/// multiset of days: arrival order and how a day's steps were split cannot change the answer.
/// With no days nothing is reached, not even a station at 0 m: a subject reaches the start on
/// its first recorded day (even a 0-step day).
#[must_use]
pub fn reached_on(
    stations: &[StationMark],
    days: &[(NaiveDate, i64)],
    to_metres: impl Fn(i64) -> i64,
) -> Vec<(i32, NaiveDate)> {
    let mut per_date: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for &(date, steps) in days {
        let total = per_date.entry(date).or_insert(0);
        *total = total.saturating_add(steps.max(0));
    }

    // (date, best metres so far). Taking the running maximum makes the series non-decreasing
    // even for a `to_metres` that is not monotone, so "first date with metres >= x" is a
    // binary search and is exactly the earliest crossing.
    let mut cumulative = 0i64;
    let mut best = i64::MIN;
    let series: Vec<(NaiveDate, i64)> = per_date
        .into_iter()
        .map(|(date, steps)| {
            cumulative = cumulative.saturating_add(steps);
            best = best.max(to_metres(cumulative));
            (date, best)
        })
        .collect();

    let mut reached: Vec<(i32, NaiveDate)> = stations
        .iter()
        .filter_map(|station| {
            let i = series.partition_point(|&(_, m)| m < station.metres);
            series.get(i).map(|&(date, _)| (station.seq, date))
        })
        .collect();
    reached.sort_unstable();
    reached
}

/// Changes that turn the stored unlocks of a subject into the computed ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UnlockDiff {
    /// Stations newly reached: `(seq, reached_on)`.
    pub insert: Vec<(i32, NaiveDate)>,
    /// Stations still reached but on a different date: `(seq, new reached_on)`.
    pub update: Vec<(i32, NaiveDate)>,
    /// Stations no longer reached (e.g. after a correction lowered a day).
    pub delete: Vec<i32>,
}

impl UnlockDiff {
    /// Whether nothing needs to change.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.insert.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    /// The unlocks after applying this diff to `stored`, sorted by `seq`.
    #[must_use]
    pub fn apply_to(&self, stored: &[(i32, NaiveDate)]) -> Vec<(i32, NaiveDate)> {
        let mut map: BTreeMap<i32, NaiveDate> = stored.iter().copied().collect();
        for seq in &self.delete {
            map.remove(seq);
        }
        map.extend(self.update.iter().copied());
        map.extend(self.insert.iter().copied());
        map.into_iter().collect()
    }
}

/// Compare stored unlocks with freshly computed ones (both keyed by station `seq`).
///
/// `insert` and `update` follow the order of `computed`, `delete` the order of `stored`.
#[must_use]
pub fn diff_unlocks(stored: &[(i32, NaiveDate)], computed: &[(i32, NaiveDate)]) -> UnlockDiff {
    let stored_map: HashMap<i32, NaiveDate> = stored.iter().copied().collect();
    let computed_map: HashMap<i32, NaiveDate> = computed.iter().copied().collect();
    let mut diff = UnlockDiff::default();
    for &(seq, date) in computed {
        match stored_map.get(&seq) {
            None => diff.insert.push((seq, date)),
            Some(&old) if old != date => diff.update.push((seq, date)),
            Some(_) => {}
        }
    }
    diff.delete = stored
        .iter()
        .map(|&(seq, _)| seq)
        .filter(|seq| !computed_map.contains_key(seq))
        .collect();
    diff
}

/// True when changes may move the `reached_on` of a station already reached, whose latest
/// is `last_reached_on`: a change on an earlier day, or steps taken away (a voided day) on
/// that very day. Growth on or after that day can only reach further stations, which the
/// callers detect by counting.
pub fn may_shift(changes: &[DayDelta], last_reached_on: Option<NaiveDate>) -> bool {
    last_reached_on.is_some_and(|l| changes.iter().any(|d| d.day < l || (d.day == l && d.counted < 0)))
}

/// [`may_shift`] as SQL against a `last_reached_on` column or value (NULL: nothing reached,
/// so nothing to shift); `None` without changes.
pub fn may_shift_sql(changes: &[DayDelta], last_reached_on: SimpleExpr) -> Option<SimpleExpr> {
    // Imported here only: its methods would shadow integers' `min` and `max` in this file.
    use sea_orm::sea_query::ExprTrait as _;
    let earliest = changes.iter().map(|d| d.day).min()?;
    let lowered: Vec<NaiveDate> = changes.iter().filter(|d| d.counted < 0).map(|d| d.day).collect();
    let earlier = last_reached_on.clone().gt(earliest);
    Some(if lowered.is_empty() {
        earlier
    } else {
        earlier.or(last_reached_on.is_in(lowered))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversion::metres;
    use proptest::prelude::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 10, day).unwrap()
    }

    fn route() -> Vec<StationMark> {
        [(1, 0), (2, 1_000), (3, 2_500), (4, 3_000)]
            .into_iter()
            .map(|(seq, metres)| StationMark { seq, metres })
            .collect()
    }

    #[test]
    fn position_table() {
        let r = route();
        // (metres, current, next, to_next, percent, reached, finished)
        let cases = [
            (0, Some(0), Some(1), Some(1_000), 0.0, 1, false),
            (1, Some(0), Some(1), Some(999), 0.03, 1, false),
            (999, Some(0), Some(1), Some(1), 33.3, 1, false),
            (1_000, Some(1), Some(2), Some(1_500), 33.33, 2, false),
            (2_000, Some(1), Some(2), Some(500), 66.67, 2, false),
            (2_999, Some(2), Some(3), Some(1), 99.97, 3, false),
            (3_000, Some(3), None, None, 100.0, 4, true),
            (9_000, Some(3), None, None, 100.0, 4, true),
        ];
        for (m, current, next, to_next, percent, reached, finished) in cases {
            let p = position(&r, m);
            assert_eq!(
                p,
                Position {
                    current,
                    next,
                    metres_to_next: to_next,
                    percent,
                    stations_reached: reached,
                    finished,
                },
                "at {m} m"
            );
        }
    }

    #[test]
    fn position_when_first_station_is_not_at_zero() {
        let r = [
            StationMark { seq: 1, metres: 500 },
            StationMark { seq: 2, metres: 1_000 },
        ];
        let p = position(&r, 100);
        assert_eq!(p.current, None);
        assert_eq!(p.next, Some(0));
        assert_eq!(p.metres_to_next, Some(400));
        assert_eq!(p.stations_reached, 0);
        assert!((p.percent - 10.0).abs() < f64::EPSILON);
    }

    #[test]
    fn position_on_degenerate_routes() {
        let empty = position(&[], 100);
        assert_eq!(empty.current, None);
        assert_eq!(empty.next, None);
        assert!(!empty.finished);
        assert!(empty.percent.abs() < f64::EPSILON);

        let single = [StationMark { seq: 1, metres: 0 }];
        let p = position(&single, 0);
        assert!(p.finished);
        assert!((p.percent - 100.0).abs() < f64::EPSILON);
        let before = position(&single, -1);
        assert!(!before.finished);
        assert!(before.percent.abs() < f64::EPSILON);
    }

    #[test]
    fn position_percent_rounds_half_up() {
        let r = [StationMark {
            seq: 1,
            metres: 200_000,
        }];
        // 1 / 200000 = 0.0005 % → 0.00; 1 m of 20000 = 0.005 % → 0.01.
        assert!(position(&r, 1).percent.abs() < f64::EPSILON);
        let r = [StationMark { seq: 1, metres: 20_000 }];
        assert!((position(&r, 1).percent - 0.01).abs() < f64::EPSILON);
    }

    #[test]
    fn nothing_is_reached_without_days() {
        assert!(reached_on(&route(), &[], |s| s).is_empty());
    }

    #[test]
    fn a_zero_step_day_reaches_the_start() {
        assert_eq!(reached_on(&route(), &[(d(3), 0)], |s| s), vec![(1, d(3))]);
    }

    #[test]
    fn reached_on_table() {
        let r = route();
        // Identity conversion: 1 counted step = 1 metre.
        let days = [(d(3), 900), (d(1), 500), (d(2), 600), (d(1), 100), (d(4), 2_000)];
        // Cumulative: d1 600, d2 1200, d3 2100, d4 4100.
        assert_eq!(
            reached_on(&r, &days, |s| s),
            vec![(1, d(1)), (2, d(2)), (3, d(4)), (4, d(4))]
        );
        // Same days with a real conversion (1400 steps/km): 4100 steps = 2928 m.
        assert_eq!(
            reached_on(&r, &days, |s| metres(s, 1400)),
            vec![(1, d(1)), (2, d(3)), (3, d(4))]
        );
    }

    #[test]
    fn reached_on_ignores_negative_counts() {
        let r = route();
        let days = [(d(1), 1_000), (d(2), -1_000)];
        assert_eq!(reached_on(&r, &days, |s| s), vec![(1, d(1)), (2, d(1))]);
    }

    #[test]
    fn reached_on_result_is_sorted_by_seq_even_for_unsorted_stations() {
        let mut r = route();
        r.reverse();
        assert_eq!(reached_on(&r, &[(d(1), 1_000)], |s| s), vec![(1, d(1)), (2, d(1))]);
    }

    #[test]
    fn diff_unlocks_table() {
        let stored = [(1, d(1)), (2, d(2)), (3, d(5))];
        let computed = [(1, d(1)), (2, d(3)), (4, d(6))];
        let diff = diff_unlocks(&stored, &computed);
        assert_eq!(
            diff,
            UnlockDiff {
                insert: vec![(4, d(6))],
                update: vec![(2, d(3))],
                delete: vec![3],
            }
        );
        assert_eq!(diff.apply_to(&stored), computed.to_vec());
        assert!(diff_unlocks(&computed, &computed).is_empty());
        assert_eq!(diff_unlocks(&[], &computed).insert, computed.to_vec());
        assert_eq!(diff_unlocks(&stored, &[]).delete, vec![1, 2, 3]);
    }

    /// A route of strictly increasing station metres, the first possibly at 0.
    fn arb_route() -> impl Strategy<Value = Vec<StationMark>> {
        (0i64..2, prop::collection::vec(1i64..5_000, 1..12)).prop_map(|(first, gaps)| {
            let mut metres = if first == 0 { 0 } else { gaps[0] };
            gaps.iter()
                .enumerate()
                .map(|(i, gap)| {
                    if i > 0 {
                        metres += gap;
                    }
                    StationMark {
                        seq: i32::try_from(i + 1).unwrap(),
                        metres,
                    }
                })
                .collect()
        })
    }

    fn arb_days() -> impl Strategy<Value = Vec<(NaiveDate, i64)>> {
        prop::collection::vec((1u32..=28, 0i64..3_000), 0..25)
            .prop_map(|v| v.into_iter().map(|(day, s)| (d(day), s)).collect())
    }

    fn arb_unlocks() -> impl Strategy<Value = Vec<(i32, NaiveDate)>> {
        prop::collection::btree_map(1i32..20, 1u32..=28, 0..12)
            .prop_map(|m| m.into_iter().map(|(seq, day)| (seq, d(day))).collect())
    }

    proptest! {
        #[test]
        fn reached_on_ignores_order(
            route in arb_route(),
            days in arb_days().prop_shuffle(),
            spk in 1i64..3,
        ) {
            let mut sorted = days.clone();
            sorted.sort();
            prop_assert_eq!(
                reached_on(&route, &days, |s| metres(s, spk)),
                reached_on(&route, &sorted, |s| metres(s, spk))
            );
        }

        #[test]
        fn reached_on_ignores_how_a_day_is_split(
            route in arb_route(),
            days in arb_days(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..25),
        ) {
            // Split each day's steps into two parts at an arbitrary point.
            let mut split = Vec::new();
            for (i, &(date, steps)) in days.iter().enumerate() {
                let at = cuts.get(i).map_or(0, |c| {
                    i64::try_from(c.index(usize::try_from(steps).unwrap() + 1)).unwrap()
                });
                split.push((date, at));
                split.push((date, steps - at));
            }
            split.reverse();
            prop_assert_eq!(
                reached_on(&route, &days, |s| s),
                reached_on(&route, &split, |s| s)
            );
        }

        #[test]
        fn reached_on_dates_are_non_decreasing_in_seq(route in arb_route(), days in arb_days()) {
            let reached = reached_on(&route, &days, |s| s);
            for pair in reached.windows(2) {
                prop_assert!(pair[0].0 < pair[1].0);
                prop_assert!(pair[0].1 <= pair[1].1);
            }
        }

        #[test]
        fn reached_iff_total_metres_suffice(route in arb_route(), days in arb_days(), spk in 1i64..3) {
            let reached = reached_on(&route, &days, |s| metres(s, spk));
            let total: i64 = days.iter().map(|&(_, s)| s).sum();
            let m = metres(total, spk);
            for station in &route {
                let is_reached = reached.iter().any(|&(seq, _)| seq == station.seq);
                prop_assert_eq!(is_reached, !days.is_empty() && m >= station.metres);
            }
            // Consistent with position().
            if !days.is_empty() {
                prop_assert_eq!(reached.len(), position(&route, m).stations_reached);
            }
        }

        #[test]
        fn reached_on_date_is_the_first_crossing(route in arb_route(), days in arb_days()) {
            for (seq, date) in reached_on(&route, &days, |s| s) {
                let station = route.iter().find(|s| s.seq == seq).unwrap();
                let upto = |pred: &dyn Fn(NaiveDate) -> bool| -> i64 {
                    days.iter().filter(|&&(dd, _)| pred(dd)).map(|&(_, s)| s).sum()
                };
                prop_assert!(upto(&|dd| dd <= date) >= station.metres);
                prop_assert!(upto(&|dd| dd < date) < station.metres || !days.iter().any(|&(dd, _)| dd < date));
            }
        }

        #[test]
        fn applying_the_diff_yields_computed(stored in arb_unlocks(), computed in arb_unlocks()) {
            let diff = diff_unlocks(&stored, &computed);
            prop_assert_eq!(diff.apply_to(&stored), computed.clone());
            prop_assert_eq!(diff.is_empty(), stored == computed);
        }

        #[test]
        fn position_is_consistent(route in arb_route(), m in -10i64..60_000) {
            let p = position(&route, m);
            prop_assert!((0.0..=100.0).contains(&p.percent));
            prop_assert_eq!(p.finished, p.next.is_none());
            if let Some(c) = p.current {
                prop_assert!(route[c].metres <= m);
            }
            if let Some(n) = p.next {
                prop_assert!(route[n].metres > m);
                prop_assert_eq!(p.metres_to_next, Some(route[n].metres - m));
            }
            prop_assert_eq!(p.stations_reached, route.iter().filter(|s| s.metres <= m).count());
        }
    }
}
