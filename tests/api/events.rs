//! Live events (SSE): snapshots, unlocks, leaderboard changes, resume, access, and the
//! cross-instance path through PostgreSQL LISTEN/NOTIFY.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{DEMO, TestApp, assert_problem, json, organiser_token, spawn_app, spawn_app_on},
    leaderboards::{participant, upload},
};

/// One SSE frame with data.
#[derive(Debug)]
struct Frame {
    event: String,
    id: Option<String>,
    data: Value,
}

/// A minimal SSE reader over a streamed response.
struct Sse {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Sse {
    async fn connect(app: &TestApp, token: Option<&str>, query: &str, last_id: Option<&str>) -> Self {
        let mut req = app
            .client
            .get(app.url(&format!("/api/v1/campaigns/{DEMO}/events{query}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("connect");
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Self { resp, buf: Vec::new() }
    }

    /// The next frame with data (comments and `retry:` skipped), within 15 s.
    async fn next(&mut self) -> Frame {
        tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                    let text = String::from_utf8(block).expect("utf-8 frame");
                    let (mut event, mut id, mut data) = (String::from("message"), None, None);
                    for line in text.lines() {
                        if let Some(v) = line.strip_prefix("event: ") {
                            event = v.to_owned();
                        } else if let Some(v) = line.strip_prefix("id: ") {
                            id = Some(v.to_owned());
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            data = Some(serde_json::from_str(v).expect("json data"));
                        }
                    }
                    if let Some(data) = data {
                        return Frame { event, id, data };
                    }
                    continue;
                }
                let chunk = self.resp.chunk().await.expect("read").expect("stream open");
                self.buf.extend_from_slice(&chunk);
            }
        })
        .await
        .expect("an SSE frame within 15 s")
    }

    /// The next frame that is not a periodic `stats`.
    async fn next_event(&mut self) -> Frame {
        loop {
            let f = self.next().await;
            if f.event != "stats" {
                return f;
            }
        }
    }
}

