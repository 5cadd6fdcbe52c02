//! What each scenario sends. Every scenario runs with the same generator and the same C.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use base64::Engine as _;
use chrono::{NaiveDate, TimeZone};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::json;

use longmarch::{
    models::{campaigns, cohorts, enrollments, participants, step_days},
    services::identity::jwt::Role,
};

use super::{
    Args, Scenario,
    drive::{Call, Outcome, check, clients, drive},
    prepare::{Bench, Member, Prepared, SIMULATED, create_campaign, phone_steps},
    report::{Delivery, Row, Simulated, Staleness, peak_rss_mb, reset_peak_rss},
};

/// Runs one request scenario and measures it.
///
/// # Errors
/// When the scenario's own setup fails (requests that fail are counted, not raised).
pub async fn run(bench: &Bench, args: &Args, scenario: Scenario) -> anyhow::Result<Row> {
    let c = args.connections.max(1);
    reset_peak_rss();
    let mut staleness = None;
    let mut delivery = None;
    let outcome = match scenario {
        Scenario::FloorHttp => drive(c, args.warmup(), args.seconds(), floor_http(bench, c)).await,
        Scenario::FloorDb => drive(c, args.warmup(), args.seconds(), floor_db(bench, c)).await,
        Scenario::Ingest => drive(c, args.warmup(), args.seconds(), ingest(bench, c, 3_000)).await,
        Scenario::Werun => drive(c, args.warmup(), args.seconds(), werun(&bench.main, bench, c)).await,
        Scenario::WerunFirst => {
            let newcomers = bench
                .newcomers
                .as_ref()
                .expect("the newcomers are prepared for this scenario");
            drive(c, args.warmup(), args.seconds(), werun(newcomers, bench, c)).await
        }
        Scenario::Mixed => drive(c, args.warmup(), args.seconds(), mixed(bench, c)).await,
        Scenario::Burst => {
            let (outcome, seen) = burst(bench, args, c).await?;
            delivery = Some(seen);
            outcome
        }
        Scenario::Leaderboard => {
            let board = bench.board.as_ref().expect("the board is prepared for this scenario");
            let probe = tokio::spawn(probe_staleness(
                bench.base.clone(),
                bench.state.db.clone(),
                board.clone(),
                args.warmup() + args.seconds(),
            ));
            let outcome = drive(c, args.warmup(), args.seconds(), leaderboard(bench, board, c)).await;
            staleness = Some(probe.await?);
            outcome
        }
        Scenario::Simulate => unreachable!("simulate is not a request scenario"),
    };
    let mut row = Row::new(scenario, &outcome, peak_rss_mb(), staleness);
    row.delivery = delivery;
    Ok(row)
}

/// The evening burst: `werun` syncs (each member's first of the day, in turn) from C
/// connections while `--screens` screens hold the live stream, two organisers read the
/// boards once a second, and a probe class walks the route so that unlocks keep coming.
async fn burst(bench: &Bench, args: &Args, c: usize) -> anyhow::Result<(Outcome, Delivery)> {
    let main = &bench.main;
    let run_for = args.warmup() + args.seconds();
    let measured_from = Instant::now() + args.warmup();
    let probe = prepare_probe(bench).await?;
    let token = bench.state.jwt.issue(0, Role::Board, Some(main.slug.to_owned()))?.token;
    let events = bench.url(&format!("/api/v1/campaigns/{}/events?access_token={token}", main.slug));
    let client = longmarch::http_client::builder().build()?;
    let screens: Vec<_> = (0..args.screens)
        .map(|_| tokio::spawn(screen(client.clone(), events.clone(), measured_from, run_for)))
        .collect();
    let readers: Vec<_> = ["/leaderboards/participants?limit=20", "/leaderboards/cohorts"]
        .into_iter()
        .map(|path| {
            let url = bench.url(&format!("/api/v1/campaigns/{}{path}", main.slug));
            tokio::spawn(organiser_reads(client.clone(), url, token.clone(), run_for))
        })
        .collect();
    let walker = tokio::spawn(walk_route(
        bench.url(&format!("/api/v1/campaigns/{}/steps", main.slug)),
        probe,
        main.today,
        run_for,
    ));
    let outcome = drive(c, args.warmup(), args.seconds(), werun(main, bench, c)).await;
    walker.await?;
    for r in readers {
        r.await?;
    }
    let (mut delays, mut lost, mut resyncs) = (Vec::new(), 0, 0);
    for s in screens {
        let heard = s.await?;
        delays.extend(heard.delays_ms);
        resyncs += heard.resyncs;
        lost += usize::from(heard.lost);
    }
    Ok((outcome, Delivery::new(args.screens, lost, delays, resyncs)))
}

