//! The duty roster page, for everyone signed in: the next 7 days of shifts in China time,
//! grouped by day, and who is on duty now. Supervisors and admins also get a plain form to add
//! a shift and a delete button per shift (`POST /rosters`, `POST /rosters/{id}/delete`).
//!
//! Also the notifier section of the admin page (`notifier_section`): failed and dead jobs and
//! the latest escalation gaps, so admins see what did not go out and who was not on duty.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Utc};

use super::views::{Check, SelectOption, WsBase};
use super::{Anonymous, Ctx, Fields, render, role_label, run_failure, see_other, signed_in};
use crate::accounts::{self, Role, Site};
use crate::china_time;
use crate::http::{ApiError, run};
use crate::i18n::Tr;
use crate::rosters::{
    self, NewShift, OnDuty, OnDutyPerson, Person, RosterError, ShiftList, ShiftView,
};
use crate::state::AppState;
use crate::web::request;

const EDITORS: [Role; 2] = [Role::Supervisor, Role::Admin];

/// How many days the page shows, today included.
const DAYS: i64 = 7;

// ---- view models ----------------------------------------------------------------------------

#[derive(Debug)]
pub struct DutyLine {
    pub name: String,
    pub sites: String,
    pub until: String,
    pub until_iso: String,
}

#[derive(Debug)]
pub struct ShiftLine {
    pub id: String,
    /// China time: `09:00`, or `12-03 08:00` when not on the day it is listed under.
    pub start: String,
    pub end: String,
    pub start_iso: String,
    pub end_iso: String,
    pub name: String,
    pub role: String,
    pub sites: String,
    /// The shift names no sites: the person's own apply.
    pub own_sites: bool,
    pub active: bool,
}

#[derive(Debug)]
pub struct DayBlock {
    /// `2026-12-01`
    pub date: String,
    pub weekday: String,
    pub today: bool,
    pub shifts: Vec<ShiftLine>,
}

#[derive(Template, Debug)]
#[template(path = "workspace/rosters.html")]
pub struct RostersPage {
    pub base: WsBase,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// "As of <China time>", for the "on duty now" box.
    pub now: String,
    pub counselors: Vec<DutyLine>,
    pub supervisors: Vec<DutyLine>,
    pub days: Vec<DayBlock>,
    pub can_edit: bool,
    pub people: Vec<SelectOption>,
    pub site_checks: Vec<Check>,
    /// The form as typed, kept when it is refused.
    pub starts: String,
    pub ends: String,
}

// ---- formatting ---------------------------------------------------------------------------

/// China time: `HH:MM` on `day`, else `MM-DD HH:MM`.
fn clock(utc: NaiveDateTime, day: NaiveDate) -> String {
    let local = china_time::local(utc);
    if local.date() == day {
        local.format("%H:%M").to_string()
    } else {
        local.format("%m-%d %H:%M").to_string()
    }
}

