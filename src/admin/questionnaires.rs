//! Administrators manage questionnaires (issue 14): what is live and what was refused (kept in
//! the database, seen by every instance), each version's history, a diff between two
//! versions, the what-would-change report of an edit over stored screenings, publishing
//! (the file written atomically into the folder, then reloaded), rolling back, withdrawing.
//!
//! Aggregates only: the report counts screenings per old -> new tier and per band or rule
//! that starts or stops firing, with every count under `privacy.min_cell` suppressed. No
//! answer of a single rider leaves this module.
//!
//! Synchronous (diesel, files): callers run these on the blocking pool.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Who};
use crate::catalog::{LiveCatalog, parse_questionnaire};
use crate::db::questionnaires::{self as store, PublicationRow, RefusalRow, StoredOutcome};
use crate::db::screenings::NewVersion;
use crate::db::{AnyConnection, DbError};
use crate::questionnaire::{Diagnostic, Questionnaire, Tier};
use crate::scoring::{self, AnswerSet, Outcome, Reason, ReasonKind};

#[derive(Debug, thiserror::Error)]
pub enum QuestionnaireAdminError {
    /// The text fails validation as `careline check` would: each error as `path:line:col: message`.
    #[error("the questionnaire has {} error(s); nothing was changed", .0.len())]
    Invalid(Vec<String>),
    #[error("{0}")]
    NotBumped(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("cannot write the questionnaire file: {0}")]
    Io(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

type Result<T> = std::result::Result<T, QuestionnaireAdminError>;

/// A questionnaire id as a file name allows: `[a-z0-9_]`, 1 to 64 characters.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(QuestionnaireAdminError::NotFound(format!(
            "no questionnaire {:?}: an id is 1 to 64 of a-z, 0-9 and _",
            id.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// One line of a refused file, shown under its error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ErrorLine {
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The file's text on that line.
    pub text: String,
}

/// The version another instance serves when it differs from this one's.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OtherInstance {
    pub instance: String,
    pub version: String,
    pub content_hash: String,
    pub seen_at: String,
}

/// One questionnaire as administrators see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminEntry {
    #[schema(example = "phq9")]
    pub id: String,
    /// The file in the folder.
    pub file: String,
    /// The version served (`null` when none is).
    pub version: Option<String>,
    pub content_hash: Option<String>,
    pub items: usize,
    pub examples: usize,
    /// When this instance started serving it.
    pub loaded_at: Option<String>,
    /// Whether riders are offered it now.
    pub offered: bool,
    pub withdrawn: bool,
    /// `file`, `stored` (the file is refused and the last good stored version serves), or `none`.
    pub serving: String,
    /// For a refused edit, every error as `path:line:col: message`.
    pub errors: Vec<String>,
    /// The errors with the offending line of the refused text.
    pub error_lines: Vec<ErrorLine>,
    /// When the refusal was recorded.
    pub refused_at: Option<String>,
    /// Instances seen lately that serve another version.
    pub other_instances: Vec<OtherInstance>,
}