/// What one screen heard during the measured window.
#[derive(Debug, Default)]
struct Heard {
    delays_ms: Vec<f64>,
    resyncs: usize,
    /// The stream failed or ended before the run did.
    lost: bool,
}

/// A big screen: holds the live stream until the run ends, timing each `unlock` from its
/// `unlocked_at` (the server's clock is this process's).
async fn screen(client: reqwest::Client, url: String, measured_from: Instant, run_for: Duration) -> Heard {
    let end = tokio::time::Instant::now() + run_for;
    let mut heard = Heard::default();
    let mut resp = match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => r,
        _ => {
            heard.lost = true;
            return heard;
        }
    };
    let mut pending = String::new();
    loop {
        tokio::select! {
            chunk = resp.chunk() => match chunk {
                Ok(Some(bytes)) => {
                    pending.push_str(&String::from_utf8_lossy(&bytes));
                    while let Some(at) = pending.find("\n\n") {
                        let frame: String = pending.drain(..at + 2).collect();
                        if Instant::now() >= measured_from {
                            hear(&frame, &mut heard);
                        }
                    }
                }
                Ok(None) | Err(_) => {
                    heard.lost = true;
                    return heard;
                }
            },
            () = tokio::time::sleep_until(end) => return heard,
        }
    }
}

