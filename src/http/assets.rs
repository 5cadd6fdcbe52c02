//! The web pages (`web/<dir>/`) embedded in the binary and served with the headers a
//! production site needs: a Content-Security-Policy without inline scripts, gzip and brotli
//! chosen by `Accept-Encoding`, content-hash cache busting and `ETag` revalidation.
//!
//! Each top-level folder of `web/` is one *site* (`console`, `screen`). On first use a site is
//! read once: every file's references to its siblings get `?v=<site version>` appended (HTML
//! `src`/`href` attributes, relative ES module specifiers), where the version is a hash of the
//! whole folder; then each file is compressed once and kept. So an HTML page is revalidated
//! on every load (`no-cache`), while everything it references is cached for a year
//! (`immutable`) and fetched again only when some file of the site changed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, HeaderValue},
};
use bytes::Bytes;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::http::error::{ApiError, ApiResult};

/// In release builds the files are compiled in; debug builds read `web/` from disk at first use.
#[derive(RustEmbed)]
#[folder = "web/"]
struct Web;

/// Sent with every page and asset. No inline script or style can run; the pages talk only to
/// this origin; nobody may frame them (clickjacking); a page's URL (which may carry a board
/// token) is never sent as a `Referer`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// One served file in its three encodings.
struct Asset {
    content_type: &'static str,
    /// Hash of the identity bytes, without quotes; the encodings add a suffix.
    tag: String,
    identity: Bytes,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
}

/// A top-level folder of `web/`, prepared for serving.
struct Site {
    version: String,
    files: HashMap<String, Asset>,
}

/// Serves `path` (relative to `web/<dir>/`; empty or ending in `/` means its `index.html`)
/// with the security, encoding and cache headers described in the module documentation.
///
/// # Errors
/// 404 `asset_not_found` when the site has no such file.
pub fn page(dir: &str, path: &str, req: &HttpRequest) -> ApiResult<HttpResponse> {
    let site = site(dir);
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let asset = site
        .files
        .get(&path)
        .ok_or_else(|| ApiError::not_found("asset_not_found", format!("The page has no file {path}.")))?;
    let cache = if path.ends_with(".html") || query_version(req) != Some(site.version.as_str()) {
        REVALIDATE
    } else {
        IMMUTABLE
    };
    let (body, encoding, suffix) = match preferred_encoding(req, asset) {
        Encoding::Brotli => (asset.brotli.clone(), Some("br"), "-br"),
        Encoding::Gzip => (asset.gzip.clone(), Some("gzip"), "-gz"),
        Encoding::Identity => (None, None, ""),
    };
    let etag = format!("\"{}{suffix}\"", asset.tag);
    let mut res = if if_none_match(req, &asset.tag) {
        HttpResponse::NotModified().finish()
    } else {
        let mut ok = HttpResponse::Ok();
        ok.content_type(asset.content_type);
        if let Some(encoding) = encoding {
            ok.insert_header((header::CONTENT_ENCODING, encoding));
        }
        ok.body(body.unwrap_or_else(|| asset.identity.clone()))
    };
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    add_security_headers(headers);
    Ok(res)
}

/// The version appended to every reference inside `web/<dir>/` (a hash of the folder), for
/// pages that build asset URLs themselves.
pub fn version(dir: &str) -> String {
    site(dir).version.clone()
}

