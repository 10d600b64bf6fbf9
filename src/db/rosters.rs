//! Duty rosters (shifts, stored in UTC) and who is on duty for a site.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{shift_sites, shifts, user_sites, users};
use super::{AnyConnection, DbError};

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = shifts)]
pub struct ShiftRow {
    pub id: String,
    pub user_id: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, row: &ShiftRow, sites: &[String]) -> Result<(), DbError> {
    diesel::insert_into(shifts::table)
        .values(row)
        .execute(conn)?;
    for site in sites {
        diesel::insert_into(shift_sites::table)
            .values((
                shift_sites::shift_id.eq(&row.id),
                shift_sites::site.eq(site),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete(conn: &mut AnyConnection, id: &str) -> Result<usize, DbError> {
    diesel::delete(shifts::table.find(id))
        .execute(conn)
        .map_err(DbError::from)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<ShiftRow>, DbError> {
    Ok(shifts::table
        .find(id)
        .select(ShiftRow::as_select())
        .first(conn)
        .optional()?)
}

/// Shifts overlapping [from, to), by start.
pub fn between(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(ShiftRow, Vec<String>)>, DbError> {
    let rows: Vec<ShiftRow> = shifts::table
        .filter(shifts::starts_at.lt(to))
        .filter(shifts::ends_at.gt(from))
        .order((shifts::starts_at.asc(), shifts::id.asc()))
        .limit(1000)
        .select(ShiftRow::as_select())
        .load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let sites: Vec<(String, String)> = shift_sites::table
        .filter(shift_sites::shift_id.eq_any(&ids))
        .select((shift_sites::shift_id, shift_sites::site))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = sites
                .iter()
                .filter(|(id, _)| *id == r.id)
                .map(|(_, site)| site.clone())
                .collect();
            (r, s)
        })
        .collect())
}

/// A person who may receive a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: Option<String>,
    pub email: String,
    pub locale: String,
}

/// Active users of `role` on shift at `now` who serve `site`: the shift's sites if it names
/// any, else the user's own sites (none = all). An alert without a site reaches those who
/// serve all sites.
pub fn on_duty(
    conn: &mut AnyConnection,
    role: &str,
    site: Option<&str>,
    now: NaiveDateTime,
) -> Result<Vec<Recipient>, DbError> {
    let candidates: Vec<(String, String, String, String)> = shifts::table
        .inner_join(users::table)
        .filter(shifts::starts_at.le(now))
        .filter(shifts::ends_at.gt(now))
        .filter(users::active.eq(true))
        .filter(users::role.eq(role))
        .select((shifts::id, users::id, users::email, users::locale))
        .load(conn)?;
    let mut out: Vec<Recipient> = Vec::new();
    for (shift_id, user_id, email, locale) in candidates {
        let mut sites: Vec<String> = shift_sites::table
            .filter(shift_sites::shift_id.eq(&shift_id))
            .select(shift_sites::site)
            .load(conn)?;
        if sites.is_empty() {
            sites = user_sites::table
                .filter(user_sites::user_id.eq(&user_id))
                .select(user_sites::site)
                .load(conn)?;
        }
        let serves = sites.is_empty() || site.is_some_and(|s| sites.iter().any(|m| m == s));
        if serves && !out.iter().any(|r| r.email == email) {
            out.push(Recipient {
                user_id: Some(user_id),
                email,
                locale,
            });
        }
    }
    out.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(out)
}

/// Every active user of `role` (the last escalation level: all supervisors).
pub fn everyone(conn: &mut AnyConnection, role: &str) -> Result<Vec<Recipient>, DbError> {
    Ok(users::table
        .filter(users::active.eq(true))
        .filter(users::role.eq(role))
        .order(users::email.asc())
        .select((users::id, users::email, users::locale))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, email, locale)| Recipient {
            user_id: Some(id),
            email,
            locale,
        })
        .collect())
}

/// Active counselors who serve `site` (by their own sites; none = all), for the digest.
pub fn counselors_of(conn: &mut AnyConnection, site: &str) -> Result<Vec<Recipient>, DbError> {
    let all = everyone(conn, "counselor")?;
    let mut out = Vec::new();
    for r in all {
        let id = r.user_id.clone().unwrap_or_default();
        let sites: Vec<String> = user_sites::table
            .filter(user_sites::user_id.eq(&id))
            .select(user_sites::site)
            .load(conn)?;
        if sites.is_empty() || sites.iter().any(|s| s == site) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Whether any shift ends after `now` (a fresh installation has none: nobody is paged).
pub fn any_from(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        shifts::table.filter(shifts::ends_at.gt(now)),
    ))
    .get_result(conn)?)
}
