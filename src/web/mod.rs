//! Server-rendered pages for riders: the list of screenings, the form, the result and the
//! offer to be contacted. Phone first, and complete without JavaScript: the script only hides
//! questions that do not apply and counts progress; the server decides everything.
//!
//! Routes: `GET /`, `GET /s/{id}` (`?site=` tags a station, `?lang=` picks a language),
//! `POST /s/{id}` (the form), `POST /r/{id}` (the result again, in another language),
//! `POST /r/{id}/contact` (contact details, with consent), and `/static/app.{css,js}`.
//!
//! Logs carry ids only: never answers, names or phone numbers.
//!
//! Layer: edges (above `http`). ARCHITECTURE.md maps the layers.

pub(crate) mod assets;
pub(crate) mod csrf;
pub(crate) mod form_token;
mod pages;
pub(crate) mod request;

#[cfg(test)]
mod tests;

use actix_web::cookie::Cookie;
use actix_web::error::UrlencodedError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use self::pages::{
    Base, ContactForm, ErrorPage, FormParts, IndexEntry, IndexPage, Kept, SwitchForm, Switcher,
    ThanksPage,
};
use crate::contact::Contact;
use crate::http::ApiError;
use crate::i18n::{Lang, Tr};
use crate::questionnaire::{Questionnaire, Tier};
use crate::scoring::{AnswerSet, RawAnswers};
use crate::screening::{self, ContactError, CrisisLineView, ScreeningResponse};
use crate::state::AppState;
use form_token::{FormKey, Purpose, Refusal};

/// The screening a station's QR code opens by default: listed first.
const FEATURED: &str = "rider_wellbeing";
/// The largest form body accepted (answers are a few hundred bytes).
const FORM_LIMIT: usize = 64 * 1024;
const KEY_FIELD: &str = "idempotency-key";
/// Set on a form that came back once because sensitive questions were left unanswered: the
/// next send is accepted as it is.
const SENSITIVE_SEEN_FIELD: &str = "sensitive-seen";

/// Registers the pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let form_config = web::FormConfig::default()
        .limit(FORM_LIMIT)
        .error_handler(|err, req| {
            let lang = request::negotiate(req).0;
            let status = match &err {
                UrlencodedError::Overflow { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                UrlencodedError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::info!(status = status.as_u16(), "form body refused");
            let state = req.app_data::<web::Data<AppState>>();
            let page = error_page(
                req,
                state.map(|s| &***s),
                lang,
                "error-400-title",
                "error-400-body",
                Vec::new(),
                None,
            );
            actix_web::error::InternalError::from_response(
                err,
                page.render_status(status, Vec::new()),
            )
            .into()
        });
    cfg.configure(assets::configure)
        .route("/", web::get().to(index))
        .service(
            web::resource("/s/{id}")
                .app_data(form_config.clone())
                .route(web::get().to(show_form))
                .route(web::post().to(submit_form)),
        )
        .service(
            web::resource("/r/{id}")
                .app_data(form_config.clone())
                .route(web::post().to(show_result)),
        )
        .service(
            web::resource("/r/{id}/contact")
                .app_data(form_config.clone())
                .route(web::post().to(add_contact)),
        )
        .service(
            web::resource("/r/{id}/withdraw")
                .app_data(form_config)
                .route(web::get().to(show_withdraw))
                .route(web::post().to(withdraw)),
        )
        .default_service(web::to(not_routed));
}

/// Any other path: the 404 page, with the hotline.
async fn not_routed(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (lang, _) = request::negotiate(&req);
    not_found(&req, &state, lang)
}

// ---- responses --------------------------------------------------------------------------

trait Render {
    fn render_status(&self, status: StatusCode, cookies: Vec<Cookie<'static>>) -> HttpResponse;
}

impl<T: Template> Render for T {
    fn render_status(&self, status: StatusCode, cookies: Vec<Cookie<'static>>) -> HttpResponse {
        let body = match self.render() {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "cannot render a page");
                return HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("internal error");
            }
        };
        let mut response = HttpResponse::build(status);
        response
            .content_type("text/html; charset=utf-8")
            // Pages hold answers, results and form tokens: never keep them in any cache.
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                // connect-src: the form's script fetches its proof-of-work challenge.
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"));
        for c in cookies {
            response.cookie(c);
        }
        response.body(body)
    }
}

fn base(t: Tr, title: String, switcher: Switcher) -> Base {
    // The language travels in the cookie (posted pages set it); a plain link does not pin it.
    let home = "/".to_string();
    let brand = t.tr("brand");
    Base {
        t,
        title: if title.is_empty() {
            brand
        } else {
            format!("{title} · {brand}")
        },
        css: assets::css_href(),
        js: None,
        home,
        switcher,
    }
}

/// `crisis.callback_hint` in the page's language, if the deployment set one.
fn callback_hint(state: &AppState, lang: Lang) -> Option<String> {
    state
        .settings
        .crisis
        .callback_hint_in(lang.code())
        .map(|h| h.trim().to_string())
}

fn crisis_lines(state: &AppState, lang: Lang) -> Vec<CrisisLineView> {
    state
        .settings
        .crisis
        .lines
        .iter()
        .map(|l| CrisisLineView {
            number: l.number.clone(),
            name: l.name_in(lang.code()).to_string(),
        })
        .collect()
}

