//! A rider's answers, parsed against one questionnaire version. An `AnswerSet` can only be
//! built by `parse`, so holding one means: every key is an item, every value one of the
//! item's choices, every required item that was asked is answered, and nothing was answered
//! that was not asked.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::questionnaire::Questionnaire;
use crate::questionnaire::expr::{Binding, Eval, Lookup};

/// Answers valid for `questionnaire` by construction.
#[derive(Debug, Clone)]
pub struct AnswerSet<'q> {
    questionnaire: &'q Questionnaire,
    /// By item index: the raw answer, `None` when unanswered or not asked.
    values: Vec<Option<i64>>,
    /// By item index: whether the item was asked (its `show_if` held).
    asked: Vec<bool>,
}

/// What is wrong with one answer (or with the whole body, when `item` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AnswerError {
    /// The item the problem is about; `None` for the body as a whole.
    pub item: Option<String>,
    /// A stable machine-readable code.
    pub code: AnswerErrorCode,
    /// A sentence for people.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerErrorCode {
    NotAnObject,
    UnknownItem,
    DuplicateItem,
    NotAWholeNumber,
    NotAChoice,
    Required,
    NotAsked,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.item {
            Some(item) => write!(f, "{item}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a set of answers, in item order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidAnswers(pub Vec<AnswerError>);

impl fmt::Display for InvalidAnswers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

fn whole(message: String) -> InvalidAnswers {
    InvalidAnswers(vec![AnswerError {
        item: None,
        code: AnswerErrorCode::NotAnObject,
        message,
    }])
}

/// Answers as received: a JSON object's entries in order, duplicates kept so they can be
/// reported (a `serde_json::Map` would silently keep the last). Not yet checked against any
/// questionnaire: `AnswerSet::parse_raw` does that.
#[derive(Clone, Default, utoipa::ToSchema)]
#[schema(
    value_type = HashMap<String, Option<i64>>,
    description = "The answers: a JSON object from item id to the chosen value (an integer, one of the item's choices). An item left out, or given as null, is unanswered.",
    example = json!({"q1": 2, "q2": 1, "q3": 0})
)]
pub struct RawAnswers(pub Vec<(String, Value)>);

impl fmt::Debug for RawAnswers {
    // Answers are health data: a Debug print shows only which items were given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl<'de> Deserialize<'de> for RawAnswers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAnswers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object from item id to the chosen value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAnswers, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(RawAnswers(out))
            }
        }
        d.deserialize_map(V).map_err(de::Error::custom)
    }
}

impl<'q> AnswerSet<'q> {
    /// Parses answers from JSON text, reporting duplicate keys (which a JSON object would
    /// otherwise silently collapse).
    pub fn parse_json(
        questionnaire: &'q Questionnaire,
        json: &str,
    ) -> Result<Self, InvalidAnswers> {
        let entries: RawAnswers = serde_json::from_str(json).map_err(|e| {
            whole(format!(
                "the answers must be a JSON object from item id to the chosen value ({e})"
            ))
        })?;
        Self::parse_entries(questionnaire, &entries.0)
    }

    /// Checks answers received as raw entries (for example a field of a request body).
    pub fn parse_raw(
        questionnaire: &'q Questionnaire,
        raw: &RawAnswers,
    ) -> Result<Self, InvalidAnswers> {
        Self::parse_entries(questionnaire, &raw.0)
    }

    /// Parses answers from a JSON value (an object from item id to the chosen value).
    pub fn parse(questionnaire: &'q Questionnaire, raw: &Value) -> Result<Self, InvalidAnswers> {
        let Value::Object(map) = raw else {
            return Err(whole(
                "the answers must be a JSON object from item id to the chosen value".to_string(),
            ));
        };
        let entries: Vec<(String, Value)> =
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        Self::parse_entries(questionnaire, &entries)
    }

