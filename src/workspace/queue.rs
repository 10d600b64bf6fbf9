//! The queue and the alert page, for counselors and supervisors.
//!
//! `GET /queue` lists the alerts of the user's sites, urgent red first; `GET /queue/rows` is
//! its table body alone, which the page's script fetches again whenever the event stream
//! (`/api/v1/alerts/events`) says the queue changed. `GET /queue/{ref}` shows one alert in full
//! (each view is one audit row); its actions are plain forms that redirect back to it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::views::{
    AlertPage, AnswerLine, ClusterLine, ClusterPage, Cols, Contact, CrisisLine, EarlierLine,
    EventLine, MoreLink, QueuePage, QueueRow, QueueRows, ReasonLine, ScoreLine, ScreeningBlock,
    SelectOption,
};
use super::{
    Anonymous, Ctx, Fields, display_time, render, run_failure, see_other, signed_in, tier_label,
    time_left, url_encode,
};
use crate::accounts::{self, Role};
use crate::alerts::{
    self, AlertDetail, AlertError, AlertSummary, DetailContext, QueueQuery, Resolution, Status,
};
use crate::http::{ApiError, QueueParams, run};
use crate::i18n::Tr;
use crate::questionnaire::Tier;
use crate::state::AppState;

const WORKERS: [Role; 2] = [Role::Counselor, Role::Supervisor];

/// The queue's query: the API's filters plus a notice to show once.
#[derive(Debug, Deserialize)]
pub(super) struct QueueFilters {
    status: Option<String>,
    tier: Option<String>,
    site: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    notice: Option<String>,
}

impl QueueFilters {
    /// The filters as the API reads them (an empty field is no filter).
    fn query(&self) -> Result<QueueQuery, ApiError> {
        let keep = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        QueueParams {
            status: keep(&self.status),
            tier: keep(&self.tier),
            site: keep(&self.site),
            limit: self.limit,
            cursor: keep(&self.cursor),
        }
        .parse()
    }

    /// The filters as a query string (for the rows' URL), in a fixed order.
    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("status", &self.status),
            ("tier", &self.tier),
            ("site", &self.site),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{name}={}", url_encode(v)));
            }
        }
        if let Some(limit) = self.limit {
            parts.push(format!("limit={limit}"));
        }
        if let Some(c) = self.cursor.as_deref().filter(|c| !c.is_empty()) {
            parts.push(format!("cursor={}", url_encode(c)));
        }
        parts.join("&")
    }

    /// The query string of the next page (these filters, from `cursor`).
    fn next_page(&self, cursor: &str) -> String {
        let mut next = QueueFilters {
            status: self.status.clone(),
            tier: self.tier.clone(),
            site: self.site.clone(),
            limit: self.limit,
            cursor: Some(cursor.to_string()),
            notice: None,
        }
        .query_string();
        next.insert_str(0, "/queue?");
        next
    }
}

fn status_label(t: Tr, s: Status) -> String {
    t.tr(&format!("ws-status-{}", s.as_str()))
}

fn outcome_label(t: Tr, r: Resolution) -> String {
    t.tr(&format!("ws-outcome-{}", r.as_str()))
}

fn tier_class(tier: Tier) -> &'static str {
    match tier {
        Tier::Red => "red",
        Tier::Yellow => "yellow",
        Tier::Green => "green",
    }
}

/// A station as people read it: its name (and code), or "no station".
fn site_label(t: Tr, sites: &[accounts::Site], slug: Option<&str>) -> String {
    match slug {
        Some(slug) => sites
            .iter()
            .find(|s| s.slug == slug)
            .map_or_else(|| slug.to_string(), |s| s.name.clone()),
        None => t.tr("ws-no-site"),
    }
}