/// An error page: the crisis lines first when given (a red answer, a failure that may have
/// kept a result from the rider), else the hotline below the text. Every rider error page has
/// one or the other. `state` is `None` only where the application state is not reachable.
fn error_page(
    req: &HttpRequest,
    state: Option<&AppState>,
    lang: Lang,
    heading: &str,
    body: &str,
    crisis: Vec<CrisisLineView>,
    back: Option<(String, String)>,
) -> ErrorPage {
    let t = Tr(lang);
    let heading = t.tr(heading);
    let hotline = if crisis.is_empty() {
        match state {
            Some(state) => crisis_lines(state, lang).into_iter().take(1).collect(),
            None => vec![CrisisLineView {
                number: "12356".into(),
                name: t.tr("hotline-default-name"),
            }],
        }
    } else {
        Vec::new()
    };
    ErrorPage {
        base: base(t, heading.clone(), Switcher::links(lang, req.path(), &[])),
        heading,
        body: t.tr(body),
        crisis,
        hotline,
        back,
    }
}

fn not_found(req: &HttpRequest, state: &AppState, lang: Lang) -> HttpResponse {
    error_page(
        req,
        Some(state),
        lang,
        "error-404-title",
        "error-404-body",
        Vec::new(),
        None,
    )
    .render_status(StatusCode::NOT_FOUND, Vec::new())
}

/// A failure that may have kept a result from the rider: the crisis lines come first.
fn failure(req: &HttpRequest, state: &AppState, lang: Lang) -> HttpResponse {
    error_page(
        req,
        Some(state),
        lang,
        "error-500-title",
        "error-500-body",
        crisis_lines(state, lang),
        None,
    )
    .render_status(StatusCode::INTERNAL_SERVER_ERROR, Vec::new())
}

/// The database cannot be reached: 503 with `Retry-After`, the crisis lines first, and a
/// way back to the form.
fn unavailable(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    questionnaire: &str,
    site: Option<&str>,
) -> HttpResponse {
    unavailable_page(
        req,
        state,
        lang,
        ("error-503-title", "error-503-body"),
        reopen(lang, questionnaire, site),
    )
}

/// 503 with `Retry-After` and the crisis lines first, under the given heading and text.
fn unavailable_page(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    texts: (&str, &str),
    back: Option<(String, String)>,
) -> HttpResponse {
    not_saved_page(
        req,
        state,
        lang,
        texts,
        back,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(crate::http::error::RETRY_AFTER_SECONDS),
        ),
    )
}

/// Answers that were not stored (the database away, a flood limit, a missing challenge): the
/// crisis lines first, under the given heading and text, with this status and `Retry-After`.
fn not_saved_page(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    (heading, body): (&str, &str),
    back: Option<(String, String)>,
    (status, retry_after): (StatusCode, Option<u64>),
) -> HttpResponse {
    let mut response = error_page(
        req,
        Some(state),
        lang,
        heading,
        body,
        crisis_lines(state, lang),
        back,
    )
    .render_status(status, Vec::new());
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(seconds),
        );
    }
    response
}

/// A database error on a result page (its reload or the contact form): 503 with
/// `Retry-After` when the database cannot be reached, else the 500 page; crisis lines first
/// in both.
fn result_failure(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    error: &crate::db::DbError,
    texts: (&str, &str),
) -> HttpResponse {
    if error.is_unavailable() {
        unavailable_page(req, state, lang, texts, None)
    } else {
        failure(req, state, lang)
    }
}

/// The link back to a fresh form, with the station tag of the one sent (when URL-safe).
fn reopen(lang: Lang, questionnaire: &str, site: Option<&str>) -> Option<(String, String)> {
    let mut href = format!("/s/{questionnaire}?lang={}", lang.code());
    if let Some(site) = site.filter(|s| url_safe_site(s)) {
        href.push_str(&format!("&site={site}"));
    }
    Some((href, Tr(lang).tr("error-reopen")))
}

fn lang_cookie(req: &HttpRequest, lang: Lang, chosen: bool) -> Vec<Cookie<'static>> {
    if chosen {
        vec![request::cookie(req, lang)]
    } else {
        Vec::new()
    }
}

/// A station tag that can go into a URL as is (the same rule `submit` applies).
fn url_safe_site(site: &str) -> bool {
    (1..=64).contains(&site.len())
        && site
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The form's fields, in order, duplicates kept.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The language of a posted page: its hidden field (remembered), else the request's.
    fn lang(&self, req: &HttpRequest) -> (Lang, bool) {
        match self.get("lang").and_then(Lang::parse) {
            Some(l) => (l, true),
            None => request::negotiate(req),
        }
    }
}

// ---- the list ---------------------------------------------------------------------------

async fn index(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (lang, chosen) = request::negotiate(&req);
    let t = Tr(lang);
    let site = request::query_param(&req, "site").filter(|s| url_safe_site(s));
    let catalog = state.catalog.get();
    // The screenings this deployment offers riders (`rider.public_questionnaires`), in its
    // order with the station's own first; the others stay reachable by their link.
    let mut list: Vec<&Questionnaire> = state
        .settings
        .rider
        .public_questionnaires
        .iter()
        .filter_map(|id| catalog.get(id).map(|q| &**q))
        .collect();
    list.sort_by_key(|q| q.id != FEATURED);
    let entries = list
        .into_iter()
        .map(|q| {
            let locale = screening::pick_locale(q, Some(lang.code()));
            let mut href = format!("/s/{}", q.id);
            if let Some(site) = &site {
                href.push_str(&format!("?site={site}"));
            }
            IndexEntry {
                href,
                title: q
                    .plain_title
                    .as_ref()
                    .unwrap_or(&q.title)
                    .get(&locale, &q.default_locale)
                    .to_string(),
                minutes: q
                    .estimated_minutes
                    .map(|m| t.tr_n("index-minutes", "minutes", i64::from(m))),
                recommended: q.id == FEATURED,
            }
        })
        .collect();
    let params: Vec<(&str, &str)> = site.iter().map(|s| ("site", s.as_str())).collect();
    IndexPage {
        base: base(t, String::new(), Switcher::links(lang, "/", &params)),
        entries,
    }
    .render_status(StatusCode::OK, lang_cookie(&req, lang, chosen))
}

