//! Storing screenings, their questionnaire versions and consented contact details.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{contacts, questionnaire_versions, screenings};
use super::{AnyConnection, DbError};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = questionnaire_versions)]
pub struct NewVersion<'a> {
    pub content_hash: &'a str,
    pub questionnaire_id: &'a str,
    pub version: &'a str,
    pub source: &'a str,
    pub first_used_at: NaiveDateTime,
}

/// A screening row. `answers`, `scores`, `bands` and `reasons` are JSON text.
/// `None` is written as NULL, not DEFAULT (the columns have no other default): SQLite's
/// multi-row INSERT (`insert_rows`) has no DEFAULT.
#[derive(Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = screenings, treat_none_as_default_value = false)]
pub struct ScreeningRow {
    pub id: String,
    pub questionnaire_id: String,
    pub content_hash: String,
    pub answers: String,
    pub scores: String,
    pub bands: String,
    pub reasons: String,
    pub tier: String,
    pub urgent: bool,
    pub locale: String,
    pub site: Option<String>,
    pub submitted_at: NaiveDateTime,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub response: Option<String>,
    pub contact_token_hash: Option<String>,
    /// Keyed hash of the source (network and user agent), cleared after `abuse.retention`.
    pub source_fp: Option<String>,
}

impl std::fmt::Debug for ScreeningRow {
    // Answers are health data: never in a log line, even by accident.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreeningRow")
            .field("id", &self.id)
            .field("questionnaire_id", &self.questionnaire_id)
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Insertable)]
#[diesel(table_name = contacts, treat_none_as_default_value = false)]
pub struct ContactRow {
    pub screening_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub delete_after: NaiveDateTime,
    /// Keyed hash of the phone number: links the screenings of one identified rider.
    pub rider_key: Option<String>,
}

impl std::fmt::Debug for ContactRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactRow")
            .field("screening_id", &self.screening_id)
            .finish_non_exhaustive()
    }
}

/// The first response stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub request_hash: Option<String>,
    pub response: Option<String>,
    /// SHA-256 of its contact token, to tell whether a token derived again is the one stored.
    pub contact_token_hash: Option<String>,
}

#[derive(Debug)]
pub enum Inserted<T> {
    /// Stored; with what the caller's `then` wrote in the same transaction.
    New(T),
    /// A screening with the same idempotency key exists; nothing was written.
    Duplicate(Replay),
}

