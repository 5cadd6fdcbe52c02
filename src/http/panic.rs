//! A panic while handling one request answers that request with a 500 problem and nothing else.
//!
//! Without this, a panic unwinds out of the actix worker: the worker thread dies and every
//! connection it was serving is dropped ("Empty reply from server"), so one bad request takes
//! others down with it. [`catch_panic`] catches the unwinding future of the request, logs the
//! panic with the request's id, and answers 500 `internal_error`; the worker carries on.

use std::{any::Any, panic::AssertUnwindSafe};

use actix_web::{
    Error, HttpMessage, ResponseError,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    error::InternalError,
    middleware::Next,
};
use futures_util::FutureExt;
use tracing_actix_web::RequestId;

use crate::http::error::ApiError;

/// Turns a panic in the inner middleware or the handler into a 500 problem+json for this
/// request alone, logged with the request id.
///
/// # Errors
/// Passes the inner service's errors through unchanged; a panic becomes an error whose
/// response is the 500 problem (the request went down with the handler, and actix must not
/// share a request while it routes it, so the response is built from an error).
pub async fn catch_panic<B: MessageBody>(req: ServiceRequest, next: Next<B>) -> Result<ServiceResponse<B>, Error> {
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let (method, path) = (req.method().clone(), req.path().to_owned());
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(res) => res,
        Err(payload) => {
            tracing::error!(
                request_id = request_id.as_deref().unwrap_or("-"),
                %method,
                path,
                message = panic_message(payload.as_ref()),
                "request handler failed with a panic; answered 500"
            );
            let answer = ApiError::Internal(anyhow::anyhow!("handler panic")).error_response();
            Err(InternalError::from_response("handler panic", answer).into())
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
