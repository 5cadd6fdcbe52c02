//! The served OpenAPI document tells every answer: each operation lists the statuses its
//! shape allows (token, query, path, body), every error is the `Problem` schema as
//! `application/problem+json`, the live stream describes each event, and creating a
//! campaign links to what can be done with it. Read from the spec the server serves, as
//! `authz.rs` does, so a new handler can't leave its documentation behind.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp, assert_problem, dev_login, json, spawn_app};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn served_spec(app: &TestApp) -> Value {
    let resp = app.get("/api-docs/openapi.json").await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

/// Every (method, path, operation) of the spec.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

fn has_param(op: &Value, place: &str) -> bool {
    op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
}

fn secured(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|reqs| reqs.iter().any(|r| r.as_object().is_some_and(|o| !o.is_empty())))
}

#[tokio::test]
async fn every_operation_documents_each_status_its_token_query_path_and_body_can_cause() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    let ops = operations(&spec);
    assert!(ops.len() > 40, "{}", ops.len());
    let mut missing = Vec::new();
    for (method, path, op) in &ops {
        let mut expected = vec!["408"];
        if path.starts_with("/api/v1/") {
            expected.push("503");
        }
        if secured(op) {
            expected.extend(["401", "403"]);
        }
        if has_param(op, "query") {
            expected.push("400");
        }
        if has_param(op, "path") {
            expected.push("404");
        }
        if op.get("requestBody").is_some() {
            expected.extend(["400", "413", "422"]);
        }
        for status in expected {
            if op["responses"].get(status).is_none() {
                missing.push(format!("{method} {path}: {status}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented statuses: {missing:#?}");
}

#[tokio::test]
async fn every_error_answer_is_documented_as_a_problem_with_its_headers() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    let problem = &spec["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "code"] {
        assert!(problem["properties"][field].is_object(), "Problem.{field}: {problem}");
        assert!(
            problem["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!(field))),
            "Problem.{field} required: {problem}"
        );
    }
    assert!(problem["properties"]["errors"].is_object(), "{problem}");
    assert!(spec["components"]["schemas"]["ProblemItem"].is_object());

    let mut wrong = Vec::new();
    for (method, path, op) in operations(&spec) {
        for (status, response) in op["responses"].as_object().expect("responses") {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let label = format!("{method} {path} {status}");
            let types: Vec<&String> = response["content"]
                .as_object()
                .map(|c| c.keys().collect())
                .unwrap_or_default();
            if types != ["application/problem+json"] {
                wrong.push(format!("{label}: content {types:?}"));
            }
            if response["content"]["application/problem+json"]["schema"]["$ref"] != "#/components/schemas/Problem" {
                wrong.push(format!("{label}: schema is not Problem"));
            }
            let header = match status.as_str() {
                "401" => Some("WWW-Authenticate"),
                "429" | "503" => Some("Retry-After"),
                _ => None,
            };
            if let Some(header) = header
                && !response["headers"][header].is_object()
            {
                wrong.push(format!("{label}: no {header} header"));
            }
            if response["description"].as_str().unwrap_or_default().is_empty() {
                wrong.push(format!("{label}: no description"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    let mut seen = BTreeSet::new();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(seen.insert(id.to_owned()), "operationId {id} twice ({method} {path})");
    }
}

#[tokio::test]
async fn path_parameters_are_exactly_the_placeholders_of_their_path() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    for (method, path, op) in operations(&spec) {
        let documented: BTreeSet<String> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let placeholders: BTreeSet<String> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect();
        assert_eq!(
            documented, placeholders,
            "{method} {path}: path parameters against placeholders"
        );
    }
}

#[tokio::test]
async fn the_live_stream_documents_each_event_and_its_data_schema() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    let ok = &spec["paths"]["/api/v1/campaigns/{slug}/events"]["get"]["responses"]["200"];
    let schema = &ok["content"]["text/event-stream"]["schema"];
    let schema = match schema["$ref"].as_str() {
        Some(r) => &spec["components"]["schemas"][r.rsplit('/').next().expect("name")],
        None => schema,
    };
    let variants = schema["oneOf"].as_array().unwrap_or_else(|| panic!("oneOf: {schema}"));
    let mut events = Vec::new();
    for v in variants {
        let name = v["properties"]["event"]["enum"][0]
            .as_str()
            .expect("event name")
            .to_owned();
        let data = &v["properties"]["data"];
        assert_eq!(data["type"], "string", "{name}: {data}");
        assert_eq!(data["contentMediaType"], "application/json", "{name}: {data}");
        let target = data["contentSchema"]["$ref"].as_str().expect("contentSchema $ref");
        let component = target.rsplit('/').next().expect("name");
        assert!(
            spec["components"]["schemas"][component]["properties"].is_object(),
            "{name}: {component} is not a documented object"
        );
        events.push((name, component.to_owned()));
    }
    events.sort();
    assert_eq!(
        events,
        [
            ("leaderboard", "LeaderboardEvent"),
            ("resync", "ResyncEvent"),
            ("stats", "StatsSummary"),
            ("unlock", "UnlockEvent"),
        ]
        .map(|(e, s)| (e.to_owned(), s.to_owned()))
    );
    let description = spec["paths"]["/api/v1/campaigns/{slug}/events"]["get"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(description.contains("heartbeat"), "{description}");
}

#[tokio::test]
async fn creating_a_campaign_links_to_every_operation_addressed_by_its_slug() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    let links = spec["paths"]["/api/v1/admin/campaigns"]["post"]["responses"]["201"]["links"]
        .as_object()
        .expect("links of POST /admin/campaigns 201")
        .clone();
    let mut by_slug = BTreeSet::new();
    for (_, path, op) in operations(&spec) {
        if path.starts_with("/api/v1/admin/campaigns/{slug}") || path.starts_with("/api/v1/campaigns/{slug}") {
            by_slug.insert(op["operationId"].as_str().expect("operationId").to_owned());
        }
    }
    let linked: BTreeSet<String> = links
        .values()
        .map(|l| l["operationId"].as_str().expect("operationId").to_owned())
        .collect();
    assert_eq!(linked, by_slug);
    for (name, link) in &links {
        assert_eq!(link["parameters"]["slug"], "$response.body#/slug", "{name}: {link}");
    }
    for id in [
        "admin_get_campaign",
        "patch_campaign",
        "activate_campaign",
        "close_campaign",
        "plan_campaign",
    ] {
        assert!(linked.contains(id), "{id} in {linked:?}");
    }
    // The expression names a field the 201 body really has.
    let created = &spec["components"]["schemas"]["AdminCampaign"];
    assert!(created["properties"]["slug"].is_object(), "{created}");
}

#[tokio::test]
async fn an_answer_without_a_valid_token_names_the_bearer_scheme() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/me").await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let body = assert_problem(resp, 401, "missing_token").await;
    assert_eq!(body["type"], "urn:longmarch:problem:missing_token");
    assert_eq!(body["title"], "Unauthorized");
    assert_eq!(body["status"], 401);

    let resp = app.get_auth("/api/v1/me", "not-a-jwt").await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_problem(resp, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_documented_error_body_has_exactly_the_problem_fields() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    let documented: BTreeSet<String> = spec["components"]["schemas"]["Problem"]["properties"]
        .as_object()
        .expect("Problem properties")
        .keys()
        .cloned()
        .collect();
    let token = dev_login(&app, "spec-problem").await;
    // A field error carries `errors`, which the schema documents too.
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps"),
            &token,
            &json!({ "days": "not a list" }),
        )
        .await;
    let body = assert_problem(resp, 422, "invalid_body").await;
    let sent: BTreeSet<String> = body.as_object().expect("object").keys().cloned().collect();
    assert!(sent.is_subset(&documented), "{sent:?} ⊄ {documented:?}");
    let resp = app
        .patch_auth("/api/v1/me", &token, &json!({ "display_name": "" }))
        .await;
    let body = json(resp).await;
    assert_eq!(body["code"], "validation_failed", "{body}");
    let sent: BTreeSet<String> = body.as_object().expect("object").keys().cloned().collect();
    assert!(sent.contains("errors") && sent.is_subset(&documented), "{body}");
    let item_fields: BTreeSet<String> = spec["components"]["schemas"]["ProblemItem"]["properties"]
        .as_object()
        .expect("ProblemItem properties")
        .keys()
        .cloned()
        .collect();
    for item in body["errors"].as_array().expect("errors") {
        let keys: BTreeSet<String> = item.as_object().expect("item").keys().cloned().collect();
        assert!(keys.is_subset(&item_fields), "{item} ⊄ {item_fields:?}");
    }
}

/// True when the served spec lists `status` for the operation.
fn documents(spec: &Value, method: &str, path: &str, status: u16) -> bool {
    spec["paths"][path][method]["responses"]
        .get(status.to_string())
        .is_some()
}

// Found by schemathesis: restoring a day of a closed campaign answered an undocumented 409.
#[tokio::test]
async fn restoring_or_voiding_a_day_of_a_closed_campaign_answers_its_documented_409() {
    let app = spawn_app().await;
    let spec = served_spec(&app).await;
    let root = crate::helpers::organiser_token(&app, "spec-root", "admin").await;
    crate::admin_support::active_campaign(&app, &root, "spec-closed", "individual").await;
    let resp = app
        .post_auth("/api/v1/admin/campaigns/spec-closed/close", &root, &json!({}))
        .await;
    assert_eq!(resp.status(), 200);
    for (action, body) in [
        ("restore", json!({})),
        ("void", json!({ "reason": "duplicate upload" })),
    ] {
        let path = format!("/api/v1/admin/campaigns/{{slug}}/step-days/{{id}}/{action}");
        let resp = app
            .post_auth(
                &format!("/api/v1/admin/campaigns/spec-closed/step-days/1/{action}"),
                &root,
                &body,
            )
            .await;
        assert_problem(resp, 409, "campaign_closed").await;
        assert!(documents(&spec, "post", &path, 409), "{path} documents 409");
        assert!(documents(&spec, "post", &path, 404), "{path} documents 404");
    }
}
