//! The shipped instruments: they load (so every example passes), keep the contract names of
//! DESIGN.md section 2, and their examples cover every band boundary and every rule.

use std::sync::Arc;

use careline::catalog::Catalog;
use careline::questionnaire::{Questionnaire, Tier};
use careline::scoring::{self, AnswerSet, Outcome};

pub fn catalog() -> Catalog {
    let (catalog, reports) = Catalog::load_dir(&crate::shipped_dir()).unwrap();
    for r in &reports {
        if let Err(diags) = &r.result {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("{} does not load:\n{}", r.path.display(), lines.join("\n"));
        }
    }
    catalog
}

fn get(c: &Catalog, id: &str) -> Arc<Questionnaire> {
    Arc::clone(c.get(id).unwrap_or_else(|| panic!("{id} is not shipped")))
}

fn example_outcomes(q: &Questionnaire) -> Vec<Outcome> {
    q.examples
        .iter()
        .map(|ex| scoring::score(&AnswerSet::parse(q, &ex.answers).unwrap()))
        .collect()
}

fn ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("q{i}")).collect()
}

#[test]
fn the_nine_contract_questionnaires_are_shipped_and_load() {
    let c = catalog();
    let mut shipped: Vec<&str> = c.iter().map(|q| q.id.as_str()).collect();
    shipped.sort_unstable();
    assert_eq!(
        shipped,
        [
            "asq",
            "gad7",
            "k10",
            "k6",
            "phq4",
            "phq9",
            "pss10",
            "rider_wellbeing",
            "who5"
        ]
    );
    for q in c.iter() {
        assert_eq!(q.locales, ["zh-CN", "zh-TW", "en"], "{}", q.id);
        assert_eq!(q.default_locale, "zh-CN", "{}", q.id);
        assert!(q.content_hash.starts_with("sha256:") && q.content_hash.len() == 71);
    }
}

/// (id, number of items, lowest value, highest value, bands of `total` as (name, min, tier))
type Contract = (
    &'static str,
    usize,
    i64,
    i64,
    &'static [(&'static str, f64, Tier)],
);

const CONTRACT: &[Contract] = {
    use Tier::*;
    &[
        (
            "phq9",
            9,
            0,
            3,
            &[
                ("minimal", 0.0, Green),
                ("mild", 5.0, Green),
                ("moderate", 10.0, Yellow),
                ("moderately_severe", 15.0, Yellow),
                ("severe", 20.0, Red),
            ],
        ),
        (
            "gad7",
            7,
            0,
            3,
            &[
                ("minimal", 0.0, Green),
                ("mild", 5.0, Green),
                ("moderate", 10.0, Yellow),
                ("severe", 15.0, Yellow),
            ],
        ),
        (
            "phq4",
            4,
            0,
            3,
            &[
                ("none", 0.0, Green),
                ("mild", 3.0, Green),
                ("moderate", 6.0, Yellow),
                ("severe", 9.0, Yellow),
            ],
        ),
        (
            "k10",
            10,
            1,
            5,
            &[
                ("low", 10.0, Green),
                ("moderate", 16.0, Green),
                ("high", 22.0, Yellow),
                ("very_high", 30.0, Yellow),
            ],
        ),
        (
            "k6",
            6,
            0,
            4,
            &[
                ("low", 0.0, Green),
                ("moderate", 5.0, Green),
                ("serious", 13.0, Yellow),
            ],
        ),
        (
            "who5",
            5,
            0,
            5,
            &[
                ("likely_depression", 0.0, Yellow),
                ("poor_wellbeing", 29.0, Yellow),
                ("normal", 51.0, Green),
            ],
        ),
        (
            "pss10",
            10,
            0,
            4,
            &[
                ("low", 0.0, Green),
                ("moderate", 14.0, Green),
                ("high", 27.0, Yellow),
            ],
        ),
        ("asq", 5, 0, 1, &[]),
    ]
};

