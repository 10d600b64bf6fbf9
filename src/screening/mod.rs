//! The submit use case: parse and score the answers, then store the screening (with the
//! questionnaire version that scored it and, with consent, the contact) in one transaction,
//! and build what the rider is shown.
//!
//! Layer: use cases (above `alerts`: a screening opens or joins an alert). ARCHITECTURE.md maps the layers.

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contact::{Contact, ContactCipher};

use crate::catalog::Catalog;
use crate::config::CrisisLine;
use crate::db::alerts::{self as alert_store, Written};
use crate::db::group_commit::Unit as _;
use crate::db::screenings::{self as store, ContactRow, NewVersion, ScreeningRow};
use crate::db::{AnyConnection, DbError};
use crate::questionnaire::{Questionnaire, Tier};
use crate::scoring::{self, AnswerError, AnswerSet, Outcome, RawAnswers};

/// A screening as submitted (the API body, or the rider's form once read).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The questionnaire's id.
    #[schema(example = "phq9")]
    pub questionnaire: String,
    pub answers: RawAnswers,
    /// The language to answer in (e.g. `zh-CN`, `zh-TW`, `en`); the questionnaire's default
    /// locale when absent or not offered.
    #[serde(default)]
    #[schema(example = "zh-CN")]
    pub locale: Option<String>,
    /// The station the screening was taken at (from a QR code's `?site=`); kept only when it is
    /// 1 to 64 of `a-z`, `0-9`, `-` and `_`.
    #[serde(default)]
    #[schema(example = "station-12")]
    pub site: Option<String>,
    /// Contact details, kept (encrypted) only with `consent_to_contact`.
    #[serde(default)]
    pub contact: Option<Contact>,
    /// Explicit consent to be contacted by a counselor; required when `contact` is given.
    #[serde(default)]
    pub consent_to_contact: bool,
    /// A solved proof-of-work challenge (from `GET /api/v1/challenge`), as the base64 JSON
    /// payload the ALTCHA widget submits. Needed only while this source or site is over its
    /// soft limit (`abuse.challenge_per_*`); otherwise ignored.
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub altcha: Option<String>,
}

/// A problem with a field of the request other than the answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("unknown questionnaire `{0}`")]
    UnknownQuestionnaire(String),
    #[error("invalid answers")]
    InvalidAnswers(Vec<AnswerError>),
    #[error("invalid request")]
    InvalidFields(Vec<FieldError>),
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyConflict,
    /// The answers were scored but could not be stored. The rider must still see the result
    /// (crisis lines first on red): `response` carries it, with an empty `id`.
    #[error("the screening could not be saved: {1}")]
    NotSaved(Box<ScreeningResponse>, DbError),
    /// Over a soft flood limit without a valid solved challenge: not stored. The rider must
    /// still see the result: `response` carries it, with an empty `id`.
    #[error("this screening needs a solved proof-of-work challenge ({reason})")]
    ChallengeRequired {
        response: Box<ScreeningResponse>,
        reason: &'static str,
    },
    /// Over a flood limit (`abuse.limit_per_*`): not stored. The rider must still see the
    /// result (crisis lines first on red): `response` carries it, with an empty `id`.
    #[error("too many screenings from this {scope} just now")]
    Limited {
        response: Box<ScreeningResponse>,
        scope: &'static str,
        retry_after: u64,
    },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A link shown to the rider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceLink {
    pub kind: String,
    pub title: String,
    pub url: String,
}

/// A crisis line as shown: number first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CrisisLineView {
    pub number: String,
    pub name: String,
}

/// What a successful submission answers: also what an idempotent replay returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScreeningResponse {
    /// The stored screening's id.
    #[schema(example = "0190f5c2-7a1b-7cc3-9d2e-3f4a5b6c7d8e")]
    pub id: String,
    pub outcome: Outcome,
    pub locale: String,
    /// The supportive message of the tier, in `locale`.
    pub message: String,
    /// Crisis lines: every configured line on red, the first (the hotline) on yellow.
    pub crisis_lines: Vec<CrisisLineView>,
    pub resources: Vec<ResourceLink>,
    /// Whether the rider is offered a counselor's contact (yellow and red).
    pub contact_offer: bool,
}

/// The result of `submit`.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub response: ScreeningResponse,
    /// Secret that lets the rider's own page add contact details to this screening later, or
    /// withdraw them. With an idempotency key it is derived from the screening id and the key
    /// (`ContactCipher::contact_token`), so a replay answers it again; without one it is
    /// random, and `None` on a replay.
    pub contact_token: Option<String>,
    /// True when this answers a repeated request from the first stored response.
    pub replayed: bool,
    /// The alert this screening opened or joined (yellow and red; `None` on a replay).
    pub alert: Option<crate::db::alerts::Written>,
    /// `response` as JSON, as stored (and answered again on a replay): the API's body without
    /// serializing it a second time.
    pub json: Option<String>,
}

/// What `submit` needs besides the request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub cipher: &'a ContactCipher,
    pub crisis_lines: &'a [CrisisLine],
    /// Where the questionnaires' path links lead (`rider.resource_base`).
    pub rider: &'a crate::config::RiderSettings,
    pub contact_retention: std::time::Duration,
    pub alerts: &'a crate::config::AlertSettings,
    pub escalation: &'a crate::config::EscalationPolicy,
    pub abuse: &'a crate::config::AbuseSettings,
    /// The request's source fingerprint (`ContactCipher::source_fingerprint`), when known.
    pub source: Option<&'a str>,
}

