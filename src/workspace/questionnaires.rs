//! Questionnaire pages (admins only, issue 14): `GET /admin/questionnaires` (what is live,
//! what was refused with the offending lines), `GET /admin/questionnaires/{id}` (history, a
//! diff between two versions, the edit form), `POST .../preview` (the form as a rider sees
//! it, the examples, the what-would-change report), `POST .../publish`, `.../rollback`,
//! `.../withdraw`, `.../restore`. Counts only; nothing of a single rider.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::views::WsBase;
use super::{Anonymous, Ctx, Fields, render, run_failure, see_other, signed_in};
use crate::accounts::Role;
use crate::admin::questionnaires::{
    self as q, AdminEntry, Detail, QuestionnaireAdminError, Report,
};
use crate::http::{ApiError, run};
use crate::i18n::Tr;
use crate::questionnaire::Questionnaire;
use crate::state::AppState;
use crate::web::request;

const ADMIN: [Role; 1] = [Role::Admin];

fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[derive(Template, Debug)]
#[template(path = "workspace/questionnaires.html")]
struct ListPage {
    base: WsBase,
    entries: Vec<AdminEntry>,
}

/// One choice of a previewed item.
#[derive(Debug)]
struct ChoiceView {
    value: i64,
    label: String,
}

/// One item of the previewed form, as a rider reads it.
#[derive(Debug)]
struct ItemView {
    id: String,
    text: String,
    choices: Vec<ChoiceView>,
    conditional: bool,
}

/// A cell or count as shown: the number, or "under N" when suppressed.
fn shown(t: Tr, n: Option<u64>, min_cell: u32) -> String {
    n.map_or_else(
        || t.tr_args("qa-suppressed", &[("n", min_cell.to_string())]),
        |n| n.to_string(),
    )
}

#[derive(Debug)]
struct TierRow {
    from: String,
    to: String,
    count: String,
    changed: bool,
}

#[derive(Debug)]
struct FiringRow {
    id: String,
    newly: String,
    stopped: String,
}

#[derive(Debug)]
struct ExampleRow {
    name: String,
    old_tier: String,
    new_tier: String,
}

#[derive(Debug)]
struct ReportView {
    version: String,
    screenings: String,
    unscorable: String,
    days: u32,
    tiers: Vec<TierRow>,
    bands: Vec<FiringRow>,
    rules: Vec<FiringRow>,
    examples: Vec<ExampleRow>,
    title: String,
    items: Vec<ItemView>,
}

#[derive(Template, Debug)]
#[template(path = "workspace/questionnaire.html")]
struct DetailPage {
    base: WsBase,
    csrf: String,
    id: String,
    detail: Option<Detail>,
    /// The text in the edit box: the one served, or the one just previewed.
    source: String,
    days: u32,
    notice: Option<String>,
    errors: Vec<String>,
    refusal: Option<String>,
    report: Option<ReportView>,
    diff_from: String,
    diff_to: String,
    diff: Option<String>,
    /// (version, content hash) of every stored version, for the diff and roll-back choices.
    versions: Vec<(String, String)>,
}

fn form_view(t: Tr, new: &Questionnaire) -> (String, Vec<ItemView>) {
    let code = t.0.code();
    let locale = if new.locales.iter().any(|l| l == code) {
        code.to_string()
    } else {
        new.default_locale.clone()
    };
    let items = new
        .items
        .iter()
        .map(|i| ItemView {
            id: i.id.clone(),
            text: i.text.get(&locale, &new.default_locale).to_string(),
            choices: new
                .scale_of(i)
                .choices
                .iter()
                .map(|c| ChoiceView {
                    value: c.value,
                    label: c.label.get(&locale, &new.default_locale).to_string(),
                })
                .collect(),
            conditional: i.show_if.is_some(),
        })
        .collect();
    (
        new.title.get(&locale, &new.default_locale).to_string(),
        items,
    )
}

fn report_view(t: Tr, r: &Report, new: &Questionnaire) -> ReportView {
    let tier = |x: crate::questionnaire::Tier| t.tr(&format!("rep-tier-{}", x.as_str()));
    let firing = |rows: &[q::FiringChange]| {
        rows.iter()
            .map(|f| FiringRow {
                id: f.id.clone(),
                newly: shown(t, f.newly_firing, r.min_cell),
                stopped: shown(t, f.stopped_firing, r.min_cell),
            })
            .collect()
    };
    let (title, items) = form_view(t, new);
    ReportView {
        version: r.version.clone(),
        screenings: shown(t, r.screenings, r.min_cell),
        unscorable: shown(t, r.unscorable, r.min_cell),
        days: r.days,
        tiers: r
            .tier_changes
            .iter()
            .map(|c| TierRow {
                from: tier(c.from),
                to: tier(c.to),
                count: shown(t, c.count, r.min_cell),
                changed: c.from != c.to,
            })
            .collect(),
        bands: firing(&r.bands),
        rules: firing(&r.rules),
        examples: r
            .examples
            .iter()
            .map(|e| ExampleRow {
                name: e.name.clone(),
                old_tier: e.old_tier.map_or_else(|| "-".into(), tier),
                new_tier: e.new_tier.map_or_else(|| "-".into(), tier),
            })
            .collect(),
        title,
        items,
    }
}

