//! What administrators must see of the notifier: jobs that failed (a permanent error, e.g. a
//! 5xx from the mail server) or died (kept failing), and the escalation gaps (a level with
//! nobody on duty) and alerts with nobody at all to page, from the audit log.
//!
//! Never a job's payload: it holds the recipient's address and the message. The last error
//! may name a staff mailbox (the mail server's words), which administrators may see.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::china_time::{local_rfc3339, utc_rfc3339};
use crate::db::{AnyConnection, DbError, alerts, audit, jobs};

/// The statuses a troubled job has.
pub const STATUSES: [&str; 2] = ["failed", "dead"];

/// The audit actions of escalation trouble.
pub const GAP_ACTIONS: [&str; 2] = ["alert.escalation_gap", "alert.nobody_to_page"];

/// The longest `last_error` shown.
const ERROR_CHARS: usize = 500;

/// A failed or dead job.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobTrouble {
    pub id: String,
    /// `email`, `escalate`, `remind`, `digest`, ...
    #[schema(example = "email")]
    pub kind: String,
    /// `failed` or `dead`.
    #[schema(example = "failed")]
    pub status: String,
    /// The alert the job served, if any (its reference, as staff know it).
    #[schema(example = "A-7F3K")]
    pub alert_reference: Option<String>,
    pub attempts: i32,
    /// The last error, at most 500 characters.
    pub last_error: Option<String>,
    /// UTC, RFC 3339.
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// `GET /api/v1/admin/jobs`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobTroubleList {
    /// Newest first.
    pub jobs: Vec<JobTrouble>,
}

/// `status=failed,dead` (any order, either alone); absent or empty: both.
pub fn parse_statuses(s: Option<&str>) -> Result<Vec<&'static str>, String> {
    let Some(s) = s.filter(|s| !s.trim().is_empty()) else {
        return Ok(STATUSES.to_vec());
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let status = STATUSES
            .into_iter()
            .find(|st| *st == part)
            .ok_or_else(|| "status: must be failed, dead or both".to_string())?;
        if !out.contains(&status) {
            out.push(status);
        }
    }
    Ok(out)
}

fn truncate(s: String) -> String {
    if s.chars().count() <= ERROR_CHARS {
        s
    } else {
        let mut t: String = s.chars().take(ERROR_CHARS).collect();
        t.push('…');
        t
    }
}

/// Failed and/or dead jobs, newest first, at most `limit`.
pub fn troubled_jobs(
    conn: &mut AnyConnection,
    statuses: &[&str],
    limit: usize,
) -> Result<Vec<JobTrouble>, DbError> {
    let rows = jobs::troubled(conn, statuses, i64::try_from(limit).unwrap_or(500))?;
    let mut references: std::collections::HashMap<String, Option<String>> = Default::default();
    let mut out = Vec::new();
    for job in rows {
        let alert_reference = match &job.alert_id {
            Some(id) => match references.get(id) {
                Some(r) => r.clone(),
                None => {
                    let r = alerts::find(conn, id)?.map(|a| a.reference);
                    references.insert(id.clone(), r.clone());
                    r
                }
            },
            None => None,
        };
        out.push(JobTrouble {
            id: job.id,
            kind: job.kind,
            status: job.status,
            alert_reference,
            attempts: job.attempts,
            last_error: job.last_error.map(truncate),
            created_at: utc_rfc3339(job.created_at),
            finished_at: job.finished_at.map(utc_rfc3339),
        });
    }
    Ok(out)
}

/// An escalation gap or an alert with nobody to page, as the audit log recorded it.
#[derive(Debug, Clone)]
pub struct GapEntry {
    pub at: NaiveDateTime,
    /// UTC and China time, RFC 3339.
    pub at_utc: String,
    pub at_local: String,
    /// `alert.escalation_gap` or `alert.nobody_to_page`.
    pub action: String,
    pub reference: Option<String>,
    /// The level skipped (0-based) and its round, for gaps.
    pub level: Option<i64>,
    pub round: Option<i64>,
    /// Who that level pages (`on_duty_counselors`, ...), for gaps.
    pub notify: Option<String>,
}

/// The latest gaps and nobody-to-page entries together, newest first, at most `limit`.
pub fn latest_gaps(conn: &mut AnyConnection, limit: i64) -> Result<Vec<GapEntry>, DbError> {
    let mut rows = Vec::new();
    for action in GAP_ACTIONS {
        rows.extend(audit::page(conn, None, Some(action), limit)?);
    }
    // Ids are UUIDv7: time-ordered.
    rows.sort_by(|a, b| b.id.cmp(&a.id));
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(rows
        .into_iter()
        .map(|r| {
            let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_default();
            let text = |k: &str| detail.get(k).and_then(|v| v.as_str()).map(str::to_string);
            GapEntry {
                at_utc: utc_rfc3339(r.at),
                at_local: local_rfc3339(r.at),
                at: r.at,
                action: r.action,
                reference: text("reference"),
                level: detail.get("level").and_then(serde_json::Value::as_i64),
                round: detail.get("round").and_then(serde_json::Value::as_i64),
                notify: text("notify")
                    .or_else(|| detail.get("notify").map(|v| v.to_string()))
                    .filter(|n| n != "null"),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_as_a_comma_list_of_failed_and_dead() {
        assert_eq!(parse_statuses(None).unwrap(), ["failed", "dead"]);
        assert_eq!(parse_statuses(Some("")).unwrap(), ["failed", "dead"]);
        assert_eq!(parse_statuses(Some("dead")).unwrap(), ["dead"]);
        assert_eq!(
            parse_statuses(Some("dead, failed,dead")).unwrap(),
            ["dead", "failed"]
        );
        for bad in ["pending", "failed,", "all", "FAILED"] {
            assert!(parse_statuses(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_errors_are_cut() {
        assert_eq!(truncate("short".into()), "short");
        let long = "x".repeat(2000);
        assert_eq!(truncate(long).chars().count(), ERROR_CHARS + 1);
    }
}

/// Whether mail is going out: `ok`, `failing` (sends fail, for less than `mail.alarm_after`),
/// `alarm` (failing for longer: an operational alarm), or `unknown` (the database cannot say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MailStatus {
    Ok,
    Failing,
    Alarm,
    Unknown,
}

/// The mail path's state, shared by every instance (recorded by the workers' sends).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailState {
    #[schema(inline)]
    pub status: MailStatus,
    /// Since when every send has failed (UTC, RFC 3339), while it does.
    pub failing_since: Option<String>,
}

impl MailState {
    pub const UNKNOWN: MailState = MailState {
        status: MailStatus::Unknown,
        failing_since: None,
    };
}

/// The mail path's state now: failing since the earliest unresolved failure of any transport.
pub fn mail_state(
    conn: &mut AnyConnection,
    alarm_after: std::time::Duration,
    now: NaiveDateTime,
) -> Result<MailState, DbError> {
    let since = jobs::mail_health(conn)?
        .into_iter()
        .filter_map(|r| r.failing_since)
        .min();
    let Some(since) = since else {
        return Ok(MailState {
            status: MailStatus::Ok,
            failing_since: None,
        });
    };
    let alarm = chrono::Duration::from_std(alarm_after).unwrap_or(chrono::Duration::minutes(5));
    Ok(MailState {
        status: if now - since >= alarm {
            MailStatus::Alarm
        } else {
            MailStatus::Failing
        },
        failing_since: Some(utc_rfc3339(since)),
    })
}
