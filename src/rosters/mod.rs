//! Duty rosters: who is on shift when, for which sites. Shifts are stored in UTC and shown in
//! China Standard Time (Asia/Shanghai, UTC+8 all year). Everyone signed in may read the
//! rosters; only supervisors and admins change them, and every change is one audit row
//! written in the same transaction.
//!
//! Times are accepted as RFC 3339 with an offset (`2026-12-01T01:00:00Z`,
//! `2026-12-01T09:00:00+08:00`) or as a local time without one (`2026-12-01T09:00`, what an
//! HTML `datetime-local` field sends), which means China time.
//!
//! Every function here is synchronous (diesel): callers run it on the blocking pool.
//!
//! Layer: use cases (above `screening`). ARCHITECTURE.md maps the layers.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::accounts::{Principal, Role};
use crate::audit;
use crate::china_time::{local_rfc3339, parse_time, utc_rfc3339};
use crate::db::accounts::{self as people, UserRow};
use crate::db::rosters::{self as store, ShiftRow};
use crate::db::{AnyConnection, DbError, write_transaction};

/// The longest shift accepted.
pub const MAX_SHIFT: Duration = Duration::days(7);
/// The widest window a list may ask for.
pub const MAX_WINDOW: Duration = Duration::days(92);

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// A bad field of a change (422).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A bad query parameter (400).
    #[error("{0}")]
    BadQuery(String),
    #[error("rosters are changed by supervisors and admins")]
    Forbidden,
    #[error("no such shift")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn invalid(field: &str, message: impl Into<String>) -> RosterError {
    RosterError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Who may change rosters.
pub fn may_edit(role: Role) -> bool {
    matches!(role, Role::Supervisor | Role::Admin)
}

// ---- times --------------------------------------------------------------------------------

/// The refusal of an end not after the start.
pub const MSG_ORDER: &str = "must be after starts_at";
/// The refusal of a shift longer than `MAX_SHIFT`.
pub const MSG_LENGTH: &str = "a shift may be at most 7 days long";

const TIME_HINT: &str =
    "must be a time like 2026-12-01T09:00 (China time) or 2026-12-01T01:00:00Z (RFC 3339)";

fn field_time(field: &str, s: &str) -> Result<NaiveDateTime, RosterError> {
    parse_time(s).ok_or_else(|| invalid(field, TIME_HINT))
}

// ---- views --------------------------------------------------------------------------------

/// A shift as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShiftView {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub role: Role,
    /// Whether the person's account is active (a disabled account is never paged).
    pub active: bool,
    /// UTC, RFC 3339.
    #[schema(example = "2026-12-01T01:00:00Z")]
    pub starts_at: String,
    #[schema(example = "2026-12-01T09:00:00Z")]
    pub ends_at: String,
    /// The same instants in China time (Asia/Shanghai), RFC 3339.
    #[schema(example = "2026-12-01T09:00:00+08:00")]
    pub starts_local: String,
    #[schema(example = "2026-12-01T17:00:00+08:00")]
    pub ends_local: String,
    /// The sites the shift names; empty: the person's own sites.
    pub sites: Vec<String>,
    /// The sites the person serves on this shift; empty: every site.
    pub serves: Vec<String>,
    pub created_by: Option<String>,
}

/// `GET /api/v1/shifts`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShiftList {
    /// The window (UTC, RFC 3339): shifts overlapping [from, to), by start.
    pub from: String,
    pub to: String,
    pub shifts: Vec<ShiftView>,
}

/// Someone on shift now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnDutyPerson {
    pub user_id: String,
    pub name: String,
    /// The sites they serve now; empty: every site.
    pub serves: Vec<String>,
    /// When their current shift ends (UTC, RFC 3339), and in China time.
    pub until: String,
    pub until_local: String,
}

/// `GET /api/v1/shifts/on-duty`: who would be paged now, per role.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnDuty {
    pub at: String,
    pub at_local: String,
    pub counselors: Vec<OnDutyPerson>,
    pub supervisors: Vec<OnDutyPerson>,
}

/// A new shift.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShift {
    /// An active counselor or supervisor.
    pub user_id: String,
    /// RFC 3339 with an offset, or `YYYY-MM-DDTHH:MM` in China time.
    #[schema(example = "2026-12-01T09:00")]
    pub starts_at: String,
    /// After the start, at most 7 days later.
    #[schema(example = "2026-12-01T17:00")]
    pub ends_at: String,
    /// Existing site slugs; empty or absent: the person's own sites.
    #[serde(default)]
    pub sites: Option<Vec<String>>,
}

/// Users by id with their own sites, for views.
struct People {
    users: HashMap<String, UserRow>,
    sites: HashMap<String, Vec<String>>,
}