/// RFC 3339 in UTC, as the rest of the API writes times.
fn utc(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn lines_of(diags: &[Diagnostic], source: &str) -> Vec<ErrorLine> {
    let lines: Vec<&str> = source.lines().collect();
    diags
        .iter()
        .map(|d| ErrorLine {
            line: d.line,
            col: d.col,
            message: d.message.clone(),
            text: lines
                .get(d.line.saturating_sub(1))
                .map(|l| l.chars().take(300).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// What the sync loop stores of a refusal's errors: the display strings and their lines.
#[derive(Debug, Serialize, Deserialize)]
struct StoredErrors {
    errors: Vec<String>,
    lines: Vec<ErrorLine>,
}

/// Brings this instance and the database in step (the sync loop, every
/// `questionnaires.sync_interval`, and once at start before serving): a refused file nothing
/// serves gets its last good stored version; what this instance serves and refused is
/// written; withdrawals are read back.
pub fn sync(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    instance: &str,
    now: NaiveDateTime,
) -> std::result::Result<(), DbError> {
    for refused in catalog.refused() {
        if catalog.get_all().get(&refused.stem).is_some() {
            continue;
        }
        if let Some(stored) = store::last_good(conn, &refused.stem)? {
            let label = format!("stored {} ({})", stored.content_hash, refused.stem);
            match parse_questionnaire(&label, Some(&refused.stem), &stored.source) {
                Ok(q) => {
                    catalog.serve_stored(Arc::new(q));
                }
                Err(e) => tracing::warn!(
                    questionnaire = %refused.stem,
                    errors = e.len(),
                    "the last good stored version no longer loads"
                ),
            }
        }
    }
    let all = catalog.get_all();
    let serving: Vec<store::Serving<'_>> = all
        .iter()
        .map(|q| store::Serving {
            version: NewVersion {
                content_hash: &q.content_hash,
                questionnaire_id: &q.id,
                version: &q.version,
                source: &q.source,
                first_used_at: now,
            },
        })
        .collect();
    store::record_serving(conn, instance, &serving, now)?;
    let refusals: Vec<RefusalRow> = catalog
        .refused()
        .into_iter()
        .map(|r| RefusalRow {
            questionnaire_id: r.stem.clone(),
            path: r.path.clone(),
            content_hash: crate::questionnaire::content_hash(&r.source),
            errors: serde_json::to_string(&StoredErrors {
                errors: r.diagnostics.iter().map(ToString::to_string).collect(),
                lines: lines_of(&r.diagnostics, &r.source),
            })
            .unwrap_or_default(),
            source: r.source,
            refused_at: now,
        })
        .collect();
    // Files that load now: served from the file and not refused at the last reload.
    let loaded = catalog.loaded();
    let from_file: Vec<&str> = loaded
        .iter()
        .filter(|(id, l)| !l.from_store && !refusals.iter().any(|r| &r.questionnaire_id == *id))
        .map(|(id, _)| id.as_str())
        .collect();
    store::sync_refusals(conn, &refusals, &from_file)?;
    catalog.set_withdrawn(store::withdrawn(conn)?.into_iter().collect());
    Ok(())
}

/// Every questionnaire: each served one, and each refused file (here or on another instance).
pub fn list(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    instance: &str,
    now: NaiveDateTime,
    sync_interval: std::time::Duration,
) -> Result<Vec<AdminEntry>> {
    let all = catalog.get_all();
    let offered = catalog.get();
    let loaded = catalog.loaded();
    let withdrawn: BTreeSet<String> = store::withdrawn(conn)?.into_iter().collect();
    let local: BTreeMap<String, crate::catalog::live::Refused> = catalog
        .refused()
        .into_iter()
        .map(|r| (r.stem.clone(), r))
        .collect();
    let stored: BTreeMap<String, RefusalRow> = store::refusals(conn)?
        .into_iter()
        .map(|r| (r.questionnaire_id.clone(), r))
        .collect();
    // An instance is "running" while it was seen within a few sync rounds.
    let window = chrono::Duration::from_std(sync_interval * 5).unwrap_or_default()
        + chrono::Duration::seconds(10);
    let instances = store::instances_seen_since(conn, now - window)?;
    let mut ids: BTreeSet<String> = all.iter().map(|q| q.id.clone()).collect();
    ids.extend(local.keys().cloned());
    ids.extend(stored.keys().cloned());
    let dir = catalog.dir();
    let mut out = Vec::new();
    for id in ids {
        let q = all.get(&id);
        let l = loaded.get(&id);
        let (errors, error_lines, refused_at) = if let Some(r) = local.get(&id) {
            (
                r.diagnostics.iter().map(ToString::to_string).collect(),
                lines_of(&r.diagnostics, &r.source),
                stored.get(&id).map(|s| utc(s.refused_at)),
            )
        } else if let Some(s) = stored.get(&id) {
            let e: StoredErrors = serde_json::from_str(&s.errors).unwrap_or(StoredErrors {
                errors: Vec::new(),
                lines: Vec::new(),
            });
            (e.errors, e.lines, Some(utc(s.refused_at)))
        } else {
            (Vec::new(), Vec::new(), None)
        };
        let other_instances = instances
            .iter()
            .filter(|i| i.questionnaire_id == id && i.instance_id != instance)
            .filter(|i| q.is_none_or(|q| q.content_hash != i.content_hash))
            .map(|i| OtherInstance {
                instance: i.instance_id.clone(),
                version: i.version.clone(),
                content_hash: i.content_hash.clone(),
                seen_at: utc(i.seen_at),
            })
            .collect();
        out.push(AdminEntry {
            file: dir.join(format!("{id}.toml")).display().to_string(),
            version: q.map(|q| q.version.clone()),
            content_hash: q.map(|q| q.content_hash.clone()),
            items: q.map_or(0, |q| q.items.len()),
            examples: q.map_or(0, |q| q.examples.len()),
            loaded_at: l.map(|l| utc(DateTime::<Utc>::from(l.at).naive_utc())),
            offered: offered.get(&id).is_some(),
            withdrawn: withdrawn.contains(&id),
            serving: match (q, l) {
                (None, _) => "none",
                (Some(_), Some(l)) if l.from_store => "stored",
                (Some(_), _) => "file",
            }
            .to_string(),
            errors,
            error_lines,
            refused_at,
            other_instances,
            id,
        });
    }
    Ok(out)
}

/// One stored version and its use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionView {
    pub version: String,
    pub content_hash: String,
    /// When it was first stored (first loaded or first used).
    pub stored_at: String,
    /// When it first and last scored a screening (`null`: never).
    pub first_used_at: Option<String>,
    pub last_used_at: Option<String>,
    /// How many screenings it scored (counts under `privacy.min_cell` are `null`).
    pub screenings: Option<u64>,
    /// Whether this instance serves it now.
    pub live: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicationView {
    pub content_hash: String,
    pub old_version: Option<String>,
    pub new_version: String,
    /// `publish` or `rollback`.
    pub kind: String,
    /// The publishing user's id.
    pub published_by: Option<String>,
    pub published_at: String,
}

/// One questionnaire in full: its entry, versions, publications.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Detail {
    #[serde(flatten)]
    pub entry: AdminEntry,
    /// Oldest first.
    pub versions: Vec<VersionView>,
    /// Newest first.
    pub publications: Vec<PublicationView>,
    /// The text served now (`null` when none is).
    pub source: Option<String>,
}

fn suppress(n: u64, min_cell: u32) -> Option<u64> {
    (n == 0 || n >= u64::from(min_cell)).then_some(n)
}

pub fn detail(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    id: &str,
    instance: &str,
    now: NaiveDateTime,
    sync_interval: std::time::Duration,
    min_cell: u32,
) -> Result<Detail> {
    check_id(id)?;
    let entry = list(conn, catalog, instance, now, sync_interval)?
        .into_iter()
        .find(|e| e.id == id);
    let versions = store::versions(conn, id)?;
    let Some(entry) = entry.or_else(|| {
        (!versions.is_empty()).then(|| AdminEntry {
            id: id.to_string(),
            file: catalog
                .dir()
                .join(format!("{id}.toml"))
                .display()
                .to_string(),
            version: None,
            content_hash: None,
            items: 0,
            examples: 0,
            loaded_at: None,
            offered: false,
            withdrawn: false,
            serving: "none".into(),
            errors: Vec::new(),
            error_lines: Vec::new(),
            refused_at: None,
            other_instances: Vec::new(),
        })
    }) else {
        return Err(QuestionnaireAdminError::NotFound(format!(
            "no questionnaire {id}"
        )));
    };
    let uses = store::version_use(conn, id)?;
    let live = catalog.get_all().get(id).cloned();
    let versions = versions
        .into_iter()
        .map(|v| {
            let u = uses.iter().find(|u| u.content_hash == v.content_hash);
            VersionView {
                live: live
                    .as_ref()
                    .is_some_and(|q| q.content_hash == v.content_hash),
                version: v.version,
                content_hash: v.content_hash,
                stored_at: utc(v.first_used_at),
                first_used_at: u.and_then(|u| u.first_at).map(utc),
                last_used_at: u.and_then(|u| u.last_at).map(utc),
                screenings: suppress(u.map_or(0, |u| u.screenings.max(0) as u64), min_cell),
            }
        })
        .collect();
    let publications = store::publications(conn, id)?
        .into_iter()
        .map(|p| PublicationView {
            content_hash: p.content_hash,
            old_version: p.old_version,
            new_version: p.new_version,
            kind: p.kind,
            published_by: p.published_by,
            published_at: utc(p.published_at),
        })
        .collect();
    Ok(Detail {
        entry,
        versions,
        publications,
        source: live.map(|q| q.source.to_string()),
    })
}

/// A unified diff between two stored versions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Diff {
    pub from: DiffSide,
    pub to: DiffSide,
    /// Unified diff (`---`/`+++` headers, `@@` hunks, 3 lines of context).
    pub diff: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiffSide {
    pub version: String,
    pub content_hash: String,
}

/// A stored version of `id` named by its content hash (`sha256:...`) or its version.
fn resolve(conn: &mut AnyConnection, id: &str, which: &str) -> Result<store::VersionRow> {
    let versions = store::versions(conn, id)?;
    versions
        .into_iter()
        .rev()
        .find(|v| v.content_hash == which || v.version == which)
        .ok_or_else(|| {
            QuestionnaireAdminError::NotFound(format!(
                "{id} has no stored version {:?} (give a version or a content hash from its history)",
                which.chars().take(80).collect::<String>()
            ))
        })
}

pub fn diff(conn: &mut AnyConnection, id: &str, from: &str, to: &str) -> Result<Diff> {
    check_id(id)?;
    if from.is_empty() || to.is_empty() {
        return Err(QuestionnaireAdminError::BadRequest(
            "give both `from` and `to`: a version or a content hash each".into(),
        ));
    }
    let a = resolve(conn, id, from)?;
    let b = resolve(conn, id, to)?;
    let text = similar::TextDiff::from_lines(&a.source, &b.source)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{id}.toml {}", a.version),
            &format!("{id}.toml {}", b.version),
        )
        .to_string();
    Ok(Diff {
        from: DiffSide {
            version: a.version,
            content_hash: a.content_hash,
        },
        to: DiffSide {
            version: b.version,
            content_hash: b.content_hash,
        },
        diff: text,
    })
}

/// One cell of the old tier -> new tier table.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct TierChange {
    pub from: Tier,
    pub to: Tier,
    /// `null` when under `privacy.min_cell` (suppressed).
    pub count: Option<u64>,
    pub suppressed: bool,
}

/// A band or rule that fires for more or fewer of the stored screenings.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FiringChange {
    /// `<score>.<band>` or the rule's id.
    pub id: String,
    /// Screenings for which it fires under the new text and did not before (`null`: suppressed).
    pub newly_firing: Option<u64>,
    /// Screenings for which it fired and no longer does (`null`: suppressed).
    pub stopped_firing: Option<u64>,
}

/// An example (of the current or the new file) whose outcome differs between the two texts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExampleChange {
    pub name: String,
    /// Whose example: `current` or `new`.
    pub of: String,
    /// `null`: its answers do not fit that version.
    pub old_tier: Option<Tier>,
    pub new_tier: Option<Tier>,
    pub old_reasons: Vec<String>,
    pub new_reasons: Vec<String>,
}

