//! The workspace pages as data: one askama template per page (in `templates/workspace/`),
//! each filled from a plain view model so the templates stay free of logic. Labels come from
//! Fluent (`Tr`, `locales/<lang>/workspace.ftl`) in the user's language.

use askama::Template;

use super::Ctx;
use crate::i18n::Tr;
use crate::web::assets;

/// What every workspace page has: language, title, assets and (signed in) the nav bar.
#[derive(Debug)]
pub struct WsBase {
    pub t: Tr,
    pub title: String,
    /// The rider pages' stylesheet, then the workspace's own.
    pub app_css: String,
    pub css: String,
    pub js: String,
    /// Where the brand links to: the user's area, or the sign-in page.
    pub home: &'static str,
    pub nav: Option<Nav>,
    /// Duty-cover warnings at the top of the page (issue 13): nobody will be paged, or the
    /// sites with nobody on duty now or within 24 hours.
    pub banners: Vec<String>,
}

impl WsBase {
    pub fn anonymous(t: Tr, title: String) -> WsBase {
        WsBase {
            title: full_title(t, &title),
            t,
            app_css: assets::css_href(),
            css: assets::workspace_css_href(),
            js: assets::workspace_js_href(),
            home: "/login",
            nav: None,
            banners: Vec::new(),
        }
    }

    pub fn signed_in(ctx: &Ctx, title: String, current: &str) -> WsBase {
        let t = ctx.t();
        let who = ctx.who();
        let mut links = Vec::new();
        if who.role.works_alerts() {
            links.push(("/queue", "ws-nav-queue"));
        }
        if who.role == crate::accounts::Role::Admin {
            links.push(("/admin", "ws-nav-admin"));
            links.push(("/admin/audit", "ws-nav-audit"));
            links.push(("/admin/questionnaires", "ws-nav-questionnaires"));
        }
        if who.role != crate::accounts::Role::Counselor {
            links.push(("/reports", "ws-nav-reports"));
        }
        links.push(("/rosters", "roster-nav"));
        links.push(("/account/password", "ws-nav-password"));
        let links = links
            .into_iter()
            .map(|(href, key)| NavLink {
                href,
                label: t.tr(key),
                current: href == current,
            })
            .collect();
        WsBase {
            title: full_title(t, &title),
            t,
            app_css: assets::css_href(),
            css: assets::workspace_css_href(),
            js: assets::workspace_js_href(),
            home: super::home_of(who.role),
            nav: Some(Nav {
                name: who.name.clone(),
                role: super::role_label(t, who.role),
                links,
                csrf: ctx.csrf.clone(),
            }),
            banners: banners(t, ctx.coverage.as_ref()),
        }
    }

    pub fn html_lang(&self) -> &'static str {
        self.t.lang().code()
    }
}

/// At most this many gaps are listed in a banner; the rest are counted.
const BANNER_GAPS: usize = 5;

fn banners(t: Tr, coverage: Option<&crate::jobs::gaps::Coverage>) -> Vec<String> {
    use crate::jobs::gaps::Coverage;
    match coverage {
        None => Vec::new(),
        Some(Coverage::NoShifts) => vec![t.tr("ws-banner-no-shifts")],
        Some(Coverage::Gaps(gaps)) => {
            let mut out: Vec<String> = gaps
                .iter()
                .take(BANNER_GAPS)
                .map(|g| {
                    t.tr_args(
                        "ws-banner-gap",
                        &[
                            ("site", g.site_name.clone()),
                            ("from", crate::china_time::shanghai_time(g.from)),
                            ("to", crate::china_time::shanghai_time(g.to)),
                        ],
                    )
                })
                .collect();
            if gaps.len() > BANNER_GAPS {
                out.push(t.tr_n(
                    "ws-banner-more",
                    "n",
                    i64::try_from(gaps.len() - BANNER_GAPS).unwrap_or(i64::MAX),
                ));
            }
            out
        }
    }
}

fn full_title(t: Tr, title: &str) -> String {
    let brand = t.tr("ws-brand");
    if title.is_empty() {
        brand
    } else {
        format!("{title} · {brand}")
    }
}

