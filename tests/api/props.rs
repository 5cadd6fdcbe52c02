//! Property tests over the whole engine: the stored state is a function of the multiset of
//! uploaded days, whatever their order or repetition, and a rebuild equals it exactly.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use longmarch::domain::states::StepSource;
use longmarch::services::{
    progress::{CampaignCtx, CohortDates, refresh_stale_cohorts},
    steps::{review, store},
};
use proptest::prelude::*;
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::{
    helpers::{DEMO, TestApp, spawn_app, today},
    steps::{member, snapshot},
};

type Upload = (usize, i64, i64);

const CODES: [&str; 3] = ["DEMO01", "DEMO02", "DEMO01"];

async fn fresh(openids: &str) -> (TestApp, Vec<i32>) {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (i, code) in CODES.iter().enumerate() {
        member(&app, &format!("{openids}{i}"), code).await;
        ids.push(i32::try_from(i + 1).expect("id"));
    }
    (app, ids)
}

async fn demo_ctx(app: &TestApp) -> CampaignCtx {
    let campaign = longmarch::services::campaigns::find_any(&app.db, DEMO)
        .await
        .expect("demo");
    CampaignCtx::from_model(&app.db, campaign).await.expect("ctx")
}

fn good_of((_, offset, steps): &Upload) -> BTreeMap<NaiveDate, i64> {
    BTreeMap::from([(today() - Duration::days(*offset), *steps)])
}

/// Stores each upload in its own transaction; answers how many new unlocks were reported.
async fn apply(app: &TestApp, ids: &[i32], uploads: &[Upload], dates: CohortDates) -> usize {
    let ctx = demo_ctx(app).await;
    let mut reported = 0;
    for upload in uploads {
        let good = good_of(upload);
        let outcome = store::store_alone(
            &app.db,
            store::ToStore {
                ctx: &ctx,
                participant_id: ids[upload.0],
                good: &good,
                source: StepSource::Manual,
                dates,
            },
        )
        .await
        .expect("ingest");
        reported += outcome.newly.len();
    }
    if dates == CohortDates::Deferred {
        refresh_stale_cohorts(&app.db, None).await.expect("refresh");
    }
    reported
}

/// Stores the uploads in shared transactions of `sizes` uploads in turn, as the upload
/// queue, imports and the simulator do; answers how many new unlocks were reported.
async fn apply_together(app: &TestApp, ids: &[i32], uploads: &[Upload], dates: CohortDates, sizes: &[usize]) -> usize {
    let ctx = demo_ctx(app).await;
    let mut reported = 0;
    let mut rest = uploads;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, tail) = rest.split_at((*size).min(rest.len()));
        rest = tail;
        let txn = longmarch::db::begin_write(&app.db).await.expect("begin");
        let goods: Vec<_> = batch.iter().map(good_of).collect();
        let to_store: Vec<_> = batch
            .iter()
            .zip(&goods)
            .map(|(upload, good)| store::ToStore {
                ctx: &ctx,
                participant_id: ids[upload.0],
                good,
                source: StepSource::Manual,
                dates,
            })
            .collect();
        let outcomes = store::store(&txn, &to_store).await.expect("store");
        txn.commit().await.expect("commit");
        for outcome in outcomes {
            reported += outcome.expect("outcome").newly.len();
        }
    }
    if dates == CohortDates::Deferred {
        refresh_stale_cohorts(&app.db, None).await.expect("refresh");
    }
    reported
}

fn without_unlock_times(mut v: Value) -> Value {
    if let Some(rows) = v["unlocks"].as_array_mut() {
        for row in rows {
            if let Some(r) = row.as_array_mut() {
                r.pop();
            }
        }
    }
    v
}

fn uploads() -> impl Strategy<Value = Vec<Upload>> {
    prop::collection::vec((0..CODES.len(), 0_i64..7, 0_i64..60_000), 1..14)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// `b` leaves moved class dates to the background refresh, run once at the end: the
    /// coalesced result must be the very state `a` stored upload by upload.
    #[test]
    fn any_order_and_duplication_of_uploads_gives_the_same_state(
        list in uploads(),
        seed in any::<u64>(),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        rt.block_on(async {
            let (a, ids_a) = fresh("o_pa").await;
            apply(&a, &ids_a, &list, CohortDates::Now).await;
            // A permutation with every upload repeated and some sent twice more.
            let mut shuffled: Vec<Upload> = list.iter().chain(list.iter()).copied().collect();
            let mut state = seed;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let j = usize::try_from(state >> 33).expect("fits") % (i + 1);
                shuffled.swap(i, j);
            }
            let (b, ids_b) = fresh("o_pb").await;
            apply(&b, &ids_b, &shuffled, CohortDates::Deferred).await;
            let sa = snapshot(&a).await;
            let sb = snapshot(&b).await;
            assert_eq!(without_unlock_times(sa), without_unlock_times(sb.clone()));
            longmarch::services::progress::recompute_campaign(&b.db, DEMO).await.expect("recompute");
            assert_eq!(sb, snapshot(&b).await, "rebuild equals incremental");
            // From the step days alone, two participants per page: the same state again.
            longmarch::models::unlocks::Entity::delete_many().exec(&b.db).await.expect("forget unlocks");
            longmarch::services::progress::recompute_campaign_paged(&b.db, DEMO, 2).await.expect("recompute");
            assert_eq!(
                without_unlock_times(sb),
                without_unlock_times(snapshot(&b).await),
                "a paged rebuild from the step days equals incremental"
            );

            // Voiding, then restoring, every other stored day goes through the same
            // incremental path, and a rebuild must still find nothing to change.
            let admin = longmarch::services::identity::Organiser { id: 0, admin: true };
            let mut days = longmarch::models::step_days::Entity::find().all(&a.db).await.expect("days");
            days.sort_by_key(|d| (d.day, d.participant_id));
            let picked: Vec<i32> = days.iter().step_by(2).map(|d| d.id).collect();
            for (id, reason) in picked.iter().map(|id| (*id, Some("check"))).chain(picked.iter().take(1).map(|id| (*id, None))) {
                review::set_voided(&a.db, &admin, DEMO, id, reason).await.expect("void or restore");
                let incremental = snapshot(&a).await;
                longmarch::services::progress::recompute_campaign(&a.db, DEMO).await.expect("recompute");
                assert_eq!(incremental, snapshot(&a).await, "rebuild equals incremental after a void or restore");
            }
        });
    }

    /// Uploads stored in shared transactions, whose cohorts' and campaign's rows are written
    /// once at the end, store exactly what the same uploads store one by one, and report
    /// each new unlock once.
    #[test]
    fn uploads_stored_together_give_the_state_of_uploads_stored_alone(
        list in uploads(),
        sizes in prop::collection::vec(1_usize..6, 1..5),
        deferred in any::<bool>(),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        rt.block_on(async {
            let dates = if deferred { CohortDates::Deferred } else { CohortDates::Now };
            let (a, ids_a) = fresh("o_ta").await;
            let alone = apply(&a, &ids_a, &list, CohortDates::Now).await;
            let (b, ids_b) = fresh("o_tb").await;
            let together = apply_together(&b, &ids_b, &list, dates, &sizes).await;
            let sb = snapshot(&b).await;
            assert_eq!(without_unlock_times(snapshot(&a).await), without_unlock_times(sb.clone()));
            assert_eq!(alone, together, "each new unlock is reported once");
            longmarch::services::progress::recompute_campaign(&b.db, DEMO).await.expect("recompute");
            assert_eq!(sb, snapshot(&b).await, "rebuild equals incremental");
        });
    }
}