/// The what-would-change report of an edit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    #[schema(example = "phq9")]
    pub questionnaire: String,
    pub version: String,
    pub content_hash: String,
    /// What serves now (`null` for a new questionnaire).
    pub current_version: Option<String>,
    pub current_hash: Option<String>,
    pub days: u32,
    pub from: String,
    pub to: String,
    /// Stored screenings of the current version in the window (`null`: suppressed).
    pub screenings: Option<u64>,
    /// Those whose answers do not fit the new text (an item removed or its scale changed).
    pub unscorable: Option<u64>,
    /// Old tier -> new tier, every pair with screenings.
    pub tier_changes: Vec<TierChange>,
    pub bands: Vec<FiringChange>,
    pub rules: Vec<FiringChange>,
    pub examples: Vec<ExampleChange>,
    /// The smallest count shown (`privacy.min_cell`).
    pub min_cell: u32,
    /// The form as a rider would see it (items, options, texts).
    #[schema(value_type = Object)]
    pub form: serde_json::Value,
}

/// The tally the report is made from, before suppression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub screenings: u64,
    pub unscorable: u64,
    pub tiers: BTreeMap<(Tier, Tier), u64>,
    /// id -> (newly firing, stopped firing)
    pub bands: BTreeMap<String, (u64, u64)>,
    pub rules: BTreeMap<String, (u64, u64)>,
}

