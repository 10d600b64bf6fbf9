//! The gauges `GET /metrics` reads from the database (alerts open and overdue, the oldest
//! untaken red alert, jobs by kind and status, sites with nobody on duty, the last worker
//! heartbeat, pages per escalation level), refreshed by a background task every
//! `metrics.refresh_interval` (15 s) rather than on each scrape. Counts only: no rider data.
//!
//! Layer: use cases (with `admin`). ARCHITECTURE.md maps the layers.

use chrono::NaiveDateTime;

use crate::db::{self, AnyConnection, DbError};
use crate::metrics::{ALERT_TIERS, JOB_STATUSES, JobLabels, Metrics, Seen, TierLabels};

/// The job kinds always reported (0 when there are none), so that alert rules on them see a
/// series before the first job of the kind.
pub const JOB_KINDS: [&str; 6] = [
    crate::jobs::ESCALATE,
    crate::jobs::EMAIL,
    crate::jobs::REMIND,
    crate::jobs::DIGEST,
    crate::jobs::GAPS,
    crate::jobs::CHANNEL,
];

/// Reads every database gauge once. `levels` is how many escalation levels the configured
/// policy has (pages at deeper levels of older policies are counted too, while there are any).
pub fn refresh(
    conn: &mut AnyConnection,
    metrics: &Metrics,
    now: NaiveDateTime,
    levels: usize,
) -> Result<(), DbError> {
    let open = db::alerts::unacknowledged_by_tier(conn)?;
    let overdue = db::alerts::overdue_by_tier(conn, now)?;
    for tier in ALERT_TIERS {
        let count =
            |rows: &[(String, i64)]| rows.iter().find(|(t, _)| t == tier).map_or(0, |(_, n)| *n);
        let labels = TierLabels { tier: tier.into() };
        metrics.alerts_open.get_or_create(&labels).set(count(&open));
        metrics
            .alerts_overdue
            .get_or_create(&labels)
            .set(count(&overdue));
    }
    let jobs = db::jobs::counts_by_kind(conn, now)?;
    let mut kinds: Vec<String> = JOB_KINDS.iter().map(|k| k.to_string()).collect();
    for (kind, _, _) in &jobs {
        if !kinds.contains(kind) {
            kinds.push(kind.clone());
        }
    }
    for kind in &kinds {
        for status in JOB_STATUSES {
            let n = jobs
                .iter()
                .find(|(k, s, _)| k == kind && s == status)
                .map_or(0, |(_, _, n)| *n);
            metrics
                .jobs
                .get_or_create(&JobLabels {
                    kind: kind.clone(),
                    status: status.into(),
                })
                .set(n);
        }
    }
    metrics.roster_gap_sites.set(roster_gaps(conn, now)?);
    let mut level = 0;
    loop {
        let n = db::alerts::pages_at_level(conn, level)?;
        if n == 0 && level >= levels {
            break;
        }
        metrics.set_escalation_level(level, u64::try_from(n).unwrap_or(0));
        level += 1;
    }
    metrics.set_seen(Seen {
        oldest_open_red: db::alerts::oldest_unacknowledged_red(conn)?
            .map(|t| t.and_utc().timestamp()),
        worker: db::jobs::last_worker_seen(conn)?.map(|t| t.and_utc().timestamp()),
    });
    Ok(())
}

/// Sites that no counselor on shift now serves (a counselor with no sites serves them all).
fn roster_gaps(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<i64, DbError> {
    let sites = db::accounts::list_sites(conn)?;
    let on_duty = crate::rosters::on_duty(conn, now).map_err(|e| match e {
        crate::rosters::RosterError::Db(e) => e,
        other => DbError::Corrupt(other.to_string()),
    })?;
    if on_duty.counselors.iter().any(|c| c.serves.is_empty()) {
        return Ok(0);
    }
    let gaps = sites
        .iter()
        .filter(|s| {
            !on_duty
                .counselors
                .iter()
                .any(|c| c.serves.contains(&s.slug))
        })
        .count();
    Ok(i64::try_from(gaps).unwrap_or(i64::MAX))
}