impl Context<'_> {
    pub fn shown(&self) -> Shown<'_> {
        Shown {
            crisis: self.crisis_lines,
            rider: self.rider,
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn valid_site(site: &str) -> bool {
    (1..=64).contains(&site.len())
        && site
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub fn valid_idempotency_key(key: &str) -> bool {
    (1..=200).contains(&key.len()) && key.chars().all(|c| c.is_ascii_graphic())
}

/// The locale to answer in: the requested one if the questionnaire has it, else its default.
pub fn pick_locale(q: &Questionnaire, requested: Option<&str>) -> String {
    requested
        .and_then(|r| q.locales.iter().find(|l| l.eq_ignore_ascii_case(r)))
        .unwrap_or(&q.default_locale)
        .clone()
}

/// Builds what the rider is shown for an outcome.
pub fn response_for(
    q: &Questionnaire,
    id: &str,
    outcome: Outcome,
    locale: &str,
    shown: Shown<'_>,
) -> ScreeningResponse {
    response_with(q, id, outcome, locale, shown, false)
}

/// What the deployment adds to a result: its crisis lines, and the base of the resource links.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    pub crisis: &'a [CrisisLine],
    pub rider: &'a crate::config::RiderSettings,
}

/// `response_for`, knowing the answers: a red that comes only from sensitive questions left
/// unanswered gets the tier's `refused_message` (when the file has one), never the words for a
/// rider who told us these thoughts.
pub fn response_for_answers(
    q: &Questionnaire,
    id: &str,
    answers: &AnswerSet<'_>,
    outcome: Outcome,
    locale: &str,
    shown: Shown<'_>,
) -> ScreeningResponse {
    let refused = scoring::red_only_from_refusals(answers, &outcome);
    response_with(q, id, outcome, locale, shown, refused)
}

fn response_with(
    q: &Questionnaire,
    id: &str,
    outcome: Outcome,
    locale: &str,
    shown: Shown<'_>,
    refused_only: bool,
) -> ScreeningResponse {
    let crisis = shown.crisis;
    let tier = outcome.tier;
    let resources = q
        .resources
        .get(&tier)
        .or_else(|| q.resources.get(&Tier::Yellow));
    let message = resources
        .map(|r| {
            let m = match &r.refused_message {
                Some(refused) if refused_only => refused,
                _ => &r.message,
            };
            m.get(locale, &q.default_locale).to_string()
        })
        .unwrap_or_default();
    let links = resources
        .map(|r| {
            r.links
                .iter()
                .map(|l| ResourceLink {
                    kind: l.kind.clone(),
                    title: l.title.get(locale, &q.default_locale).to_string(),
                    url: shown.rider.resolve(&l.url),
                })
                .collect()
        })
        .unwrap_or_default();
    let shown = match tier {
        Tier::Red => crisis.len(),
        Tier::Yellow => crisis.len().min(1),
        Tier::Green => 0,
    };
    let crisis_lines = crisis[..shown]
        .iter()
        .map(|l| CrisisLineView {
            number: l.number.clone(),
            name: l.name_in(locale).to_string(),
        })
        .collect();
    ScreeningResponse {
        id: id.to_string(),
        outcome,
        locale: locale.to_string(),
        message,
        crisis_lines,
        resources: links,
        contact_offer: tier != Tier::Green,
    }
}

fn replay(
    replay: store::Replay,
    request_hash: &str,
    cipher: &ContactCipher,
    idempotency_key: &str,
) -> Result<Submitted, SubmitError> {
    if replay.request_hash.as_deref() != Some(request_hash) {
        return Err(SubmitError::IdempotencyConflict);
    }
    let response: ScreeningResponse = replay
        .response
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .ok_or(SubmitError::IdempotencyConflict)?;
    let json = replay.response;
    // The same form sent again gets its token again: derived, and checked against the one
    // stored (a screening stored before tokens were derived keeps its random one).
    let contact_token = Some(cipher.contact_token(&response.id, idempotency_key)).filter(|t| {
        replay
            .contact_token_hash
            .as_deref()
            .is_some_and(|h| constant_time_eq(sha256_hex(t.as_bytes()).as_bytes(), h.as_bytes()))
    });
    Ok(Submitted {
        response,
        contact_token,
        replayed: true,
        alert: None,
        json,
    })
}

/// Scores and stores one screening. Nothing is written unless everything is valid.
/// `request_hash` identifies the request's content for `idempotency_key` replays.
pub fn submit(
    conn: &mut AnyConnection,
    ctx: Context<'_>,
    req: &SubmitRequest,
    idempotency_key: Option<&str>,
    request_hash: &str,
) -> Result<Submitted, SubmitError> {
    submit_or_not_saved(Ok(conn), ctx, req, idempotency_key, request_hash)
}

/// `submit`, given the connection or the reason there is none (the pool could not give one).
/// Valid answers are scored whatever happens to the database: if they cannot be stored, the
/// error is `NotSaved` and carries what the rider must still be shown.
pub fn submit_or_not_saved(
    conn: Result<&mut AnyConnection, DbError>,
    ctx: Context<'_>,
    req: &SubmitRequest,
    idempotency_key: Option<&str>,
    request_hash: &str,
) -> Result<Submitted, SubmitError> {
    let (cipher, key) = (ctx.cipher, idempotency_key.unwrap_or_default());
    let mut prepared = prepare(ctx, req, idempotency_key, request_hash, None)?;
    let written = match conn {
        Ok(conn) => prepared.unit.write_alone(conn),
        Err(e) => Err(e),
    };
    prepared.finish(written, request_hash, cipher, key)
}

/// `submit_or_not_saved` through the database's group commit (`db::group_commit`). The
/// request is checked and scored here, on the caller's thread (pure work, no I/O); every
/// read and write of the database (an earlier request with the same key, the flood limits,
/// a challenge spent, the rows) happens in the writer, in the batch's transaction. The caller
/// waits for the commit without holding a thread or a pooled connection.
pub async fn submit_grouped(
    writer: &Writer,
    known: &std::sync::Arc<Known>,
    ctx: Context<'_>,
    req: &SubmitRequest,
    idempotency_key: Option<&str>,
    request_hash: &str,
) -> Result<Submitted, SubmitError> {
    let (cipher, key) = (ctx.cipher, idempotency_key.unwrap_or_default());
    let prepared = prepare(
        ctx,
        req,
        idempotency_key,
        request_hash,
        Some(std::sync::Arc::clone(known)),
    )?;
    let Prepared {
        response,
        contact_token,
        json,
        unit,
    } = prepared;
    let written = writer.submit(unit).await;
    Prepared::finish_parts(
        response,
        contact_token,
        json,
        written,
        request_hash,
        cipher,
        key,
    )
}

/// The writer of screenings: one per database (`AppState::writer`).
pub type Writer = crate::db::group_commit::GroupCommit<SubmissionWrite>;

/// What the writes learn about rows that never change (versions, sites).
pub use crate::db::screenings::Known;

/// A screening scored, checked and ready to be written.
struct Prepared {
    response: ScreeningResponse,
    contact_token: String,
    /// `response` as JSON (the stored copy's text).
    json: Option<String>,
    unit: SubmissionWrite,
}

/// What the writer did with one submission.
#[derive(Debug)]
pub enum Stored {
    /// Stored, with the alert it opened or joined (yellow and red).
    New(Option<Written>),
    /// A screening under the same idempotency key was stored first: nothing was written.
    Replay(store::Replay),
    /// Over a soft flood limit without a valid solved challenge (why not): nothing written.
    NeedsChallenge(&'static str),
    /// Over a hard flood limit: nothing written.
    Limited {
        scope: &'static str,
        retry_after: u64,
    },
}

impl Prepared {
    fn finish(
        self,
        written: Result<Stored, DbError>,
        request_hash: &str,
        cipher: &ContactCipher,
        key: &str,
    ) -> Result<Submitted, SubmitError> {
        Self::finish_parts(
            self.response,
            self.contact_token,
            self.json,
            written,
            request_hash,
            cipher,
            key,
        )
    }

    fn finish_parts(
        response: ScreeningResponse,
        contact_token: String,
        json: Option<String>,
        written: Result<Stored, DbError>,
        request_hash: &str,
        cipher: &ContactCipher,
        key: &str,
    ) -> Result<Submitted, SubmitError> {
        match written {
            Ok(Stored::New(alert)) => Ok(Submitted {
                response,
                contact_token: Some(contact_token),
                replayed: false,
                alert,
                json,
            }),
            Ok(Stored::Replay(existing)) => replay(existing, request_hash, cipher, key),
            Ok(Stored::NeedsChallenge(reason)) => Err(SubmitError::ChallengeRequired {
                response: Box::new(unsaved(&response)),
                reason,
            }),
            Ok(Stored::Limited { scope, retry_after }) => Err(SubmitError::Limited {
                response: Box::new(unsaved(&response)),
                scope,
                retry_after,
            }),
            Err(e) => Err(not_saved(&response, e)),
        }
    }
}

/// One screening's reads and writes, as the group commit runs them (in a batch, or alone):
/// an earlier request under its key, the flood limits (and a challenge spent), then the
/// screening, its version, its contact, and for yellow and red its alert and first jobs.
pub struct SubmissionWrite {
    content_hash: String,
    questionnaire_id: String,
    version: String,
    source_text: std::sync::Arc<Questionnaire>,
    row: ScreeningRow,
    contact: Option<ContactRow>,
    alert: Option<crate::db::alerts::NewAlert>,
    source: Option<String>,
    /// The solved challenge sent with the request, and the key that checks it.
    altcha: Option<(String, String)>,
    abuse: crate::config::AbuseSettings,
    /// Only with an alert: a green one would copy the chain to no use.
    escalation: Option<crate::config::EscalationPolicy>,
    known: Option<std::sync::Arc<Known>>,
    /// The site as stored by the last write (`Known::learn` after the commit).
    stored_site: Option<Option<String>>,
}

impl std::fmt::Debug for SubmissionWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmissionWrite")
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

fn refusal_reason(refusal: crate::abuse::ChallengeRefusal) -> &'static str {
    use crate::abuse::ChallengeRefusal as R;
    match refusal {
        R::Missing => "none was sent",
        R::Malformed => "not a solution payload",
        R::Wrong => "not solved, or not ours",
        R::Expired => "expired",
        R::Spent => "already used",
    }
}

impl SubmissionWrite {
    fn version(&self) -> NewVersion<'_> {
        NewVersion {
            content_hash: &self.content_hash,
            questionnaire_id: &self.questionnaire_id,
            version: &self.version,
            source: &self.source_text.source,
            first_used_at: self.row.submitted_at,
        }
    }

    /// The reads before the write, in its transaction: `Some` when nothing is to be written
    /// (a replay, or over a flood limit).
    fn before(&self, c: &mut AnyConnection) -> Result<Option<Stored>, DbError> {
        if let Some(key) = &self.row.idempotency_key
            && let Some(existing) = store::find_by_idempotency_key(c, key)?
        {
            return Ok(Some(Stored::Replay(existing)));
        }
        let admission = crate::abuse::admit(
            c,
            &self.abuse,
            self.source.as_deref(),
            self.row.site.as_deref(),
            self.row.submitted_at,
        )?;
        self.admitted(c, admission)
    }

    /// What an admission means for this unit: a challenge needed is spent here (in the
    /// transaction of the screening: a screening not stored keeps its challenge unspent).
    fn admitted(
        &self,
        c: &mut AnyConnection,
        admission: crate::abuse::Admission,
    ) -> Result<Option<Stored>, DbError> {
        use crate::abuse::Admission;
        Ok(match admission {
            Admission::Accepted => None,
            Admission::ChallengeNeeded => {
                let (payload, key) = match &self.altcha {
                    Some((payload, key)) => (Some(payload.as_str()), key.as_str()),
                    None => (None, ""),
                };
                match crate::abuse::spend(c, key, payload)? {
                    Ok(()) => None,
                    Err(refusal) => Some(Stored::NeedsChallenge(refusal_reason(refusal))),
                }
            }
            Admission::Refused { scope, retry_after } => {
                Some(Stored::Limited { scope, retry_after })
            }
        })
    }

    /// In the screening's transaction, with the row as stored: its alert, its cluster or its
    /// first pages.
    fn then(
        &self,
        c: &mut AnyConnection,
        stored: &ScreeningRow,
    ) -> Result<Option<Written>, DbError> {
        let (Some(alert), Some(escalation)) = (&self.alert, &self.escalation) else {
            return Ok(None);
        };
        let now = self.row.submitted_at;
        let rider_key = self.contact.as_ref().and_then(|c| c.rider_key.as_deref());
        let written =
            alert_store::open_or_attach(c, alert, &stored.id, stored.site.as_deref(), rider_key)?;
        // A suspected flood's alert is paged with its cluster, not on its own.
        if crate::abuse::place(
            c,
            &self.abuse,
            escalation,
            &written,
            self.source.as_deref(),
            now,
        )?
        .is_none()
        {
            crate::jobs::on_alert_written(c, &written, escalation, now)?;
        }
        Ok(Some(written))
    }
}