fn reason_ids(reasons: &[Reason], kind: ReasonKind) -> BTreeSet<&str> {
    reasons
        .iter()
        .filter(|r| r.kind == kind)
        .map(|r| r.id.as_str())
        .collect()
}

impl Tally {
    /// Re-scores stored screenings under `new` and counts what changes.
    pub fn add(&mut self, new: &Questionnaire, rows: &[StoredOutcome]) {
        for row in rows {
            self.screenings += 1;
            let Some(old_tier) = Tier::parse(&row.tier) else {
                self.unscorable += 1;
                continue;
            };
            let Ok(answers) = AnswerSet::parse_json(new, &row.answers) else {
                self.unscorable += 1;
                continue;
            };
            let outcome = scoring::score(&answers);
            *self.tiers.entry((old_tier, outcome.tier)).or_default() += 1;
            let old_reasons: Vec<Reason> = serde_json::from_str(&row.reasons).unwrap_or_default();
            for (kind, map) in [
                (ReasonKind::Band, &mut self.bands),
                (ReasonKind::Rule, &mut self.rules),
            ] {
                let before = reason_ids(&old_reasons, kind);
                let after = reason_ids(&outcome.reasons, kind);
                for id in after.difference(&before) {
                    map.entry((*id).to_string()).or_default().0 += 1;
                }
                for id in before.difference(&after) {
                    map.entry((*id).to_string()).or_default().1 += 1;
                }
            }
        }
    }
}

