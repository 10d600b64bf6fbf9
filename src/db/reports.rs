//! The rows programme reports count: one narrow row per screening, alert and page in a
//! window, no answers and no contact details (only whether a contact was given).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{alert_events, alerts, contacts, screenings};
use super::{AnyConnection, DbError};

/// A screening as a report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningFact {
    pub questionnaire_id: String,
    pub tier: String,
    pub site: Option<String>,
    pub submitted_at: NaiveDateTime,
    /// The rider gave contact details with consent (and they are still held).
    pub identified: bool,
}

/// Screenings submitted in [from, to).
pub fn screenings(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<ScreeningFact>, DbError> {
    type Row = (
        String,
        String,
        Option<String>,
        NaiveDateTime,
        Option<String>,
    );
    let rows: Vec<Row> = screenings::table
        .left_join(contacts::table)
        .filter(screenings::submitted_at.ge(from))
        .filter(screenings::submitted_at.lt(to))
        .select((
            screenings::questionnaire_id,
            screenings::tier,
            screenings::site,
            screenings::submitted_at,
            contacts::screening_id.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(questionnaire_id, tier, site, submitted_at, contact)| ScreeningFact {
                questionnaire_id,
                tier,
                site,
                submitted_at,
                identified: contact.is_some(),
            },
        )
        .collect())
}

/// An alert as a report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFact {
    pub id: String,
    pub tier: String,
    pub site: Option<String>,
    pub created_at: NaiveDateTime,
    pub deadline_at: NaiveDateTime,
    pub acknowledged_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
}

/// Alerts opened, acknowledged or resolved in [from, to).
pub fn alerts(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<AlertFact>, DbError> {
    let in_window = alerts::created_at
        .ge(from)
        .and(alerts::created_at.lt(to))
        .or(alerts::acknowledged_at
            .ge(from)
            .and(alerts::acknowledged_at.lt(to)))
        .or(alerts::resolved_at.ge(from).and(alerts::resolved_at.lt(to)));
    type Row = (
        String,
        String,
        Option<String>,
        NaiveDateTime,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<String>,
    );
    let rows: Vec<Row> = alerts::table
        .filter(in_window)
        .select((
            alerts::id,
            alerts::tier,
            alerts::site,
            alerts::created_at,
            alerts::deadline_at,
            alerts::acknowledged_at,
            alerts::resolved_at,
            alerts::outcome,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| AlertFact {
            id: r.0,
            tier: r.1,
            site: r.2,
            created_at: r.3,
            deadline_at: r.4,
            acknowledged_at: r.5,
            resolved_at: r.6,
            outcome: r.7,
        })
        .collect())
}

/// Escalation pages in [from, to): (alert id, when, the level's JSON detail).
pub fn pages(
    conn: &mut AnyConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(String, NaiveDateTime, String)>, DbError> {
    Ok(alert_events::table
        .filter(alert_events::kind.eq("paged"))
        .filter(alert_events::at.ge(from))
        .filter(alert_events::at.lt(to))
        .select((
            alert_events::alert_id,
            alert_events::at,
            alert_events::detail,
        ))
        .load(conn)?)
}