fn hear(frame: &str, heard: &mut Heard) {
    let field = |name: &str| frame.lines().find_map(|l| l.strip_prefix(name));
    match field("event: ") {
        Some("unlock") => {
            let at = field("data: ")
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .and_then(|v| {
                    v.get("unlocked_at")?
                        .as_str()?
                        .parse::<chrono::DateTime<chrono::Utc>>()
                        .ok()
                });
            if let Some(at) = at {
                let late = chrono::Utc::now() - at;
                heard
                    .delays_ms
                    .push(late.num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
        Some("resync") => heard.resyncs += 1,
        _ => {}
    }
}

/// An organiser's console: one board read a second (not measured; it is load).
async fn organiser_reads(client: reqwest::Client, url: String, token: String, run_for: Duration) {
    let end = Instant::now() + run_for;
    while Instant::now() < end {
        drop(client.get(&url).bearer_auth(&token).send().await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A class of one whose member uploads a growing count every 200 ms, day after day of the
/// window, unlocking a station every few uploads until the route is walked.
async fn prepare_probe(bench: &Bench) -> anyhow::Result<Member> {
    let db = &bench.state.db;
    let main = &bench.main;
    let now = chrono::Utc::now();
    let txn = longmarch::db::begin_write(db).await?;
    let class = cohorts::Model::create(&txn, main.campaign_id, None, "探针班", None).await?;
    let participant = participants::ActiveModel {
        openid: Set(format!("bench-probe-{}", rand::random::<u32>())),
        display_name: Set("探针".to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let enrollment = enrollments::new_active(main.campaign_id, participant.id, Some(class.id), now)
        .insert(&txn)
        .await?;
    // Counted in its class as a join counts it: a class mean over no members walks nowhere.
    let campaign = campaigns::Entity::find_by_id(main.campaign_id)
        .one(&txn)
        .await?
        .context("the benchmark campaign")?;
    longmarch::services::progress::on_member_joined(&txn, &campaign, &class).await?;
    txn.commit().await?;
    Ok(Member {
        participant_id: participant.id,
        enrollment_id: enrollment.id,
        token: bench.state.jwt.issue(participant.id, Role::Participant, None)?.token,
        session_key: [0; 16],
    })
}

async fn walk_route(url: String, probe: Member, today: NaiveDate, run_for: Duration) {
    let client = longmarch::http_client::builder().build().expect("an HTTP client");
    let end = Instant::now() + run_for;
    let (mut back, mut steps) = (28_i64, 0_i64);
    while Instant::now() < end && back >= 0 {
        steps += 2_000;
        if steps > 50_000 {
            (back, steps) = (back - 1, 2_000);
        }
        let day = (today - chrono::Duration::days(back)).to_string();
        drop(
            client
                .post(&url)
                .bearer_auth(&probe.token)
                .json(&json!({"days": [{"date": day, "steps": steps}]}))
                .send()
                .await,
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// GET /healthz: routing, middleware and HTTP only.
fn floor_http(bench: &Bench, c: usize) -> Call {
    let clients = Arc::new(clients(c));
    let url = bench.url("/healthz");
    Arc::new(move |conn, _| {
        let req = clients[conn].get(&url).send();
        Box::pin(async move { check(req.await).await })
    })
}

/// What the database allows: the upload's step-day upsert plus the totals update, in one
/// write transaction, straight through sea-orm from C tasks sharing the server's pool.
fn floor_db(bench: &Bench, c: usize) -> Call {
    let db = bench.state.db.clone();
    let main = bench.main.clone();
    Arc::new(move |conn, i| {
        let (member, steps) = pick(&main.members, c, conn, i, 3_000);
        let db = db.clone();
        let (campaign_id, today) = (main.campaign_id, main.today);
        Box::pin(async move {
            upsert_and_total(&db, campaign_id, &member, today, steps)
                .await
                .map_err(|e| format!("db: {e}"))
        })
    })
}

async fn upsert_and_total(
    db: &DatabaseConnection,
    campaign_id: i32,
    member: &Member,
    day: NaiveDate,
    steps: i64,
) -> Result<(), sea_orm::DbErr> {
    let txn = longmarch::db::begin_write(db).await?;
    let now = chrono::Utc::now();
    // By the unique key the upload itself uses (participant, campaign, day).
    let existing = step_days::Entity::find()
        .filter(step_days::Column::ParticipantId.eq(member.participant_id))
        .filter(step_days::Column::CampaignId.eq(campaign_id))
        .filter(step_days::Column::Day.eq(day))
        .one(&txn)
        .await?;
    let delta = match existing {
        Some(row) if steps > row.steps => {
            let delta = steps - row.steps;
            let mut row = row.into_active_model();
            row.steps = Set(steps);
            row.counted = Set(steps);
            row.updated_at = Set(now);
            row.update(&txn).await?;
            delta
        }
        Some(_) => 0,
        None => {
            step_days::ActiveModel {
                campaign_id: Set(campaign_id),
                participant_id: Set(member.participant_id),
                enrollment_id: Set(member.enrollment_id),
                day: Set(day),
                steps: Set(steps),
                counted: Set(steps),
                source: Set(step_days::StepSource::Manual),
                flagged: Set(false),
                voided: Set(false),
                void_reason: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            steps
        }
    };
    enrollments::Entity::update_many()
        .col_expr(
            enrollments::Column::TotalSteps,
            Expr::col(enrollments::Column::TotalSteps).add(delta),
        )
        .col_expr(
            enrollments::Column::TotalCounted,
            Expr::col(enrollments::Column::TotalCounted).add(delta),
        )
        .col_expr(enrollments::Column::UpdatedAt, Expr::value(now))
        .filter(enrollments::Column::Id.eq(member.enrollment_id))
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// The member a request goes to, and today's growing count: connection `conn` walks its
/// share of the members round after round, each round 10 steps more than the last.
fn pick(members: &Arc<Vec<Member>>, c: usize, conn: usize, i: u64, base: i64) -> (Member, i64) {
    let k = usize::try_from(i).unwrap_or(usize::MAX) * c + conn;
    let n = members.len().max(1);
    let round = i64::try_from(k / n).unwrap_or(0);
    (members[k % n].clone(), base + 10 * round)
}

/// One manual day per request: today, with a growing count.
fn ingest(bench: &Bench, c: usize, base: i64) -> Call {
    let clients = Arc::new(clients(c));
    let main = bench.main.clone();
    let url = bench.url(&format!("/api/v1/campaigns/{}/steps", main.slug));
    let today = main.today.to_string();
    Arc::new(move |conn, i| {
        let (member, steps) = pick(&main.members, c, conn, i, base);
        let req = clients[conn]
            .post(&url)
            .bearer_auth(&member.token)
            .json(&json!({"days": [{"date": today, "steps": steps}]}))
            .send();
        Box::pin(async move { check(req.await).await })
    })
}

/// 00:00 of `day` in Shanghai, as the phone stamps a WeRun entry.
fn midnight(day: NaiveDate) -> i64 {
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map_or(0, |t| t.timestamp())
}

/// The body the mini-program sends: 31 days of `wx.getWeRunData`, encrypted with the
/// participant's session key (AES-128-CBC, PKCS#7), today's count growing.
pub fn werun_body(member: &Member, today: NaiveDate, today_steps: i64, appid: &str) -> serde_json::Value {
    let entries: Vec<_> = (0..31)
        .rev()
        .map(|back| {
            let day = today - chrono::Duration::days(back);
            let steps = if back == 0 {
                today_steps
            } else {
                phone_steps(member.participant_id, back)
            };
            json!({"timestamp": midnight(day), "step": steps})
        })
        .collect();
    let plain = json!({
        "stepInfoList": entries,
        "watermark": {"appid": appid, "timestamp": chrono::Utc::now().timestamp()},
    });
    let iv: [u8; 16] = rand::random();
    json!({
        "encrypted_data": longmarch::services::identity::werun::encrypt(&member.session_key, &iv, plain.to_string().as_bytes()),
        "iv": base64::engine::general_purpose::STANDARD.encode(iv),
    })
}

/// Each connection syncs its members' phones in turn, today's count growing.
fn werun(campaign: &Prepared, bench: &Bench, c: usize) -> Call {
    let clients = Arc::new(clients(c));
    let main = campaign.clone();
    let url = bench.url(&format!("/api/v1/campaigns/{}/steps/werun", main.slug));
    let appid = bench.state.settings.wechat.appid.clone();
    Arc::new(move |conn, i| {
        let (member, steps) = pick(&main.members, c, conn, i, 20_000);
        let body = werun_body(&member, main.today, steps, &appid);
        let req = clients[conn].post(&url).bearer_auth(&member.token).json(&body).send();
        Box::pin(async move { check(req.await).await })
    })
}

/// Top 20 and the caller's own neighbourhood, alternately.
fn leaderboard(bench: &Bench, board: &Prepared, c: usize) -> Call {
    let clients = Arc::new(clients(c));
    let board = board.clone();
    let top = bench.url(&format!(
        "/api/v1/campaigns/{}/leaderboards/participants?limit=20",
        board.slug
    ));
    let me = bench.url(&format!(
        "/api/v1/campaigns/{}/leaderboards/participants/me",
        board.slug
    ));
    Arc::new(move |conn, i| {
        let (member, _) = pick(&board.members, c, conn, i, 0);
        let url = if i % 2 == 0 { &top } else { &me };
        let req = clients[conn].get(url).bearer_auth(&member.token).send();
        Box::pin(async move { check(req.await).await })
    })
}

/// 20 % uploads, 80 % reads: progress, milestones, the top of the board, one's rank.
fn mixed(bench: &Bench, c: usize) -> Call {
    let clients = Arc::new(clients(c));
    let main = bench.main.clone();
    let path = |p: &str| bench.url(&format!("/api/v1/campaigns/{}{p}", main.slug));
    let (upload, progress, milestones) = (path("/steps"), path("/me/progress"), path("/me/milestones"));
    let (top, me) = (
        path("/leaderboards/participants?limit=20"),
        path("/leaderboards/participants/me"),
    );
    let today = main.today.to_string();
    Arc::new(move |conn, i| {
        let (member, steps) = pick(&main.members, c, conn, i, 35_000);
        let client = &clients[conn];
        let req = match i % 10 {
            0 | 1 => client
                .post(&upload)
                .json(&json!({"days": [{"date": today, "steps": steps}]})),
            2 | 3 => client.get(&progress),
            4 | 5 => client.get(&milestones),
            6 | 7 => client.get(&top),
            _ => client.get(&me),
        };
        let req = req.bearer_auth(&member.token).send();
        Box::pin(async move { check(req.await).await })
    })
}

/// While the board is read, a probe uploads for a few members and times how long until
/// `/participants/me` shows the stored total: how far behind the board can be.
async fn probe_staleness(base: String, db: DatabaseConnection, board: Prepared, run_for: Duration) -> Staleness {
    let client = longmarch::http_client::builder().build().expect("an HTTP client");
    let upload = format!("{base}/api/v1/campaigns/{}/steps", board.slug);
    let me = format!("{base}/api/v1/campaigns/{}/leaderboards/participants/me", board.slug);
    let end = Instant::now() + run_for;
    let mut lags_ms = Vec::new();
    let mut never = 0_u32;
    let mut next_steps: BTreeMap<i32, i64> = BTreeMap::new();
    let mut k = 0_usize;
    while Instant::now() < end {
        let member = &board.members[(k * 7_919) % board.members.len()];
        k += 1;
        let steps = next_steps.entry(member.participant_id).or_insert(1_000);
        *steps += 1_000;
        let sent = client
            .post(&upload)
            .bearer_auth(&member.token)
            .json(&json!({"days": [{"date": board.today.to_string(), "steps": *steps}]}))
            .send()
            .await;
        if !sent.is_ok_and(|r| r.status().is_success()) {
            never += 1;
            continue;
        }
        let acked = Instant::now();
        let Ok(Some(stored)) = enrollments::Entity::find_by_id(member.enrollment_id).one(&db).await else {
            never += 1;
            continue;
        };
        let mut seen = None;
        while acked.elapsed() < Duration::from_secs(5) {
            let shown = match client.get(&me).bearer_auth(&member.token).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.ok(),
                Err(_) => None,
            };
            let counted = shown
                .as_ref()
                .and_then(|v| v.pointer("/me/counted_steps"))
                .and_then(serde_json::Value::as_i64);
            if counted.is_some_and(|c| c >= stored.total_counted) {
                seen = Some(acked.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match seen {
            Some(lag) => lags_ms.push(lag.as_secs_f64() * 1000.0),
            None => never += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Staleness::new(lags_ms, never)
}

/// `longmarch simulate` (the same service call) on a campaign whose window reaches back
/// far enough, timed as one call.
///
/// # Errors
/// When the campaign cannot be created or the simulation fails.
pub async fn simulate(bench: &Bench, args: &Args) -> anyhow::Result<Simulated> {
    create_campaign(&bench.state.db, SIMULATED).await?;
    reset_peak_rss();
    let participants = u32::try_from(args.participants).unwrap_or(u32::MAX);
    let started = Instant::now();
    let message =
        longmarch::services::steps::simulate::run(&bench.state.db, SIMULATED, participants, args.simulate_days, false)
            .await
            .map_err(|e| anyhow::anyhow!("simulate failed: {e:?}"))?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{message}");
    Ok(Simulated {
        participants: args.participants,
        days: args.simulate_days,
        seconds,
        peak_rss_mb: peak_rss_mb(),
    })
}