/// What this process has seen committed of the rows every submission would otherwise look
/// up: questionnaire versions (keyed by content hash) and sites. Both are append-only (a
/// version is never deleted; a site is renamed, never removed or re-keyed), so a hit stays
/// true whatever another instance does; a miss falls back to the database (another instance
/// may have added the row). Learned only after a commit (`learn`), never from a transaction
/// that may still roll back.
#[derive(Debug, Default)]
pub struct Known {
    versions: std::sync::Mutex<std::collections::HashSet<String>>,
    sites: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Known {
    fn has_version(&self, content_hash: &str) -> bool {
        self.versions.lock().is_ok_and(|v| v.contains(content_hash))
    }

    fn has_site(&self, slug: &str) -> bool {
        self.sites.lock().is_ok_and(|s| s.contains(slug))
    }

    /// After the commit of `insert_in`'s transaction: its version and its known site (the
    /// row as stored keeps a site only when the site exists) are now on disk.
    pub fn learn(&self, content_hash: &str, stored_site: Option<&str>) {
        if let Ok(mut v) = self.versions.lock()
            && !v.contains(content_hash)
        {
            v.insert(content_hash.to_string());
        }
        if let Some(site) = stored_site
            && let Ok(mut s) = self.sites.lock()
            && !s.contains(site)
        {
            s.insert(site.to_string());
        }
    }
}

/// Writes the screening, its version row and the contact if any in one transaction, then runs
/// `then` in the same transaction with the row as stored (its alert and jobs: no screening
/// without them). A site that names no known site is dropped and its code counted
/// (`accounts::count_unknown_site`).
pub fn insert<T>(
    conn: &mut AnyConnection,
    version: &NewVersion<'_>,
    row: &ScreeningRow,
    contact: Option<&ContactRow>,
    then: &dyn Fn(&mut AnyConnection, &ScreeningRow) -> Result<T, DbError>,
) -> Result<Inserted<T>, DbError> {
    insert_known(conn, None, version, row, contact, then).map(|i| match i {
        Inserted::New((written, _)) => Inserted::New(written),
        Inserted::Duplicate(replay) => Inserted::Duplicate(replay),
    })
}

/// `insert`, skipping the lookups `known` answers; also returns the row as stored (for
/// `Known::learn` once committed).
pub fn insert_known<T>(
    conn: &mut AnyConnection,
    known: Option<&Known>,
    version: &NewVersion<'_>,
    row: &ScreeningRow,
    contact: Option<&ContactRow>,
    then: &dyn Fn(&mut AnyConnection, &ScreeningRow) -> Result<T, DbError>,
) -> Result<Inserted<(T, ScreeningRow)>, DbError> {
    let result =
        super::write_transaction(conn, |c| insert_in(c, known, version, row, contact, then));
    match result {
        Ok(written) => Ok(Inserted::New(written)),
        Err(e) if e.is_unique_violation() && row.idempotency_key.is_some() => {
            let key = row.idempotency_key.as_deref().unwrap_or_default();
            match find_by_idempotency_key(conn, key)? {
                Some(replay) => Ok(Inserted::Duplicate(replay)),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The writes of `insert` inside a transaction the caller holds (a group commit's batch):
/// returns what `then` wrote and the row as stored.
pub fn insert_in<T>(
    c: &mut AnyConnection,
    known: Option<&Known>,
    version: &NewVersion<'_>,
    row: &ScreeningRow,
    contact: Option<&ContactRow>,
    then: &dyn Fn(&mut AnyConnection, &ScreeningRow) -> Result<T, DbError>,
) -> Result<(T, ScreeningRow), DbError> {
    insert_version(c, known, version)?;
    let mut row = row.clone();
    if let Some(site) = &row.site
        && !site_is_known(c, known, site)?
    {
        // A mistyped or retired QR code must never block a rider: stored without a site,
        // and the code counted so administrators notice the poster.
        super::accounts::count_unknown_site(c, site, row.submitted_at)?;
        row.site = None;
    }
    diesel::insert_into(screenings::table)
        .values(&row)
        .execute(c)?;
    if let Some(contact) = contact {
        diesel::insert_into(contacts::table)
            .values(contact)
            .execute(c)?;
    }
    let written = then(c, &row)?;
    Ok((written, row))
}

/// The version row a screening references, unless `known` says it is stored.
pub fn insert_version(
    c: &mut AnyConnection,
    known: Option<&Known>,
    version: &NewVersion<'_>,
) -> Result<(), DbError> {
    if known.is_some_and(|k| k.has_version(version.content_hash)) {
        return Ok(());
    }
    super::questionnaires::ensure_version(c, version)
}

/// Whether a site of this slug exists (`known` first, then the database).
pub fn site_is_known(
    c: &mut AnyConnection,
    known: Option<&Known>,
    site: &str,
) -> Result<bool, DbError> {
    Ok(known.is_some_and(|k| k.has_site(site)) || super::accounts::site_exists(c, site)?)
}

/// Several screenings (their sites and versions already checked) in one INSERT, and their
/// contacts in another: a group commit's batch pays one statement per table, not per row.
pub fn insert_rows(
    c: &mut AnyConnection,
    rows: &[&ScreeningRow],
    contacts: &[&ContactRow],
) -> Result<(), DbError> {
    // Under SQLite's bound on the variables of one statement (32,766) and PostgreSQL's
    // (65,535), whatever the batch.
    const ROWS_PER_STATEMENT: usize = 500;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        match c {
            AnyConnection::Sqlite(c) => diesel::insert_into(screenings::table)
                .values(chunk.to_vec())
                .execute(c)?,
            AnyConnection::Postgresql(c) => diesel::insert_into(screenings::table)
                .values(chunk.to_vec())
                .execute(c)?,
        };
    }
    for chunk in contacts.chunks(ROWS_PER_STATEMENT) {
        match c {
            AnyConnection::Sqlite(c) => diesel::insert_into(contacts::table)
                .values(chunk.to_vec())
                .execute(c)?,
            AnyConnection::Postgresql(c) => diesel::insert_into(contacts::table)
                .values(chunk.to_vec())
                .execute(c)?,
        };
    }
    Ok(())
}

/// The flood limits one statement of `insert_if_admitted` checks: a screening is admitted
/// without a challenge while fewer than these are stored in the window from its source (at
/// its site).
#[derive(Debug, Clone, Copy)]
pub struct Admit {
    pub since: NaiveDateTime,
    pub per_source: i64,
    pub per_site: i64,
}

/// Whether `known` answers every lookup `insert_rows` would need first for these rows
/// (their versions stored, their sites known): then nothing but the rows is to be written.
pub fn all_known(known: Option<&Known>, rows: &[&ScreeningRow]) -> bool {
    let Some(known) = known else { return false };
    rows.iter().all(|r| {
        known.has_version(&r.content_hash) && r.site.as_deref().is_none_or(|s| known.has_site(s))
    })
}

/// PostgreSQL: the rows in one statement, committed on its own (no transaction around it:
/// one round trip for the batch), only if all of them are admitted as the flood guard would
/// admit them one by one (each counted with the stored and the earlier ones in the window,
/// under `admit`'s limits) and none of their idempotency keys is stored. `false`: nothing
/// was written (over a limit, a key stored, or SQLite, which has no such statement here).
/// Rows with a contact, an alert or an unknown version or site are not for this statement.
pub fn insert_if_admitted(
    c: &mut AnyConnection,
    rows: &[&ScreeningRow],
    admit: Admit,
) -> Result<bool, DbError> {
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
    let AnyConnection::Postgresql(c) = c else {
        return Ok(false);
    };
    if rows.is_empty() {
        return Ok(true);
    }
    // One array per column: one statement text whatever the batch (a single prepared plan).
    // The counts are read in the statement's own snapshot, as a count just before it.
    let text = |f: fn(&ScreeningRow) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let opt = |f: fn(&ScreeningRow) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
    let inserted = diesel::sql_query(
        "WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], \
           $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::text[], $11::text[], \
           $12::timestamp[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[]) \
           AS r(id, questionnaire_id, content_hash, answers, scores, bands, reasons, tier, \
           urgent, locale, site, submitted_at, idempotency_key, request_hash, response, \
           contact_token_hash, source_fp)), \
         refused AS ( \
           SELECT 1 FROM (SELECT source_fp AS k, count(*) AS n FROM r \
               WHERE source_fp IS NOT NULL GROUP BY source_fp) b \
             WHERE b.n + (SELECT count(*) FROM screenings s \
               WHERE s.source_fp = b.k AND s.submitted_at >= $18) > $19 \
           UNION ALL \
           SELECT 1 FROM (SELECT site AS k, count(*) AS n FROM r \
               WHERE site IS NOT NULL GROUP BY site) b \
             WHERE b.n + (SELECT count(*) FROM screenings s \
               WHERE s.site = b.k AND s.submitted_at >= $18) > $20 \
           UNION ALL \
           SELECT 1 FROM r WHERE r.idempotency_key IS NOT NULL AND EXISTS \
             (SELECT 1 FROM screenings s WHERE s.idempotency_key = r.idempotency_key)) \
         INSERT INTO screenings (id, questionnaire_id, content_hash, answers, scores, bands, \
           reasons, tier, urgent, locale, site, submitted_at, idempotency_key, request_hash, \
           response, contact_token_hash, source_fp) \
         SELECT * FROM r WHERE NOT EXISTS (SELECT 1 FROM refused)",
    )
    .bind::<Array<Text>, _>(text(|r| &r.id))
    .bind::<Array<Text>, _>(text(|r| &r.questionnaire_id))
    .bind::<Array<Text>, _>(text(|r| &r.content_hash))
    .bind::<Array<Text>, _>(text(|r| &r.answers))
    .bind::<Array<Text>, _>(text(|r| &r.scores))
    .bind::<Array<Text>, _>(text(|r| &r.bands))
    .bind::<Array<Text>, _>(text(|r| &r.reasons))
    .bind::<Array<Text>, _>(text(|r| &r.tier))
    .bind::<Array<Bool>, _>(rows.iter().map(|r| r.urgent).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(text(|r| &r.locale))
    .bind::<Array<Nullable<Text>>, _>(opt(|r| r.site.as_deref()))
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.submitted_at).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(opt(|r| r.idempotency_key.as_deref()))
    .bind::<Array<Nullable<Text>>, _>(opt(|r| r.request_hash.as_deref()))
    .bind::<Array<Nullable<Text>>, _>(opt(|r| r.response.as_deref()))
    .bind::<Array<Nullable<Text>>, _>(opt(|r| r.contact_token_hash.as_deref()))
    .bind::<Array<Nullable<Text>>, _>(opt(|r| r.source_fp.as_deref()))
    .bind::<Timestamp, _>(admit.since)
    .bind::<BigInt, _>(admit.per_source)
    .bind::<BigInt, _>(admit.per_site)
    .execute(c)?;
    Ok(inserted == rows.len())
}

/// The first responses stored under any of `keys`: key -> replay.
pub fn find_by_idempotency_keys(
    conn: &mut AnyConnection,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, Replay>, DbError> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    type Found = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let found: Vec<Found> = screenings::table
        .filter(screenings::idempotency_key.eq_any(keys))
        .select((
            screenings::idempotency_key,
            screenings::request_hash,
            screenings::response,
            screenings::contact_token_hash,
        ))
        .load(conn)?;
    Ok(found
        .into_iter()
        .filter_map(|(key, request_hash, response, contact_token_hash)| {
            Some((
                key?,
                Replay {
                    request_hash,
                    response,
                    contact_token_hash,
                },
            ))
        })
        .collect())
}

pub fn find_by_idempotency_key(
    conn: &mut AnyConnection,
    key: &str,
) -> Result<Option<Replay>, DbError> {
    Ok(screenings::table
        .filter(screenings::idempotency_key.eq(key))
        .select((
            screenings::request_hash,
            screenings::response,
            screenings::contact_token_hash,
        ))
        .first::<(Option<String>, Option<String>, Option<String>)>(conn)
        .optional()?
        .map(|(request_hash, response, contact_token_hash)| Replay {
            request_hash,
            response,
            contact_token_hash,
        }))
}

pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<ScreeningRow>, DbError> {
    Ok(screenings::table
        .find(id)
        .select(ScreeningRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn count(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(screenings::table.count().get_result(conn)?)
}

pub fn count_contacts(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(contacts::table.count().get_result(conn)?)
}

/// Adds a contact to a screening that has none yet, then runs `then` in the same transaction
/// (the screening's alert becomes one of an identified rider). Returns false if it already has
/// one.
pub fn add_contact(
    conn: &mut AnyConnection,
    contact: &ContactRow,
    then: &dyn Fn(&mut AnyConnection) -> Result<(), DbError>,
) -> Result<bool, DbError> {
    let result = super::write_transaction(conn, |c| {
        diesel::insert_into(contacts::table)
            .values(contact)
            .execute(c)?;
        then(c)
    });
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// An encrypted contact as stored: (nonce, ciphertext).
pub type SealedContact = (Vec<u8>, Vec<u8>);

/// The stored (encrypted) contact of a screening.
pub fn find_contact(
    conn: &mut AnyConnection,
    screening_id: &str,
) -> Result<Option<SealedContact>, DbError> {
    Ok(contacts::table
        .find(screening_id)
        .select((contacts::nonce, contacts::ciphertext))
        .first(conn)
        .optional()?)
}

/// Deletes contact details past their retention date; returns how many.
pub fn delete_expired_contacts(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::delete(contacts::table.filter(contacts::delete_after.le(now))).execute(conn)?)
}

pub fn find_version_source(
    conn: &mut AnyConnection,
    content_hash: &str,
) -> Result<Option<String>, DbError> {
    Ok(questionnaire_versions::table
        .find(content_hash)
        .select(questionnaire_versions::source)
        .first(conn)
        .optional()?)
}

/// Deletes the contact of one screening: `Some(rider key)` when there was one to delete
/// (the key itself `None` for a row stored before keys were kept), `None` when there was none.
pub fn delete_contact(
    conn: &mut AnyConnection,
    screening_id: &str,
) -> Result<Option<Option<String>>, DbError> {
    let key: Option<Option<String>> = contacts::table
        .find(screening_id)
        .select(contacts::rider_key)
        .first(conn)
        .optional()?;
    if key.is_none() {
        return Ok(None);
    }
    let deleted = diesel::delete(contacts::table.find(screening_id)).execute(conn)?;
    Ok((deleted > 0).then_some(key.flatten()))
}

/// Deletes every contact left under one keyed rider hash; returns their screenings' ids.
pub fn delete_contacts_of_rider(
    conn: &mut AnyConnection,
    rider_key: &str,
) -> Result<Vec<String>, DbError> {
    let ids: Vec<String> = contacts::table
        .filter(contacts::rider_key.eq(rider_key))
        .select(contacts::screening_id)
        .load(conn)?;
    diesel::delete(contacts::table.filter(contacts::rider_key.eq(rider_key))).execute(conn)?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseSettings;

    fn sqlite() -> (tempfile::TempDir, crate::db::Pool) {
        let dir = tempfile::tempdir().unwrap();
        let settings = DatabaseSettings {
            url: format!("sqlite://{}/t.db", dir.path().display()),
            pool_size: 2,
            timeout: std::time::Duration::from_secs(5),
        };
        let pool = crate::db::connect(&settings).unwrap();
        crate::db::migrate(&mut pool.get().unwrap()).unwrap();
        (dir, pool)
    }

    fn screening(id: &str, at: NaiveDateTime) -> ScreeningRow {
        ScreeningRow {
            id: id.into(),
            questionnaire_id: "q".into(),
            content_hash: "sha256:x".into(),
            answers: "{}".into(),
            scores: "{}".into(),
            bands: "{}".into(),
            reasons: "[]".into(),
            tier: "red".into(),
            urgent: false,
            locale: "zh-CN".into(),
            site: None,
            submitted_at: at,
            idempotency_key: None,
            request_hash: None,
            response: None,
            contact_token_hash: None,
            source_fp: None,
        }
    }

    #[test]
    fn expired_contacts_are_deleted_and_the_screening_stays() {
        let (_dir, pool) = sqlite();
        let conn = &mut pool.get().unwrap();
        let now = chrono::Utc::now().naive_utc();
        let version = NewVersion {
            content_hash: "sha256:x",
            questionnaire_id: "q",
            version: "1",
            source: "",
            first_used_at: now,
        };
        for (id, days_left) in [("old", -1), ("fresh", 30)] {
            let contact = ContactRow {
                screening_id: id.into(),
                nonce: vec![0; 12],
                ciphertext: vec![1, 2, 3],
                created_at: now,
                delete_after: now + chrono::Duration::days(days_left),
                rider_key: None,
            };
            assert!(matches!(
                insert(
                    conn,
                    &version,
                    &screening(id, now),
                    Some(&contact),
                    &|_, _| Ok(None::<()>)
                )
                .unwrap(),
                Inserted::New(None)
            ));
        }
        assert_eq!(delete_expired_contacts(conn, now).unwrap(), 1);
        assert!(find_contact(conn, "old").unwrap().is_none());
        assert!(find_contact(conn, "fresh").unwrap().is_some());
        assert_eq!(count(conn).unwrap(), 2);
    }

    #[test]
    fn a_contact_needs_an_existing_screening() {
        let (_dir, pool) = sqlite();
        let conn = &mut pool.get().unwrap();
        let now = chrono::Utc::now().naive_utc();
        let orphan = ContactRow {
            screening_id: "nope".into(),
            nonce: vec![0; 12],
            ciphertext: vec![1],
            created_at: now,
            delete_after: now,
            rider_key: None,
        };
        assert!(
            add_contact(conn, &orphan, &|_| Ok(())).is_err(),
            "foreign keys must be on"
        );
    }
}
