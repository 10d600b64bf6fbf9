//! The flood guard (issue 11): the screening form is public, so one script could bury a real
//! red alert under thousands of fake ones. Each screening keeps a short-lived source
//! fingerprint (`contact::ContactCipher::source_fingerprint`); counts over the stored rows
//! (shared by every instance) decide:
//! - over `abuse.limit_per_source` / `limit_per_site` screenings in the window: refused (429),
//!   the rider still shown the result and the crisis lines;
//! - over `abuse.cluster_per_source` yellow or red from one source, or `cluster_per_site`
//!   unclustered at one site: the new alert joins a suspected-flood cluster. A cluster is one
//!   row in the queue and one page to supervisors (again at most every repeat interval with
//!   the new count); its alerts keep their deadlines and timelines, and leave it only by a
//!   person (moved back to the queue, or resolved as false positives).
//!
//! Layer: use cases (above `jobs`: a cluster pages supervisors). ARCHITECTURE.md maps the layers.

use chrono::NaiveDateTime;

use crate::audit::{self, Who};
use crate::config::{AbuseSettings, EscalationPolicy};
use crate::db::abuse::{self as store, ClusterRow, Joined};
use crate::db::alerts::{self as alert_store, EventRow, Written};
use crate::db::{AnyConnection, DbError};

/// What the limits say about one more screening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Accepted,
    /// Over a soft limit: stored only with a solved proof-of-work challenge.
    ChallengeNeeded,
    /// Over a hard limit: nothing is stored; try again after `retry_after` seconds.
    Refused {
        scope: &'static str,
        retry_after: u64,
    },
}

fn window(settings: &AbuseSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.window).unwrap_or(chrono::Duration::hours(1))
}

/// Whether one more screening from `source` at `site` may be stored (read before the write;
/// two instances racing may each store one past the limit, never more).
pub fn admit(
    conn: &mut AnyConnection,
    settings: &AbuseSettings,
    source: Option<&str>,
    site: Option<&str>,
    now: NaiveDateTime,
) -> Result<Admission, DbError> {
    let since = now - window(settings);
    // One count per scope, read once, against both the hard and the soft limit.
    let from_source = match source {
        Some(source) => store::from_source(conn, source, since)?,
        None => 0,
    };
    let at_site = match site {
        Some(site) => store::at_site(conn, site, since)?,
        None => 0,
    };
    Ok(decide(settings, from_source, at_site))
}

/// The start of the window the limits count over, for a screening submitted at `now`.
pub fn window_start(settings: &AbuseSettings, now: NaiveDateTime) -> NaiveDateTime {
    now - window(settings)
}

/// What the limits say, given the screenings already stored in the window from the source
/// and at the site (`admit`, or a group commit's counts for its whole batch).
pub fn decide(settings: &AbuseSettings, from_source: i64, at_site: i64) -> Admission {
    // A hint, not a promise: the window slides; a tenth of it is when some room is likely.
    let retry_after = (settings.window.as_secs() / 10).max(60);
    let refused = |scope| Admission::Refused { scope, retry_after };
    if from_source >= i64::from(settings.limit_per_source) {
        refused("source")
    } else if at_site >= i64::from(settings.limit_per_site) {
        refused("site")
    } else if from_source >= i64::from(settings.challenge_per_source)
        || at_site >= i64::from(settings.challenge_per_site)
    {
        Admission::ChallengeNeeded
    } else {
        Admission::Accepted
    }
}

/// A proof-of-work challenge (ALTCHA v1: find `number` <= `maxnumber` with
/// SHA-256(`salt` + number) = `challenge`), signed and expiring after `abuse.challenge_ttl`.
pub fn new_challenge(
    settings: &AbuseSettings,
    key: &str,
) -> Result<altcha_lib_rs::Challenge, String> {
    let ttl =
        chrono::Duration::from_std(settings.challenge_ttl).unwrap_or(chrono::Duration::minutes(30));
    altcha_lib_rs::create_challenge(altcha_lib_rs::ChallengeOptions {
        hmac_key: key,
        max_number: Some(settings.challenge_max_number),
        expires: Some(chrono::Utc::now() + ttl),
        ..Default::default()
    })
    .map_err(|e| e.to_string())
}