// ---- the form ---------------------------------------------------------------------------

fn form_parts(
    req: &HttpRequest,
    state: &AppState,
    q: &Questionnaire,
    lang: Lang,
    csrf: String,
    key: String,
    site: Option<String>,
) -> FormParts {
    let t = Tr(lang);
    let locale = screening::pick_locale(q, Some(lang.code()));
    let title = q.title.get(&locale, &q.default_locale).to_string();
    let link_site = site.as_deref().filter(|s| url_safe_site(s));
    let params: Vec<(&str, &str)> = link_site.iter().map(|s| ("site", *s)).collect();
    let mut base = base(t, title, Switcher::links(lang, req.path(), &params));
    base.js = Some(assets::js_href());
    FormParts {
        base,
        csrf,
        key,
        site,
        crisis: Vec::new(),
        hotline: Vec::new(),
        decided: false,
        prompt: None,
        offline: crisis_lines(state, lang),
    }
}

fn form_key(state: &AppState) -> FormKey {
    FormKey::from_settings(&state.settings)
}

/// A new render id: every rendering of a form has its own, so a refresh or a double tap of
/// this one form sends the same key, and is answered from the first submission instead of
/// stored twice.
fn new_render_id() -> String {
    format!("web-{}", csrf::random_hex::<16>())
}

async fn show_form(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (lang, chosen) = request::negotiate(&req);
    let catalog = state.catalog.get();
    let Some(q) = catalog.get(path.as_str()) else {
        return not_found(&req, &state, lang);
    };
    let key = new_render_id();
    let token = form_key(&state).issue(Purpose::Screening, &q.id, &key);
    let site = request::query_param(&req, "site")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 200);
    let parts = form_parts(&req, &state, q, lang, token, key, site);
    pages::form_page(q, parts, &Kept::default())
        .render_status(StatusCode::OK, lang_cookie(&req, lang, chosen))
}

fn is_control_field(name: &str) -> bool {
    matches!(
        name,
        form_token::FIELD | KEY_FIELD | SENSITIVE_SEEN_FIELD | "lang" | "site" | "altcha"
    )
}

/// The answers of the form as the API takes them: values that are whole numbers become
/// numbers, anything else stays a string (and is reported as not a choice); empty fields are
/// unanswered.
fn raw_answers(fields: &Fields) -> RawAnswers {
    RawAnswers(
        fields
            .0
            .iter()
            .filter(|(k, v)| !is_control_field(k) && !v.trim().is_empty())
            .map(|(k, v)| {
                let v = v.trim();
                let value = v
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(v.to_string()), Value::from);
                (k.clone(), value)
            })
            .collect(),
    )
}

/// The identity of a form submission, for idempotent replays: the same questionnaire,
/// language, station and answers (in item order) give the same hash.
fn request_hash(q: &Questionnaire, lang: Lang, site: Option<&str>, raw: &RawAnswers) -> String {
    let mut answers: Vec<(usize, &str, &Value)> = raw
        .0
        .iter()
        .map(|(k, v)| (q.item_index(k).unwrap_or(usize::MAX), k.as_str(), v))
        .collect();
    answers.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let normalized = serde_json::json!({
        "questionnaire": q.id,
        "locale": lang.code(),
        "site": site,
        "answers": answers.iter().map(|(_, k, v)| (k, v)).collect::<Vec<_>>(),
    });
    screening::sha256_hex(normalized.to_string().as_bytes())
}

fn answer_error_message(t: Tr, code: &str) -> String {
    t.tr(match code {
        "required" => "err-required",
        "not_asked" => "err-not-asked",
        "duplicate_item" => "err-duplicate",
        _ => "err-not-a-choice",
    })
}

/// Whether answers sent (and not stored) already score red: scored with the live
/// questionnaire, never written anywhere. Answers that do not score (a required item left
/// out) are not red by themselves.
fn sent_answers_are_red(q: &Questionnaire, fields: &Fields) -> bool {
    let raw = AnswerSet::without_unasked(q, &raw_answers(fields));
    AnswerSet::parse_raw(q, &raw).is_ok_and(|a| crate::scoring::score(&a).tier == Tier::Red)
}

/// The crisis lines for a page that answers a form not stored: all of them when the answers
/// sent score red, else none (the page shows the hotline).
fn crisis_if_red(
    state: &AppState,
    q: &Questionnaire,
    lang: Lang,
    fields: &Fields,
) -> Vec<CrisisLineView> {
    if sent_answers_are_red(q, fields) {
        crisis_lines(state, lang)
    } else {
        Vec::new()
    }
}

