//! The audit log: who did or saw what, when, from which address. Append-only: the application
//! only inserts, and the database refuses updates and deletes (triggers in the migration).
//!
//! Entries are written in the same transaction as the change they record, so a change without
//! its entry cannot exist. Details never hold a password, an answer or a rider's contact.
//!
//! Layer: use cases (the lowest: every other use case records through it). ARCHITECTURE.md maps the layers.

use chrono::Utc;

use crate::db::audit::AuditRow;
use crate::db::{AnyConnection, DbError, audit as store};

/// Who acts: a signed-in user, someone not signed in (a failed sign-in), or the system.
#[derive(Debug, Clone)]
pub struct Who {
    pub user_id: Option<String>,
    /// As a person reads it: the user's email, `anonymous` or `system`.
    pub label: String,
    pub ip: Option<String>,
}

impl Who {
    pub fn anonymous(ip: Option<String>) -> Who {
        Who {
            user_id: None,
            label: "anonymous".into(),
            ip,
        }
    }

    pub fn system() -> Who {
        Who {
            user_id: None,
            label: "system".into(),
            ip: None,
        }
    }
}

/// Appends one entry. Call it inside the transaction of the change it records.
pub fn record(
    conn: &mut AnyConnection,
    who: &Who,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), DbError> {
    store::insert(
        conn,
        &AuditRow {
            id: uuid::Uuid::now_v7().to_string(),
            at: Utc::now().naive_utc(),
            actor_id: who.user_id.clone(),
            actor: who.label.clone(),
            action: action.to_string(),
            target: target.map(str::to_string),
            ip: who.ip.clone(),
            detail: detail.to_string(),
        },
    )
}