fn row(t: Tr, me: &str, sites: &[accounts::Site], a: &AlertSummary) -> QueueRow {
    let left = match (a.status, a.outcome) {
        (Status::Resolved, Some(o)) => outcome_label(t, o),
        (Status::Resolved, None) => status_label(t, Status::Resolved),
        _ => time_left(t, a.seconds_left),
    };
    QueueRow {
        reference: a.reference.clone(),
        href: format!("/queue/{}", a.reference),
        tier: tier_class(a.tier),
        tier_label: tier_label(t, a.tier),
        urgent: a.urgent.then(|| t.tr("ws-urgent")),
        status: a.status.as_str(),
        status_label: status_label(t, a.status),
        site: site_label(t, sites, a.site.as_deref()),
        created: display_time(t, &a.created_at),
        created_iso: a.created_at.clone(),
        deadline: display_time(t, &a.deadline_at),
        deadline_iso: a.deadline_at.clone(),
        left,
        overdue: a.status != Status::Resolved && a.seconds_left < 0,
        assignee: a
            .assignee
            .as_ref()
            .map_or_else(|| t.tr("ws-nobody"), |p| p.name.clone()),
        mine: a.assignee.as_ref().is_some_and(|p| p.id == me),
        contact: a.has_contact.then(|| t.tr("ws-queue-has-contact")),
    }
}

/// A phone number as a `tel:` URI wants it: a leading `+` if it has one, then its digits.
fn tel_of(phone: &str) -> String {
    let phone = phone.trim();
    let mut out = String::new();
    if phone.starts_with('+') {
        out.push('+');
    }
    out.extend(phone.chars().filter(char::is_ascii_digit));
    out
}

fn queue_title(t: Tr, open_red: usize) -> String {
    format!(
        "({open_red}) {} · {}",
        t.tr("ws-queue-title"),
        t.tr("ws-brand")
    )
}

fn options(current: Option<&str>, all: Vec<(String, String)>) -> Vec<SelectOption> {
    let current = current.unwrap_or_default();
    let mut out: Vec<SelectOption> = all
        .into_iter()
        .map(|(value, label)| SelectOption {
            selected: value == current,
            value,
            label,
        })
        .collect();
    // A filter typed into the address bar that no option names is still shown as chosen.
    if !current.is_empty() && !out.iter().any(|o| o.selected) {
        out.push(SelectOption {
            value: current.to_string(),
            label: current.to_string(),
            selected: true,
        });
    }
    out
}

struct Listing {
    page: alerts::QueuePage,
    open_red: usize,
    sites: Vec<accounts::Site>,
}

/// The queue's row of each suspected flood (on the first page only).
fn cluster_lines(
    t: Tr,
    sites: &[accounts::Site],
    page: &alerts::QueuePage,
    first_page: bool,
) -> Vec<ClusterLine> {
    if !first_page {
        return Vec::new();
    }
    page.clusters
        .iter()
        .map(|c| ClusterLine {
            href: format!("/queue/clusters/{}", c.id),
            label: t.tr_args(
                "ws-cluster-row",
                &[
                    ("site", site_label(t, sites, c.site.as_deref())),
                    ("count", c.unresolved.to_string()),
                    ("red", c.red.to_string()),
                    ("first", display_time(t, &c.first_at)),
                    ("last", display_time(t, &c.last_at)),
                ],
            ),
            red: c.red > 0,
        })
        .collect()
}

/// "N more" after this page's rows, with the next page's link; `None` on the last page.
fn more_link(t: Tr, filters: &QueueFilters, page: &alerts::QueuePage) -> Option<MoreLink> {
    let shown = i64::try_from(page.alerts.len()).unwrap_or(i64::MAX);
    page.next_cursor.as_deref().map(|c| MoreLink {
        label: t.tr_n("ws-queue-more", "count", (page.total - shown).max(0)),
        href: filters.next_page(c),
    })
}

async fn listing(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    q: QueueQuery,
) -> Result<Result<Listing, AlertError>, ApiError> {
    let who = ctx.who().clone();
    run(state, move |conn, _| {
        let listed = (|| {
            let page = alerts::queue_page(conn, &who, &q)?;
            let open_red = alerts::open_red_count(conn, &who)?;
            let sites = accounts::list_sites(conn).map_err(admin_to_alert)?;
            Ok(Listing {
                page,
                open_red,
                sites,
            })
        })();
        Ok::<_, ApiError>(listed)
    })
    .await
}

/// Listing sites or users fails only as the database does.
fn admin_to_alert(e: accounts::AdminError) -> AlertError {
    match e {
        accounts::AdminError::Db(d) => AlertError::Db(d),
        other => AlertError::Db(crate::db::DbError::Connect(other.to_string())),
    }
}

