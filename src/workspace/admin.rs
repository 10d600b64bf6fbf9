//! Administration pages (admins only): users, sites, the notifier's trouble (failed and dead
//! jobs, escalation gaps) and the audit log. Admins manage people and places; nothing here
//! shows a rider's answers or contact details.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::notifier::{NotifierView, notifier_section};
use super::views::{
    AdminPage, AuditLine, AuditPage, Check, Created, SelectOption, SiteLine, UnknownSiteLine,
    UserLine,
};
use super::{
    Anonymous, Ctx, Fields, render, role_label, run_failure, see_other, signed_in, url_encode,
};
use crate::accounts::{self, AdminError, NewUser, Role, Site, UnknownSite, UserPatch, UserView};
use crate::http::{ApiError, AuditParams, audit_page, run};
use crate::i18n::{self, Tr};
use crate::state::AppState;
use crate::web::request;

const ADMIN: [Role; 1] = [Role::Admin];

/// Actions the audit filter offers (any other valid name can still be typed into the URL).
const AUDIT_ACTIONS: [&str; 17] = [
    "contact.withdrawn",
    "contact.erased",
    "auth.login_succeeded",
    "auth.login_failed",
    "auth.logout",
    "auth.password_changed",
    "alert.viewed",
    "alert.access_denied",
    "alert.acknowledged",
    "alert.unacknowledged",
    "alert.note_added",
    "alert.resolved",
    "alert.reassigned",
    "user.created",
    "user.updated",
    "site.created",
    "site.updated",
];

/// What the admin page shows besides the lists.
#[derive(Debug, Default)]
struct Extra {
    status: Option<StatusCode>,
    notice: Option<String>,
    error: Option<String>,
    created: Option<Created>,
    new_email: String,
    new_name: String,
    new_slug: String,
    new_site_name: String,
}

fn role_options(t: Tr, current: Option<Role>) -> Vec<SelectOption> {
    Role::ALL
        .into_iter()
        .map(|r| SelectOption {
            value: r.as_str().into(),
            label: role_label(t, r),
            selected: Some(r) == current,
        })
        .collect()
}

fn locale_options(current: &str) -> Vec<SelectOption> {
    i18n::Lang::ALL
        .into_iter()
        .map(|l| SelectOption {
            value: l.code().into(),
            label: l.native_name().into(),
            selected: l.code() == current,
        })
        .collect()
}

fn site_checks(sites: &[Site], chosen: &[String]) -> Vec<Check> {
    sites
        .iter()
        .map(|s| Check {
            value: s.slug.clone(),
            label: format!("{} ({})", s.name, s.slug),
            checked: chosen.contains(&s.slug),
        })
        .collect()
}

/// What the admin page watches besides users and sites: floods and misprinted posters.
struct Watch {
    abuse: crate::abuse::AbuseOverview,
    unknown: Vec<UnknownSite>,
}

fn admin_page(
    ctx: &Ctx,
    users: Vec<UserView>,
    sites: Vec<Site>,
    notifier: NotifierView,
    watch: Watch,
    extra: Extra,
    public_url: String,
) -> HttpResponse {
    let Watch { abuse, unknown } = watch;
    let t = ctx.t();
    let users = users
        .into_iter()
        .map(|u| UserLine {
            role_label: role_label(t, u.role),
            sites: if u.sites.is_empty() {
                t.tr("ws-all-sites")
            } else {
                u.sites.join(", ")
            },
            roles: role_options(t, Some(u.role)),
            locales: locale_options(&u.locale),
            site_checks: site_checks(&sites, &u.sites),
            id: u.id,
            email: u.email,
            name: u.name,
            active: u.active,
            phone: u.phone.unwrap_or_default(),
        })
        .collect();
    let page = AdminPage {
        base: ctx.base(t.tr("ws-admin-title"), "/admin"),
        csrf: ctx.csrf.clone(),
        users,
        roles: role_options(t, Some(Role::Counselor)),
        locales: locale_options(ctx.lang.code()),
        site_checks: site_checks(&sites, &[]),
        sites: sites
            .into_iter()
            .map(|s| SiteLine {
                link: crate::poster::station_url(&public_url, &s.slug),
                slug: s.slug,
                name: s.name,
            })
            .collect(),
        unknown_sites: unknown
            .into_iter()
            .map(|u| UnknownSiteLine {
                last_seen: u
                    .last_seen_local
                    .get(..16)
                    .unwrap_or(&u.last_seen_local)
                    .replace('T', " "),
                code: u.code,
                count: u.count,
            })
            .collect(),
        notice: extra.notice,
        error: extra.error,
        created: extra.created,
        new_email: extra.new_email,
        new_name: extra.new_name,
        new_slug: extra.new_slug,
        new_site_name: extra.new_site_name,
        notifier,
        abuse,
    };
    render(&page, extra.status.unwrap_or(StatusCode::OK))
}