/// Scores `answers` under `q`: `None` when they do not fit it.
fn outcome_of(q: &Questionnaire, answers: &serde_json::Value) -> Option<Outcome> {
    AnswerSet::parse(q, answers)
        .ok()
        .map(|a| scoring::score(&a))
}

fn ids_of(o: &Option<Outcome>) -> Vec<String> {
    o.as_ref()
        .map(|o| {
            o.reasons
                .iter()
                .map(|r| format!("{} {}", r.id, r.tier))
                .collect()
        })
        .unwrap_or_default()
}

fn example_changes(current: Option<&Questionnaire>, new: &Questionnaire) -> Vec<ExampleChange> {
    let Some(current) = current else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (of, q) in [("current", current), ("new", new)] {
        for ex in &q.examples {
            let old = outcome_of(current, &ex.answers);
            let next = outcome_of(new, &ex.answers);
            let same = match (&old, &next) {
                (Some(a), Some(b)) => a.tier == b.tier && a.reasons == b.reasons,
                (None, None) => true,
                _ => false,
            };
            if !same {
                out.push(ExampleChange {
                    name: ex.name.clone(),
                    of: of.to_string(),
                    old_tier: old.as_ref().map(|o| o.tier),
                    new_tier: next.as_ref().map(|o| o.tier),
                    old_reasons: ids_of(&old),
                    new_reasons: ids_of(&next),
                });
            }
        }
    }
    out
}

/// The report from a tally, every count under `min_cell` suppressed.
pub fn suppressed_counts(
    tally: &Tally,
    min_cell: u32,
) -> (Vec<TierChange>, Vec<FiringChange>, Vec<FiringChange>) {
    let tiers = tally
        .tiers
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|((from, to), n)| {
            let count = suppress(*n, min_cell);
            TierChange {
                from: *from,
                to: *to,
                count,
                suppressed: count.is_none(),
            }
        })
        .collect();
    let firing = |m: &BTreeMap<String, (u64, u64)>| {
        m.iter()
            .map(|(id, (up, down))| FiringChange {
                id: id.clone(),
                newly_firing: suppress(*up, min_cell),
                stopped_firing: suppress(*down, min_cell),
            })
            .collect::<Vec<_>>()
    };
    (tiers, firing(&tally.bands), firing(&tally.rules))
}

