//! Leaderboards: competition ranking with ties, day period, cohort subtree filter, the
//! caller's own rank, cohort boards, and who sees which fields.

use chrono::{Duration, Utc};
use longmarch::models::{cohorts, enrollments};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use crate::helpers::{DEMO, TestApp, assert_problem, dev_login, json, organiser_token, spawn_app, today};

/// `today - n` as `YYYY-MM-DD`.
pub fn day(n: i64) -> String {
    (today() - Duration::days(n)).to_string()
}

/// Logs in, joins the demo campaign with `code` under `name`; returns the token.
pub async fn participant(app: &TestApp, openid: &str, name: &str, student_no: &str, code: &str) -> String {
    let token = dev_login(app, openid).await;
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/join"),
            &token,
            &json!({ "join_code": code, "display_name": name, "student_no": student_no }),
        )
        .await;
    assert_eq!(resp.status(), 200, "join: {}", resp.text().await.unwrap_or_default());
    token
}

/// Uploads manual steps `(days ago, steps)`; returns the answer.
pub async fn upload(app: &TestApp, token: &str, days: &[(i64, i64)]) -> Value {
    let days: Vec<Value> = days
        .iter()
        .map(|(ago, steps)| json!({ "date": day(*ago), "steps": steps }))
        .collect();
    let resp = app
        .post_auth(
            &format!("/api/v1/campaigns/{DEMO}/steps"),
            token,
            &json!({ "days": days }),
        )
        .await;
    let status = resp.status();
    let body = json(resp).await;
    assert_eq!(status, 200, "upload: {body}");
    assert!(
        body["rejected"].as_array().is_some_and(Vec::is_empty),
        "rejected: {body}"
    );
    body
}

/// The id of a demo cohort by path.
pub async fn cohort_id(app: &TestApp, path: &str) -> i32 {
    cohorts::Entity::find()
        .filter(cohorts::Column::Path.eq(path))
        .one(&app.db)
        .await
        .expect("query")
        .expect("cohort")
        .id
}

async fn board(app: &TestApp, token: &str, query: &str) -> Value {
    let resp = app
        .get_auth(
            &format!("/api/v1/campaigns/{DEMO}/leaderboards/participants{query}"),
            token,
        )
        .await;
    let status = resp.status();
    let body = json(resp).await;
    assert_eq!(status, 200, "board: {body}");
    body
}

fn names_ranks(body: &Value) -> Vec<(String, u64)> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            (
                r["display_name"].as_str().expect("name").to_owned(),
                r["rank"].as_u64().expect("rank"),
            )
        })
        .collect()
}

/// Four walkers: 安 10,000; 白 and 陈 8,000 each (陈 first walked a day earlier); 丁 5,000.
async fn four_walkers(app: &TestApp) -> Vec<String> {
    let a = participant(app, "o-an", "安", "S001", "DEMO01").await;
    let b = participant(app, "o-bai", "白", "S002", "DEMO02").await;
    let c = participant(app, "o-chen", "陈", "S003", "DEMO03").await;
    let d = participant(app, "o-ding", "丁", "S004", "DEMO04").await;
    upload(app, &a, &[(1, 10_000)]).await;
    upload(app, &b, &[(1, 4_000), (2, 4_000)]).await;
    upload(app, &c, &[(3, 8_000)]).await;
    upload(app, &d, &[(1, 5_000)]).await;
    vec![a, b, c, d]
}

#[tokio::test]
async fn equal_steps_share_a_rank_and_keep_a_stable_order_across_pages() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    let body = board(&app, &t[0], "").await;
    assert_eq!(body["total"], 4);
    assert_eq!(
        names_ranks(&body),
        vec![("安".into(), 1), ("陈".into(), 2), ("白".into(), 2), ("丁".into(), 4)],
        "陈 reached the start earlier, so is listed before 白: {body}"
    );
    let page = board(&app, &t[0], "?limit=2&offset=2").await;
    assert_eq!(names_ranks(&page), vec![("白".into(), 2), ("丁".into(), 4)]);
    let page = board(&app, &t[0], "?limit=1&offset=1").await;
    assert_eq!(names_ranks(&page), vec![("陈".into(), 2)]);
    assert_eq!(body["items"][0]["counted_steps"], 10_000);
    assert_eq!(body["items"][0]["metres"], 555_555);
    assert_eq!(body["items"][0]["is_me"], true);
    assert_eq!(body["items"][1]["is_me"], false);
}