fn sites_text(t: Tr, serves: &[String], names: &[Site]) -> String {
    if serves.is_empty() {
        return t.tr("roster-all-sites");
    }
    serves
        .iter()
        .map(|s| {
            names
                .iter()
                .find(|n| &n.slug == s)
                .map_or_else(|| s.clone(), |n| n.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn duty_lines(t: Tr, people: &[OnDutyPerson], names: &[Site], today: NaiveDate) -> Vec<DutyLine> {
    people
        .iter()
        .map(|p| {
            let until = china_time::parse_rfc3339(&p.until).unwrap_or_default();
            DutyLine {
                name: p.name.clone(),
                sites: sites_text(t, &p.serves, names),
                until: t.tr_args("roster-until", &[("time", clock(until, today))]),
                until_iso: p.until.clone(),
            }
        })
        .collect()
}

/// The days from `first` (China time), each with the shifts that start on it; a shift that
/// began before the first day is listed under it.
fn days(t: Tr, list: &ShiftList, names: &[Site], first: NaiveDate) -> Vec<DayBlock> {
    let mut blocks: Vec<DayBlock> = (0..DAYS)
        .map(|i| {
            let date = first + Duration::days(i);
            DayBlock {
                date: date.format("%Y-%m-%d").to_string(),
                weekday: t.tr(&format!(
                    "roster-weekday-{}",
                    date.weekday().number_from_monday()
                )),
                today: i == 0,
                shifts: Vec::new(),
            }
        })
        .collect();
    for s in &list.shifts {
        let (Some(start), Some(end)) = (
            china_time::parse_rfc3339(&s.starts_at),
            china_time::parse_rfc3339(&s.ends_at),
        ) else {
            continue;
        };
        let day = china_time::local(start).date().max(first);
        let Some(block) = usize::try_from((day - first).num_days())
            .ok()
            .and_then(|i| blocks.get_mut(i))
        else {
            continue;
        };
        block.shifts.push(shift_line(t, s, start, end, day, names));
    }
    blocks
}

fn shift_line(
    t: Tr,
    s: &ShiftView,
    start: NaiveDateTime,
    end: NaiveDateTime,
    day: NaiveDate,
    names: &[Site],
) -> ShiftLine {
    ShiftLine {
        id: s.id.clone(),
        start: clock(start, day),
        end: clock(end, day),
        start_iso: s.starts_at.clone(),
        end_iso: s.ends_at.clone(),
        name: s.name.clone(),
        role: role_label(t, s.role),
        sites: sites_text(t, &s.serves, names),
        own_sites: s.sites.is_empty(),
        active: s.active,
    }
}

// ---- the page -----------------------------------------------------------------------------

/// What the page shows besides the rosters.
#[derive(Debug, Default)]
struct Extra {
    status: Option<StatusCode>,
    notice: Option<String>,
    error: Option<String>,
    user_id: String,
    starts: String,
    ends: String,
    sites: Vec<String>,
}

struct Loaded {
    list: ShiftList,
    on_duty: OnDuty,
    sites: Vec<Site>,
    people: Vec<Person>,
}

async fn show(state: &web::Data<AppState>, ctx: &Ctx, extra: Extra) -> HttpResponse {
    let now = Utc::now().naive_utc();
    let from = china_time::local_midnight(now);
    let to = from + Duration::days(DAYS);
    let can_edit = rosters::may_edit(ctx.who().role);
    let loaded = run(state, move |conn, _| {
        Ok::<_, RosterError>(Loaded {
            list: rosters::list(conn, from, to)?,
            on_duty: rosters::on_duty(conn, now)?,
            sites: accounts::list_sites(conn).map_err(|e| match e {
                accounts::AdminError::Db(d) => RosterError::Db(d),
                other => RosterError::BadQuery(other.to_string()),
            })?,
            people: if can_edit {
                rosters::people_on_rosters(conn)?
            } else {
                Vec::new()
            },
        })
    })
    .await;
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => return run_failure(ctx, e),
    };
    let t = ctx.t();
    let today = china_time::local(now).date();
    let people = loaded
        .people
        .iter()
        .map(|p| SelectOption {
            value: p.id.clone(),
            label: format!(
                "{} · {} · {}",
                p.name,
                role_label(t, p.role),
                sites_text(t, &p.sites, &loaded.sites)
            ),
            selected: p.id == extra.user_id,
        })
        .collect();
    let page = RostersPage {
        base: ctx.base(t.tr("roster-title"), "/rosters"),
        csrf: ctx.csrf.clone(),
        notice: extra.notice,
        error: extra.error,
        now: t.tr_args(
            "roster-now-at",
            &[(
                "time",
                china_time::local(now).format("%Y-%m-%d %H:%M").to_string(),
            )],
        ),
        counselors: duty_lines(t, &loaded.on_duty.counselors, &loaded.sites, today),
        supervisors: duty_lines(t, &loaded.on_duty.supervisors, &loaded.sites, today),
        days: days(t, &loaded.list, &loaded.sites, today),
        can_edit,
        people,
        site_checks: loaded
            .sites
            .iter()
            .map(|s| Check {
                value: s.slug.clone(),
                label: format!("{} ({})", s.name, s.slug),
                checked: extra.sites.contains(&s.slug),
            })
            .collect(),
        starts: extra.starts,
        ends: extra.ends,
    };
    render(&page, extra.status.unwrap_or(StatusCode::OK))
}

/// `GET /rosters`.
pub(super) async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ctx = match signed_in(&req, &[], Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let t = ctx.t();
    let notice = match request::query_param(&req, "done").as_deref() {
        Some("added") => Some(t.tr("roster-added")),
        Some("deleted") => Some(t.tr("roster-deleted")),
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

/// A supervisor's or admin's POST with the form's CSRF token; the fields when both are good.
async fn editor_post(
    req: &HttpRequest,
    state: &AppState,
    form: web::Form<Vec<(String, String)>>,
    what: &'static str,
) -> Result<(Ctx, Fields), HttpResponse> {
    let ctx = signed_in(req, &EDITORS, Anonymous::SignInPlain).await?;
    let fields = Fields(form.into_inner());
    if !fields.csrf_ok(req, state, &ctx) {
        return Err(ctx.csrf_refused(what));
    }
    Ok((ctx, fields))
}

/// The refusal of a bad field, in the user's language.
fn refusal(t: Tr, field: &str, message: &str) -> String {
    let key = match field {
        "user_id" => "roster-invalid-user",
        "sites" => "roster-invalid-sites",
        _ if message == rosters::MSG_ORDER => "roster-invalid-order",
        _ if message == rosters::MSG_LENGTH => "roster-invalid-length",
        _ => "roster-invalid-time",
    };
    t.tr(key)
}

/// `POST /rosters`: a new shift.
pub(super) async fn create(
    req: HttpRequest,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, fields) = match editor_post(&req, &state, form, "create-shift").await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let new = NewShift {
        user_id: fields.text("user_id"),
        starts_at: fields.text("starts_at"),
        ends_at: fields.text("ends_at"),
        sites: Some(fields.all("sites")),
    };
    let mut extra = Extra {
        user_id: new.user_id.clone(),
        starts: new.starts_at.clone(),
        ends: new.ends_at.clone(),
        sites: fields.all("sites"),
        ..Extra::default()
    };
    let who = ctx.who().clone();
    let result = run(&state, move |conn, _| {
        Ok::<_, ApiError>(rosters::create(conn, &who, &new))
    })
    .await;
    match result {
        Ok(Ok(shift)) => {
            tracing::info!(shift = %shift.id, user = %shift.user_id, by = %ctx.who().user_id, "shift created on the roster page");
            see_other("/rosters?done=added")
        }
        Ok(Err(RosterError::Invalid { field, message })) => {
            extra.status = Some(StatusCode::UNPROCESSABLE_ENTITY);
            extra.error = Some(refusal(ctx.t(), &field, &message));
            show(&state, &ctx, extra).await
        }
        Ok(Err(RosterError::Forbidden)) => ctx.forbidden_area(),
        Ok(Err(e)) => ctx.failure(e),
        Err(e) => run_failure(&ctx, e),
    }
}

/// `POST /rosters/{id}/delete`.
pub(super) async fn delete(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (ctx, _) = match editor_post(&req, &state, form, "delete-shift").await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let id = path.into_inner();
    let who = ctx.who().clone();
    let shift = id.clone();
    let result = run(&state, move |conn, _| {
        Ok::<_, ApiError>(rosters::delete(conn, &who, &shift))
    })
    .await;
    match result {
        Ok(Ok(())) => {
            tracing::info!(shift = %id, by = %ctx.who().user_id, "shift deleted on the roster page");
            see_other("/rosters?done=deleted")
        }
        Ok(Err(RosterError::NotFound)) => ctx.not_found(),
        Ok(Err(RosterError::Forbidden)) => ctx.forbidden_area(),
        Ok(Err(e)) => ctx.failure(e),
        Err(e) => run_failure(&ctx, e),
    }
}
