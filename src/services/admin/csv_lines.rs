//! Streaming CSV input for the admin imports: a request body read chunk by chunk and cut
//! into records line by line, so a file of 100,000 lines is never held in memory whole.
//!
//! Rules shared by every import: UTF-8 with or without a byte-order mark, `\n` or `\r\n`
//! line ends, a header line naming the columns, blank lines ignored, fields may be quoted
//! (`"a, b"`) but a record may not span lines. A line longer than [`MAX_LINE_BYTES`] is
//! reported as `line_too_long` (and skipped up to its end, never buffered); a body longer
//! than the configured limit answers 413 `body_too_large`.

use std::fmt::Display;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::{ApiError, ApiResult};

/// Longest accepted line.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most line errors listed in an answer (all are counted).
pub const MAX_LISTED_ERRORS: usize = 100;

/// A problem with one line of an import.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineError {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    pub code: String,
    pub message: String,
}

impl LineError {
    /// A line error.
    pub fn new(line: usize, code: &str, message: impl Into<String>) -> Self {
        Self {
            line,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Collected line errors of a file.
#[derive(Debug, Default)]
pub struct LineErrors {
    listed: Vec<LineError>,
    count: usize,
}

impl LineErrors {
    /// Notes an error (listing at most [`MAX_LISTED_ERRORS`]).
    pub fn push(&mut self, e: LineError) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(e);
        }
    }

    /// Notes that line `line` failed with `code` and a human `message`.
    pub fn add(&mut self, line: usize, code: &str, message: impl Into<String>) {
        self.push(LineError::new(line, code, message));
    }

    /// True when no line failed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `Ok` when no line failed; otherwise 422 `csv_invalid` listing the lines, with a
    /// detail that says nothing was imported.
    ///
    /// # Errors
    /// 422 `csv_invalid` when any line failed.
    pub fn into_result(self) -> ApiResult<()> {
        if self.count == 0 {
            return Ok(());
        }
        let first = self
            .listed
            .first()
            .map(|e| format!(" First: line {}: {}", e.line, e.message))
            .unwrap_or_default();
        Err(ApiError::Unprocessable {
            code: "csv_invalid",
            detail: format!(
                "{} line(s) of the file are invalid; nothing was imported.{first}",
                self.count
            ),
            errors: Some(serde_json::to_value(&self.listed).unwrap_or_default()),
        })
    }
}

/// A CSV file as an import receives it: the streamed body, the size it may reach (413
/// `body_too_large` beyond), and whether the import only judges it (`dry_run`).
pub struct CsvFile<S> {
    pub body: S,
    pub limit: usize,
    pub dry_run: bool,
}

/// A record of the file: its line number and trimmed fields, or why the line is unusable.
pub type Record = (usize, Result<Vec<String>, LineError>);

/// Reads records from a byte stream line by line.
pub struct CsvLines<S> {
    stream: S,
    buf: Vec<u8>,
    limit: usize,
    read: usize,
    line_no: usize,
    eof: bool,
    skipping: bool,
}

impl<S, E> CsvLines<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Display,
{
    /// A reader over `stream`, refusing more than `limit` bytes in all.
    pub fn new(stream: S, limit: usize) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(8 * 1024),
            limit,
            read: 0,
            line_no: 0,
            eof: false,
            skipping: false,
        }
    }

    /// Reads the header line and checks it names exactly `expected` (case-insensitive).
    ///
    /// # Errors
    /// 422 `csv_empty` for a file without a header, `csv_header` for other columns;
    /// 413/400 from reading the body.
    pub async fn expect_header(&mut self, expected: &[&str]) -> ApiResult<()> {
        self.expect_one_header(&[expected]).await.map(drop)
    }

    /// Reads the header line and checks it names exactly one of `choices`
    /// (case-insensitive); answers its number of columns.
    ///
    /// # Errors
    /// As [`Self::expect_header`], naming the first choice.
    pub async fn expect_one_header(&mut self, choices: &[&[&str]]) -> ApiResult<usize> {
        let want = choices.iter().map(|c| c.join(",")).collect::<Vec<_>>().join("` or `");
        match self.next_record().await? {
            None => Err(ApiError::unprocessable(
                "csv_empty",
                format!("The file is empty; it must start with the header `{want}`."),
            )),
            Some((_, Ok(fields))) => choices
                .iter()
                .find(|expected| {
                    fields.len() == expected.len()
                        && fields
                            .iter()
                            .zip(expected.iter())
                            .all(|(f, e)| f.eq_ignore_ascii_case(e))
                })
                .map(|expected| expected.len())
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "csv_header",
                        format!("The header must be `{want}`, not `{}`.", fields.join(",")),
                    )
                }),
            Some((_, Err(e))) => Err(ApiError::unprocessable(
                "csv_header",
                format!("The header must be `{want}`: {}", e.message),
            )),
        }
    }

    /// The next non-blank record, or `None` at the end of the body.
    ///
    /// # Errors
    /// 413 `body_too_large` past the limit; 400 `body_unreadable` when the body breaks off.
    pub async fn next_record(&mut self) -> ApiResult<Option<Record>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                self.line_no += 1;
                if self.skipping {
                    self.skipping = false;
                    return Ok(Some((self.line_no, Err(too_long(self.line_no)))));
                }
                match self.parse(&line[..pos]) {
                    Some(rec) => return Ok(Some(rec)),
                    None => continue,
                }
            }
            if self.buf.len() > MAX_LINE_BYTES {
                // Drop what we have of the overlong line; keep discarding up to its end.
                self.skipping = true;
                self.buf.clear();
            }
            if self.eof {
                if self.skipping {
                    self.skipping = false;
                    self.line_no += 1;
                    return Ok(Some((self.line_no, Err(too_long(self.line_no)))));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buf);
                self.line_no += 1;
                match self.parse(&line) {
                    Some(rec) => return Ok(Some(rec)),
                    None => return Ok(None),
                }
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    self.read += chunk.len();
                    if self.read > self.limit {
                        return Err(ApiError::PayloadTooLarge {
                            code: "body_too_large",
                            detail: format!("The file exceeds {} bytes.", self.limit),
                        });
                    }
                    if self.skipping {
                        match chunk.iter().position(|b| *b == b'\n') {
                            Some(pos) => {
                                self.buf.push(b'\n');
                                self.buf.extend_from_slice(&chunk[pos + 1..]);
                            }
                            None => continue,
                        }
                    } else {
                        self.buf.extend_from_slice(&chunk);
                    }
                }
                Some(Err(e)) => {
                    return Err(ApiError::bad_request(
                        "body_unreadable",
                        format!("The request body could not be read: {e}"),
                    ));
                }
                None => self.eof = true,
            }
        }
    }

    /// Parses one line (without its `\n`); `None` for a blank line.
    fn parse(&self, raw: &[u8]) -> Option<Record> {
        let no = self.line_no;
        let mut line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if no == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line);
        let mut record = csv::StringRecord::new();
        let parsed = match reader.read_record(&mut record) {
            Ok(true) => Ok(record.iter().map(|f| f.trim().to_owned()).collect()),
            Ok(false) => return None,
            Err(e) => Err(LineError::new(
                no,
                "malformed_line",
                match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8".to_owned(),
                    _ => format!("the line is not valid CSV: {e}"),
                },
            )),
        };
        Some((no, parsed))
    }
}