impl People {
    fn load(conn: &mut AnyConnection) -> Result<People, DbError> {
        let users = people::list_users(conn)?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let mut sites: HashMap<String, Vec<String>> = HashMap::new();
        for (user, site) in people::all_user_sites(conn)? {
            sites.entry(user).or_default().push(site);
        }
        Ok(People { users, sites })
    }

    fn view(&self, row: ShiftRow, sites: Vec<String>) -> ShiftView {
        let user = self.users.get(&row.user_id);
        let serves = if sites.is_empty() {
            self.sites.get(&row.user_id).cloned().unwrap_or_default()
        } else {
            sites.clone()
        };
        ShiftView {
            name: user.map(|u| u.name.clone()).unwrap_or_default(),
            role: user
                .and_then(|u| Role::parse(&u.role))
                .unwrap_or(Role::Counselor),
            active: user.is_some_and(|u| u.active),
            starts_at: utc_rfc3339(row.starts_at),
            ends_at: utc_rfc3339(row.ends_at),
            starts_local: local_rfc3339(row.starts_at),
            ends_local: local_rfc3339(row.ends_at),
            id: row.id,
            user_id: row.user_id,
            sites,
            serves,
            created_by: row.created_by,
        }
    }
}

// ---- reading ------------------------------------------------------------------------------

/// The window of a list: `from` and `to` as given (RFC 3339 or China time), by default from a
/// day ago to a week ahead of `now`.
pub fn window(
    from: Option<&str>,
    to: Option<&str>,
    now: NaiveDateTime,
) -> Result<(NaiveDateTime, NaiveDateTime), RosterError> {
    let parse = |name: &str, v: Option<&str>, default: NaiveDateTime| match v {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => {
            parse_time(v).ok_or_else(|| RosterError::BadQuery(format!("{name}: {TIME_HINT}")))
        }
    };
    let from = parse("from", from, now - Duration::days(1))?;
    let to = parse("to", to, now + Duration::days(7))?;
    if to <= from {
        return Err(RosterError::BadQuery("to: must be after from".into()));
    }
    if to - from > MAX_WINDOW {
        return Err(RosterError::BadQuery(
            "to: the window may be at most 92 days".into(),
        ));
    }
    Ok((from, to))
}

/// Shifts overlapping [from, to), by start.
pub fn list(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<ShiftList, RosterError> {
    let rows = store::between(conn, from, to)?;
    let people = People::load(conn)?;
    Ok(ShiftList {
        from: utc_rfc3339(from),
        to: utc_rfc3339(to),
        shifts: rows
            .into_iter()
            .map(|(row, sites)| people.view(row, sites))
            .collect(),
    })
}

/// Active counselors and supervisors on shift at `now`, with the sites they serve. Someone on
/// two overlapping shifts is listed once, with the sites of both and the later end.
pub fn on_duty(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<OnDuty, RosterError> {
    let rows = store::between(conn, now, now + Duration::seconds(1))?;
    let people = People::load(conn)?;
    let mut counselors: Vec<(OnDutyPerson, NaiveDateTime)> = Vec::new();
    let mut supervisors: Vec<(OnDutyPerson, NaiveDateTime)> = Vec::new();
    for (row, sites) in rows {
        if row.starts_at > now || row.ends_at <= now {
            continue;
        }
        let Some(user) = people.users.get(&row.user_id).filter(|u| u.active) else {
            continue;
        };
        let list = match Role::parse(&user.role) {
            Some(Role::Counselor) => &mut counselors,
            Some(Role::Supervisor) => &mut supervisors,
            _ => continue,
        };
        let view = people.view(row.clone(), sites);
        match list.iter_mut().find(|(p, _)| p.user_id == row.user_id) {
            Some((p, until)) => {
                // Empty means every site: it stays every site.
                if p.serves.is_empty() || view.serves.is_empty() {
                    p.serves.clear();
                } else {
                    for s in view.serves {
                        if !p.serves.contains(&s) {
                            p.serves.push(s);
                        }
                    }
                }
                if row.ends_at > *until {
                    *until = row.ends_at;
                    p.until = utc_rfc3339(row.ends_at);
                    p.until_local = local_rfc3339(row.ends_at);
                }
            }
            None => list.push((
                OnDutyPerson {
                    user_id: row.user_id.clone(),
                    name: user.name.clone(),
                    serves: view.serves,
                    until: utc_rfc3339(row.ends_at),
                    until_local: local_rfc3339(row.ends_at),
                },
                row.ends_at,
            )),
        }
    }
    let finish = |mut v: Vec<(OnDutyPerson, NaiveDateTime)>| {
        v.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.user_id.cmp(&b.0.user_id)));
        v.into_iter()
            .map(|(mut p, _)| {
                p.serves.sort();
                p
            })
            .collect()
    };
    Ok(OnDuty {
        at: utc_rfc3339(now),
        at_local: local_rfc3339(now),
        counselors: finish(counselors),
        supervisors: finish(supervisors),
    })
}

