//! Stations' WGS84 coordinates: the built-in route has them, route imports (JSON and CSV)
//! and station edits take them as a validated pair, and the public outline shows them.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::admin_support::post_csv;
use crate::helpers::{DEMO, assert_problem, json, organiser_token, spawn_app};

fn doc(slug: &str, stations: Value) -> Value {
    json!({ "slug": slug, "name": "Lake loop", "stations": stations })
}

#[tokio::test]
async fn the_public_outline_places_every_station_of_the_built_in_route() {
    let app = spawn_app().await;
    let body = json(app.get(&format!("/api/v1/campaigns/{DEMO}")).await).await;
    let stations = body["stations"].as_array().expect("stations");
    assert_eq!(stations.len(), 36);
    for s in stations {
        let (lat, lon) = (s["lat"].as_f64().expect("lat"), s["lon"].as_f64().expect("lon"));
        // Everything of the Long March lies in south-west, west and north-west China.
        assert!((24.0..38.0).contains(&lat) && (101.0..117.0).contains(&lon), "{s}");
    }
    assert_eq!(stations[0]["name"], "瑞金出发");
    assert!((stations[0]["lat"].as_f64().unwrap() - 25.885).abs() < 0.1);
    assert!((stations[35]["lon"].as_f64().unwrap() - 108.176).abs() < 0.1);
    assert!(body["distance_note"].as_str().unwrap().contains("近似位置"));
}

#[tokio::test]
async fn a_json_route_keeps_its_coordinates_and_refuses_half_or_out_of_range_pairs() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let ok = doc(
        "lake-loop",
        json!([
            { "seq": 1, "name": "Start", "metres": 0, "lat": 30.5, "lon": -104.25 },
            { "seq": 2, "name": "Bridge", "metres": 5000 },
            { "seq": 3, "name": "End", "metres": 9000, "lat": -90, "lon": 180 }
        ]),
    );
    let resp = app.post_auth("/api/v1/admin/routes", &alice, &ok).await;
    assert_eq!(resp.status(), 201);
    let route = json(resp).await;
    assert_eq!(route["stations"][0]["lat"], 30.5);
    assert_eq!(route["stations"][0]["lon"], -104.25);
    assert!(route["stations"][1]["lat"].is_null() && route["stations"][1]["lon"].is_null());
    assert_eq!(route["stations"][2]["lat"], -90.0);
    let id = route["id"].as_i64().unwrap();
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT lat, lon FROM stations WHERE route_id = {id} AND seq = 1"),
        ))
        .await
        .expect("query")
        .expect("row");
    assert_eq!(row.try_get::<Option<f64>>("", "lat").expect("lat"), Some(30.5));
    assert_eq!(row.try_get::<Option<f64>>("", "lon").expect("lon"), Some(-104.25));

    for (n, bad) in [
        json!({ "lat": 30.5 }),
        json!({ "lon": 104.0 }),
        json!({ "lat": 90.5, "lon": 0 }),
        json!({ "lat": 0, "lon": -180.01 }),
        json!({ "lat": 30.5, "lon": null }),
    ]
    .into_iter()
    .enumerate()
    {
        let mut station = json!({ "seq": 2, "name": "Bridge", "metres": 5000 });
        for (k, v) in bad.as_object().unwrap() {
            station[k] = v.clone();
        }
        let body = doc(
            &format!("bad-{n}"),
            json!([{ "seq": 1, "name": "Start", "metres": 0 }, station]),
        );
        let problem = assert_problem(
            app.post_auth("/api/v1/admin/routes", &alice, &body).await,
            422,
            "invalid_coordinates",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "stations[seq=2]", "{bad}");
    }
    assert_problem(
        app.post_auth(
            "/api/v1/admin/routes",
            &alice,
            &doc("bad-type", json!([{ "seq": 1, "name": "S", "metres": 0, "lat": "north", "lon": 1 }, { "seq": 2, "name": "E", "metres": 1 }])),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
    let list = json(app.get_auth("/api/v1/admin/routes", &alice).await).await;
    assert_eq!(list["total"], 2, "nothing of the refused routes was stored: {list}");
}

#[tokio::test]
async fn a_csv_route_takes_an_optional_lat_lon_pair_and_names_bad_lines() {
    let app = spawn_app().await;
    let alice = organiser_token(&app, "alice", "organiser").await;
    let csv = "seq,name,metres,event_date,title,story,image_url,lat,lon\r\n\
               1,起点,0,1934-10-10,出发,,,25.885,116.027\r\n\
               2,中途,500,,,,,,\r\n\
               3,终点,1000,,到达,,,36.927,108.176\r\n";
    let resp = post_csv(&app, "/api/v1/admin/routes?slug=geo&name=Geo", &alice, csv).await;
    assert_eq!(resp.status(), 201);
    let route = json(resp).await;
    assert_eq!(route["stations"][0]["lat"], 25.885);
    assert_eq!(route["stations"][0]["lon"], 116.027);
    assert!(route["stations"][1]["lat"].is_null());
    assert_eq!(route["stations"][2]["lon"], 108.176);

    let bad = "seq,name,metres,event_date,title,story,image_url,lat,lon\n\
               1,a,0,,,,,25.8,\n\
               2,b,10,,,,,95,100\n\
               3,c,20,,,,,25,east\n\
               4,d,30,,,,,25,100\n";
    let problem = assert_problem(
        post_csv(&app, "/api/v1/admin/routes?slug=geo2&name=G", &alice, bad).await,
        422,
        "csv_invalid",
    )
    .await;
    let lines: Vec<(i64, &str)> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["line"].as_i64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (2, "invalid_coordinates"),
            (3, "invalid_coordinates"),
            (4, "invalid_coordinates")
        ]
    );
    // The seven-column header of before still works; an unknown one is named.
    let old = "seq,name,metres,event_date,title,story,image_url\n1,a,0,,,,\n2,b,10,,,,\n";
    let resp = post_csv(&app, "/api/v1/admin/routes?slug=geo3&name=G", &alice, old).await;
    assert_eq!(resp.status(), 201);
    assert!(json(resp).await["stations"][0]["lat"].is_null());
    assert_problem(
        post_csv(
            &app,
            "/api/v1/admin/routes?slug=geo4&name=G",
            &alice,
            "seq,name,metres,event_date,title,story,image_url,lat\n1,a,0,,,,,1\n",
        )
        .await,
        422,
        "csv_header",
    )
    .await;
}