/// Why a solution was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeRefusal {
    Missing,
    Malformed,
    Wrong,
    Expired,
    Spent,
}

/// Checks a solved challenge (the base64 JSON payload the ALTCHA widget submits) and spends
/// it: a solution is accepted once, before its expiry.
pub fn spend(
    conn: &mut AnyConnection,
    key: &str,
    payload: Option<&str>,
) -> Result<Result<(), ChallengeRefusal>, DbError> {
    use base64::Engine;
    let Some(payload) = payload.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(Err(ChallengeRefusal::Missing));
    };
    if payload.len() > 4096 {
        return Ok(Err(ChallengeRefusal::Malformed));
    }
    let Some(solved) = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()
        .and_then(|json| serde_json::from_slice::<altcha_lib_rs::Payload>(&json).ok())
    else {
        return Ok(Err(ChallengeRefusal::Malformed));
    };
    // Every challenge of ours carries its expiry in the salt; one without is not ours.
    let Some(expires) = solved
        .salt
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("expires=")))
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    else {
        return Ok(Err(ChallengeRefusal::Malformed));
    };
    if expires < chrono::Utc::now() {
        return Ok(Err(ChallengeRefusal::Expired));
    }
    if altcha_lib_rs::verify_solution(&solved, key, true).is_err() {
        return Ok(Err(ChallengeRefusal::Wrong));
    }
    if !store::spend_challenge(conn, &solved.signature, expires.naive_utc())? {
        return Ok(Err(ChallengeRefusal::Spent));
    }
    Ok(Ok(()))
}

/// In the submit transaction, after a new alert was opened (and its screening stored): puts
/// it in a suspected-flood cluster when its source or site is over the thresholds, recording
/// it on the alert's timeline, auditing the start of a flood and paging the cluster when due.
/// Returns the cluster it joined; `None` leaves the alert to page as usual.
pub fn place(
    conn: &mut AnyConnection,
    settings: &AbuseSettings,
    policy: &EscalationPolicy,
    written: &Written,
    source: Option<&str>,
    now: NaiveDateTime,
) -> Result<Option<ClusterRow>, DbError> {
    if !written.opened {
        // Joined the rider's own open alert: not a new alert.
        return Ok(None);
    }
    let since = now - window(settings);
    let mut joined: Option<Joined> = None;
    if let Some(source) = source
        && store::risky_from_source(conn, source, since)? > i64::from(settings.cluster_per_source)
    {
        joined = Some(store::join(
            conn,
            "source",
            source,
            written.site.as_deref(),
            &written.alert_id,
            now,
            since,
        )?);
    }
    if joined.is_none()
        && let Some(site) = written.site.as_deref()
        && store::unclustered_at_site(conn, site, since)? > i64::from(settings.cluster_per_site)
    {
        joined = Some(store::join(
            conn,
            "site",
            site,
            Some(site),
            &written.alert_id,
            now,
            since,
        )?);
    }
    let Some(Joined {
        mut cluster,
        started,
    }) = joined
    else {
        return Ok(None);
    };
    let mut members = vec![written.alert_id.clone()];
    if started && cluster.kind == "source" {
        // The flood's first alerts (below the threshold) join too: one row for all of it.
        // They were paged once; their timers stop, their deadlines stay.
        let absorbed = store::absorb(conn, &cluster.id, &cluster.source_key, since)?;
        for id in &absorbed {
            crate::db::jobs::cancel_for_alert(conn, id, now)?;
        }
        members.extend(absorbed);
        cluster = store::find(conn, &cluster.id)?.unwrap_or(cluster);
    }
    for id in &members {
        alert_store::insert_event(
            conn,
            &EventRow {
                id: uuid::Uuid::now_v7().to_string(),
                alert_id: id.clone(),
                at: now,
                actor_id: None,
                kind: "clustered".into(),
                detail: serde_json::json!({"cluster_id": cluster.id, "kind": cluster.kind})
                    .to_string(),
            },
        )?;
    }
    if started {
        audit::record(
            conn,
            &Who::system(),
            "abuse.flood_started",
            Some(&cluster.id),
            serde_json::json!({"kind": cluster.kind, "site": cluster.site}),
        )?;
    }
    let repeat =
        chrono::Duration::from_std(policy.repeat_interval).unwrap_or(chrono::Duration::minutes(15));
    let due = match cluster.paged_at {
        None => true,
        Some(at) => at + repeat <= now && cluster.alert_count > cluster.paged_count,
    };
    if due {
        crate::jobs::page_flood(conn, &cluster, i64::from(cluster.alert_count), policy, now)?;
        store::paged(conn, &cluster.id, cluster.alert_count, now)?;
    }
    Ok(Some(cluster))
}