/// Someone a shift may be made for: an active counselor or supervisor.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Their own sites; empty: every site.
    pub sites: Vec<String>,
}

/// Every active counselor and supervisor, by name.
pub fn people_on_rosters(conn: &mut AnyConnection) -> Result<Vec<Person>, RosterError> {
    let mut people = People::load(conn)?;
    let mut out: Vec<Person> = people
        .users
        .values()
        .filter(|u| u.active)
        .filter_map(|u| {
            let role = Role::parse(&u.role).filter(|r| r.works_alerts())?;
            Some(Person {
                id: u.id.clone(),
                name: u.name.clone(),
                role,
                sites: people.sites.remove(&u.id).unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(out)
}

// ---- changing -----------------------------------------------------------------------------

fn check_editor(who: &Principal) -> Result<(), RosterError> {
    if may_edit(who.role) {
        Ok(())
    } else {
        Err(RosterError::Forbidden)
    }
}

/// Creates a shift (supervisors and admins). Nothing is written on any error.
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    new: &NewShift,
) -> Result<ShiftView, RosterError> {
    check_editor(who)?;
    let starts_at = field_time("starts_at", &new.starts_at)?;
    let ends_at = field_time("ends_at", &new.ends_at)?;
    if ends_at <= starts_at {
        return Err(invalid("ends_at", MSG_ORDER));
    }
    if ends_at - starts_at > MAX_SHIFT {
        return Err(invalid("ends_at", MSG_LENGTH));
    }
    let mut sites: Vec<String> = Vec::new();
    for s in new.sites.iter().flatten() {
        let s = s.trim();
        if !s.is_empty() && !sites.iter().any(|m| m == s) {
            sites.push(s.to_string());
        }
    }
    let now = Utc::now().naive_utc();
    let row = ShiftRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: new.user_id.trim().to_string(),
        starts_at,
        ends_at,
        created_by: Some(who.user_id.clone()),
        created_at: now,
    };
    write_transaction(conn, |c| {
        let user = people::find_user(c, &row.user_id)?
            .filter(|_| !row.user_id.is_empty())
            .ok_or_else(|| invalid("user_id", "no such user"))?;
        if !user.active {
            return Err(invalid("user_id", "this account is disabled"));
        }
        if !Role::parse(&user.role).is_some_and(Role::works_alerts) {
            return Err(invalid(
                "user_id",
                "shifts are for counselors and supervisors",
            ));
        }
        for s in &sites {
            if !people::site_exists(c, s)? {
                return Err(invalid(
                    "sites",
                    format!(
                        "no site `{}`; create it first",
                        s.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
        store::insert(c, &row, &sites)?;
        audit::record(
            c,
            &who.who(),
            "shift.created",
            Some(&row.id),
            serde_json::json!({
                "user_id": row.user_id,
                "starts_at": utc_rfc3339(row.starts_at),
                "ends_at": utc_rfc3339(row.ends_at),
                "sites": sites,
            }),
        )?;
        let people = People::load(c)?;
        Ok(people.view(row.clone(), sites.clone()))
    })
}

/// Deletes a shift (supervisors and admins).
pub fn delete(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<(), RosterError> {
    check_editor(who)?;
    write_transaction(conn, |c| {
        let row = store::find(c, id)?.ok_or(RosterError::NotFound)?;
        if store::delete(c, id)? == 0 {
            return Err(RosterError::NotFound);
        }
        audit::record(
            c,
            &who.who(),
            "shift.deleted",
            Some(id),
            serde_json::json!({
                "user_id": row.user_id,
                "starts_at": utc_rfc3339(row.starts_at),
                "ends_at": utc_rfc3339(row.ends_at),
            }),
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_window_defaults_to_a_day_back_and_a_week_ahead() {
        let now = at("2026-12-01 00:00:00");
        assert_eq!(
            window(None, None, now).unwrap(),
            (at("2026-11-30 00:00:00"), at("2026-12-08 00:00:00"))
        );
        assert_eq!(
            window(Some("2026-12-01T08:00"), Some(""), now).unwrap(),
            (at("2026-12-01 00:00:00"), at("2026-12-08 00:00:00"))
        );
        for (from, to) in [
            (Some("nope"), None),
            (None, Some("2026-11-01T00:00:00Z")),
            (Some("2026-01-01T00:00:00Z"), Some("2026-12-01T00:00:00Z")),
        ] {
            assert!(matches!(
                window(from, to, now),
                Err(RosterError::BadQuery(_))
            ));
        }
    }

    #[test]
    fn only_supervisors_and_admins_edit() {
        assert!(!may_edit(Role::Counselor));
        assert!(may_edit(Role::Supervisor));
        assert!(may_edit(Role::Admin));
    }
}
