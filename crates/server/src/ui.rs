//! The embedded web UI: files built from `frontend/` into the binary, served with their content
//! types; any other non-API path gets `index.html` so the UI's own routes work on reload.

use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::ApiError;

/// The built UI (`frontend/dist`), embedded at build time in debug and release builds alike.
/// When the UI was not built, the folder is missing and nothing is embedded.
#[derive(RustEmbed)]
#[folder = "../../frontend/dist"]
#[allow_missing = true]
struct UiFiles;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The bytes of the built file at `path` (relative to `frontend/dist`, with `/` separators).
fn file(path: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
    UiFiles::get(path).map(|file| file.data)
}

/// Whether the UI was built into this binary.
pub fn is_built() -> bool {
    file("index.html").is_some()
}

pub(crate) async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || path == "api" {
        return ApiError::new(a2e_abi::codes::NOT_FOUND, format!("no API route {}", uri.path())).into_response();
    }
    if let Some(bytes) = file(path).filter(|_| !path.is_empty()) {
        // Vite names built assets by content hash, so they never change under one name.
        let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        return ([(header::CONTENT_TYPE, content_type(path)), (header::CACHE_CONTROL, cache)], bytes).into_response();
    }
    match file("index.html") {
        Some(index) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], index)
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Html("<!doctype html><title>a2e</title><h1>a2e</h1><p>The web UI was not built into this binary. Build it with <code>cargo xtask run</code> (or <code>npm ci && npm run build</code> in <code>frontend/</code>, then rebuild). The API under <code>/api/</code> works without it.</p>"),
        )
            .into_response(),
    }
}
