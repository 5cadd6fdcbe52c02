//! The big screen: the page in `web/screen/`, embedded in the binary. The page itself holds
//! no data: it reads the board token from its own address (`?access_token=`), then talks to
//! `/api/v1` with it; these routes only serve its files. The token never reaches a log:
//! `routes::bearer_from_query` drops it from the URI before the request is logged.

use actix_web::{HttpRequest, HttpResponse, guard, web};

use crate::http::{assets, error::ApiResult};

pub fn config(cfg: &mut web::ServiceConfig) {
    let get_or_head = || guard::Any(guard::Get()).or(guard::Head());
    cfg.service(web::resource("/screen/{slug}").guard(get_or_head()).to(page))
        // The page's relative references (`css/…`, `js/…`) resolve to two or more segments,
        // which a campaign slug (no `/`) never has.
        .service(
            web::resource("/screen/{folder}/{path:.+}")
                .guard(get_or_head())
                .to(file),
        );
}

/// `GET /screen/{slug}`: the page, for any slug; it says itself when the campaign or the
/// token is wrong.
async fn page(req: HttpRequest) -> ApiResult<HttpResponse> {
    assets::page("screen", "index.html", &req)
}

async fn file(req: HttpRequest, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (folder, rest) = path.into_inner();
    assets::page("screen", &format!("{folder}/{rest}"), &req)
}
