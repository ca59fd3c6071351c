//! The stylesheet and the script, compiled into the binary and served with a long cache
//! lifetime; their URLs carry [`version`], so a new binary's assets are fetched anew.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("static/weir.css");
const JS: &str = include_str!("static/weir.js");

/// Changes whenever the assets do (a digest of both).
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new().chain_update(CSS).chain_update(JS).finalize();
        hex::encode(&digest[..6])
    })
}

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "weir.css" => (CSS, "text/css; charset=utf-8"),
        "weir.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
