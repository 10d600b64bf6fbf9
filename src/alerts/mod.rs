//! Alerts: what a yellow or red screening sets in motion for counselors. The lifecycle
//! (open -> acknowledged -> resolved, back to open by un-acknowledging), the risk-ordered
//! queue, the alert page's content, and the access rules, each transition compare-and-set
//! and recorded on the alert's timeline and in the audit log in the same transaction.
//!
//! Synchronous (diesel): callers run these on the blocking pool.
//!
//! Layer: use cases (above `jobs`). ARCHITECTURE.md maps the layers.

pub mod clusters;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{Principal, Role};
use crate::audit;
use crate::catalog::Catalog;
use crate::config::{AlertSettings, EscalationPolicy};
use crate::contact::ContactCipher;
use crate::db::alerts::{self as store, AlertRow, EventRow, Filter, NewAlert};
use crate::db::screenings::ScreeningRow;
use crate::db::{AnyConnection, DbError, write_transaction};
use crate::questionnaire::{Questionnaire, Tier};
use crate::scoring::{Outcome, Reason, ReasonKind};

/// Crockford's base32 without look-alikes (no I, L, O, U): easy to read over the phone.
const REFERENCE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A short human reference like `A-7F3K`; `len` characters after the prefix.
pub fn new_reference(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::fill(bytes.as_mut_slice());
    let body: String = bytes
        .iter()
        .map(|b| REFERENCE_ALPHABET[usize::from(*b) % REFERENCE_ALPHABET.len()] as char)
        .collect();
    format!("A-{body}")
}

pub fn valid_reference(s: &str) -> bool {
    s.strip_prefix("A-").is_some_and(|b| {
        (4..=12).contains(&b.len()) && b.bytes().all(|c| REFERENCE_ALPHABET.contains(&c))
    })
}

/// Queue order: urgent red 0, red 1, yellow 2.
pub fn priority(tier: Tier, urgent: bool) -> i32 {
    match (tier, urgent) {
        (Tier::Red, true) => 0,
        (Tier::Red, false) => 1,
        _ => 2,
    }
}