/// `GET /admin/questionnaires`.
pub(super) async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match signed_in(&req, &ADMIN, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let entries = run(&state, |conn, s| {
        q::list(
            conn,
            &s.catalog,
            s.catalog.instance(),
            now(),
            s.settings.questionnaires.sync_interval,
        )
    })
    .await;
    match entries {
        Ok(entries) => render(
            &ListPage {
                base: ctx.base(ctx.t().tr("qa-title"), "/admin/questionnaires"),
                entries,
            },
            StatusCode::OK,
        ),
        Err(e) => run_failure(&ctx, e),
    }
}

/// What the detail page shows besides the questionnaire.
#[derive(Debug, Default)]
struct Extra {
    status: Option<StatusCode>,
    source: Option<String>,
    days: Option<u32>,
    notice: Option<String>,
    errors: Vec<String>,
    refusal: Option<String>,
    report: Option<(Report, String)>,
    diff: Option<(String, String)>,
}

async fn show(state: &web::Data<AppState>, ctx: &Ctx, id: String, extra: Extra) -> HttpResponse {
    let t = ctx.t();
    let wanted = id.clone();
    let diff_of = extra.diff.clone();
    let loaded = run(state, move |conn, s| {
        let detail = match q::detail(
            conn,
            &s.catalog,
            &wanted,
            s.catalog.instance(),
            now(),
            s.settings.questionnaires.sync_interval,
            s.settings.privacy.min_cell,
        ) {
            Ok(d) => Some(d),
            Err(QuestionnaireAdminError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let diff = match (&detail, diff_of) {
            (Some(_), Some((from, to))) => match q::diff(conn, &wanted, &from, &to) {
                Ok(d) => Some(d.diff),
                Err(
                    QuestionnaireAdminError::NotFound(m) | QuestionnaireAdminError::BadRequest(m),
                ) => Some(m),
                Err(e) => return Err(e),
            },
            _ => None,
        };
        Ok::<_, QuestionnaireAdminError>((detail, diff))
    })
    .await;
    let (detail, diff) = match loaded {
        Ok(x) => x,
        Err(e) => return run_failure(ctx, e),
    };
    // An id no file and no stored version has: only a new questionnaire may be started here.
    if detail.is_none() && q::check_id(&id).is_err() {
        return ctx.not_found();
    }
    let versions = detail
        .as_ref()
        .map(|d| {
            d.versions
                .iter()
                .map(|v| (v.version.clone(), v.content_hash.clone()))
                .collect()
        })
        .unwrap_or_default();
    let source = extra
        .source
        .or_else(|| detail.as_ref().and_then(|d| d.source.clone()))
        .unwrap_or_default();
    let report = extra.report.and_then(|(r, text)| {
        crate::catalog::parse_questionnaire("preview", Some(&id), &text)
            .ok()
            .map(|new| report_view(t, &r, &new))
    });
    let (diff_from, diff_to) = extra.diff.unwrap_or_default();
    let page = DetailPage {
        base: ctx.base(
            format!("{} {id}", t.tr("qa-title")),
            "/admin/questionnaires",
        ),
        csrf: ctx.csrf.clone(),
        id,
        detail,
        source,
        days: extra.days.unwrap_or(90),
        notice: extra.notice,
        errors: extra.errors,
        refusal: extra.refusal,
        report,
        diff_from,
        diff_to,
        diff,
        versions,
    };
    render(&page, extra.status.unwrap_or(StatusCode::OK))
}

/// `GET /admin/questionnaires/{id}` (`?from=&to=` shows the diff of two versions).
pub(super) async fn detail(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &ADMIN, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let t = ctx.t();
    let notice = match request::query_param(&req, "done").as_deref() {
        Some("published") => Some(t.tr("qa-published")),
        Some("withdrawn") => Some(t.tr("qa-withdrawn-done")),
        Some("restored") => Some(t.tr("qa-restored-done")),
        _ => None,
    };
    let diff = match (
        request::query_param(&req, "from"),
        request::query_param(&req, "to"),
    ) {
        (Some(f), Some(to)) => Some((f, to)),
        _ => None,
    };
    show(
        &state,
        &ctx,
        path.into_inner(),
        Extra {
            notice,
            diff,
            ..Extra::default()
        },
    )
    .await
}

/// The role and the form's CSRF token checked; the fields when both are good.
async fn admin_post(
    req: &HttpRequest,
    state: &AppState,
    form: web::Form<Vec<(String, String)>>,
    what: &'static str,
) -> Result<(Ctx, Fields), HttpResponse> {
    let ctx = signed_in(req, &ADMIN, Anonymous::SignInPlain).await?;
    let fields = Fields(form.into_inner());
    if !fields.csrf_ok(req, state, &ctx) {
        return Err(ctx.csrf_refused(what));
    }
    Ok((ctx, fields))
}

/// A refused edit shown on the page: the errors (422), or why (409, 400, 404); `None` for an
/// unexpected failure.
fn refused(t: Tr, e: &QuestionnaireAdminError) -> Option<(StatusCode, String, Vec<String>)> {
    match e {
        QuestionnaireAdminError::Invalid(errors) => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            t.tr("qa-invalid"),
            errors.clone(),
        )),
        QuestionnaireAdminError::NotBumped(m) => Some((
            StatusCode::CONFLICT,
            format!("{} {m}", t.tr("qa-not-bumped")),
            Vec::new(),
        )),
        QuestionnaireAdminError::BadRequest(m) | QuestionnaireAdminError::NotFound(m) => {
            Some((StatusCode::BAD_REQUEST, m.clone(), Vec::new()))
        }
        QuestionnaireAdminError::Io(_) | QuestionnaireAdminError::Db(_) => None,
    }
}

