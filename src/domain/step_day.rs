//! One participant's step day: the max-merge of an uploaded count into what is stored, and
//! the change a day makes to the participant's series (a [`DayDelta`]), for uploads and for
//! organisers' corrections alike.
//!
//! A day keeps the largest count ever uploaded for it (WeChat reports a day's running total,
//! so a later, smaller report is an older one). Growth of a voided day is stored but counts
//! nothing; a flag, once raised, stays.

use chrono::NaiveDate;

use super::conversion::{counted, effective, is_flagged};

/// A day as stored, as far as the merge needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredDay {
    pub day: NaiveDate,
    pub steps: i64,
    /// Steps counted towards progress (capped), whether or not the day is voided.
    pub counted: i64,
    pub flagged: bool,
    pub voided: bool,
}

impl StoredDay {
    /// Nothing stored for `day`.
    pub const fn none(day: NaiveDate) -> Self {
        Self {
            day,
            steps: 0,
            counted: 0,
            flagged: false,
            voided: false,
        }
    }
}

/// One day's change to a participant's stored steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayDelta {
    pub day: NaiveDate,
    pub counted: i64,
    pub steps: i64,
    /// +1 when the day went from no counted steps to some, -1 for the reverse.
    pub active: i32,
}

/// What an uploaded count does to its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayMerge {
    /// The day as it is after the upload.
    pub after: StoredDay,
    /// The row must be written (a new day, or more steps than stored).
    pub write: bool,
    /// The change to the series; `None` when nothing changed.
    pub delta: Option<DayDelta>,
}

impl DayMerge {
    /// Steps counted for the day after the upload: nothing when voided.
    pub fn effective(&self) -> i64 {
        effective(self.after.counted, self.after.voided)
    }
}

/// The max-merge of `steps` uploaded for a day into what is `stored` for it (`None`: nothing
/// yet), with the campaign's `daily_cap` and `flag_over`. A new day is always written, even
/// with no steps; a stored day only when the upload has more steps, and it keeps its void
/// state and its flag.
pub fn merge(day: NaiveDate, steps: i64, stored: Option<&StoredDay>, daily_cap: i64, flag_over: i64) -> DayMerge {
    let before = match stored {
        None => StoredDay::none(day),
        Some(s) if steps > s.steps => *s,
        Some(s) => {
            return DayMerge {
                after: *s,
                write: false,
                delta: None,
            };
        }
    };
    let after = StoredDay {
        day,
        steps,
        counted: counted(steps, daily_cap),
        flagged: before.flagged || is_flagged(steps, flag_over),
        voided: before.voided,
    };
    let (old, new) = (
        effective(before.counted, before.voided),
        effective(after.counted, after.voided),
    );
    DayMerge {
        after,
        write: true,
        delta: Some(DayDelta {
            day,
            counted: new - old,
            steps: if after.voided { 0 } else { steps - before.steps },
            active: i32::from(old == 0 && new > 0),
        }),
    }
}