impl crate::db::group_commit::Unit for SubmissionWrite {
    type Output = Stored;

    fn write(&mut self, conn: &mut AnyConnection) -> Result<Self::Output, DbError> {
        self.stored_site = None;
        if let Some(done) = self.before(conn)? {
            return Ok(done);
        }
        let version = self.version();
        let (written, stored) = store::insert_in(
            conn,
            self.known.as_deref(),
            &version,
            &self.row,
            self.contact.as_ref(),
            &|c, stored| self.then(c, stored),
        )?;
        self.stored_site = Some(stored.site);
        Ok(Stored::New(written))
    }

    fn write_alone(&mut self, conn: &mut AnyConnection) -> Result<Self::Output, DbError> {
        let result = crate::db::write_transaction(conn, |c| self.write(c));
        match result {
            Err(e) if e.is_unique_violation() && self.row.idempotency_key.is_some() => {
                // Stored meanwhile under the same key (a neighbour of its batch, another
                // instance): the first request's answer.
                self.stored_site = None;
                let key = self.row.idempotency_key.as_deref().unwrap_or_default();
                match store::find_by_idempotency_key(conn, key)? {
                    Some(existing) => Ok(Stored::Replay(existing)),
                    None => Err(e),
                }
            }
            other => other,
        }
    }

