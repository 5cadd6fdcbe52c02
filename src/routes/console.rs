//! The organisers' console: the single-page app in `web/console/`, embedded in the binary.
//! It talks to `/api/v1` with the organiser's token; these routes only serve its files.

use actix_web::{HttpRequest, HttpResponse, guard, http::header, web};

use crate::http::{assets, error::ApiResult};

pub fn config(cfg: &mut web::ServiceConfig) {
    let get_or_head = || guard::Any(guard::Get()).or(guard::Head());
    cfg.service(web::resource("/console").guard(get_or_head()).to(to_folder))
        .service(web::resource("/console/{path:.*}").guard(get_or_head()).to(file));
}

/// `/console` → `/console/`, so the page's relative references resolve inside the folder.
async fn to_folder(req: HttpRequest) -> HttpResponse {
    let location = match req.query_string() {
        "" => "/console/".to_owned(),
        query => format!("/console/?{query}"),
    };
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, location))
        .finish()
}

async fn file(req: HttpRequest, path: web::Path<String>) -> ApiResult<HttpResponse> {
    assets::page("console", &path, &req)
}