/// Parses an edit exactly as `careline check` does (its examples run too).
pub fn check_source(id: &str, source: &str) -> Result<Questionnaire> {
    check_id(id)?;
    if source.trim().is_empty() {
        return Err(QuestionnaireAdminError::BadRequest(
            "`source` is empty: paste the questionnaire's TOML text".into(),
        ));
    }
    parse_questionnaire(&format!("{id}.toml"), Some(id), source)
        .map_err(|d| QuestionnaireAdminError::Invalid(d.iter().map(ToString::to_string).collect()))
}

/// The what-would-change report of `source` over the screenings of the current version in
/// the last `days` days.
pub fn preview(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    id: &str,
    source: &str,
    days: u32,
    min_cell: u32,
    now: NaiveDateTime,
) -> Result<Report> {
    if !(1..=3660).contains(&days) {
        return Err(QuestionnaireAdminError::BadRequest(
            "`days` must be 1 to 3660 (the default is 90)".into(),
        ));
    }
    let new = check_source(id, source)?;
    let current = catalog.get_all().get(id).cloned();
    let since = now - chrono::Duration::days(i64::from(days));
    let mut tally = Tally::default();
    if let Some(cur) = &current {
        store::for_each_scored_by(conn, &cur.content_hash, since, 5_000, &mut |rows| {
            tally.add(&new, rows)
        })?;
    }
    let (tier_changes, bands, rules) = suppressed_counts(&tally, min_cell);
    Ok(Report {
        questionnaire: id.to_string(),
        version: new.version.clone(),
        content_hash: new.content_hash.clone(),
        current_version: current.as_ref().map(|q| q.version.clone()),
        current_hash: current.as_ref().map(|q| q.content_hash.clone()),
        days,
        from: utc(since),
        to: utc(now),
        screenings: suppress(tally.screenings, min_cell),
        unscorable: suppress(tally.unscorable, min_cell),
        tier_changes,
        bands,
        rules,
        examples: example_changes(current.as_deref(), &new),
        min_cell,
        form: serde_json::to_value(&new).unwrap_or_default(),
    })
}

