//! The stylesheet and the script, compiled into the binary (no JavaScript toolchain). Pages
//! link them with `?v=` and their content hash, so they can be cached for a year: a new
//! build with changed assets links new URLs.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::UiError;

pub const CSS: &str = include_str!("assets/duro.css");
pub const JS: &str = include_str!("assets/duro.js");

/// The first 12 hex digits of the SHA-256 of both assets: the cache buster of their URLs.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::new()
        .chain_update(CSS.as_bytes())
        .chain_update(JS.as_bytes())
        .finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
});

/// The URL of asset `name` (`duro.css` or `duro.js`).
pub fn url(name: &str) -> String {
    format!("/ui/assets/{name}?v={}", *VERSION)
}

/// `GET /ui/assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Result<Response, UiError> {
    let (body, content_type) = match name.as_str() {
        "duro.css" => (CSS, "text/css; charset=utf-8"),
        "duro.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return Err(UiError::NotFound("There is no such file.".to_owned())),
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response())
}
