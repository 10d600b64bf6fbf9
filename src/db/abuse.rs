//! The flood guard's storage: counts over stored screenings and alerts (shared by every
//! instance), suspected-flood clusters, and clearing old source fingerprints.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alerts, flood_clusters, screenings, spent_challenges};
use super::{AnyConnection, DbError};

/// Screenings (any tier) stored from one source since `since`.
pub fn from_source(
    conn: &mut AnyConnection,
    source: &str,
    since: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(screenings::table
        .filter(screenings::source_fp.eq(source))
        .filter(screenings::submitted_at.ge(since))
        .count()
        .get_result(conn)?)
}

/// Screenings (any tier) stored at one site since `since`.
pub fn at_site(conn: &mut AnyConnection, site: &str, since: NaiveDateTime) -> Result<i64, DbError> {
    Ok(screenings::table
        .filter(screenings::site.eq(site))
        .filter(screenings::submitted_at.ge(since))
        .count()
        .get_result(conn)?)
}

/// `from_source` for several sources at once (a group commit's batch): source -> count,
/// absent when none.
pub fn from_sources(
    conn: &mut AnyConnection,
    sources: &[&str],
    since: NaiveDateTime,
) -> Result<std::collections::HashMap<String, i64>, DbError> {
    counts_by(conn, "source_fp", sources, since)
}

/// `at_site` for several sites at once: site -> count, absent when none.
pub fn at_sites(
    conn: &mut AnyConnection,
    sites: &[&str],
    since: NaiveDateTime,
) -> Result<std::collections::HashMap<String, i64>, DbError> {
    counts_by(conn, "site", sites, since)
}

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Screenings since `since` per value of `column` (`source_fp` or `site`, both indexed), for
/// each of `keys`.
fn counts_by(
    conn: &mut AnyConnection,
    column: &'static str,
    keys: &[&str],
    since: NaiveDateTime,
) -> Result<std::collections::HashMap<String, i64>, DbError> {
    use diesel::sql_types::{Array, Text, Timestamp};
    if keys.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<KeyCount> = match conn {
        // One index lookup per key whatever the plan: a cached statement's generic plan for
        // `= ANY($1) GROUP BY` scanned the whole table (4 ms a batch at 40,000 rows).
        AnyConnection::Postgresql(c) => diesel::sql_query(format!(
            "SELECT k.key, (SELECT count(*) FROM screenings s \
               WHERE s.{column} = k.key AND s.submitted_at >= $2) AS n \
             FROM unnest($1::text[]) AS k(key)"
        ))
        .bind::<Array<Text>, _>(keys)
        .bind::<Timestamp, _>(since)
        .load(c)?,
        AnyConnection::Sqlite(c) => {
            let marks = vec!["?"; keys.len()].join(", ");
            let mut q = diesel::sql_query(format!(
                "SELECT {column} AS key, count(*) AS n FROM screenings \
                 WHERE {column} IN ({marks}) AND submitted_at >= ? GROUP BY {column}"
            ))
            .into_boxed::<diesel::sqlite::Sqlite>();
            for k in keys {
                q = q.bind::<Text, _>(*k);
            }
            q.bind::<Timestamp, _>(since).load(c)?
        }
    };
    Ok(rows.into_iter().map(|r| (r.key, r.n)).collect())
}

/// Yellow and red screenings stored from one source since `since`.
pub fn risky_from_source(
    conn: &mut AnyConnection,
    source: &str,
    since: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(screenings::table
        .filter(screenings::source_fp.eq(source))
        .filter(screenings::submitted_at.ge(since))
        .filter(screenings::tier.eq_any(["yellow", "red"]))
        .count()
        .get_result(conn)?)
}

/// Alerts opened at one site since `since` that are in no cluster (a source's flood does not
/// also make its site look busy).
pub fn unclustered_at_site(
    conn: &mut AnyConnection,
    site: &str,
    since: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(alerts::table
        .filter(alerts::site.eq(site))
        .filter(alerts::created_at.ge(since))
        .filter(alerts::cluster_id.is_null())
        .count()
        .get_result(conn)?)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = flood_clusters)]
