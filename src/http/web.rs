//! The web UI: the pages and assets under `web/`, embedded in the binary and served at
//! `/ui/`. The pages are static and need no key; their scripts call the JSON API with the
//! key the user signs in with, kept in the browser's `sessionStorage`.
//!
//! Every response from here carries a strict `Content-Security-Policy` (scripts and
//! styles from this origin only, no inline script, no framing) and the headers that stop
//! content sniffing, referrers and framing.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

/// Where the UI lives.
pub const UI_PATH: &str = "/ui/";

/// The policy for every page and asset: nothing from elsewhere, no inline script or
/// style, no plugins, no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The embedded assets: file name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../web/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../web/app.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("../../web/i18n.js")),
    ("monitoring.js", "text/javascript; charset=utf-8", include_str!("../../web/monitoring.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../web/style.css")),
    ("favicon.svg", "image/svg+xml", include_str!("../../web/favicon.svg")),
];

/// The UI's routes, with the security headers on every response.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent(UI_PATH) }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route("/ui/{file}", get(|Path(file): Path<String>| async move { asset(&file) }))
        .route_layer(axum::middleware::map_response(with_security_headers))
}

fn asset(file: &str) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, content)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "no-cache")], *content).into_response()
        }
        None => {
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found").into_response()
        }
    }
}

/// The policy for JSON and text responses: they load nothing and may not be framed.
pub const API_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response of the router: no sniffing and no
/// referrer always; a response that sets no policy of its own (the JSON API) gets one
/// that loads nothing and cannot be framed. A response with its own policy (the UI's,
/// or a page meant to be framed) keeps it, and decides framing by `frame-ancestors`.
pub async fn with_default_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CONTENT_SECURITY_POLICY));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

/// Adds the security headers to a UI response.
pub async fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Whether a request comes from a browser asking for a page: its `Accept` names
/// `text/html` before (or without) `application/json`.
pub fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()) else { return false };
    match (accept.find("text/html"), accept.find("application/json")) {
        (Some(html), Some(json)) => html < json,
        (Some(_), None) => true,
        _ => false,
    }
}
