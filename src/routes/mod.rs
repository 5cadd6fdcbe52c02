//! HTTP handlers, one module per resource. Each exposes `config` that mounts its own scope;
//! handlers parse input, call one service function and map the result to a response DTO.

pub mod admin;
pub mod auth;
pub mod campaigns;
pub mod certificates;
pub mod console;
pub mod docs;
pub mod events;
pub mod health;
pub mod leaderboards;
pub mod me;
pub mod participation;
pub mod posters;
pub mod reminders;
pub mod screen;

use actix_web::{
    Error, HttpMessage, HttpRequest, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::header::{self, HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use tracing_actix_web::RequestId;

use crate::{http::error::ApiError, settings::Settings};

/// Mounts every route and the input-error handlers that turn extractor failures into
/// problem+json.
pub fn config(cfg: &mut web::ServiceConfig, settings: &Settings) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(settings.limits.json_body_bytes)
            .error_handler(json_error),
    )
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .configure(health::config)
    .configure(docs::config)
    .configure(console::config)
    .configure(screen::config)
    .service(
        web::scope("/api/v1")
            .configure(|c| auth::config(c, settings.auth.dev_login))
            .configure(me::config)
            .configure(campaigns::config)
            .configure(participation::config)
            .configure(admin::config)
            .configure(admin::data::config)
            .configure(leaderboards::config)
            .configure(admin::reports::config)
            .configure(events::config)
            .configure(certificates::config)
            .configure(posters::config)
            .configure(reminders::config),
    )
    .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "not_found",
        format!("No resource at {} {}.", req.method(), req.path()),
    ))
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge {
                code: "body_too_large",
                detail: format!("The request body exceeds {limit} bytes."),
            }
        }
        JsonPayloadError::ContentType => ApiError::Unprocessable {
            code: "unsupported_content_type",
            detail: "Send the body as application/json.".to_owned(),
            errors: None,
        },
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::Unprocessable {
            code: "invalid_body",
            detail: format!("The JSON body does not match the expected shape: {e}"),
            errors: None,
        },
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("malformed_json", format!("The body is not valid JSON: {e}"))
        }
        other => ApiError::bad_request("bad_body", format!("The request body could not be read: {other}")),
    };
    api.into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> Error {
    ApiError::not_found("not_found", format!("Invalid path parameter: {err}")).into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> Error {
    ApiError::bad_request("invalid_query", format!("Invalid query string: {err}")).into()
}

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

/// A JSON 200 response.
pub fn ok<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}
