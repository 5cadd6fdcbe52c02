//! What every fuzz target checks of judged days, whatever bytes produced them.

use chrono::NaiveDate;
use longmarch::{domain::days::{DayWindow, MAX_STEPS_PER_DAY}, services::steps::ingest::Judged};

/// A campaign window around a fixed "today", so runs are reproducible.
pub fn window() -> (DayWindow, NaiveDate) {
    let day = |m, d| NaiveDate::from_ymd_opt(2025, m, d).expect("valid date");
    let window = DayWindow {
        starts_on: day(3, 1),
        ends_on: day(4, 30),
        sync_grace_days: 3,
    };
    (window, day(3, 20))
}

/// The rules a judged upload keeps, whatever came in: every good day lies in the window and
/// not after today, with a step count in `0..=MAX_STEPS_PER_DAY`; nothing is invented (at
/// most one good or refused day per entry).
pub fn assert_judged(window: &DayWindow, today: NaiveDate, entries: usize, judged: &Judged) {
    let (good, rejected) = judged;
    for (day, steps) in good {
        assert!(
            *day >= window.starts_on && *day <= window.ends_on,
            "{day} outside the window"
        );
        assert!(*day <= today, "{day} is in the future");
        assert!((0..=MAX_STEPS_PER_DAY).contains(steps), "{steps} steps");
    }
    assert!(good.len() + rejected.len() <= entries, "more days than entries");
    for r in rejected {
        assert!(!r.code.is_empty() && !r.reason.is_empty(), "{r:?}");
    }
}