#[test]
fn standard_instruments_keep_their_contract_items_scales_and_bands() {
    let c = catalog();
    for &(id, n, lo, hi, bands) in CONTRACT {
        let q = get(&c, id);
        let item_ids: Vec<String> = q.items.iter().map(|i| i.id.clone()).collect();
        assert_eq!(item_ids, ids(n), "{id} item ids");
        for item in &q.items {
            let s = q.scale_of(item);
            assert_eq!((s.min, s.max), (lo, hi), "{id}.{} scale", item.id);
        }
        let total = q
            .score("total")
            .unwrap_or_else(|| panic!("{id} has no total"));
        let actual: Vec<(&str, f64, Tier)> = total
            .bands
            .iter()
            .map(|b| (b.name.as_str(), b.min, b.tier))
            .collect();
        assert_eq!(actual, bands, "{id} bands");
    }
}

#[test]
fn instrument_specific_scoring_rules_are_declared() {
    let c = catalog();
    let phq9 = get(&c, "phq9");
    let m = phq9
        .score("total")
        .unwrap()
        .missing
        .expect("PHQ-9 prorates up to 2 missing");
    assert_eq!(m.max, 2);
    assert!(phq9.items.iter().all(|i| i.optional));
    assert_eq!(phq9.rule("self_harm").unwrap().tier, Tier::Red);

    let k10 = get(&c, "k10");
    let m = k10
        .score("total")
        .unwrap()
        .missing
        .expect("K10 prorates up to 2 missing");
    assert_eq!((m.max, m.round), (2, Some(1)));

    assert_eq!(get(&c, "who5").score("total").unwrap().multiply, Some(4.0));

    let pss = get(&c, "pss10");
    let reversed: Vec<&str> = pss
        .items
        .iter()
        .filter(|i| i.reverse)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(reversed, ["q4", "q5", "q7", "q8"]);

    let phq4 = get(&c, "phq4");
    assert!(phq4.score("anxiety").is_some() && phq4.score("depression").is_some());

    let asq = get(&c, "asq");
    assert!(asq.items[..4].iter().all(|i| i.optional));
    assert!(asq.item("q5").unwrap().show_if.is_some());
    assert_eq!(asq.rule("positive_screen").unwrap().tier, Tier::Red);
    let acute = asq.rule("acute_positive").unwrap();
    assert!(acute.tier == Tier::Red && acute.urgent);
}

fn score_json(q: &Questionnaire, json: serde_json::Value) -> Outcome {
    scoring::score(&AnswerSet::parse(q, &json).unwrap())
}

#[test]
fn unknown_risk_is_never_green() {
    let c = catalog();
    // PHQ-9 with item 9 unanswered and everything else 0.
    let phq9 = get(&c, "phq9");
    let o = score_json(
        &phq9,
        serde_json::json!({"q1":0,"q2":0,"q3":0,"q4":0,"q5":0,"q6":0,"q7":0,"q8":0}),
    );
    assert_eq!(o.tier, Tier::Yellow);
    // ASQ: a refusal on any screening question is a positive screen.
    let asq = get(&c, "asq");
    for refused in ["q1", "q2", "q3", "q4"] {
        let mut answers = serde_json::json!({"q1":0,"q2":0,"q3":0,"q4":0});
        answers.as_object_mut().unwrap().remove(refused);
        let o = score_json(&asq, answers);
        assert_eq!(o.tier, Tier::Red, "refusing {refused}");
    }
    // K10 with three missing items has no score and is yellow.
    let k10 = get(&c, "k10");
    let o = score_json(
        &k10,
        serde_json::json!({"q1":1,"q2":1,"q3":1,"q4":1,"q5":1,"q6":1,"q7":1}),
    );
    assert_eq!(o.bands["total"], "incomplete");
    assert_eq!(o.tier, Tier::Yellow);
}