/// The answers as the rider left them, for a form that comes back.
fn kept_values(fields: &Fields) -> Kept<'_> {
    Kept {
        values: fields
            .0
            .iter()
            .filter(|(k, _)| !is_control_field(k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        ..Kept::default()
    }
}

/// A form whose token did not verify (expired, made for another form, or sent from another
/// site): never a dead end. Nothing is stored; the form comes back filled with what was sent,
/// with a fresh token (same render id, so a send that did get through is not doubled), the
/// station kept, and the crisis lines first when the answers already score red.
fn resend_form(
    req: &HttpRequest,
    state: &AppState,
    q: &Questionnaire,
    lang: Lang,
    fields: &Fields,
    (key, site): (String, Option<String>),
    refusal: Refusal,
) -> HttpResponse {
    let t = Tr(lang);
    let token = form_key(state).issue(Purpose::Screening, &q.id, &key);
    let mut parts = form_parts(req, state, q, lang, token, key, site);
    parts.decided = fields.get(SENSITIVE_SEEN_FIELD) == Some("1");
    parts.crisis = crisis_if_red(state, q, lang, fields);
    let red = !parts.crisis.is_empty();
    if !red {
        parts.hotline = crisis_lines(state, lang).into_iter().take(1).collect();
    }
    tracing::info!(questionnaire = %q.id, reason = refusal.as_str(), red, "form not accepted as sent: shown again, filled");
    let mut kept = kept_values(fields);
    kept.general_errors.push(t.tr(match refusal {
        Refusal::Expired => "form-resend-expired",
        Refusal::Unverifiable | Refusal::ForeignOrigin => "form-resend-check",
    }));
    pages::form_page(q, parts, &kept).render_status(StatusCode::FORBIDDEN, Vec::new())
}

/// Sensitive questions left unanswered: the form comes back once (nothing stored) with a
/// gentle prompt, the answers kept and a marker that makes the next send accepted as it is (a
/// refusal still counts as positive). A red from an answer given puts the crisis lines first;
/// else the hotline is in the prompt.
fn soft_prompt(
    req: &HttpRequest,
    state: &AppState,
    q: &Questionnaire,
    lang: Lang,
    fields: &Fields,
    (key, site): (String, Option<String>),
    declined: &[&str],
) -> HttpResponse {
    let t = Tr(lang);
    let token = form_key(state).issue(Purpose::Screening, &q.id, &key);
    let mut parts = form_parts(req, state, q, lang, token, key, site);
    let raw = AnswerSet::without_unasked(q, &raw_answers(fields));
    let disclosed_red = AnswerSet::parse_raw(q, &raw).is_ok_and(|a| {
        let outcome = crate::scoring::score(&a);
        outcome.tier == Tier::Red && !crate::scoring::red_only_from_refusals(&a, &outcome)
    });
    if disclosed_red {
        parts.crisis = crisis_lines(state, lang);
    } else {
        parts.hotline = crisis_lines(state, lang).into_iter().take(1).collect();
    }
    parts.decided = true;
    parts.prompt = Some(pages::SoftPrompt {
        text: t.tr_n(
            "form-sensitive-prompt",
            "count",
            i64::try_from(declined.len()).unwrap_or(0),
        ),
        items: declined.iter().map(|s| (*s).to_string()).collect(),
    });
    tracing::info!(questionnaire = %q.id, declined = declined.len(), "sensitive questions unanswered: the form shown once more");
    pages::form_page(q, parts, &kept_values(fields)).render_status(StatusCode::OK, Vec::new())
}

async fn submit_form(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = Fields(form.into_inner());
    let (lang, chosen) = fields.lang(&req);
    let catalog = state.catalog.get();
    let Some(q) = catalog.get(path.as_str()) else {
        return not_found(&req, &state, lang);
    };
    let site = fields
        .get("site")
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .map(str::to_string);
    let sent_key = fields
        .get(KEY_FIELD)
        .filter(|k| screening::valid_idempotency_key(k))
        .map(str::to_string);
    let checked = form_key(&state).verify(
        &req,
        fields.get(form_token::FIELD),
        Purpose::Screening,
        &q.id,
        sent_key.as_deref().unwrap_or_default(),
    );
    if let Err(refusal) = checked {
        // A foreign page chose the key: the form comes back under a key of our own.
        let key = match (refusal, sent_key) {
            (Refusal::ForeignOrigin, _) | (_, None) => new_render_id(),
            (_, Some(k)) => k,
        };
        return resend_form(&req, &state, q, lang, &fields, (key, site), refusal);
    }
    let key = sent_key;
    // With JavaScript off every question is on the page: answers to those that do not apply
    // are set aside, not refused.
    let raw = AnswerSet::without_unasked(q, &raw_answers(&fields));
    let seen = fields.get(SENSITIVE_SEEN_FIELD) == Some("1");
    if !seen {
        let declined = AnswerSet::declined_sensitive(q, &raw);
        if !declined.is_empty() {
            let key = key.unwrap_or_else(new_render_id);
            return soft_prompt(&req, &state, q, lang, &fields, (key, site), &declined);
        }
    }
    let hash = request_hash(q, lang, site.as_deref(), &raw);
    let request = screening::SubmitRequest {
        questionnaire: q.id.clone(),
        answers: raw,
        locale: Some(lang.code().to_string()),
        site: site.clone(),
        contact: None,
        consent_to_contact: false,
        altcha: fields.get("altcha").map(str::to_string),
    };
    let submitted = crate::http::submit(&state, &req, request, key.clone(), hash).await;
    let cookies = lang_cookie(&req, lang, chosen);
    match submitted {
        Ok(s) => {
            let id = s.response.id.clone();
            tracing::info!(screening = %id, questionnaire = %q.id, replayed = s.replayed, "screening submitted from the form");
            // The token is derived from the screening and the form's key, so a refreshed or
            // repeated send gets it again: no cookie holds it.
            result_response(
                &state,
                lang,
                &s.response,
                s.contact_token,
                None,
                None,
                StatusCode::OK,
            )
            .with_cookies(cookies)
        }
        Err(ApiError::Unprocessable { code, details, .. }) => {
            let t = Tr(lang);
            let mut kept = kept_values(&fields);
            for d in &details {
                let item = d.get("item").and_then(Value::as_str);
                let code = d.get("code").and_then(Value::as_str).unwrap_or_default();
                match item {
                    Some(item) if q.item(item).is_some() => kept
                        .item_errors
                        .push((item.to_string(), answer_error_message(t, code))),
                    _ => {
                        let m = t.tr("form-outdated");
                        if !kept.general_errors.contains(&m) {
                            kept.general_errors.push(m);
                        }
                    }
                }
            }
            if code != "invalid_answers" && kept.general_errors.is_empty() {
                kept.general_errors.push(t.tr("form-outdated"));
            }
            tracing::info!(questionnaire = %q.id, problems = details.len(), "form answers refused");
            let key = key.unwrap_or_else(new_render_id);
            let token = form_key(&state).issue(Purpose::Screening, &q.id, &key);
            let mut parts = form_parts(&req, &state, q, lang, token, key, site);
            parts.decided = seen;
            pages::form_page(q, parts, &kept)
                .render_status(StatusCode::UNPROCESSABLE_ENTITY, cookies)
        }
        Err(ApiError::NotFound(_)) => not_found(&req, &state, lang),
        Err(ApiError::Conflict(..)) => {
            tracing::info!(questionnaire = %q.id, "form refused: its key was used for other answers");
            error_page(
                &req,
                Some(&state),
                lang,
                "error-409-title",
                "error-409-body",
                crisis_if_red(&state, q, lang, &fields),
                reopen(lang, &q.id, site.as_deref()),
            )
            .render_status(StatusCode::CONFLICT, cookies)
        }
        Err(ApiError::NotSaved(response)) => {
            tracing::error!(questionnaire = %q.id, tier = %response.outcome.tier, "the form's answers could not be saved");
            unavailable(&req, &state, lang, &q.id, site.as_deref())
        }
        Err(ApiError::Limited {
            response,
            retry_after,
            ..
        }) => {
            tracing::warn!(questionnaire = %q.id, tier = %response.outcome.tier, "the form's answers were refused: over the flood limit");
            not_saved_page(
                &req,
                &state,
                lang,
                ("error-429-title", "error-429-body"),
                reopen(lang, &q.id, site.as_deref()),
                (StatusCode::TOO_MANY_REQUESTS, Some(retry_after)),
            )
        }
        Err(ApiError::ChallengeRequired { response, reason }) => {
            tracing::warn!(questionnaire = %q.id, tier = %response.outcome.tier, reason, "the form's answers were refused: a proof-of-work challenge was needed");
            not_saved_page(
                &req,
                &state,
                lang,
                ("error-429-title", "error-429-body"),
                reopen(lang, &q.id, site.as_deref()),
                (StatusCode::PRECONDITION_REQUIRED, None),
            )
        }
        Err(ApiError::Unavailable(m)) => {
            tracing::error!(questionnaire = %q.id, error = %m, "the form could not be submitted: no database");
            unavailable(&req, &state, lang, &q.id, site.as_deref())
        }
        Err(e) => {
            // ApiError's own mapping logs internals with a reference; here the rider gets a
            // page, so log it ourselves.
            tracing::error!(questionnaire = %q.id, error = %e, detail = ?e, "the form could not be submitted");
            failure(&req, &state, lang)
        }
    }
}

trait WithCookies {
    fn with_cookies(self, cookies: Vec<Cookie<'static>>) -> HttpResponse;
}

impl WithCookies for HttpResponse {
    fn with_cookies(mut self, cookies: Vec<Cookie<'static>>) -> HttpResponse {
        for c in cookies {
            if let Err(e) = self.add_cookie(&c) {
                tracing::error!(error = %e, "cannot set a cookie");
            }
        }
        self
    }
}

// ---- the result -------------------------------------------------------------------------

fn retention_days(state: &AppState) -> i64 {
    i64::try_from(state.settings.privacy.contact_retention.as_secs() / 86_400).unwrap_or(90)
}

fn result_response(
    state: &AppState,
    lang: Lang,
    response: &ScreeningResponse,
    token: Option<String>,
    notice: Option<String>,
    contact: Option<ContactForm>,
    status: StatusCode,
) -> HttpResponse {
    let t = Tr(lang);
    let id = &response.id;
    let csrf = form_key(state).issue(Purpose::Result, "", id);
    let switcher = match &token {
        Some(token) => Switcher::form(
            lang,
            SwitchForm {
                action: format!("/r/{id}"),
                csrf: csrf.clone(),
                token: token.clone(),
                view: "result",
            },
        ),
        None => Switcher::links(lang, "/", &[]),
    };
    let contact = token.clone().map(|token| {
        let mut form = contact.unwrap_or_default();
        // The fragment brings a refused form back into view (the crisis lines sit above it).
        form.action = format!("/r/{id}/contact#contact");
        form.csrf = csrf;
        form.token = token;
        form.retention_days = retention_days(state);
        form
    });
    let withdraw = token.as_deref().map(|token| withdraw_href(lang, id, token));
    let mut page = pages::result_page(base(t, t.tr("result-title"), switcher), response, contact);
    page.notice = notice;
    page.withdraw = withdraw;
    match response.outcome.tier {
        Tier::Red => page.callback_hint = callback_hint(state, lang),
        Tier::Green => page.small_hotline = crisis_lines(state, lang).into_iter().take(1).collect(),
        Tier::Yellow => {}
    }
    page.render_status(status, Vec::new())
}

/// The stored result of screening `id`, if `token` is the one its browser was given, in
/// `lang` when the questionnaire version that scored it is still loaded.
fn load_result(
    state: &AppState,
    id: &str,
    token: &str,
    lang: Lang,
) -> Result<Option<ScreeningResponse>, crate::db::DbError> {
    let mut conn = state.pool.get()?;
    let Some(row) = crate::db::screenings::find(&mut conn, id)? else {
        return Ok(None);
    };
    let Some(expected) = row.contact_token_hash.as_deref() else {
        return Ok(None);
    };
    let given = screening::sha256_hex(token.as_bytes());
    if !csrf::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Ok(None);
    }
    let Some(stored) = row
        .response
        .as_deref()
        .and_then(|r| serde_json::from_str::<ScreeningResponse>(r).ok())
    else {
        return Ok(None);
    };
    let catalog = state.catalog.get();
    Ok(Some(match catalog.get(&row.questionnaire_id) {
        Some(q) if q.content_hash == stored.outcome.content_hash => {
            let locale = screening::pick_locale(q, Some(lang.code()));
            let shown = screening::Shown {
                crisis: &state.settings.crisis.lines,
                rider: &state.settings.rider,
            };
            let answers = serde_json::from_str::<Value>(&row.answers)
                .ok()
                .and_then(|a| AnswerSet::parse(q, &a).ok());
            match answers {
                Some(a) => {
                    screening::response_for_answers(q, id, &a, stored.outcome, &locale, shown)
                }
                None => screening::response_for(q, id, stored.outcome, &locale, shown),
            }
        }
        _ => stored,
    }))
}

/// Checks a result page's form token (bound to the screening): `Err` with the notice that
/// goes on the page shown instead.
fn check_result_form(
    req: &HttpRequest,
    state: &AppState,
    fields: &Fields,
    id: &str,
    lang: Lang,
    form: &'static str,
) -> Result<(), String> {
    form_key(state)
        .verify(req, fields.get(form_token::FIELD), Purpose::Result, "", id)
        .map_err(|refusal| {
            tracing::info!(
                form,
                reason = refusal.as_str(),
                "a result form not accepted as sent: the result shown again"
            );
            Tr(lang).tr(match refusal {
                Refusal::Expired => "result-resend-expired",
                Refusal::Unverifiable | Refusal::ForeignOrigin => "result-resend-check",
            })
        })
}

/// The result again (for the language switcher of the result and thank-you pages).
async fn show_result(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = Fields(form.into_inner());
    let (lang, _) = fields.lang(&req);
    let id = path.into_inner();
    let refused = check_result_form(&req, &state, &fields, &id, lang, "result").err();
    // The language is remembered only from a form of this site.
    let cookies = if refused.is_none() {
        vec![request::cookie(&req, lang)]
    } else {
        Vec::new()
    };
    let token = fields.get("token").unwrap_or_default().to_string();
    let loaded = {
        let (state, id, token) = (state.clone(), id.clone(), token.clone());
        web::block(move || load_result(&state, &id, &token, lang)).await
    };
    let response = match loaded {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => return not_found(&req, &state, lang).with_cookies(cookies),
        Ok(Err(e)) => {
            tracing::error!(screening = %id, error = %e, "cannot load a result");
            return result_failure(
                &req,
                &state,
                lang,
                &e,
                ("error-503-result-title", "error-503-result-body"),
            );
        }
        Err(e) => {
            tracing::error!(screening = %id, error = %e, "cannot load a result");
            return failure(&req, &state, lang);
        }
    };
    let status = if refused.is_some() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    if fields.get("view") == Some("thanks") && refused.is_none() {
        return thanks(&state, lang, &response, token, false).with_cookies(cookies);
    }
    result_response(&state, lang, &response, Some(token), refused, None, status)
        .with_cookies(cookies)
}

/// The rider's private link to their own data: the screening and its contact token.
fn withdraw_href(lang: Lang, id: &str, token: &str) -> String {
    format!("/r/{id}/withdraw?token={token}&lang={}", lang.code())
}

fn thanks(
    state: &AppState,
    lang: Lang,
    response: &ScreeningResponse,
    token: String,
    already: bool,
) -> HttpResponse {
    let t = Tr(lang);
    let withdraw = withdraw_href(lang, &response.id, &token);
    let switcher = Switcher::form(
        lang,
        SwitchForm {
            action: format!("/r/{}", response.id),
            csrf: form_key(state).issue(Purpose::Result, "", &response.id),
            token,
            view: "thanks",
        },
    );
    let urgent = response.outcome.tier == Tier::Red;
    ThanksPage {
        base: base(t, t.tr("thanks-title"), switcher),
        urgent,
        callback_hint: if urgent {
            callback_hint(state, lang)
        } else {
            None
        },
        crisis: response.crisis_lines.clone(),
        already,
        withdraw,
    }
    .render_status(StatusCode::OK, Vec::new())
}

// ---- the offer to be contacted ----------------------------------------------------------

enum ContactOutcome {
    Added(ScreeningResponse),
    AlreadyGiven(ScreeningResponse),
    Refused(ScreeningResponse, Box<ContactForm>),
    /// The form's token did not verify: the result again, the details kept, nothing stored.
    Resend(ScreeningResponse, Box<ContactForm>, String),
    NotFound,
}

async fn add_contact(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = Fields(form.into_inner());
    let (lang, chosen) = fields.lang(&req);
    let cookies = lang_cookie(&req, lang, chosen);
    let t = Tr(lang);
    let id = path.into_inner();
    let refused = check_result_form(&req, &state, &fields, &id, lang, "contact").err();
    let token = fields.get("token").unwrap_or_default().to_string();
    let consent = fields.get("consent").is_some_and(|v| !v.is_empty());
    let contact = Contact {
        name: fields.get("name").map(str::to_string),
        phone: fields.get("phone").unwrap_or_default().to_string(),
    };
    // Every problem at once, before anything is written.
    let mut form = ContactForm {
        phone: contact.phone.clone(),
        name: contact.name.clone().unwrap_or_default(),
        consent,
        ..ContactForm::default()
    };
    if refused.is_none() {
        form.consent_error = (!consent).then(|| t.tr("err-consent"));
        match contact.normalized() {
            Err(("name", _)) => form.name_error = Some(t.tr("err-name")),
            Err(_) => form.phone_error = Some(t.tr("err-phone")),
            Ok(_) => {}
        }
    }
    let outcome = {
        let (state, id, token) = (state.clone(), id.clone(), token.clone());
        web::block(move || -> Result<ContactOutcome, crate::db::DbError> {
            let Some(response) = load_result(&state, &id, &token, lang)? else {
                return Ok(ContactOutcome::NotFound);
            };
            if let Some(notice) = refused {
                return Ok(ContactOutcome::Resend(response, Box::new(form), notice));
            }
            if form.has_errors() {
                return Ok(ContactOutcome::Refused(response, Box::new(form)));
            }
            let catalog = state.catalog.get();
            let mut conn = state.pool.get()?;
            match screening::add_contact(
                &mut conn,
                state.context(&catalog),
                &id,
                &token,
                &contact,
                consent,
            ) {
                Ok(()) => Ok(ContactOutcome::Added(response)),
                Err(ContactError::AlreadyGiven) => Ok(ContactOutcome::AlreadyGiven(response)),
                Err(ContactError::NotFound) => Ok(ContactOutcome::NotFound),
                Err(ContactError::NoConsent) => {
                    form.consent_error = Some(Tr(lang).tr("err-consent"));
                    Ok(ContactOutcome::Refused(response, Box::new(form)))
                }
                Err(ContactError::Invalid(field, _)) => {
                    if field == "name" {
                        form.name_error = Some(Tr(lang).tr("err-name"));
                    } else {
                        form.phone_error = Some(Tr(lang).tr("err-phone"));
                    }
                    Ok(ContactOutcome::Refused(response, Box::new(form)))
                }
                Err(ContactError::Db(e)) => Err(e),
            }
        })
        .await
    };
    match outcome {
        Ok(Ok(ContactOutcome::Added(r))) => {
            tracing::info!(screening = %id, "contact details added from the result page");
            thanks(&state, lang, &r, token, false).with_cookies(cookies)
        }
        // A double tap: the first request stored them; this one says the same thing.
        Ok(Ok(ContactOutcome::AlreadyGiven(r))) => {
            tracing::info!(screening = %id, "contact details were already given");
            thanks(&state, lang, &r, token, true).with_cookies(cookies)
        }
        Ok(Ok(ContactOutcome::Refused(r, form))) => {
            tracing::info!(screening = %id, "contact details refused as incomplete");
            result_response(
                &state,
                lang,
                &r,
                Some(token),
                None,
                Some(*form),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .with_cookies(cookies)
        }
        Ok(Ok(ContactOutcome::Resend(r, form, notice))) => result_response(
            &state,
            lang,
            &r,
            Some(token),
            Some(notice),
            Some(*form),
            StatusCode::FORBIDDEN,
        ),
        Ok(Ok(ContactOutcome::NotFound)) => {
            tracing::info!(screening = %id, "contact refused: unknown screening or wrong token");
            not_found(&req, &state, lang).with_cookies(cookies)
        }
        Ok(Err(e)) => {
            tracing::error!(screening = %id, error = %e, "cannot add contact details");
            result_failure(
                &req,
                &state,
                lang,
                &e,
                ("error-503-contact-title", "error-503-contact-body"),
            )
        }
        Err(e) => {
            tracing::error!(screening = %id, error = %e, "cannot add contact details");
            failure(&req, &state, lang)
        }
    }
}

// ---- the rider's own data ----------------------------------------------------------------

/// What `/r/{id}/withdraw` finds for a screening and a token.
enum Holding {
    /// Not this screening's token, or no such screening: nothing said about which.
    Unknown,
    /// The screening holds no contact (never given, or already withdrawn or erased).
    Nothing,
    Contact,
}

/// Whether `token` is screening `id`'s, and whether it still holds a contact.
fn holding(state: &AppState, id: &str, token: &str) -> Result<Holding, crate::db::DbError> {
    let mut conn = state.pool.get()?;
    let Some(row) = crate::db::screenings::find(&mut conn, id)? else {
        return Ok(Holding::Unknown);
    };
    let given = screening::sha256_hex(token.as_bytes());
    if !row
        .contact_token_hash
        .as_deref()
        .is_some_and(|h| csrf::constant_time_eq(given.as_bytes(), h.as_bytes()))
    {
        return Ok(Holding::Unknown);
    }
    Ok(match crate::db::screenings::find_contact(&mut conn, id)? {
        Some(_) => Holding::Contact,
        None => Holding::Nothing,
    })
}

fn withdraw_page(
    req: &HttpRequest,
    state: &AppState,
    lang: Lang,
    (heading, body): (&str, &str),
    form: Option<pages::WithdrawForm>,
    notice: Option<String>,
) -> pages::WithdrawPage {
    let t = Tr(lang);
    let heading = t.tr(heading);
    // The language links stay on this page (with its token) rather than going home.
    let token = request::query_param(req, "token").filter(|t| is_token(t));
    let params: Vec<(&str, &str)> = token.iter().map(|t| ("token", t.as_str())).collect();
    pages::WithdrawPage {
        base: base(
            t,
            heading.clone(),
            Switcher::links(lang, req.path(), &params),
        ),
        heading,
        body: t.tr(body),
        notice,
        form,
        hotline: crisis_lines(state, lang).into_iter().take(1).collect(),
    }
}

/// A contact token as issued: 48 hex characters.
fn is_token(token: &str) -> bool {
    token.len() == 48 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn withdraw_form(state: &AppState, id: &str, token: &str) -> pages::WithdrawForm {
    pages::WithdrawForm {
        action: format!("/r/{id}/withdraw"),
        csrf: form_key(state).issue(Purpose::Result, "withdraw", id),
        token: token.to_string(),
    }
}

/// `GET /r/{id}/withdraw?token=...`: what withdrawing does, and the button.
async fn show_withdraw(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (lang, chosen) = request::negotiate(&req);
    let id = path.into_inner();
    let token = request::query_param(&req, "token").unwrap_or_default();
    let found = {
        let (state, id, token) = (state.clone(), id.clone(), token.clone());
        web::block(move || holding(&state, &id, &token)).await
    };
    let cookies = lang_cookie(&req, lang, chosen);
    match found {
        Ok(Ok(Holding::Contact)) => withdraw_page(
            &req,
            &state,
            lang,
            ("withdraw-title", "withdraw-body"),
            Some(withdraw_form(&state, &id, &token)),
            None,
        )
        .render_status(StatusCode::OK, cookies),
        Ok(Ok(Holding::Nothing)) => withdraw_page(
            &req,
            &state,
            lang,
            ("withdraw-title", "withdraw-nothing"),
            None,
            None,
        )
        .render_status(StatusCode::OK, cookies),
        Ok(Ok(Holding::Unknown)) => not_found(&req, &state, lang),
        Ok(Err(e)) => {
            tracing::error!(screening = %id, error = %e, "cannot open the withdraw page");
            result_failure(
                &req,
                &state,
                lang,
                &e,
                ("error-503-contact-title", "error-503-contact-body"),
            )
        }
        Err(e) => {
            tracing::error!(screening = %id, error = %e, "cannot open the withdraw page");
            failure(&req, &state, lang)
        }
    }
}

/// `POST /r/{id}/withdraw`: the form token (bound to this screening) and the Origin check,
/// then the contact deleted, its alert told, the withdrawal audited (ids only).
async fn withdraw(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let fields = Fields(form.into_inner());
    let (lang, chosen) = fields.lang(&req);
    let id = path.into_inner();
    let token = fields.get("token").unwrap_or_default().to_string();
    let checked = form_key(&state).verify(
        &req,
        fields.get(form_token::FIELD),
        Purpose::Result,
        "withdraw",
        &id,
    );
    if let Err(refusal) = checked {
        tracing::info!(screening = %id, reason = refusal.as_str(), "a withdrawal not accepted as sent: the page shown again");
        // The page again with a fresh token, when the link itself is good; else the 404.
        let found = {
            let (state, id, token) = (state.clone(), id.clone(), token.clone());
            web::block(move || holding(&state, &id, &token)).await
        };
        return match found {
            Ok(Ok(Holding::Contact)) => withdraw_page(
                &req,
                &state,
                lang,
                ("withdraw-title", "withdraw-body"),
                Some(withdraw_form(&state, &id, &token)),
                Some(Tr(lang).tr(match refusal {
                    Refusal::Expired => "withdraw-resend-expired",
                    Refusal::Unverifiable | Refusal::ForeignOrigin => "result-resend-check",
                })),
            )
            .render_status(StatusCode::FORBIDDEN, Vec::new()),
            Ok(Ok(Holding::Nothing)) => withdraw_page(
                &req,
                &state,
                lang,
                ("withdraw-title", "withdraw-nothing"),
                None,
                None,
            )
            .render_status(StatusCode::FORBIDDEN, Vec::new()),
            Ok(Ok(Holding::Unknown)) => not_found(&req, &state, lang),
            Ok(Err(_)) | Err(_) => failure(&req, &state, lang),
        };
    }
    let done = {
        let (state, id, token) = (state.clone(), id.clone(), token.clone());
        web::block(move || -> Result<(), screening::WithdrawError> {
            let mut conn = state.pool.get().map_err(crate::db::DbError::from)?;
            // The rider is not signed in, and their address is not kept with the entry.
            let who = crate::audit::Who {
                user_id: None,
                label: "rider".into(),
                ip: None,
            };
            screening::withdraw_contact(&mut conn, &id, &token, &who)
        })
        .await
    };
    let cookies = lang_cookie(&req, lang, chosen);
    match done {
        Ok(Ok(())) => {
            tracing::info!(screening = %id, "contact withdrawn by the rider");
            withdraw_page(
                &req,
                &state,
                lang,
                ("withdraw-done-title", "withdraw-done-body"),
                None,
                None,
            )
            .render_status(StatusCode::OK, cookies)
        }
        Ok(Err(screening::WithdrawError::NothingToWithdraw)) => {
            tracing::info!(screening = %id, "withdrawal refused: no contact to withdraw");
            withdraw_page(
                &req,
                &state,
                lang,
                ("withdraw-title", "withdraw-nothing"),
                None,
                None,
            )
            .render_status(StatusCode::CONFLICT, cookies)
        }
        Ok(Err(screening::WithdrawError::NotFound)) => {
            tracing::info!(screening = %id, "withdrawal refused: unknown screening or wrong token");
            not_found(&req, &state, lang)
        }
        Ok(Err(screening::WithdrawError::Db(e))) => {
            tracing::error!(screening = %id, error = %e, "cannot withdraw a contact");
            result_failure(
                &req,
                &state,
                lang,
                &e,
                ("error-503-contact-title", "error-503-contact-body"),
            )
        }
        Err(e) => {
            tracing::error!(screening = %id, error = %e, "cannot withdraw a contact");
            failure(&req, &state, lang)
        }
    }
}