/// Dotted numeric versions compared part by part (`1.10.0` > `1.9.2`); `None` when either
/// is not of that form.
pub fn compare_versions(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let parts = |v: &str| -> Option<Vec<u64>> { v.split('.').map(|p| p.parse().ok()).collect() };
    let (a, b) = (parts(a)?, parts(b)?);
    let n = a.len().max(b.len());
    let at = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
    Some(
        (0..n)
            .map(|i| at(&a, i).cmp(&at(&b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal),
    )
}

/// The highest version known of `id`: served or stored.
fn highest_version(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    id: &str,
) -> Result<Option<String>> {
    let mut known: Vec<String> = store::versions(conn, id)?
        .into_iter()
        .map(|v| v.version)
        .collect();
    if let Some(q) = catalog.get_all().get(id) {
        known.push(q.version.clone());
    }
    Ok(known.into_iter().reduce(|a, b| {
        if compare_versions(&b, &a).is_some_and(|o| o.is_gt()) {
            b
        } else {
            a
        }
    }))
}

/// What a publication did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Published {
    pub questionnaire: String,
    pub version: String,
    pub content_hash: String,
    pub old_version: Option<String>,
    /// `publish` or `rollback`.
    pub kind: String,
    /// The report over the last 90 days, as recorded in the audit log.
    pub report: Report,
}

/// Publishes `source` as `id`: checked, its version above every known one, the file written
/// atomically into the folder (a temporary file renamed over it) in the transaction that
/// records the publication and its audit row, then the folder reloaded and the new version
/// proven served.
#[expect(
    clippy::too_many_arguments,
    reason = "the use case's inputs, each distinct"
)]
pub fn publish(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    who: &Who,
    id: &str,
    source: &str,
    kind: &str,
    min_cell: u32,
    now: NaiveDateTime,
) -> Result<Published> {
    let new = check_source(id, source)?;
    let current = catalog.get_all().get(id).cloned();
    if current
        .as_ref()
        .is_some_and(|c| c.content_hash == new.content_hash)
    {
        return Err(QuestionnaireAdminError::NotBumped(format!(
            "this text is the one {id} serves (version {}): nothing to publish",
            new.version
        )));
    }
    if let Some(high) = highest_version(conn, catalog, id)? {
        let bumped = compare_versions(&new.version, &high).is_some_and(|o| o.is_gt());
        if !bumped {
            return Err(QuestionnaireAdminError::NotBumped(format!(
                "version {:?} was not bumped: {id} has been {high:?} already; set `version` above it (e.g. a higher last number)",
                new.version
            )));
        }
    }
    let report = preview(conn, catalog, id, source, 90, min_cell, now)?;
    let old_version = current.as_ref().map(|q| q.version.clone());
    let dir = catalog.dir().to_path_buf();
    crate::db::write_transaction(conn, |c| -> Result<()> {
        store::ensure_version(
            c,
            &NewVersion {
                content_hash: &new.content_hash,
                questionnaire_id: id,
                version: &new.version,
                source,
                first_used_at: now,
            },
        )?;
        store::insert_publication(
            c,
            &PublicationRow {
                id: uuid::Uuid::now_v7().to_string(),
                questionnaire_id: id.to_string(),
                content_hash: new.content_hash.clone(),
                old_version: old_version.clone(),
                new_version: new.version.clone(),
                kind: kind.to_string(),
                published_by: who.user_id.clone(),
                published_at: now,
            },
        )?;
        audit::record(
            c,
            who,
            &format!("questionnaire.{kind}"),
            Some(id),
            serde_json::json!({
                "content_hash": new.content_hash,
                "old_hash": current.as_ref().map(|q| q.content_hash.clone()),
                "old_version": old_version,
                "new_version": new.version,
                "report": {
                    "days": report.days,
                    "screenings": report.screenings,
                    "unscorable": report.unscorable,
                    "tier_changes": report.tier_changes,
                },
            }),
        )?;
        // Last: a failed write rolls the records back.
        write_atomically(&dir, id, source).map_err(|e| QuestionnaireAdminError::Io(e.to_string()))
    })?;
    catalog
        .reload()
        .map_err(|e| QuestionnaireAdminError::Io(e.to_string()))?;
    let served = catalog.get_all().get(id).map(|q| q.content_hash.clone());
    if served.as_deref() != Some(new.content_hash.as_str()) {
        return Err(QuestionnaireAdminError::Io(format!(
            "{id}.toml was written but the reload serves {served:?}"
        )));
    }
    tracing::info!(questionnaire = %id, version = %new.version, hash = %new.content_hash, kind, "questionnaire published");
    Ok(Published {
        questionnaire: id.to_string(),
        version: new.version.clone(),
        content_hash: new.content_hash.clone(),
        old_version: report.current_version.clone(),
        kind: kind.to_string(),
        report,
    })
}