    fn committed(&mut self) {
        if let (Some(known), Some(site)) = (&self.known, &self.stored_site) {
            known.learn(&self.content_hash, site.as_deref());
        }
    }

    fn write_many(
        conn: &mut AnyConnection,
        units: &mut [&mut Self],
    ) -> Result<Vec<Step<Stored>>, Failed> {
        write_batch(conn, units)
    }

    fn write_at_once(
        conn: &mut AnyConnection,
        units: &mut [&mut Self],
    ) -> Result<Option<Vec<Stored>>, DbError> {
        write_at_once(conn, units)
    }
}

/// On PostgreSQL, a batch of green screenings without contacts, their versions and sites
/// known, their keys distinct: one statement that stores them all, committed on its own, if
/// the flood guard admits every one of them without a challenge and no key is stored yet
/// (`store::insert_if_admitted`). Anything else (a limit reached, a replay) is left to the
/// batch's transaction, which answers it as before.
fn write_at_once(
    conn: &mut AnyConnection,
    units: &mut [&mut SubmissionWrite],
) -> Result<Option<Vec<Stored>>, DbError> {
    let Some(first) = units.first() else {
        return Ok(Some(Vec::new()));
    };
    if crate::db::backend_of(conn) != crate::db::Backend::Postgres {
        return Ok(None);
    }
    let limits = &first.abuse;
    let same_limits = |a: &crate::config::AbuseSettings| {
        a.window == limits.window
            && a.limit_per_source == limits.limit_per_source
            && a.limit_per_site == limits.limit_per_site
            && a.challenge_per_source == limits.challenge_per_source
            && a.challenge_per_site == limits.challenge_per_site
    };
    let mut keys: Vec<&str> = Vec::new();
    for u in units.iter() {
        if u.alert.is_some() || u.contact.is_some() || !same_limits(&u.abuse) {
            return Ok(None);
        }
        if let Some(key) = u.row.idempotency_key.as_deref() {
            keys.push(key);
        }
    }
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Ok(None);
    }
    let rows: Vec<&ScreeningRow> = units.iter().map(|u| &u.row).collect();
    if !store::all_known(first.known.as_deref(), &rows) {
        return Ok(None);
    }
    let earliest = rows
        .iter()
        .map(|r| r.submitted_at)
        .min()
        .unwrap_or_default();
    let admit = store::Admit {
        // The window of the earliest (a few milliseconds wider: never more lenient).
        since: crate::abuse::window_start(limits, earliest),
        // Admitted without a challenge: under both the hard and the challenge limit.
        per_source: i64::from(limits.limit_per_source.min(limits.challenge_per_source)),
        per_site: i64::from(limits.limit_per_site.min(limits.challenge_per_site)),
    };
    if !store::insert_if_admitted(conn, &rows, admit)? {
        return Ok(None);
    }
    drop(rows);
    Ok(Some(
        units
            .iter_mut()
            .map(|u| {
                u.stored_site = Some(u.row.site.clone());
                Stored::New(None)
            })
            .collect(),
    ))
}

use crate::db::group_commit::{Failed, Step};