#[tokio::test]
async fn suspended_participants_are_left_out() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    enrollments::Entity::update_many()
        .col_expr(enrollments::Column::Status, Expr::value("suspended"))
        .filter(enrollments::Column::TotalCounted.eq(10_000))
        .exec(&app.db)
        .await
        .expect("suspend");
    let body = board(&app, &t[1], "").await;
    assert_eq!(body["total"], 3);
    assert_eq!(
        names_ranks(&body),
        vec![("陈".into(), 1), ("白".into(), 1), ("丁".into(), 3)]
    );
    let me = app
        .get_auth(&format!("/api/v1/campaigns/{DEMO}/leaderboards/participants/me"), &t[0])
        .await;
    assert_problem(me, 403, "participant_suspended").await;
}

#[tokio::test]
async fn day_board_ranks_the_steps_of_that_date_only() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    let body = board(&app, &t[0], &format!("?period=day&date={}", day(1))).await;
    assert_eq!(body["period"], "day");
    assert_eq!(body["date"], day(1));
    assert_eq!(
        names_ranks(&body),
        vec![("安".into(), 1), ("丁".into(), 2), ("白".into(), 3)]
    );
    assert_eq!(body["items"][2]["counted_steps"], 4_000);
    let body = board(&app, &t[0], &format!("?period=day&date={}", day(3))).await;
    assert_eq!(names_ranks(&body), vec![("陈".into(), 1)]);
    let body = board(&app, &t[0], "?period=day").await;
    assert_eq!(body["date"], day(0));
    assert_eq!(body["total"], 0);
}

#[tokio::test]
async fn cohort_filter_covers_the_whole_subtree() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    let college = cohort_id(&app, "计算机学院").await;
    let body = board(&app, &t[0], &format!("?cohort={college}")).await;
    assert_eq!(names_ranks(&body), vec![("安".into(), 1), ("白".into(), 2)]);
    assert_eq!(body["items"][1]["cohort"], "网络2302");
    let class = cohort_id(&app, "商学院/会计2302").await;
    let body = board(&app, &t[0], &format!("?cohort={class}")).await;
    assert_eq!(names_ranks(&body), vec![("丁".into(), 1)]);
    let resp = app
        .get_auth(
            &format!("/api/v1/campaigns/{DEMO}/leaderboards/participants?cohort=999999"),
            &t[0],
        )
        .await;
    assert_problem(resp, 404, "cohort_not_found").await;
}

#[tokio::test]
async fn participants_see_names_only_and_organisers_also_student_numbers() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    let body = board(&app, &t[0], "").await;
    for row in body["items"].as_array().expect("items") {
        let keys: Vec<&str> = row.as_object().expect("row").keys().map(String::as_str).collect();
        assert!(
            !keys.contains(&"student_no"),
            "no student number for participants: {row}"
        );
        assert!(
            !keys.iter().any(|k| k.contains("id") || k.contains("openid")),
            "no ids for participants: {row}"
        );
    }
    let admin = organiser_token(&app, "alice", "admin").await;
    let body = board(&app, &admin, "").await;
    assert_eq!(body["items"][0]["student_no"], "S001");
    assert_eq!(body["items"][0]["is_me"], false);

    // An organiser without access can't tell the campaign exists.
    let bob = organiser_token(&app, "bob", "organiser").await;
    let resp = app
        .get_auth(&format!("/api/v1/campaigns/{DEMO}/leaderboards/participants"), &bob)
        .await;
    assert_problem(resp, 404, "campaign_not_found").await;
    // A participant who has not joined is refused; nobody without a token gets in.
    let outsider = dev_login(&app, "o-outsider").await;
    let resp = app
        .get_auth(
            &format!("/api/v1/campaigns/{DEMO}/leaderboards/participants"),
            &outsider,
        )
        .await;
    assert_problem(resp, 403, "not_enrolled").await;
    let resp = app
        .get(&format!("/api/v1/campaigns/{DEMO}/leaderboards/participants"))
        .await;
    assert_problem(resp, 401, "missing_token").await;
}