/// Writes `<dir>/<id>.toml` so no reader sees half a file: a temporary file in the same
/// folder (not `*.toml`, so the loader skips it), flushed to disk, renamed over the old one.
fn write_atomically(dir: &std::path::Path, id: &str, source: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(".{id}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(source.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(format!("{id}.toml")))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `source` with its top-level `version = "..."` line set to `version`.
pub fn with_version(source: &str, version: &str) -> Option<String> {
    let mut done = false;
    let mut out = String::with_capacity(source.len() + 8);
    for line in source.split_inclusive('\n') {
        let t = line.trim_start();
        if !done && t.starts_with('[') {
            // Past the top level: no version line there.
            return None;
        }
        if !done
            && t.strip_prefix("version")
                .is_some_and(|r| r.trim_start().starts_with('='))
        {
            let end = if line.ends_with("\r\n") {
                "\r\n"
            } else if line.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            out.push_str(&format!("version = \"{version}\"{end}"));
            done = true;
            continue;
        }
        out.push_str(line);
    }
    done.then_some(out)
}

/// The next version after `v`: its last number plus one (`1.2.0` -> `1.2.1`).
fn next_version(v: &str) -> Option<String> {
    let mut parts: Vec<u64> = v
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    *parts.last_mut()? += 1;
    Some(
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Publishes a stored earlier version again, as a new version number (`version`, or the
/// highest known one with its last number plus one).
#[expect(
    clippy::too_many_arguments,
    reason = "the use case's inputs, each distinct"
)]
pub fn rollback(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    who: &Who,
    id: &str,
    to: &str,
    version: Option<&str>,
    min_cell: u32,
    now: NaiveDateTime,
) -> Result<Published> {
    check_id(id)?;
    if to.is_empty() {
        return Err(QuestionnaireAdminError::BadRequest(
            "`to` is missing: the version or content hash to roll back to".into(),
        ));
    }
    let stored = resolve(conn, id, to)?;
    let version = match version {
        Some(v) => v.to_string(),
        None => highest_version(conn, catalog, id)?
            .and_then(|h| next_version(&h))
            .ok_or_else(|| {
                QuestionnaireAdminError::BadRequest(
                    "give `version`: the versions are not dotted numbers, so the next one cannot be worked out".into(),
                )
            })?,
    };
    if version.is_empty() || version.len() > 40 || version.contains(['"', '\\', '\n', '\r']) {
        return Err(QuestionnaireAdminError::BadRequest(
            "`version` must be 1 to 40 characters without quotes, backslashes or line breaks"
                .into(),
        ));
    }
    let source = with_version(&stored.source, &version).ok_or_else(|| {
        QuestionnaireAdminError::BadRequest(format!(
            "the stored version {} has no top-level `version = ...` line to set",
            stored.version
        ))
    })?;
    publish(conn, catalog, who, id, &source, "rollback", min_cell, now)
}

/// Withdraws `id` from riders (true), or offers it again (`restore`); its versions stay.
pub fn set_offered(
    conn: &mut AnyConnection,
    catalog: &LiveCatalog,
    who: &Who,
    id: &str,
    offered: bool,
    now: NaiveDateTime,
) -> Result<bool> {
    check_id(id)?;
    let known = catalog.get_all().get(id).is_some() || !store::versions(conn, id)?.is_empty();
    if !known {
        return Err(QuestionnaireAdminError::NotFound(format!(
            "no questionnaire {id}"
        )));
    }
    let changed = crate::db::write_transaction(conn, |c| -> Result<bool> {
        let changed = if offered {
            store::restore(c, id)?
        } else {
            store::withdraw(c, id, who.user_id.as_deref(), now)?
        };
        if changed {
            audit::record(
                c,
                who,
                if offered {
                    "questionnaire.restore"
                } else {
                    "questionnaire.withdraw"
                },
                Some(id),
                serde_json::json!({}),
            )?;
        }
        Ok(changed)
    })?;
    catalog.set_withdrawn(store::withdrawn(conn)?.into_iter().collect());
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers_part_by_part() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("1.10.0", "1.9.2"), Some(Greater));
        assert_eq!(compare_versions("1.1", "1.1.0"), Some(Equal));
        assert_eq!(compare_versions("1.1.0", "1.1.1"), Some(Less));
        assert_eq!(compare_versions("1.x", "1.1"), None);
        assert_eq!(next_version("1.2.9").as_deref(), Some("1.2.10"));
    }

    #[test]
    fn the_version_line_is_replaced_at_the_top_level_only() {
        let src = "id = \"x\"\nversion = \"1.0.0\"\n[a]\nversion = \"keep\"\n";
        assert_eq!(
            with_version(src, "2.0.0").as_deref(),
            Some("id = \"x\"\nversion = \"2.0.0\"\n[a]\nversion = \"keep\"\n")
        );
        assert_eq!(with_version("[a]\nversion = \"1\"\n", "2"), None);
    }

    #[test]
    fn counts_under_the_minimum_cell_are_suppressed_but_zero_is_not() {
        let mut t = Tally::default();
        t.tiers.insert((Tier::Yellow, Tier::Green), 12);
        t.tiers.insert((Tier::Yellow, Tier::Yellow), 3);
        t.bands.insert("total.moderate".into(), (0, 12));
        let (tiers, bands, _) = suppressed_counts(&t, 10);
        assert_eq!((tiers[0].from, tiers[0].to), (Tier::Yellow, Tier::Green));
        assert_eq!(tiers[0].count, Some(12));
        assert_eq!(tiers[1].count, None);
        assert!(tiers[1].suppressed);
        assert_eq!(bands[0].newly_firing, Some(0));
        assert_eq!(bands[0].stopped_firing, Some(12));
    }
}