/// A batch's submissions with shared statements: one read of the earlier requests under
/// their keys, one count per flood scope, one multi-row INSERT per table for the green
/// screenings (no alert), then each yellow and red one as alone (`write`: its alert, cluster
/// and jobs read what was stored before them). The same answers as writing them one by one
/// in this order: the counts of each include the neighbours admitted before it.
fn write_batch(
    conn: &mut AnyConnection,
    units: &mut [&mut SubmissionWrite],
) -> Result<Vec<Step<Stored>>, Failed> {
    use crate::db::group_commit::Unit as _;
    use std::collections::HashSet;
    if units.len() < 2 {
        return crate::db::group_commit::write_each(conn, units);
    }
    let mut steps: Vec<Option<Step<Stored>>> = units.iter().map(|_| None).collect();
    let keys: Vec<&str> = units
        .iter()
        .filter_map(|u| u.row.idempotency_key.as_deref())
        .collect();
    let found = store::find_by_idempotency_keys(conn, &keys).map_err(Failed::Shared)?;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut plain: Vec<usize> = Vec::new();
    let mut with_alert: Vec<usize> = Vec::new();
    for u in units.iter_mut() {
        // Learned only from this attempt (a batch may be written again after a rollback).
        u.stored_site = None;
    }
    for (i, u) in units.iter().enumerate() {
        if let Some(key) = u.row.idempotency_key.as_deref() {
            if let Some(existing) = found.get(key).cloned() {
                steps[i] = Some(Step::Written(Stored::Replay(existing)));
                continue;
            }
            if !seen.insert(key) {
                // The same key twice in one batch: the second answers after the first is
                // committed (its replay, or a conflict).
                steps[i] = Some(Step::Alone);
                continue;
            }
        }
        if u.alert.is_some() {
            with_alert.push(i);
        } else {
            plain.push(i);
        }
    }
    if !plain.is_empty() {
        // The flood limits: one count per scope for the batch, over the window of its
        // earliest submission (a window a few milliseconds wider: never more lenient).
        let earliest = plain
            .iter()
            .map(|&i| units[i].row.submitted_at)
            .min()
            .unwrap_or_default();
        let since = crate::abuse::window_start(&units[plain[0]].abuse, earliest);
        let mut sources: Vec<&str> = plain
            .iter()
            .filter_map(|&i| units[i].source.as_deref())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        let mut sites: Vec<&str> = plain
            .iter()
            .filter_map(|&i| units[i].row.site.as_deref())
            .collect();
        sites.sort_unstable();
        sites.dedup();
        let mut from_source =
            crate::db::abuse::from_sources(conn, &sources, since).map_err(Failed::Shared)?;
        let mut at_site =
            crate::db::abuse::at_sites(conn, &sites, since).map_err(Failed::Shared)?;
        let mut admitted: Vec<usize> = Vec::with_capacity(plain.len());
        for &i in &plain {
            let u = &*units[i];
            let n_source = u
                .source
                .as_deref()
                .map_or(0, |s| from_source.get(s).copied().unwrap_or(0));
            let n_site = u
                .row
                .site
                .as_deref()
                .map_or(0, |s| at_site.get(s).copied().unwrap_or(0));
            let admission = crate::abuse::decide(&u.abuse, n_source, n_site);
            match u.admitted(conn, admission) {
                Ok(Some(done)) => steps[i] = Some(Step::Written(done)),
                Ok(None) => {
                    // Counted for the neighbours after it, as a stored row would be.
                    if let Some(s) = &u.source {
                        *from_source.entry(s.clone()).or_default() += 1;
                    }
                    if let Some(s) = &u.row.site {
                        *at_site.entry(s.clone()).or_default() += 1;
                    }
                    admitted.push(i);
                }
                Err(e) => return Err(Failed::Unit(i, e)),
            }
        }
        insert_plain(conn, units, &admitted)?;
        for &i in &admitted {
            steps[i] = Some(Step::Written(Stored::New(None)));
        }
    }
    for &i in &with_alert {
        match units[i].write(conn) {
            Ok(done) => steps[i] = Some(Step::Written(done)),
            Err(e) => return Err(Failed::Unit(i, e)),
        }
    }
    Ok(steps
        .into_iter()
        .map(|s| s.unwrap_or(Step::Alone))
        .collect())
}

/// The rows of admitted screenings without an alert: their versions and sites checked as
/// `insert_in` checks them, then one INSERT for the screenings and one for the contacts.
fn insert_plain(
    conn: &mut AnyConnection,
    units: &mut [&mut SubmissionWrite],
    admitted: &[usize],
) -> Result<(), Failed> {
    if admitted.is_empty() {
        return Ok(());
    }
    let mut versions_done: Vec<&str> = Vec::new();
    let mut site_exists: std::collections::HashMap<String, bool> = Default::default();
    // Rows whose site is unknown are stored without it (a copy; the unit keeps its own).
    let mut fixed: Vec<(usize, ScreeningRow)> = Vec::new();
    for &i in admitted {
        let u = &*units[i];
        let known = u.known.as_deref();
        if !versions_done.contains(&u.content_hash.as_str()) {
            store::insert_version(conn, known, &u.version()).map_err(|e| Failed::Unit(i, e))?;
            versions_done.push(u.content_hash.as_str());
        }
        if let Some(site) = &u.row.site {
            let exists = match site_exists.get(site) {
                Some(&e) => e,
                None => {
                    let e =
                        store::site_is_known(conn, known, site).map_err(|e| Failed::Unit(i, e))?;
                    site_exists.insert(site.clone(), e);
                    e
                }
            };
            if !exists {
                crate::db::accounts::count_unknown_site(conn, site, u.row.submitted_at)
                    .map_err(|e| Failed::Unit(i, e))?;
                let mut row = u.row.clone();
                row.site = None;
                fixed.push((i, row));
            }
        }
    }
    let rows: Vec<&ScreeningRow> = admitted
        .iter()
        .map(|&i| {
            fixed
                .iter()
                .find(|(j, _)| *j == i)
                .map_or(&units[i].row, |(_, row)| row)
        })
        .collect();
    let contacts: Vec<&ContactRow> = admitted
        .iter()
        .filter_map(|&i| units[i].contact.as_ref())
        .collect();
    store::insert_rows(conn, &rows, &contacts).map_err(Failed::Shared)?;
    let stored_sites: Vec<Option<String>> = rows.iter().map(|r| r.site.clone()).collect();
    drop(rows);
    for (&i, site) in admitted.iter().zip(stored_sites) {
        units[i].stored_site = Some(site);
    }
    Ok(())
}

