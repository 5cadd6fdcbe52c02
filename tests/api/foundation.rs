use longmarch::{
    models::{campaigns, cohorts, routes, stations},
    startup::Application,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::{
    helpers::{assert_problem, json, spawn_app},
    shutdown::longmarch_command,
};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["database"], "ok");
}

#[tokio::test]
async fn demo_campaign_serves_the_36_stations_in_order() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/campaigns/long-march-demo").await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    let stations = body["stations"].as_array().expect("stations");
    assert_eq!(stations.len(), 36);
    assert_eq!(stations[0]["name"], "瑞金出发");
    assert_eq!(stations[35]["name"], "吴起镇会师");
    let mut last = -1;
    for (i, s) in stations.iter().enumerate() {
        assert_eq!(s["seq"], i as i64 + 1);
        let m = s["metres"].as_i64().expect("metres");
        assert!(m > last, "metres strictly increase");
        last = m;
        assert!(s.get("story").is_none(), "no story in the public outline");
    }
    assert_eq!(last, 12_500_000);
    assert_eq!(body["progress_mode"], "cohort_mean");
    assert_eq!(body["steps_per_km"], 18);
}

#[tokio::test]
async fn unknown_route_answers_problem_json() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/nowhere").await, 404, "not_found").await;
    assert_problem(
        app.get("/api/v1/campaigns/no-such-campaign").await,
        404,
        "campaign_not_found",
    )
    .await;
}

#[tokio::test]
async fn healthz_answers_json_with_a_request_id() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("x-request-id header");
    assert!(!id.is_empty());
    assert_eq!(json(resp).await, serde_json::json!({ "status": "ok" }));
    let other = app.get("/healthz").await;
    assert_ne!(
        other.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
        Some(id.as_str()),
        "each request gets its own id"
    );
}