fn too_long(line: usize) -> LineError {
    LineError::new(
        line,
        "line_too_long",
        format!("the line is longer than {MAX_LINE_BYTES} bytes"),
    )
}

/// Checks a record has exactly `n` columns.
///
/// # Errors
/// A `wrong_columns` line error.
pub fn columns(line: usize, fields: Vec<String>, n: usize) -> Result<Vec<String>, LineError> {
    if fields.len() == n {
        Ok(fields)
    } else {
        Err(LineError::new(
            line,
            "wrong_columns",
            format!("expected {n} columns, found {}", fields.len()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn records(chunks: Vec<&'static [u8]>) -> Vec<Record> {
        let stream = futures_util::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from(c))));
        let mut r = CsvLines::new(stream, 10 * 1024 * 1024);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().await.unwrap() {
            out.push(rec);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_across_chunks_with_bom_and_crlf() {
        let recs = records(vec![b"\xEF\xBB\xBFa,b\r\n1,", b"2\r\n\r\n\"x, y\",3"]).await;
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].1.as_ref().unwrap(), &vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(recs[1].1.as_ref().unwrap(), &vec!["1".to_owned(), "2".to_owned()]);
        assert_eq!(recs[2].0, 4);
        assert_eq!(recs[2].1.as_ref().unwrap(), &vec!["x, y".to_owned(), "3".to_owned()]);
    }

    #[tokio::test]
    async fn overlong_line_is_reported_and_skipped() {
        let long: &'static [u8] = Box::leak(vec![b'x'; MAX_LINE_BYTES * 3].into_boxed_slice());
        let recs = records(vec![b"h\n", long, b"tail\nok\n"]).await;
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].0, 2);
        assert_eq!(recs[1].1.as_ref().unwrap_err().code, "line_too_long");
        assert_eq!(recs[2].0, 3);
        assert_eq!(recs[2].1.as_ref().unwrap(), &vec!["ok".to_owned()]);
    }

    #[tokio::test]
    async fn body_over_limit_is_refused() {
        let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"abc\ndef\n"))]);
        let mut r = CsvLines::new(stream, 4);
        assert_eq!(r.next_record().await.unwrap_err().code(), "body_too_large");
    }
}

