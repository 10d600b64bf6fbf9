//! Properties of scoring and parsing, over the shipped questionnaires and random input.

use std::sync::{Arc, OnceLock};

use careline::catalog::{Catalog, parse_questionnaire};
use careline::questionnaire::{Method, Questionnaire, Tier};
use careline::scoring::{self, AnswerErrorCode, AnswerSet, ReasonKind, scored_value};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(super::shipped::catalog)
}

fn questionnaires() -> Vec<Arc<Questionnaire>> {
    catalog().iter().cloned().collect()
}

/// Builds a valid answer set from raw picks: `picks[i]` chooses a choice of item i, or leaves
/// it unanswered when the item is optional. Answers to items hidden by `show_if` are dropped.
fn valid_answers(q: &Questionnaire, picks: &[Option<usize>]) -> Map<String, Value> {
    let mut map = Map::new();
    for (i, item) in q.items.iter().enumerate() {
        let choices = &q.scale_of(item).choices;
        let pick = picks.get(i).copied().flatten();
        match pick {
            None if item.optional => {}
            p => {
                let c = &choices[p.unwrap_or(0) % choices.len()];
                map.insert(item.id.clone(), c.value.into());
            }
        }
    }
    loop {
        match AnswerSet::parse(q, &Value::Object(map.clone())) {
            Ok(_) => return map,
            Err(e) => {
                let mut changed = false;
                for err in e.0 {
                    let item = err.item.clone().unwrap();
                    match err.code {
                        AnswerErrorCode::NotAsked => {
                            map.remove(&item);
                            changed = true;
                        }
                        AnswerErrorCode::Required => {
                            let it = q.item(&item).unwrap();
                            map.insert(item, q.scale_of(it).choices[0].value.into());
                            changed = true;
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                assert!(changed);
            }
        }
    }
}

fn picks() -> impl Strategy<Value = (usize, Vec<Option<usize>>)> {
    (
        0..9usize,
        prop::collection::vec(prop::option::weighted(0.9, 0..8usize), 17),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn raising_a_non_reversed_answer_never_lowers_a_sum_score((qi, picks) in picks(), which in 0..17usize) {
        let qs = questionnaires();
        let q = &qs[qi % qs.len()];
        let before = valid_answers(q, &picks);
        let answered: Vec<&String> = before.keys().collect();
        // Every item may be left unanswered (rare, but proptest finds it): nothing to raise.
        prop_assume!(!answered.is_empty());
        let id = answered[which % answered.len()].clone();
        let item = q.item(&id).unwrap();
        prop_assume!(!item.reverse);
        let current = before[&id].as_i64().unwrap();
        let Some(higher) = q.scale_of(item).choices.iter().map(|c| c.value).filter(|&v| v > current).min() else {
            return Ok(());
        };
        let mut after = before.clone();
        after.insert(id.clone(), higher.into());
        // A raised answer may reveal a follow-up question; then the sets are not comparable.
        let Ok(after_set) = AnswerSet::parse(q, &Value::Object(after)) else { return Ok(()) };
        let o1 = scoring::score(&AnswerSet::parse(q, &Value::Object(before)).unwrap());
        let o2 = scoring::score(&after_set);
        let idx = q.item_index(&id).unwrap();
        for s in q.scores.iter().filter(|s| s.method == Method::Sum && s.items.contains(&idx)) {
            if let (Some(a), Some(b)) = (o1.score(&s.id), o2.score(&s.id)) {
                prop_assert!(b >= a, "{}.{}: {a} -> {b} after raising {id}", q.id, s.id);
            }
        }
    }

    #[test]
    fn the_tier_is_the_most_severe_reason_and_red_rules_always_give_red((qi, picks) in picks()) {
        let qs = questionnaires();
        let q = &qs[qi % qs.len()];
        let answers = valid_answers(q, &picks);
        let o = scoring::score(&AnswerSet::parse(q, &Value::Object(answers)).unwrap());
        let max = o.reasons.iter().map(|r| r.tier).max().unwrap_or(Tier::Green);
        prop_assert_eq!(o.tier, max);
        for r in &o.reasons {
            prop_assert!(o.tier >= r.tier);
            if r.kind == ReasonKind::Rule && r.tier == Tier::Red {
                prop_assert_eq!(o.tier, Tier::Red);
            }
        }
        // Every banded score shows up as a band reason, complete or not.
        for s in q.scores.iter().filter(|s| !s.bands.is_empty()) {
            prop_assert!(o.bands.contains_key(&s.id));
        }
        if o.bands.values().any(|b| b == "incomplete") {
            prop_assert!(o.tier >= Tier::Yellow);
        }
        prop_assert_eq!(o.urgent, o.reasons.iter().any(|r| r.kind == ReasonKind::Rule && q.rule(&r.id).unwrap().urgent));
    }

    #[test]
    fn reversing_twice_is_identity(min in -5i64..5, span in 0i64..10, offset in 0i64..10) {
        let max = min + span;
        let v = min + offset.min(span);
        let once = scored_value(v, true, min, max);
        prop_assert!(once >= min && once <= max);
        prop_assert_eq!(scored_value(once, true, min, max), v);
    }

    #[test]
    fn the_loader_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = parse_questionnaire("fuzz.toml", Some("fuzz"), &text);
    }

    #[test]
    fn the_loader_never_panics_on_damaged_shipped_files(qi in 0..9usize, cut in 0.0f64..1.0, drop_line in 0..400usize) {
        let qs = questionnaires();
        let q = &qs[qi % qs.len()];
        let src: &str = &q.source;
        let mut at = ((src.len() as f64) * cut) as usize;
        while !src.is_char_boundary(at) { at -= 1; }
        let _ = parse_questionnaire("x.toml", Some(&q.id), &src[..at]);
        let without: String = src.lines().enumerate().filter(|(n, _)| *n != drop_line).map(|(_, l)| format!("{l}\n")).collect();
        let _ = parse_questionnaire("x.toml", Some(&q.id), &without);
    }

    #[test]
    fn answer_parsing_never_panics_on_arbitrary_json(qi in 0..9usize, v in arb_json()) {
        let qs = questionnaires();
        let q = &qs[qi % qs.len()];
        if let Ok(set) = AnswerSet::parse(q, &v) {
            let _ = scoring::score(&set);
        }
        let text = v.to_string();
        if let Ok(set) = AnswerSet::parse_json(q, &text) {
            let _ = scoring::score(&set);
        }
    }

    #[test]
    fn answer_parsing_never_panics_on_arbitrary_text(qi in 0..9usize, text in ".{0,200}") {
        let qs = questionnaires();
        let q = &qs[qi % qs.len()];
        let _ = AnswerSet::parse_json(q, &text);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("q1".to_string()),
        Just("q5".to_string()),
        Just("q9".to_string()),
        "[a-z0-9]{1,4}"
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..8).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..12)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}
