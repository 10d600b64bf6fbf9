//! Suspected-flood clusters as staff see and work them (issue 11): one row in the queue per
//! cluster; a supervisor opens it, moves any alert back to the queue (it then pages as any
//! red alert does), or resolves the rest in bulk as `false_positive` with a note (one
//! timeline row and one audit row per alert). A cluster is never resolved by itself.

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AlertError, AlertSummary, check_note, event, names_for, require_worker, summary};
use crate::accounts::{Principal, Role};
use crate::audit;
use crate::config::EscalationPolicy;
use crate::db::abuse::{self as flood, ClusterCounts};
use crate::db::alerts::{self as store};
use crate::db::{AnyConnection, write_transaction};

/// A suspected flood as the queue shows it: one row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterSummary {
    pub id: String,
    /// `source` (one network and browser) or `site` (one station far beyond its usual rate).
    #[schema(example = "source")]
    pub kind: String,
    /// The site of its first alert.
    pub site: Option<String>,
    /// `active` while it still takes new alerts, `closed` once the flood stopped.
    #[schema(example = "active")]
    pub status: String,
    /// Its alerts not yet resolved (that this user may see).
    pub unresolved: i64,
    /// Of those, red; and urgent red.
    pub red: i64,
    pub urgent: i64,
    /// Of those, from riders who left a phone number (a flood rarely does: look at these first).
    pub with_contact: i64,
    /// Every alert that ever joined it.
    pub joined: i64,
    /// UTC, RFC 3339: its first and latest alert.
    pub first_at: String,
    pub last_at: String,
}

fn cluster_summary(c: &ClusterCounts) -> ClusterSummary {
    ClusterSummary {
        id: c.cluster.id.clone(),
        kind: c.cluster.kind.clone(),
        site: c.cluster.site.clone(),
        status: c.cluster.status.clone(),
        unresolved: c.unresolved,
        red: c.red,
        urgent: c.urgent,
        with_contact: c.with_contact,
        joined: i64::from(c.cluster.alert_count),
        first_at: super::rfc3339(c.cluster.first_at),
        last_at: super::rfc3339(c.cluster.last_at),
    }
}

/// The clusters with unresolved alerts this user may see (at `site` if given), newest first.
pub fn queue_clusters(
    conn: &mut AnyConnection,
    who: &Principal,
    site: Option<&str>,
) -> Result<Vec<ClusterSummary>, AlertError> {
    require_worker(who)?;
    let sites = who.visible_sites();
    Ok(flood::with_unresolved(conn, sites.as_deref(), site)?
        .iter()
        .map(cluster_summary)
        .collect())
}

/// One alert of a cluster.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterAlert {
    #[serde(flatten)]
    pub alert: AlertSummary,
    /// The rider left a phone number with consent.
    pub has_contact: bool,
}

/// `GET /api/v1/clusters/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterDetail {
    pub cluster: ClusterSummary,
    /// Its unresolved alerts this user may see: those with a phone number first, then in
    /// queue order.
    pub alerts: Vec<ClusterAlert>,
}

fn valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok()
}

