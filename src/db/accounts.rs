//! Users, the sites they serve, sessions, and the sites (stations) themselves.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    login_failures, password_resets, sessions, sites, unknown_site_codes, user_sites, users,
};
use super::{AnyConnection, DbError};

#[derive(Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub password_hash: String,
    pub active: bool,
    pub locale: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// E.164 (`+8613800138000`), for SMS and voice pages; `None`: email and robots only.
    pub phone: Option<String>,
}

impl std::fmt::Debug for UserRow {
    // No email, no hash: ids are what logs carry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Insertable, Queryable, Selectable)]
#[diesel(table_name = sites)]
pub struct SiteRow {
    pub slug: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A new user row; its sites are `set_user_sites`'s. Runs in the caller's transaction.
pub fn insert_user(conn: &mut AnyConnection, user: &UserRow) -> Result<(), DbError> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)?;
    Ok(())
}

pub fn set_user_sites(
    conn: &mut AnyConnection,
    user_id: &str,
    sites: &[String],
) -> Result<(), DbError> {
    diesel::delete(user_sites::table.filter(user_sites::user_id.eq(user_id))).execute(conn)?;
    for site in sites {
        diesel::insert_into(user_sites::table)
            .values((user_sites::user_id.eq(user_id), user_sites::site.eq(site)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn find_user(conn: &mut AnyConnection, id: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_user_by_email(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_users(conn: &mut AnyConnection) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table
        .order((users::role.asc(), users::name.asc()))
        .select(UserRow::as_select())
        .load(conn)?)
}

pub fn user_sites(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<String>, DbError> {
    Ok(user_sites::table
        .filter(user_sites::user_id.eq(user_id))
        .order(user_sites::site.asc())
        .select(user_sites::site)
        .load(conn)?)
}

pub fn all_user_sites(conn: &mut AnyConnection) -> Result<Vec<(String, String)>, DbError> {
    Ok(user_sites::table
        .order((user_sites::user_id.asc(), user_sites::site.asc()))
        .select((user_sites::user_id, user_sites::site))
        .load(conn)?)
}

pub fn count_admins(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::role.eq("admin"))
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)?)
}

/// Changes the given fields; `None` leaves a field as it is.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub name: Option<String>,
    pub role: Option<String>,
    pub password_hash: Option<String>,
    pub active: Option<bool>,
    pub locale: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
    /// `Some(None)` clears the number.
    pub phone: Option<Option<String>>,
}

pub fn update_user(
    conn: &mut AnyConnection,
    id: &str,
    changes: &UserChanges,
) -> Result<usize, DbError> {
    diesel::update(users::table.find(id))
        .set(changes)
        .execute(conn)
        .map_err(DbError::from)
}

pub fn insert_session(conn: &mut AnyConnection, row: &SessionRow) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A live session and its user: not revoked, not expired, the user active.
pub fn live_session(
    conn: &mut AnyConnection,
    session_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Option<UserRow>, DbError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::active.eq(true))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn revoke_session(
    conn: &mut AnyConnection,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(now)))
    .execute(conn)
    .map_err(DbError::from)
}

/// Ends every session of a user (all but `keep`, if given).
pub fn revoke_user_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    keep: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let target = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::id.ne(keep.unwrap_or("")));
    diesel::update(target)
        .set(sessions::revoked_at.eq(Some(now)))
        .execute(conn)
        .map_err(DbError::from)
}

/// Removes sessions that ended long ago (the audit log keeps the sign-ins).
pub fn delete_old_sessions(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::delete(sessions::table.filter(sessions::expires_at.lt(before))).execute(conn)?)
}

pub fn list_sites(conn: &mut AnyConnection) -> Result<Vec<SiteRow>, DbError> {
    Ok(sites::table
        .order(sites::slug.asc())
        .select(SiteRow::as_select())
        .load(conn)?)
}

pub fn site_exists(conn: &mut AnyConnection, slug: &str) -> Result<bool, DbError> {
    Ok(sites::table.find(slug).count().get_result::<i64>(conn)? > 0)
}

/// The most new unknown codes counted per day: made-up codes cannot grow the table unbounded.
pub const UNKNOWN_CODES_PER_DAY: i64 = 100;

/// Counts one screening whose site code names no site, on the China-time day of `at`. Runs in
/// the screening's transaction; a code beyond the day's limit is not counted.
pub fn count_unknown_site(
    conn: &mut AnyConnection,
    code: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    use unknown_site_codes::dsl as u;
    let day = crate::china_time::local(at).date();
    let known_today = u::unknown_site_codes
        .filter(u::code.eq(code))
        .filter(u::day.eq(day))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !known_today
        && u::unknown_site_codes
            .filter(u::day.eq(day))
            .count()
            .get_result::<i64>(conn)?
            >= UNKNOWN_CODES_PER_DAY
    {
        return Ok(());
    }
    let row = (
        u::code.eq(code),
        u::day.eq(day),
        u::count.eq(1),
        u::last_seen.eq(at),
    );
    // ON CONFLICT is not in diesel's common dialect: each backend runs its own statement.
    match conn {
        AnyConnection::Sqlite(c) => diesel::insert_into(u::unknown_site_codes)
            .values(row)
            .on_conflict((u::code, u::day))
            .do_update()
            .set((u::count.eq(u::count + 1), u::last_seen.eq(at)))
            .execute(c)?,
        AnyConnection::Postgresql(c) => diesel::insert_into(u::unknown_site_codes)
            .values(row)
            .on_conflict((u::code, u::day))
            .do_update()
            .set((u::count.eq(u::count + 1), u::last_seen.eq(at)))
            .execute(c)?,
    };
    Ok(())
}

