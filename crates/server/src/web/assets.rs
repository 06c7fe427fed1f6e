//! Static files of the web UI, embedded in the binary and served under
//! content-hashed names (`/assets/app.3f2a9c1b.css`), so a browser caches
//! each one for a year and a new build changes every name it changed.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// The name it is known by in templates (`app.css`).
    pub name: &'static str,
    /// The name it is served under, with its content hash.
    pub hashed: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// The embedded files: our own stylesheet and script, and htmx from npm.
pub static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    let files: [(&'static str, &'static str, &'static [u8]); 3] = [
        ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app.css")),
        ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/app.js")),
        ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../../../web/node_modules/htmx.org/dist/htmx.min.js")),
    ];
    files
        .into_iter()
        .map(|(name, content_type, bytes)| {
            let digest = Sha256::digest(bytes);
            let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
            let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
            Asset { name, hashed: format!("{stem}.{hash}.{ext}"), content_type, bytes }
        })
        .collect()
});

/// The URL of an asset by its plain name, for templates.
pub fn url(name: &str) -> String {
    ASSETS.iter().find(|a| a.name == name).map_or_else(|| format!("/assets/{name}"), |a| format!("/assets/{}", a.hashed))
}

/// `GET /assets/{file}`: the file under its hashed name, cached for good.
pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.hashed == file) {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], a.bytes)
            .into_response(),
        None => (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], "no such asset").into_response(),
    }
}
