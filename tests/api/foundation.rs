use crate::helpers::{assert_problem, json, spawn_app};

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