/// Loads the lists and renders the page with `extra`.
async fn show(state: &web::Data<AppState>, ctx: &Ctx, extra: Extra) -> HttpResponse {
    let t = ctx.t();
    let lists = run(state, move |conn, state| {
        let users = accounts::list_users(conn)?;
        let sites = accounts::list_sites(conn)?;
        let notifier = notifier_section(conn, t, state.settings.mail.alarm_after)?;
        let abuse =
            crate::abuse::overview(conn, &state.settings.abuse, chrono::Utc::now().naive_utc())?;
        let unknown = accounts::unknown_sites(conn, chrono::Utc::now().naive_utc())?;
        Ok::<_, AdminError>((users, sites, notifier, abuse, unknown))
    })
    .await;
    match lists {
        Ok((users, sites, notifier, abuse, unknown)) => admin_page(
            ctx,
            users,
            sites,
            notifier,
            Watch { abuse, unknown },
            extra,
            state.settings.public_url().to_string(),
        ),
        Err(e) => run_failure(ctx, e),
    }
}

/// `GET /admin`.
pub(super) async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match signed_in(&req, &ADMIN, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let t = ctx.t();
    let notice = match request::query_param(&req, "done").as_deref() {
        Some("user") => Some(t.tr("ws-admin-user-saved")),
        Some("site") => Some(t.tr("ws-admin-site-saved")),
        _ => None,
    };
    show(
        &state,
        &ctx,
        Extra {
            notice,
            ..Extra::default()
        },
    )
    .await
}

/// A refused change, in the user's language: by field for invalid input.
fn refusal(t: Tr, e: &AdminError) -> Option<(StatusCode, String)> {
    match e {
        AdminError::Invalid { field, .. } => {
            let key = match field.as_str() {
                "email" => "ws-admin-invalid-email",
                "name" => "ws-admin-invalid-name",
                "role" => "ws-admin-invalid-role",
                "sites" => "ws-admin-invalid-sites",
                "password" => "ws-password-weak",
                "locale" => "ws-admin-invalid-locale",
                "slug" => "ws-admin-invalid-slug",
                _ => "ws-admin-invalid-nothing",
            };
            Some((StatusCode::UNPROCESSABLE_ENTITY, t.tr(key)))
        }
        AdminError::Conflict(m) => {
            let key = if m.contains("last active admin") {
                "ws-admin-last-admin"
            } else if m.contains("site") {
                "ws-admin-site-exists"
            } else {
                "ws-admin-user-exists"
            };
            Some((StatusCode::CONFLICT, t.tr(key)))
        }
        AdminError::NotFound => Some((StatusCode::NOT_FOUND, t.tr("ws-error-404-body"))),
        AdminError::Db(_) => None,
    }
}

/// Checks the role and the form's CSRF token; the fields when both are good.
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

/// The result of a change: a redirect, or the page again with the refusal.
async fn after(
    state: &web::Data<AppState>,
    ctx: &Ctx,
    result: Result<Result<(), AdminError>, ApiError>,
    done: &str,
    mut extra: Extra,
) -> HttpResponse {
    match result {
        Ok(Ok(())) => see_other(&format!("/admin?done={done}")),
        Ok(Err(e)) => match refusal(ctx.t(), &e) {
            Some((status, message)) => {
                extra.status = Some(status);
                extra.error = Some(message);
                show(state, ctx, extra).await
            }
            None => ctx.failure(e),
        },
        Err(e) => run_failure(ctx, e),
    }
}

