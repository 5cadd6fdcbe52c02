//! Time limits on requests (OWASP API4), so that a slow client or a stuck handler can't hold
//! a worker, a database connection or a lock for long.
//!
//! [`limit_time`] gives every request `limits.request_timeout_secs` from its arrival until its
//! response head: reading a JSON body, waiting for the database and the handler's work all
//! count. When the time is up the handler's future is dropped, which drops any open sea-orm
//! transaction and so rolls it back, and the client gets 408 `request_timeout`. A request body
//! that stops arriving for `limits.body_idle_timeout_secs` answers 408 as well.
//!
//! Streamed response bodies are outside this limit, as they must be: the live events stream
//! (`/events`) is meant to stay open for hours, and a CSV export of a big campaign may take
//! longer than a request. Only opening them (authorisation, the first query) is timed. They
//! are bounded instead by the client: actix drops a stream whose connection is gone (the
//! events stream sends a heartbeat, so a dead client is noticed), an export reads one page per
//! chunk without holding a connection in between, and shutdown ends both.
//! Imports read a body of up to `limits.csv_body_bytes` while they work: their handlers take a
//! [`LongRunning`] argument, which moves their deadline to `limits.import_timeout_secs`; the
//! idle timeout still cuts a stalled upload early.

use std::{
    cell::Cell,
    future::{Ready, ready},
    io,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    Error, FromRequest, HttpMessage, HttpRequest,
    body::MessageBody,
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    middleware::Next,
    web,
};
use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::{http::error::ApiError, settings::LimitSettings};

/// When the request in hand must have answered; an extractor may move it.
#[derive(Clone)]
struct Deadline {
    arrived: Instant,
    at: Rc<Cell<Instant>>,
}

/// The time limits of requests (`limits.request_timeout_secs`, `body_idle_timeout_secs`,
/// `import_timeout_secs`), registered as app data at start-up.
#[derive(Debug, Clone, Copy)]
pub struct TimeLimits {
    pub request: Duration,
    pub body_idle: Duration,
    pub import: Duration,
}

impl From<&LimitSettings> for TimeLimits {
    fn from(limits: &LimitSettings) -> Self {
        Self {
            request: Duration::from_secs(limits.request_timeout_secs),
            body_idle: Duration::from_secs(limits.body_idle_timeout_secs),
            import: Duration::from_secs(limits.import_timeout_secs),
        }
    }
}

/// Applies the request timeout and the body idle timeout; see the module documentation.
///
/// # Errors
/// 408 `request_timeout` as an error: the request itself went down with the cancelled
/// handler, and a response is only built from one (actix must not share a request while it
/// routes it), so the server writes the problem+json from the error.
pub async fn limit_time<B: MessageBody>(mut req: ServiceRequest, next: Next<B>) -> Result<ServiceResponse<B>, Error> {
    let Some((timeout, idle)) = req
        .app_data::<web::Data<TimeLimits>>()
        .map(|t| (t.request, t.body_idle))
    else {
        return next.call(req).await;
    };
    let arrived = Instant::now();
    let deadline = Deadline {
        arrived,
        at: Rc::new(Cell::new(arrived + timeout)),
    };
    req.extensions_mut().insert(deadline.clone());
    let stalled = Rc::new(Cell::new(false));
    let payload = req.take_payload();
    if !matches!(payload, Payload::None) {
        let body = IdleBody {
            inner: payload,
            idle,
            timer: None,
            stalled: stalled.clone(),
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(body),
        });
    }
    let path = req.path().to_owned();
    let call = next.call(req);
    tokio::pin!(call);
    let answer = loop {
        let at = deadline.at.get();
        tokio::select! {
            answer = &mut call => break Some(answer),
            () = tokio::time::sleep_until(at) => {
                // A `LongRunning` handler may have moved the deadline meanwhile.
                if deadline.at.get() <= Instant::now() {
                    break None;
                }
            }
        }
    };
    let problem = match answer {
        Some(answer) if !stalled.get() => return answer,
        Some(_) => ApiError::timeout(format!(
            "The request body stopped arriving: nothing came for {} seconds.",
            idle.as_secs()
        )),
        None => {
            let secs = deadline.at.get().duration_since(deadline.arrived).as_secs();
            tracing::warn!(timeout_secs = secs, path = %path, "request timed out");
            ApiError::timeout(format!(
                "The request did not finish within {secs} seconds and was cancelled; \
                 work not yet committed was rolled back."
            ))
        }
    };
    Err(problem.into())
}

/// A handler that reads a big streamed body (a CSV or route import): its deadline is
/// `limits.import_timeout_secs` after the request arrived instead of `request_timeout_secs`.
#[derive(Debug, Clone, Copy)]
pub struct LongRunning;

impl FromRequest for LongRunning {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let import = req.app_data::<web::Data<TimeLimits>>().map(|t| t.import);
        if let (Some(import), Some(deadline)) = (import, req.extensions().get::<Deadline>()) {
            deadline.at.set(deadline.arrived + import);
        }
        ready(Ok(LongRunning))
    }
}

/// A request body that fails once no chunk has come for `idle` while the handler waited.
struct IdleBody {
    inner: Payload,
    idle: Duration,
    /// Armed while the handler waits for the next chunk.
    timer: Option<Pin<Box<Sleep>>>,
    stalled: Rc<Cell<bool>>,
}

impl Stream for IdleBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Once stalled, the body stays failed: a reader must never take what came as the whole.
        if this.stalled.get() {
            return Poll::Ready(Some(Err(stalled_error())));
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => {
                let idle = this.idle;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.stalled.set(true);
                    return Poll::Ready(Some(Err(stalled_error())));
                }
                Poll::Pending
            }
            ready => {
                this.timer = None;
                ready
            }
        }
    }
}

fn stalled_error() -> PayloadError {
    PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, "the request body stalled"))
}
