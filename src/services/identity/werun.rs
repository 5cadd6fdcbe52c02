//! WeChat WeRun (微信运动) data: decrypting the mini-program's `encryptedData` and reading it.
//!
//! `wx.getWeRunData` hands the mini-program `encryptedData` and `iv`; the server decrypts them
//! with the user's `session_key` from `code2session` (WeChat's "开放数据校验与解密"):
//! AES-128-CBC, PKCS#7 padding, every value standard base64. The plaintext is JSON:
//! `{"stepInfoList":[{"timestamp":…,"step":…},…],"watermark":{"appid":…,"timestamp":…}}`.

use aes::Aes128;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::{NoPadding, Pkcs7};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use serde::{Deserialize, Serialize};

/// AES block and key size in bytes.
const BLOCK: usize = 16;

/// Most entries accepted in one `stepInfoList`. WeChat sends the last 30 days; the cap keeps a
/// crafted payload from making the server validate and store an unbounded list.
pub const MAX_STEP_ENTRIES: usize = 400;

/// How far a watermark may lie in the future (device/server clock skew) before it is refused.
const MAX_FUTURE_SKEW_SECS: i64 = 5 * 60;

/// Why WeRun data was refused.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum WerunError {
    /// Not decodable, not decryptable with this session key, or not JSON afterwards.
    #[error(
        "the WeRun data could not be decrypted ({0}); the WeChat session key may be outdated, \
         please log in again and retry"
    )]
    Undecryptable(&'static str),
    /// Decrypted fine but is not a WeRun step list.
    #[error("the decrypted data is not a WeRun step list")]
    NotStepData,
    /// Watermarked for a different mini-program.
    #[error("the WeRun data was issued to a different mini-program")]
    ForeignAppid,
    /// Watermark too old (a replayed payload) or too far in the future.
    #[error("the WeRun data is out of date; fetch it from WeChat again")]
    Stale,
}

impl WerunError {
    /// Stable machine-readable code, used in API responses.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Undecryptable(_) => "werun_undecryptable",
            Self::NotStepData => "werun_not_step_data",
            Self::ForeignAppid => "werun_foreign_appid",
            Self::Stale => "werun_stale",
        }
    }
}

/// One day of WeRun steps. `timestamp` is 00:00 of the day in the device's time zone
/// (see `domain::days::werun_day`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Unix seconds of the day's local midnight on the device.
    pub timestamp: i64,
    /// Steps walked that day (so far, for today).
    pub step: i64,
}

/// WeChat's proof of which mini-program and when the data was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// The mini-program's appid.
    pub appid: String,
    /// Unix seconds when WeChat produced the data.
    pub timestamp: i64,
}

/// Decrypted WeRun payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WerunData {
    /// The days, usually the last 30, oldest first.
    #[serde(rename = "stepInfoList")]
    pub step_info_list: Vec<StepInfo>,
    /// Absent only in hand-made payloads; WeChat always sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
}

/// Decode strict standard base64 (RFC 4648 alphabet `+/`, canonical `=` padding).
///
/// Deliberately no leniency: if a client form-encoded the payload and `+` arrived as a space,
/// that is a client bug to fix, not something to guess around on the server.
fn decode(what: &'static str, b64: &str) -> Result<Vec<u8>, WerunError> {
    STANDARD.decode(b64).map_err(|_| WerunError::Undecryptable(what))
}