fn alert_error(ctx: &Ctx, e: AlertError) -> HttpResponse {
    match e {
        AlertError::NotFound | AlertError::Denied(_) => ctx.not_found(),
        AlertError::Forbidden => ctx.forbidden_area(),
        AlertError::Invalid { .. } => ctx.bad_request(),
        AlertError::Conflict { .. } => ctx.error(
            StatusCode::CONFLICT,
            "ws-error-409-title",
            "ws-error-409-body",
        ),
        AlertError::Db(e) => ctx.failure(e),
    }
}

/// `GET /queue`.
pub(super) async fn page(
    req: HttpRequest,
    filters: web::Query<QueueFilters>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(q) = filters.query() else {
        return ctx.bad_request();
    };
    let listing = match listing(&state, &ctx, q).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return alert_error(&ctx, e),
        Err(e) => return run_failure(&ctx, e),
    };
    let t = ctx.t();
    let me = ctx.who().user_id.as_str();
    let qs = filters.query_string();
    let title = queue_title(t, listing.open_red);
    let more = more_link(t, &filters, &listing.page);
    let mut base = ctx.base(t.tr("ws-queue-title"), "/queue");
    // The count of open red alerts comes first, so it shows in a narrow browser tab.
    base.title = title.clone();
    let visible_sites: Vec<(String, String)> = listing
        .sites
        .iter()
        .filter(|s| ctx.who().serves(Some(&s.slug)))
        .map(|s| (s.slug.clone(), format!("{} ({})", s.name, s.slug)))
        .collect();
    let page = QueuePage {
        base,
        csrf: ctx.csrf.clone(),
        heading: t.tr("ws-queue-title"),
        rows_src: if qs.is_empty() {
            "/queue/rows".into()
        } else {
            format!("/queue/rows?{qs}")
        },
        statuses: options(
            filters.status.as_deref(),
            vec![
                (String::new(), t.tr("ws-filter-status-active")),
                ("open".into(), status_label(t, Status::Open)),
                ("acknowledged".into(), status_label(t, Status::Acknowledged)),
                ("resolved".into(), status_label(t, Status::Resolved)),
                (
                    "open,acknowledged,resolved".into(),
                    t.tr("ws-filter-status-all"),
                ),
            ],
        ),
        tiers: options(
            filters.tier.as_deref(),
            vec![
                (String::new(), t.tr("ws-filter-any")),
                ("red".into(), tier_label(t, Tier::Red)),
                ("yellow".into(), tier_label(t, Tier::Yellow)),
            ],
        ),
        sites: options(
            filters.site.as_deref(),
            std::iter::once((String::new(), t.tr("ws-filter-any")))
                .chain(visible_sites)
                .collect(),
        ),
        notice: match filters.notice.as_deref() {
            Some("none-open") => Some(t.tr("ws-queue-none-open")),
            _ => None,
        },
        rows: listing
            .page
            .alerts
            .iter()
            .map(|a| row(t, me, &listing.sites, a))
            .collect(),
        clusters: cluster_lines(t, &listing.sites, &listing.page, filters.cursor.is_none()),
        more,
        title,
        open_red: listing.open_red,
        empty: t.tr("ws-queue-empty"),
        cols: Cols::new(t),
    };
    render(&page, StatusCode::OK)
}

/// `GET /queue/rows`: the table body and the title, for the page's live refresh.
pub(super) async fn rows(
    req: HttpRequest,
    filters: web::Query<QueueFilters>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::Unauthorized).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let Ok(q) = filters.query() else {
        return ctx.bad_request();
    };
    let listing = match listing(&state, &ctx, q).await {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return alert_error(&ctx, e),
        Err(e) => return run_failure(&ctx, e),
    };
    let t = ctx.t();
    let me = ctx.who().user_id.as_str();
    let more = more_link(t, &filters, &listing.page);
    render(
        &QueueRows {
            rows: listing
                .page
                .alerts
                .iter()
                .map(|a| row(t, me, &listing.sites, a))
                .collect(),
            clusters: cluster_lines(t, &listing.sites, &listing.page, filters.cursor.is_none()),
            more,
            title: queue_title(t, listing.open_red),
            open_red: listing.open_red,
            empty: t.tr("ws-queue-empty"),
            cols: Cols::new(t),
        },
        StatusCode::OK,
    )
}

fn changed(state: &AppState, s: &AlertSummary) {
    state.alert_changed(&s.id, s.site.as_deref());
}

