//! Scoring: answers -> scores -> bands -> rules -> tier, keeping every reason.
//!
//! Pure: no I/O, no database, no web framework (a test enforces it). The tier is the most
//! severe of every band's tier and every fired rule's tier; a score that cannot be computed
//! is `incomplete` and makes the screening yellow at least, because an unknown result is
//! never a reassuring one.
//!
//! Layer: core (pure, above `questionnaire`). ARCHITECTURE.md maps the layers.

mod answers;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize, Serializer};

pub use crate::questionnaire::Tier;
pub use answers::{AnswerError, AnswerErrorCode, AnswerSet, InvalidAnswers, RawAnswers};

use crate::questionnaire::expr::{Binding, Eval, Lookup};
use crate::questionnaire::{Complete, Method, Questionnaire, Score};

/// A computed score. Serialized as an integer when it is whole (`12`, not `12.0`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Deserialize)]
#[serde(transparent)]
pub struct ScoreValue(pub f64);

impl Serialize for ScoreValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// A score landed in a band (or was incomplete: `<score>.incomplete`).
    Band,
    /// A rule's condition held.
    Rule,
    /// A rule's condition could not be evaluated; counted as yellow so it is never silent.
    RuleError,
    /// Not from scoring: the rider asked to be contacted (from a green result), which opens a
    /// yellow alert. Only ever on alerts, never on a screening's outcome.
    Request,
}

/// Why a screening got its tier: one entry per band and per fired rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    pub kind: ReasonKind,
    /// `<score>.<band>`, `<score>.incomplete`, or the rule's id.
    #[schema(example = "total.moderate")]
    pub id: String,
    pub tier: Tier,
}

/// The result of scoring one answer set: the contract shape of DESIGN.md section 6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    #[schema(example = "phq9")]
    pub questionnaire: String,
    #[schema(example = "1.0.0")]
    pub version: String,
    /// `sha256:<hex>` of the questionnaire file that scored the answers.
    #[schema(example = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    pub content_hash: String,
    /// Each score by id; `null` when too many of its items were unanswered to compute it.
    #[schema(value_type = HashMap<String, Option<f64>>, example = json!({"total": 12}))]
    pub scores: IndexMap<String, Option<ScoreValue>>,
    /// The band each score landed in, by score id (`incomplete` when it was not computed).
    #[schema(example = json!({"total": "moderate"}))]
    pub bands: IndexMap<String, String>,
    pub tier: Tier,
    pub urgent: bool,
    pub reasons: Vec<Reason>,
}

impl Outcome {
    /// Ids of the rules that fired, in file order.
    pub fn fired_rules(&self) -> impl Iterator<Item = &str> {
        self.reasons
            .iter()
            .filter(|r| r.kind == ReasonKind::Rule)
            .map(|r| r.id.as_str())
    }

    pub fn score(&self, id: &str) -> Option<f64> {
        self.scores.get(id).copied().flatten().map(|v| v.0)
    }
}

/// The score a reversed item contributes: max + min - value.
pub fn scored_value(value: i64, reverse: bool, min: i64, max: i64) -> i64 {
    if reverse { max + min - value } else { value }
}

fn round_to(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

/// Computes one score, or `None` when more items are missing than its rule allows.
fn compute(q: &Questionnaire, score: &Score, answers: &AnswerSet<'_>) -> Option<f64> {
    let mut asked = 0usize;
    let mut answered = 0usize;
    let mut sum = 0i64;
    for &idx in &score.items {
        if !answers.was_asked(idx) {
            continue;
        }
        asked += 1;
        if let Some(v) = answers.value(idx) {
            let item = &q.items[idx];
            let scale = q.scale_of(item);
            answered += 1;
            sum += scored_value(v, item.reverse, scale.min, scale.max);
        }
    }
    let missing = asked - answered;
    let rule = score.missing;
    if missing > rule.map_or(0, |r| r.max) {
        return None;
    }
    let value = match score.method {
        Method::Sum if missing == 0 => sum as f64,
        Method::Sum => match rule.map(|r| r.complete) {
            Some(Complete::Skip) => sum as f64,
            Some(Complete::Prorate) if answered > 0 => {
                (sum as f64 * asked as f64) / answered as f64
            }
            _ => return None,
        },
        Method::Mean if answered > 0 => sum as f64 / answered as f64,
        Method::Mean => return None,
    };
    let value = value * score.multiply.unwrap_or(1.0);
    Some(match rule.and_then(|r| r.round) {
        Some(d) => round_to(value, d),
        None => value,
    })
}

/// Scores and score values as rule expressions see them.
struct RuleVars<'a> {
    q: &'a Questionnaire,
    values: &'a [Option<i64>],
    scores: &'a [Option<f64>],
}

