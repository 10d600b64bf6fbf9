//! Roster gaps (issue 13): the stretches when a site has nobody on duty (no active
//! counselor or supervisor on shift for it). The staff pages' banner lists those of the next
//! 24 hours (or says that no shift exists at all, so nobody will be paged); the daily
//! `digest.gaps` message lists those of the next 7 days to supervisors.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};

use crate::db::accounts::{self as people, UserRow};
use crate::db::rosters as store;
use crate::db::{AnyConnection, DbError};
/// The banner's look-ahead: a gap now or within this long shows on `/queue`, `/rosters` and
/// `/admin`.
pub const BANNER_AHEAD: Duration = Duration::hours(24);
/// The daily message's look-ahead.
pub const DIGEST_AHEAD: Duration = Duration::days(7);

/// A stretch of time when nobody (no active counselor or supervisor) is on shift for a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub site: String,
    /// The site's name as staff know it.
    pub site_name: String,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

/// The stretches of [from, to) that no span covers (pure).
pub fn uncovered(
    mut spans: Vec<(NaiveDateTime, NaiveDateTime)>,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    spans.sort();
    let mut out = Vec::new();
    let mut at = from;
    for (s, e) in spans {
        if e <= at {
            continue;
        }
        if s >= to {
            break;
        }
        if s > at {
            out.push((at, s));
        }
        at = at.max(e);
        if at >= to {
            break;
        }
    }
    if at < to {
        out.push((at, to));
    }
    out
}

/// Every site's gaps in [from, to), by site then time: a shift covers the sites it names, or
/// its person's own sites (none: every site); disabled accounts and admins cover nothing.
/// Minutes only: a gap shorter than a minute (shifts that meet at the second) is not one.
pub fn gaps(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<Gap>, DbError> {
    let sites = people::list_sites(conn)?;
    if sites.is_empty() {
        return Ok(Vec::new());
    }
    let on_call: HashMap<String, UserRow> = people::list_users(conn)?
        .into_iter()
        .filter(|u| u.active && matches!(u.role.as_str(), "counselor" | "supervisor"))
        .map(|u| (u.id.clone(), u))
        .collect();
    let mut own: HashMap<String, Vec<String>> = HashMap::new();
    for (user, site) in people::all_user_sites(conn)? {
        own.entry(user).or_default().push(site);
    }
    let mut covers: Vec<(NaiveDateTime, NaiveDateTime, Vec<String>)> = Vec::new();
    for (row, shift_sites) in store::between(conn, from, to)? {
        if !on_call.contains_key(&row.user_id) {
            continue;
        }
        let serves = if shift_sites.is_empty() {
            own.get(&row.user_id).cloned().unwrap_or_default()
        } else {
            shift_sites
        };
        covers.push((row.starts_at, row.ends_at, serves));
    }
    let mut out = Vec::new();
    for site in sites {
        let spans = covers
            .iter()
            .filter(|(_, _, serves)| serves.is_empty() || serves.contains(&site.slug))
            .map(|(s, e, _)| (*s, *e))
            .collect();
        for (a, b) in uncovered(spans, from, to) {
            if b - a >= Duration::minutes(1) {
                out.push(Gap {
                    site: site.slug.clone(),
                    site_name: site.name.clone(),
                    from: a,
                    to: b,
                });
            }
        }
    }
    Ok(out)
}

/// What staff pages warn of: no shift at all from now on (nobody will be paged), or the gaps
/// now or within `BANNER_AHEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    NoShifts,
    Gaps(Vec<Gap>),
}

pub fn coverage_now(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Coverage, DbError> {
    if !store::any_from(conn, now)? {
        return Ok(Coverage::NoShifts);
    }
    Ok(Coverage::Gaps(gaps(conn, now, now + BANNER_AHEAD)?))
}

#[cfg(test)]
mod tests {
    use super::uncovered;
    use chrono::NaiveDateTime;

    fn h(n: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + n * 3600, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn uncovered_stretches_are_what_no_shift_covers() {
        // Nothing: all of it.
        assert_eq!(uncovered(vec![], h(0), h(24)), vec![(h(0), h(24))]);
        // Overlapping and touching shifts make one cover; holes before, between and after.
        assert_eq!(
            uncovered(
                vec![(h(10), h(14)), (h(2), h(6)), (h(5), h(8)), (h(14), h(16))],
                h(0),
                h(24)
            ),
            vec![(h(0), h(2)), (h(8), h(10)), (h(16), h(24))]
        );
        // Shifts reaching outside the window are clipped to it.
        assert_eq!(
            uncovered(vec![(h(-5), h(3)), (h(20), h(30))], h(0), h(24)),
            vec![(h(3), h(20))]
        );
        // Fully covered: no gap.
        assert_eq!(uncovered(vec![(h(-1), h(25))], h(0), h(24)), vec![]);
    }
}