/// `POST /queue/take-next`: acknowledges the highest-priority open alert and opens it.
pub(super) async fn take_next(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::SignInPlain).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if !Fields(form.into_inner()).csrf_ok(&req, &state, &ctx) {
        return ctx.csrf_refused("take-next");
    }
    let who = ctx.who().clone();
    match run(&state, move |conn, s| {
        Ok::<_, ApiError>(alerts::take_next(conn, &who, &s.settings.escalation))
    })
    .await
    {
        Ok(Ok(Some(s))) => {
            changed(&state, &s);
            state.acknowledged(&s);
            tracing::info!(alert = %s.id, user = %ctx.who().user_id, "alert taken from the queue page");
            see_other(&format!("/queue/{}", s.reference))
        }
        Ok(Ok(None)) => see_other("/queue?notice=none-open"),
        Ok(Err(e)) => alert_error(&ctx, e),
        Err(e) => run_failure(&ctx, e),
    }
}

// ---- a suspected flood ------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub(super) struct ClusterQuery {
    notice: Option<String>,
    count: Option<i64>,
    kept: Option<i64>,
}

/// `GET /queue/clusters/{id}`: a suspected flood's alerts; supervisors move some back to the
/// queue or resolve the rest.
pub(super) async fn cluster(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ClusterQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let who = ctx.who().clone();
    let id = path.into_inner();
    let loaded = run(&state, move |conn, _| {
        let detail = alerts::clusters::cluster_detail(conn, &who, &id);
        let sites = accounts::list_sites(conn).map_err(admin_to_alert);
        Ok::<_, ApiError>(detail.and_then(|d| Ok((d, sites?))))
    })
    .await;
    let (detail, sites) = match loaded {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return alert_error(&ctx, e),
        Err(e) => return run_failure(&ctx, e),
    };
    let t = ctx.t();
    let me = ctx.who().user_id.as_str();
    let c = &detail.cluster;
    let summary = t.tr_args(
        "ws-cluster-summary",
        &[
            ("site", site_label(t, &sites, c.site.as_deref())),
            ("count", c.unresolved.to_string()),
            ("red", c.red.to_string()),
            ("contact", c.with_contact.to_string()),
            ("first", display_time(t, &c.first_at)),
            ("last", display_time(t, &c.last_at)),
        ],
    );
    let count = query.count.unwrap_or(0).max(0);
    let notice = match query.notice.as_deref() {
        Some("released") => Some(t.tr_n("ws-cluster-released", "count", count)),
        Some("resolved") => Some(t.tr_args(
            "ws-cluster-resolved",
            &[
                ("count", count.to_string()),
                ("kept", query.kept.unwrap_or(0).max(0).to_string()),
            ],
        )),
        _ => None,
    };
    let page = ClusterPage {
        base: ctx.base(t.tr("ws-cluster-title"), "/queue"),
        csrf: ctx.csrf.clone(),
        heading: t.tr("ws-cluster-title"),
        summary,
        action_base: format!("/queue/clusters/{}", c.id),
        may_act: ctx.who().role == Role::Supervisor,
        rows: detail
            .alerts
            .iter()
            .map(|a| row(t, me, &sites, &a.alert))
            .collect(),
        contact: detail.alerts.iter().map(|a| a.has_contact).collect(),
        ids: detail.alerts.iter().map(|a| a.alert.id.clone()).collect(),
        notice,
        cols: Cols::new(t),
    };
    render(&page, StatusCode::OK)
}

/// `POST /queue/clusters/{id}/{release|resolve}` from the cluster page's forms.
pub(super) async fn cluster_act(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::SignInPlain).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let fields = Fields(form.into_inner());
    if !fields.csrf_ok(&req, &state, &ctx) {
        return ctx.csrf_refused("cluster");
    }
    let (id, action) = path.into_inner();
    let who = ctx.who().clone();
    let back = format!("/queue/clusters/{id}");
    match action.as_str() {
        "release" => {
            let ids: Vec<String> = fields
                .0
                .iter()
                .filter(|(k, _)| k == "alert")
                .map(|(_, v)| v.clone())
                .collect();
            let moved = run(&state, move |conn, s| {
                Ok::<_, ApiError>(alerts::clusters::release(
                    conn,
                    &who,
                    &id,
                    &ids,
                    &s.settings.escalation,
                ))
            })
            .await;
            match moved {
                Ok(Ok(n)) => {
                    state.alert_changed("", None);
                    see_other(&format!("{back}?notice=released&count={n}"))
                }
                Ok(Err(e)) => alert_error(&ctx, e),
                Err(e) => run_failure(&ctx, e),
            }
        }
        "resolve" => {
            let note = fields.get("note").unwrap_or_default().to_string();
            let done = run(&state, move |conn, _| {
                Ok::<_, ApiError>(alerts::clusters::resolve_all(conn, &who, &id, &note))
            })
            .await;
            match done {
                Ok(Ok(d)) => {
                    state.alert_changed("", None);
                    see_other(&format!(
                        "{back}?notice=resolved&count={}&kept={}",
                        d.resolved, d.kept
                    ))
                }
                Ok(Err(e)) => alert_error(&ctx, e),
                Err(e) => run_failure(&ctx, e),
            }
        }
        _ => ctx.not_found(),
    }
}

