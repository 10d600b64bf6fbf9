//! Alerts, the screenings behind them, and their append-only timeline.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alert_events, alert_screenings, alerts, contacts, screenings, users};
use super::{AnyConnection, DbError};

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = alerts)]
pub struct AlertRow {
    pub id: String,
    pub reference: String,
    pub tier: String,
    pub urgent: bool,
    pub priority: i32,
    pub site: Option<String>,
    pub reasons: String,
    pub status: String,
    pub assignee_id: Option<String>,
    pub rider_key: Option<String>,
    pub created_at: NaiveDateTime,
    pub deadline_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
    pub updated_at: NaiveDateTime,
    /// The escalation policy copied at opening (JSON).
    pub policy: Option<String>,
    /// The suspected-flood cluster it is in (`None`: in the queue as usual).
    pub cluster_id: Option<String>,
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = alert_events)]
pub struct EventRow {
    pub id: String,
    pub alert_id: String,
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    pub kind: String,
    /// JSON.
    pub detail: String,
}

/// What the queue may show: `sites` None means every site (and alerts without one).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub statuses: Vec<String>,
    pub tiers: Vec<String>,
    pub site: Option<String>,
    pub visible_sites: Option<Vec<String>>,
    pub limit: i64,
    /// Keyset paging: only rows after this one in queue order.
    pub after: Option<Cursor>,
    /// `Some(None)`: only alerts in no cluster (the queue); `Some(Some(id))`: only that
    /// cluster's; `None`: either.
    pub cluster: Option<Option<String>>,
}

/// A position in the queue order (priority, deadline, id): where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub priority: i32,
    pub deadline_at: NaiveDateTime,
    pub id: String,
}

impl Cursor {
    pub fn of(row: &AlertRow) -> Cursor {
        Cursor {
            priority: row.priority,
            deadline_at: row.deadline_at,
            id: row.id.clone(),
        }
    }

    /// `priority.deadline-in-nanoseconds.id`: opaque to clients, exact to the nanosecond
    /// (both backends give back the deadline they stored).
    pub fn encode(&self) -> String {
        let nanos = self
            .deadline_at
            .and_utc()
            .timestamp_nanos_opt()
            .unwrap_or_default();
        format!("{}.{nanos}.{}", self.priority, self.id)
    }

    pub fn parse(s: &str) -> Option<Cursor> {
        let mut parts = s.splitn(3, '.');
        // Any value the documented pattern allows is a position (clamped to the types' ranges):
        // a cursor past every row is an empty page, not an error.
        let digits = |s: &str, most: usize| {
            let d = s.strip_prefix('-').unwrap_or(s);
            (1..=most).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit())
        };
        let (p, n) = (parts.next()?, parts.next()?);
        if !digits(p, 10) || !digits(n, 19) {
            return None;
        }
        let mut parts = [p, n].into_iter().chain(parts);
        let priority: i64 = parts.next()?.parse().ok()?;
        let priority =
            i32::try_from(priority.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).ok()?;
        let nanos: i128 = parts.next()?.parse().ok()?;
        let nanos = i64::try_from(nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).ok()?;
        let id = parts.next()?;
        if id.is_empty()
            || id.len() > 64
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return None;
        }
        Some(Cursor {
            priority,
            deadline_at: chrono::DateTime::from_timestamp_nanos(nanos).naive_utc(),
            id: id.to_string(),
        })
    }
}

type Db = <AnyConnection as diesel::Connection>::Backend;

/// The rows a filter selects (without the cursor and the limit).
fn filtered(filter: &Filter) -> alerts::BoxedQuery<'static, Db> {
    let mut q = alerts::table.into_boxed();
    if !filter.statuses.is_empty() {
        q = q.filter(alerts::status.eq_any(filter.statuses.clone()));
    }
    if !filter.tiers.is_empty() {
        q = q.filter(alerts::tier.eq_any(filter.tiers.clone()));
    }
    if let Some(site) = &filter.site {
        q = q.filter(alerts::site.eq(site.clone()));
    }
    if let Some(sites) = &filter.visible_sites {
        q = q.filter(alerts::site.eq_any(sites.clone()));
    }
    match &filter.cluster {
        None => {}
        Some(None) => q = q.filter(alerts::cluster_id.is_null()),
        Some(Some(id)) => q = q.filter(alerts::cluster_id.eq(id.clone())),
    }
    q
}