#[derive(Debug)]
pub struct Nav {
    pub name: String,
    pub role: String,
    pub links: Vec<NavLink>,
    pub csrf: String,
}

#[derive(Debug)]
pub struct NavLink {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

#[derive(Template, Debug)]
#[template(path = "workspace/error.html")]
pub struct ErrorPage {
    pub base: WsBase,
    pub heading: String,
    pub body: String,
}

// ---- sign-in and password ------------------------------------------------------------------

#[derive(Template, Debug)]
#[template(path = "workspace/login.html")]
pub struct LoginPage {
    pub base: WsBase,
    pub csrf: String,
    pub next: String,
    /// The email as typed (never the password).
    pub email: String,
    pub error: Option<String>,
    /// After a password reset: sign in with the new password.
    pub notice: Option<String>,
}

/// `GET|POST /login/forgot` (issue 13): one answer for every address.
#[derive(Template, Debug)]
#[template(path = "workspace/forgot.html")]
pub struct ForgotPage {
    pub base: WsBase,
    pub csrf: String,
    pub email: String,
    pub error: Option<String>,
    pub sent: bool,
}

/// `GET|POST /login/reset`: the new password through a link, or that the link is dead.
#[derive(Template, Debug)]
#[template(path = "workspace/reset.html")]
pub struct ResetPage {
    pub base: WsBase,
    pub csrf: String,
    pub token: String,
    pub error: Option<String>,
    pub dead: bool,
}

#[derive(Template, Debug)]
#[template(path = "workspace/password.html")]
pub struct PasswordPage {
    pub base: WsBase,
    pub csrf: String,
    pub error: Option<String>,
    pub changed: bool,
}

// ---- the queue ----------------------------------------------------------------------------

#[derive(Debug)]
pub struct QueueRow {
    pub reference: String,
    pub href: String,
    /// `red` or `yellow`: a class, never shown as text.
    pub tier: &'static str,
    pub tier_label: String,
    /// The "urgent" label, on urgent alerts.
    pub urgent: Option<String>,
    pub status: &'static str,
    pub status_label: String,
    pub site: String,
    pub created_iso: String,
    pub created: String,
    pub deadline_iso: String,
    pub deadline: String,
    /// Time left, or how long overdue; for resolved alerts, the outcome.
    pub left: String,
    pub overdue: bool,
    pub assignee: String,
    pub mine: bool,
    /// "number left": the rider can be called back (issue 13).
    pub contact: Option<String>,
}

/// "N more": the alerts after this page, and the link to the next page.
#[derive(Debug)]
pub struct MoreLink {
    pub label: String,
    pub href: String,
}

/// A suspected flood: one row of the queue (after every alert outside clusters).
#[derive(Debug)]
pub struct ClusterLine {
    pub href: String,
    /// "Suspected flood at Station 1: 300 alerts (300 red), 12:01 to 12:05".
    pub label: String,
    pub red: bool,
}

/// `GET /queue/clusters/{id}`.
#[derive(Template, Debug)]
#[template(path = "workspace/cluster.html")]
pub struct ClusterPage {
    pub base: WsBase,
    pub csrf: String,
    pub heading: String,
    pub summary: String,
    pub action_base: String,
    /// Supervisors may move alerts back and resolve the rest.
    pub may_act: bool,
    pub rows: Vec<QueueRow>,
    /// Per row: the rider left a number; the alert's id.
    pub contact: Vec<bool>,
    pub ids: Vec<String>,
    pub notice: Option<String>,
    pub cols: Cols,
}

/// The queue's column headings (also the labels of a row shown as a card on a phone).
#[derive(Debug)]
pub struct Cols {
    pub reference: String,
    pub tier: String,
    pub status: String,
    pub deadline: String,
    pub site: String,
    pub assignee: String,
    pub created: String,
}

impl Cols {
    pub fn new(t: Tr) -> Cols {
        Cols {
            reference: t.tr("ws-col-reference"),
            tier: t.tr("ws-col-tier"),
            status: t.tr("ws-col-status"),
            deadline: t.tr("ws-col-deadline"),
            site: t.tr("ws-col-site"),
            assignee: t.tr("ws-col-assignee"),
            created: t.tr("ws-col-created"),
        }
    }
}

#[derive(Debug)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, Debug)]
#[template(path = "workspace/queue.html")]
pub struct QueuePage {
    pub base: WsBase,
    pub csrf: String,
    pub heading: String,
    /// The rows' URL for the live refresh: `/queue/rows` with this page's filters.
    pub rows_src: String,
    pub statuses: Vec<SelectOption>,
    pub tiers: Vec<SelectOption>,
    pub sites: Vec<SelectOption>,
    pub notice: Option<String>,
    // The table body (shared with `QueueRows`).
    pub rows: Vec<QueueRow>,
    pub clusters: Vec<ClusterLine>,
    pub more: Option<MoreLink>,
    pub title: String,
    pub open_red: usize,
    pub empty: String,
    pub cols: Cols,
}

/// The table body alone (and the title it goes with), for the page's live refresh.
#[derive(Template, Debug)]
#[template(path = "workspace/queue_fragment.html")]
pub struct QueueRows {
    pub rows: Vec<QueueRow>,
    pub clusters: Vec<ClusterLine>,
    pub more: Option<MoreLink>,
    pub title: String,
    pub open_red: usize,
    pub empty: String,
    pub cols: Cols,
}

// ---- the alert page -----------------------------------------------------------------------

#[derive(Debug)]
pub struct ReasonLine {
    pub tier: &'static str,
    pub tier_label: String,
    pub text: String,
}

#[derive(Debug)]
pub struct AnswerLine {
    pub item: String,
    pub text: String,
    /// The chosen answer's label (with its value), or "unanswered".
    pub answer: String,
    pub answered: bool,
}

#[derive(Debug)]
pub struct ScoreLine {
    pub name: String,
    pub value: String,
    pub band: String,
}

#[derive(Debug)]
pub struct ScreeningBlock {
    pub title: String,
    pub version: String,
    pub submitted_iso: String,
    pub submitted: String,
    pub tier: &'static str,
    pub tier_label: String,
    pub urgent: bool,
    pub locale: String,
    pub scores: Vec<ScoreLine>,
    pub reasons: Vec<ReasonLine>,
    pub answers: Vec<AnswerLine>,
}

#[derive(Debug)]
pub struct EventLine {
    pub at_iso: String,
    pub at: String,
    pub kind: String,
    pub actor: String,
    pub outcome: Option<String>,
    pub text: Option<String>,
}

#[derive(Debug)]
pub struct EarlierLine {
    pub questionnaire: String,
    pub submitted_iso: String,
    pub submitted: String,
    pub tier: &'static str,
    pub tier_label: String,
    pub scores: String,
}

#[derive(Debug)]
pub struct CrisisLine {
    pub number: String,
    pub name: String,
}

#[derive(Debug)]
pub struct Contact {
    pub name: Option<String>,
    pub phone: String,
    /// The number for a `tel:` link: its digits and a leading `+` only.
    pub tel: String,
}

#[derive(Template, Debug)]
#[template(path = "workspace/alert.html")]
pub struct AlertPage {
    pub base: WsBase,
    pub csrf: String,
    /// For the page's live update (the event stream names alerts by id).
    pub alert_id: String,
    pub reference: String,
    pub action_base: String,
    pub tier: &'static str,
    pub tier_label: String,
    pub urgent: bool,
    pub status: &'static str,
    pub status_label: String,
    pub site: String,
    pub created_iso: String,
    pub created: String,
    pub deadline_iso: String,
    pub deadline: String,
    pub left: String,
    pub overdue: bool,
    pub assignee: String,
    pub outcome: Option<String>,
    pub reasons: Vec<ReasonLine>,
    pub screenings: Vec<ScreeningBlock>,
    pub timeline: Vec<EventLine>,
    pub contact: Option<Contact>,
    /// "Also open now: ..." (the other staff with this page open), or empty.
    pub viewers: String,
    pub earlier: Vec<EarlierLine>,
    pub crisis: Vec<CrisisLine>,
    /// A conflict or a refused input, shown above the actions.
    pub error: Option<String>,
    pub can_acknowledge: bool,
    pub can_unacknowledge: bool,
    pub can_note: bool,
    pub can_resolve: bool,
    pub can_assign: bool,
    pub outcomes: Vec<SelectOption>,
    pub assignees: Vec<SelectOption>,
    /// What was typed, kept when the form is refused.
    pub note_text: String,
    pub resolve_note: String,
}

// ---- administration -----------------------------------------------------------------------

#[derive(Debug)]
pub struct Check {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

#[derive(Debug)]
pub struct UserLine {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role_label: String,
    pub sites: String,
    pub active: bool,
    /// E.164, or empty.
    pub phone: String,
    pub roles: Vec<SelectOption>,
    pub locales: Vec<SelectOption>,
    pub site_checks: Vec<Check>,
}

#[derive(Debug)]
pub struct SiteLine {
    pub slug: String,
    pub name: String,
    pub link: String,
}

/// A station code screenings used that no site has (last 7 days).
#[derive(Debug)]
pub struct UnknownSiteLine {
    pub code: String,
    pub count: i64,
    /// China time, `YYYY-MM-DD HH:MM`.
    pub last_seen: String,
}

/// A user just created with a generated password: shown once, here, and nowhere else.
#[derive(Debug)]
pub struct Created {
    pub email: String,
    pub password: Option<String>,
}

#[derive(Template, Debug)]
#[template(path = "workspace/admin.html")]
pub struct AdminPage {
    pub base: WsBase,
    pub csrf: String,
    pub users: Vec<UserLine>,
    pub sites: Vec<SiteLine>,
    pub unknown_sites: Vec<UnknownSiteLine>,
    pub roles: Vec<SelectOption>,
    pub locales: Vec<SelectOption>,
    pub site_checks: Vec<Check>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub created: Option<Created>,
    /// The create-user form as typed, kept when it is refused (never the password).
    pub new_email: String,
    pub new_name: String,
    pub new_slug: String,
    pub new_site_name: String,
    /// Failed and dead jobs and escalation gaps.
    pub notifier: super::notifier::NotifierView,
    /// The flood guard: clusters, busy sources and sites.
    pub abuse: crate::abuse::AbuseOverview,
}

#[derive(Debug)]
pub struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template, Debug)]
#[template(path = "workspace/audit.html")]
pub struct AuditPage {
    pub base: WsBase,
    pub actions: Vec<SelectOption>,
    pub entries: Vec<AuditLine>,
    pub next: Option<String>,
    pub first: Option<String>,
}