// ---- the alert page ---------------------------------------------------------------------

/// What the alert page shows besides the alert: who a supervisor may hand it to.
struct Loaded {
    detail: AlertDetail,
    /// The other staff who have this alert's page open now (any instance).
    viewers: Vec<String>,
    colleagues: Vec<(String, String)>,
    sites: Vec<accounts::Site>,
}

/// What a refused action leaves on the page.
#[derive(Debug, Default)]
struct Refused {
    status: Option<StatusCode>,
    message: Option<String>,
    note_text: String,
    resolve_note: String,
    outcome: String,
}

async fn load(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    key: String,
) -> Result<Result<Loaded, AlertError>, ApiError> {
    let who = ctx.who().clone();
    run(state, move |conn, state| {
        let catalog = state.catalog.get();
        let loaded = alerts::detail(
            conn,
            DetailContext {
                catalog: &catalog,
                cipher: &state.cipher,
            },
            &who,
            &key,
        )
        .and_then(|detail| {
            // Supervisors hand alerts to active counselors and supervisors of the alert's site.
            let colleagues = if who.role == Role::Supervisor {
                accounts::list_users(conn)
                    .map_err(admin_to_alert)?
                    .into_iter()
                    .filter(|u| u.active && u.role.works_alerts())
                    .filter(|u| {
                        u.sites.is_empty()
                            || detail
                                .alert
                                .site
                                .as_ref()
                                .is_some_and(|s| u.sites.contains(s))
                    })
                    .map(|u| (u.id, u.name))
                    .collect()
            } else {
                Vec::new()
            };
            let sites = accounts::list_sites(conn).map_err(admin_to_alert)?;
            let viewers =
                alerts::viewing(conn, &who, &detail.alert.id, chrono::Utc::now().naive_utc())?;
            Ok(Loaded {
                detail,
                viewers,
                colleagues,
                sites,
            })
        });
        Ok::<_, ApiError>(loaded)
    })
    .await
}

