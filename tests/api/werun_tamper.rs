//! WeRun payloads tampered in transit: AES-CBC is malleable, so flipped bits of the iv or the
//! ciphertext must end in a clean 422, or in data that still passes every day rule.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::Utc;
use longmarch::{domain::days::MAX_STEPS_PER_DAY, models::step_days};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::{
    helpers::{DEMO, json, today},
    steps::{midnight, spawn_with_wechat, wechat_member, werun_payload},
    wechat_mock,
};

/// Bit `bit` of the base64 value `b64`, flipped.
fn flipped(b64: &str, bit: usize) -> String {
    let mut bytes = STANDARD.decode(b64).expect("base64");
    bytes[bit / 8] ^= 1 << (bit % 8);
    STANDARD.encode(bytes)
}

#[tokio::test]
async fn flipped_bits_in_the_iv_or_ciphertext_answer_422_or_data_within_the_rules() {
    let app = spawn_with_wechat().await;
    let token = wechat_member(&app, "o_tamper", "DEMO01").await;
    let path = format!("/api/v1/campaigns/{DEMO}/steps/werun");
    // 31 days as WeChat sends them, counts near the daily cap.
    let entries: Vec<(i64, i64)> = (0..31).map(|i| (midnight(-30 + i), 49_000 + i)).collect();
    let good = werun_payload(&entries, wechat_mock::APPID, Utc::now().timestamp());
    let iv = good["iv"].as_str().expect("iv").to_owned();
    let data = good["encrypted_data"].as_str().expect("data").to_owned();
    let blocks = STANDARD.decode(&data).expect("base64").len() / 16;
    assert!(blocks >= 4, "{blocks} blocks");

    // Every bit of the iv, of the first two and of the last two ciphertext blocks.
    let mut variants: Vec<Value> = (0..128)
        .map(|bit| json!({"iv": flipped(&iv, bit), "encrypted_data": data}))
        .collect();
    let bits = (0..256).chain((blocks - 2) * 128..blocks * 128);
    variants.extend(bits.map(|bit| json!({"iv": iv, "encrypted_data": flipped(&data, bit)})));
    let (mut refused, mut taken) = (0, 0);
    for body in &variants {
        let resp = app.post_auth(&path, &token, body).await;
        let status = resp.status().as_u16();
        let answer = json(resp).await;
        match status {
            422 => {
                let code = answer["code"].as_str().unwrap_or_default();
                assert!(code.starts_with("werun_"), "{answer}");
                assert!(answer["detail"].as_str().is_some_and(|d| !d.is_empty()));
                refused += 1;
            }
            200 => {
                for day in answer["accepted"].as_array().expect("accepted") {
                    let steps = day["steps"].as_i64().expect("steps");
                    assert!((0..=MAX_STEPS_PER_DAY).contains(&steps), "{day}");
                    assert!(day["counted"].as_i64().expect("counted") <= 50_000, "{day}");
                }
                taken += 1;
            }
            other => panic!("{other} for a tampered payload: {answer}"),
        }
    }
    assert_eq!(refused + taken, variants.len());
    assert!(
        refused > variants.len() / 2,
        "most tampering is caught: {refused} of {}",
        variants.len()
    );

    // Whatever got through, the stored days obey the window and the caps.
    let demo = longmarch::models::campaigns::Model::find_by_slug(&app.db, DEMO)
        .await
        .expect("q")
        .expect("demo");
    let window_days = (today() - demo.starts_on).num_days() + 1;
    let rows = step_days::Entity::find().all(&app.db).await.expect("q");
    assert!(rows.len() as i64 <= window_days, "{} days stored", rows.len());
    for r in &rows {
        assert!(r.day >= demo.starts_on && r.day <= today(), "{r:?}");
        assert!((0..=MAX_STEPS_PER_DAY).contains(&r.steps), "{r:?}");
        assert!(r.counted <= 50_000 && r.counted <= r.steps, "{r:?}");
    }
    let total: i64 = rows.iter().map(|r| r.counted).sum();
    assert!(total <= 50_000 * window_days, "{total}");
    let me = json(
        app.get_auth(&format!("/api/v1/campaigns/{DEMO}/me/progress"), &token)
            .await,
    )
    .await;
    assert_eq!(me["counted_steps"].as_i64(), Some(total), "{me}");
}