pub struct ClusterRow {
    pub id: String,
    /// `source` or `site`.
    pub kind: String,
    /// The source fingerprint, or the site's slug.
    pub source_key: String,
    pub site: Option<String>,
    /// `active` (takes new alerts) or `closed`.
    pub status: String,
    pub first_at: NaiveDateTime,
    pub last_at: NaiveDateTime,
    pub alert_count: i32,
    pub paged_at: Option<NaiveDateTime>,
    pub paged_count: i32,
}

/// What joining a cluster did.
#[derive(Debug, Clone)]
pub struct Joined {
    pub cluster: ClusterRow,
    /// This alert started the cluster.
    pub started: bool,
}

/// Puts the alert in the active cluster of (`kind`, `key`), starting one if there is none or
/// the one there has been quiet since `quiet_since` (it is closed: it takes no more alerts,
/// and its alerts stay until someone resolves them). Runs in the submit transaction.
pub fn join(
    conn: &mut AnyConnection,
    kind: &str,
    key: &str,
    site: Option<&str>,
    alert_id: &str,
    now: NaiveDateTime,
    quiet_since: NaiveDateTime,
) -> Result<Joined, DbError> {
    let active = || {
        flood_clusters::table
            .filter(flood_clusters::kind.eq(kind.to_string()))
            .filter(flood_clusters::source_key.eq(key.to_string()))
            .filter(flood_clusters::status.eq("active"))
    };
    let mut started = false;
    let existing: Option<ClusterRow> = active()
        .select(ClusterRow::as_select())
        .first(conn)
        .optional()?;
    let existing = match existing {
        Some(c) if c.last_at < quiet_since => {
            diesel::update(flood_clusters::table.find(&c.id))
                .set(flood_clusters::status.eq("closed"))
                .execute(conn)?;
            None
        }
        other => other,
    };
    let cluster_id = match existing {
        Some(c) => c.id,
        None => {
            let row = ClusterRow {
                id: uuid::Uuid::now_v7().to_string(),
                kind: kind.to_string(),
                source_key: key.to_string(),
                site: site.map(str::to_string),
                status: "active".into(),
                first_at: now,
                last_at: now,
                alert_count: 0,
                paged_at: None,
                paged_count: 0,
            };
            // Another instance may start the same cluster at the same moment: the partial
            // unique index keeps one, and this alert joins that one.
            let inserted = match conn {
                AnyConnection::Sqlite(c) => diesel::insert_into(flood_clusters::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(c)?,
                AnyConnection::Postgresql(c) => diesel::insert_into(flood_clusters::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(c)?,
            };
            if inserted == 1 {
                started = true;
                row.id
            } else {
                active().select(flood_clusters::id).first::<String>(conn)?
            }
        }
    };
    diesel::update(flood_clusters::table.find(&cluster_id))
        .set((
            flood_clusters::alert_count.eq(flood_clusters::alert_count + 1),
            flood_clusters::last_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(alerts::table.find(alert_id))
        .set(alerts::cluster_id.eq(&cluster_id))
        .execute(conn)?;
    let cluster = flood_clusters::table
        .find(&cluster_id)
        .select(ClusterRow::as_select())
        .first(conn)?;
    Ok(Joined { cluster, started })
}

/// Records that the cluster was paged with `count` alerts.
pub fn paged(
    conn: &mut AnyConnection,
    id: &str,
    count: i32,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(flood_clusters::table.find(id))
        .set((
            flood_clusters::paged_at.eq(Some(now)),
            flood_clusters::paged_count.eq(count),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<ClusterRow>, DbError> {
    Ok(flood_clusters::table
        .find(id)
        .select(ClusterRow::as_select())
        .first(conn)
        .optional()?)
}

/// A cluster as the queue shows it: its alerts not yet resolved, by tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterCounts {
    pub cluster: ClusterRow,
    pub unresolved: i64,
    pub red: i64,
    pub urgent: i64,
    /// Alerts of riders who left a number (a flood rarely leaves one).
    pub with_contact: i64,
}

/// The clusters with alerts not yet resolved, at the given sites (`None`: every site), the
/// newest activity first.
pub fn with_unresolved(
    conn: &mut AnyConnection,
    visible_sites: Option<&[String]>,
    site: Option<&str>,
) -> Result<Vec<ClusterCounts>, DbError> {
    let mut q = alerts::table
        .filter(alerts::cluster_id.is_not_null())
        .filter(alerts::status.ne("resolved"))
        .into_boxed();
    if let Some(sites) = visible_sites {
        q = q.filter(alerts::site.eq_any(sites.to_vec()));
    }
    if let Some(site) = site {
        q = q.filter(alerts::site.eq(site.to_string()));
    }
    let rows: Vec<(Option<String>, String, bool, Option<String>)> = q
        .select((
            alerts::cluster_id,
            alerts::tier,
            alerts::urgent,
            alerts::rider_key,
        ))
        .load(conn)?;
    let mut by: std::collections::BTreeMap<String, (i64, i64, i64, i64)> = Default::default();
    for (cluster, tier, urgent, rider) in rows {
        let Some(cluster) = cluster else { continue };
        let e = by.entry(cluster).or_default();
        e.0 += 1;
        e.1 += i64::from(tier == "red");
        e.2 += i64::from(urgent);
        e.3 += i64::from(rider.is_some());
    }
    if by.is_empty() {
        return Ok(Vec::new());
    }
    let clusters: Vec<ClusterRow> = flood_clusters::table
        .filter(flood_clusters::id.eq_any(by.keys().cloned().collect::<Vec<_>>()))
        .select(ClusterRow::as_select())
        .load(conn)?;
    let mut out: Vec<ClusterCounts> = clusters
        .into_iter()
        .map(|cluster| {
            let (unresolved, red, urgent, with_contact) =
                by.get(&cluster.id).copied().unwrap_or_default();
            ClusterCounts {
                cluster,
                unresolved,
                red,
                urgent,
                with_contact,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.cluster
            .last_at
            .cmp(&a.cluster.last_at)
            .then(a.cluster.id.cmp(&b.cluster.id))
    });
    Ok(out)
}

/// Every cluster started since `since` (the admin's view), newest first.
pub fn started_since(
    conn: &mut AnyConnection,
    since: NaiveDateTime,
) -> Result<Vec<ClusterRow>, DbError> {
    Ok(flood_clusters::table
        .filter(flood_clusters::last_at.ge(since))
        .order(flood_clusters::last_at.desc())
        .limit(200)
        .select(ClusterRow::as_select())
        .load(conn)?)
}

/// The alerts of a cluster, those of riders who left a number first, then in queue order.
pub fn alert_ids(
    conn: &mut AnyConnection,
    cluster_id: &str,
    unresolved_only: bool,
) -> Result<Vec<String>, DbError> {
    let mut q = alerts::table
        .filter(alerts::cluster_id.eq(cluster_id))
        .into_boxed();
    if unresolved_only {
        q = q.filter(alerts::status.ne("resolved"));
    }
    let rows: Vec<(String, Option<String>)> = q
        .order((
            alerts::priority.asc(),
            alerts::deadline_at.asc(),
            alerts::id.asc(),
        ))
        .select((alerts::id, alerts::rider_key))
        .load(conn)?;
    let (mut first, rest): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, r)| r.is_some());
    first.extend(rest);
    Ok(first.into_iter().map(|(id, _)| id).collect())
}

/// Takes an alert out of its cluster (back into the queue). Returns whether it was in `cluster_id`.
pub fn release(
    conn: &mut AnyConnection,
    cluster_id: &str,
    alert_id: &str,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        alerts::table
            .find(alert_id)
            .filter(alerts::cluster_id.eq(cluster_id)),
    )
    .set(alerts::cluster_id.eq(None::<String>))
    .execute(conn)?
        == 1)
}

/// The source fingerprints that stored more than `over` screenings since `since`, with their
/// counts, most first (the admin's view; fingerprints are hashes).
pub fn busy_sources(
    conn: &mut AnyConnection,
    since: NaiveDateTime,
    over: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    let rows: Vec<(Option<String>, i64)> = screenings::table
        .filter(screenings::submitted_at.ge(since))
        .filter(screenings::source_fp.is_not_null())
        .group_by(screenings::source_fp)
        .select((screenings::source_fp, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out: Vec<(String, i64)> = rows
        .into_iter()
        .filter_map(|(fp, n)| fp.filter(|_| n > over).map(|fp| (fp, n)))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(100);
    Ok(out)
}

/// The sites that stored more than `over` screenings since `since`, most first.
pub fn busy_sites(
    conn: &mut AnyConnection,
    since: NaiveDateTime,
    over: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    let rows: Vec<(Option<String>, i64)> = screenings::table
        .filter(screenings::submitted_at.ge(since))
        .filter(screenings::site.is_not_null())
        .group_by(screenings::site)
        .select((screenings::site, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out: Vec<(String, i64)> = rows
        .into_iter()
        .filter_map(|(s, n)| s.filter(|_| n > over).map(|s| (s, n)))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.truncate(100);
    Ok(out)
}

/// Clears the source fingerprints of screenings stored before `before`; returns how many.
pub fn clear_fingerprints(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        screenings::table
            .filter(screenings::submitted_at.lt(before))
            .filter(screenings::source_fp.is_not_null()),
    )
    .set(screenings::source_fp.eq(None::<String>))
    .execute(conn)?)
}

/// At the start of a source's cluster: the open alerts (not yet taken, in no cluster) that
/// screenings from this source opened since `since` join it too, so the whole flood is one
/// row. Returns their ids.
pub fn absorb(
    conn: &mut AnyConnection,
    cluster_id: &str,
    source: &str,
    since: NaiveDateTime,
) -> Result<Vec<String>, DbError> {
    use super::schema::alert_screenings;
    let ids: Vec<String> = alerts::table
        .inner_join(alert_screenings::table.inner_join(screenings::table))
        .filter(screenings::source_fp.eq(source))
        .filter(alerts::created_at.ge(since))
        .filter(alerts::cluster_id.is_null())
        .filter(alerts::status.eq("open"))
        .select(alerts::id)
        .distinct()
        .load(conn)?;
    if ids.is_empty() {
        return Ok(ids);
    }
    diesel::update(alerts::table.filter(alerts::id.eq_any(&ids)))
        .set(alerts::cluster_id.eq(cluster_id))
        .execute(conn)?;
    diesel::update(flood_clusters::table.find(cluster_id))
        .set(flood_clusters::alert_count.eq(flood_clusters::alert_count + ids.len() as i32))
        .execute(conn)?;
    Ok(ids)
}

/// Marks a proof-of-work challenge used. Returns false when it was used before.
pub fn spend_challenge(
    conn: &mut AnyConnection,
    signature: &str,
    expires_at: NaiveDateTime,
) -> Result<bool, DbError> {
    let row = (
        spent_challenges::signature.eq(signature),
        spent_challenges::expires_at.eq(expires_at),
    );
    let n = match conn {
        AnyConnection::Sqlite(c) => diesel::insert_into(spent_challenges::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        AnyConnection::Postgresql(c) => diesel::insert_into(spent_challenges::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

/// Forgets used challenges that have expired anyway; returns how many.
pub fn forget_spent_challenges(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(spent_challenges::table.filter(spent_challenges::expires_at.lt(now)))
            .execute(conn)?,
    )
}

/// Clusters last paged before `before` (or never) that still have open red alerts, with how
/// many.
pub fn unattended(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<Vec<(ClusterRow, i64)>, DbError> {
    let open: Vec<(Option<String>, i64)> = alerts::table
        .filter(alerts::cluster_id.is_not_null())
        .filter(alerts::status.eq("open"))
        .filter(alerts::tier.eq("red"))
        .group_by(alerts::cluster_id)
        .select((alerts::cluster_id, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out = Vec::new();
    for (id, n) in open {
        let Some(id) = id else { continue };
        if let Some(c) = find(conn, &id)?
            && c.paged_at.is_none_or(|at| at < before)
        {
            out.push((c, n));
        }
    }
    Ok(out)
}

/// Claims the next page of a cluster: only if its page time is still `seen` (another
/// instance's auditor did not page it meanwhile).
pub fn claim_page(
    conn: &mut AnyConnection,
    id: &str,
    seen: Option<NaiveDateTime>,
    now: NaiveDateTime,
    count: i64,
) -> Result<bool, DbError> {
    let set = (
        flood_clusters::paged_at.eq(Some(now)),
        flood_clusters::paged_count.eq(i32::try_from(count).unwrap_or(i32::MAX)),
    );
    let changed = match seen {
        Some(at) => diesel::update(
            flood_clusters::table
                .find(id)
                .filter(flood_clusters::paged_at.eq(at)),
        )
        .set(set)
        .execute(conn)?,
        None => diesel::update(
            flood_clusters::table
                .find(id)
                .filter(flood_clusters::paged_at.is_null()),
        )
        .set(set)
        .execute(conn)?,
    };
    Ok(changed == 1)
}
