//! Local calendar days: which day a step count belongs to, and whether that day counts.
//!
//! All dates are `NaiveDate`s in the campaign's time zone. Nothing here reads the clock:
//! callers pass `now`/`today` in, so every rule is testable with fixed dates.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;

/// Upper bound for a single day's reported steps.
///
/// 200,000 steps is well over 100 km of walking; anything above is a broken device or a
/// forged payload, so it is rejected rather than capped (the cap is a campaign setting).
pub const MAX_STEPS_PER_DAY: i64 = 200_000;

/// Seconds added to a WeRun entry's timestamp before taking its date; see [`werun_day`].
const WERUN_MIDDAY_SHIFT_SECS: i64 = 12 * 60 * 60;

/// The local date of `now` in the campaign zone `tz`.
#[must_use]
pub fn today_in(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The campaign-local date a WeRun entry belongs to.
///
/// WeChat stamps each `stepInfoList` entry with 00:00 of that day in the *device's* time zone,
/// which the server does not know. Shifting by 12 h lands at local noon of the device's day,
/// which falls on the same calendar date in the campaign zone as long as the device zone's
/// offset from the campaign zone is within (-12 h, +12 h] — for a Chinese campaign that
/// covers every device from UTC-3 to UTC+14.
///
/// Returns `None` when the timestamp is outside chrono's representable range.
#[must_use]
pub fn werun_day(timestamp: i64, tz: Tz) -> Option<NaiveDate> {
    let shifted = timestamp.checked_add(WERUN_MIDDAY_SHIFT_SECS)?;
    let utc = DateTime::from_timestamp(shifted, 0)?;
    Some(utc.with_timezone(&tz).date_naive())
}

/// Why a (day, steps) pair was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayRejection {
    /// The day is after today in the campaign zone.
    InFuture,
    /// The day is before the campaign's first day.
    BeforeStart,
    /// The day is after the campaign's last day.
    AfterEnd,
    /// The campaign ended and its grace period for late syncs is over.
    UploadClosed,
    /// A negative step count.
    NegativeSteps,
    /// More than [`MAX_STEPS_PER_DAY`] steps.
    AbsurdSteps,
}

impl DayRejection {
    /// Stable machine-readable code, used in API responses.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::InFuture => "future",
            Self::BeforeStart => "before_start",
            Self::AfterEnd => "after_end",
            Self::UploadClosed => "upload_closed",
            Self::NegativeSteps => "negative_steps",
            Self::AbsurdSteps => "absurd_steps",
        }
    }

    /// Human-readable English explanation.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            Self::InFuture => "This day has not happened yet in the campaign's time zone.",
            Self::BeforeStart => "This day is before the campaign started.",
            Self::AfterEnd => "This day is after the campaign ended.",
            Self::UploadClosed => "The campaign is over and uploads are closed.",
            Self::NegativeSteps => "A step count cannot be negative.",
            Self::AbsurdSteps => "This step count is too high to be real.",
        }
    }
}

impl std::fmt::Display for DayRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for DayRejection {}

/// A campaign's calendar: inclusive first and last day plus the late-sync grace period.
#[derive(Debug, Clone, Copy)]
pub struct DayWindow {
    /// First counting day (inclusive).
    pub starts_on: NaiveDate,
    /// Last counting day (inclusive).
    pub ends_on: NaiveDate,
    /// Days after `ends_on` during which uploads (for in-window days) are still accepted.
    pub sync_grace_days: u32,
}

impl DayWindow {
    /// The last local day on which uploads are accepted: `ends_on + sync_grace_days`.
    ///
    /// Saturates at `NaiveDate::MAX` instead of failing on absurd settings.
    #[must_use]
    pub fn upload_deadline(&self) -> NaiveDate {
        self.ends_on
            .checked_add_days(Days::new(u64::from(self.sync_grace_days)))
            .unwrap_or(NaiveDate::MAX)
    }

    /// Whether uploads are still accepted on local day `today`.
    #[must_use]
    pub fn uploads_open(&self, today: NaiveDate) -> bool {
        today <= self.upload_deadline()
    }