/// Everything before the database: the request checked and scored, what the rider is shown,
/// and the unit the writer runs.
fn prepare(
    ctx: Context<'_>,
    req: &SubmitRequest,
    idempotency_key: Option<&str>,
    request_hash: &str,
    known: Option<std::sync::Arc<Known>>,
) -> Result<Prepared, SubmitError> {
    let q = ctx
        .catalog
        .get(&req.questionnaire)
        .ok_or_else(|| SubmitError::UnknownQuestionnaire(req.questionnaire.clone()))?;
    let (answers, contact) = check_request(q, req, idempotency_key)?;

    let outcome = scoring::score(&answers);
    let id = uuid::Uuid::now_v7().to_string();
    let locale = pick_locale(q, req.locale.as_deref());
    let response = response_for_answers(q, &id, &answers, outcome.clone(), &locale, ctx.shown());
    let now = Utc::now().naive_utc();
    let scored = Scored {
        q,
        answers: &answers,
        outcome: &outcome,
        response: &response,
        site: req.site.as_deref(),
    };
    let contact_token = match idempotency_key {
        Some(key) => ctx.cipher.contact_token(&id, key),
        None => {
            let mut token = [0u8; 24];
            rand::fill(&mut token);
            hex::encode(token)
        }
    };
    let mut row = match screening_row(&scored, &contact_token, idempotency_key, request_hash, now) {
        Ok(row) => row,
        Err(e) => return Err(not_saved(&response, e)),
    };
    row.source_fp = ctx.source.map(str::to_string);
    let contact = contact.map(|c| contact_row(ctx, &id, &c));
    let alert = crate::alerts::new_alert(&outcome, ctx.alerts, ctx.escalation, now);
    let unit = SubmissionWrite {
        escalation: alert.as_ref().map(|_| ctx.escalation.clone()),
        content_hash: q.content_hash.clone(),
        questionnaire_id: q.id.clone(),
        version: q.version.clone(),
        source_text: std::sync::Arc::clone(q),
        row,
        contact,
        alert,
        source: ctx.source.map(str::to_string),
        altcha: req
            .altcha
            .clone()
            .map(|a| (a, ctx.cipher.challenge_key().to_string())),
        abuse: ctx.abuse.clone(),
        known,
        stored_site: None,
    };
    Ok(Prepared {
        response,
        contact_token,
        json: unit.row.response.clone(),
        unit,
    })
}

/// The request's fields (idempotency key, contact and consent), then its answers: the answers
/// are checked (and reported) once the request is well-formed.
fn check_request<'q>(
    q: &'q Questionnaire,
    req: &SubmitRequest,
    idempotency_key: Option<&str>,
) -> Result<(AnswerSet<'q>, Option<Contact>), SubmitError> {
    let mut field_errors = Vec::new();
    if let Some(key) = idempotency_key
        && !valid_idempotency_key(key)
    {
        field_errors.push(FieldError {
            field: "Idempotency-Key".into(),
            message: "must be 1 to 200 visible ASCII characters".into(),
        });
    }
    if req.altcha.as_deref().is_some_and(|a| a.len() > 4096) {
        field_errors.push(FieldError {
            field: "altcha".into(),
            message: "a solved challenge is at most 4096 characters".into(),
        });
    }
    let contact = match (&req.contact, req.consent_to_contact) {
        (Some(c), true) => match c.normalized() {
            Ok(c) => Some(c),
            Err((field, message)) => {
                field_errors.push(FieldError {
                    field: format!("contact.{field}"),
                    message: message.into(),
                });
                None
            }
        },
        (Some(_), false) => {
            field_errors.push(FieldError {
                field: "consent_to_contact".into(),
                message: "contact details are kept only with explicit consent: set consent_to_contact to true or leave contact out".into(),
            });
            None
        }
        (None, _) => None,
    };
    let answers = AnswerSet::parse_raw(q, &req.answers);
    if !field_errors.is_empty() {
        return Err(SubmitError::InvalidFields(field_errors));
    }
    let answers = answers.map_err(|e| SubmitError::InvalidAnswers(e.0))?;
    Ok((answers, contact))
}

/// A scored screening on its way to the database.
struct Scored<'a> {
    q: &'a Questionnaire,
    answers: &'a AnswerSet<'a>,
    outcome: &'a Outcome,
    response: &'a ScreeningResponse,
    site: Option<&'a str>,
}

fn screening_row(
    s: &Scored<'_>,
    contact_token: &str,
    idempotency_key: Option<&str>,
    request_hash: &str,
    now: NaiveDateTime,
) -> Result<ScreeningRow, DbError> {
    let response_json =
        serde_json::to_string(s.response).map_err(|e| DbError::Connect(e.to_string()))?;
    let site = s
        .site
        .map(str::trim)
        .filter(|site| valid_site(site))
        .map(str::to_string);
    Ok(ScreeningRow {
        id: s.response.id.clone(),
        questionnaire_id: s.q.id.clone(),
        content_hash: s.q.content_hash.clone(),
        answers: s.answers.to_json().to_string(),
        scores: to_json(&s.outcome.scores),
        bands: to_json(&s.outcome.bands),
        reasons: to_json(&s.outcome.reasons),
        tier: s.outcome.tier.as_str().to_string(),
        urgent: s.outcome.urgent,
        locale: s.response.locale.clone(),
        site,
        submitted_at: now,
        idempotency_key: idempotency_key.map(str::to_string),
        request_hash: Some(request_hash.to_string()),
        response: Some(response_json),
        contact_token_hash: Some(sha256_hex(contact_token.as_bytes())),
        source_fp: None,
    })
}