fn days_of(fields: &Fields) -> Option<u32> {
    let d = fields.text("days");
    if d.trim().is_empty() {
        Some(90)
    } else {
        d.trim().parse().ok()
    }
}

/// `POST /admin/questionnaires/{id}/preview`: the page again with the report.
pub(super) async fn preview(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match admin_post(&req, &state, form, "questionnaire preview").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = path.into_inner();
    let source = fields.text("source").replace("\r\n", "\n");
    let Some(days) = days_of(&fields) else {
        return ctx.bad_request();
    };
    let (wanted, text) = (id.clone(), source.clone());
    let result = run(&state, move |conn, s| {
        Ok::<_, ApiError>(q::preview(
            conn,
            &s.catalog,
            &wanted,
            &text,
            days,
            s.settings.privacy.min_cell,
            now(),
        ))
    })
    .await;
    let t = ctx.t();
    let extra = match result {
        Ok(Ok(report)) => Extra {
            report: Some((report, source.clone())),
            source: Some(source),
            days: Some(days),
            ..Extra::default()
        },
        Ok(Err(e)) => match refused(t, &e) {
            Some((status, refusal, errors)) => Extra {
                status: Some(status),
                refusal: Some(refusal),
                errors,
                source: Some(source),
                days: Some(days),
                ..Extra::default()
            },
            None => return run_failure(&ctx, e.into()),
        },
        Err(e) => return run_failure(&ctx, e),
    };
    show(&state, &ctx, id, extra).await
}

/// `POST /admin/questionnaires/{id}/publish`.
pub(super) async fn publish(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match admin_post(&req, &state, form, "questionnaire publish").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = path.into_inner();
    let source = fields.text("source").replace("\r\n", "\n");
    let who = ctx.who().who();
    let action = fields.text("action");
    // A roll-back names the stored version in `to`; a publication sends the text.
    let text = if action == "rollback" {
        fields.text("to")
    } else {
        source.clone()
    };
    let wanted = id.clone();
    let result = run(&state, move |conn, s| {
        Ok::<_, ApiError>(if action == "rollback" {
            q::rollback(
                conn,
                &s.catalog,
                &who,
                &wanted,
                &text,
                None,
                s.settings.privacy.min_cell,
                now(),
            )
        } else {
            q::publish(
                conn,
                &s.catalog,
                &who,
                &wanted,
                &text,
                "publish",
                s.settings.privacy.min_cell,
                now(),
            )
        })
    })
    .await;
    let t = ctx.t();
    match result {
        Ok(Ok(_)) => see_other(&format!("/admin/questionnaires/{id}?done=published")),
        Ok(Err(e)) => match refused(t, &e) {
            Some((status, refusal, errors)) => {
                let rollback = fields.text("action") == "rollback";
                show(
                    &state,
                    &ctx,
                    id,
                    Extra {
                        status: Some(status),
                        refusal: Some(refusal),
                        errors,
                        source: (!rollback).then_some(source),
                        ..Extra::default()
                    },
                )
                .await
            }
            None => run_failure(&ctx, e.into()),
        },
        Err(e) => run_failure(&ctx, e),
    }
}

/// `POST /admin/questionnaires/{id}/{withdraw|restore}`.
pub(super) async fn offer(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, _) = match admin_post(&req, &state, form, "questionnaire offer").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (id, action) = path.into_inner();
    let offered = match action.as_str() {
        "withdraw" => false,
        "restore" => true,
        _ => return ctx.not_found(),
    };
    let who = ctx.who().who();
    let wanted = id.clone();
    let result = run(&state, move |conn, s| {
        Ok::<_, ApiError>(q::set_offered(
            conn,
            &s.catalog,
            &who,
            &wanted,
            offered,
            now(),
        ))
    })
    .await;
    match result {
        Ok(Ok(_)) => see_other(&format!(
            "/admin/questionnaires/{id}?done={}",
            if offered { "restored" } else { "withdrawn" }
        )),
        Ok(Err(QuestionnaireAdminError::NotFound(_))) => ctx.not_found(),
        Ok(Err(e)) => run_failure(&ctx, e.into()),
        Err(e) => run_failure(&ctx, e),
    }
}