impl Lookup for RuleVars<'_> {
    fn lookup(&self, name: &str) -> Option<Binding> {
        if let Some(i) = self.q.items.iter().position(|it| it.id == name) {
            return Some(self.values[i].map_or(Binding::Null, Binding::Int));
        }
        let i = self.q.scores.iter().position(|s| s.id == name)?;
        Some(self.scores[i].map_or(Binding::Null, Binding::Double))
    }
}

/// Scores a valid answer set.
pub fn score(answers: &AnswerSet<'_>) -> Outcome {
    let q = answers.questionnaire();
    let mut tier = Tier::Green;
    let mut urgent = false;
    let mut reasons = Vec::new();
    let mut scores = IndexMap::with_capacity(q.scores.len());
    let mut bands = IndexMap::new();
    let mut values = Vec::with_capacity(q.scores.len());

    for s in &q.scores {
        let v = compute(q, s, answers);
        values.push(v);
        scores.insert(s.id.clone(), v.map(ScoreValue));
        match v {
            Some(v) => {
                // A band runs from its min up to the next band's min.
                if let Some(band) = s.bands.iter().rev().find(|b| v >= b.min) {
                    bands.insert(s.id.clone(), band.name.clone());
                    reasons.push(Reason {
                        kind: ReasonKind::Band,
                        id: band.reason_id.clone(),
                        tier: band.tier,
                    });
                    tier = tier.max(band.tier);
                }
            }
            None => {
                bands.insert(s.id.clone(), "incomplete".to_string());
                reasons.push(Reason {
                    kind: ReasonKind::Band,
                    id: s.incomplete_reason_id.clone(),
                    tier: Tier::Yellow,
                });
                tier = tier.max(Tier::Yellow);
            }
        }
    }

    let vars = RuleVars {
        q,
        values: answers.values(),
        scores: &values,
    };
    for rule in &q.rules {
        match rule.when.eval(&q.env, &vars) {
            Eval::True => {
                reasons.push(Reason {
                    kind: ReasonKind::Rule,
                    id: rule.id.clone(),
                    tier: rule.tier,
                });
                tier = tier.max(rule.tier);
                urgent |= rule.urgent;
            }
            Eval::False => {}
            Eval::Error(_) => {
                reasons.push(Reason {
                    kind: ReasonKind::RuleError,
                    id: rule.id.clone(),
                    tier: Tier::Yellow,
                });
                tier = tier.max(Tier::Yellow);
            }
        }
    }

    Outcome {
        questionnaire: q.id.clone(),
        version: q.version.clone(),
        content_hash: q.content_hash.clone(),
        scores,
        bands,
        tier,
        urgent,
        reasons,
    }
}

/// Whether a red `outcome` of `answers` is red only because sensitive questions were left
/// unanswered: with each declined sensitive question answered with its lowest choice ("no")
/// and every answer given kept, it would not be red. A refusal still counts as positive (the
/// tier is not changed); this only chooses the words the rider reads, who disclosed nothing.
/// An answer given that such a "no" would leave unasked (an acuity follow-up answered after
/// the refusals) is a disclosure: then the red is not only from refusals.
pub fn red_only_from_refusals(answers: &AnswerSet<'_>, outcome: &Outcome) -> bool {
    if outcome.tier != Tier::Red {
        return false;
    }
    let q = answers.questionnaire();
    let mut entries: Vec<(String, serde_json::Value)> = Vec::with_capacity(q.items.len());
    let mut declined = false;
    for (i, item) in q.items.iter().enumerate() {
        match answers.value(i) {
            Some(v) => entries.push((item.id.clone(), v.into())),
            None if item.sensitive && answers.was_asked(i) => {
                declined = true;
                let lowest = q.scale_of(item).choices.iter().map(|c| c.value).min();
                if let Some(lowest) = lowest {
                    entries.push((item.id.clone(), lowest.into()));
                }
            }
            None => {}
        }
    }
    if !declined {
        return false;
    }
    let raw = RawAnswers(entries);
    let kept = AnswerSet::without_unasked(q, &raw);
    if kept.0.len() < raw.0.len() {
        return false;
    }
    AnswerSet::parse_raw(q, &kept).is_ok_and(|a| score(&a).tier != Tier::Red)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversing_uses_the_scale_ends() {
        assert_eq!(scored_value(0, true, 0, 4), 4);
        assert_eq!(scored_value(1, true, 1, 5), 5);
        assert_eq!(scored_value(3, false, 0, 4), 3);
    }

    #[test]
    fn whole_scores_serialize_as_integers() {
        let j = serde_json::to_string(&[ScoreValue(12.0), ScoreValue(10.3)]).unwrap();
        assert_eq!(j, "[12,10.3]");
    }

    #[test]
    fn rounding_is_to_the_given_decimals() {
        assert_eq!(round_to(10.285714, 1), 10.3);
        assert_eq!(round_to(12.25, 0), 12.0);
    }
}