fn json_number(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Scores with their labels and bands in the reader's language (issue 13: not
/// "work_pressure" / "low").
fn scores_of(s: &alerts::ScreeningView) -> Vec<ScoreLine> {
    s.scores
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(name, value)| {
                    let band = s.bands.get(name).and_then(serde_json::Value::as_str);
                    ScoreLine {
                        name: s
                            .labels
                            .get(name)
                            .cloned()
                            .unwrap_or_else(|| name.replace('_', " ")),
                        value: json_number(value),
                        band: band
                            .map(|b| {
                                s.labels
                                    .get(&format!("{name}.{b}"))
                                    .cloned()
                                    .unwrap_or_else(|| b.replace('_', " "))
                            })
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A reason that raised the tier: green bands raise nothing (their scores are listed anyway).
fn raised(r: &&alerts::ReasonView) -> bool {
    r.tier != Tier::Green
}

fn reason_line(t: Tr, r: &alerts::ReasonView) -> ReasonLine {
    ReasonLine {
        tier: tier_class(r.tier),
        tier_label: tier_label(t, r.tier),
        text: r.text.clone(),
    }
}

/// One screening of the alert: scores, the reasons that raised it, every answer.
/// `shown`: the reasons already listed at the top of the page (each reason once, issue 13).
fn screening_block(t: Tr, s: &alerts::ScreeningView, shown: &[String]) -> ScreeningBlock {
    ScreeningBlock {
        title: s.title.clone(),
        version: s.version.clone(),
        submitted: display_time(t, &s.submitted_at),
        submitted_iso: s.submitted_at.clone(),
        tier: tier_class(s.tier),
        tier_label: tier_label(t, s.tier),
        urgent: s.urgent,
        locale: s.locale.clone(),
        scores: scores_of(s),
        reasons: s
            .reasons
            .iter()
            .filter(raised)
            .filter(|r| !shown.contains(&r.id))
            .map(|r| reason_line(t, r))
            .collect(),
        answers: s
            .answers
            .iter()
            .map(|ans| AnswerLine {
                item: ans.item.clone(),
                text: ans.text.clone(),
                answer: match (&ans.label, ans.value) {
                    (Some(label), Some(v)) => format!("{label} ({v})"),
                    (None, Some(v)) => v.to_string(),
                    _ => t.tr("ws-unanswered"),
                },
                answered: ans.value.is_some(),
            })
            .collect(),
    }
}

/// One entry of the alert's timeline, in the reader's language.
fn event_line(t: Tr, e: &alerts::EventView) -> EventLine {
    let kind_key = format!("ws-event-{}", e.kind);
    let text = e
        .detail
        .get("text")
        .or_else(|| e.detail.get("note"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    EventLine {
        at: display_time(t, &e.at),
        at_iso: e.at.clone(),
        kind: if t.has(&kind_key) {
            t.tr(&kind_key)
        } else {
            e.kind.clone()
        },
        actor: e
            .actor
            .as_ref()
            .map_or_else(|| t.tr("ws-system"), |p| p.name.clone()),
        outcome: e
            .detail
            .get("outcome")
            .and_then(serde_json::Value::as_str)
            .and_then(Resolution::parse)
            .map(|o| outcome_label(t, o)),
        text,
    }
}

/// An earlier screening of the same identified rider: one line.
fn earlier_line(t: Tr, s: &alerts::EarlierScreening) -> EarlierLine {
    EarlierLine {
        questionnaire: s.questionnaire.clone(),
        submitted: display_time(t, &s.submitted_at),
        submitted_iso: s.submitted_at.clone(),
        tier: tier_class(s.tier),
        tier_label: tier_label(t, s.tier),
        scores: s
            .scores
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(name, v)| {
                        format!(
                            "{} {}",
                            alerts::score_label(None, name, t.lang().code()),
                            json_number(v)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    }
}

fn alert_page(state: &AppState, ctx: &Ctx, loaded: Loaded, refused: Refused) -> HttpResponse {
    let t = ctx.t();
    let who = ctx.who();
    let d = loaded.detail;
    let a = &d.alert;
    let mine = a.assignee.as_ref().is_some_and(|p| p.id == who.user_id);
    let supervisor = who.role == Role::Supervisor;
    let mut shown: Vec<String> = Vec::new();
    let mut reasons = Vec::new();
    for r in d.reasons.iter().filter(raised) {
        if !shown.contains(&r.id) {
            shown.push(r.id.clone());
            reasons.push(reason_line(t, r));
        }
    }
    let screenings = d
        .screenings
        .iter()
        .map(|s| screening_block(t, s, &shown))
        .collect();
    let timeline = d.timeline.iter().map(|e| event_line(t, e)).collect();
    let earlier = d
        .earlier_screenings
        .iter()
        .map(|s| earlier_line(t, s))
        .collect();
    let active = a.status != Status::Resolved;
    let taken = a.status == Status::Acknowledged;
    let page = AlertPage {
        base: ctx.base(format!("{} {}", a.reference, t.tr("ws-alert-title")), ""),
        csrf: ctx.csrf.clone(),
        alert_id: a.id.clone(),
        reference: a.reference.clone(),
        action_base: format!("/queue/{}", a.reference),
        tier: tier_class(a.tier),
        tier_label: tier_label(t, a.tier),
        urgent: a.urgent,
        status: a.status.as_str(),
        status_label: status_label(t, a.status),
        site: site_label(t, &loaded.sites, a.site.as_deref()),
        viewers: viewers_line(t, &loaded.viewers),
        created: display_time(t, &a.created_at),
        created_iso: a.created_at.clone(),
        deadline: display_time(t, &a.deadline_at),
        deadline_iso: a.deadline_at.clone(),
        left: if active {
            time_left(t, a.seconds_left)
        } else {
            String::new()
        },
        overdue: active && a.seconds_left < 0,
        assignee: a
            .assignee
            .as_ref()
            .map_or_else(|| t.tr("ws-nobody"), |p| p.name.clone()),
        outcome: a.outcome.map(|o| outcome_label(t, o)),
        reasons,
        screenings,
        timeline,
        contact: d.contact.as_ref().map(|c| Contact {
            name: c.name.clone(),
            phone: c.phone.clone(),
            tel: tel_of(&c.phone),
        }),
        earlier,
        crisis: state
            .settings
            .crisis
            .lines
            .iter()
            .map(|l| CrisisLine {
                number: l.number.clone(),
                name: l.name_in(ctx.lang.code()).to_string(),
            })
            .collect(),
        error: refused.message,
        can_acknowledge: a.status == Status::Open,
        can_unacknowledge: taken && (mine || supervisor),
        can_note: active,
        can_resolve: taken && (mine || supervisor),
        can_assign: taken && supervisor,
        outcomes: options(
            Some(refused.outcome.as_str()),
            std::iter::once((String::new(), t.tr("ws-outcome-choose")))
                .chain(
                    Resolution::ALL
                        .into_iter()
                        .map(|r| (r.as_str().to_string(), outcome_label(t, r))),
                )
                .collect(),
        ),
        assignees: loaded
            .colleagues
            .into_iter()
            .map(|(id, name)| SelectOption {
                selected: a.assignee.as_ref().is_some_and(|p| p.id == id),
                value: id,
                label: name,
            })
            .collect(),
        note_text: refused.note_text,
        resolve_note: refused.resolve_note,
    };
    render(&page, refused.status.unwrap_or(StatusCode::OK))
}

async fn show(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    key: String,
    refused: Refused,
) -> HttpResponse {
    match load(state, ctx, key).await {
        Ok(Ok(loaded)) => {
            tracing::info!(alert = %loaded.detail.alert.id, user = %ctx.who().user_id, "alert page viewed");
            alert_page(state, ctx, loaded, refused)
        }
        Ok(Err(e)) => alert_error(ctx, e),
        Err(e) => run_failure(ctx, e),
    }
}

/// `GET /queue/{ref}`.
pub(super) async fn alert(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    show(&state, &ctx, path.into_inner(), Refused::default()).await
}

/// `GET /queue/{ref}/viewers`: who else has this alert's page open, as the page's
/// `#alert-viewers` line (the alert page's script asks every 15 s; each ask also says this
/// page is still open).
pub(super) async fn viewers(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::SignInPlain).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let who = ctx.who().clone();
    let key = path.into_inner();
    let result = run(&state, move |conn, _| {
        Ok::<_, ApiError>(alerts::viewing(
            conn,
            &who,
            &key,
            chrono::Utc::now().naive_utc(),
        ))
    })
    .await;
    match result {
        Ok(Ok(names)) => {
            let line = ViewersLine {
                text: viewers_line(ctx.t(), &names),
            };
            match askama::Template::render(&line) {
                Ok(body) => HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .insert_header(("Cache-Control", "no-store"))
                    .body(body),
                Err(e) => {
                    tracing::error!(error = %e, "viewers line did not render");
                    HttpResponse::InternalServerError().finish()
                }
            }
        }
        Ok(Err(e)) => alert_error(&ctx, e),
        Err(e) => run_failure(&ctx, e),
    }
}

/// "Also open now: A, B", or empty when nobody else has the page open.
fn viewers_line(t: Tr, names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        t.tr_args(
            "ws-alert-viewers",
            &[("names", names.join(&t.tr("ws-list-separator")))],
        )
    }
}

/// The `#alert-viewers` line alone, as `GET /queue/{ref}/viewers` answers it.
#[derive(askama::Template)]
#[template(
    source = "<p class=\"viewers\" id=\"alert-viewers\">{{ text }}</p>",
    ext = "html"
)]
struct ViewersLine {
    text: String,
}

/// A conflict, in the user's language, from the alert as it is now.
fn conflict_message(t: Tr, alert: Option<&AlertSummary>) -> String {
    match alert {
        Some(a) => match (a.status, &a.assignee) {
            (Status::Acknowledged, Some(p)) => {
                format!("{} {}", t.tr("ws-conflict-taken"), p.name)
            }
            (Status::Resolved, _) => t.tr("ws-conflict-resolved"),
            (Status::Open, _) => t.tr("ws-conflict-open"),
            (Status::Acknowledged, None) => t.tr("ws-error-409-body"),
        },
        None => t.tr("ws-error-409-body"),
    }
}

fn invalid_message(t: Tr, field: &str) -> String {
    t.tr(match field {
        "outcome" => "ws-invalid-outcome",
        "user_id" => "ws-invalid-assignee",
        _ => "ws-invalid-note",
    })
}

/// `POST /queue/{ref}/{acknowledge|unacknowledge|notes|resolve|assign}`.
pub(super) async fn act(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &WORKERS, Anonymous::SignInPlain).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let (key, action) = path.into_inner();
    let action: &'static str = match action.as_str() {
        "acknowledge" => "acknowledge",
        "unacknowledge" => "unacknowledge",
        "notes" => "notes",
        "resolve" => "resolve",
        "assign" => "assign",
        _ => return ctx.not_found(),
    };
    let fields = Fields(form.into_inner());
    if !fields.csrf_ok(&req, &state, &ctx) {
        return ctx.csrf_refused(action);
    }
    if action == "assign" && ctx.who().role != Role::Supervisor {
        return ctx.forbidden_area();
    }
    let note = fields.text("text");
    let resolve_note = fields.text("note");
    let outcome = fields.text("outcome");
    let assignee = fields.text("user_id");
    let who = ctx.who().clone();
    let target = key.clone();
    let (n, rn, o) = (note.clone(), resolve_note.clone(), outcome.clone());
    let result = run(&state, move |conn, s| {
        let policy = &s.settings.escalation;
        Ok::<_, ApiError>(match action {
            "acknowledge" => alerts::acknowledge(conn, &who, &target, policy),
            "unacknowledge" => alerts::unacknowledge(conn, &who, &target, policy),
            "notes" => alerts::add_note(conn, &who, &target, &n),
            "resolve" => alerts::resolve(conn, &who, &target, &o, &rn),
            _ => alerts::reassign(conn, &who, &target, &assignee),
        })
    })
    .await;
    let t = ctx.t();
    let refused = match result {
        Ok(Ok(s)) => {
            changed(&state, &s);
            if action == "acknowledge" {
                state.acknowledged(&s);
            }
            tracing::info!(alert = %s.id, user = %ctx.who().user_id, action, "alert action from its page");
            return see_other(&format!("/queue/{}", s.reference));
        }
        Ok(Err(AlertError::Conflict { alert, .. })) => {
            tracing::info!(user = %ctx.who().user_id, action, "alert action refused: conflict");
            Refused {
                status: Some(StatusCode::CONFLICT),
                message: Some(conflict_message(t, alert.as_ref().as_ref())),
                ..Refused::default()
            }
        }
        Ok(Err(AlertError::Invalid { field, .. })) => Refused {
            status: Some(StatusCode::UNPROCESSABLE_ENTITY),
            message: Some(invalid_message(t, field)),
            note_text: note,
            resolve_note,
            outcome,
        },
        Ok(Err(e)) => return alert_error(&ctx, e),
        Err(e) => return run_failure(&ctx, e),
    };
    // The page again, as it is now, with the problem above the actions.
    show(&state, &ctx, key, refused).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn time_left_reads_in_minutes_hours_or_days() {
        let t = Tr(Lang::En);
        assert_eq!(time_left(t, 600), "10 min left");
        assert_eq!(time_left(t, 59), "1 min left");
        assert_eq!(time_left(t, -125), "overdue by 3 min");
        assert_eq!(time_left(t, 3 * 3600 + 5), "3 h left");
        assert_eq!(time_left(t, 3 * 86_400), "3 days left");
    }

    #[test]
    fn filters_keep_their_order_and_encoding() {
        let f = QueueFilters {
            status: Some("open,acknowledged".into()),
            tier: None,
            site: Some("station-7".into()),
            limit: None,
            cursor: None,
            notice: Some("none-open".into()),
        };
        assert_eq!(
            f.query_string(),
            "status=open%2Cacknowledged&site=station-7"
        );
        assert!(f.query().is_ok());
        // The next page keeps the filters and starts at the cursor.
        assert_eq!(
            f.next_page("1.5.abc-1"),
            "/queue?status=open%2Cacknowledged&site=station-7&cursor=1.5.abc-1"
        );
        let bad = QueueFilters {
            status: Some("closed".into()),
            tier: None,
            site: None,
            limit: None,
            cursor: None,
            notice: None,
        };
        assert!(bad.query().is_err());
    }
}
