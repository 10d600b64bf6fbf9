//! The job table (the outbox): enqueue in the caller's transaction, claim with a lease in a
//! short transaction of its own, finish only while holding the lease (fenced by its token).
//!
//! Claiming is the one place the two backends differ: PostgreSQL locks the due rows with
//! `FOR UPDATE SKIP LOCKED` inside a CTE, so concurrent workers take disjoint jobs without
//! waiting for each other; SQLite takes the write lock up front (`BEGIN IMMEDIATE`) for a
//! transaction that only reads and updates rows, and never holds it across network I/O.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::schema::{jobs, mail_health, workers};
use super::{AnyConnection, DbError, is_unique_violation, write_transaction};

#[derive(Debug, Clone, Insertable, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub unique_key: String,
    pub alert_id: Option<String>,
    /// JSON.
    pub payload: String,
    pub status: String,
    pub run_at: NaiveDateTime,
    pub attempts: i32,
    pub lease_token: Option<String>,
    pub locked_by: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

impl JobRow {
    pub fn new(
        kind: &str,
        unique_key: String,
        alert_id: Option<&str>,
        payload: serde_json::Value,
        run_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> JobRow {
        JobRow {
            id: uuid::Uuid::now_v7().to_string(),
            kind: kind.to_string(),
            unique_key,
            alert_id: alert_id.map(str::to_string),
            payload: payload.to_string(),
            status: "pending".into(),
            run_at,
            attempts: 0,
            lease_token: None,
            locked_by: None,
            locked_until: None,
            last_error: None,
            created_at: now,
            finished_at: None,
        }
    }
}

/// Adds a job unless one with the same unique key exists. Returns whether it was added.
/// Runs in the caller's transaction (as a savepoint, so a duplicate does not abort it).
pub fn enqueue(conn: &mut AnyConnection, job: &JobRow) -> Result<bool, DbError> {
    match conn.transaction(|c| diesel::insert_into(jobs::table).values(job).execute(c)) {
        Ok(_) => {
            if let AnyConnection::Postgresql(c) = conn {
                // Delivered when the transaction commits: workers of other instances wake.
                diesel::sql_query("NOTIFY careline_jobs").execute(c)?;
            }
            Ok(true)
        }
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A claimed job: run it, then `finish`/`retry`/`fail` it with the same token.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job: JobRow,
    pub token: String,
}

/// Leases up to `limit` due jobs (pending, run_at reached, not leased or lease expired).
pub fn claim(
    conn: &mut AnyConnection,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Claimed>, DbError> {
    let token = uuid::Uuid::new_v4().to_string();
    let rows: Vec<JobRow> = match conn {
        AnyConnection::Postgresql(c) => diesel::sql_query(
            "WITH due AS (
                SELECT id FROM jobs
                WHERE status = 'pending' AND run_at <= $1
                  AND (locked_until IS NULL OR locked_until <= $1)
                ORDER BY run_at, id
                LIMIT $2
                FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs SET lease_token = $3, locked_by = $4, locked_until = $5,
                attempts = jobs.attempts + 1
            FROM due WHERE jobs.id = due.id
            RETURNING jobs.*",
        )
        .bind::<Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .bind::<Text, _>(&token)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(lease_until)
        .load(c)?,
        AnyConnection::Sqlite(_) => write_transaction(conn, |c| {
            let ids: Vec<String> = jobs::table
                .filter(jobs::status.eq("pending"))
                .filter(jobs::run_at.le(now))
                .filter(jobs::locked_until.is_null().or(jobs::locked_until.le(now)))
                .order((jobs::run_at.asc(), jobs::id.asc()))
                .limit(limit)
                .select(jobs::id)
                .load(c)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            diesel::update(jobs::table.filter(jobs::id.eq_any(&ids)))
                .set((
                    jobs::lease_token.eq(Some(&token)),
                    jobs::locked_by.eq(Some(worker)),
                    jobs::locked_until.eq(Some(lease_until)),
                    jobs::attempts.eq(jobs::attempts + 1),
                ))
                .execute(c)?;
            jobs::table
                .filter(jobs::id.eq_any(&ids))
                .select(JobRow::as_select())
                .load(c)
                .map_err(DbError::from)
        })?,
    };
    Ok(rows
        .into_iter()
        .map(|job| Claimed {
            job,
            token: token.clone(),
        })
        .collect())
}

/// The fence: only the holder of the lease (by token) changes the job.
macro_rules! held {
    ($id:expr, $token:expr) => {
        jobs::table
            .find($id)
            .filter(jobs::lease_token.eq($token))
            .filter(jobs::status.eq("pending"))
    };
}

/// Marks the job done. False if the lease was lost (another worker took it over).
pub fn finish(
    conn: &mut AnyConnection,
    id: &str,
    token: &str,
    status: &str,
    error: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = diesel::update(held!(id, token))
        .set((
            jobs::status.eq(status),
            jobs::last_error.eq(error),
            jobs::finished_at.eq(Some(now)),
            jobs::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Puts the job back to run again at `run_at`, keeping the error.
pub fn retry(
    conn: &mut AnyConnection,
    id: &str,
    token: &str,
    run_at: NaiveDateTime,
    error: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(held!(id, token))
        .set((
            jobs::run_at.eq(run_at),
            jobs::last_error.eq(Some(error)),
            jobs::lease_token.eq(None::<String>),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Puts the job back until `run_at` without counting the claim as an attempt: it did not
/// run (its channel's rate limit was used up), so waiting its turn never makes it `dead`.
pub fn defer(
    conn: &mut AnyConnection,
    id: &str,
    token: &str,
    run_at: NaiveDateTime,
    why: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(held!(id, token))
        .set((
            jobs::run_at.eq(run_at),
            jobs::last_error.eq(Some(why)),
            jobs::lease_token.eq(None::<String>),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::attempts.eq(jobs::attempts - 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Gives a claimed job's lease up (the worker is stopping): it is due again at once for any
/// worker. With `refund`, the claim's attempt is given back (the job never started). False if
/// the lease was no longer ours.
pub fn release(
    conn: &mut AnyConnection,
    id: &str,
    token: &str,
    refund: bool,
) -> Result<bool, DbError> {
    let n = if refund {
        diesel::update(held!(id, token))
            .set((
                jobs::lease_token.eq(None::<String>),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<NaiveDateTime>),
                jobs::attempts.eq(jobs::attempts - 1),
            ))
            .execute(conn)?
    } else {
        diesel::update(held!(id, token))
            .set((
                jobs::lease_token.eq(None::<String>),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?
    };
    Ok(n == 1)
}

/// Wakes the workers of other instances (PostgreSQL; SQLite has one instance).
pub fn announce(conn: &mut AnyConnection) -> Result<(), DbError> {
    if let AnyConnection::Postgresql(c) = conn {
        diesel::sql_query("NOTIFY careline_jobs").execute(c)?;
    }
    Ok(())
}

/// Whether the lease is still ours (checked, under the alert's lock, before a page goes out).
pub fn still_held(conn: &mut AnyConnection, id: &str, token: &str) -> Result<bool, DbError> {
    Ok(held!(id, token).count().get_result::<i64>(conn)? == 1)
}

/// Cancels the pending jobs of an alert (it was resolved).
pub fn cancel_for_alert(
    conn: &mut AnyConnection,
    alert_id: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    diesel::update(
        jobs::table
            .filter(jobs::alert_id.eq(alert_id))
            .filter(jobs::status.eq("pending")),
    )
    .set((
        jobs::status.eq("cancelled"),
        jobs::finished_at.eq(Some(now)),
        jobs::lease_token.eq(None::<String>),
    ))
    .execute(conn)
    .map_err(DbError::from)
}

/// Whether the alert has a pending job of `kind`.
pub fn has_pending(conn: &mut AnyConnection, alert_id: &str, kind: &str) -> Result<bool, DbError> {
    Ok(jobs::table
        .filter(jobs::alert_id.eq(alert_id))
        .filter(jobs::kind.eq(kind))
        .filter(jobs::status.eq("pending"))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Jobs that need an administrator's eye (`statuses`: failed and/or dead), newest first.
pub fn troubled(
    conn: &mut AnyConnection,
    statuses: &[&str],
    limit: i64,
) -> Result<Vec<JobRow>, DbError> {
    Ok(jobs::table
        .filter(jobs::status.eq_any(statuses))
        .order((jobs::created_at.desc(), jobs::id.desc()))
        .limit(limit)
        .select(JobRow::as_select())
        .load(conn)?)
}

pub fn list_for_alert(conn: &mut AnyConnection, alert_id: &str) -> Result<Vec<JobRow>, DbError> {
    Ok(jobs::table
        .filter(jobs::alert_id.eq(alert_id))
        .order((jobs::created_at.asc(), jobs::id.asc()))
        .select(JobRow::as_select())
        .load(conn)?)
}

pub fn count_by_status(conn: &mut AnyConnection, status: &str) -> Result<i64, DbError> {
    Ok(jobs::table
        .filter(jobs::status.eq(status))
        .count()
        .get_result(conn)?)
}

/// The earliest time a pending job becomes due (for the worker's sleep).
pub fn next_due(conn: &mut AnyConnection) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(jobs::table
        .filter(jobs::status.eq("pending"))
        .select(diesel::dsl::min(jobs::run_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}

/// Records that a worker is alive.
pub fn heartbeat(
    conn: &mut AnyConnection,
    worker: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let n = diesel::update(workers::table.find(worker))
        .set(workers::seen_at.eq(now))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(workers::table)
            .values((
                workers::id.eq(worker),
                workers::started_at.eq(now),
                workers::seen_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The most recent time any worker was seen.
pub fn last_worker_seen(conn: &mut AnyConnection) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(workers::table
        .select(diesel::dsl::max(workers::seen_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}

/// Jobs by (kind, status) for the metrics: `pending` (waiting), `running` (pending under a
/// live lease), `failed` and `dead`.
pub fn counts_by_kind(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<Vec<(String, String, i64)>, DbError> {
    let by_status: Vec<(String, String, i64)> = jobs::table
        .filter(jobs::status.eq_any(["pending", "failed", "dead"]))
        .group_by((jobs::kind, jobs::status))
        .select((jobs::kind, jobs::status, diesel::dsl::count_star()))
        .load(conn)?;
    let running: Vec<(String, i64)> = jobs::table
        .filter(jobs::status.eq("pending"))
        .filter(jobs::locked_until.gt(now))
        .group_by(jobs::kind)
        .select((jobs::kind, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out = Vec::new();
    for (kind, status, n) in by_status {
        if status == "pending" {
            let r = running
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, n)| *n);
            out.push((kind, status, n - r));
        } else {
            out.push((kind, status, n));
        }
    }
    for (kind, n) in running {
        out.push((kind, "running".into(), n));
    }
    Ok(out)
}

/// The mail path's health as one transport (`smtp` or `outbox`) last saw it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_health)]
pub struct MailHealthRow {
    pub id: String,
    pub failing_since: Option<NaiveDateTime>,
    pub last_failure_at: Option<NaiveDateTime>,
    pub last_success_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

fn mail_row(conn: &mut AnyConnection, transport: &str) -> Result<(), DbError> {
    let exists = mail_health::table
        .find(transport)
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        let inserted = conn.transaction(|c| {
            diesel::insert_into(mail_health::table)
                .values(mail_health::id.eq(transport))
                .execute(c)
        });
        match inserted {
            Ok(_) => {}
            // Another instance inserted it first.
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A send failed transiently: the path is failing since now, unless it already was.
pub fn mail_failed(
    conn: &mut AnyConnection,
    transport: &str,
    error: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    mail_row(conn, transport)?;
    diesel::update(mail_health::table.find(transport))
        .set((
            mail_health::last_failure_at.eq(Some(now)),
            mail_health::last_error.eq(Some(error)),
        ))
        .execute(conn)?;
    diesel::update(
        mail_health::table
            .find(transport)
            .filter(mail_health::failing_since.is_null()),
    )
    .set(mail_health::failing_since.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

/// A send went through: the path works again.
pub fn mail_succeeded(
    conn: &mut AnyConnection,
    transport: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    mail_row(conn, transport)?;
    diesel::update(mail_health::table.find(transport))
        .set((
            mail_health::failing_since.eq(None::<NaiveDateTime>),
            mail_health::last_success_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn mail_health(conn: &mut AnyConnection) -> Result<Vec<MailHealthRow>, DbError> {
    Ok(mail_health::table
        .order(mail_health::id.asc())
        .select(MailHealthRow::as_select())
        .load(conn)?)
}
