//! Storing what administrators manage of the questionnaires (issue 14): refused files, the
//! version each instance serves (and so the last good one), publications, withdrawals, and
//! the per-version history read from `questionnaire_versions` and `screenings`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    questionnaire_loads, questionnaire_publications, questionnaire_refusals,
    questionnaire_versions, questionnaire_withdrawals, screenings,
};
use super::screenings::NewVersion;
use super::{AnyConnection, DbError};

/// A refused file as stored: `errors` is a JSON list of `path:line:col: message` strings.
#[derive(Debug, Clone, Insertable, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = questionnaire_refusals)]
pub struct RefusalRow {
    pub questionnaire_id: String,
    pub path: String,
    pub content_hash: String,
    pub errors: String,
    pub source: String,
    pub refused_at: NaiveDateTime,
}

/// The version one instance serves of one questionnaire.
#[derive(Debug, Clone, Insertable, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = questionnaire_loads)]
pub struct LoadRow {
    pub instance_id: String,
    pub questionnaire_id: String,
    pub content_hash: String,
    pub version: String,
    pub loaded_at: NaiveDateTime,
    pub seen_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = questionnaire_publications)]
pub struct PublicationRow {
    pub id: String,
    pub questionnaire_id: String,
    pub content_hash: String,
    pub old_version: Option<String>,
    pub new_version: String,
    pub kind: String,
    pub published_by: Option<String>,
    pub published_at: NaiveDateTime,
}

/// A stored version of a questionnaire.
#[derive(Debug, Clone, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = questionnaire_versions)]
pub struct VersionRow {
    pub content_hash: String,
    pub questionnaire_id: String,
    pub version: String,
    pub source: String,
    pub first_used_at: NaiveDateTime,
}

/// How many screenings one version scored, and when the first and last were submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionUse {
    pub content_hash: String,
    pub screenings: i64,
    pub first_at: Option<NaiveDateTime>,
    pub last_at: Option<NaiveDateTime>,
}

/// Stores a version (once per content hash).
pub fn ensure_version(conn: &mut AnyConnection, version: &NewVersion<'_>) -> Result<(), DbError> {
    // ON CONFLICT is not in diesel's common dialect: each backend runs its own statement.
    match conn {
        AnyConnection::Sqlite(c) => diesel::insert_into(questionnaire_versions::table)
            .values(version)
            .on_conflict_do_nothing()
            .execute(c)?,
        AnyConnection::Postgresql(c) => diesel::insert_into(questionnaire_versions::table)
            .values(version)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(())
}

/// One questionnaire an instance serves now.
#[derive(Debug, Clone)]
pub struct Serving<'a> {
    pub version: NewVersion<'a>,
}

/// Records what `instance` serves now: its versions stored, one load row per questionnaire
/// (`loaded_at` moves only when the hash changes; `seen_at` always), rows of questionnaires
/// it no longer serves removed.
pub fn record_serving(
    conn: &mut AnyConnection,
    instance: &str,
    serving: &[Serving<'_>],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::write_transaction(conn, |c| {
        let existing: Vec<LoadRow> = questionnaire_loads::table
            .filter(questionnaire_loads::instance_id.eq(instance))
            .select(LoadRow::as_select())
            .load(c)?;
        for s in serving {
            ensure_version(c, &s.version)?;
            let v = &s.version;
            match existing
                .iter()
                .find(|r| r.questionnaire_id == v.questionnaire_id)
            {
                Some(row) if row.content_hash == v.content_hash => {
                    diesel::update(
                        questionnaire_loads::table
                            .find((instance, v.questionnaire_id))
                            .filter(questionnaire_loads::content_hash.eq(v.content_hash)),
                    )
                    .set(questionnaire_loads::seen_at.eq(now))
                    .execute(c)?;
                }
                Some(_) => {
                    diesel::update(questionnaire_loads::table.find((instance, v.questionnaire_id)))
                        .set((
                            questionnaire_loads::content_hash.eq(v.content_hash),
                            questionnaire_loads::version.eq(v.version),
                            questionnaire_loads::loaded_at.eq(now),
                            questionnaire_loads::seen_at.eq(now),
                        ))
                        .execute(c)?;
                }
                None => {
                    diesel::insert_into(questionnaire_loads::table)
                        .values(&LoadRow {
                            instance_id: instance.to_string(),
                            questionnaire_id: v.questionnaire_id.to_string(),
                            content_hash: v.content_hash.to_string(),
                            version: v.version.to_string(),
                            loaded_at: now,
                            seen_at: now,
                        })
                        .execute(c)?;
                }
            }
        }
        for row in &existing {
            if !serving
                .iter()
                .any(|s| s.version.questionnaire_id == row.questionnaire_id)
            {
                diesel::delete(
                    questionnaire_loads::table.find((instance, row.questionnaire_id.as_str())),
                )
                .execute(c)?;
            }
        }
        Ok(())
    })
}