#[derive(Debug)]
pub struct ReportRow {
    pub label: String,
    pub cells: Vec<String>,
    pub total: String,
}

/// One protected table as shown: figures already "<10" or "—" where suppressed.
#[derive(Debug)]
pub struct ReportTable {
    pub period: String,
    pub columns: Vec<String>,
    pub rows: Vec<ReportRow>,
    pub totals: Vec<String>,
    pub total: String,
}

#[derive(Debug)]
pub struct ReportAlertRow {
    pub period: String,
    pub tier: String,
    pub opened: String,
    pub median: String,
    pub p90: String,
    pub share: String,
}

#[derive(Debug)]
pub struct ReportCoverageRow {
    pub period: String,
    pub hours: String,
    pub uncovered: String,
}

#[derive(Template, Debug)]
#[template(path = "workspace/reports.html")]
pub struct ReportsPage {
    pub base: WsBase,
    pub intro: String,
    pub from: String,
    pub to: String,
    pub monthly: bool,
    pub empty: bool,
    /// Server-rendered SVG (built from numbers and escaped labels only).
    pub screening_chart: String,
    pub coverage_chart: String,
    pub screening_tables: Vec<ReportTable>,
    pub alert_rows: Vec<ReportAlertRow>,
    pub coverage_rows: Vec<ReportCoverageRow>,
    pub csv_screenings: String,
    pub csv_alerts: String,
    pub csv_coverage: String,
}