/// What the rider is shown when the screening could not be stored: the result without an id.
fn not_saved(response: &ScreeningResponse, e: DbError) -> SubmitError {
    SubmitError::NotSaved(Box::new(unsaved(response)), e)
}

/// The result as shown when nothing was stored: no id.
fn unsaved(response: &ScreeningResponse) -> ScreeningResponse {
    let mut shown = response.clone();
    shown.id = String::new();
    shown
}

fn contact_row(ctx: Context<'_>, screening_id: &str, contact: &Contact) -> ContactRow {
    let (nonce, ciphertext) = ctx.cipher.encrypt(contact, screening_id);
    let now = Utc::now().naive_utc();
    let retention =
        chrono::Duration::from_std(ctx.contact_retention).unwrap_or(chrono::Duration::days(90));
    ContactRow {
        screening_id: screening_id.to_string(),
        nonce,
        ciphertext,
        created_at: now,
        delete_after: now + retention,
        rider_key: Some(ctx.cipher.rider_key(contact)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("no such screening, or the link has expired")]
    NotFound,
    #[error("{1}")]
    Invalid(&'static str, &'static str),
    #[error("consent is required")]
    NoConsent,
    #[error("contact details were already given for this screening")]
    AlreadyGiven,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Adds contact details after the result was shown (the rider's own browser proves it is
/// theirs with the token it was given).
pub fn add_contact(
    conn: &mut AnyConnection,
    ctx: Context<'_>,
    screening_id: &str,
    token: &str,
    contact: &Contact,
    consent: bool,
) -> Result<(), ContactError> {
    let row = store::find(conn, screening_id)?.ok_or(ContactError::NotFound)?;
    let expected = row
        .contact_token_hash
        .as_deref()
        .ok_or(ContactError::NotFound)?;
    if !constant_time_eq(sha256_hex(token.as_bytes()).as_bytes(), expected.as_bytes()) {
        return Err(ContactError::NotFound);
    }
    if !consent {
        return Err(ContactError::NoConsent);
    }
    let contact = contact
        .normalized()
        .map_err(|(f, m)| ContactError::Invalid(f, m))?;
    let screening = row;
    let row = contact_row(ctx, screening_id, &contact);
    // The screening's alert, if any, becomes one of an identified rider. A green screening
    // has none: the rider asking to be called opens a yellow one, so a counselor sees it.
    let link_alert = |c: &mut AnyConnection| -> Result<(), DbError> {
        match alert_store::alert_of_screening(c, screening_id)? {
            Some(alert) => {
                if let Some(key) = &row.rider_key {
                    alert_store::set_rider_key(c, &alert, key)?;
                }
            }
            None => {
                if let Some(alert) = requested_alert(&screening, ctx) {
                    let now = Utc::now().naive_utc();
                    let written = alert_store::open_or_attach(
                        c,
                        &alert,
                        screening_id,
                        screening.site.as_deref(),
                        row.rider_key.as_deref(),
                    )?;
                    crate::jobs::on_alert_written(c, &written, ctx.escalation, now)?;
                }
            }
        }
        Ok(())
    };
    if store::add_contact(conn, &row, &link_alert)? {
        Ok(())
    } else {
        Err(ContactError::AlreadyGiven)
    }
}

/// The alert a contact request from a green result opens: yellow, its one reason
/// `contact_requested` (the queue shows it in the counselor's language).
fn requested_alert(
    screening: &ScreeningRow,
    ctx: Context<'_>,
) -> Option<crate::db::alerts::NewAlert> {
    if screening.tier != Tier::Green.as_str() {
        return None;
    }
    let mut outcome = screening
        .response
        .as_deref()
        .and_then(|r| serde_json::from_str::<ScreeningResponse>(r).ok())?
        .outcome;
    outcome.tier = Tier::Yellow;
    outcome.urgent = false;
    outcome.reasons = vec![scoring::Reason {
        kind: scoring::ReasonKind::Request,
        id: "contact_requested".into(),
        tier: Tier::Yellow,
    }];
    crate::alerts::new_alert(&outcome, ctx.alerts, ctx.escalation, Utc::now().naive_utc())
}

/// Why a rider's withdrawal was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum WithdrawError {
    /// No such screening, or not its token: nothing said about which.
    #[error("no such screening, or the link is not this screening's")]
    NotFound,
    /// The screening has no contact (never given, or already withdrawn or erased).
    #[error("this screening holds no contact details")]
    NothingToWithdraw,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The `contact_erased` entry on an alert's timeline: who asked, no rider data.
fn contact_erased_event(
    conn: &mut AnyConnection,
    alert_id: &str,
    actor_id: Option<&str>,
    by: &str,
) -> Result<(), DbError> {
    alert_store::insert_event(
        conn,
        &alert_store::EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            alert_id: alert_id.to_string(),
            at: Utc::now().naive_utc(),
            actor_id: actor_id.map(str::to_string),
            kind: "contact_erased".into(),
            detail: serde_json::json!({ "by": by }).to_string(),
        },
    )
}

/// The rider withdraws consent from their own result page (proved by the screening's token):
/// in one transaction the contact row is deleted, the screening's alert keeps its answers,
/// scores and timeline but no longer the rider's key, a `contact_erased` entry goes on its
/// timeline and a `contact.withdrawn` audit row is written (ids only).
pub fn withdraw_contact(
    conn: &mut AnyConnection,
    screening_id: &str,
    token: &str,
    who: &crate::audit::Who,
) -> Result<(), WithdrawError> {
    let row = store::find(conn, screening_id)?.ok_or(WithdrawError::NotFound)?;
    let expected = row
        .contact_token_hash
        .as_deref()
        .ok_or(WithdrawError::NotFound)?;
    if !constant_time_eq(sha256_hex(token.as_bytes()).as_bytes(), expected.as_bytes()) {
        return Err(WithdrawError::NotFound);
    }
    crate::db::write_transaction(conn, |c| {
        let Some(rider_key) = store::delete_contact(c, screening_id)? else {
            return Err(WithdrawError::NothingToWithdraw);
        };
        let alert = alert_store::alert_of_screening(c, screening_id)?;
        if let Some(alert) = &alert {
            if let Some(key) = &rider_key {
                alert_store::unlink_alert(c, alert, key)?;
            }
            contact_erased_event(c, alert, None, "rider")?;
        }
        crate::audit::record(
            c,
            who,
            "contact.withdrawn",
            Some(screening_id),
            serde_json::json!({ "alert": alert }),
        )?;
        Ok(())
    })
}

/// What an admin's erasure on request removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Erased {
    pub contacts_erased: usize,
    pub alerts_unlinked: usize,
}

/// An admin erases a rider's contact details on request, by phone number: matched through
/// the keyed rider hash (the database holds no number in the clear). Every contact under that
/// hash is deleted, the alerts of that rider become anonymous again (each with a
/// `contact_erased` entry on its timeline), and one `contact.erased` audit row records the
/// counts. `Err(message)` for a phone number that is not one.
pub fn erase_contacts_by_phone(
    conn: &mut AnyConnection,
    cipher: &ContactCipher,
    phone: &str,
    who: &crate::audit::Who,
) -> Result<Result<Erased, &'static str>, DbError> {
    let contact = match (Contact {
        name: None,
        phone: phone.to_string(),
    })
    .normalized()
    {
        Ok(c) => c,
        Err((_, message)) => return Ok(Err(message)),
    };
    let key = cipher.rider_key(&contact);
    crate::db::write_transaction(conn, |c| {
        let screenings = store::delete_contacts_of_rider(c, &key)?;
        let mut alerts = alert_store::unlink_rider(c, &key)?;
        // An alert of one of those screenings that never took the rider's key (an older row)
        // still loses its contact: say so on its timeline too.
        for s in &screenings {
            if let Some(a) = alert_store::alert_of_screening(c, s)?
                && !alerts.contains(&a)
            {
                alerts.push(a);
            }
        }
        for a in &alerts {
            contact_erased_event(c, a, who.user_id.as_deref(), "admin")?;
        }
        let erased = Erased {
            contacts_erased: screenings.len(),
            alerts_unlinked: alerts.len(),
        };
        crate::audit::record(
            c,
            who,
            "contact.erased",
            None,
            serde_json::json!({
                "contacts_erased": erased.contacts_erased,
                "alerts_unlinked": erased.alerts_unlinked,
            }),
        )?;
        Ok(Ok(erased))
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CrisisLine, DatabaseSettings};
    use diesel::connection::SimpleConnection;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    fn red_request() -> SubmitRequest {
        serde_json::from_value(serde_json::json!({
            "questionnaire": "phq9",
            "answers": {"q1":0,"q2":0,"q3":0,"q4":0,"q5":0,"q6":0,"q7":0,"q8":0,"q9":1}
        }))
        .unwrap()
    }

    #[test]
    fn a_red_result_survives_a_database_that_fails() {
        let settings = crate::config::Settings::load_from(&crate::config::Sources {
            config_dir: "/nonexistent".into(),
            env_name: None,
            vars: Default::default(),
        })
        .unwrap();
        let (catalog, _) = Catalog::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires"),
        )
        .unwrap();
        let cipher = ContactCipher::from_base64(KEY).unwrap();
        let lines = vec![CrisisLine {
            number: "12356".into(),
            name: [("zh_cn".to_string(), "热线".to_string())].into(),
        }];
        let ctx = Context {
            catalog: &catalog,
            cipher: &cipher,
            crisis_lines: &lines,
            rider: &settings.rider,
            contact_retention: std::time::Duration::from_secs(60),
            alerts: &settings.alerts,
            escalation: &settings.escalation,
            abuse: &settings.abuse,
            source: None,
        };

        // No connection at all (the pool timed out).
        let err = submit_or_not_saved(
            Err(DbError::Connect("timed out".into())),
            ctx,
            &red_request(),
            None,
            "h",
        )
        .unwrap_err();
        let SubmitError::NotSaved(shown, _) = err else {
            panic!("{err:?}")
        };
        assert_eq!(shown.outcome.tier, Tier::Red);
        assert_eq!(shown.crisis_lines[0].number, "12356");
        assert!(shown.id.is_empty(), "nothing was stored, so there is no id");

        // A connection whose write fails.
        let dir = tempfile::tempdir().unwrap();
        let settings = DatabaseSettings {
            url: format!("sqlite://{}/t.db", dir.path().display()),
            pool_size: 1,
            timeout: std::time::Duration::from_secs(1),
        };
        let pool = crate::db::connect(&settings).unwrap();
        let mut conn = pool.get().unwrap();
        crate::db::migrate(&mut conn).unwrap();
        conn.batch_execute("DROP TABLE contacts; DROP TABLE screenings;")
            .unwrap();
        let err = submit(&mut conn, ctx, &red_request(), Some("k1"), "h").unwrap_err();
        assert!(
            matches!(err, SubmitError::NotSaved(ref shown, _) if shown.outcome.tier == Tier::Red && !shown.crisis_lines.is_empty()),
            "{err:?}"
        );

        // Invalid answers are still refused as such, whatever the database.
        let mut bad = red_request();
        bad.answers = RawAnswers(vec![("q1".into(), serde_json::json!(9))]);
        assert!(matches!(
            submit_or_not_saved(Err(DbError::Connect("x".into())), ctx, &bad, None, "h"),
            Err(SubmitError::InvalidAnswers(_))
        ));
    }
}