/// The last good version of a questionnaire: the one most lately loaded by any instance;
/// else the most lately stored one.
pub fn last_good(
    conn: &mut AnyConnection,
    questionnaire_id: &str,
) -> Result<Option<VersionRow>, DbError> {
    let loaded: Option<String> = questionnaire_loads::table
        .filter(questionnaire_loads::questionnaire_id.eq(questionnaire_id))
        .order((
            questionnaire_loads::loaded_at.desc(),
            questionnaire_loads::seen_at.desc(),
        ))
        .select(questionnaire_loads::content_hash)
        .first(conn)
        .optional()?;
    if let Some(hash) = loaded {
        return find_version(conn, &hash);
    }
    Ok(questionnaire_versions::table
        .filter(questionnaire_versions::questionnaire_id.eq(questionnaire_id))
        .order(questionnaire_versions::first_used_at.desc())
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_version(
    conn: &mut AnyConnection,
    content_hash: &str,
) -> Result<Option<VersionRow>, DbError> {
    Ok(questionnaire_versions::table
        .find(content_hash)
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every stored version of a questionnaire, oldest first.
pub fn versions(
    conn: &mut AnyConnection,
    questionnaire_id: &str,
) -> Result<Vec<VersionRow>, DbError> {
    Ok(questionnaire_versions::table
        .filter(questionnaire_versions::questionnaire_id.eq(questionnaire_id))
        .order((
            questionnaire_versions::first_used_at.asc(),
            questionnaire_versions::content_hash.asc(),
        ))
        .select(VersionRow::as_select())
        .load(conn)?)
}

/// Screenings per version of a questionnaire, with their first and last submission.
pub fn version_use(
    conn: &mut AnyConnection,
    questionnaire_id: &str,
) -> Result<Vec<VersionUse>, DbError> {
    use diesel::dsl::{count_star, max, min};
    let rows: Vec<(String, i64, Option<NaiveDateTime>, Option<NaiveDateTime>)> = screenings::table
        .filter(screenings::questionnaire_id.eq(questionnaire_id))
        .group_by(screenings::content_hash)
        .select((
            screenings::content_hash,
            count_star(),
            min(screenings::submitted_at),
            max(screenings::submitted_at),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(content_hash, screenings, first_at, last_at)| VersionUse {
            content_hash,
            screenings,
            first_at,
            last_at,
        })
        .collect())
}

/// One stored screening as the report re-scores it: its answers (JSON) and stored tier and
/// reasons (JSON). Health data: never logged.
#[derive(Clone, Queryable)]
pub struct StoredOutcome {
    pub answers: String,
    pub tier: String,
    pub reasons: String,
}

impl std::fmt::Debug for StoredOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredOutcome")
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

/// The screenings scored by one version since `since`, in batches of `batch` handed to `f`
/// (so 100,000 of them never sit in memory at once).
pub fn for_each_scored_by(
    conn: &mut AnyConnection,
    content_hash: &str,
    since: NaiveDateTime,
    batch: i64,
    f: &mut dyn FnMut(&[StoredOutcome]),
) -> Result<(), DbError> {
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String, String, String)> = screenings::table
            .filter(screenings::content_hash.eq(content_hash))
            .filter(screenings::submitted_at.ge(since))
            .filter(screenings::id.gt(&after))
            .order(screenings::id.asc())
            .limit(batch)
            .select((
                screenings::id,
                screenings::answers,
                screenings::tier,
                screenings::reasons,
            ))
            .load(conn)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.0.clone();
        let full = rows.len() as i64 == batch;
        let batch_rows: Vec<StoredOutcome> = rows
            .into_iter()
            .map(|(_, answers, tier, reasons)| StoredOutcome {
                answers,
                tier,
                reasons,
            })
            .collect();
        f(&batch_rows);
        if !full {
            return Ok(());
        }
    }
}

/// Replaces the stored refusal of each questionnaire in `refused`, and removes the refusals of
/// those in `loaded_from_file` (their file loads now).
pub fn sync_refusals(
    conn: &mut AnyConnection,
    refused: &[RefusalRow],
    loaded_from_file: &[&str],
) -> Result<(), DbError> {
    super::write_transaction(conn, |c| {
        for r in refused {
            let same: Option<String> = questionnaire_refusals::table
                .find(&r.questionnaire_id)
                .select(questionnaire_refusals::content_hash)
                .first(c)
                .optional()?;
            match same {
                Some(hash) if hash == r.content_hash => {}
                Some(_) => {
                    diesel::update(questionnaire_refusals::table.find(&r.questionnaire_id))
                        .set((
                            questionnaire_refusals::path.eq(&r.path),
                            questionnaire_refusals::content_hash.eq(&r.content_hash),
                            questionnaire_refusals::errors.eq(&r.errors),
                            questionnaire_refusals::source.eq(&r.source),
                            questionnaire_refusals::refused_at.eq(r.refused_at),
                        ))
                        .execute(c)?;
                }
                None => {
                    diesel::insert_into(questionnaire_refusals::table)
                        .values(r)
                        .execute(c)?;
                }
            }
        }
        if !loaded_from_file.is_empty() {
            diesel::delete(
                questionnaire_refusals::table
                    .filter(questionnaire_refusals::questionnaire_id.eq_any(loaded_from_file)),
            )
            .execute(c)?;
        }
        Ok(())
    })
}

pub fn refusals(conn: &mut AnyConnection) -> Result<Vec<RefusalRow>, DbError> {
    Ok(questionnaire_refusals::table
        .order(questionnaire_refusals::questionnaire_id.asc())
        .select(RefusalRow::as_select())
        .load(conn)?)
}

/// The load rows of every instance seen since `since`.
pub fn instances_seen_since(
    conn: &mut AnyConnection,
    since: NaiveDateTime,
) -> Result<Vec<LoadRow>, DbError> {
    Ok(questionnaire_loads::table
        .filter(questionnaire_loads::seen_at.ge(since))
        .order((
            questionnaire_loads::questionnaire_id.asc(),
            questionnaire_loads::instance_id.asc(),
        ))
        .select(LoadRow::as_select())
        .load(conn)?)
}

pub fn insert_publication(conn: &mut AnyConnection, row: &PublicationRow) -> Result<(), DbError> {
    diesel::insert_into(questionnaire_publications::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn publications(
    conn: &mut AnyConnection,
    questionnaire_id: &str,
) -> Result<Vec<PublicationRow>, DbError> {
    Ok(questionnaire_publications::table
        .filter(questionnaire_publications::questionnaire_id.eq(questionnaire_id))
        .order(questionnaire_publications::published_at.desc())
        .select(PublicationRow::as_select())
        .load(conn)?)
}

pub fn count_publications(conn: &mut AnyConnection) -> Result<i64, DbError> {
    Ok(questionnaire_publications::table.count().get_result(conn)?)
}

/// Withdraws a questionnaire from riders; false when it already was.
pub fn withdraw(
    conn: &mut AnyConnection,
    questionnaire_id: &str,
    by: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let already: i64 = questionnaire_withdrawals::table
        .filter(questionnaire_withdrawals::questionnaire_id.eq(questionnaire_id))
        .count()
        .get_result(conn)?;
    if already > 0 {
        return Ok(false);
    }
    diesel::insert_into(questionnaire_withdrawals::table)
        .values((
            questionnaire_withdrawals::questionnaire_id.eq(questionnaire_id),
            questionnaire_withdrawals::withdrawn_at.eq(now),
            questionnaire_withdrawals::withdrawn_by.eq(by),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Offers a withdrawn questionnaire again; false when it was not withdrawn.
pub fn restore(conn: &mut AnyConnection, questionnaire_id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(questionnaire_withdrawals::table.find(questionnaire_id)).execute(conn)? > 0)
}

pub fn withdrawn(conn: &mut AnyConnection) -> Result<Vec<String>, DbError> {
    Ok(questionnaire_withdrawals::table
        .order(questionnaire_withdrawals::questionnaire_id.asc())
        .select(questionnaire_withdrawals::questionnaire_id)
        .load(conn)?)
}