/// The change of voiding a stored day (`voided`) or restoring a voided one (`!voided`): the
/// day leaves or rejoins the participant's series whole.
pub fn void_delta(day: &StoredDay, voided: bool) -> DayDelta {
    let sign: i64 = if voided { -1 } else { 1 };
    DayDelta {
        day: day.day,
        counted: sign * day.counted,
        steps: sign * day.steps,
        active: match (day.counted > 0, voided) {
            (false, _) => 0,
            (true, true) => -1,
            (true, false) => 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CAP: i64 = 50_000;
    const FLAG: i64 = 60_000;

    fn d() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, 1).expect("date")
    }

    fn stored(steps: i64, flagged: bool, voided: bool) -> StoredDay {
        StoredDay {
            day: d(),
            steps,
            counted: counted(steps, CAP),
            flagged,
            voided,
        }
    }

    fn delta(counted: i64, steps: i64, active: i32) -> Option<DayDelta> {
        Some(DayDelta {
            day: d(),
            counted,
            steps,
            active,
        })
    }

    #[test]
    fn merge_cases() {
        // (what is stored, uploaded steps, stored after, written, delta)
        let cases = [
            (None, 8_000, stored(8_000, false, false), true, delta(8_000, 8_000, 1)),
            (None, 0, stored(0, false, false), true, delta(0, 0, 0)),
            (None, 70_000, stored(70_000, true, false), true, delta(CAP, 70_000, 1)),
            (
                Some(stored(0, false, false)),
                5_000,
                stored(5_000, false, false),
                true,
                delta(5_000, 5_000, 1),
            ),
            (
                Some(stored(5_000, false, false)),
                9_000,
                stored(9_000, false, false),
                true,
                delta(4_000, 4_000, 0),
            ),
            (
                Some(stored(9_000, false, false)),
                9_000,
                stored(9_000, false, false),
                false,
                None,
            ),
            (
                Some(stored(9_000, false, false)),
                3_000,
                stored(9_000, false, false),
                false,
                None,
            ),
            (
                Some(stored(45_000, false, false)),
                55_000,
                stored(55_000, false, false),
                true,
                delta(5_000, 10_000, 0),
            ),
            (
                Some(stored(65_000, true, false)),
                66_000,
                stored(66_000, true, false),
                true,
                delta(0, 1_000, 0),
            ),
            (
                Some(stored(61_000, true, false)),
                62_000,
                stored(62_000, true, false),
                true,
                delta(0, 1_000, 0),
            ),
            (
                Some(stored(8_000, false, true)),
                12_000,
                stored(12_000, false, true),
                true,
                delta(0, 0, 0),
            ),
            (
                Some(stored(8_000, false, true)),
                70_000,
                stored(70_000, true, true),
                true,
                delta(0, 0, 0),
            ),
        ];
        for (before, steps, after, write, change) in cases {
            let m = merge(d(), steps, before.as_ref(), CAP, FLAG);
            assert_eq!(
                (m.after, m.write, m.delta),
                (after, write, change),
                "{before:?} + {steps}"
            );
        }
    }

    #[test]
    fn voiding_takes_the_day_out_whole_and_restoring_puts_it_back() {
        let day = stored(70_000, true, false);
        assert_eq!(Some(void_delta(&day, true)), delta(-CAP, -70_000, -1));
        assert_eq!(Some(void_delta(&day, false)), delta(CAP, 70_000, 1));
        assert_eq!(Some(void_delta(&stored(0, false, false), true)), delta(0, 0, 0));
    }

    proptest! {
        /// Uploads of one day in any order leave the largest count stored, and their deltas
        /// add up to the day as it ends: counted, steps, and one active day if any counted.
        #[test]
        fn uploads_in_any_order_add_up_to_the_largest(
            counts in prop::collection::vec(0_i64..80_000, 1..8),
            voided in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut order = counts.clone();
            let n = order.len();
            for i in 0..n {
                order.swap(i, (seed as usize).wrapping_add(i * 7) % n);
            }
            for uploads in [&counts, &order] {
                let mut day: Option<StoredDay> = voided.then(|| stored(0, false, true));
                let (mut c, mut s, mut a) = (0, 0, 0);
                for &steps in uploads.iter() {
                    let m = merge(d(), steps, day.as_ref(), CAP, FLAG);
                    if let Some(x) = m.delta {
                        c += x.counted;
                        s += x.steps;
                        a += x.active;
                    }
                    day = Some(m.after);
                }
                let max = *counts.iter().max().expect("one");
                let end = day.expect("stored");
                prop_assert_eq!(end.steps, max);
                prop_assert_eq!(end.flagged, max >= FLAG);
                prop_assert_eq!(c, effective(counted(max, CAP), voided));
                prop_assert_eq!(s, if voided { 0 } else { max });
                prop_assert_eq!(a, i32::from(!voided && max > 0));
            }
        }
    }
}
