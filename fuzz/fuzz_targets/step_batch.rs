//! A manual upload body as the server reads it: JSON → `StepBatch` → strict dates → judged
//! days, plus the date parser on its own.

#![no_main]

use libfuzzer_sys::fuzz_target;
use longmarch::{domain::days::parse_local_day, services::steps::ingest::{StepBatch, judge_batch}};
use longmarch_fuzz::{assert_judged, window};

fuzz_target!(|data: &[u8]| {
    let (window, today) = window();
    if let Ok(batch) = serde_json::from_slice::<StepBatch>(data) {
        let n = batch.days.len();
        let judged = judge_batch(&window, today, batch.days);
        assert_judged(&window, today, n, &judged);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // One day has exactly one spelling.
        if let Some(day) = parse_local_day(text) {
            assert_eq!(day.to_string(), text);
        }
    }
});