#[tokio::test]
async fn a_station_edit_moves_clears_or_refuses_its_position_even_while_the_route_is_walked() {
    let app = spawn_app().await;
    let admin = organiser_token(&app, "root", "admin").await;
    let routes = json(app.get_auth("/api/v1/admin/routes", &admin).await).await;
    let id = routes["items"][0]["id"].as_i64().unwrap();
    let st = format!("/api/v1/admin/routes/{id}/stations/12");
    // The demo campaign walks the built-in route: metres can't move, positions can.
    let resp = app.patch_auth(&st, &admin, &json!({ "lat": 27.7, "lon": 106.9 })).await;
    assert_eq!(resp.status(), 200);
    let view = json(resp).await;
    assert_eq!((view["lat"].clone(), view["lon"].clone()), (json!(27.7), json!(106.9)));
    let outline = json(app.get(&format!("/api/v1/campaigns/{DEMO}")).await).await;
    assert_eq!(outline["stations"][11]["lat"], 27.7);

    for bad in [
        json!({ "lat": 27.7 }),
        json!({ "lon": 106.9, "title": "x" }),
        json!({ "lat": null, "lon": 106.9 }),
        json!({ "lat": -91, "lon": 0 }),
        json!({ "lat": 0, "lon": 181 }),
    ] {
        assert_problem(app.patch_auth(&st, &admin, &bad).await, 422, "invalid_coordinates").await;
    }
    let view = json(app.patch_auth(&st, &admin, &json!({ "title": "遵义" })).await).await;
    assert_eq!(view["lat"], 27.7, "an edit without lat/lon keeps the position");

    let view = json(app.patch_auth(&st, &admin, &json!({ "lat": null, "lon": null })).await).await;
    assert!(view["lat"].is_null() && view["lon"].is_null());
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT summary FROM audit_log WHERE action = 'station.update' ORDER BY id DESC".to_owned(),
        ))
        .await
        .expect("query")
        .expect("the removal is audited");
    let summary: Value = serde_json::from_str(&row.try_get::<String>("", "summary").expect("summary")).expect("json");
    assert_eq!(summary["before"]["lat"], 27.7);
    assert!(summary["after"]["lat"].is_null());
}

#[tokio::test]
async fn a_built_in_route_stored_without_coordinates_gets_them_at_the_next_start() {
    let app = spawn_app().await;
    app.db
        .execute_unprepared("UPDATE stations SET lat = NULL, lon = NULL")
        .await
        .expect("clear");
    app.db
        .execute_unprepared("UPDATE stations SET name = 'Renamed' WHERE seq = 2")
        .await
        .expect("rename");
    let again = crate::helpers::spawn_app_on(&app.database_url()).await;
    let body = json(again.get(&format!("/api/v1/campaigns/{DEMO}")).await).await;
    let stations = body["stations"].as_array().expect("stations");
    assert_eq!(stations[0]["lat"], 25.885);
    assert!(
        stations[1]["lat"].is_null(),
        "a station an organiser renamed is not the built-in one any more"
    );
    assert_eq!(stations[35]["lat"], 36.927);
}