#[test]
fn rider_wellbeing_work_pressure_alone_never_raises_red() {
    let c = catalog();
    let q = get(&c, "rider_wellbeing");
    let work_items: Vec<usize> = q
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.section.as_deref() == Some("work"))
        .map(|(n, _)| n)
        .collect();
    assert!(
        work_items.len() >= 5,
        "the work-pressure section is missing"
    );
    // Everything else at its lowest, the work section at its highest.
    let mut answers = serde_json::Map::new();
    for (n, item) in q.items.iter().enumerate() {
        if item.show_if.is_some() {
            continue;
        }
        let s = q.scale_of(item);
        let low = if item.id.starts_with("sh") { 0 } else { s.min };
        answers.insert(
            item.id.clone(),
            (if work_items.contains(&n) { s.max } else { low }).into(),
        );
    }
    let o = score_json(&q, serde_json::Value::Object(answers));
    assert_eq!(o.tier, Tier::Yellow, "{o:?}");
    // No red band or red rule may depend on the work section.
    for rule in q.rules.iter().filter(|r| r.tier == Tier::Red) {
        for &n in &work_items {
            assert!(
                !rule.when.source().contains(&q.items[n].id),
                "red rule {} reads {}",
                rule.id,
                q.items[n].id
            );
        }
    }
    let work_score = q.score("work_pressure").expect("a work_pressure score");
    assert!(work_score.bands.iter().all(|b| b.tier != Tier::Red));
}

#[test]
fn rider_wellbeing_is_short_enough_for_a_phone() {
    let c = catalog();
    let q = get(&c, "rider_wellbeing");
    // Under 3 minutes: about 300 Chinese characters read per minute, plus 3 s to tap each answer.
    let chars: usize = q
        .items
        .iter()
        .map(|i| i.text.get("zh-CN", "zh-CN").chars().count())
        .sum::<usize>()
        + q.instructions.get("zh-CN", "zh-CN").chars().count();
    let seconds = chars as f64 / 300.0 * 60.0 + 3.0 * q.items.len() as f64;
    assert!(seconds < 180.0, "estimated {seconds:.0} s");
    assert!(q.estimated_minutes.is_some_and(|m| m <= 3));
}

/// For each banded score: an example just below, at (or, when the score moves in steps, the
/// first reachable value at or above) and just above every cut point; and for each rule an
/// example where it fires and one where it does not.
#[test]
fn examples_cover_every_band_boundary_and_every_rule() {
    let c = catalog();
    let mut gaps = Vec::new();
    for q in c.iter() {
        let outcomes = example_outcomes(q);
        for s in &q.scores {
            let step = s.multiply.unwrap_or(1.0);
            let values: Vec<f64> = outcomes.iter().filter_map(|o| o.score(&s.id)).collect();
            for (i, band) in s.bands.iter().enumerate() {
                let at = values.iter().any(|&v| v >= band.min && v < band.min + step);
                let above = values
                    .iter()
                    .any(|&v| v > band.min && v <= band.min + 2.0 * step);
                let below = i == 0 || values.iter().any(|&v| v < band.min && v >= band.min - step);
                if !(at && above && below) {
                    gaps.push(format!(
                        "{}: {}.{} (at {at}, below {below}, above {above})",
                        q.id, s.id, band.name
                    ));
                }
            }
        }
        for rule in &q.rules {
            let fired = outcomes
                .iter()
                .filter(|o| o.fired_rules().any(|r| r == rule.id))
                .count();
            if fired == 0 || fired == outcomes.len() {
                gaps.push(format!(
                    "{}: rule {} fires in {fired} of {} examples",
                    q.id,
                    rule.id,
                    outcomes.len()
                ));
            }
        }
    }
    assert!(gaps.is_empty(), "examples miss:\n{}", gaps.join("\n"));
}

