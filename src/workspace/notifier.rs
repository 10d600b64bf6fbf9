//! The admin page's notifier section: the latest failed and dead jobs and escalation gaps,
//! from `admin::notifier`, in the admin's language and China time.

use crate::admin::notifier::{self, GapEntry, JobTrouble};
use crate::china_time;
use crate::i18n::Tr;

/// The notifier section of the admin page.
#[derive(Debug, Default)]
pub struct NotifierView {
    /// Mail has failed for longer than `mail.alarm_after`: the alarm, in the admin's words
    /// (empty when there is none).
    pub mail_alarm: String,
    pub jobs: Vec<JobLine>,
    pub gaps: Vec<GapLine>,
}

#[derive(Debug)]
pub struct JobLine {
    pub id: String,
    pub when: String,
    pub when_iso: String,
    pub kind: String,
    /// `failed` or `dead`: a class.
    pub status: String,
    pub status_label: String,
    pub reference: String,
    pub attempts: i32,
    pub error: String,
}

#[derive(Debug)]
pub struct GapLine {
    pub when: String,
    pub when_iso: String,
    pub reference: String,
    pub text: String,
}

/// How many jobs and gaps the admin page lists.
const NOTIFIER_LINES: usize = 20;

fn job_line(t: Tr, j: JobTrouble) -> JobLine {
    let when_utc = j
        .finished_at
        .as_deref()
        .unwrap_or(&j.created_at)
        .to_string();
    let when = china_time::parse_rfc3339(&when_utc)
        .map(|u| china_time::local(u).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default();
    JobLine {
        status_label: t.tr(if j.status == "dead" {
            "notifier-status-dead"
        } else {
            "notifier-status-failed"
        }),
        when,
        when_iso: when_utc,
        id: j.id,
        kind: j.kind,
        status: j.status,
        reference: j.alert_reference.unwrap_or_default(),
        attempts: j.attempts,
        error: j.last_error.unwrap_or_default(),
    }
}

fn gap_line(t: Tr, g: GapEntry) -> GapLine {
    let text = if g.action == "alert.nobody_to_page" {
        t.tr("notifier-nobody")
    } else {
        t.tr_args(
            "notifier-gap",
            &[
                ("level", (g.level.unwrap_or(0) + 1).to_string()),
                ("round", (g.round.unwrap_or(0) + 1).to_string()),
            ],
        )
    };
    GapLine {
        when: china_time::local(g.at).format("%Y-%m-%d %H:%M").to_string(),
        when_iso: g.at_utc,
        reference: g.reference.unwrap_or_default(),
        text,
    }
}

/// The latest failed and dead jobs and escalation gaps (for the admin page).
pub(super) fn notifier_section(
    conn: &mut crate::db::AnyConnection,
    t: Tr,
    alarm_after: std::time::Duration,
) -> Result<NotifierView, crate::db::DbError> {
    let jobs = notifier::troubled_jobs(conn, &notifier::STATUSES, NOTIFIER_LINES)?;
    let gaps = notifier::latest_gaps(conn, NOTIFIER_LINES as i64)?;
    let mail = notifier::mail_state(conn, alarm_after, chrono::Utc::now().naive_utc())?;
    let mail_alarm = match (mail.status, mail.failing_since.as_deref()) {
        (notifier::MailStatus::Alarm, Some(since)) => t.tr_args(
            "notifier-mail-alarm",
            &[(
                "since",
                china_time::parse_rfc3339(since)
                    .map(|u| china_time::local(u).format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
            )],
        ),
        _ => String::new(),
    };
    Ok(NotifierView {
        mail_alarm,
        jobs: jobs.into_iter().map(|j| job_line(t, j)).collect(),
        gaps: gaps.into_iter().map(|g| gap_line(t, g)).collect(),
    })
}
