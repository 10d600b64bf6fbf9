//! The alert queue and the alert lifecycle: `GET /api/v1/alerts`, `GET /api/v1/alerts/{id}`,
//! `POST .../acknowledge | unacknowledge | notes | resolve | assign`, `POST /api/v1/alerts/take-next`,
//! and `GET /api/v1/alerts/events` (server-sent events when the queue changes).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::{ApiError, error, json_as, run};
use crate::accounts::Role;
use crate::alerts::{self, AlertDetail, AlertSummary, DetailContext, QueueQuery, Status};
use crate::questionnaire::Tier;
use crate::state::AppState;

const WORKERS: [Role; 2] = [Role::Counselor, Role::Supervisor];

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// Comma-separated: `open`, `acknowledged`, `resolved`. Default `open,acknowledged`.
    #[param(
        example = "open,acknowledged",
        pattern = r"^\s*((open|acknowledged|resolved)\s*)?(,\s*((open|acknowledged|resolved)\s*)?)*$"
    )]
    pub status: Option<String>,
    /// Comma-separated: `red`, `yellow`.
    #[param(
        example = "red",
        pattern = r"^\s*((red|yellow)\s*)?(,\s*((red|yellow)\s*)?)*$"
    )]
    pub tier: Option<String>,
    /// One site's alerts only.
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub site: Option<String>,
    /// At most this many (1 to 500, default 200).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the page before: where this page starts.
    #[param(pattern = r"^-?[0-9]{1,10}\.-?[0-9]{1,19}\.[A-Za-z0-9-]{1,64}$")]
    pub cursor: Option<String>,
}

