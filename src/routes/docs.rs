//! The OpenAPI document and Swagger UI (vendored: nothing is fetched at build or run time).

use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::openapi::ApiDoc;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json)
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", ApiDoc::openapi()))
        .route("/docs", web::get().to(docs_redirect));
}

#[get("/api-docs/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::Found().insert_header(("Location", "/docs/")).finish()
}
