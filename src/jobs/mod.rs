//! Durable jobs: what must happen later is a row in the job table, written in the same
//! transaction as its cause (DESIGN.md section 4). The worker (`worker.rs`) claims due rows
//! with a lease, runs them, and finishes them only while it still holds the lease.
//!
//! Kinds:
//! - `alert.escalate {step, epoch}`: if the alert is still open, page the step's level (skip a
//!   level with nobody on duty at once, recording the gap) and arm the next step's timer.
//! - `email.send {delivery, purpose}`: one message to one address (pages re-check, under the
//!   alert's lock, that the alert is still open before going out).
//! - `alert.remind {n}`: an acknowledged, unresolved red alert reminds its taker and the
//!   on-duty supervisors, then re-arms.
//! - `digest.yellow {date}`: the daily count of open yellow alerts per site, to counselors.
//! - `digest.gaps {date}`: the daily list of roster gaps of the next 7 days, to supervisors
//!   (issue 13).

//! - `channel.send {target, level, round, message}`: one page on one channel besides email
//!   (a group robot, or a text or call to one staff member's phone), enqueued with the level's
//!   emails; like them it goes out only while the alert is open, with its own retries and the
//!   channel's rate limit (`notify::channels`, shared through `db::channels`). Or the daily
//!   gap message to one robot or one supervisor's phone (no alert), enqueued by `digest.gaps`.
//!
//! Unique keys (per alert, epoch, round, level, recipient, kind) make enqueueing twice a no-op,
//! so a retried step never pages twice.
//!
//! Layer: use cases (above `notify`). ARCHITECTURE.md maps the layers.

pub mod escalation;
pub mod gaps;
pub mod worker;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::audit::{self, Who};
use crate::config::{Audience, EscalationPolicy};
use crate::db::alerts::{self as alert_store, AlertRow, EventRow};
use crate::db::jobs::{self as store, JobRow};
use crate::db::{AnyConnection, DbError, rosters};
use crate::notify::{Content, Delivery};
use escalation::Step;

pub const ESCALATE: &str = "alert.escalate";
pub const EMAIL: &str = "email.send";
pub const REMIND: &str = "alert.remind";
pub const DIGEST: &str = "digest.yellow";
pub const GAPS: &str = "digest.gaps";