/// How many alerts a filter selects: a count, never the length of a capped list.
pub fn count(conn: &mut AnyConnection, filter: &Filter) -> Result<i64, DbError> {
    Ok(filtered(filter).count().get_result(conn)?)
}

/// The alert a yellow or red screening opens (or the rider's open alert it joins).
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub id: String,
    /// Candidate references, tried in order until one is free.
    pub references: Vec<String>,
    pub tier: String,
    pub urgent: bool,
    pub priority: i32,
    /// JSON list of reasons.
    pub reasons: String,
    pub created_at: NaiveDateTime,
    pub deadline_at: NaiveDateTime,
    /// The escalation policy in force (JSON), copied onto the alert.
    pub policy: Option<String>,
}

/// What the submit transaction did about an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub alert_id: String,
    pub reference: String,
    /// False when the screening joined the rider's open alert.
    pub opened: bool,
    pub tier: String,
    pub urgent: bool,
    pub site: Option<String>,
    /// Red now, and was not red before (opened red, or raised from yellow): paging starts.
    pub became_red: bool,
}

fn event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Opens the alert, or attaches the screening to the identified rider's unresolved alert
/// (raising its tier, urgency and deadline when the new screening is more severe).
pub fn open_or_attach(
    conn: &mut AnyConnection,
    new: &NewAlert,
    screening_id: &str,
    site: Option<&str>,
    rider_key: Option<&str>,
) -> Result<Written, DbError> {
    if let Some(key) = rider_key
        && let Some(existing) = active_for_rider(conn, key)?
    {
        return attach(conn, existing, new, screening_id);
    }
    open(conn, new, screening_id, site, rider_key)
}

/// A later screening of the same rider joins the unresolved alert.
fn attach(
    conn: &mut AnyConnection,
    existing: AlertRow,
    new: &NewAlert,
    screening_id: &str,
) -> Result<Written, DbError> {
    link_screening(conn, &existing.id, screening_id)?;
    let raised = new.priority < existing.priority;
    let (tier, urgent) = if raised {
        let deadline = existing.deadline_at.min(new.deadline_at);
        if existing.policy.is_none() {
            diesel::update(alerts::table.find(&existing.id))
                .set(alerts::policy.eq(&new.policy))
                .execute(conn)?;
        }
        raise(
            conn,
            &existing.id,
            &Raise {
                tier: &new.tier,
                urgent: new.urgent,
                priority: new.priority,
                deadline_at: deadline,
                reasons: &new.reasons,
            },
            new.created_at,
        )?;
        (new.tier.clone(), new.urgent)
    } else {
        (existing.tier.clone(), existing.urgent)
    };
    insert_event(
        conn,
        &EventRow {
            id: event_id(),
            alert_id: existing.id.clone(),
            at: new.created_at,
            actor_id: None,
            kind: "attached".into(),
            detail: serde_json::json!({
                "screening_id": screening_id,
                "tier": new.tier,
                "raised": raised,
            })
            .to_string(),
        },
    )?;
    Ok(Written {
        alert_id: existing.id,
        reference: existing.reference,
        opened: false,
        became_red: tier == "red" && existing.tier != "red",
        tier,
        urgent,
        site: existing.site,
    })
}

/// A new alert for the screening, under the first free reference of the candidates.
fn open(
    conn: &mut AnyConnection,
    new: &NewAlert,
    screening_id: &str,
    site: Option<&str>,
    rider_key: Option<&str>,
) -> Result<Written, DbError> {
    let mut row = AlertRow {
        id: new.id.clone(),
        reference: String::new(),
        tier: new.tier.clone(),
        urgent: new.urgent,
        priority: new.priority,
        site: site.map(str::to_string),
        reasons: new.reasons.clone(),
        status: "open".into(),
        assignee_id: None,
        rider_key: rider_key.map(str::to_string),
        created_at: new.created_at,
        deadline_at: new.deadline_at,
        acknowledged_at: None,
        resolved_at: None,
        outcome: None,
        updated_at: new.created_at,
        policy: new.policy.clone(),
        cluster_id: None,
    };
    insert_with_free_reference(conn, &mut row, &new.references)?;
    link_screening(conn, &row.id, screening_id)?;
    insert_event(
        conn,
        &EventRow {
            id: event_id(),
            alert_id: row.id.clone(),
            at: new.created_at,
            actor_id: None,
            kind: "opened".into(),
            detail: serde_json::json!({"screening_id": screening_id, "tier": new.tier, "urgent": new.urgent})
                .to_string(),
        },
    )?;
    Ok(Written {
        alert_id: row.id,
        reference: row.reference,
        opened: true,
        became_red: row.tier == "red",
        tier: row.tier,
        urgent: row.urgent,
        site: row.site,
    })
}