#[test]
fn resources_never_name_the_tier_or_show_a_score() {
    let c = catalog();
    for q in c.iter() {
        for (tier, res) in &q.resources {
            for locale in &q.locales {
                let msg = res.message.get(locale, &q.default_locale).to_lowercase();
                let words: Vec<&str> = msg.split(|c: char| !c.is_alphanumeric()).collect();
                assert!(
                    !words.contains(&"red") && !msg.contains("红色") && !msg.contains("紅色"),
                    "{} {tier} {locale}: {msg}",
                    q.id
                );
                assert!(
                    !msg.chars().any(|c| c.is_ascii_digit())
                        || msg.contains("110")
                        || msg.contains("120"),
                    "{} {tier} {locale} shows a number: {msg}",
                    q.id
                );
            }
        }
        assert!(q.resources.contains_key(&Tier::Green) && q.resources.contains_key(&Tier::Yellow));
        let can_be_red = q.rules.iter().any(|r| r.tier == Tier::Red)
            || q.scores
                .iter()
                .flat_map(|s| &s.bands)
                .any(|b| b.tier == Tier::Red);
        assert_eq!(
            q.resources.contains_key(&Tier::Red),
            can_be_red,
            "{} red resources",
            q.id
        );
    }
}

#[test]
fn the_self_harm_questions_are_sensitive_and_a_red_from_refusals_alone_is_told_apart() {
    let c = catalog();
    for (id, items) in [
        ("asq", ["q1", "q2", "q3", "q4"]),
        ("rider_wellbeing", ["sh1", "sh2", "sh3", "sh4"]),
    ] {
        let q = get(&c, id);
        let sensitive: Vec<&str> = q
            .items
            .iter()
            .filter(|i| i.sensitive)
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(sensitive, items, "{id}");
        assert!(
            q.resources[&Tier::Red].refused_message.is_some(),
            "{id} has words for a red that comes from refusals"
        );
    }
    let q = get(&c, "asq");
    let only_refusals = |json: serde_json::Value| {
        let answers = AnswerSet::parse(&q, &json).expect("valid answers");
        let outcome = scoring::score(&answers);
        (
            outcome.tier,
            scoring::red_only_from_refusals(&answers, &outcome),
        )
    };
    // Nothing answered: red (a refusal counts as positive), from refusals alone.
    assert_eq!(only_refusals(serde_json::json!({})), (Tier::Red, true));
    assert_eq!(
        only_refusals(serde_json::json!({"q1": 0, "q2": 0, "q3": 0})),
        (Tier::Red, true)
    );
    // A "yes" is a disclosure, whatever else was skipped.
    assert_eq!(
        only_refusals(serde_json::json!({"q1": 1})),
        (Tier::Red, false)
    );
    // The acuity question answered after refusals is a disclosure too.
    assert_eq!(
        only_refusals(serde_json::json!({"q5": 1})),
        (Tier::Red, false)
    );
    assert_eq!(
        only_refusals(serde_json::json!({"q5": 0})),
        (Tier::Red, false),
        "answered, even no: the rider told us something a 'no' above would not ask"
    );
    // All no: green, nothing to tell apart.
    assert_eq!(
        only_refusals(serde_json::json!({"q1": 0, "q2": 0, "q3": 0, "q4": 0})),
        (Tier::Green, false)
    );
    // rider_wellbeing: everything else answered "no", the self-harm questions skipped.
    let rw = get(&c, "rider_wellbeing");
    let mut all = serde_json::json!({
        "anx1": 0, "anx2": 0, "dep1": 0, "dep2": 0,
        "sleep_short": 0, "sleep_drowsy": 0, "sleep_exhausted": 0,
        "work_time": 0, "work_ratings": 0, "work_income": 0, "work_traffic": 0, "work_lonely": 0,
    });
    let answers = AnswerSet::parse(&rw, &all).expect("valid");
    let outcome = scoring::score(&answers);
    assert_eq!(outcome.tier, Tier::Red);
    assert!(scoring::red_only_from_refusals(&answers, &outcome));
    all["sh2"] = 1.into();
    let answers = AnswerSet::parse(&rw, &all).expect("valid");
    let outcome = scoring::score(&answers);
    assert_eq!(outcome.tier, Tier::Red);
    assert!(!scoring::red_only_from_refusals(&answers, &outcome));
}
