//! WeRun: decrypt → parse → watermark → judge, as `ingest::upload_werun` runs it.
//!
//! The input is used three ways: as the plaintext WeChat would seal (reaching the JSON
//! reader), as a raw iv + ciphertext under a known key (tampered payloads), and as the three
//! base64 strings a client sends.

#![no_main]

use base64::{Engine as _, engine::general_purpose::STANDARD};
use libfuzzer_sys::fuzz_target;
use longmarch::services::{identity::werun::{self, MAX_STEP_ENTRIES}, steps::ingest::{WerunUpload, judge_werun}};
use longmarch_fuzz::{assert_judged, window};

const KEY: [u8; 16] = *b"longmarch-key-16";
const IV: [u8; 16] = *b"0123456789abcdef";
const APPID: &str = "wx4f4bc4dec97d474b";
/// 2025-03-20 12:00 Asia/Shanghai, the `today` of `window()`.
const NOW: i64 = 1_742_443_200;

fn judge(key: &str, iv: String, encrypted_data: String) {
    let (window, today) = window();
    let upload = WerunUpload { encrypted_data, iv };
    if let Ok(plain) = werun::decrypt(key, &upload.iv, &upload.encrypted_data)
        && let Ok(data) = werun::parse(&plain)
    {
        assert!(data.step_info_list.len() <= MAX_STEP_ENTRIES);
        if let Ok(judged) = judge_werun(key, &upload, APPID, NOW, 86_400, chrono_tz::Asia::Shanghai, &window) {
            assert_eq!(
                judged.0.is_empty() && judged.1.is_empty(),
                data.step_info_list.is_empty()
            );
            assert_judged(&window, today, data.step_info_list.len(), &judged);
        }
    } else {
        assert!(judge_werun(key, &upload, APPID, NOW, 86_400, chrono_tz::Asia::Shanghai, &window).is_err());
    }
}

fuzz_target!(|data: &[u8]| {
    let key = STANDARD.encode(KEY);
    let sealed = werun::encrypt(&KEY, &IV, data);
    assert_eq!(werun::decrypt(&key, &STANDARD.encode(IV), &sealed).as_deref(), Ok(data));
    judge(&key, STANDARD.encode(IV), sealed);
    if let Some((iv, ciphertext)) = data.split_at_checked(16) {
        if let Ok(plain) = werun::decrypt(&key, &STANDARD.encode(iv), &STANDARD.encode(ciphertext)) {
            assert!(plain.len() < ciphertext.len());
        }
        judge(&key, STANDARD.encode(iv), STANDARD.encode(ciphertext));
    }
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '|');
    let (k, iv, enc) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    judge(k, iv.to_owned(), enc.to_owned());
});
