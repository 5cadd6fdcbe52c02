//! CSV imports: the streamed line reader (cut into chunks where the input says) and the
//! field parsers of the cohort, roster, step and route imports.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use longmarch::{domain::days::parse_local_day, services::{admin::{cohorts::{parse_join_code, split_path}, csv_lines::{CsvLines, MAX_LINE_BYTES, columns}, route_catalog::{RouteCsvQuery, read_csv}}, identity::{parse_display_name, parse_student_no}}};

fn chunks(data: &[u8]) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin + use<> {
    // The first byte picks the chunk size, so lines are split across chunks in every way.
    let size = usize::from(data.first().copied().unwrap_or(0)) % 17 + 1;
    let body = data.get(1..).unwrap_or_default().to_vec();
    let parts: Vec<_> = body.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(parts)
}

async fn lines(data: &[u8]) {
    let mut reader = CsvLines::new(chunks(data), 4096);
    let mut last = 0;
    while let Ok(Some((no, rec))) = reader.next_record().await {
        assert!(no > last, "line numbers only grow");
        last = no;
        let Ok(fields) = rec else { continue };
        assert!(!fields.is_empty());
        for f in &fields {
            assert!(!f.contains('\n') && f.len() <= MAX_LINE_BYTES && f.trim() == f);
        }
        let n = fields.len();
        let Ok(f) = columns(no, fields, n.clamp(2, 3)) else {
            continue;
        };
        if f.len() == 2 {
            if let Some(parts) = split_path(&f[0]) {
                assert!(!parts.is_empty());
            }
            drop(parse_join_code(&f[1]));
        } else {
            drop(parse_student_no(&f[0]));
            drop(parse_display_name(&f[1]));
            if let Some(day) = parse_local_day(&f[1]) {
                assert_eq!(day.to_string(), f[1], "one spelling per date");
            }
            drop(f[2].parse::<i64>());
        }
    }
}

thread_local! {
    /// One runtime for all inputs: building one per input costs more than the parsing.
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().build().expect("runtime");
}

fuzz_target!(|data: &[u8]| {
    RUNTIME.with(|rt| {
        rt.block_on(async {
            lines(data).await;
            let q = RouteCsvQuery {
                slug: Some("fuzz".to_owned()),
                name: Some("Fuzz".to_owned()),
            };
            if let Ok(doc) = read_csv(chunks(data), 4096, &q).await {
                assert!(doc.stations.len() <= 200);
            }
        })
    });
});
