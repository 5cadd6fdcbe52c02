//! Authorization of every route the server documents (OWASP API1 object level, API3 property
//! level, API5 function level): the OpenAPI spec the server serves is enumerated, each
//! path × method must have a case below, and each case is called as every kind of caller.

use std::collections::BTreeSet;

use chrono::Utc;
use longmarch::models::step_days;
use reqwest::{Method, Response};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::{
    admin_support::{active_campaign, campaign_body, create_campaign},
    helpers::{DEMO, TestApp, json, organiser_token, today},
    steps::{midnight, spawn_with_wechat, wechat_login, werun_payload},
    wechat_mock,
};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anon,
    /// Participant enrolled in the demo campaign and in `second`.
    Alice,
    /// Another participant, enrolled in the same campaigns.
    Bob,
    /// A participant enrolled nowhere.
    Carol,
    /// A live-screen token of `second`.
    Board,
    /// An organiser who owns only `third`.
    Sam,
    /// The organiser who owns `second`.
    Olga,
    Admin,
}

const EVERYONE: [Who; 8] = [
    Who::Anon,
    Who::Alice,
    Who::Bob,
    Who::Carol,
    Who::Board,
    Who::Sam,
    Who::Olga,
    Who::Admin,
];

/// Who may do what; the argument is the success status.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, with or without a token.
    Public(u16),
    /// Any participant.
    AnyParticipant(u16),
    /// Participants enrolled in the campaign (Alice, Bob).
    Enrolled(u16),
    /// Any organiser or admin.
    AnyOrganiser(u16),
    /// Organisers with access to `second` (its owner Olga, admins); others don't see it.
    Scoped(u16),
    /// Admins only.
    AdminOnly(u16),
    /// Leaderboards of `second`: its participants, its board, organisers with access.
    Viewer(u16),
    /// `…/participants/me` of `second`: a rank needs an enrolled participant.
    MyRank,
    /// The live stream of `second`: its board and organisers with access.
    Events,
    /// A station of the built-in route, which campaigns outside Olga's and Sam's scope walk.
    SharedRoute,
    /// Sam's own campaign `third` with an object of `second` in the path: not found.
    Foreign(&'static str),
}

fn expected(rule: Rule, who: Who) -> (u16, &'static str) {
    use Who::*;
    let participant = matches!(who, Alice | Bob | Carol);
    let organiser = matches!(who, Sam | Olga | Admin);
    match (rule, who) {
        (Rule::Public(ok), _) => (ok, ""),
        (_, Anon) => (401, "missing_token"),
        (Rule::AnyParticipant(ok), _) if participant => (ok, ""),
        (Rule::Enrolled(ok), Alice | Bob) => (ok, ""),
        (Rule::Enrolled(_), Carol) => (403, "not_enrolled"),
        (Rule::AnyParticipant(_) | Rule::Enrolled(_), _) => (403, "participant_only"),
        (Rule::Viewer(ok), Alice | Bob | Board | Olga | Admin) => (ok, ""),
        (Rule::MyRank, Alice | Bob) | (Rule::Events, Board | Olga | Admin) => (200, ""),
        (Rule::Viewer(_) | Rule::MyRank, Carol) => (403, "not_enrolled"),
        (Rule::MyRank, Board | Olga | Admin) => (403, "participant_only"),
        (Rule::Viewer(_) | Rule::MyRank | Rule::Events, Sam) => (404, "campaign_not_found"),
        (_, _) if !organiser => (403, "organiser_only"),
        (Rule::AnyOrganiser(ok), _) => (ok, ""),
        (Rule::Scoped(_), Sam) => (404, "campaign_not_found"),
        (Rule::Scoped(ok), _) | (Rule::AdminOnly(ok), Admin) => (ok, ""),
        (Rule::AdminOnly(_), _) => (403, "admin_only"),
        (Rule::SharedRoute, Admin) => (200, ""),
        (Rule::SharedRoute, _) => (403, "route_shared"),
        (Rule::Foreign(_), Olga) => (404, "campaign_not_found"),
        (Rule::Foreign(code), _) => (404, code),
        (rule, who) => panic!("no expectation for {rule:?} as {who:?}"),
    }
}