    /// Decide whether steps for `day`, uploaded on local day `today`, count.
    ///
    /// # Errors
    ///
    /// Checked in this order, so a client sees the most fundamental reason first:
    /// [`DayRejection::UploadClosed`] when `today` is past the upload deadline,
    /// [`DayRejection::InFuture`] when `day > today`,
    /// [`DayRejection::BeforeStart`] when `day < starts_on`,
    /// [`DayRejection::AfterEnd`] when `day > ends_on`.
    pub fn judge(&self, day: NaiveDate, today: NaiveDate) -> Result<(), DayRejection> {
        if !self.uploads_open(today) {
            return Err(DayRejection::UploadClosed);
        }
        if day > today {
            return Err(DayRejection::InFuture);
        }
        if day < self.starts_on {
            return Err(DayRejection::BeforeStart);
        }
        if day > self.ends_on {
            return Err(DayRejection::AfterEnd);
        }
        Ok(())
    }

    /// The days that can count as of `today`: `starts_on ..= min(ends_on, today)`, ascending.
    ///
    /// Empty before the campaign starts (or when `ends_on < starts_on`).
    pub fn counting_days(&self, today: NaiveDate) -> impl Iterator<Item = NaiveDate> + use<> {
        let last = self.ends_on.min(today);
        self.starts_on.iter_days().take_while(move |d| *d <= last)
    }
}

/// A validated daily step count: `0 ..= MAX_STEPS_PER_DAY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StepCount(i64);

