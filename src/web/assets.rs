//! The pages' stylesheet and script, compiled into the binary and served from memory. Their
//! URLs carry a hash of the content, so they can be cached for a year and still change with
//! each release.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub const CSS: &str = include_str!("../../static/app.css");
pub const JS: &str = include_str!("../../static/app.js");
/// The staff workspace's own stylesheet (on top of `app.css`) and its live-queue script.
pub const WORKSPACE_CSS: &str = include_str!("../../static/workspace.css");
pub const WORKSPACE_JS: &str = include_str!("../../static/workspace.js");

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut both = String::new();
    for part in [CSS, JS, WORKSPACE_CSS, WORKSPACE_JS] {
        both.push_str(part);
    }
    crate::screening::sha256_hex(both.as_bytes())[..12].to_string()
});

pub fn css_href() -> String {
    format!("/static/app.css?v={}", *VERSION)
}

pub fn js_href() -> String {
    format!("/static/app.js?v={}", *VERSION)
}

pub fn workspace_css_href() -> String {
    format!("/static/workspace.css?v={}", *VERSION)
}

pub fn workspace_js_href() -> String {
    format!("/static/workspace.js?v={}", *VERSION)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/static/app.css",
        web::get().to(|| async { asset("text/css; charset=utf-8", CSS) }),
    )
    .route(
        "/static/app.js",
        web::get().to(|| async { asset("text/javascript; charset=utf-8", JS) }),
    )
    .route(
        "/static/workspace.css",
        web::get().to(|| async { asset("text/css; charset=utf-8", WORKSPACE_CSS) }),
    )
    .route(
        "/static/workspace.js",
        web::get().to(|| async { asset("text/javascript; charset=utf-8", WORKSPACE_JS) }),
    );
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::ETAG, format!("\"{}\"", *VERSION)))
        .body(body)
}