#[tokio::test]
async fn readyz_answers_503_problem_json_when_the_database_is_unreachable() {
    let app = spawn_app().await;
    // Closing a clone closes the pool the server shares with it.
    app.db.close_by_ref().await.expect("close pool");
    let resp = app.get("/readyz").await;
    assert_eq!(
        resp.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body = assert_problem(resp, 503, "database_unavailable").await;
    assert_eq!(body["type"], "urn:longmarch:problem:database_unavailable");
    assert_eq!(body["title"], "Service Unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Endpoints that need the database say so too, without leaking the driver's message.
    let body = assert_problem(app.get("/api/v1/campaigns").await, 503, "database_unavailable").await;
    assert!(!body["detail"].as_str().unwrap_or_default().contains("sqlx"), "{body}");
}

#[tokio::test]
async fn malformed_query_string_answers_400_problem_json() {
    let app = spawn_app().await;
    for query in ["limit=abc", "limit=-1", "offset=1.5"] {
        let body = assert_problem(
            app.get(&format!("/api/v1/campaigns?{query}")).await,
            400,
            "invalid_query",
        )
        .await;
        assert_eq!(body["title"], "Bad Request");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Invalid query string"),
            "{query}: {body}"
        );
    }
    // A well-formed query still works, and the limit is clamped to the maximum page size.
    let resp = app.get("/api/v1/campaigns?limit=1000&offset=0").await;
    assert_eq!(resp.status(), 200);
    let body = json(resp).await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["slug"], "long-march-demo");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_404_problem_json_naming_the_path() {
    let app = spawn_app().await;
    let body = assert_problem(app.get("/no/such/thing").await, 404, "not_found").await;
    assert_eq!(body["detail"], "No resource at GET /no/such/thing.");
    let resp = app.client.post(app.url("/healthz")).send().await.expect("request");
    assert_problem(resp, 404, "not_found").await;
    let resp = app
        .client
        .delete(app.url("/api/v1/campaigns/long-march-demo"))
        .send()
        .await
        .expect("request");
    assert_problem(resp, 404, "not_found").await;
}

#[tokio::test]
async fn metrics_are_prometheus_text_labelled_by_route_pattern() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/v1/campaigns/long-march-demo").await.status(), 200);
    assert_eq!(app.get("/api/v1/campaigns/no-such-campaign").await.status(), 404);
    assert_eq!(app.get("/no/such/thing").await.status(), 404);
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = resp.text().await.expect("body");
    let assert_line = |prefix: &str, labels: &[&str], value: &str| {
        let found = text.lines().any(|l| {
            l.starts_with(prefix) && labels.iter().all(|lab| l.contains(lab)) && l.ends_with(&format!(" {value}"))
        });
        assert!(found, "no `{prefix}` line with {labels:?} and value {value}: {text}");
    };
    let campaign = r#"route="/api/v1/campaigns/{slug}""#;
    assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
    assert_line(
        "http_requests_total{",
        &[r#"method="GET""#, campaign, r#"status="200""#],
        "1",
    );
    assert_line("http_requests_total{", &[campaign, r#"status="404""#], "1");
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    assert_line(
        "http_request_duration_seconds_count{",
        &[campaign, r#"status="200""#],
        "1",
    );
    // Paths never become labels: cardinality stays bounded.
    assert!(
        !text.contains("long-march-demo") && !text.contains("/no/such/thing"),
        "{text}"
    );
    assert!(text.contains("# TYPE db_pool_connections gauge"), "{text}");
    assert_line("db_pool_connections{", &[r#"state="max""#], "8");
    assert!(text.contains(r#"db_pool_connections{state="open"}"#), "{text}");
}

#[tokio::test]
async fn openapi_json_describes_the_campaign_endpoints() {
    let app = spawn_app().await;
    let resp = app.get("/api-docs/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let spec = json(resp).await;
    assert!(spec["openapi"].as_str().unwrap_or_default().starts_with("3."), "{spec}");
    let paths = spec["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/campaigns/{slug}",
        "/api/v1/campaigns",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths[path]["get"].is_object(), "{path} in {paths:?}");
    }
    assert!(spec["components"]["schemas"]["CampaignDetail"].is_object());
}

#[tokio::test]
async fn docs_serve_the_vendored_swagger_ui() {
    let app = spawn_app().await;
    let client = longmarch::http_client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = client.get(app.url("/docs")).send().await.expect("request");
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "/docs/");

    let resp = app.get("/docs/").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        resp.headers()
    );
    let html = resp.text().await.expect("body");
    assert!(html.contains("swagger-ui"), "{html}");
    // The UI's assets come from this server, not from a CDN.
    let resp = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("body").len() > 100_000);
    let resp = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("body").contains("/api-docs/openapi.json"));
}

#[tokio::test]
async fn the_demo_seed_runs_once() {
    let app = spawn_app().await;
    // A second start on the same database: migrations and seed run again and change nothing.
    let again = Application::build(app.settings.clone()).await.expect("second build");
    drop(again);

    let db = &app.db;
    assert_eq!(
        campaigns::Entity::find()
            .filter(campaigns::Column::Slug.eq("long-march-demo"))
            .count(db)
            .await
            .expect("count"),
        1
    );
    assert_eq!(campaigns::Entity::find().count(db).await.expect("count"), 1);
    let route = routes::Entity::find()
        .filter(routes::Column::Slug.eq("long-march"))
        .all(db)
        .await
        .expect("routes");
    assert_eq!(route.len(), 1);
    assert_eq!(routes::Entity::find().count(db).await.expect("count"), 1);
    assert_eq!(
        stations::Entity::find()
            .filter(stations::Column::RouteId.eq(route[0].id))
            .count(db)
            .await
            .expect("count"),
        36
    );
    assert_eq!(stations::Entity::find().count(db).await.expect("count"), 36);

    let all = cohorts::Entity::find()
        .order_by_asc(cohorts::Column::Path)
        .all(db)
        .await
        .expect("cohorts");
    assert_eq!(all.len(), 6, "{all:?}");
    let colleges: Vec<_> = all.iter().filter(|c| c.parent_id.is_none()).collect();
    let mut classes: Vec<_> = all.iter().filter(|c| c.parent_id.is_some()).collect();
    assert_eq!(colleges.len(), 2);
    assert_eq!(classes.len(), 4);
    classes.sort_by(|a, b| a.join_code.cmp(&b.join_code));
    let codes: Vec<&str> = classes.iter().map(|c| c.join_code.as_str()).collect();
    assert_eq!(codes, ["DEMO01", "DEMO02", "DEMO03", "DEMO04"]);
    for class in &classes {
        let parent = colleges
            .iter()
            .find(|c| Some(c.id) == class.parent_id)
            .expect("a class's parent is a college");
        assert!(class.path.starts_with(&format!("{}/", parent.path)), "{class:?}");
    }
    assert!(colleges.iter().all(|c| !c.join_code.starts_with("DEMO")));

    // The API agrees.
    let body = json(app.get("/api/v1/campaigns/long-march-demo").await).await;
    assert_eq!(body["cohorts"].as_array().map(Vec::len), Some(6));
    assert_eq!(body["stations"].as_array().map(Vec::len), Some(36));
}

#[tokio::test]
async fn without_seed_demo_only_the_route_is_loaded() {
    let app = crate::helpers::spawn_app_with(|s| s.seed.demo = false).await;
    let body = json(app.get("/api/v1/campaigns").await).await;
    assert_eq!(body["total"], 0);
    assert_eq!(body["items"], serde_json::json!([]));
    assert_eq!(routes::Entity::find().count(&app.db).await.expect("count"), 1);
    assert_eq!(stations::Entity::find().count(&app.db).await.expect("count"), 36);
}

#[test]
fn openapi_command_prints_the_spec() {
    let out = longmarch_command()
        .env("LONGMARCH_ENV", "test")
        .arg("openapi")
        .output()
        .expect("run longmarch openapi");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON spec");
    assert_eq!(spec["info"]["title"], "longmarch");
    assert!(spec["paths"]["/api/v1/campaigns/{slug}"]["get"].is_object(), "{spec}");
}

#[test]
fn help_lists_the_commands() {
    let out = longmarch_command()
        .arg("--help")
        .output()
        .expect("run longmarch --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for line in ["serve", "migrate", "openapi"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(line) && l.len() > line.len() + 10),
            "`{line}` listed with an explanation:\n{help}"
        );
    }
    assert!(help.contains("LONGMARCH_ENV"), "{help}");
}

#[test]
fn migrate_command_creates_the_schema_in_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data").join("fresh.db");
    let out = longmarch_command()
        .env("LONGMARCH_ENV", "test")
        .env("LONGMARCH__DATABASE__URL", format!("sqlite://{}", path.display()))
        .arg("migrate")
        .output()
        .expect("run longmarch migrate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(path.exists(), "the directory and the file are created");
}

/// Every pooled SQLite connection has the query planner stability guarantee on: without
/// it, each statement with a bound `LIMIT` (every `.one()`) is compiled again at every run.
#[tokio::test]
async fn sqlite_connections_keep_their_query_plans_whatever_the_bound_values() {
    let app = spawn_app().await;
    if app.database.is_postgres() {
        return;
    }
    let pool = app.db.get_sqlite_connection_pool();
    let mut held = Vec::new();
    for _ in 0..app.settings.database.pool_size() {
        held.push(pool.acquire().await.expect("a pooled connection"));
    }
    for conn in &mut held {
        let mut handle = conn.lock_handle().await.expect("the connection's handle");
        let mut on = -1_i32;
        // SAFETY: the handle is open and locked for the call; -1 only reads the setting.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_db_config(
                handle.as_raw_handle().as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                -1_i32,
                &raw mut on,
            )
        };
        assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
        assert_eq!(on, 1, "QPSG is off on a pooled connection");
    }
}

/// Every pooled PostgreSQL connection sends with `TCP_NODELAY`: sqlx 0.9.0 leaves Nagle's
/// algorithm on, and a statement whose parameters span a few TCP segments (a batch's rows)
/// then may wait for the server's delayed acknowledgement, 40 ms on Linux.
#[tokio::test]
async fn postgres_connections_send_without_waiting_for_acknowledgements() {
    let app = spawn_app().await;
    if !app.database.is_postgres() {
        return;
    }
    let pool = app.db.get_postgres_connection_pool();
    let options = pool.connect_options();
    let peers: Vec<std::net::SocketAddr> = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .expect("the test server's address")
        .collect();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(pool.acquire().await.expect("a pooled connection"));
    }
    for conn in &mut held {
        let port: i32 = sea_orm::sqlx::query_scalar("SELECT inet_client_port()")
            .fetch_one(&mut **conn)
            .await
            .expect("the connection's port");
        let socket = longmarch::db::tcp::sockets_to(&peers)
            .into_iter()
            .find(|s| s.local_addr().is_ok_and(|a| i32::from(a.port()) == port))
            .expect("the pooled connection's socket");
        assert!(
            socket.nodelay().expect("TCP_NODELAY"),
            "a pooled connection waits for acknowledgements"
        );
    }
}
