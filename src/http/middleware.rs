//! Middleware that is not about one feature: the request id echoed to the client, and the
//! bearer token of a live screen taken out of the query string before anything logs it.

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::Next,
};
use tracing_actix_web::RequestId;

/// Echoes the request id that `TracingLogger` attached to the request's span as an
/// `x-request-id` response header, so a client report can be matched to the log lines.
/// Errors from inner middleware (a request timeout) get the header too.
pub async fn add_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| HeaderValue::from_str(&id.to_string()).ok());
    let name = HeaderName::from_static("x-request-id");
    match next.call(req).await {
        Ok(mut res) => {
            if let Some(id) = id {
                res.headers_mut().insert(name, id);
            }
            Ok(res)
        }
        Err(err) => {
            let mut answer = err.error_response();
            if let Some(id) = id {
                answer.headers_mut().insert(name, id);
            }
            Err(actix_web::error::InternalError::from_response(err, answer).into())
        }
    }
}

/// `EventSource` can't set headers, so a live screen sends its token as `?access_token=`,
/// and the big screen's page is opened with it in its address. Before anything logs or
/// routes the request, the token leaves the query string of both: on the events stream it
/// moves into `Authorization: Bearer` (unless that header came), so the one extractor
/// checks it; on `/screen/…` it is dropped, since the page reads it in the browser. No log
/// line carries it. Only these paths accept it; elsewhere it stays an unknown parameter.
pub async fn bearer_from_query(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let events = req.path().ends_with("/events");
    if (events || req.path().starts_with("/screen/")) && req.query_string().contains("access_token=") {
        let query = req.query_string().to_owned();
        let (tokens, rest): (Vec<&str>, Vec<&str>) = query
            .split('&')
            .filter(|p| !p.is_empty())
            .partition(|p| p.starts_with("access_token="));
        let path_and_query = if rest.is_empty() {
            req.path().to_owned()
        } else {
            format!("{}?{}", req.path(), rest.join("&"))
        };
        if let Ok(uri) = path_and_query.parse::<actix_web::http::Uri>() {
            let header = tokens
                .first()
                .map(|p| &p["access_token=".len()..])
                .filter(|_| events && !req.headers().contains_key(header::AUTHORIZATION))
                .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
            req.head_mut().uri = uri;
            if let Some(value) = header {
                req.headers_mut().insert(header::AUTHORIZATION, value);
            }
        }
    }
    next.call(req).await
}