fn insert_with_free_reference(
    conn: &mut AnyConnection,
    row: &mut AlertRow,
    candidates: &[String],
) -> Result<(), DbError> {
    for reference in candidates {
        row.reference = reference.clone();
        // A taken reference (two instances picking the same one at once) must not abort the
        // screening's transaction: ON CONFLICT DO NOTHING on the reference alone (any other
        // conflict is still an error), and the next candidate when no row went in. No
        // savepoint: two round trips fewer per alert.
        let inserted = match conn {
            AnyConnection::Sqlite(c) => diesel::insert_into(alerts::table)
                .values(&*row)
                .on_conflict(alerts::reference)
                .do_nothing()
                .execute(c)?,
            AnyConnection::Postgresql(c) => diesel::insert_into(alerts::table)
                .values(&*row)
                .on_conflict(alerts::reference)
                .do_nothing()
                .execute(c)?,
        };
        if inserted == 1 {
            return Ok(());
        }
    }
    Err(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::UniqueViolation,
        Box::new("no free alert reference among the candidates".to_string()),
    )
    .into())
}

pub fn insert(conn: &mut AnyConnection, row: &AlertRow) -> Result<(), DbError> {
    diesel::insert_into(alerts::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn link_screening(
    conn: &mut AnyConnection,
    alert_id: &str,
    screening_id: &str,
) -> Result<(), DbError> {
    diesel::insert_into(alert_screenings::table)
        .values((
            alert_screenings::alert_id.eq(alert_id),
            alert_screenings::screening_id.eq(screening_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every change of an alert passes through here (its timeline row). On PostgreSQL the same
/// transaction also issues `NOTIFY careline_alerts` (delivered at commit, dropped on
/// rollback) so that every instance's live queue streams hear of it. The payload holds ids
/// only: the event, the alert and the alert's site (see `ChangeNotice`), never rider data.
pub fn insert_event(conn: &mut AnyConnection, row: &EventRow) -> Result<(), DbError> {
    diesel::insert_into(alert_events::table)
        .values(row)
        .execute(conn)?;
    if let AnyConnection::Postgresql(c) = conn {
        diesel::sql_query(
            "SELECT pg_notify('careline_alerts', json_build_object(\
             'event', $1::text, 'alert', a.id, 'site', a.site)::text) \
             FROM alerts a WHERE a.id = $2",
        )
        .bind::<diesel::sql_types::Text, _>(&row.id)
        .bind::<diesel::sql_types::Text, _>(&row.alert_id)
        .execute(c)?;
    }
    Ok(())
}

/// The channel `insert_event` notifies on PostgreSQL.
pub const CHANGES_CHANNEL: &str = "careline_alerts";

/// The payload of a `careline_alerts` notification: which timeline row, of which alert, at
/// which site. Ids only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct ChangeNotice {
    pub event: String,
    pub alert: String,
    pub site: Option<String>,
}

impl ChangeNotice {
    pub fn parse(payload: &str) -> Option<ChangeNotice> {
        serde_json::from_str(payload).ok()
    }
}

/// One timeline row as a live stream sends it: its id, its alert, the alert's site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub event: String,
    pub alert: String,
    pub site: Option<String>,
}

/// Timeline rows written after the row `after` (ids are UUIDv7, so they sort by time), oldest
/// first, of alerts at `visible_sites` (`None`: every site), at most `limit`.
pub fn events_after(
    conn: &mut AnyConnection,
    after: &str,
    visible_sites: Option<Vec<String>>,
    limit: i64,
) -> Result<Vec<EventRef>, DbError> {
    // Event ids (UUIDv7) are taken before their transaction commits, so one with an earlier id
    // can commit after `after` was read; read back a margin before it (the stream skips what
    // it has sent; a reconnecting client gets a few changes twice, which only refreshes rows).
    let floor = replay_floor(after, REPLAY_MARGIN);
    let mut q = alert_events::table
        .inner_join(alerts::table)
        .filter(alert_events::id.gt(floor))
        .filter(alert_events::id.ne(after.to_string()))
        .into_boxed();
    if let Some(sites) = visible_sites {
        q = q.filter(alerts::site.eq_any(sites));
    }
    let rows: Vec<(String, String, Option<String>)> = q
        .order(alert_events::id.asc())
        .limit(limit)
        .select((alert_events::id, alert_events::alert_id, alerts::site))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(event, alert, site)| EventRef { event, alert, site })
        .collect())
}

/// How far before a stream's cursor a replay reads: longer than any transaction that writes
/// a timeline row stays open (those are short and bounded by the pool's timeout).
pub const REPLAY_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// The smallest UUIDv7 (as stored: lowercase, hyphenated) of `margin` before the time in the
/// event id `after`; `after` itself when it is not a UUIDv7 (such as `""`, "from the start").
pub fn replay_floor(after: &str, margin: std::time::Duration) -> String {
    let Ok(id) = uuid::Uuid::parse_str(after) else {
        return after.to_string();
    };
    if id.get_version_num() != 7 {
        return after.to_string();
    }
    let b = id.as_bytes();
    let ms = b[..6]
        .iter()
        .fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let floor = ms.saturating_sub(u64::try_from(margin.as_millis()).unwrap_or(u64::MAX));
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&floor.to_be_bytes()[2..]);
    bytes[6] = 0x70; // version 7, the rest zero
    bytes[8] = 0x80; // the RFC 9562 variant, the rest zero
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

/// The newest timeline row's id, if any (where a fresh stream starts).
pub fn latest_event_id(conn: &mut AnyConnection) -> Result<Option<String>, DbError> {
    Ok(alert_events::table
        .select(diesel::dsl::max(alert_events::id))
        .first::<Option<String>>(conn)?)
}

/// The alert of an identified rider that is not resolved yet, if any.
pub fn active_for_rider(
    conn: &mut AnyConnection,
    rider_key: &str,
) -> Result<Option<AlertRow>, DbError> {
    alerts::table
        .filter(alerts::rider_key.eq(rider_key))
        .filter(alerts::status.ne("resolved"))
        .order(alerts::created_at.asc())
        .select(AlertRow::as_select())
        .first(conn)
        .optional()
        .map_err(DbError::from)
}

/// The new severity of an alert (a later, more severe screening of the same rider).
#[derive(Debug, Clone)]
pub struct Raise<'a> {
    pub tier: &'a str,
    pub urgent: bool,
    pub priority: i32,
    pub deadline_at: NaiveDateTime,
    pub reasons: &'a str,
}

/// Raises an alert's tier.
pub fn raise(
    conn: &mut AnyConnection,
    id: &str,
    to: &Raise<'_>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    diesel::update(alerts::table.find(id))
        .set((
            alerts::tier.eq(to.tier),
            alerts::urgent.eq(to.urgent),
            alerts::priority.eq(to.priority),
            alerts::deadline_at.eq(to.deadline_at),
            alerts::reasons.eq(to.reasons),
            alerts::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(DbError::from)
}

pub fn set_rider_key(
    conn: &mut AnyConnection,
    alert_id: &str,
    rider_key: &str,
) -> Result<usize, DbError> {
    diesel::update(
        alerts::table
            .find(alert_id)
            .filter(alerts::rider_key.is_null()),
    )
    .set(alerts::rider_key.eq(rider_key))
    .execute(conn)
    .map_err(DbError::from)
}

pub fn alert_of_screening(
    conn: &mut AnyConnection,
    screening_id: &str,
) -> Result<Option<String>, DbError> {
    alert_screenings::table
        .find(screening_id)
        .select(alert_screenings::alert_id)
        .first(conn)
        .optional()
        .map_err(DbError::from)
}

/// The queue: most urgent first (priority), then the nearest deadline; after the cursor.
pub fn list(conn: &mut AnyConnection, filter: &Filter) -> Result<Vec<AlertRow>, DbError> {
    let mut q = filtered(filter);
    if let Some(c) = &filter.after {
        q = q.filter(
            alerts::priority
                .gt(c.priority)
                .or(alerts::priority.eq(c.priority).and(
                    alerts::deadline_at.gt(c.deadline_at).or(alerts::deadline_at
                        .eq(c.deadline_at)
                        .and(alerts::id.gt(c.id.clone()))),
                )),
        );
    }
    Ok(q.order((
        alerts::priority.asc(),
        alerts::deadline_at.asc(),
        alerts::id.asc(),
    ))
    .limit(filter.limit)
    .select(AlertRow::as_select())
    .load(conn)?)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<AlertRow>, DbError> {
    Ok(alerts::table
        .find(id)
        .select(AlertRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_reference(
    conn: &mut AnyConnection,
    reference: &str,
) -> Result<Option<AlertRow>, DbError> {
    Ok(alerts::table
        .filter(alerts::reference.eq(reference))
        .select(AlertRow::as_select())
        .first(conn)
        .optional()?)
}

/// Compare-and-set: moves the alert from `from` to `to` only if its status is still `from`.
/// Returns whether this call made the change.
pub fn acknowledge(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(alerts::table.find(id).filter(alerts::status.eq("open")))
        .set((
            alerts::status.eq("acknowledged"),
            alerts::assignee_id.eq(Some(user_id)),
            alerts::acknowledged_at.eq(Some(now)),
            alerts::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Back to open, only if still acknowledged by `assignee`.
pub fn unacknowledge(
    conn: &mut AnyConnection,
    id: &str,
    assignee: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        alerts::table
            .find(id)
            .filter(alerts::status.eq("acknowledged"))
            .filter(alerts::assignee_id.eq(assignee)),
    )
    .set((
        alerts::status.eq("open"),
        alerts::assignee_id.eq(None::<String>),
        alerts::acknowledged_at.eq(None::<NaiveDateTime>),
        alerts::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn reassign(
    conn: &mut AnyConnection,
    id: &str,
    from: &str,
    to: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        alerts::table
            .find(id)
            .filter(alerts::status.eq("acknowledged"))
            .filter(alerts::assignee_id.eq(from)),
    )
    .set((alerts::assignee_id.eq(Some(to)), alerts::updated_at.eq(now)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Resolves an alert of a suspected flood in bulk: only while it is open, or acknowledged by
/// `by` (one another counselor took is being worked and stays). Returns whether it changed.
pub fn resolve_flooded(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    outcome: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        alerts::table.find(id).filter(
            alerts::status.eq("open").or(alerts::status
                .eq("acknowledged")
                .and(alerts::assignee_id.eq(by))),
        ),
    )
    .set((
        alerts::status.eq("resolved"),
        alerts::assignee_id.eq(Some(by)),
        alerts::outcome.eq(Some(outcome)),
        alerts::resolved_at.eq(Some(now)),
        alerts::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn resolve(
    conn: &mut AnyConnection,
    id: &str,
    assignee: &str,
    outcome: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(
        alerts::table
            .find(id)
            .filter(alerts::status.eq("acknowledged"))
            .filter(alerts::assignee_id.eq(assignee)),
    )
    .set((
        alerts::status.eq("resolved"),
        alerts::outcome.eq(Some(outcome)),
        alerts::resolved_at.eq(Some(now)),
        alerts::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn events(conn: &mut AnyConnection, alert_id: &str) -> Result<Vec<EventRow>, DbError> {
    Ok(alert_events::table
        .filter(alert_events::alert_id.eq(alert_id))
        .order((alert_events::at.asc(), alert_events::id.asc()))
        .select(EventRow::as_select())
        .load(conn)?)
}

/// The screenings behind an alert, oldest first.
pub fn screenings_of(
    conn: &mut AnyConnection,
    alert_id: &str,
) -> Result<Vec<super::screenings::ScreeningRow>, DbError> {
    Ok(alert_screenings::table
        .inner_join(screenings::table)
        .filter(alert_screenings::alert_id.eq(alert_id))
        .order(screenings::submitted_at.asc())
        .select(super::screenings::ScreeningRow::as_select())
        .load(conn)?)
}

/// Screenings of the same identified rider outside this alert, newest first.
pub fn earlier_screenings(
    conn: &mut AnyConnection,
    rider_key: &str,
    alert_id: &str,
) -> Result<Vec<super::screenings::ScreeningRow>, DbError> {
    let in_alert = alert_screenings::table
        .filter(alert_screenings::alert_id.eq(alert_id))
        .select(alert_screenings::screening_id);
    Ok(contacts::table
        .inner_join(screenings::table)
        .filter(contacts::rider_key.eq(rider_key))
        .filter(screenings::id.ne_all(in_alert))
        .order(screenings::submitted_at.desc())
        .limit(50)
        .select(super::screenings::ScreeningRow::as_select())
        .load(conn)?)
}

/// Display names of users by id (for the timeline and the queue).
pub fn user_names(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<(String, String)>, DbError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::name))
        .load(conn)?)
}

/// Locks an open alert until the transaction ends (a compare-and-set that changes nothing):
/// an acknowledgement waits for a page being decided, and the page sees the acknowledgement.
pub fn lock_if_status(conn: &mut AnyConnection, id: &str, status: &str) -> Result<bool, DbError> {
    let n = diesel::update(alerts::table.find(id).filter(alerts::status.eq(status)))
        .set(alerts::status.eq(status))
        .execute(conn)?;
    Ok(n == 1)
}

/// Open red alerts past their deadline (for the auditor).
pub fn overdue_red(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Vec<AlertRow>, DbError> {
    Ok(alerts::table
        .filter(alerts::status.eq("open"))
        .filter(alerts::tier.eq("red"))
        .filter(alerts::deadline_at.lt(now))
        // A suspected flood's alerts are paged as one cluster, not one by one.
        .filter(alerts::cluster_id.is_null())
        .select(AlertRow::as_select())
        .load(conn)?)
}

/// Open (not resolved) yellow alerts per site.
pub fn open_yellow_by_site(
    conn: &mut AnyConnection,
) -> Result<Vec<(Option<String>, i64)>, DbError> {
    Ok(alerts::table
        .filter(alerts::status.ne("resolved"))
        .filter(alerts::tier.eq("yellow"))
        .group_by(alerts::site)
        .select((alerts::site, diesel::dsl::count_star()))
        .load(conn)?)
}

pub fn count_open(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(alerts::table
        .filter(alerts::status.ne("resolved"))
        .count()
        .get_result(conn)?)
}

/// Alerts not yet acknowledged, by tier (for the metrics).
pub fn unacknowledged_by_tier(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, DbError> {
    Ok(alerts::table
        .filter(alerts::status.eq("open"))
        .group_by(alerts::tier)
        .select((alerts::tier, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Alerts not yet acknowledged and past their deadline, by tier (for the metrics).
pub fn overdue_by_tier(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<Vec<(String, i64)>, DbError> {
    Ok(alerts::table
        .filter(alerts::status.eq("open"))
        .filter(alerts::deadline_at.lt(now))
        .group_by(alerts::tier)
        .select((alerts::tier, diesel::dsl::count_star()))
        .load(conn)?)
}

/// When the oldest red alert not yet acknowledged opened.
pub fn oldest_unacknowledged_red(
    conn: &mut AnyConnection,
) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(alerts::table
        .filter(alerts::status.eq("open"))
        .filter(alerts::tier.eq("red"))
        .select(diesel::dsl::min(alerts::created_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}

/// How many times escalation paged level `level` (0-based), across all alerts: the `paged`
/// timeline entries, whose detail is `{"level":N,...}` with further keys after it.
pub fn pages_at_level(conn: &mut AnyConnection, level: usize) -> Result<i64, DbError> {
    Ok(alert_events::table
        .filter(alert_events::kind.eq("paged"))
        .filter(alert_events::detail.like(format!("%\"level\":{level},%")))
        .count()
        .get_result(conn)?)
}

/// Makes alerts of an identified rider anonymous again (the rider's contact was erased):
/// clears their rider key; returns the ids of the alerts changed.
pub fn unlink_rider(conn: &mut AnyConnection, rider_key: &str) -> Result<Vec<String>, DbError> {
    let ids: Vec<String> = alerts::table
        .filter(alerts::rider_key.eq(rider_key))
        .select(alerts::id)
        .load(conn)?;
    diesel::update(alerts::table.filter(alerts::rider_key.eq(rider_key)))
        .set(alerts::rider_key.eq(None::<String>))
        .execute(conn)?;
    Ok(ids)
}

/// Clears one alert's rider key when it is `rider_key`; returns whether it changed.
pub fn unlink_alert(
    conn: &mut AnyConnection,
    alert_id: &str,
    rider_key: &str,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        alerts::table
            .find(alert_id)
            .filter(alerts::rider_key.eq(rider_key)),
    )
    .set(alerts::rider_key.eq(None::<String>))
    .execute(conn)?
        > 0)
}

/// Records that `user_id` has the page of `alert_id` open at `now`, and answers the names of
/// the others whose page of it was seen since `since`, by name. Rows older than a day are
/// dropped on the way (an alert page open for a day refreshes its row anyway).
pub fn seen_viewing(
    conn: &mut AnyConnection,
    alert_id: &str,
    user_id: &str,
    now: NaiveDateTime,
    since: NaiveDateTime,
) -> Result<Vec<String>, DbError> {
    use super::schema::alert_viewers;
    super::write_transaction(conn, |conn| {
        diesel::delete(
            alert_viewers::table.filter(alert_viewers::seen_at.lt(now - chrono::Duration::days(1))),
        )
        .execute(conn)?;
        let row = (
            alert_viewers::alert_id.eq(alert_id),
            alert_viewers::user_id.eq(user_id),
            alert_viewers::seen_at.eq(now),
        );
        // ON CONFLICT is not in diesel's common dialect: each backend runs its own statement.
        match conn {
            AnyConnection::Sqlite(c) => diesel::insert_into(alert_viewers::table)
                .values(row)
                .on_conflict((alert_viewers::alert_id, alert_viewers::user_id))
                .do_update()
                .set(alert_viewers::seen_at.eq(now))
                .execute(c)?,
            AnyConnection::Postgresql(c) => diesel::insert_into(alert_viewers::table)
                .values(row)
                .on_conflict((alert_viewers::alert_id, alert_viewers::user_id))
                .do_update()
                .set(alert_viewers::seen_at.eq(now))
                .execute(c)?,
        };
        let names = alert_viewers::table
            .inner_join(users::table)
            .filter(alert_viewers::alert_id.eq(alert_id))
            .filter(alert_viewers::user_id.ne(user_id))
            .filter(alert_viewers::seen_at.ge(since))
            .order(users::name.asc())
            .select(users::name)
            .load::<String>(conn)?;
        Ok(names)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_replay_reads_back_the_margin_before_its_cursor() {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, 1_800_000_000, 500_000_000);
        let after = uuid::Uuid::new_v7(ts).hyphenated().to_string();
        let floor = replay_floor(&after, Duration::from_secs(30));
        let earlier = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_799_999_990,
            0,
        ))
        .hyphenated()
        .to_string();
        let too_early = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_799_999_970,
            400_000_000,
        ))
        .hyphenated()
        .to_string();
        // Stored ids compare as strings: 10 s before the cursor is read again, 30.1 s is not.
        assert!(
            floor < earlier && earlier < after,
            "{floor} {earlier} {after}"
        );
        assert!(too_early < floor, "{too_early} {floor}");
        let parsed = uuid::Uuid::parse_str(&floor).expect("a UUID");
        let (secs, nanos) = parsed.get_timestamp().expect("v7").to_unix();
        assert_eq!((secs, nanos), (1_799_999_970, 500_000_000));
        // Not a UUIDv7: the cursor as it is.
        assert_eq!(replay_floor("", Duration::from_secs(30)), "");
        let v4 = "c2a1b0a6-2f5e-4e8a-9c3d-0d6f3b1a2e4f";
        assert_eq!(replay_floor(v4, Duration::from_secs(30)), v4);
    }
}