/// Unknown site codes counted on `since` (a China-time date) or later: (code, day, count,
/// last seen in UTC).
pub fn unknown_site_codes(
    conn: &mut AnyConnection,
    since: chrono::NaiveDate,
) -> Result<Vec<(String, chrono::NaiveDate, i32, NaiveDateTime)>, DbError> {
    use unknown_site_codes::dsl as u;
    Ok(u::unknown_site_codes
        .filter(u::day.ge(since))
        .select((u::code, u::day, u::count, u::last_seen))
        .load(conn)?)
}

pub fn insert_site(conn: &mut AnyConnection, row: &SiteRow) -> Result<(), DbError> {
    diesel::insert_into(sites::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn rename_site(conn: &mut AnyConnection, slug: &str, name: &str) -> Result<usize, DbError> {
    diesel::update(sites::table.find(slug))
        .set(sites::name.eq(name))
        .execute(conn)
        .map_err(DbError::from)
}

/// The failed sign-ins counted for `keys`: `(key, count, last failure)`.
pub fn login_failures(
    conn: &mut AnyConnection,
    keys: &[String],
) -> Result<Vec<(String, i32, NaiveDateTime)>, DbError> {
    Ok(login_failures::table
        .filter(login_failures::key.eq_any(keys))
        .select((
            login_failures::key,
            login_failures::count,
            login_failures::last_at,
        ))
        .load(conn)?)
}

/// One more failure for `key`, in one statement (concurrent instances never lose one); a
/// count whose last failure is before `forget_before` starts again at 1.
pub fn add_login_failure(
    conn: &mut AnyConnection,
    key: &str,
    now: NaiveDateTime,
    forget_before: NaiveDateTime,
) -> Result<(), DbError> {
    use diesel::sql_types::{Text, Timestamp};
    match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "INSERT INTO login_failures (key, count, last_at) VALUES ($1, 1, $2)
             ON CONFLICT (key) DO UPDATE SET
               count = CASE WHEN login_failures.last_at < $3 THEN 1
                            ELSE login_failures.count + 1 END,
               last_at = excluded.last_at",
        )
        .bind::<Text, _>(key)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(forget_before)
        .execute(c)?,
        AnyConnection::Sqlite(c) => diesel::sql_query(
            "INSERT INTO login_failures (key, count, last_at) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET
               count = CASE WHEN login_failures.last_at < ?3 THEN 1
                            ELSE login_failures.count + 1 END,
               last_at = excluded.last_at",
        )
        .bind::<Text, _>(key)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(forget_before)
        .execute(c)?,
    };
    Ok(())
}

pub fn clear_login_failures(conn: &mut AnyConnection, key: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.find(key)).execute(conn)?;
    Ok(())
}

pub fn delete_login_failures_before(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::last_at.lt(before)))
            .execute(conn)?,
    )
}

/// A password reset link: only the SHA-256 of its token is stored.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = password_resets)]
pub struct PasswordResetRow {
    pub id: String,
    pub user_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

/// A new reset link for its user; the user's earlier unused links end (marked used), so only
/// the newest mail works. Runs in the caller's transaction.
pub fn insert_password_reset(
    conn: &mut AnyConnection,
    row: &PasswordResetRow,
) -> Result<(), DbError> {
    diesel::update(
        password_resets::table
            .filter(password_resets::user_id.eq(&row.user_id))
            .filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(Some(row.created_at)))
    .execute(conn)?;
    diesel::insert_into(password_resets::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The link of `token_hash` if it is unused and unexpired at `now`.
pub fn live_password_reset(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<PasswordResetRow>, DbError> {
    Ok(password_resets::table
        .filter(password_resets::token_hash.eq(token_hash))
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now))
        .select(PasswordResetRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a link used, compare-and-set: true only for the one caller that found it unused
/// (two instances, or a double click, cannot both use one link).
pub fn use_password_reset(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        password_resets::table
            .filter(password_resets::id.eq(id))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(now)),
    )
    .set(password_resets::used_at.eq(Some(now)))
    .execute(conn)?
        == 1)
}

/// Removes links that expired before `before` (used or not: the audit log keeps the event).
pub fn delete_password_resets_before(
    conn: &mut AnyConnection,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(password_resets::table.filter(password_resets::expires_at.lt(before)))
            .execute(conn)?,
    )
}

/// The phone numbers (E.164) of the given users that have one: (user id, phone).
pub fn phones_of(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<(String, String)>, DbError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .filter(users::active.eq(true))
        .filter(users::phone.is_not_null())
        .order(users::id.asc())
        .select((users::id, users::phone.assume_not_null()))
        .load(conn)?)
}

/// A site's name (as administrators set it), if the site exists.
pub fn site_name(conn: &mut AnyConnection, slug: &str) -> Result<Option<String>, DbError> {
    Ok(sites::table
        .find(slug)
        .select(sites::name)
        .first(conn)
        .optional()?)
}