/// The alert a scored screening needs, if any (yellow and red only).
pub fn new_alert(
    outcome: &Outcome,
    settings: &AlertSettings,
    policy: &EscalationPolicy,
    now: NaiveDateTime,
) -> Option<NewAlert> {
    let window = match (outcome.tier, outcome.urgent) {
        (Tier::Green, _) => return None,
        (Tier::Red, true) => settings.urgent_deadline,
        (Tier::Red, false) => settings.red_deadline,
        (Tier::Yellow, _) => settings.yellow_deadline,
    };
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::minutes(15));
    // Four characters, then longer ones should (rarely) all four-character tries be taken.
    let mut references: Vec<String> = (0..6).map(|_| new_reference(4)).collect();
    references.extend((0..4).map(|_| new_reference(8)));
    Some(NewAlert {
        id: uuid::Uuid::now_v7().to_string(),
        references,
        tier: outcome.tier.as_str().into(),
        urgent: outcome.urgent,
        priority: priority(outcome.tier, outcome.urgent),
        reasons: serde_json::to_string(&outcome.reasons).unwrap_or_else(|_| "[]".into()),
        created_at: now,
        deadline_at: now + window,
        policy: serde_json::to_string(policy).ok(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Open, Status::Acknowledged, Status::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How an alert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    ContactedSafe,
    Referred,
    EmergencyServices,
    Unreachable,
    FalsePositive,
    Other,
}

impl Resolution {
    pub const ALL: [Resolution; 6] = [
        Resolution::ContactedSafe,
        Resolution::Referred,
        Resolution::EmergencyServices,
        Resolution::Unreachable,
        Resolution::FalsePositive,
        Resolution::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::ContactedSafe => "contacted_safe",
            Resolution::Referred => "referred",
            Resolution::EmergencyServices => "emergency_services",
            Resolution::Unreachable => "unreachable",
            Resolution::FalsePositive => "false_positive",
            Resolution::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Someone named on an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub name: String,
}

/// An alert as the queue lists it: no answers, no contact.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertSummary {
    pub id: String,
    /// Short reference to say aloud or type: `A-7F3K`.
    #[schema(example = "A-7F3K")]
    pub reference: String,
    pub tier: Tier,
    pub urgent: bool,
    pub status: Status,
    pub site: Option<String>,
    /// UTC, RFC 3339.
    pub created_at: String,
    pub deadline_at: String,
    /// Seconds until the deadline; negative once it has passed.
    pub seconds_left: i64,
    pub assignee: Option<Person>,
    pub outcome: Option<Resolution>,
    /// The rider left a phone number with consent (an identified rider). Pages only: the
    /// API's cluster entries carry it as their own field.
    #[serde(skip)]
    pub has_contact: bool,
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn summary(row: &AlertRow, names: &HashMap<String, String>, now: NaiveDateTime) -> AlertSummary {
    AlertSummary {
        id: row.id.clone(),
        reference: row.reference.clone(),
        tier: Tier::parse(&row.tier).unwrap_or(Tier::Red),
        urgent: row.urgent,
        status: Status::parse(&row.status).unwrap_or(Status::Open),
        site: row.site.clone(),
        created_at: rfc3339(row.created_at),
        deadline_at: rfc3339(row.deadline_at),
        seconds_left: (row.deadline_at - now).num_seconds(),
        assignee: row.assignee_id.as_ref().map(|id| Person {
            id: id.clone(),
            name: names.get(id).cloned().unwrap_or_default(),
        }),
        outcome: row.outcome.as_deref().and_then(Resolution::parse),
        has_contact: row.rider_key.is_some(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// Unknown, or not visible to this user: the same answer, so ids cannot be probed.
    #[error("no such alert")]
    NotFound,
    /// The user's role does not work alerts at all.
    #[error("this area is for counselors and supervisors")]
    Forbidden,
    #[error("{message}")]
    Conflict {
        message: String,
        alert: Box<Option<AlertSummary>>,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Exists but belongs to sites the user does not serve: reported as `NotFound`.
    #[error("no such alert")]
    Denied(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn require_worker(who: &Principal) -> Result<(), AlertError> {
    if who.role.works_alerts() {
        Ok(())
    } else {
        Err(AlertError::Forbidden)
    }
}

/// Queue filters. Empty lists mean "any"; the default statuses are open and acknowledged.
#[derive(Debug, Clone, Default)]
pub struct QueueQuery {
    pub statuses: Vec<Status>,
    pub tiers: Vec<Tier>,
    pub site: Option<String>,
    pub limit: Option<i64>,
    /// Where the page starts (`next_cursor` of the page before).
    pub after: Option<store::Cursor>,
}

/// One page of the queue.
#[derive(Debug, Clone)]
pub struct QueuePage {
    /// In queue order.
    pub alerts: Vec<AlertSummary>,
    /// Every alert the filters select, over all pages (a count query).
    pub total: i64,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Suspected floods, one row each (their alerts are not in `alerts` nor `total`).
    pub clusters: Vec<clusters::ClusterSummary>,
}

fn names_for(
    conn: &mut AnyConnection,
    ids: Vec<String>,
) -> Result<HashMap<String, String>, DbError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(store::user_names(conn, &ids)?.into_iter().collect())
}

/// The queue the user may see: urgent red, red, yellow, each by deadline.
/// The alert changes (timeline rows) after the row `after` that this user may see, oldest
/// first, at most `limit`: what a reconnecting live stream missed. `after` None: the newest
/// row's id and nothing to send (where a fresh stream starts).
pub fn changes_after(
    conn: &mut AnyConnection,
    who: &Principal,
    after: Option<&str>,
    limit: i64,
) -> Result<(Option<String>, Vec<store::EventRef>), AlertError> {
    require_worker(who)?;
    match after {
        None => Ok((store::latest_event_id(conn)?, Vec::new())),
        Some(after) => {
            let rows = store::events_after(conn, after, who.visible_sites(), limit)?;
            Ok((Some(after.to_string()), rows))
        }
    }
}

fn queue_filter(who: &Principal, q: &QueueQuery) -> Filter {
    let statuses = if q.statuses.is_empty() {
        vec![Status::Open, Status::Acknowledged]
    } else {
        q.statuses.clone()
    };
    Filter {
        statuses: statuses.iter().map(|s| s.as_str().to_string()).collect(),
        tiers: q.tiers.iter().map(|t| t.as_str().to_string()).collect(),
        site: q.site.clone(),
        visible_sites: who.visible_sites(),
        limit: q.limit.unwrap_or(200).clamp(1, 500),
        after: q.after.clone(),
        // A suspected flood is one row of its own (`clusters`), not hundreds in the queue.
        cluster: Some(None),
    }
}

/// The alerts of one page outside clusters, and whether more follow.
fn page_rows(
    conn: &mut AnyConnection,
    filter: &Filter,
) -> Result<(Vec<AlertSummary>, Option<String>), AlertError> {
    let mut probe = filter.clone();
    probe.limit = filter.limit + 1;
    let mut rows = store::list(conn, &probe)?;
    let more = rows.len() > usize::try_from(filter.limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(filter.limit).unwrap_or(usize::MAX));
    let next = if more {
        rows.last().map(|r| store::Cursor::of(r).encode())
    } else {
        None
    };
    let names = names_for(
        conn,
        rows.iter().filter_map(|r| r.assignee_id.clone()).collect(),
    )?;
    let now = Utc::now().naive_utc();
    Ok((rows.iter().map(|r| summary(r, &names, now)).collect(), next))
}

/// The queue the user may see: urgent red, red, yellow, each by deadline (the first page).
pub fn queue(
    conn: &mut AnyConnection,
    who: &Principal,
    q: &QueueQuery,
) -> Result<Vec<AlertSummary>, AlertError> {
    require_worker(who)?;
    Ok(page_rows(conn, &queue_filter(who, q))?.0)
}

/// One page of the queue: its alerts, the exact total, and where the next page starts.
pub fn queue_page(
    conn: &mut AnyConnection,
    who: &Principal,
    q: &QueueQuery,
) -> Result<QueuePage, AlertError> {
    require_worker(who)?;
    let filter = queue_filter(who, q);
    let (alerts, next_cursor) = page_rows(conn, &filter)?;
    let total = store::count(conn, &filter)?;
    let clusters = clusters::queue_clusters(conn, who, q.site.as_deref())?;
    Ok(QueuePage {
        alerts,
        total,
        next_cursor,
        clusters,
    })
}

/// Loads an alert by id or reference if this user may see it. A counselor asking for another
/// site's alert gets `NotFound`, and the attempt is audited.
fn visible(conn: &mut AnyConnection, who: &Principal, key: &str) -> Result<AlertRow, AlertError> {
    require_worker(who)?;
    let row = if valid_reference(key) {
        store::find_by_reference(conn, key)?
    } else {
        store::find(conn, key)?
    };
    match row {
        Some(row) if who.serves(row.site.as_deref()) => Ok(row),
        Some(row) => Err(AlertError::Denied(row.id)),
        None => Err(AlertError::NotFound),
    }
}

/// Records a refused look at another site's alert (after the refused transaction rolled
/// back, so the record stays) and answers as if the alert did not exist.
fn audited<T>(
    conn: &mut AnyConnection,
    who: &Principal,
    result: Result<T, AlertError>,
) -> Result<T, AlertError> {
    match result {
        Err(AlertError::Denied(id)) => {
            audit::record(
                conn,
                &who.who(),
                "alert.access_denied",
                Some(&id),
                serde_json::json!({"reason": "not one of this user's sites"}),
            )?;
            Err(AlertError::NotFound)
        }
        other => other,
    }
}

/// A reason with its text for counselors.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReasonView {
    pub kind: ReasonKind,
    pub id: String,
    pub tier: Tier,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerView {
    pub item: String,
    pub text: String,
    /// `null` when unanswered (or not asked).
    pub value: Option<i64>,
    pub label: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScreeningView {
    pub id: String,
    pub questionnaire: String,
    pub title: String,
    pub version: String,
    pub submitted_at: String,
    pub tier: Tier,
    pub urgent: bool,
    pub site: Option<String>,
    /// The language the rider answered in.
    pub locale: String,
    #[schema(value_type = Object)]
    pub scores: serde_json::Value,
    #[schema(value_type = Object)]
    pub bands: serde_json::Value,
    pub reasons: Vec<ReasonView>,
    pub answers: Vec<AnswerView>,
    /// Score id -> its label, and `<score>.<band>` -> the band's label, in the reader's
    /// language (pages only).
    #[serde(skip)]
    pub labels: HashMap<String, String>,
}

/// An earlier screening of the same identified rider (no answers: open its own alert for those).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EarlierScreening {
    pub id: String,
    pub questionnaire: String,
    pub submitted_at: String,
    pub tier: Tier,
    #[schema(value_type = Object)]
    pub scores: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub at: String,
    /// opened, attached, acknowledged, unacknowledged, reassigned, note, resolved.
    pub kind: String,
    pub actor: Option<Person>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactView {
    pub name: Option<String>,
    pub phone: String,
}

/// Everything the alert page shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertDetail {
    pub alert: AlertSummary,
    pub reasons: Vec<ReasonView>,
    pub screenings: Vec<ScreeningView>,
    pub timeline: Vec<EventView>,
    /// Only when the rider consented to be contacted.
    pub contact: Option<ContactView>,
    /// Only for an identified rider (one who left contact details).
    pub earlier_screenings: Vec<EarlierScreening>,
}

/// What the alert page needs besides the database.
#[derive(Debug, Clone, Copy)]
pub struct DetailContext<'a> {
    pub catalog: &'a Catalog,
    pub cipher: &'a ContactCipher,
}

fn questionnaire_for(
    conn: &mut AnyConnection,
    catalog: &Catalog,
    id: &str,
    hash: &str,
    cache: &mut HashMap<String, Option<Arc<Questionnaire>>>,
) -> Result<Option<Arc<Questionnaire>>, DbError> {
    if let Some(q) = catalog.get(id)
        && q.content_hash == hash
    {
        return Ok(Some(Arc::clone(q)));
    }
    if let Some(q) = cache.get(hash) {
        return Ok(q.clone());
    }
    // The version that scored it, from its stored source: old results stay explainable.
    let parsed = crate::db::screenings::find_version_source(conn, hash)?
        .and_then(|src| crate::catalog::parse_questionnaire(id, None, &src).ok())
        .map(Arc::new);
    cache.insert(hash.to_string(), parsed.clone());
    Ok(parsed)
}

/// A reason that comes from no questionnaire (a contact request), in `locale`.
pub fn reason_text_for(r: &Reason, locale: &str) -> String {
    reason_text(None, r, locale)
}

fn reason_text(q: Option<&Questionnaire>, r: &Reason, locale: &str) -> String {
    if let Some(q) = q
        && let Some(rule) = q.rule(&r.id)
    {
        return rule.reason.get(locale, &q.default_locale).to_string();
    }
    let t = crate::i18n::Tr(crate::i18n::Lang::parse(locale).unwrap_or(crate::i18n::Lang::DEFAULT));
    match r.kind {
        ReasonKind::Request => {
            let lang = crate::i18n::Lang::parse(locale).unwrap_or(crate::i18n::Lang::ZhCn);
            crate::i18n::Tr(lang).tr(&format!("ws-reason-{}", r.id.replace('_', "-")))
        }
        ReasonKind::RuleError => {
            t.tr_args("ws-reason-rule-error", &[("rule", r.id.replace('_', " "))])
        }
        ReasonKind::Band => match r.id.split_once('.') {
            Some((score, band)) => format!(
                "{}: {}",
                score_label(q, score, locale),
                band_label(q, score, band, locale)
            ),
            None => r.id.clone(),
        },
        ReasonKind::Rule => r.id.replace('_', " "),
    }
}

/// A score as staff read it (issue 13): the questionnaire's own `label` in the reader's
/// language, else the workspace's words for common score ids (`ws-score-<id>`), else the id.
pub fn score_label(q: Option<&Questionnaire>, score: &str, locale: &str) -> String {
    if let Some(q) = q
        && let Some(label) = q.score(score).and_then(|s| s.label.as_ref())
    {
        return label.get(locale, &q.default_locale).to_string();
    }
    let t = crate::i18n::Tr(crate::i18n::Lang::parse(locale).unwrap_or(crate::i18n::Lang::DEFAULT));
    let key = format!("ws-score-{score}");
    if t.has(&key) {
        t.tr(&key)
    } else {
        score.replace('_', " ")
    }
}

/// A band as staff read it: the questionnaire's `label`, else `ws-band-<name>`, else the
/// name.
pub fn band_label(q: Option<&Questionnaire>, score: &str, band: &str, locale: &str) -> String {
    if let Some(q) = q
        && let Some(label) = q
            .score(score)
            .and_then(|s| s.bands.iter().find(|b| b.name == band))
            .and_then(|b| b.label.as_ref())
    {
        return label.get(locale, &q.default_locale).to_string();
    }
    let t = crate::i18n::Tr(crate::i18n::Lang::parse(locale).unwrap_or(crate::i18n::Lang::DEFAULT));
    let key = format!("ws-band-{band}");
    if t.has(&key) {
        t.tr(&key)
    } else {
        band.replace('_', " ")
    }
}

fn screening_view(
    conn: &mut AnyConnection,
    ctx: DetailContext<'_>,
    row: &ScreeningRow,
    locale: &str,
    cache: &mut HashMap<String, Option<Arc<Questionnaire>>>,
) -> Result<ScreeningView, DbError> {
    let q = questionnaire_for(
        conn,
        ctx.catalog,
        &row.questionnaire_id,
        &row.content_hash,
        cache,
    )?;
    let q = q.as_deref();
    let answers: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.answers).unwrap_or_default();
    let reasons: Vec<Reason> = serde_json::from_str(&row.reasons).unwrap_or_default();
    let answers = match q {
        Some(q) => q
            .items
            .iter()
            .map(|item| {
                let value = answers.get(&item.id).and_then(serde_json::Value::as_i64);
                let scale = q.scale_of(item);
                AnswerView {
                    item: item.id.clone(),
                    text: item.text.get(locale, &q.default_locale).to_string(),
                    value,
                    label: value.and_then(|v| {
                        scale
                            .choices
                            .iter()
                            .find(|c| c.value == v)
                            .map(|c| c.label.get(locale, &q.default_locale).to_string())
                    }),
                }
            })
            .collect(),
        None => answers
            .iter()
            .map(|(k, v)| AnswerView {
                item: k.clone(),
                text: k.clone(),
                value: v.as_i64(),
                label: None,
            })
            .collect(),
    };
    let scores: serde_json::Value = serde_json::from_str(&row.scores).unwrap_or_default();
    let bands: serde_json::Value = serde_json::from_str(&row.bands).unwrap_or_default();
    let mut labels = HashMap::new();
    if let Some(m) = scores.as_object() {
        for id in m.keys() {
            labels.insert(id.clone(), score_label(q, id, locale));
            if let Some(band) = bands.get(id).and_then(serde_json::Value::as_str) {
                let text = if band == "incomplete" {
                    let t = crate::i18n::Tr(
                        crate::i18n::Lang::parse(locale).unwrap_or(crate::i18n::Lang::DEFAULT),
                    );
                    t.tr("ws-band-incomplete")
                } else {
                    band_label(q, id, band, locale)
                };
                labels.insert(format!("{id}.{band}"), text);
            }
        }
    }
    Ok(ScreeningView {
        labels,
        id: row.id.clone(),
        questionnaire: row.questionnaire_id.clone(),
        title: q.map_or_else(
            || row.questionnaire_id.clone(),
            |q| q.title.get(locale, &q.default_locale).to_string(),
        ),
        version: q.map_or_else(String::new, |q| q.version.clone()),
        submitted_at: rfc3339(row.submitted_at),
        tier: Tier::parse(&row.tier).unwrap_or(Tier::Red),
        urgent: row.urgent,
        site: row.site.clone(),
        locale: row.locale.clone(),
        scores,
        bands,
        reasons: reasons
            .iter()
            .map(|r| ReasonView {
                kind: r.kind,
                id: r.id.clone(),
                tier: r.tier,
                text: reason_text(q, r, locale),
            })
            .collect(),
        answers,
    })
}

/// The alert page: answers in the counselor's language, scores, reasons, timeline, contact (if
/// consented) and the rider's earlier screenings. Writes exactly one audit row: the view.
pub fn detail(
    conn: &mut AnyConnection,
    ctx: DetailContext<'_>,
    who: &Principal,
    key: &str,
) -> Result<AlertDetail, AlertError> {
    let result = write_transaction(conn, |conn| {
        let row = visible(conn, who, key)?;
        let now = Utc::now().naive_utc();
        let locale = who.locale.clone();
        let mut cache = HashMap::new();
        let screening_rows = store::screenings_of(conn, &row.id)?;
        let mut screenings = Vec::with_capacity(screening_rows.len());
        for s in &screening_rows {
            screenings.push(screening_view(conn, ctx, s, &locale, &mut cache)?);
        }
        let mut contact = None;
        for s in screening_rows.iter().rev() {
            if let Some((nonce, sealed)) = crate::db::screenings::find_contact(conn, &s.id)?
                && let Some(c) = ctx.cipher.decrypt(&nonce, &sealed, &s.id)
            {
                contact = Some(ContactView {
                    name: c.name,
                    phone: c.phone,
                });
                break;
            }
        }
        let earlier = match &row.rider_key {
            Some(key) => store::earlier_screenings(conn, key, &row.id)?
                .into_iter()
                .map(|s| EarlierScreening {
                    id: s.id,
                    questionnaire: s.questionnaire_id,
                    submitted_at: rfc3339(s.submitted_at),
                    tier: Tier::parse(&s.tier).unwrap_or(Tier::Green),
                    scores: serde_json::from_str(&s.scores).unwrap_or_default(),
                })
                .collect(),
            None => Vec::new(),
        };
        let events = store::events(conn, &row.id)?;
        let mut ids: Vec<String> = events.iter().filter_map(|e| e.actor_id.clone()).collect();
        ids.extend(row.assignee_id.clone());
        let names = names_for(conn, ids)?;
        let timeline = events
            .iter()
            .map(|e| EventView {
                at: rfc3339(e.at),
                kind: e.kind.clone(),
                actor: e.actor_id.as_ref().map(|id| Person {
                    id: id.clone(),
                    name: names.get(id).cloned().unwrap_or_default(),
                }),
                detail: serde_json::from_str(&e.detail).unwrap_or_default(),
            })
            .collect();
        let alert_reasons: Vec<Reason> = serde_json::from_str(&row.reasons).unwrap_or_default();
        let first_q = screening_rows.last().and_then(|s| {
            questionnaire_for(
                conn,
                ctx.catalog,
                &s.questionnaire_id,
                &s.content_hash,
                &mut cache,
            )
            .ok()
            .flatten()
        });
        let reasons = alert_reasons
            .iter()
            .map(|r| ReasonView {
                kind: r.kind,
                id: r.id.clone(),
                tier: r.tier,
                text: reason_text(first_q.as_deref(), r, &locale),
            })
            .collect();
        audit::record(
            conn,
            &who.who(),
            "alert.viewed",
            Some(&row.id),
            serde_json::json!({
                "reference": row.reference,
                "answers": true,
                "contact": contact.is_some(),
                "screenings": screening_rows.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            }),
        )?;
        Ok(AlertDetail {
            alert: summary(&row, &names, now),
            reasons,
            screenings,
            timeline,
            contact,
            earlier_screenings: earlier,
        })
    });
    audited(conn, who, result)
}

/// The alert's screenings as a FHIR R4 `Bundle` (`collection`) of `QuestionnaireResponse`s,
/// newest first, for a referral; with `include_contact` and a consented contact, a `Patient`
/// with the name and phone that each response's `subject` refers to. Same access as
/// [`detail`]; writes exactly one audit row (`alert.fhir_exported`, saying whether contact
/// details went out), or `alert.access_denied`.
pub fn fhir_export(
    conn: &mut AnyConnection,
    ctx: DetailContext<'_>,
    who: &Principal,
    key: &str,
    include_contact: bool,
) -> Result<(String, serde_json::Value), AlertError> {
    let result = write_transaction(conn, |conn| {
        let row = visible(conn, who, key)?;
        let now = Utc::now().naive_utc();
        let mut cache = HashMap::new();
        let screening_rows = store::screenings_of(conn, &row.id)?;
        let mut contact = None;
        if include_contact {
            for s in screening_rows.iter().rev() {
                if let Some((nonce, sealed)) = crate::db::screenings::find_contact(conn, &s.id)?
                    && let Some(c) = ctx.cipher.decrypt(&nonce, &sealed, &s.id)
                {
                    contact = Some((s.id.clone(), c));
                    break;
                }
            }
        }
        let mut entries = Vec::new();
        let subject = contact
            .as_ref()
            .map(|(id, _)| format!("urn:uuid:{}", uuid_of(&format!("patient:{id}"))));
        if let (Some(subject), Some((id, c))) = (&subject, &contact) {
            entries.push((
                subject.clone(),
                crate::fhir::patient(&format!("rider-{id}"), c.name.as_deref(), &c.phone),
            ));
        }
        let mut responses = Vec::new();
        for s in &screening_rows {
            let q = questionnaire_for(
                conn,
                ctx.catalog,
                &s.questionnaire_id,
                &s.content_hash,
                &mut cache,
            )?;
            let answers: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&s.answers).unwrap_or_default();
            let scores: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&s.scores).unwrap_or_default();
            let bands: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&s.bands).unwrap_or_default();
            let response = crate::fhir::questionnaire_response(
                &crate::fhir::Screening {
                    id: &s.id,
                    questionnaire_id: &s.questionnaire_id,
                    questionnaire: q.as_deref(),
                    submitted_at: rfc3339(s.submitted_at),
                    locale: &s.locale,
                    tier: &s.tier,
                    urgent: s.urgent,
                    site: s.site.as_deref(),
                    answers: &answers,
                    scores: &scores,
                    bands: &bands,
                },
                subject.as_deref(),
            );
            responses.push((format!("urn:uuid:{}", uuid_of(&s.id)), response));
        }
        entries.extend(responses);
        audit::record(
            conn,
            &who.who(),
            "alert.fhir_exported",
            Some(&row.id),
            serde_json::json!({
                "reference": row.reference,
                "answers": true,
                "contact": contact.is_some(),
                "contact_requested": include_contact,
                "screenings": screening_rows.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            }),
        )?;
        let bundle = crate::fhir::bundle(
            &format!("alert-{}", row.reference.to_ascii_lowercase()),
            &rfc3339(now),
            entries,
        );
        Ok((row.reference.clone(), bundle))
    });
    audited(conn, who, result)
}

/// A stable UUID for a `urn:uuid:` full URL: the id itself when it is one, else derived from it.
fn uuid_of(id: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(id).unwrap_or_else(|_| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(id.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    })
}

fn event(
    conn: &mut AnyConnection,
    alert_id: &str,
    who: &Principal,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), DbError> {
    store::insert_event(
        conn,
        &EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            alert_id: alert_id.to_string(),
            at: Utc::now().naive_utc(),
            actor_id: Some(who.user_id.clone()),
            kind: kind.to_string(),
            detail: detail.to_string(),
        },
    )
}

fn reload_summary(conn: &mut AnyConnection, id: &str) -> Result<AlertSummary, AlertError> {
    let row = store::find(conn, id)?.ok_or(AlertError::NotFound)?;
    let names = names_for(conn, row.assignee_id.iter().cloned().collect())?;
    Ok(summary(&row, &names, Utc::now().naive_utc()))
}

/// 409 for an alert not in the state the action needs, saying who has it.
fn conflict(conn: &mut AnyConnection, id: &str, action: &str) -> AlertError {
    match reload_summary(conn, id) {
        Ok(s) => {
            let message = match (&s.status, &s.assignee) {
                (Status::Acknowledged, Some(p)) => {
                    format!("cannot {action}: {} has already taken this alert", p.name)
                }
                (Status::Resolved, by) => format!(
                    "cannot {action}: this alert is already resolved{}",
                    by.as_ref()
                        .map(|p| format!(" by {}", p.name))
                        .unwrap_or_default()
                ),
                (Status::Open, _) => format!(
                    "cannot {action}: nobody has taken this alert yet; acknowledge it first"
                ),
                (Status::Acknowledged, None) => format!("cannot {action} now"),
            };
            AlertError::Conflict {
                message,
                alert: Box::new(Some(s)),
            }
        }
        Err(e) => e,
    }
}

/// Takes an open alert. Of two simultaneous acknowledgements exactly one wins; the other gets
/// `Conflict` naming who took it. `policy` is the configured escalation policy, for an alert
/// stored without a copy of its own (reminders follow the alert's copy).
pub fn acknowledge(
    conn: &mut AnyConnection,
    who: &Principal,
    key: &str,
    policy: &EscalationPolicy,
) -> Result<AlertSummary, AlertError> {
    let result = write_transaction(conn, |c| {
        let row = visible(c, who, key)?;
        let now = Utc::now().naive_utc();
        if !store::acknowledge(c, &row.id, &who.user_id, now)? {
            return Err(conflict(c, &row.id, "acknowledge"));
        }
        // No page starts after this commits; reminders begin.
        if let Some(after) = store::find(c, &row.id)? {
            crate::jobs::on_acknowledged(c, &after, policy, now)?;
        }
        event(c, &row.id, who, "acknowledged", serde_json::json!({}))?;
        audit::record(
            c,
            &who.who(),
            "alert.acknowledged",
            Some(&row.id),
            serde_json::json!({"reference": row.reference}),
        )?;
        reload_summary(c, &row.id)
    });
    audited(conn, who, result)
}

/// Acknowledges the highest-priority open alert this user may see. `Ok(None)`: none is open.
pub fn take_next(
    conn: &mut AnyConnection,
    who: &Principal,
    policy: &EscalationPolicy,
) -> Result<Option<AlertSummary>, AlertError> {
    require_worker(who)?;
    // Another counselor may take the first candidate between the read and the write: then the
    // next one is tried.
    for _ in 0..5 {
        let candidates = queue(
            conn,
            who,
            &QueueQuery {
                statuses: vec![Status::Open],
                limit: Some(5),
                ..Default::default()
            },
        )?;
        if candidates.is_empty() {
            return Ok(None);
        }
        for c in candidates {
            match acknowledge(conn, who, &c.id, policy) {
                Ok(s) => return Ok(Some(s)),
                Err(AlertError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

/// Only the person who took an alert, or a supervisor, may work it further.
fn may_work(who: &Principal, row: &AlertRow) -> bool {
    who.role == Role::Supervisor || row.assignee_id.as_deref() == Some(who.user_id.as_str())
}

/// Gives a taken alert back: a red one escalates again from the first level, under the
/// alert's own copy of the policy (or `policy`, the configured one, for an alert without).
pub fn unacknowledge(
    conn: &mut AnyConnection,
    who: &Principal,
    key: &str,
    policy: &EscalationPolicy,
) -> Result<AlertSummary, AlertError> {
    let result = write_transaction(conn, |c| {
        let row = visible(c, who, key)?;
        if row.status != "acknowledged" || !may_work(who, &row) {
            return Err(conflict(c, &row.id, "give back"));
        }
        let assignee = row.assignee_id.clone().unwrap_or_default();
        if !store::unacknowledge(c, &row.id, &assignee, Utc::now().naive_utc())? {
            return Err(conflict(c, &row.id, "give back"));
        }
        // Back in the queue: a red alert escalates again from the first level.
        if let Some(after) = store::find(c, &row.id)? {
            crate::jobs::on_unacknowledged(c, &after, policy, Utc::now().naive_utc())?;
        }
        event(
            c,
            &row.id,
            who,
            "unacknowledged",
            serde_json::json!({"from": assignee}),
        )?;
        audit::record(
            c,
            &who.who(),
            "alert.unacknowledged",
            Some(&row.id),
            serde_json::json!({"reference": row.reference}),
        )?;
        reload_summary(c, &row.id)
    });
    audited(conn, who, result)
}

pub const NOTE_MAX_CHARS: usize = 4000;

fn check_note(text: &str) -> Result<String, AlertError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AlertError::Invalid {
            field: "note",
            message: "write a note".into(),
        });
    }
    if text.chars().count() > NOTE_MAX_CHARS {
        return Err(AlertError::Invalid {
            field: "note",
            message: format!("a note has at most {NOTE_MAX_CHARS} characters"),
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(AlertError::Invalid {
            field: "note",
            message: "a note cannot contain control characters".into(),
        });
    }
    Ok(text.to_string())
}

pub fn add_note(
    conn: &mut AnyConnection,
    who: &Principal,
    key: &str,
    text: &str,
) -> Result<AlertSummary, AlertError> {
    let text = check_note(text)?;
    let result = write_transaction(conn, |c| {
        let row = visible(c, who, key)?;
        if row.status == "resolved" {
            return Err(conflict(c, &row.id, "add a note"));
        }
        event(c, &row.id, who, "note", serde_json::json!({"text": text}))?;
        // The note's text stays on the timeline; the audit row records only that one was added.
        audit::record(
            c,
            &who.who(),
            "alert.note_added",
            Some(&row.id),
            serde_json::json!({"reference": row.reference}),
        )?;
        reload_summary(c, &row.id)
    });
    audited(conn, who, result)
}

pub fn resolve(
    conn: &mut AnyConnection,
    who: &Principal,
    key: &str,
    outcome: &str,
    note: &str,
) -> Result<AlertSummary, AlertError> {
    let resolution = Resolution::parse(outcome).ok_or_else(|| AlertError::Invalid {
        field: "outcome",
        message: "must be one of contacted_safe, referred, emergency_services, unreachable, false_positive, other".into(),
    })?;
    let note = check_note(note)?;
    let result = write_transaction(conn, |c| {
        let row = visible(c, who, key)?;
        if row.status != "acknowledged" || !may_work(who, &row) {
            return Err(conflict(c, &row.id, "resolve"));
        }
        let assignee = row.assignee_id.clone().unwrap_or_default();
        if !store::resolve(
            c,
            &row.id,
            &assignee,
            resolution.as_str(),
            Utc::now().naive_utc(),
        )? {
            return Err(conflict(c, &row.id, "resolve"));
        }
        // Nothing more goes out about it.
        crate::jobs::on_resolved(c, &row.id, Utc::now().naive_utc())?;
        event(
            c,
            &row.id,
            who,
            "resolved",
            serde_json::json!({"outcome": resolution.as_str(), "note": note}),
        )?;
        audit::record(
            c,
            &who.who(),
            "alert.resolved",
            Some(&row.id),
            serde_json::json!({"reference": row.reference, "outcome": resolution.as_str()}),
        )?;
        reload_summary(c, &row.id)
    });
    audited(conn, who, result)
}

/// Supervisors hand an acknowledged alert to another counselor or supervisor who serves its site.
pub fn reassign(
    conn: &mut AnyConnection,
    who: &Principal,
    key: &str,
    to: &str,
) -> Result<AlertSummary, AlertError> {
    require_worker(who)?;
    if who.role != Role::Supervisor {
        return Err(AlertError::Forbidden);
    }
    let result = write_transaction(conn, |c| {
        let row = visible(c, who, key)?;
        let target = crate::db::accounts::find_user(c, to)?
            .filter(|u| u.active && (u.role == "counselor" || u.role == "supervisor"));
        let Some(target) = target else {
            return Err(AlertError::Invalid {
                field: "user_id",
                message: "no active counselor or supervisor with this id".into(),
            });
        };
        let sites = crate::db::accounts::user_sites(c, &target.id)?;
        if !(sites.is_empty() || row.site.as_ref().is_some_and(|s| sites.contains(s))) {
            return Err(AlertError::Invalid {
                field: "user_id",
                message: "this person does not serve the alert's site".into(),
            });
        }
        if row.status != "acknowledged" {
            return Err(conflict(c, &row.id, "reassign"));
        }
        let from = row.assignee_id.clone().unwrap_or_default();
        if !store::reassign(c, &row.id, &from, &target.id, Utc::now().naive_utc())? {
            return Err(conflict(c, &row.id, "reassign"));
        }
        event(
            c,
            &row.id,
            who,
            "reassigned",
            serde_json::json!({"from": from, "to": target.id}),
        )?;
        audit::record(
            c,
            &who.who(),
            "alert.reassigned",
            Some(&row.id),
            serde_json::json!({"reference": row.reference, "from": from, "to": target.id}),
        )?;
        reload_summary(c, &row.id)
    });
    audited(conn, who, result)
}

/// How long an open alert page counts as "open now" after its last refresh (the page
/// refreshes every 15 s while it is shown).
pub const VIEWING_WINDOW: chrono::Duration = chrono::Duration::seconds(45);

/// Records that `who` has the page of the alert `key` (reference or id) open now, and answers
/// the names of the other staff who have it open (seen within [`VIEWING_WINDOW`]), on any
/// instance. Writes no audit row (the page refreshes this every few seconds; opening the page
/// is audited by [`detail`]); an alert `who` may not see is `NotFound`, whatever its reason.
pub fn viewing(
    conn: &mut AnyConnection,
    who: &Principal,
    key: &str,
    now: NaiveDateTime,
) -> Result<Vec<String>, AlertError> {
    let row = match visible(conn, who, key) {
        Ok(row) => row,
        Err(AlertError::Denied(_)) => return Err(AlertError::NotFound),
        Err(e) => return Err(e),
    };
    Ok(store::seen_viewing(
        conn,
        &row.id,
        &who.user_id,
        now,
        now - VIEWING_WINDOW,
    )?)
}

/// How many red alerts are open (not yet taken) for this user: a count query, never the
/// length of a capped list (the page title shows it).
pub fn open_red_count(conn: &mut AnyConnection, who: &Principal) -> Result<usize, AlertError> {
    require_worker(who)?;
    let n = store::count(
        conn,
        &Filter {
            statuses: vec!["open".into()],
            tiers: vec!["red".into()],
            visible_sites: who.visible_sites(),
            ..Default::default()
        },
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_short_readable_and_valid() {
        let r = new_reference(4);
        assert_eq!(r.len(), 6);
        assert!(valid_reference(&r), "{r}");
        assert!(!r[2..].contains(['I', 'L', 'O', 'U']));
        assert!(!valid_reference("A-7F3"));
        assert!(!valid_reference("A-7f3k"));
        assert!(!valid_reference("0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e"));
    }

    #[test]
    fn urgent_red_comes_first() {
        assert!(priority(Tier::Red, true) < priority(Tier::Red, false));
        assert!(priority(Tier::Red, false) < priority(Tier::Yellow, false));
    }
}