/// The headers every page response carries, also on its errors.
pub fn add_security_headers(headers: &mut actix_web::http::header::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn site(dir: &str) -> Arc<Site> {
    static SITES: OnceLock<Mutex<HashMap<String, Arc<Site>>>> = OnceLock::new();
    let sites = SITES.get_or_init(Mutex::default);
    let mut sites = sites.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    sites
        .entry(dir.to_owned())
        .or_insert_with(|| Arc::new(load(dir)))
        .clone()
}

/// Reads, versions and compresses every file under `web/<dir>/`.
fn load(dir: &str) -> Site {
    let prefix = format!("{dir}/");
    let mut names: Vec<String> = Web::iter()
        .filter(|name| name.starts_with(&prefix))
        .map(|name| name[prefix.len()..].to_owned())
        .collect();
    names.sort();
    let raw: Vec<(String, Vec<u8>)> = names
        .into_iter()
        .filter_map(|name| Web::get(&format!("{prefix}{name}")).map(|file| (name, file.data.into_owned())))
        .collect();
    let mut folder = Sha256::new();
    for (name, data) in &raw {
        folder.update(name.as_bytes());
        folder.update([0]);
        folder.update(Sha256::digest(data));
    }
    let version = hex(&folder.finalize()[..8]);
    let files = raw
        .into_iter()
        .map(|(name, data)| {
            let content_type = content_type(&name);
            let data = match extension(&name) {
                "html" => rewrite_html(&data, &version),
                "js" | "mjs" => rewrite_module(&data, &version),
                _ => data,
            };
            (name, prepare(content_type, data))
        })
        .collect();
    Site { version, files }
}

fn prepare(content_type: &'static str, data: Vec<u8>) -> Asset {
    let compressible = content_type.starts_with("text/")
        || content_type.contains("javascript")
        || content_type.contains("json")
        || content_type.contains("svg");
    let smaller = |packed: Vec<u8>| (packed.len() < data.len()).then(|| Bytes::from(packed));
    let (gzip, brotli) = if compressible {
        (gzip(&data).and_then(smaller), brotli(&data).and_then(smaller))
    } else {
        (None, None)
    };
    Asset {
        content_type,
        tag: hex(&Sha256::digest(&data)[..12]),
        identity: Bytes::from(data),
        gzip,
        brotli,
    }
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

fn brotli(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).ok()?;
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn extension(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(_, ext)| ext)
}

fn content_type(name: &str) -> &'static str {
    match extension(name) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A reference this site serves itself (not another origin, a data URL or a fragment) and
/// that has no query yet.
fn versionable(target: &str) -> bool {
    let external = target.starts_with("//") || target.contains(':');
    !external
        && !target.is_empty()
        && !target.starts_with('#')
        && !target.contains('?')
        && matches!(
            extension(target),
            "js" | "mjs" | "css" | "svg" | "png" | "jpg" | "jpeg" | "webp" | "ico" | "json" | "webmanifest" | "woff2"
        )
}

/// Appends `?v=<version>` to every quoted value following one of `openers` that
/// `accept` allows; the quote character is the last byte of the opener.
fn rewrite(data: &[u8], openers: &[&str], accept: impl Fn(&str) -> bool, version: &str) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(data) else {
        return data.to_vec();
    };
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text;
    loop {
        let next = openers
            .iter()
            .filter_map(|opener| rest.find(opener).map(|at| (at, *opener)))
            .min_by_key(|(at, _)| *at);
        let Some((at, opener)) = next else { break };
        let value_start = at + opener.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        let quote = opener.chars().last().unwrap_or('"');
        if let Some(end) = rest.find(quote) {
            let value = &rest[..end];
            out.push_str(value);
            if accept(value) {
                out.push_str("?v=");
                out.push_str(version);
            }
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out.into_bytes()
}

fn rewrite_html(data: &[u8], version: &str) -> Vec<u8> {
    rewrite(data, &["src=\"", "href=\"", "src='", "href='"], versionable, version)
}

/// Only relative or root-relative specifiers: a module imported under two URLs would be
/// evaluated twice, so every file of the site names its siblings the same way.
fn rewrite_module(data: &[u8], version: &str) -> Vec<u8> {
    rewrite(
        data,
        &["from \"", "from '", "import \"", "import '", "import(\"", "import('"],
        |spec| (spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/')) && versionable(spec),
        version,
    )
}

fn query_version(req: &HttpRequest) -> Option<&str> {
    req.query_string().split('&').find_map(|pair| pair.strip_prefix("v="))
}

enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding the client accepts (`q` > 0) and the asset has.
fn preferred_encoding(req: &HttpRequest, asset: &Asset) -> Encoding {
    let accepted = req
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (!refused).then_some(name)
        })
        .collect::<Vec<_>>();
    let accepts = |name: &str| accepted.iter().any(|a| a == name);
    if asset.brotli.is_some() && accepts("br") {
        Encoding::Brotli
    } else if asset.gzip.is_some() && (accepts("gzip") || accepts("x-gzip")) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Whether `If-None-Match` names this asset in any encoding (weak comparison, RFC 9110 13.1.2).
fn if_none_match(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t.strip_suffix("-br").or_else(|| t.strip_suffix("-gz")).unwrap_or(t) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_references_to_own_files_get_the_version() {
        let html = br##"<link rel="stylesheet" href="app.css"><script type="module" src="./app.js"></script><a href="#x">x</a><img src="https://x.org/a.png"><link href="/favicon.svg?v=1">"##;
        let out = String::from_utf8(rewrite_html(html, "abc")).unwrap();
        assert_eq!(
            out,
            r##"<link rel="stylesheet" href="app.css?v=abc"><script type="module" src="./app.js?v=abc"></script><a href="#x">x</a><img src="https://x.org/a.png"><link href="/favicon.svg?v=1">"##
        );
    }

    #[test]
    fn module_imports_get_the_version_but_bare_and_external_ones_do_not() {
        let js = br#"import { a } from './api.js';
import "../b.js";
const c = await import('./views/c.js');
import x from 'lib';
const s = "from 'nothing'";"#;
        let out = String::from_utf8(rewrite_module(js, "v1")).unwrap();
        assert!(out.contains("from './api.js?v=v1'"));
        assert!(out.contains("import \"../b.js?v=v1\""));
        assert!(out.contains("import('./views/c.js?v=v1')"));
        assert!(out.contains("from 'lib'"));
        assert!(out.contains("\"from 'nothing'\""));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("a/b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
    }
}