    fn parse_entries(
        q: &'q Questionnaire,
        entries: &[(String, Value)],
    ) -> Result<Self, InvalidAnswers> {
        let n = q.items.len();
        let mut values: Vec<Option<i64>> = vec![None; n];
        let mut given = vec![false; n];
        // Problems per item index, then those about unknown keys.
        let mut per_item: Vec<Option<AnswerError>> = vec![None; n];
        let mut unknown: Vec<AnswerError> = Vec::new();
        for (key, value) in entries {
            let Some(idx) = q.item_index(key) else {
                unknown.push(AnswerError {
                    item: Some(key.clone()),
                    code: AnswerErrorCode::UnknownItem,
                    message: format!("`{key}` is not an item of {}", q.id),
                });
                continue;
            };
            if given[idx] {
                per_item[idx] = Some(AnswerError {
                    item: Some(key.clone()),
                    code: AnswerErrorCode::DuplicateItem,
                    message: "answered more than once".to_string(),
                });
                continue;
            }
            given[idx] = true;
            let scale = q.scale_of(&q.items[idx]);
            match value {
                Value::Null => {}
                Value::Number(num) if num.as_i64().is_some() => {
                    let v = num.as_i64().unwrap_or_default();
                    if scale.has_value(v) {
                        values[idx] = Some(v);
                    } else {
                        let allowed: Vec<String> =
                            scale.choices.iter().map(|c| c.value.to_string()).collect();
                        per_item[idx] = Some(AnswerError {
                            item: Some(key.clone()),
                            code: AnswerErrorCode::NotAChoice,
                            message: format!(
                                "{v} is not one of the choices ({})",
                                allowed.join(", ")
                            ),
                        });
                    }
                }
                other => {
                    per_item[idx] = Some(AnswerError {
                        item: Some(key.clone()),
                        code: AnswerErrorCode::NotAWholeNumber,
                        message: format!(
                            "the answer must be the whole-number value of a choice, not {}",
                            describe(other)
                        ),
                    });
                }
            }
        }

        let mut asked = vec![true; n];
        for idx in 0..n {
            let item = &q.items[idx];
            if let Some(cond) = &item.show_if {
                let lookup = ItemValues {
                    q,
                    values: &values,
                    upto: idx,
                };
                // A condition that cannot be evaluated asks the question: asking too much is
                // safe, skipping a question is not.
                asked[idx] = !matches!(cond.eval(&q.env, &lookup), Eval::False);
            }
            if per_item[idx].is_some() {
                continue;
            }
            if !asked[idx] && given[idx] && values[idx].is_some() {
                per_item[idx] = Some(AnswerError {
                    item: Some(item.id.clone()),
                    code: AnswerErrorCode::NotAsked,
                    message: "answered, but this question is not asked given the earlier answers"
                        .to_string(),
                });
                values[idx] = None;
            } else if asked[idx] && values[idx].is_none() && !item.optional {
                per_item[idx] = Some(AnswerError {
                    item: Some(item.id.clone()),
                    code: AnswerErrorCode::Required,
                    message: "an answer is required".to_string(),
                });
            }
        }
        let errors: Vec<AnswerError> = per_item.into_iter().flatten().chain(unknown).collect();
        if errors.is_empty() {
            Ok(AnswerSet {
                questionnaire: q,
                values,
                asked,
            })
        } else {
            Err(InvalidAnswers(errors))
        }
    }

    /// Drops answers to questions that the earlier answers leave unasked. For the rider's form
    /// with JavaScript off, where every question is on the page: the rider could not know which
    /// ones apply, so those answers are set aside rather than refused. The API stays strict.
    pub fn without_unasked(q: &Questionnaire, raw: &RawAnswers) -> RawAnswers {
        let mut values: Vec<Option<i64>> = vec![None; q.items.len()];
        for (k, v) in &raw.0 {
            if let (Some(idx), Some(v)) = (q.item_index(k), v.as_i64()) {
                values[idx] = Some(v);
            }
        }
        for idx in 0..q.items.len() {
            if let Some(cond) = &q.items[idx].show_if {
                let lookup = ItemValues {
                    q,
                    values: &values,
                    upto: idx,
                };
                if matches!(cond.eval(&q.env, &lookup), Eval::False) {
                    values[idx] = None;
                }
            }
        }
        RawAnswers(
            raw.0
                .iter()
                .filter(|(k, _)| {
                    q.item_index(k)
                        .is_none_or(|idx| values[idx].is_some() || q.items[idx].show_if.is_none())
                })
                .cloned()
                .collect(),
        )
    }

    /// The sensitive questions the earlier answers ask that `raw` leaves unanswered, in item
    /// order: what the rider's form asks about once, gently, before accepting it as it is.
    pub fn declined_sensitive<'a>(q: &'a Questionnaire, raw: &RawAnswers) -> Vec<&'a str> {
        let mut values: Vec<Option<i64>> = vec![None; q.items.len()];
        for (k, v) in &raw.0 {
            if let (Some(idx), Some(v)) = (q.item_index(k), v.as_i64()) {
                values[idx] = Some(v);
            }
        }
        let mut declined = Vec::new();
        for idx in 0..q.items.len() {
            let asked = q.items[idx].show_if.as_ref().is_none_or(|cond| {
                let lookup = ItemValues {
                    q,
                    values: &values,
                    upto: idx,
                };
                !matches!(cond.eval(&q.env, &lookup), Eval::False)
            });
            if !asked {
                values[idx] = None;
            } else if q.items[idx].sensitive && values[idx].is_none() {
                declined.push(q.items[idx].id.as_str());
            }
        }
        declined
    }

    pub fn questionnaire(&self) -> &'q Questionnaire {
        self.questionnaire
    }

    /// The raw answer to item `index`.
    pub fn value(&self, index: usize) -> Option<i64> {
        self.values[index]
    }

    pub fn was_asked(&self, index: usize) -> bool {
        self.asked[index]
    }

    pub(crate) fn values(&self) -> &[Option<i64>] {
        &self.values
    }

    /// The answers as a JSON object (answered items only), in item order.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.questionnaire
                .items
                .iter()
                .zip(&self.values)
                .filter_map(|(item, v)| v.map(|v| (item.id.clone(), Value::from(v))))
                .collect(),
        )
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Items before `upto`, as `show_if` sees them.
struct ItemValues<'a> {
    q: &'a Questionnaire,
    values: &'a [Option<i64>],
    upto: usize,
}

impl Lookup for ItemValues<'_> {
    fn lookup(&self, name: &str) -> Option<Binding> {
        let idx = self.q.items[..self.upto]
            .iter()
            .position(|i| i.id == name)?;
        Some(self.values[idx].map_or(Binding::Null, Binding::Int))
    }
}