/// How a case's path parameters (and body) are filled in.
#[derive(Debug, Clone, Copy)]
enum Fill {
    /// No parameters.
    None,
    /// `{slug}` is this campaign.
    Slug(&'static str),
    /// `{slug}`: a new draft campaign of Olga's.
    Draft,
    /// `{slug}`: a new active campaign of Olga's.
    Active,
    /// `{slug}` = `second`, `{username}` = an organiser nobody else uses.
    Grant,
    /// `{id}`: the built-in route (and `{seq}` = 1).
    BuiltinRoute,
    /// `{id}`: a new route no campaign walks.
    FreshRoute,
    /// `{id}`: a new empty cohort of `second`; `{slug}` as given.
    Cohort(&'static str),
    /// `{id}`: a step day of `second` in the given state; `{slug}` as given.
    StepDay(&'static str, bool),
    /// `{id}`: a new participant of `second`, suspended or not; `{slug}` as given.
    Member(&'static str, bool),
}

/// A body to send.
#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    Json(fn() -> Value),
    /// A body built per call (unique slugs and names, fresh payloads).
    Fresh(fn(usize) -> Value),
    Csv(fn() -> String),
    Werun,
}

struct Case {
    method: &'static str,
    path: String,
    rule: Rule,
    fill: Fill,
    body: Body,
}

/// A case of a route under `/api/v1` (ops routes are given whole).
fn case(method: &'static str, path: &str, rule: Rule, fill: Fill, body: Body) -> Case {
    let path = if path.starts_with("/campaigns") || path.starts_with("/admin") {
        format!("/api/v1{path}")
    } else {
        path.to_owned()
    };
    Case {
        method,
        path,
        rule,
        fill,
        body,
    }
}

fn reason() -> Value {
    json!({ "reason": "authorization matrix" })
}

fn cases() -> Vec<Case> {
    use Body as B;
    use Fill as F;
    use Rule as R;
    let mut cases = vec![
        case("GET", "/healthz", R::Public(200), F::None, B::None),
        case("GET", "/readyz", R::Public(200), F::None, B::None),
        case("GET", "/metrics", R::Public(200), F::None, B::None),
        case("GET", "/api/v1/campaigns", R::Public(200), F::None, B::None),
        case("GET", "/campaigns/{slug}", R::Public(200), F::Slug(DEMO), B::None),
        case(
            "POST",
            "/api/v1/auth/wechat",
            R::Public(200),
            F::None,
            B::Json(bodies::wechat),
        ),
        case(
            "POST",
            "/api/v1/auth/dev",
            R::Public(200),
            F::None,
            B::Json(bodies::dev),
        ),
        case(
            "POST",
            "/api/v1/auth/organiser",
            R::Public(200),
            F::None,
            B::Json(bodies::organiser),
        ),
        case("GET", "/api/v1/me", R::AnyParticipant(200), F::None, B::None),
        case(
            "POST",
            "/api/v1/me/subscriptions",
            R::AnyParticipant(200),
            F::None,
            B::Json(|| json!({ "template_ids": ["TPL_AUTHZ"] })),
        ),
        // Nobody in the fixture finished the route: enrolled callers hear "not yet".
        case(
            "GET",
            "/campaigns/{slug}/me/certificate",
            R::Enrolled(404),
            F::Slug(DEMO),
            B::None,
        ),
        case("GET", "/api/v1/certificates/{id}", R::Public(404), F::None, B::None),
        case(
            "PATCH",
            "/api/v1/me",
            R::AnyParticipant(200),
            F::None,
            B::Json(bodies::profile),
        ),
        case(
            "POST",
            "/campaigns/{slug}/join",
            R::AnyParticipant(200),
            F::Slug("open"),
            B::Json(|| json!({})),
        ),
        case(
            "POST",
            "/campaigns/{slug}/steps",
            R::Enrolled(200),
            F::Slug(DEMO),
            B::Json(bodies::days),
        ),
        case(
            "POST",
            "/campaigns/{slug}/steps/werun",
            R::Enrolled(200),
            F::Slug(DEMO),
            B::Werun,
        ),
        case(
            "GET",
            "/campaigns/{slug}/leaderboards/participants/me",
            R::MyRank,
            F::Slug("second"),
            B::None,
        ),
        case("GET", "/campaigns/{slug}/events", R::Events, F::Slug("second"), B::None),
        case("GET", "/admin/campaigns", R::AnyOrganiser(200), F::None, B::None),
        case(
            "POST",
            "/admin/campaigns",
            R::AnyOrganiser(201),
            F::None,
            B::Fresh(bodies::campaign),
        ),
        case(
            "PATCH",
            "/admin/campaigns/{slug}",
            R::Scoped(200),
            F::Slug("second"),
            B::Json(bodies::description),
        ),
        case(
            "POST",
            "/admin/campaigns/{slug}/activate",
            R::Scoped(200),
            F::Draft,
            B::None,
        ),
        case(
            "POST",
            "/admin/campaigns/{slug}/close",
            R::Scoped(200),
            F::Active,
            B::None,
        ),
        case(
            "PUT",
            "/admin/campaigns/{slug}/grants/{username}",
            R::AdminOnly(200),
            F::Grant,
            B::None,
        ),
        case(
            "DELETE",
            "/admin/campaigns/{slug}/grants/{username}",
            R::AdminOnly(200),
            F::Grant,
            B::None,
        ),
        case("GET", "/admin/routes", R::AnyOrganiser(200), F::None, B::None),
        case(
            "POST",
            "/admin/routes",
            R::AnyOrganiser(201),
            F::None,
            B::Fresh(route_doc),
        ),
        case(
            "GET",
            "/admin/routes/{id}",
            R::AnyOrganiser(200),
            F::BuiltinRoute,
            B::None,
        ),
        case(
            "PATCH",
            "/admin/routes/{id}/stations/{seq}",
            R::SharedRoute,
            F::BuiltinRoute,
            B::Json(bodies::image),
        ),
        case(
            "PATCH",
            "/admin/routes/{id}/stations/{seq}",
            R::AnyOrganiser(200),
            F::FreshRoute,
            B::Json(bodies::title),
        ),
        case(
            "POST",
            "/admin/campaigns/{slug}/cohorts",
            R::Scoped(201),
            F::Slug("second"),
            B::Fresh(bodies::cohort),
        ),
        case(
            "POST",
            "/admin/campaigns/{slug}/cohorts/import",
            R::Scoped(200),
            F::Slug("second"),
            B::Csv(bodies::tree),
        ),
        case(
            "POST",
            "/admin/campaigns/{slug}/roster/import",
            R::Scoped(200),
            F::Slug("second"),
            B::Csv(bodies::roster),
        ),
        case(
            "POST",
            "/admin/campaigns/{slug}/steps/import",
            R::Scoped(200),
            F::Slug("second"),
            B::Csv(bodies::steps),
        ),
    ];
    // The caller's own data in the demo campaign.
    for path in ["progress", "milestones", "steps"] {
        cases.push(case(
            "GET",
            &format!("/campaigns/{{slug}}/me/{path}"),
            R::Enrolled(200),
            F::Slug(DEMO),
            B::None,
        ));
    }
    for path in ["leaderboards/participants", "leaderboards/cohorts"] {
        cases.push(case(
            "GET",
            &format!("/campaigns/{{slug}}/{path}"),
            R::Viewer(200),
            F::Slug("second"),
            B::None,
        ));
    }
    // Reads (and the board token) of `second`.
    for (method, path) in [
        ("GET", ""),
        ("GET", "/plan"),
        ("GET", "/audit"),
        ("GET", "/cohorts"),
        ("GET", "/flags"),
        ("GET", "/stats"),
        ("GET", "/export/participants.csv"),
        ("GET", "/export/cohorts.csv"),
        ("GET", "/export/steps.csv"),
        ("POST", "/board-token"),
    ] {
        cases.push(case(
            method,
            &format!("/admin/campaigns/{{slug}}{path}"),
            R::Scoped(200),
            F::Slug("second"),
            B::None,
        ));
    }
    // Objects of `second` by id: through `second` for its organisers, and through Sam's own
    // campaign `third`, where they must not be found (object-level authorization).
    type Object = (
        &'static str,
        &'static str,
        u16,
        fn(&'static str) -> Fill,
        Body,
        &'static str,
    );
    let objects: [Object; 9] = [
        (
            "GET",
            "cohorts/{id}/qrcode.png",
            200,
            F::Cohort,
            B::None,
            "cohort_not_found",
        ),
        (
            "PATCH",
            "cohorts/{id}",
            200,
            F::Cohort,
            B::Fresh(|n| json!({ "name": format!("改名{n}") })),
            "cohort_not_found",
        ),
        ("DELETE", "cohorts/{id}", 204, F::Cohort, B::None, "cohort_not_found"),
        (
            "POST",
            "step-days/{id}/void",
            200,
            |s| F::StepDay(s, false),
            B::Json(reason),
            "step_day_not_found",
        ),
        (
            "POST",
            "step-days/{id}/restore",
            200,
            |s| F::StepDay(s, true),
            B::None,
            "step_day_not_found",
        ),
        (
            "GET",
            "participants/{id}/days",
            200,
            |s| F::Member(s, false),
            B::None,
            "participant_not_found",
        ),
        (
            "POST",
            "participants/{id}/suspend",
            200,
            |s| F::Member(s, false),
            B::Json(reason),
            "participant_not_found",
        ),
        (
            "POST",
            "participants/{id}/reinstate",
            200,
            |s| F::Member(s, true),
            B::None,
            "participant_not_found",
        ),
        (
            "POST",
            "participants/{id}/erase",
            204,
            |s| F::Member(s, false),
            B::None,
            "participant_not_found",
        ),
    ];
    for (method, path, ok, fill, body, missing) in objects {
        let path = format!("/admin/campaigns/{{slug}}/{path}");
        cases.push(case(method, &path, R::Scoped(ok), fill("second"), body));
        cases.push(case(method, &path, R::Foreign(missing), fill("third"), body));
    }
    // Last: it erases Alice, Bob and Carol, whose tokens then stop working.
    cases.push(case("DELETE", "/api/v1/me", R::AnyParticipant(204), F::None, B::None));
    cases
}

/// Minimal valid bodies, so an answer reflects authorization rather than validation.
mod bodies {
    use serde_json::{Value, json};

    use crate::{admin_support::campaign_body, helpers::today};

    pub fn wechat() -> Value {
        json!({ "code": "ok-o_authz_login" })
    }
    pub fn dev() -> Value {
        json!({ "openid": "o_authz_dev" })
    }
    pub fn organiser() -> Value {
        json!({ "username": "olga", "password": "password123" })
    }
    pub fn profile() -> Value {
        json!({ "display_name": "Renamed" })
    }
    pub fn days() -> Value {
        json!({ "days": [{ "date": today().to_string(), "steps": 4321 }] })
    }
    pub fn campaign(n: usize) -> Value {
        campaign_body(&format!("made-{n}"), "individual")
    }
    pub fn description() -> Value {
        json!({ "description": "Checked" })
    }
    pub fn image() -> Value {
        json!({ "image_url": "https://example.com/ruijin.png" })
    }
    pub fn title() -> Value {
        json!({ "title": "Renamed" })
    }
    pub fn cohort(n: usize) -> Value {
        json!({ "name": format!("新班{n}") })
    }
    pub fn tree() -> String {
        "path,join_code\n学院/一班,SEC01\n".to_owned()
    }
    pub fn roster() -> String {
        "student_no,display_name,cohort_path\nSN-ZED-9,Zed,学院/一班\n".to_owned()
    }
    pub fn steps() -> String {
        format!("student_no,date,steps\nSN-ALICE-1,{},777\n", today())
    }
}

fn route_doc(n: usize) -> Value {
    json!({
        "slug": format!("trail-{n}"),
        "name": format!("Trail {n}"),
        "stations": [
            { "seq": 1, "name": "A", "metres": 0, "title": "Start", "story": "Go." },
            { "seq": 2, "name": "B", "metres": 5000, "title": "End", "story": "Done." }
        ]
    })
}

/// The objects and callers of the matrix.
struct Fixture {
    app: TestApp,
    tokens: Vec<(Who, String)>,
    builtin_route: i32,
    second_id: i32,
    /// Student numbers and openids of the participants (none may leak to another).
    secrets: Vec<(Who, &'static str, &'static str)>,
    counter: std::cell::Cell<usize>,
}

impl Fixture {
    fn token(&self, who: Who) -> Option<&str> {
        self.tokens.iter().find(|(w, _)| *w == who).map(|(_, t)| t.as_str())
    }

    fn admin(&self) -> &str {
        self.token(Who::Admin).expect("admin token")
    }

    fn olga(&self) -> &str {
        self.token(Who::Olga).expect("olga token")
    }

    fn next(&self) -> usize {
        let n = self.counter.get() + 1;
        self.counter.set(n);
        n
    }
}

async fn join(app: &TestApp, slug: &str, token: &str, body: Value) {
    let resp = app
        .post_auth(&format!("/api/v1/campaigns/{slug}/join"), token, &body)
        .await;
    assert_eq!(
        resp.status(),
        200,
        "join {slug}: {}",
        resp.text().await.unwrap_or_default()
    );
}

async fn fixture() -> Fixture {
    let app = spawn_with_wechat().await;
    let admin = organiser_token(&app, "root", "admin").await;
    let olga = organiser_token(&app, "olga", "organiser").await;
    let sam = organiser_token(&app, "sam", "organiser").await;
    organiser_token(&app, "guest", "organiser").await;
    let mut second = campaign_body("second", "cohort_total");
    second["title"] = json!("Second");
    let resp = app.post_auth("/api/v1/admin/campaigns", &olga, &second).await;
    assert_eq!(resp.status(), 201);
    let second_id = json(resp).await["id"].as_i64().expect("id") as i32;
    let resp = crate::admin_support::post_csv(
        &app,
        "/api/v1/admin/campaigns/second/cohorts/import",
        &olga,
        "path,join_code\n学院/一班,SEC01\n",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post_auth("/api/v1/admin/campaigns/second/activate", &olga, &json!({}))
        .await;
    assert_eq!(resp.status(), 200);
    active_campaign(&app, &sam, "third", "individual").await;
    active_campaign(&app, &admin, "open", "individual").await;

    let alice = wechat_login(&app, "o_authz_alice").await;
    let bob = wechat_login(&app, "o_authz_bob").await;
    let carol = wechat_login(&app, "o_authz_carol").await;
    for (token, code, no) in [(&alice, "DEMO01", "SN-ALICE-1"), (&bob, "DEMO02", "SN-BOB-2")] {
        join(&app, DEMO, token, json!({ "join_code": code, "student_no": no })).await;
        join(&app, "second", token, json!({ "join_code": "SEC01" })).await;
    }
    // Step days of `second` to void and restore.
    let days: Vec<Value> = (0..8)
        .map(|i| json!({ "date": (today() - chrono::Duration::days(i)).to_string(), "steps": 1000 + i }))
        .collect();
    let resp = app
        .post_auth("/api/v1/campaigns/second/steps", &alice, &json!({ "days": days }))
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .post_auth("/api/v1/admin/campaigns/second/board-token", &olga, &json!({}))
        .await;
    assert!(resp.status().is_success());
    let board = json(resp).await["token"].as_str().expect("board token").to_owned();
    let builtin_route = json(app.get_auth("/api/v1/admin/routes", &admin).await).await["items"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["slug"] == "long-march")
        .and_then(|r| r["id"].as_i64())
        .expect("built-in route") as i32;
    Fixture {
        app,
        tokens: vec![
            (Who::Alice, alice),
            (Who::Bob, bob),
            (Who::Carol, carol),
            (Who::Board, board),
            (Who::Sam, sam),
            (Who::Olga, olga),
            (Who::Admin, admin),
        ],
        builtin_route,
        second_id,
        secrets: vec![
            (Who::Alice, "SN-ALICE-1", "o_authz_alice"),
            (Who::Bob, "SN-BOB-2", "o_authz_bob"),
            (Who::Carol, "SN-CAROL-3", "o_authz_carol"),
        ],
        counter: std::cell::Cell::new(0),
    }
}

/// Fills the case's path parameters, creating throwaway objects where the call may change them.
async fn concrete(fx: &Fixture, case: &Case) -> String {
    let app = &fx.app;
    let n = fx.next();
    let (slug, id, username): (String, String, &str) = match case.fill {
        Fill::None => (String::new(), String::new(), ""),
        Fill::Slug(s) => (s.to_owned(), String::new(), ""),
        Fill::Draft => {
            let slug = format!("draft-{n}");
            create_campaign(app, fx.olga(), &slug, "individual").await;
            (slug, String::new(), "")
        }
        Fill::Active => {
            let slug = format!("live-{n}");
            active_campaign(app, fx.olga(), &slug, "individual").await;
            (slug, String::new(), "")
        }
        Fill::Grant => ("second".to_owned(), String::new(), "guest"),
        Fill::BuiltinRoute => (String::new(), fx.builtin_route.to_string(), ""),
        Fill::FreshRoute => {
            let resp = app
                .post_auth("/api/v1/admin/routes", fx.admin(), &route_doc(1000 + n))
                .await;
            assert_eq!(resp.status(), 201);
            (String::new(), json(resp).await["id"].to_string(), "")
        }
        Fill::Cohort(slug) => {
            let resp = app
                .post_auth(
                    "/api/v1/admin/campaigns/second/cohorts",
                    fx.admin(),
                    &json!({ "name": format!("临时{n}") }),
                )
                .await;
            assert_eq!(resp.status(), 201);
            (slug.to_owned(), json(resp).await["id"].to_string(), "")
        }
        Fill::StepDay(slug, voided) => {
            let id = step_day(fx, voided).await;
            (slug.to_owned(), id.to_string(), "")
        }
        Fill::Member(slug, suspended) => {
            let token = crate::helpers::dev_login(app, &format!("o_authz_member_{n}")).await;
            join(app, "second", &token, json!({ "join_code": "SEC01" })).await;
            let id = json(app.get_auth("/api/v1/me", &token).await).await["id"].to_string();
            if suspended {
                let resp = app
                    .post_auth(
                        &format!("/api/v1/admin/campaigns/second/participants/{id}/suspend"),
                        fx.admin(),
                        &reason(),
                    )
                    .await;
                assert_eq!(resp.status(), 200);
            }
            (slug.to_owned(), id, "")
        }
    };
    case.path
        .replace("{slug}", &slug)
        .replace("{id}", &id)
        .replace("{seq}", "1")
        .replace("{username}", username)
}

/// A step day of `second`, voided or not (voiding one through the API when none is).
async fn step_day(fx: &Fixture, voided: bool) -> i32 {
    let find = |v: bool| {
        step_days::Entity::find()
            .filter(step_days::Column::CampaignId.eq(fx.second_id))
            .filter(step_days::Column::Voided.eq(v))
            .order_by_asc(step_days::Column::Id)
            .one(&fx.app.db)
    };
    if let Some(d) = find(voided).await.expect("query") {
        return d.id;
    }
    let open = find(false).await.expect("query").expect("an open step day");
    if !voided {
        return open.id;
    }
    let resp = fx
        .app
        .post_auth(
            &format!("/api/v1/admin/campaigns/second/step-days/{}/void", open.id),
            fx.admin(),
            &reason(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    open.id
}

async fn send(fx: &Fixture, case: &Case, who: Who, path: &str) -> Response {
    let app = &fx.app;
    let method = Method::from_bytes(case.method.as_bytes()).expect("method");
    let mut req = app.client.request(method, app.url(path));
    if let Some(token) = fx.token(who) {
        req = req.bearer_auth(token);
    }
    req = match case.body {
        Body::None => req,
        Body::Json(f) => req.json(&f()),
        Body::Fresh(f) => req.json(&f(fx.next())),
        Body::Csv(f) => req.header("content-type", "text/csv").body(f()),
        Body::Werun => {
            let entries = [(midnight(0), 3000), (midnight(-1), 2000)];
            req.json(&werun_payload(&entries, wechat_mock::APPID, Utc::now().timestamp()))
        }
    };
    req.send().await.expect("request")
}

/// Keys no answer may carry, to anyone.
const SECRET_KEYS: [&str; 6] = [
    "openid",
    "open_id",
    "session_key",
    "password",
    "password_hash",
    "unionid",
];

fn walk_keys(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                    found.push(format!("{path}.{k}"));
                }
                walk_keys(v, &format!("{path}.{k}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk_keys(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// What a caller may not see in a body: secret keys anywhere; any participant's openid or the
/// WeChat session key; and, unless an organiser asks, other participants' student numbers.
fn check_leaks(fx: &Fixture, who: Who, label: &str, body: &str) {
    use base64::Engine as _;
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        let mut found = Vec::new();
        walk_keys(&value, "$", &mut found);
        assert!(found.is_empty(), "{label}: secret fields {found:?} in {body}");
    }
    let session_key = base64::engine::general_purpose::STANDARD.encode(wechat_mock::SESSION_KEY);
    assert!(!body.contains(&session_key), "{label}: the session key leaked");
    assert!(!body.contains("$argon2"), "{label}: a password hash leaked");
    for (owner, student_no, openid) in &fx.secrets {
        assert!(
            !body.contains(openid),
            "{label}: the openid of {owner:?} leaked: {body}"
        );
        if !matches!(who, Who::Olga | Who::Admin | Who::Sam) && *owner != who {
            assert!(
                !body.contains(student_no),
                "{label}: the student number of {owner:?} reached {who:?}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_route_answers_each_kind_of_caller_as_intended() {
    let fx = fixture().await;
    // Give Carol a student number too: it must never reach anyone else.
    let resp = fx
        .app
        .patch_auth(
            "/api/v1/me",
            fx.token(Who::Carol).expect("carol"),
            &json!({ "student_no": "SN-CAROL-3" }),
        )
        .await;
    assert_eq!(resp.status(), 200);

    let spec = json(fx.app.get("/api-docs/openapi.json").await).await;
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                documented.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let cases = cases();
    let covered: BTreeSet<(String, String)> = cases.iter().map(|c| (c.method.to_owned(), c.path.clone())).collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes with no row in the authorization table: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(stale.is_empty(), "rows for routes the spec no longer has: {stale:?}");

    let mut failures = Vec::new();
    let mut calls = 0;
    for case in &cases {
        for who in EVERYONE {
            let path = concrete(&fx, case).await;
            let label = format!("{} {path} as {who:?}", case.method);
            let (status, code) = expected(case.rule, who);
            let resp = send(&fx, case, who, &path).await;
            calls += 1;
            let actual = resp.status().as_u16();
            let www = resp.headers().contains_key("www-authenticate");
            let problem = resp
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
            if case.path.ends_with("/events") && actual == 200 {
                // A live stream: its status is the answer; don't wait for the body.
                drop(resp);
                if status != 200 {
                    failures.push(format!("{label}: 200, expected {status} {code}"));
                }
                continue;
            }
            let text = resp.text().await.expect("body");
            if actual != status {
                failures.push(format!("{label}: {actual}, expected {status} {code}: {text}"));
                continue;
            }
            if !code.is_empty() {
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if !problem || body["code"] != code || !body["detail"].is_string() {
                    failures.push(format!("{label}: expected a problem with code {code}: {text}"));
                }
            }
            if status == 401 && !www {
                failures.push(format!("{label}: 401 without WWW-Authenticate"));
            }
            check_leaks(&fx, who, &label, &text);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls answered unexpectedly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_forged_or_foreign_token_is_refused_everywhere_with_401() {
    let fx = fixture().await;
    let foreign = {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims = json!({
            "sub": "1", "role": "admin", "iss": "longmarch", "aud": "longmarch-api",
            "exp": Utc::now().timestamp() + 3600, "iat": Utc::now().timestamp(),
        });
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"someone-elses-secret-of-32-bytes!!").expect("key"),
        )
        .expect("encode")
    };
    for case in cases().iter().filter(|c| !matches!(c.rule, Rule::Public(_))) {
        let path = concrete(&fx, case).await;
        for token in [foreign.as_str(), "not-a-jwt"] {
            let method = Method::from_bytes(case.method.as_bytes()).expect("method");
            let resp = fx
                .app
                .client
                .request(method, fx.app.url(&path))
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status(), 401, "{} {path}", case.method);
            assert!(resp.headers().contains_key("www-authenticate"), "{path}");
            assert_eq!(json(resp).await["code"], "invalid_token", "{path}");
        }
    }
}