/// `POST /admin/users`: a new user. A generated password is shown once, on this answer.
pub(super) async fn create_user(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match admin_post(&req, &state, form, "create-user").await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let new = NewUser {
        email: fields.text("email"),
        name: fields.text("name"),
        role: fields.text("role"),
        sites: fields
            .all("sites")
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        password: Some(fields.text("password")).filter(|p| !p.is_empty()),
        locale: fields.get("locale").map(str::to_string),
        phone: fields
            .get("phone")
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string),
    };
    let who = ctx.who().who();
    let typed = (new.email.clone(), new.name.clone());
    let result = run(&state, move |conn, _| {
        Ok::<_, ApiError>(accounts::create_user(conn, &who, &new))
    })
    .await;
    match result {
        Ok(Ok((user, generated))) => {
            tracing::info!(user = %user.id, by = %ctx.who().user_id, "user created on the admin page");
            if generated.is_none() {
                return see_other("/admin?done=user");
            }
            let t = ctx.t();
            show(
                &state,
                &ctx,
                Extra {
                    status: Some(StatusCode::CREATED),
                    notice: Some(t.tr("ws-admin-user-saved")),
                    created: Some(Created {
                        email: user.email,
                        password: generated,
                    }),
                    ..Extra::default()
                },
            )
            .await
        }
        Ok(Err(e)) => {
            let extra = Extra {
                new_email: typed.0,
                new_name: typed.1,
                ..Extra::default()
            };
            after(&state, &ctx, Ok(Err(e)), "user", extra).await
        }
        Err(e) => run_failure(&ctx, e),
    }
}

/// `POST /admin/users/{id}`: changes only what differs from the user as stored (a change of
/// role, sites, active state or password signs the user out everywhere).
pub(super) async fn update_user(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match admin_post(&req, &state, form, "update-user").await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let id = path.into_inner();
    let who = ctx.who().who();
    let target = id.clone();
    let result = run(&state, move |conn, _| {
        let Some(user) = accounts::list_users(conn)?
            .into_iter()
            .find(|u| u.id == target)
        else {
            return Ok(Err(AdminError::NotFound));
        };
        let mut patch = UserPatch::default();
        let name = fields.text("name").trim().to_string();
        if !name.is_empty() && name != user.name {
            patch.name = Some(name);
        }
        if let Some(role) = fields.get("role").filter(|r| *r != user.role.as_str()) {
            patch.role = Some(role.to_string());
        }
        let mut sites = fields.all("sites");
        sites.sort();
        let mut had = user.sites.clone();
        had.sort();
        if sites != had {
            patch.sites = Some(sites);
        }
        let active = fields.get("active").is_some();
        if active != user.active {
            patch.active = Some(active);
        }
        if let Some(locale) = fields.get("locale").filter(|l| *l != user.locale) {
            patch.locale = Some(locale.to_string());
        }
        let password = fields.text("password");
        if !password.is_empty() {
            patch.password = Some(password);
        }
        // An emptied field removes the number.
        if let Some(phone) = fields.get("phone").map(str::trim)
            && phone != user.phone.as_deref().unwrap_or_default()
        {
            patch.phone = Some(phone.to_string());
        }
        Ok::<_, AdminError>(accounts::update_user(conn, &who, &target, &patch).map(|_| ()))
    })
    .await;
    if matches!(result, Ok(Ok(()))) {
        tracing::info!(user = %id, by = %ctx.who().user_id, "user updated on the admin page");
    }
    after(&state, &ctx, result, "user", Extra::default()).await
}

/// `POST /admin/sites`.
pub(super) async fn create_site(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match admin_post(&req, &state, form, "create-site").await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let site = Site {
        slug: fields.text("slug").trim().to_string(),
        name: fields.text("name"),
    };
    let extra = Extra {
        new_slug: site.slug.clone(),
        new_site_name: site.name.clone(),
        ..Extra::default()
    };
    let who = ctx.who().who();
    let result = run(&state, move |conn, _| {
        Ok::<_, ApiError>(accounts::create_site(conn, &who, &site).map(|_| ()))
    })
    .await;
    after(&state, &ctx, result, "site", extra).await
}

/// `POST /admin/sites/{slug}`: a new name (the slug stays: it is printed in QR codes).
pub(super) async fn rename_site(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match admin_post(&req, &state, form, "rename-site").await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let slug = path.into_inner();
    let name = fields.text("name");
    let who = ctx.who().who();
    let result = run(&state, move |conn, _| {
        Ok::<_, ApiError>(accounts::rename_site(conn, &who, &slug, &name).map(|_| ()))
    })
    .await;
    after(&state, &ctx, result, "site", Extra::default()).await
}

