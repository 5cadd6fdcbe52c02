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
    Error, HttpRequest, HttpResponse,
    error::{JsonPayloadError, PathError, QueryPayloadError},
    web,
};

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

/// A JSON 200 response.
pub fn ok<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}