#[cfg(test)]
mod props {
    use actix_web::ResponseError;
    use proptest::prelude::*;

    use super::*;
    use crate::services::admin::{
        cohorts::{parse_join_code, split_path},
        route_catalog::{RouteCsvQuery, read_csv},
    };

    /// `body` cut into chunks of `size` bytes, as a request body stream.
    fn stream(body: &[u8], size: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + use<> {
        let chunks: Vec<_> = body.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures_util::stream::iter(chunks)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn assert_clean(e: &ApiError) {
        let status = e.status_code().as_u16();
        assert!((400..500).contains(&status), "{status} {}", e.code());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_read_as_records_with_growing_line_numbers(
            body in prop::collection::vec(any::<u8>(), 0..400),
            size in 1usize..40,
        ) {
            block_on(async {
                let mut reader = CsvLines::new(stream(&body, size), 300);
                let mut last = 0;
                loop {
                    match reader.next_record().await {
                        Ok(None) => break,
                        Ok(Some((no, rec))) => {
                            assert!(no > last);
                            last = no;
                            match rec {
                                Ok(fields) => assert!(fields.iter().all(|f| !f.contains('\n') && f.trim() == f)),
                                Err(e) => assert!(e.line == no && !e.code.is_empty() && !e.message.is_empty()),
                            }
                        }
                        Err(e) => {
                            assert_clean(&e);
                            break;
                        }
                    }
                }
            });
        }

        #[test]
        fn arbitrary_text_lines_never_panic_and_fail_as_csv_problems(
            lines in prop::collection::vec("[^\n]{0,30}|\"[a-z,\"]{0,10}", 0..12),
            header in "path,join_code|seq,name|\u{feff}path,join_code|",
        ) {
            let body = format!("{header}\n{}", lines.join("\r\n"));
            block_on(async {
                let mut reader = CsvLines::new(stream(body.as_bytes(), 7), 1 << 20);
                match reader.expect_header(&["path", "join_code"]).await {
                    Ok(()) => {
                        let mut errors = LineErrors::default();
                        while let Some((no, rec)) = reader.next_record().await.expect("within the limit") {
                            match rec.and_then(|f| columns(no, f, 2)) {
                                Ok(f) => {
                                    if split_path(&f[0]).is_none() || parse_join_code(&f[1]).is_err() {
                                        errors.add(no, "invalid", "bad");
                                    }
                                }
                                Err(e) => errors.push(e),
                            }
                        }
                        if let Err(e) = errors.into_result() {
                            assert_eq!(e.code(), "csv_invalid");
                        }
                    }
                    Err(e) => {
                        assert_clean(&e);
                        assert!(e.code() == "csv_header" || e.code() == "csv_empty", "{}", e.code());
                    }
                }
            });
        }

        #[test]
        fn arbitrary_route_csv_is_a_document_or_a_clean_error(
            body in prop::collection::vec(any::<u8>(), 0..300),
            with_header in any::<bool>(),
        ) {
            let mut full = if with_header {
                b"seq,name,metres,event_date,title,story,image_url\n".to_vec()
            } else {
                Vec::new()
            };
            full.extend(body);
            let q = RouteCsvQuery { slug: Some("r".to_owned()), name: Some("R".to_owned()) };
            match block_on(read_csv(stream(&full, 13), 4096, &q)) {
                Ok(doc) => assert!(doc.stations.len() <= 200),
                Err(e) => assert_clean(&e),
            }
        }
    }
}