async fn board_token(app: &TestApp, organiser_token: &str) -> String {
    let resp = app
        .post_auth(
            &format!("/api/v1/admin/campaigns/{DEMO}/board-token"),
            organiser_token,
            &json!({}),
        )
        .await;
    let body = json(resp).await;
    assert_eq!(body["campaign"], DEMO, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn a_screen_gets_snapshots_then_unlocks_then_the_changed_leaderboard() {
    let app = spawn_app().await;
    let admin = organiser_token(&app, "alice", "admin").await;
    let board = board_token(&app, &admin).await;
    let p = participant(&app, "o-1", "赵六", "S1", "DEMO01").await;
    let mut sse = Sse::connect(&app, None, &format!("?access_token={board}"), None).await;
    let first = sse.next().await;
    assert_eq!(first.event, "leaderboard");
    assert_eq!(
        first.data["participants"][0]["counted_steps"], 0,
        "enrolled, not yet walking"
    );
    assert_eq!(first.data["cohorts"].as_array().map(Vec::len), Some(2));
    let second = sse.next().await;
    assert_eq!(second.event, "stats");
    assert_eq!(second.data["enrolled"], 1);

    let answer = upload(&app, &p, &[(1, 9_000)]).await;
    assert_eq!(answer["newly_unlocked"][0]["seq"], 1, "{answer}");
    let unlock = sse.next_event().await;
    assert_eq!(unlock.event, "unlock", "{unlock:?}");
    assert!(unlock.id.is_some());
    assert_eq!(unlock.data["subject"], "cohort");
    assert_eq!(unlock.data["name"], "计算机学院/软件2301");
    assert_eq!(unlock.data["station_seq"], 1);
    assert_eq!(unlock.data["station_name"], "瑞金出发");
    // 9,000 steps walk 500 km at 18 steps a km: past stations 2 (234 km) and 3 (368 km)
    // too; all unlocks, in route order, come before the changed leaderboard.
    let mut seqs = vec![unlock.data["station_seq"].as_i64().expect("seq")];
    let board_event = loop {
        let f = sse.next_event().await;
        if f.event != "unlock" {
            break f;
        }
        seqs.push(f.data["station_seq"].as_i64().expect("seq"));
    };
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(board_event.event, "leaderboard");
    let top = &board_event.data["participants"][0];
    assert_eq!(top["display_name"], "赵六");
    assert_eq!(top["counted_steps"], 9_000);
    assert!(top.get("student_no").is_none(), "a screen never shows student numbers");
}

#[tokio::test]
async fn a_reconnecting_screen_resumes_after_its_last_event_id() {
    let app = spawn_app().await;
    let admin = organiser_token(&app, "alice", "admin").await;
    let a = participant(&app, "o-1", "甲", "S1", "DEMO01").await;
    let b = participant(&app, "o-2", "乙", "S2", "DEMO03").await;
    let mut sse = Sse::connect(&app, Some(&admin), "", None).await;
    assert_eq!(sse.next().await.event, "leaderboard");
    // Each upload unlocks stations 1 and 2 of its class.
    upload(&app, &a, &[(1, 5_000)]).await;
    upload(&app, &b, &[(1, 5_000)]).await;
    let mut unlocks = Vec::new();
    while unlocks.len() < 4 {
        let f = sse.next_event().await;
        if f.event == "unlock" {
            unlocks.push(f);
        }
    }
    let names: Vec<(&str, i64)> = unlocks
        .iter()
        .map(|u| {
            (
                u.data["name"].as_str().expect("name"),
                u.data["station_seq"].as_i64().expect("seq"),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("计算机学院/软件2301", 1),
            ("计算机学院/软件2301", 2),
            ("商学院/电商2301", 1),
            ("商学院/电商2301", 2)
        ]
    );
    drop(sse);

    let mut again = Sse::connect(&app, Some(&admin), "", unlocks[1].id.as_deref()).await;
    for expected in &unlocks[2..] {
        let replayed = again.next().await;
        assert_eq!(replayed.event, "unlock");
        assert_eq!(replayed.id, expected.id, "only what came after the last id, in order");
    }
    assert_eq!(again.next().await.event, "leaderboard");

    let mut lost = Sse::connect(&app, Some(&admin), "?last_event_id=gone", None).await;
    assert_eq!(lost.next().await.event, "resync");
    assert_eq!(lost.next().await.event, "leaderboard");
}

#[tokio::test]
async fn live_events_are_for_organisers_and_board_tokens_only() {
    let app = spawn_app().await;
    let p = participant(&app, "o-1", "甲", "S1", "DEMO01").await;
    let path = format!("/api/v1/campaigns/{DEMO}/events");
    assert_problem(app.get_auth(&path, &p).await, 403, "organiser_only").await;
    assert_problem(app.get(&path).await, 401, "missing_token").await;
    assert_problem(
        app.get(&format!("{path}?access_token=not-a-token")).await,
        401,
        "invalid_token",
    )
    .await;
    let bob = organiser_token(&app, "bob", "organiser").await;
    assert_problem(app.get_auth(&path, &bob).await, 404, "campaign_not_found").await;
    let resp = app
        .post_auth(&format!("/api/v1/admin/campaigns/{DEMO}/board-token"), &bob, &json!({}))
        .await;
    assert_problem(resp, 404, "campaign_not_found").await;
    // A board token is read-only: no organiser endpoints.
    let admin = organiser_token(&app, "alice", "admin").await;
    let board = board_token(&app, &admin).await;
    let resp = app
        .get_auth(&format!("/api/v1/admin/campaigns/{DEMO}/stats"), &board)
        .await;
    assert_problem(resp, 403, "organiser_only").await;
    let resp = app
        .get_auth(&format!("/api/v1/campaigns/{DEMO}/leaderboards/participants"), &board)
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn an_upload_on_one_instance_reaches_a_screen_on_another() {
    let a = spawn_app().await;
    if !a.database.is_postgres() {
        eprintln!("skipped: the cross-instance path needs PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let b = spawn_app_on(&a.database_url()).await;
    let admin = organiser_token(&a, "alice", "admin").await;
    let p = participant(&a, "o-1", "孙七", "S1", "DEMO02").await;
    let mut sse = Sse::connect(&b, Some(&admin), "", None).await;
    assert_eq!(sse.next().await.event, "leaderboard");
    upload(&a, &p, &[(1, 7_000)]).await;
    let unlock = sse.next_event().await;
    assert_eq!(unlock.event, "unlock", "{unlock:?}");
    assert_eq!(unlock.data["name"], "计算机学院/网络2302");
    assert_eq!(unlock.data["station_seq"], 1);
    let board = loop {
        let f = sse.next_event().await;
        if f.event != "unlock" {
            break f;
        }
    };
    assert_eq!(board.event, "leaderboard");
    assert_eq!(board.data["participants"][0]["display_name"], "孙七");
}

#[tokio::test]
async fn a_screen_sees_the_figures_of_an_upload_within_two_seconds() {
    let app = spawn_app().await;
    let admin = organiser_token(&app, "alice", "admin").await;
    let board = board_token(&app, &admin).await;
    let p = participant(&app, "o-1", "周八", "S1", "DEMO02").await;
    let mut sse = Sse::connect(&app, None, &format!("?access_token={board}"), None).await;
    assert_eq!(sse.next().await.event, "leaderboard");
    let before = sse.next().await;
    assert_eq!(before.event, "stats");
    assert_eq!(before.data["counted_steps"], 0);

    let sent = std::time::Instant::now();
    upload(&app, &p, &[(0, 9_000)]).await;
    let figures = loop {
        let f = sse.next().await;
        if f.event == "stats" {
            break f;
        }
    };
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "the changed figures came after {:?}, not with the board",
        sent.elapsed()
    );
    assert_eq!(figures.data["counted_steps"], 9_000);
    assert_eq!(figures.data["active_today"], 1);
    assert_eq!(figures.data["km"], 500.0);
}