/// Decrypt WeChat `encryptedData` with the user's session key and the payload's iv.
///
/// All three inputs are strict standard base64 with padding, as WeChat sends them. The key and
/// iv must decode to 16 bytes, the ciphertext to a non-empty multiple of 16. After AES-128-CBC
/// decryption the PKCS#7 padding is checked strictly (pad length 1–16, all pad bytes equal);
/// with a wrong key it fails in all but about 1 of 256 cases, and [`parse`] catches the rest.
///
/// # Errors
///
/// [`WerunError::Undecryptable`] with a short reason for any of the failures above.
pub fn decrypt(session_key_b64: &str, iv_b64: &str, encrypted_b64: &str) -> Result<Vec<u8>, WerunError> {
    let key = decode("session key is not valid base64", session_key_b64)?;
    let iv = decode("iv is not valid base64", iv_b64)?;
    let ciphertext = decode("encrypted data is not valid base64", encrypted_b64)?;
    if key.len() != BLOCK {
        return Err(WerunError::Undecryptable("session key is not 16 bytes"));
    }
    if iv.len() != BLOCK {
        return Err(WerunError::Undecryptable("iv is not 16 bytes"));
    }
    if ciphertext.is_empty() || ciphertext.len() % BLOCK != 0 {
        return Err(WerunError::Undecryptable(
            "encrypted data is not a whole number of AES blocks",
        ));
    }
    let mut plain = cbc::Decryptor::<Aes128>::new_from_slices(&key, &iv)
        .map_err(|_| WerunError::Undecryptable("session key or iv has the wrong length"))?
        .decrypt_padded_vec::<NoPadding>(&ciphertext)
        .map_err(|_| WerunError::Undecryptable("encrypted data is not whole AES blocks"))?;
    let unpadded = strict_pkcs7_len(&plain).ok_or(WerunError::Undecryptable("bad padding"))?;
    plain.truncate(unpadded);
    Ok(plain)
}

/// Length of the message inside PKCS#7-padded `block`s, or `None` if the padding is invalid.
fn strict_pkcs7_len(plain: &[u8]) -> Option<usize> {
    let &pad = plain.last()?;
    let pad_len = usize::from(pad);
    if !(1..=BLOCK).contains(&pad_len) || pad_len > plain.len() {
        return None;
    }
    let (message, padding) = plain.split_at(plain.len() - pad_len);
    padding.iter().all(|&b| b == pad).then_some(message.len())
}

/// Encrypt `plaintext` the way WeChat does (AES-128-CBC, PKCS#7) and return standard base64.
///
/// Used by tests, the benchmark and the simulator to build realistic payloads.
#[must_use]
pub fn encrypt(key: &[u8; 16], iv: &[u8; 16], plaintext: &[u8]) -> String {
    let ciphertext = cbc::Encryptor::<Aes128>::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext);
    STANDARD.encode(ciphertext)
}

/// Read decrypted WeRun JSON.
///
/// Unknown fields are ignored (WeChat may add some); `timestamp` and `step` must be integers.
///
/// # Errors
///
/// [`WerunError::Undecryptable`] if the bytes are not UTF-8 JSON — what a wrong key produces
/// when its garbage happens to end in valid padding. [`WerunError::NotStepData`] for valid JSON
/// that is not an object with a `stepInfoList` array of `{timestamp, step}` integer entries
/// (e.g. user info decrypted with the right key), or with more than [`MAX_STEP_ENTRIES`]
/// entries.
pub fn parse(plaintext: &[u8]) -> Result<WerunData, WerunError> {
    let text = std::str::from_utf8(plaintext).map_err(|_| WerunError::Undecryptable("decrypted data is not text"))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| WerunError::Undecryptable("decrypted data is not JSON"))?;
    // Check the size before the typed conversion walks every entry.
    let entries = value
        .get("stepInfoList")
        .and_then(serde_json::Value::as_array)
        .ok_or(WerunError::NotStepData)?;
    if entries.len() > MAX_STEP_ENTRIES {
        return Err(WerunError::NotStepData);
    }
    serde_json::from_value(value).map_err(|_| WerunError::NotStepData)
}

