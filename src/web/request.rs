//! What a page learns from its request: the language (`?lang=`, remembered in a cookie, then
//! that cookie, then `Accept-Language`, then Simplified Chinese) and query parameters.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time};

use crate::i18n::{Lang, from_accept_language};

/// The cookie that remembers a language chosen with `?lang=` or the switcher.
pub const COOKIE: &str = "careline_lang";

/// The language of a request, and whether it was chosen just now with `?lang=` (and so
/// should be remembered in the cookie).
pub fn negotiate(req: &HttpRequest) -> (Lang, bool) {
    if let Some(lang) = query_param(req, "lang").and_then(|l| Lang::parse(&l)) {
        return (lang, true);
    }
    if let Some(lang) = req.cookie(COOKIE).and_then(|c| Lang::parse(c.value())) {
        return (lang, false);
    }
    let accepted = req
        .headers()
        .get(actix_web::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(from_accept_language);
    (accepted.unwrap_or(Lang::DEFAULT), false)
}

/// The cookie that remembers `lang` for a year.
pub fn cookie(req: &HttpRequest, lang: Lang) -> Cookie<'static> {
    Cookie::build(COOKIE, lang.code())
        .path("/")
        .max_age(time::Duration::days(365))
        .same_site(SameSite::Lax)
        .http_only(true)
        .secure(req.connection_info().scheme() == "https")
        .finish()
}

/// One query parameter of the request, decoded.
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()?
        .into_inner()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