/// A cluster this user may see (some of its alerts at their sites): else `NotFound`.
fn visible_cluster(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<(ClusterCounts, Vec<store::AlertRow>), AlertError> {
    require_worker(who)?;
    if !valid_id(id) {
        return Err(AlertError::NotFound);
    }
    let Some(cluster) = flood::find(conn, id)? else {
        return Err(AlertError::NotFound);
    };
    let mut rows = Vec::new();
    for alert_id in flood::alert_ids(conn, id, true)? {
        if let Some(row) = store::find(conn, &alert_id)?
            && who.serves(row.site.as_deref())
        {
            rows.push(row);
        }
    }
    if rows.is_empty() && !(who.sites.is_empty() || who.serves(cluster.site.as_deref())) {
        return Err(AlertError::NotFound);
    }
    let counts = ClusterCounts {
        unresolved: rows.len() as i64,
        red: rows.iter().filter(|r| r.tier == "red").count() as i64,
        urgent: rows.iter().filter(|r| r.urgent).count() as i64,
        with_contact: rows.iter().filter(|r| r.rider_key.is_some()).count() as i64,
        cluster,
    };
    Ok((counts, rows))
}

pub fn cluster_detail(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<ClusterDetail, AlertError> {
    let (counts, rows) = visible_cluster(conn, who, id)?;
    let names = names_for(
        conn,
        rows.iter().filter_map(|r| r.assignee_id.clone()).collect(),
    )?;
    let now = Utc::now().naive_utc();
    Ok(ClusterDetail {
        cluster: cluster_summary(&counts),
        alerts: rows
            .iter()
            .map(|r| ClusterAlert {
                alert: summary(r, &names, now),
                has_contact: r.rider_key.is_some(),
            })
            .collect(),
    })
}

fn require_supervisor(who: &Principal) -> Result<(), AlertError> {
    require_worker(who)?;
    if who.role == Role::Supervisor {
        Ok(())
    } else {
        Err(AlertError::Forbidden)
    }
}

/// Moves the given alerts of the cluster back to the queue; an open red one pages its first
/// level at once, as a new red alert does. Returns how many moved. Every id must be an
/// unresolved alert of this cluster the supervisor may see, else nothing changes.
pub fn release(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    alert_ids: &[String],
    policy: &EscalationPolicy,
) -> Result<usize, AlertError> {
    require_supervisor(who)?;
    if alert_ids.is_empty() || alert_ids.len() > 1000 {
        return Err(AlertError::Invalid {
            field: "alert_ids",
            message: "name 1 to 1000 alerts of this cluster".into(),
        });
    }
    write_transaction(conn, |c| {
        let (_, rows) = visible_cluster(c, who, id)?;
        let now = Utc::now().naive_utc();
        let mut moved = 0;
        for alert_id in alert_ids {
            let Some(row) = rows.iter().find(|r| &r.id == alert_id) else {
                return Err(AlertError::Invalid {
                    field: "alert_ids",
                    message: format!(
                        "`{}` is not an unresolved alert of this cluster",
                        alert_id.chars().take(40).collect::<String>()
                    ),
                });
            };
            if !flood::release(c, id, &row.id)? {
                continue;
            }
            event(
                c,
                &row.id,
                who,
                "released_from_cluster",
                serde_json::json!({"cluster_id": id}),
            )?;
            audit::record(
                c,
                &who.who(),
                "alert.released_from_cluster",
                Some(&row.id),
                serde_json::json!({"reference": row.reference, "cluster_id": id}),
            )?;
            if row.tier == "red" && row.status == "open" {
                let epoch = format!("released-{}", now.and_utc().timestamp_millis());
                crate::jobs::escalate(
                    c,
                    row,
                    &crate::jobs::policy_of(row, policy),
                    crate::jobs::escalation::Step::FIRST,
                    &epoch,
                    now,
                )?;
            }
            moved += 1;
        }
        Ok(moved)
    })
}

/// What a bulk resolution did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkResolved {
    /// Alerts resolved as `false_positive`.
    pub resolved: usize,
    /// Alerts left as they were: taken by another counselor (being worked).
    pub kept: usize,
}

/// Resolves every unresolved alert of the cluster the supervisor may see as
/// `false_positive` with `note` (required), except those another counselor has taken.
pub fn resolve_all(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    note: &str,
) -> Result<BulkResolved, AlertError> {
    require_supervisor(who)?;
    // Required: say why these are false positives.
    let note = check_note(note)?;
    write_transaction(conn, |c| {
        let (_, rows) = visible_cluster(c, who, id)?;
        let now = Utc::now().naive_utc();
        let (mut resolved, mut kept) = (0, 0);
        for row in &rows {
            if !store::resolve_flooded(c, &row.id, &who.user_id, "false_positive", now)? {
                kept += 1;
                continue;
            }
            crate::jobs::on_resolved(c, &row.id, now)?;
            event(
                c,
                &row.id,
                who,
                "resolved",
                serde_json::json!({"outcome": "false_positive", "note": note, "cluster_id": id}),
            )?;
            audit::record(
                c,
                &who.who(),
                "alert.resolved",
                Some(&row.id),
                serde_json::json!({"reference": row.reference, "outcome": "false_positive", "cluster_id": id}),
            )?;
            resolved += 1;
        }
        Ok(BulkResolved { resolved, kept })
    })
}