/// Check that the data was issued to this mini-program, recently.
///
/// Without a watermark there is nothing to check (WeChat always sends one; only hand-made
/// payloads lack it, and those still needed the user's session key).
///
/// # Errors
///
/// [`WerunError::ForeignAppid`] if the watermark names another appid;
/// [`WerunError::Stale`] if it is older than `max_age_secs`, or more than 5 minutes in the
/// future (clock skew allowance).
pub fn check_watermark(
    data: &WerunData,
    expected_appid: &str,
    now_unix: i64,
    max_age_secs: i64,
) -> Result<(), WerunError> {
    let Some(watermark) = &data.watermark else {
        return Ok(());
    };
    if watermark.appid != expected_appid {
        return Err(WerunError::ForeignAppid);
    }
    let age = now_unix.saturating_sub(watermark.timestamp);
    if age > max_age_secs || age < -MAX_FUTURE_SKEW_SECS {
        return Err(WerunError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: [u8; 16] = *b"0123456789abcdef";
    const IV: [u8; 16] = *b"fedcba9876543210";
    const APPID: &str = "wx0123456789abcdef";

    // WeChat's public sample from "开放数据校验与解密" (mini-program docs), as embedded in many
    // SDKs' tests; the ciphertext and plaintext were cross-checked in independent sources.
    const SAMPLE_APPID: &str = "wx4f4bc4dec97d474b";
    const SAMPLE_SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const SAMPLE_IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    const SAMPLE_ENCRYPTED: &str = concat!(
        "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZM",
        "QmRzooG2xrDcvSnxIMXFufNstNGTyaGS",
        "9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+",
        "3hVbJSRgv+4lGOETKUQz6OYStslQ142d",
        "NCuabNPGBzlooOmB231qMM85d2/fV6Ch",
        "evvXvQP8Hkue1poOFtnEtpyxVLW1zAo6",
        "/1Xx1COxFvrc2d7UL/lmHInNlxuacJXw",
        "u0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn",
        "/Hz7saL8xz+W//FRAUid1OksQaQx4CMs",
        "8LOddcQhULW4ucetDf96JcR3g0gfRK4P",
        "C7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB",
        "6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns",
        "/8wR2SiRS7MNACwTyrGvt9ts8p12PKFd",
        "lqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYV",
        "oKlaRv85IfVunYzO0IKXsyl7JCUjCpoG",
        "20f0a04COwfneQAGGwd5oa+T8yO5hzuy",
        "Db/XcxxmK01EpqOyuxINew==",
    );
    const SAMPLE_PLAINTEXT: &str = concat!(
        r#"{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"#,
        r#""language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","#,
        r#""avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0","#,
        r#""unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","#,
        r#""watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}"#,
    );

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    fn step_json(now: i64) -> String {
        format!(
            r#"{{"stepInfoList":[{{"timestamp":1727712000,"step":8123}},{{"timestamp":1727798400,"step":0,"extra":true}}],"watermark":{{"timestamp":{now},"appid":"{APPID}"}}}}"#
        )
    }

    #[test]
    fn wechat_sample_decrypts_byte_for_byte() {
        let plain = decrypt(SAMPLE_SESSION_KEY, SAMPLE_IV, SAMPLE_ENCRYPTED).unwrap();
        assert_eq!(plain, SAMPLE_PLAINTEXT.as_bytes());
        // It is user info, not steps.
        assert_eq!(parse(&plain), Err(WerunError::NotStepData));
        let value: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(value["watermark"]["appid"], SAMPLE_APPID);
        assert_eq!(value["watermark"]["timestamp"], 1_477_314_187);
    }

    #[test]
    fn wechat_sample_re_encrypts_to_the_same_ciphertext() {
        let key: [u8; 16] = STANDARD.decode(SAMPLE_SESSION_KEY).unwrap().try_into().unwrap();
        let iv: [u8; 16] = STANDARD.decode(SAMPLE_IV).unwrap().try_into().unwrap();
        assert_eq!(encrypt(&key, &iv, SAMPLE_PLAINTEXT.as_bytes()), SAMPLE_ENCRYPTED);
    }

    #[test]
    fn round_trip_of_step_data() {
        let now = 1_727_900_000;
        let json = step_json(now);
        let encrypted = encrypt(&KEY, &IV, json.as_bytes());
        let plain = decrypt(&b64(&KEY), &b64(&IV), &encrypted).unwrap();
        assert_eq!(plain, json.as_bytes());
        let data = parse(&plain).unwrap();
        assert_eq!(
            data,
            WerunData {
                step_info_list: vec![
                    StepInfo {
                        timestamp: 1_727_712_000,
                        step: 8123
                    },
                    StepInfo {
                        timestamp: 1_727_798_400,
                        step: 0
                    },
                ],
                watermark: Some(Watermark {
                    appid: APPID.to_owned(),
                    timestamp: now,
                }),
            }
        );
        assert_eq!(check_watermark(&data, APPID, now + 60, 3600), Ok(()));
    }

    #[test]
    fn round_trip_of_serialized_data_and_block_sized_plaintexts() {
        let data = WerunData {
            step_info_list: vec![StepInfo { timestamp: 1, step: 2 }],
            watermark: None,
        };
        let json = serde_json::to_vec(&data).unwrap();
        let plain = decrypt(&b64(&KEY), &b64(&IV), &encrypt(&KEY, &IV, &json)).unwrap();
        assert_eq!(parse(&plain), Ok(data));
        // 0, 15, 16 and 17 bytes: a full padding block is added for 16.
        for len in [0usize, 15, 16, 17, 32] {
            let msg = vec![b'x'; len];
            let enc = encrypt(&KEY, &IV, &msg);
            assert_eq!(STANDARD.decode(&enc).unwrap().len(), (len / 16 + 1) * 16);
            assert_eq!(decrypt(&b64(&KEY), &b64(&IV), &enc), Ok(msg));
        }
    }

    #[test]
    fn bad_base64_in_each_input_is_undecryptable() {
        let good = encrypt(&KEY, &IV, b"{}");
        let key = b64(&KEY);
        let iv = b64(&IV);
        let cases = [
            ("not base64!".to_owned(), iv.clone(), good.clone()),
            (key.clone(), "r7BX XKkL".to_owned(), good.clone()),
            (key.clone(), iv.clone(), format!("{good}@")),
            // Missing padding is refused.
            (key.clone(), iv.trim_end_matches('=').to_owned(), good.clone()),
            // '+' turned into ' ' by form decoding is not repaired.
            (
                SAMPLE_SESSION_KEY.to_owned(),
                SAMPLE_IV.to_owned(),
                SAMPLE_ENCRYPTED.replace('+', " "),
            ),
        ];
        for (key, iv, data) in &cases {
            let err = decrypt(key, iv, data).unwrap_err();
            assert!(matches!(err, WerunError::Undecryptable(_)), "{key} {iv} {data}");
            assert_eq!(err.code(), "werun_undecryptable");
        }
        assert_eq!(
            decrypt("not base64!", &b64(&IV), &good),
            Err(WerunError::Undecryptable("session key is not valid base64"))
        );
        assert_eq!(
            decrypt(&b64(&KEY), "***", &good),
            Err(WerunError::Undecryptable("iv is not valid base64"))
        );
        assert_eq!(
            decrypt(&b64(&KEY), &b64(&IV), "%%%"),
            Err(WerunError::Undecryptable("encrypted data is not valid base64"))
        );
    }

    #[test]
    fn wrong_lengths_are_undecryptable() {
        let good = encrypt(&KEY, &IV, b"{}");
        assert_eq!(
            decrypt(&b64(&KEY[..15]), &b64(&IV), &good),
            Err(WerunError::Undecryptable("session key is not 16 bytes"))
        );
        assert_eq!(
            decrypt(&b64(&[1; 32]), &b64(&IV), &good),
            Err(WerunError::Undecryptable("session key is not 16 bytes"))
        );
        assert_eq!(
            decrypt(&b64(&KEY), &b64(&[7; 17]), &good),
            Err(WerunError::Undecryptable("iv is not 16 bytes"))
        );
        let blocks = WerunError::Undecryptable("encrypted data is not a whole number of AES blocks");
        assert_eq!(decrypt(&b64(&KEY), &b64(&IV), ""), Err(blocks));
        assert_eq!(decrypt(&b64(&KEY), &b64(&IV), &b64(&[0; 17])), Err(blocks));
        assert_eq!(decrypt(&b64(&KEY), &b64(&IV), &b64(&[0; 15])), Err(blocks));
    }

    #[test]
    fn wrong_key_fails_on_padding_or_json() {
        let json = step_json(1);
        let encrypted = encrypt(&KEY, &IV, json.as_bytes());
        let mut failures_on_padding = 0;
        for i in 0..=255u8 {
            let wrong = [i; 16];
            match decrypt(&b64(&wrong), &b64(&IV), &encrypted) {
                Err(WerunError::Undecryptable("bad padding")) => failures_on_padding += 1,
                Err(other) => panic!("unexpected {other:?}"),
                // Garbage that happens to pad correctly must then fail as JSON.
                Ok(garbage) => {
                    assert!(matches!(parse(&garbage), Err(WerunError::Undecryptable(_))));
                }
            }
        }
        assert!(failures_on_padding > 200, "{failures_on_padding}");
    }

    #[test]
    fn padding_is_checked_strictly() {
        let cases: [(&[u8], Option<usize>); 9] = [
            (&[b'a', 1], Some(1)),
            (&[2, 2], Some(0)),
            (&[b'a', 3, 3, 3], Some(1)),
            (&[b'a', 0], None),
            (&[b'a', 2, 3], None),
            (&[b'a', 3, 2, 3], None),
            (&[3, 3], None),
            (&[17; 32], None),
            (&[], None),
        ];
        for (plain, expected) in cases {
            assert_eq!(strict_pkcs7_len(plain), expected, "{plain:?}");
        }
        let mut full = vec![b'x'; 16];
        full.extend([16u8; 16]);
        assert_eq!(strict_pkcs7_len(&full), Some(16));
        // A tampered last block (pad bytes 16,…,16,15) is refused, not truncated.
        let mut tampered = full.clone();
        tampered[20] = 15;
        assert_eq!(strict_pkcs7_len(&tampered), None);
    }

    #[test]
    fn parse_table() {
        use WerunError::*;
        let cases: [(&[u8], Result<usize, WerunError>); 14] = [
            (br#"{"stepInfoList":[]}"#, Ok(0)),
            (br#"{"stepInfoList":[{"timestamp":1,"step":2}]}"#, Ok(1)),
            (
                br#"{"stepInfoList":[{"timestamp":1,"step":2}],"watermark":{"appid":"a","timestamp":3}}"#,
                Ok(1),
            ),
            (br#"{"openId":"x"}"#, Err(NotStepData)),
            (br#"{"stepInfoList":{}}"#, Err(NotStepData)),
            (br#"{"stepInfoList":[{"timestamp":1}]}"#, Err(NotStepData)),
            (br#"{"stepInfoList":[{"timestamp":1,"step":2.5}]}"#, Err(NotStepData)),
            (br#"{"stepInfoList":[{"timestamp":"1","step":2}]}"#, Err(NotStepData)),
            (
                br#"{"stepInfoList":[{"timestamp":1,"step":99999999999999999999}]}"#,
                Err(NotStepData),
            ),
            (b"[1,2]", Err(NotStepData)),
            (b"42", Err(NotStepData)),
            (b"", Err(Undecryptable("decrypted data is not JSON"))),
            (b"{\"stepInfoList\":[", Err(Undecryptable("decrypted data is not JSON"))),
            (b"\xff\xfe{}", Err(Undecryptable("decrypted data is not text"))),
        ];
        for (plain, expected) in cases {
            assert_eq!(
                parse(plain).map(|d| d.step_info_list.len()),
                expected,
                "{}",
                String::from_utf8_lossy(plain)
            );
        }
    }

    #[test]
    fn parse_caps_the_list() {
        let list = |n: usize| {
            let entries = vec![r#"{"timestamp":1,"step":1}"#; n].join(",");
            format!(r#"{{"stepInfoList":[{entries}]}}"#)
        };
        assert_eq!(
            parse(list(MAX_STEP_ENTRIES).as_bytes()).map(|d| d.step_info_list.len()),
            Ok(MAX_STEP_ENTRIES)
        );
        assert_eq!(
            parse(list(MAX_STEP_ENTRIES + 1).as_bytes()),
            Err(WerunError::NotStepData)
        );
    }

    #[test]
    fn watermark_checks() {
        use WerunError::*;
        let data = |appid: &str, ts: i64| WerunData {
            step_info_list: vec![],
            watermark: Some(Watermark {
                appid: appid.to_owned(),
                timestamp: ts,
            }),
        };
        let now = 1_700_000_000;
        let cases = [
            (data(APPID, now), Ok(())),
            (data(APPID, now - 3600), Ok(())),
            (data(APPID, now - 3601), Err(Stale)),
            (data(APPID, now + 300), Ok(())),
            (data(APPID, now + 301), Err(Stale)),
            (data(APPID, i64::MIN), Err(Stale)),
            (data(APPID, i64::MAX), Err(Stale)),
            (data("wx_other", now), Err(ForeignAppid)),
            // The appid check comes first.
            (data("wx_other", 0), Err(ForeignAppid)),
            (
                WerunData {
                    step_info_list: vec![],
                    watermark: None,
                },
                Ok(()),
            ),
        ];
        for (d, expected) in cases {
            assert_eq!(check_watermark(&d, APPID, now, 3600), expected, "{d:?}");
        }
    }

    #[test]
    fn error_codes_and_messages() {
        let table = [
            (WerunError::Undecryptable("bad padding"), "werun_undecryptable"),
            (WerunError::NotStepData, "werun_not_step_data"),
            (WerunError::ForeignAppid, "werun_foreign_appid"),
            (WerunError::Stale, "werun_stale"),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), code);
            assert!(!err.to_string().is_empty());
        }
        let msg = WerunError::Undecryptable("bad padding").to_string();
        assert!(msg.contains("bad padding"));
        assert!(msg.contains("session key may be outdated"));
        assert!(msg.contains("log in again"));
    }

    proptest! {
        #[test]
        fn decrypt_never_panics_on_arbitrary_strings(
            key in "\\PC{0,30}", iv in "\\PC{0,30}", data in "\\PC{0,80}",
        ) {
            if let Ok(plain) = decrypt(&key, &iv, &data) {
                let _ = parse(&plain);
            }
        }

        #[test]
        fn decrypt_never_panics_on_arbitrary_ciphertext(
            key in any::<[u8; 16]>(),
            iv in any::<[u8; 16]>(),
            data in prop::collection::vec(any::<u8>(), 0..100),
        ) {
            if let Ok(plain) = decrypt(&b64(&key), &b64(&iv), &b64(&data)) {
                prop_assert!(plain.len() < data.len());
                let _ = parse(&plain);
            }
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_json_like_text(s in r#"[{}\[\]":,0-9a-zA-Z.\-]{0,80}"#) {
            let _ = parse(s.as_bytes());
            let _ = parse(format!(r#"{{"stepInfoList":{s}}}"#).as_bytes());
        }

        #[test]
        fn encrypt_decrypt_round_trips(
            key in any::<[u8; 16]>(),
            iv in any::<[u8; 16]>(),
            msg in prop::collection::vec(any::<u8>(), 0..100),
        ) {
            prop_assert_eq!(decrypt(&b64(&key), &b64(&iv), &encrypt(&key, &iv, &msg)), Ok(msg));
        }
    }
}
