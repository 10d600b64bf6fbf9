//! The audit log: insert and read, never update or delete (the database refuses both).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_log;
use super::{AnyConnection, DbError};

#[derive(Debug, Clone, Insertable, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    /// Time-ordered (UUIDv7): also the paging cursor.
    pub id: String,
    #[schema(value_type = String, example = "2026-11-29T04:21:58")]
    pub at: NaiveDateTime,
    pub actor_id: Option<String>,
    /// Who, as a person reads it: a user's email, or `anonymous`, or `system`.
    pub actor: String,
    #[schema(example = "alert.viewed")]
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    /// JSON with more about the event (never a password, an answer or a rider's contact).
    pub detail: String,
}

pub fn insert(conn: &mut AnyConnection, row: &AuditRow) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Newest first; `before` is the id of the last row of the previous page.
pub fn page(
    conn: &mut AnyConnection,
    before: Option<&str>,
    action: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>, DbError> {
    let mut q = audit_log::table.into_boxed();
    if let Some(before) = before {
        q = q.filter(audit_log::id.lt(before.to_string()));
    }
    if let Some(action) = action {
        q = q.filter(audit_log::action.eq(action.to_string()));
    }
    Ok(q.order(audit_log::id.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}

pub fn count(conn: &mut AnyConnection, action: Option<&str>) -> Result<i64, DbError> {
    let mut q = audit_log::table.into_boxed();
    if let Some(action) = action {
        q = q.filter(audit_log::action.eq(action.to_string()));
    }
    Ok(q.count().get_result(conn)?)
}