/// Clears source fingerprints older than `abuse.retention`; returns how many.
pub fn forget_old_sources(
    conn: &mut AnyConnection,
    settings: &AbuseSettings,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let retention =
        chrono::Duration::from_std(settings.retention).unwrap_or(chrono::Duration::days(7));
    store::forget_spent_challenges(conn, now)?;
    store::clear_fingerprints(conn, now - retention)
}

/// `GET /api/v1/admin/abuse`: what the flood guard sees now.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AbuseOverview {
    /// The counting window (`abuse.window`), in seconds.
    pub window_seconds: u64,
    /// Clusters active or with activity in the last 7 days, newest first.
    pub clusters: Vec<ClusterView>,
    /// Sources (keyed hashes, never addresses) over `abuse.cluster_per_source` screenings in
    /// the window; `limited` once over `abuse.limit_per_source`.
    pub sources: Vec<BusyCount>,
    /// Sites over `abuse.cluster_per_site` screenings in the window; `limited` once over
    /// `abuse.limit_per_site`.
    pub sites: Vec<BusyCount>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    pub id: String,
    pub kind: String,
    pub site: Option<String>,
    pub status: String,
    /// Every alert that joined it.
    pub joined: i64,
    /// UTC, RFC 3339.
    pub first_at: String,
    pub last_at: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BusyCount {
    /// A source fingerprint (32 hex characters) or a site's slug.
    pub key: String,
    /// Screenings stored in the window.
    pub screenings: i64,
    pub limited: bool,
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn overview(
    conn: &mut AnyConnection,
    settings: &AbuseSettings,
    now: NaiveDateTime,
) -> Result<AbuseOverview, DbError> {
    let since = now - window(settings);
    let clusters = store::started_since(conn, now - chrono::Duration::days(7))?
        .into_iter()
        .map(|c| ClusterView {
            id: c.id,
            kind: c.kind,
            site: c.site,
            status: c.status,
            joined: i64::from(c.alert_count),
            first_at: rfc3339(c.first_at),
            last_at: rfc3339(c.last_at),
        })
        .collect();
    let busy = |rows: Vec<(String, i64)>, limit: u32| -> Vec<BusyCount> {
        rows.into_iter()
            .map(|(key, screenings)| BusyCount {
                key,
                screenings,
                limited: screenings >= i64::from(limit),
            })
            .collect()
    };
    let sources = busy(
        store::busy_sources(conn, since, i64::from(settings.cluster_per_source))?,
        settings.limit_per_source,
    );
    let sites = busy(
        store::busy_sites(conn, since, i64::from(settings.cluster_per_site))?,
        settings.limit_per_site,
    );
    Ok(AbuseOverview {
        window_seconds: settings.window.as_secs(),
        clusters,
        sources,
        sites,
    })
}