impl QueueParams {
    pub fn parse(&self) -> Result<QueueQuery, ApiError> {
        let list = |s: &Option<String>| -> Vec<String> {
            s.as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        let statuses = list(&self.status)
            .iter()
            .map(|s| {
                Status::parse(s).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "status: `{}` is not one of open, acknowledged, resolved",
                        s.chars().take(40).collect::<String>()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tiers = list(&self.tier)
            .iter()
            .map(|s| match Tier::parse(s) {
                Some(t @ (Tier::Red | Tier::Yellow)) => Ok(t),
                _ => Err(ApiError::BadRequest(format!(
                    "tier: `{}` is not one of red, yellow",
                    s.chars().take(40).collect::<String>()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(site) = &self.site
            && !crate::accounts::valid_slug(site)
        {
            return Err(ApiError::BadRequest(
                "site: a site is 1 to 64 of a-z, 0-9, - and _".into(),
            ));
        }
        if let Some(limit) = self.limit
            && !(1..=500).contains(&limit)
        {
            return Err(ApiError::BadRequest("limit: must be 1 to 500".into()));
        }
        let after = match self.cursor.as_deref() {
            Some(c) => Some(crate::db::alerts::Cursor::parse(c).ok_or_else(|| {
                ApiError::BadRequest(
                    "cursor: not a cursor of this queue; pass `next_cursor` of the page before as it is"
                        .into(),
                )
            })?),
            None => None,
        };
        Ok(QueueQuery {
            statuses,
            tiers,
            site: self.site.clone().filter(|s| !s.is_empty()),
            limit: self.limit,
            after,
        })
    }
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Urgent red first, then red, then yellow; each by deadline: one page (`limit`).
    pub alerts: Vec<AlertSummary>,
    /// Open (not yet taken) red alerts this user may see (a count, not the page's length).
    pub open_red: usize,
    /// Every alert the filters select, over all pages (a count).
    pub total: i64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Suspected floods, one row each, newest first (their alerts are counted in `open_red`
    /// but are not in `alerts` or `total`; `GET /api/v1/clusters/{id}` lists them).
    pub clusters: Vec<alerts::clusters::ClusterSummary>,
}

/// The risk-ordered queue of the alerts this user's sites have.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "alerts",
    security(("bearer" = [])),
    params(QueueParams),
    responses(
        (status = 200, description = "The queue.", body = AlertList),
        (status = 400, description = "A bad filter.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts.", body = error::Body),
    )
)]
pub(super) async fn list(
    auth: Auth,
    query: web::Query<QueueParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let q = query.parse()?;
    let who = auth.principal;
    let list = run(&state, move |conn, _| {
        let page = alerts::queue_page(conn, &who, &q)?;
        let open_red = alerts::open_red_count(conn, &who)?;
        Ok::<_, alerts::AlertError>(AlertList {
            alerts: page.alerts,
            open_red,
            total: page.total,
            next_cursor: page.next_cursor,
            clusters: page.clusters,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// One alert in full: answers (with each item's text in the user's language), scores, reasons,
/// timeline, the contact details if the rider consented, and the rider's earlier screenings.
/// Every successful call is recorded in the audit log.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/{id}",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert's id or its reference (`A-7F3K`).")),
    responses(
        (status = 200, description = "The alert.", body = AlertDetail),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not see answers.", body = error::Body),
        (status = 404, description = "No such alert among this user's sites.", body = error::Body),
    )
)]
pub(super) async fn detail(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let who = auth.principal;
    let id = id.into_inner();
    let detail = run(&state, move |conn, state| {
        let catalog = state.catalog.get();
        alerts::detail(
            conn,
            DetailContext {
                catalog: &catalog,
                cipher: &state.cipher,
            },
            &who,
            &id,
        )
    })
    .await?;
    tracing::info!(alert = %detail.alert.id, "alert viewed");
    Ok(HttpResponse::Ok().json(detail))
}

fn changed(state: &AppState, s: &AlertSummary) {
    state.alert_changed(&s.id, s.site.as_deref());
}

/// Takes the alert: of two simultaneous acknowledgements one wins, the other gets 409 naming
/// who took it.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/acknowledge",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert's id or reference.")),
    responses(
        (status = 200, description = "Acknowledged by this user.", body = AlertSummary),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such alert among this user's sites.", body = error::Body),
        (status = 409, description = "Already taken (or resolved): `details` holds the alert as it is.", body = error::Body),
    )
)]
pub(super) async fn acknowledge(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let who = auth.principal;
    let id = id.into_inner();
    let s = run(&state, move |conn, s| {
        alerts::acknowledge(conn, &who, &id, &s.settings.escalation)
    })
    .await?;
    changed(&state, &s);
    state.acknowledged(&s);
    tracing::info!(alert = %s.id, "alert acknowledged");
    Ok(HttpResponse::Ok().json(s))
}

/// Gives a taken alert back to the queue (the person who took it, or a supervisor).
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/unacknowledge",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert's id or reference.")),
    responses(
        (status = 200, description = "Open again.", body = AlertSummary),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such alert among this user's sites.", body = error::Body),
        (status = 409, description = "Not taken, or taken by someone else.", body = error::Body),
    )
)]
pub(super) async fn unacknowledge(
    auth: Auth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let who = auth.principal;
    let id = id.into_inner();
    let s = run(&state, move |conn, s| {
        alerts::unacknowledge(conn, &who, &id, &s.settings.escalation)
    })
    .await?;
    changed(&state, &s);
    Ok(HttpResponse::Ok().json(s))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1 to 4000 characters, not all blank.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub text: String,
}

/// Adds a note to the alert's timeline.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/notes",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert's id or reference.")),
    request_body(content = NoteRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Added.", body = AlertSummary),
        (status = 400, description = "Not a note.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such alert among this user's sites.", body = error::Body),
        (status = 409, description = "The alert is resolved.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "An empty or too long note.", body = error::Body),
    )
)]
pub(super) async fn add_note(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let note: NoteRequest = json_as(&req, payload, 64 * 1024, "a note").await?;
    let who = auth.principal;
    let id = id.into_inner();
    let s = run(&state, move |conn, _| {
        alerts::add_note(conn, &who, &id, &note.text)
    })
    .await?;
    changed(&state, &s);
    Ok(HttpResponse::Created().json(s))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `contacted_safe`, `referred`, `emergency_services`, `unreachable`, `false_positive` or `other`.
    #[schema(
        example = "contacted_safe",
        pattern = "^(contacted_safe|referred|emergency_services|unreachable|false_positive|other)$"
    )]
    pub outcome: String,
    /// What was done: required, 1 to 4000 characters, not all blank.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
    )]
    pub note: String,
}