impl StepCount {
    /// The number of steps.
    #[must_use]
    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for StepCount {
    type Error = DayRejection;

    /// # Errors
    ///
    /// [`DayRejection::NegativeSteps`] below 0, [`DayRejection::AbsurdSteps`] above
    /// [`MAX_STEPS_PER_DAY`].
    fn try_from(steps: i64) -> Result<Self, Self::Error> {
        if steps < 0 {
            Err(DayRejection::NegativeSteps)
        } else if steps > MAX_STEPS_PER_DAY {
            Err(DayRejection::AbsurdSteps)
        } else {
            Ok(Self(steps))
        }
    }
}

/// Parse a strict `YYYY-MM-DD` local date (exactly 10 ASCII characters, zero padded).
///
/// Stricter than chrono's `%Y-%m-%d`, which accepts `2024-1-5` or a signed year: a date is a
/// key in the database, so one day must have exactly one spelling.
#[must_use]
pub fn parse_local_day(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::{America::New_York, Asia::Shanghai, Pacific::Auckland, UTC};
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn window() -> DayWindow {
        DayWindow {
            starts_on: d(2024, 10, 1),
            ends_on: d(2024, 10, 23),
            sync_grace_days: 3,
        }
    }

    #[test]
    fn today_in_uses_the_campaign_zone() {
        // 2024-10-01 17:30 UTC is already 01:30 on 10-02 in Shanghai (UTC+8).
        let now = Utc.with_ymd_and_hms(2024, 10, 1, 17, 30, 0).unwrap();
        assert_eq!(today_in(Shanghai, now), d(2024, 10, 2));
        assert_eq!(today_in(UTC, now), d(2024, 10, 1));
        assert_eq!(today_in(New_York, now), d(2024, 10, 1));
    }

    #[test]
    fn werun_midnight_in_shanghai_maps_to_that_day() {
        let ts = Shanghai.with_ymd_and_hms(2024, 10, 5, 0, 0, 0).unwrap().timestamp();
        assert_eq!(werun_day(ts, Shanghai), Some(d(2024, 10, 5)));
    }

    #[test]
    fn werun_midnight_of_a_device_in_another_zone_maps_to_the_same_day() {
        // Devices from UTC-11 to UTC+12 all stamp "their" 00:00 of 2024-10-05; seen from UTC
        // the rule holds for device offsets in (-12 h, +12 h].
        for offset_h in -11..=12 {
            let offset = chrono::FixedOffset::east_opt(offset_h * 3600).unwrap();
            let ts = offset.with_ymd_and_hms(2024, 10, 5, 0, 0, 0).unwrap().timestamp();
            assert_eq!(werun_day(ts, UTC), Some(d(2024, 10, 5)), "device offset {offset_h}");
        }
        // Seen from Shanghai (UTC+8), devices from UTC-3 to UTC+14 (the extreme real zone) agree.
        for offset_h in -3..=14 {
            let offset = chrono::FixedOffset::east_opt(offset_h * 3600).unwrap();
            let ts = offset.with_ymd_and_hms(2024, 10, 5, 0, 0, 0).unwrap().timestamp();
            assert_eq!(werun_day(ts, Shanghai), Some(d(2024, 10, 5)));
        }
    }

    #[test]
    fn werun_day_handles_dst_zones() {
        // New Zealand switches to DST on 2024-09-29 at 02:00.
        let ts = Auckland.with_ymd_and_hms(2024, 9, 29, 0, 0, 0).unwrap().timestamp();
        assert_eq!(werun_day(ts, Auckland), Some(d(2024, 9, 29)));
    }

    #[test]
    fn werun_day_out_of_range_is_none() {
        assert_eq!(werun_day(i64::MAX, Shanghai), None);
        assert_eq!(werun_day(i64::MAX - 10, Shanghai), None);
        assert_eq!(werun_day(i64::MIN, Shanghai), None);
    }

    #[test]
    fn rejection_codes_and_messages() {
        let table = [
            (DayRejection::InFuture, "future"),
            (DayRejection::BeforeStart, "before_start"),
            (DayRejection::AfterEnd, "after_end"),
            (DayRejection::UploadClosed, "upload_closed"),
            (DayRejection::NegativeSteps, "negative_steps"),
            (DayRejection::AbsurdSteps, "absurd_steps"),
        ];
        for (r, code) in table {
            assert_eq!(r.code(), code);
            assert!(r.message().ends_with('.'));
            assert_eq!(r.to_string(), r.message());
        }
    }

    #[test]
    fn upload_deadline_adds_grace() {
        assert_eq!(window().upload_deadline(), d(2024, 10, 26));
        let no_grace = DayWindow {
            sync_grace_days: 0,
            ..window()
        };
        assert_eq!(no_grace.upload_deadline(), d(2024, 10, 23));
        let huge = DayWindow {
            sync_grace_days: u32::MAX,
            ..window()
        };
        assert_eq!(huge.upload_deadline(), NaiveDate::MAX);
    }

    #[test]
    fn uploads_open_until_deadline_inclusive() {
        let w = window();
        assert!(w.uploads_open(d(2024, 9, 1)));
        assert!(w.uploads_open(d(2024, 10, 26)));
        assert!(!w.uploads_open(d(2024, 10, 27)));
    }

    #[test]
    fn judge_table() {
        use DayRejection::*;
        let w = window();
        let cases = [
            // (day, today, expected)
            (d(2024, 10, 1), d(2024, 10, 1), Ok(())),
            (d(2024, 10, 5), d(2024, 10, 10), Ok(())),
            (d(2024, 10, 23), d(2024, 10, 23), Ok(())),
            (d(2024, 10, 23), d(2024, 10, 26), Ok(())),
            (d(2024, 10, 1), d(2024, 10, 26), Ok(())),
            (d(2024, 10, 2), d(2024, 10, 1), Err(InFuture)),
            (d(2024, 9, 30), d(2024, 10, 1), Err(BeforeStart)),
            (d(2024, 9, 30), d(2024, 9, 30), Err(BeforeStart)),
            (d(2024, 10, 24), d(2024, 10, 24), Err(AfterEnd)),
            (d(2024, 10, 24), d(2024, 10, 25), Err(AfterEnd)),
            (d(2024, 10, 23), d(2024, 10, 27), Err(UploadClosed)),
            // Closed wins over every other reason.
            (d(2024, 12, 1), d(2024, 10, 27), Err(UploadClosed)),
            (d(2024, 9, 1), d(2024, 11, 1), Err(UploadClosed)),
            // Future wins over before-start / after-end.
            (d(2024, 9, 30), d(2024, 9, 29), Err(InFuture)),
            (d(2024, 10, 25), d(2024, 10, 24), Err(InFuture)),
        ];
        for (day, today, expected) in cases {
            assert_eq!(w.judge(day, today), expected, "day {day} today {today}");
        }
    }

    #[test]
    fn counting_days_table() {
        let w = window();
        assert_eq!(w.counting_days(d(2024, 9, 30)).count(), 0);
        assert_eq!(
            w.counting_days(d(2024, 10, 1)).collect::<Vec<_>>(),
            vec![d(2024, 10, 1)]
        );
        assert_eq!(
            w.counting_days(d(2024, 10, 3)).collect::<Vec<_>>(),
            vec![d(2024, 10, 1), d(2024, 10, 2), d(2024, 10, 3)]
        );
        assert_eq!(w.counting_days(d(2024, 10, 23)).count(), 23);
        assert_eq!(w.counting_days(d(2025, 1, 1)).count(), 23);
        let inverted = DayWindow {
            starts_on: d(2024, 10, 2),
            ends_on: d(2024, 10, 1),
            sync_grace_days: 0,
        };
        assert_eq!(inverted.counting_days(d(2024, 10, 5)).count(), 0);
    }

    #[test]
    fn step_count_bounds() {
        assert_eq!(StepCount::try_from(0).map(StepCount::get), Ok(0));
        assert_eq!(StepCount::try_from(12_345).map(StepCount::get), Ok(12_345));
        assert_eq!(
            StepCount::try_from(MAX_STEPS_PER_DAY).map(StepCount::get),
            Ok(MAX_STEPS_PER_DAY)
        );
        assert_eq!(
            StepCount::try_from(MAX_STEPS_PER_DAY + 1),
            Err(DayRejection::AbsurdSteps)
        );
        assert_eq!(StepCount::try_from(-1), Err(DayRejection::NegativeSteps));
        assert_eq!(StepCount::try_from(i64::MIN), Err(DayRejection::NegativeSteps));
        assert_eq!(StepCount::try_from(i64::MAX), Err(DayRejection::AbsurdSteps));
    }

    #[test]
    fn parse_local_day_table() {
        let ok = [
            ("2024-10-01", d(2024, 10, 1)),
            ("2024-02-29", d(2024, 2, 29)),
            ("0999-12-31", d(999, 12, 31)),
        ];
        for (s, expected) in ok {
            assert_eq!(parse_local_day(s), Some(expected), "{s}");
        }
        let bad = [
            "",
            "2024-1-01",
            "2024-01-1",
            "24-01-01",
            "2024/01/01",
            "2024-01-01 ",
            " 2024-01-01",
            "2024-01-01T00:00:00",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-01-32",
            "+202-01-01",
            "-202-01-01",
            "2024-+1-01",
            "2024-0a-01",
            "２０２４-01-01",
            "2024−01−01",
        ];
        for s in bad {
            assert_eq!(parse_local_day(s), None, "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_local_day_round_trips(days in 0i64..3_000_000) {
            let date = d(1, 1, 1) + chrono::Duration::days(days);
            let s = date.format("%Y-%m-%d").to_string();
            prop_assume!(s.len() == 10);
            prop_assert_eq!(parse_local_day(&s), Some(date));
        }

        #[test]
        fn parse_local_day_never_panics(s in "\\PC{0,12}") {
            let _ = parse_local_day(&s);
        }

        #[test]
        fn judge_ok_iff_in_window_and_past(
            start in 0i64..400, len in 0i64..60, grace in 0u32..10,
            day in 0i64..500, today in 0i64..500,
        ) {
            let base = d(2024, 1, 1);
            let w = DayWindow {
                starts_on: base + chrono::Duration::days(start),
                ends_on: base + chrono::Duration::days(start + len),
                sync_grace_days: grace,
            };
            let day = base + chrono::Duration::days(day);
            let today = base + chrono::Duration::days(today);
            let counts = w.counting_days(today).any(|c| c == day);
            prop_assert_eq!(w.judge(day, today).is_ok(), counts && w.uploads_open(today));
        }

        #[test]
        fn werun_day_is_robust_to_device_offsets(day_offset in 0i64..20_000, offset_h in -11i32..=12) {
            // Any device with an offset in (-12 h, +12 h] of UTC, at its own midnight, maps to its own date in UTC.
            let date = d(1990, 1, 1) + chrono::Duration::days(day_offset);
            let offset = chrono::FixedOffset::east_opt(offset_h * 3600).unwrap();
            let ts = offset
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
                .unwrap()
                .timestamp();
            prop_assert_eq!(werun_day(ts, UTC), Some(date));
        }

        #[test]
        fn werun_day_never_panics(ts in any::<i64>()) {
            let _ = werun_day(ts, Shanghai);
        }
    }
}