#[tokio::test]
async fn bad_board_queries_answer_invalid_query() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    for q in [
        "?period=week",
        "?period=day&date=2026-02-30",
        "?limit=0",
        "?limit=101",
        "?offset=-3",
        "?cohort=abc",
        "?limit=ten",
    ] {
        let resp = app
            .get_auth(&format!("/api/v1/campaigns/{DEMO}/leaderboards/participants{q}"), &t[0])
            .await;
        assert_problem(resp, 400, "invalid_query").await;
    }
    let resp = app
        .get_auth(
            &format!("/api/v1/campaigns/{DEMO}/leaderboards/cohorts?metric=speed"),
            &t[0],
        )
        .await;
    assert_problem(resp, 400, "invalid_query").await;
}

#[tokio::test]
async fn my_rank_has_two_neighbours_each_side() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    let e = participant(&app, "o-e", "鄂", "S005", "DEMO01").await;
    upload(&app, &e, &[(1, 1_000)]).await;
    // 白 is third in board order (rank 2, tied with 陈).
    let resp = app
        .get_auth(&format!("/api/v1/campaigns/{DEMO}/leaderboards/participants/me"), &t[1])
        .await;
    let body = json(resp).await;
    assert_eq!(body["rank"], 2, "{body}");
    assert_eq!(body["total"], 5);
    assert_eq!(body["me"]["display_name"], "白");
    assert_eq!(body["me"]["is_me"], true);
    let above: Vec<(String, u64)> = body["above"]
        .as_array()
        .expect("above")
        .iter()
        .map(|r| {
            (
                r["display_name"].as_str().expect("n").to_owned(),
                r["rank"].as_u64().expect("r"),
            )
        })
        .collect();
    assert_eq!(above, vec![("安".into(), 1), ("陈".into(), 2)]);
    let below: Vec<(String, u64)> = body["below"]
        .as_array()
        .expect("below")
        .iter()
        .map(|r| {
            (
                r["display_name"].as_str().expect("n").to_owned(),
                r["rank"].as_u64().expect("r"),
            )
        })
        .collect();
    assert_eq!(below, vec![("丁".into(), 4), ("鄂".into(), 5)]);
    // The leader has nobody above.
    let resp = app
        .get_auth(&format!("/api/v1/campaigns/{DEMO}/leaderboards/participants/me"), &t[0])
        .await;
    let body = json(resp).await;
    assert_eq!(body["rank"], 1);
    assert_eq!(body["above"], json!([]));
    assert_eq!(body["below"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn cohort_board_ranks_children_by_each_metric() {
    let app = spawn_app().await;
    let t = four_walkers(&app).await;
    let extra = participant(&app, "o-f", "傅", "S006", "DEMO04").await;
    upload(&app, &extra, &[(1, 100)]).await;
    let path = format!("/api/v1/campaigns/{DEMO}/leaderboards/cohorts");
    // Top level: 计算机学院 18,000 (2 members) vs 商学院 13,100 (3 members).
    let body = json(app.get_auth(&path, &t[0]).await).await;
    assert_eq!(body["metric"], "total");
    assert_eq!(body["total"], 2);
    assert_eq!(body["items"][0]["name"], "计算机学院");
    assert_eq!(body["items"][0]["counted_steps"], 18_000);
    assert_eq!(body["items"][0]["mean_steps"], 9_000);
    assert_eq!(body["items"][0]["has_children"], true);
    assert_eq!(body["items"][1]["mean_steps"], 4_366);
    assert_eq!(body["items"][1]["participation_percent"], 100.0);
    // By mean within 商学院: 电商2301 8,000 vs 会计2302 (5,000 + 100) / 2.
    let biz = cohort_id(&app, "商学院").await;
    let body = json(app.get_auth(&format!("{path}?parent={biz}&metric=mean"), &t[0]).await).await;
    let names: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["电商2301", "会计2302"]);
    assert_eq!(body["items"][1]["mean_steps"], 2_550);
    assert!(body["items"][0]["position"]["metres"].is_i64());
    // Progress follows metres; ties share a rank.
    let body = json(app.get_auth(&format!("{path}?metric=participation"), &t[0]).await).await;
    assert_eq!(body["items"][0]["rank"], 1);
    assert_eq!(body["items"][1]["rank"], 1);
    let resp = app.get_auth(&format!("{path}?parent=424242"), &t[0]).await;
    assert_problem(resp, 404, "cohort_not_found").await;
}

/// Measures ranking one participant among 100,000 (`cargo test --test api -- --ignored
/// ranking_among_100k --nocapture`).
#[tokio::test]
#[ignore = "benchmark: inserts 100,000 enrollments"]
async fn ranking_among_100k_stays_cheap() {
    use longmarch::{
        models::{campaigns, participants},
        services::boards::scope::{Period, Scope},
    };
    use rand::Rng;
    use sea_orm::{QueryOrder, Set};
    const N: i32 = 100_000;
    let app = spawn_app().await;
    let campaign = campaigns::Model::find_by_slug(&app.db, DEMO)
        .await
        .expect("query")
        .expect("demo");
    let class = cohort_id(&app, "计算机学院/软件2301").await;
    let now = Utc::now();
    let started = std::time::Instant::now();
    let mut rng = rand::rng();
    for chunk in (0..N).collect::<Vec<_>>().chunks(2_000) {
        let people = chunk.iter().map(|i| participants::ActiveModel {
            openid: Set(format!("bench-{i}")),
            display_name: Set(format!("走者{i}")),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(now),
            ..Default::default()
        });
        participants::Entity::insert_many(people)
            .exec(&app.db)
            .await
            .expect("participants");
    }
    let ids: Vec<i32> = participants::Entity::find()
        .order_by_asc(participants::Column::Id)
        .all(&app.db)
        .await
        .expect("ids")
        .into_iter()
        .map(|p| p.id)
        .collect();
    for chunk in ids.chunks(2_000) {
        let rows: Vec<enrollments::ActiveModel> = chunk
            .iter()
            .map(|id| {
                let counted = rng.random_range(0..1_000_000_i64);
                enrollments::ActiveModel {
                    campaign_id: Set(campaign.id),
                    participant_id: Set(*id),
                    cohort_id: Set(Some(class)),
                    status: Set(enrollments::EnrollmentStatus::Active),
                    total_steps: Set(counted),
                    total_counted: Set(counted),
                    days_active: Set(1),
                    metres: Set(counted * 1000 / 18),
                    stations_reached: Set(1),
                    joined_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
            })
            .collect();
        enrollments::Entity::insert_many(rows)
            .exec(&app.db)
            .await
            .expect("enrollments");
    }
    eprintln!("inserted {N} enrollments in {:?}", started.elapsed());
    // As autovacuum would after a bulk load: planner statistics and the visibility map
    // (PostgreSQL index-only scans need it).
    let analyse = if app.database.is_postgres() {
        "VACUUM ANALYZE enrollments"
    } else {
        "ANALYZE"
    };
    sea_orm::ConnectionTrait::execute_unprepared(&app.db, analyse)
        .await
        .expect("analyse");
    let scope = Scope {
        campaign_id: campaign.id,
        period: Period::Total,
        cohorts: None,
    };
    for (label, score) in [("top", 999_999_i64), ("middle", 500_000), ("bottom", 0)] {
        let t = std::time::Instant::now();
        let reps = 20;
        let mut rank = 0;
        for _ in 0..reps {
            rank = scope.rank_of(&app.db, score).await.expect("rank");
        }
        eprintln!(
            "rank of a {label} participant: {rank} in {:?} per query",
            t.elapsed() / reps
        );
    }
    let t = std::time::Instant::now();
    let page = scope.page(&app.db, 20, 0).await.expect("page");
    eprintln!("board top page: {} rows in {:?}", page.len(), t.elapsed());
    let t = std::time::Instant::now();
    let page = scope.page(&app.db, 20, 50_000).await.expect("page");
    eprintln!("board page at offset 50,000: {} rows in {:?}", page.len(), t.elapsed());
    let token = dev_login(&app, "bench-50000").await;
    let t = std::time::Instant::now();
    let resp = app
        .get_auth(
            &format!("/api/v1/campaigns/{DEMO}/leaderboards/participants/me"),
            &token,
        )
        .await;
    let body = json(resp).await;
    eprintln!(
        "GET …/participants/me (rank {} of {}) over HTTP in {:?}",
        body["rank"],
        body["total"],
        t.elapsed()
    );
}