/// Closes the alert with an outcome and a note (the person who took it, or a supervisor).
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/resolve",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert's id or reference.")),
    request_body(content = ResolveRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Resolved.", body = AlertSummary),
        (status = 400, description = "Not a resolution.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such alert among this user's sites.", body = error::Body),
        (status = 409, description = "Not taken by this user, or already resolved.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "Unknown outcome, or no note.", body = error::Body),
    )
)]
pub(super) async fn resolve(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let r: ResolveRequest = json_as(&req, payload, 64 * 1024, "a resolution").await?;
    let who = auth.principal;
    let id = id.into_inner();
    let s = run(&state, move |conn, _| {
        alerts::resolve(conn, &who, &id, &r.outcome, &r.note)
    })
    .await?;
    changed(&state, &s);
    tracing::info!(alert = %s.id, "alert resolved");
    Ok(HttpResponse::Ok().json(s))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The counselor or supervisor who takes over.
    pub user_id: String,
}

/// Supervisors only: hands a taken alert to another counselor or supervisor of its site.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/{id}/assign",
    tag = "alerts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The alert's id or reference.")),
    request_body(content = AssignRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Reassigned.", body = AlertSummary),
        (status = 400, description = "Not an assignment.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Not a supervisor; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No such alert among this user's sites.", body = error::Body),
        (status = 409, description = "The alert is not taken, or is resolved.", body = error::Body),
        (status = 415, description = "Not sent as application/json.", body = error::Body),
        (status = 422, description = "No such active counselor or supervisor for this site.", body = error::Body),
    )
)]
pub(super) async fn assign(
    req: HttpRequest,
    auth: Auth,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&[Role::Supervisor])?;
    let a: AssignRequest = json_as(&req, payload, 16 * 1024, "an assignment").await?;
    let who = auth.principal;
    let id = id.into_inner();
    let s = run(&state, move |conn, _| {
        alerts::reassign(conn, &who, &id, &a.user_id)
    })
    .await?;
    changed(&state, &s);
    Ok(HttpResponse::Ok().json(s))
}

/// Acknowledges the highest-priority open alert this user may see.
#[utoipa::path(
    post,
    path = "/api/v1/alerts/take-next",
    tag = "alerts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Taken.", body = AlertSummary),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts; or a cookie request without the CSRF token.", body = error::Body),
        (status = 404, description = "No open alert to take.", body = error::Body),
    )
)]
pub(super) async fn take_next(
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let who = auth.principal;
    let s = run(&state, move |conn, s| {
        alerts::take_next(conn, &who, &s.settings.escalation)
    })
    .await?;
    match s {
        Some(s) => {
            changed(&state, &s);
            state.acknowledged(&s);
            Ok(HttpResponse::Ok().json(s))
        }
        None => Err(ApiError::NotFound("no open alert to take".into())),
    }
}

/// How many events one reconnect replays at most (more: the client refreshes anyway).
const REPLAY_LIMIT: i64 = 500;
/// How many sent event ids a stream remembers to send none twice.
const REMEMBERED: usize = 1024;