/// `POST /admin/contacts/erase`: a rider's contact details erased on request, by the phone
/// number they gave (matched through the keyed hash). The page again with the counts; the
/// number is neither kept in the form nor logged.
pub(super) async fn erase_contacts(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match admin_post(&req, &state, form, "erase-contacts").await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let phone = fields.text("phone");
    let who = ctx.who().who();
    let result = run(&state, move |conn, state| {
        crate::screening::erase_contacts_by_phone(conn, &state.cipher, &phone, &who)
            .map_err(ApiError::from)
    })
    .await;
    let t = ctx.t();
    match result {
        Ok(Ok(erased)) => {
            tracing::info!(
                contacts = erased.contacts_erased,
                alerts = erased.alerts_unlinked,
                "contact details erased on request (admin page)"
            );
            let notice = t.tr_args(
                "ws-admin-erased",
                &[
                    ("contacts", erased.contacts_erased.to_string()),
                    ("alerts", erased.alerts_unlinked.to_string()),
                ],
            );
            show(
                &state,
                &ctx,
                Extra {
                    notice: Some(notice),
                    ..Extra::default()
                },
            )
            .await
        }
        Ok(Err(_)) => {
            show(
                &state,
                &ctx,
                Extra {
                    status: Some(StatusCode::UNPROCESSABLE_ENTITY),
                    error: Some(t.tr("ws-admin-erase-bad-phone")),
                    ..Extra::default()
                },
            )
            .await
        }
        Err(e) => run_failure(&ctx, e),
    }
}

/// `GET /admin/audit?action=&before=&limit=`: newest first.
pub(super) async fn audit(
    req: HttpRequest,
    query: web::Query<AuditParams>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &ADMIN, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let mut params = query.into_inner();
    // The filter form sends an empty action for "all".
    params.action = params.action.filter(|a| !a.is_empty());
    params.before = params.before.filter(|b| !b.is_empty());
    let action = params.action.clone().unwrap_or_default();
    let limit = params.limit;
    let first = params.before.is_some();
    let result = run(&state, move |conn, _| {
        Ok::<_, ApiError>(audit_page(conn, &params))
    })
    .await;
    let page = match result {
        Ok(Ok(page)) => page,
        Ok(Err(ApiError::BadRequest(_))) => return ctx.bad_request(),
        Ok(Err(e)) | Err(e) => return run_failure(&ctx, e),
    };
    let t = ctx.t();
    let mut keep = Vec::new();
    if !action.is_empty() {
        keep.push(format!("action={}", url_encode(&action)));
    }
    if let Some(limit) = limit {
        keep.push(format!("limit={limit}"));
    }
    let link = |before: Option<&str>| {
        let mut q = keep.clone();
        if let Some(b) = before {
            q.push(format!("before={}", url_encode(b)));
        }
        if q.is_empty() {
            "/admin/audit".to_string()
        } else {
            format!("/admin/audit?{}", q.join("&"))
        }
    };
    let mut actions: Vec<SelectOption> = std::iter::once(SelectOption {
        value: String::new(),
        label: t.tr("ws-audit-all"),
        selected: action.is_empty(),
    })
    .chain(AUDIT_ACTIONS.iter().map(|a| SelectOption {
        value: (*a).into(),
        label: (*a).into(),
        selected: *a == action,
    }))
    .collect();
    if !action.is_empty() && !AUDIT_ACTIONS.contains(&action.as_str()) {
        actions.push(SelectOption {
            value: action.clone(),
            label: action.clone(),
            selected: true,
        });
    }
    let view = AuditPage {
        base: ctx.base(t.tr("ws-audit-title"), "/admin/audit"),
        entries: page
            .entries
            .into_iter()
            .map(|e| AuditLine {
                at: super::china_label(t, e.at, "%Y-%m-%d %H:%M:%S"),
                actor: e.actor,
                action: e.action,
                target: e.target.unwrap_or_default(),
                ip: e.ip.unwrap_or_default(),
                detail: e.detail,
            })
            .collect(),
        next: page.next.as_deref().map(|n| link(Some(n))),
        first: first.then(|| link(None)),
        actions,
    };
    render(&view, StatusCode::OK)
}