pub const CHANNEL: &str = "channel.send";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelPayload {
    pub target: crate::notify::channels::Target,
    /// The escalation step that paged (0-based level, round), for the timeline; 0 for the
    /// gap message (it has no alert).
    pub level: usize,
    pub round: u32,
    pub message: crate::notify::channels::Message,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EscalatePayload {
    pub step: Step,
    /// Which run of the chain: `open`, or a later restart (un-acknowledged, raised, repaired).
    pub epoch: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Page,
    Remind,
    Digest,
    /// A suspected flood (one mail for a cluster of alerts).
    Flood,
    /// The daily roster gaps.
    Gaps,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailPayload {
    pub purpose: Purpose,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemindPayload {
    pub n: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestPayload {
    pub date: String,
}

fn secs(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::minutes(15))
}

/// The policy copied onto the alert when it opened, or `current` (the configured one) for an
/// alert stored without a usable copy. The channels are always the configured ones.
pub fn policy_of(alert: &AlertRow, current: &EscalationPolicy) -> EscalationPolicy {
    let mut policy = alert
        .policy
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .filter(|p: &EscalationPolicy| !p.levels.is_empty() && p.rounds > 0)
        .unwrap_or_else(|| current.clone());
    policy.channels = std::sync::Arc::clone(&current.channels);
    policy
}

fn event(
    conn: &mut AnyConnection,
    alert_id: &str,
    kind: &str,
    detail: serde_json::Value,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    alert_store::insert_event(
        conn,
        &EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            alert_id: alert_id.to_string(),
            at: now,
            actor_id: None,
            kind: kind.to_string(),
            detail: detail.to_string(),
        },
    )
}

/// Who a level pages at the alert's site, now.
fn audience(
    conn: &mut AnyConnection,
    who: Audience,
    site: Option<&str>,
    policy: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<Vec<rosters::Recipient>, DbError> {
    Ok(match who {
        Audience::OnDutyCounselors => rosters::on_duty(conn, "counselor", site, now)?,
        Audience::OnDutySupervisors => rosters::on_duty(conn, "supervisor", site, now)?,
        Audience::AllSupervisors => {
            let mut all = rosters::everyone(conn, "supervisor")?;
            for email in &policy.backup_emails {
                if !all.iter().any(|r| r.email.eq_ignore_ascii_case(email)) {
                    all.push(rosters::Recipient {
                        user_id: None,
                        email: email.clone(),
                        locale: "zh-CN".into(),
                    });
                }
            }
            all
        }
    })
}

/// Whether the chain's last level (every active supervisor plus `backup_emails`) reaches
/// anyone: checked at start, so a red alert is never raised into a chain that pages nobody.
pub fn last_level_reaches_someone(
    conn: &mut AnyConnection,
    policy: &EscalationPolicy,
) -> Result<bool, DbError> {
    Ok(!policy.backup_emails.is_empty() || !rosters::everyone(conn, "supervisor")?.is_empty())
}

fn page_content(alert: &AlertRow) -> Content {
    Content::Page {
        reference: alert.reference.clone(),
        tier: alert.tier.clone(),
        urgent: alert.urgent,
        site: alert.site.clone(),
        deadline: alert.deadline_at,
    }
}

/// Pages `step`'s level (skipping, at once, levels with nobody to page) and arms the timer of
/// the next step. Runs in the caller's transaction, which holds the alert's lock.
pub fn escalate(
    conn: &mut AnyConnection,
    alert: &AlertRow,
    policy: &EscalationPolicy,
    step: Step,
    epoch: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    // Try each level once, from `step`: a level with nobody to page is skipped at once.
    let mut gaps: Vec<(Step, Audience)> = Vec::new();
    let mut at = step;
    for _ in 0..policy.levels.len() {
        let Some(level) = policy.levels.get(at.level) else {
            at = escalation::next(policy, at);
            continue;
        };
        let recipients = audience(conn, level.notify, alert.site.as_deref(), policy, now)?;
        if recipients.is_empty() {
            gaps.push((at, level.notify));
            at = escalation::next(policy, at);
            continue;
        }
        for (gap, notify) in &gaps {
            // Nobody on duty at this level: recorded (admins see it in the audit log).
            event(
                conn,
                &alert.id,
                "escalation_gap",
                serde_json::json!({"level": gap.level, "round": gap.round, "notify": notify}),
                now,
            )?;
            audit::record(
                conn,
                &Who::system(),
                "alert.escalation_gap",
                Some(&alert.id),
                serde_json::json!({"reference": alert.reference, "level": gap.level, "round": gap.round, "notify": notify}),
            )?;
        }
        for r in &recipients {
            let key = format!(
                "page:{}:{epoch}:{}:{}:{}",
                alert.id,
                at.round,
                at.level,
                r.email.to_ascii_lowercase()
            );
            let payload = EmailPayload {
                purpose: Purpose::Page,
                delivery: Delivery {
                    to: r.email.clone(),
                    locale: r.locale.clone(),
                    content: page_content(alert),
                },
            };
            store::enqueue(
                conn,
                &JobRow::new(
                    EMAIL,
                    key,
                    Some(&alert.id),
                    serde_json::to_value(&payload).unwrap_or_default(),
                    now,
                    now,
                ),
            )?;
        }
        let channels = page_channels(conn, alert, policy, at, epoch, &recipients, now)?;
        event(
            conn,
            &alert.id,
            "paged",
            serde_json::json!({"level": at.level, "round": at.round, "notify": level.notify, "recipients": recipients.len(), "channels": channels}),
            now,
        )?;
        let wait = escalation::timeout(policy, at, alert.urgent);
        arm(
            conn,
            alert,
            escalation::next(policy, at),
            epoch,
            now + secs(wait),
            now,
        )?;
        return Ok(());
    }
    // Nobody at any level (no one on duty, no supervisor, no backup address): recorded once,
    // and the chain is tried again after the repeat interval.
    event(
        conn,
        &alert.id,
        "nobody_to_page",
        serde_json::json!({"retry_in_seconds": policy.repeat_interval.as_secs()}),
        now,
    )?;
    audit::record(
        conn,
        &Who::system(),
        "alert.nobody_to_page",
        Some(&alert.id),
        serde_json::json!({"reference": alert.reference}),
    )?;
    arm(
        conn,
        alert,
        step,
        &format!("{epoch}-retry-{}", now.and_utc().timestamp()),
        now + secs(policy.repeat_interval),
        now,
    )
}

/// Enqueues the level's pages on the configured channels besides email (`[notify]`): the
/// robots that serve the alert's site at this level, and texts and calls to the paged staff
/// who have a phone number, for the levels SMS and voice join. Returns how many.
fn page_channels(
    conn: &mut AnyConnection,
    alert: &AlertRow,
    policy: &EscalationPolicy,
    at: Step,
    epoch: &str,
    recipients: &[rosters::Recipient],
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::notify::channels::{Message, Page, Target};
    let n = &policy.channels;
    let chain = policy.levels.len();
    let mut targets: Vec<(String, Target)> = n
        .webhooks
        .iter()
        .filter(|w| w.serves(at.level, alert.site.as_deref()))
        .map(|w| (w.id(), Target::Webhook { id: w.id() }))
        .collect();
    let sms = n.sms.as_ref().is_some_and(|c| c.at(at.level, chain, false));
    let voice = n
        .voice
        .as_ref()
        .is_some_and(|c| c.at(at.level, chain, true));
    if sms || voice {
        let ids: Vec<String> = recipients
            .iter()
            .filter_map(|r| r.user_id.clone())
            .collect();
        for (user_id, _) in crate::db::accounts::phones_of(conn, &ids)? {
            if sms {
                targets.push((
                    format!("sms:{user_id}"),
                    Target::Sms {
                        user_id: user_id.clone(),
                    },
                ));
            }
            if voice {
                targets.push((format!("voice:{user_id}"), Target::Voice { user_id }));
            }
        }
    }
    if targets.is_empty() {
        return Ok(0);
    }
    // The site's name, not its code, as staff know it.
    let site = match alert.site.as_deref() {
        Some(slug) => {
            Some(crate::db::accounts::site_name(conn, slug)?.unwrap_or_else(|| slug.to_string()))
        }
        None => None,
    };
    let message = Message::Page(Page {
        reference: alert.reference.clone(),
        tier: alert.tier.clone(),
        urgent: alert.urgent,
        site,
        deadline: alert.deadline_at,
    });
    for (name, target) in &targets {
        let payload = ChannelPayload {
            target: target.clone(),
            level: at.level,
            round: at.round,
            message: message.clone(),
        };
        store::enqueue(
            conn,
            &JobRow::new(
                CHANNEL,
                format!(
                    "channel:{}:{epoch}:{}:{}:{name}",
                    alert.id, at.round, at.level
                ),
                Some(&alert.id),
                serde_json::to_value(&payload).unwrap_or_default(),
                now,
                now,
            ),
        )?;
    }
    Ok(targets.len())
}

fn arm(
    conn: &mut AnyConnection,
    alert: &AlertRow,
    step: Step,
    epoch: &str,
    at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let key = format!(
        "escalate:{}:{epoch}:{}:{}",
        alert.id, step.round, step.level
    );
    let payload = EscalatePayload {
        step,
        epoch: epoch.to_string(),
    };
    store::enqueue(
        conn,
        &JobRow::new(
            ESCALATE,
            key,
            Some(&alert.id),
            serde_json::to_value(&payload).unwrap_or_default(),
            at,
            now,
        ),
    )?;
    Ok(())
}

/// In the submit transaction: a red alert (new, or raised from yellow) pages its first level
/// now and arms the timer, all in the same commit as the screening.
pub fn on_alert_written(
    conn: &mut AnyConnection,
    written: &alert_store::Written,
    current: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    if !written.became_red {
        return Ok(());
    }
    let Some(alert) = alert_store::find(conn, &written.alert_id)? else {
        return Ok(());
    };
    if alert.status != "open" {
        // Raised while someone already has it: they are reminded instead of everyone paged.
        return Ok(());
    }
    let epoch = if written.opened {
        "open".to_string()
    } else {
        format!("raised-{}", now.and_utc().timestamp_millis())
    };
    escalate(
        conn,
        &alert,
        &policy_of(&alert, current),
        Step::FIRST,
        &epoch,
        now,
    )
}

/// In the acknowledgement's transaction: nothing more is paged (pending pages and timers are
/// cancelled), and a red alert starts reminding its taker.
pub fn on_acknowledged(
    conn: &mut AnyConnection,
    alert: &AlertRow,
    current: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    store::cancel_for_alert(conn, &alert.id, now)?;
    if alert.tier == "red" {
        let policy = policy_of(alert, current);
        schedule_reminder(conn, alert, 1, now + secs(policy.reminder_interval), now)?;
    }
    Ok(())
}

fn schedule_reminder(
    conn: &mut AnyConnection,
    alert: &AlertRow,
    n: u32,
    at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    // The acknowledgement time keeps reminders of a later acknowledgement apart.
    let since = alert
        .acknowledged_at
        .map_or(0, |t| t.and_utc().timestamp_millis());
    store::enqueue(
        conn,
        &JobRow::new(
            REMIND,
            format!("remind:{}:{since}:{n}", alert.id),
            Some(&alert.id),
            serde_json::to_value(RemindPayload { n }).unwrap_or_default(),
            at,
            now,
        ),
    )?;
    Ok(())
}

/// In the un-acknowledgement's transaction: the reminders stop and a red alert escalates again
/// from the first level.
pub fn on_unacknowledged(
    conn: &mut AnyConnection,
    alert: &AlertRow,
    current: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    store::cancel_for_alert(conn, &alert.id, now)?;
    if alert.tier == "red" {
        let epoch = format!("reopened-{}", now.and_utc().timestamp_millis());
        escalate(
            conn,
            alert,
            &policy_of(alert, current),
            Step::FIRST,
            &epoch,
            now,
        )?;
    }
    Ok(())
}

/// In the resolution's transaction: every pending job of the alert is cancelled.
pub fn on_resolved(
    conn: &mut AnyConnection,
    alert_id: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    store::cancel_for_alert(conn, alert_id, now)?;
    Ok(())
}

/// The auditor: an open red alert past its deadline with no pending escalation gets one back
/// (and the repair is recorded). Returns how many were repaired.
pub fn repair_overdue(
    conn: &mut AnyConnection,
    current: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let mut repaired = 0;
    for alert in alert_store::overdue_red(conn, now)? {
        let done = crate::db::write_transaction(conn, |c| {
            if !alert_store::lock_if_status(c, &alert.id, "open")?
                || store::has_pending(c, &alert.id, ESCALATE)?
            {
                return Ok::<_, DbError>(false);
            }
            let epoch = format!("repaired-{}", now.and_utc().timestamp_millis());
            event(
                c,
                &alert.id,
                "escalation_repaired",
                serde_json::json!({}),
                now,
            )?;
            audit::record(
                c,
                &Who::system(),
                "alert.escalation_repaired",
                Some(&alert.id),
                serde_json::json!({"reference": alert.reference}),
            )?;
            escalate(
                c,
                &alert,
                &policy_of(&alert, current),
                Step::FIRST,
                &epoch,
                now,
            )?;
            Ok(true)
        })?;
        if done {
            repaired += 1;
        }
    }
    Ok(repaired)
}

/// Enqueues today's yellow digest once (the unique key is the date).
pub fn schedule_digest(
    conn: &mut AnyConnection,
    date: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    store::enqueue(
        conn,
        &JobRow::new(
            DIGEST,
            format!("digest:{date}"),
            None,
            serde_json::to_value(DigestPayload {
                date: date.to_string(),
            })
            .unwrap_or_default(),
            now,
            now,
        ),
    )
}

/// Runs a reminder step: emails to the taker and the on-duty supervisors, then the next one.
pub fn remind(
    conn: &mut AnyConnection,
    alert: &AlertRow,
    n: u32,
    current: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let policy = policy_of(alert, current);
    let mut recipients = rosters::on_duty(conn, "supervisor", alert.site.as_deref(), now)?;
    if let Some(id) = &alert.assignee_id
        && let Some(u) = crate::db::accounts::find_user(conn, id)?
        && u.active
        && !recipients.iter().any(|r| r.email == u.email)
    {
        recipients.push(rosters::Recipient {
            user_id: Some(u.id),
            email: u.email,
            locale: u.locale,
        });
    }
    let since = alert
        .acknowledged_at
        .map_or(0, |t| t.and_utc().timestamp_millis());
    for r in &recipients {
        let payload = EmailPayload {
            purpose: Purpose::Remind,
            delivery: Delivery {
                to: r.email.clone(),
                locale: r.locale.clone(),
                content: Content::Remind {
                    reference: alert.reference.clone(),
                    tier: alert.tier.clone(),
                    site: alert.site.clone(),
                },
            },
        };
        store::enqueue(
            conn,
            &JobRow::new(
                EMAIL,
                format!(
                    "remind-mail:{}:{since}:{n}:{}",
                    alert.id,
                    r.email.to_ascii_lowercase()
                ),
                Some(&alert.id),
                serde_json::to_value(&payload).unwrap_or_default(),
                now,
                now,
            ),
        )?;
    }
    schedule_reminder(
        conn,
        alert,
        n + 1,
        now + secs(policy.reminder_interval),
        now,
    )
}

/// Pages a suspected-flood cluster: one mail to each on-duty supervisor of its site (or,
/// with none on duty, the chain's last level: every supervisor and `backup_emails`), with the
/// cluster's count and how long it has been going. Runs in the caller's transaction. Returns
/// how many were paged.
pub fn page_flood(
    conn: &mut AnyConnection,
    cluster: &crate::db::abuse::ClusterRow,
    count: i64,
    policy: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let site = cluster.site.as_deref();
    let mut recipients = audience(conn, Audience::OnDutySupervisors, site, policy, now)?;
    if recipients.is_empty() {
        recipients = audience(conn, Audience::AllSupervisors, site, policy, now)?;
    }
    let minutes = (now - cluster.first_at).num_minutes().max(1);
    for r in &recipients {
        let payload = EmailPayload {
            purpose: Purpose::Flood,
            delivery: Delivery {
                to: r.email.clone(),
                locale: r.locale.clone(),
                content: Content::Flood {
                    cluster: cluster.id.clone(),
                    site: cluster.site.clone(),
                    count,
                    minutes,
                },
            },
        };
        store::enqueue(
            conn,
            &JobRow::new(
                EMAIL,
                format!(
                    "flood:{}:{}:{}",
                    cluster.id,
                    now.and_utc().timestamp_millis(),
                    r.email.to_ascii_lowercase()
                ),
                None,
                serde_json::to_value(&payload).unwrap_or_default(),
                now,
                now,
            ),
        )?;
    }
    Ok(recipients.len())
}

/// The auditor's part for suspected floods: a cluster that still has open (untaken) red
/// alerts pages its supervisors again every repeat interval with the count, until someone
/// works it (moves its alerts back or resolves them). One instance pages: the page time is
/// claimed first. Returns how many clusters were paged.
pub fn repage_clusters(
    conn: &mut AnyConnection,
    policy: &EscalationPolicy,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::db::abuse as flood;
    let before = now - secs(policy.repeat_interval);
    let mut paged = 0;
    for (cluster, open_red) in flood::unattended(conn, before)? {
        let done = crate::db::write_transaction(conn, |c| {
            if !flood::claim_page(c, &cluster.id, cluster.paged_at, now, open_red)? {
                return Ok::<_, DbError>(false);
            }
            page_flood(c, &cluster, open_red, policy, now)?;
            Ok(true)
        })?;
        if done {
            paged += 1;
        }
    }
    Ok(paged)
}

/// Runs the daily digest: each counselor gets the counts of open yellow alerts at the sites
/// they serve (counts only; nothing when there are none).
pub fn digest(conn: &mut AnyConnection, date: &str, now: NaiveDateTime) -> Result<usize, DbError> {
    let counts: Vec<(String, i64)> = alert_store::open_yellow_by_site(conn)?
        .into_iter()
        .filter_map(|(site, n)| site.map(|s| (s, n)))
        .collect();
    let mut per_person: std::collections::BTreeMap<String, (String, Vec<(String, i64)>)> =
        std::collections::BTreeMap::new();
    for (site, n) in &counts {
        for r in rosters::counselors_of(conn, site)? {
            per_person
                .entry(r.email.clone())
                .or_insert_with(|| (r.locale.clone(), Vec::new()))
                .1
                .push((site.clone(), *n));
        }
    }
    let mut sent = 0;
    for (email, (locale, counts)) in per_person {
        let payload = EmailPayload {
            purpose: Purpose::Digest,
            delivery: Delivery {
                to: email.clone(),
                locale,
                content: Content::Digest {
                    date: date.to_string(),
                    counts,
                },
            },
        };
        if store::enqueue(
            conn,
            &JobRow::new(
                EMAIL,
                format!("digest-mail:{date}:{}", email.to_ascii_lowercase()),
                None,
                serde_json::to_value(&payload).unwrap_or_default(),
                now,
                now,
            ),
        )? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Enqueues today's roster-gap message once (the unique key is the date, so of several
/// instances' auditors one enqueues it and the others find it there).
pub fn schedule_gaps(
    conn: &mut AnyConnection,
    date: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    store::enqueue(
        conn,
        &JobRow::new(
            GAPS,
            format!("gaps:{date}"),
            None,
            serde_json::to_value(DigestPayload {
                date: date.to_string(),
            })
            .unwrap_or_default(),
            now,
            now,
        ),
    )
}

/// The daily roster-gap message: every active supervisor gets the gaps of the next 7 days at
/// the sites they serve (none: every site) by email, and by text when `[notify.sms]` has a
/// `gap_template`; every group robot gets those of its sites (no `sites`: every gap). Nobody
/// gets anything when there are none. Site names and times only. Each delivery is its own
/// job keyed by the date, so a second run of the day (another instance, a restart) adds
/// nothing. Returns how many deliveries were enqueued.
pub fn roster_gaps(
    conn: &mut AnyConnection,
    notify: &crate::config::channels::NotifySettings,
    date: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::notify::channels::{Gaps, Message, Target};
    let gaps = gaps::gaps(conn, now, now + gaps::DIGEST_AHEAD)?;
    if gaps.is_empty() {
        return Ok(0);
    }
    let lines = |of: &dyn Fn(&str) -> bool| -> Vec<crate::notify::GapLine> {
        gaps.iter()
            .filter(|g| of(&g.site))
            .map(|g| crate::notify::GapLine {
                site_name: g.site_name.clone(),
                from: g.from,
                to: g.to,
            })
            .collect()
    };
    let channel_job = |target: Target, key: String, mine: Vec<crate::notify::GapLine>| {
        let payload = ChannelPayload {
            target,
            level: 0,
            round: 0,
            message: Message::Gaps(Gaps {
                date: date.to_string(),
                gaps: mine,
            }),
        };
        JobRow::new(
            CHANNEL,
            key,
            None,
            serde_json::to_value(&payload).unwrap_or_default(),
            now,
            now,
        )
    };
    let texts = notify
        .sms
        .as_ref()
        .is_some_and(|c| !c.gap_template.trim().is_empty());
    let mut sent = 0;
    let supervisors = rosters::everyone(conn, "supervisor")?;
    let phones: std::collections::HashMap<String, String> = if texts {
        let ids: Vec<String> = supervisors
            .iter()
            .filter_map(|r| r.user_id.clone())
            .collect();
        crate::db::accounts::phones_of(conn, &ids)?
            .into_iter()
            .collect()
    } else {
        Default::default()
    };
    for r in supervisors {
        let user_id = r.user_id.clone().unwrap_or_default();
        let serves = crate::db::accounts::user_sites(conn, &user_id)?;
        let mine = lines(&|site| serves.is_empty() || serves.iter().any(|s| s == site));
        if mine.is_empty() {
            continue;
        }
        if phones.contains_key(&user_id) {
            // The number itself is read when the text is sent.
            let key = format!("gaps-channel:{date}:sms:{user_id}");
            let target = Target::Sms {
                user_id: user_id.clone(),
            };
            if store::enqueue(conn, &channel_job(target, key, mine.clone()))? {
                sent += 1;
            }
        }
        let payload = EmailPayload {
            purpose: Purpose::Gaps,
            delivery: Delivery {
                to: r.email.clone(),
                locale: r.locale.clone(),
                content: Content::Gaps {
                    date: date.to_string(),
                    gaps: mine,
                },
            },
        };
        if store::enqueue(
            conn,
            &JobRow::new(
                EMAIL,
                format!("gaps-mail:{date}:{}", r.email.to_ascii_lowercase()),
                None,
                serde_json::to_value(&payload).unwrap_or_default(),
                now,
                now,
            ),
        )? {
            sent += 1;
        }
    }
    for w in notify.webhooks.iter().filter(|w| w.gaps) {
        let mine = lines(&|site| w.sites.as_ref().is_none_or(|s| s.iter().any(|x| x == site)));
        if mine.is_empty() {
            continue;
        }
        let key = format!("gaps-channel:{date}:{}", w.id());
        if store::enqueue(
            conn,
            &channel_job(Target::Webhook { id: w.id() }, key, mine),
        )? {
            sent += 1;
        }
    }
    Ok(sent)
}