/// Server-sent events: `event: queue` whenever an alert of this user's sites opens or changes,
/// from any instance or worker process on the same database (PostgreSQL `LISTEN
/// careline_alerts`); `id:` is the alert timeline row's id and the data names the alert id
/// only. A client that reconnects with `Last-Event-ID` first gets the changes after that
/// event that it may see (at most 500). `event: ping` every 20 seconds; the stream ends when
/// the session does.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/events",
    tag = "alerts",
    security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The `id` (a UUID) of the last event received: the changes after it are sent first.")),
    responses(
        (status = 200, description = "An event stream.", content_type = "text/event-stream", body = String),
        (status = 400, description = "A `Last-Event-ID` that is not an event id.", body = error::Body),
        (status = 401, description = "Not signed in.", body = error::Body),
        (status = 403, description = "Admins do not work alerts.", body = error::Body),
    )
)]
pub(super) async fn events(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth.require_role(&WORKERS)?;
    let last = match req.headers().get("Last-Event-ID") {
        None => None,
        Some(v) => {
            let id = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    uuid::Uuid::parse_str(s)
                        .map(|u| u.hyphenated().to_string())
                        .map_err(|_| ())
                });
            match id {
                None => None,
                Some(Ok(id)) => Some(id),
                Some(Err(())) => {
                    return Err(ApiError::BadRequest(
                        "Last-Event-ID: not an event id of this stream".into(),
                    ));
                }
            }
        }
    };
    // Subscribe before reading the database: a change committed in between is in one or the
    // other (or both: then it is sent once).
    let rx = state.notices.subscribe();
    let who = auth.principal;
    let reader = who.clone();
    let (cursor, replay) = run(&state, move |conn, _| {
        alerts::changes_after(conn, &reader, last.as_deref(), REPLAY_LIMIT)
    })
    .await?;
    let mut every = tokio::time::interval(Duration::from_secs(20));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.reset(); // The first tick in 20 s: the hello is the first ping.
    let mut live = Live {
        rx,
        every,
        who,
        req,
        state,
        cursor,
        sent: std::collections::VecDeque::new(),
        pending: std::collections::VecDeque::new(),
    };
    live.pending.push_back(web::Bytes::from_static(
        b"retry: 3000\nevent: ping\ndata: {}\n\n",
    ));
    for e in replay {
        live.queue(&e.event, &e.alert);
    }
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let chunk = live.next().await?;
        Some((Ok::<_, actix_web::Error>(chunk), live))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Compression would buffer the stream.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// One open event stream.
struct Live {
    rx: tokio::sync::broadcast::Receiver<crate::state::QueueNotice>,
    every: tokio::time::Interval,
    who: crate::accounts::Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    /// The newest event id sent (or where the stream started): a catch-up reads after it.
    cursor: Option<String>,
    /// The ids sent lately: an event heard twice (in-process and from the database, or a
    /// replay racing a notification) goes out once.
    sent: std::collections::VecDeque<String>,
    pending: std::collections::VecDeque<web::Bytes>,
}

impl Live {
    fn queue(&mut self, event: &str, alert: &str) {
        if self.sent.iter().any(|s| s == event) {
            return;
        }
        if self.sent.len() >= REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back(event.to_string());
        if self.cursor.as_deref().is_none_or(|c| c < event) {
            self.cursor = Some(event.to_string());
        }
        let data = serde_json::json!({"alert": alert}).to_string();
        self.pending.push_back(web::Bytes::from(format!(
            "id: {event}\nevent: queue\ndata: {data}\n\n"
        )));
    }

    /// Reads the changes after the cursor from the database (the in-process path, which does
    /// not know event ids, and catching up after a gap).
    async fn catch_up(&mut self) {
        let who = self.who.clone();
        let after = self.cursor.clone();
        let read = run(&self.state, move |conn, _| match after {
            Some(after) => alerts::changes_after(conn, &who, Some(&after), REPLAY_LIMIT),
            None => alerts::changes_after(conn, &who, Some(""), REPLAY_LIMIT),
        })
        .await;
        match read {
            Ok((_, rows)) => {
                for e in rows {
                    self.queue(&e.event, &e.alert);
                }
            }
            Err(_) => {
                // The database is away: tell the client to refresh when it can.
                self.pending
                    .push_back(web::Bytes::from_static(b"event: queue\ndata: {}\n\n"));
            }
        }
    }

    async fn next(&mut self) -> Option<web::Bytes> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(chunk);
            }
            tokio::select! {
                notice = self.rx.recv() => match notice {
                    Ok(n) if n.is_catch_up() => self.catch_up().await,
                    Ok(n) if !self.who.serves(n.site.as_deref()) => {}
                    Ok(n) => match &n.event_id {
                        Some(event) => self.queue(&event.clone(), &n.alert_id),
                        None => self.catch_up().await,
                    },
                    Err(RecvError::Lagged(_)) => self.catch_up().await,
                    Err(RecvError::Closed) => return None,
                },
                _ = self.every.tick() => {
                    // The session may have ended (signed out, disabled): then so does the stream.
                    match super::auth::resolve(&self.req).await {
                        Ok(Some(a)) if a.principal.session_id == self.who.session_id => {}
                        _ => return None,
                    }
                    return Some(web::Bytes::from_static(b"event: ping\ndata: {}\n\n"));
                }
            }
        }
    }
}
