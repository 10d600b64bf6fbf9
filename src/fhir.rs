//! FHIR R4 exports: a questionnaire as a `Questionnaire`, a stored screening as a
//! `QuestionnaireResponse` with its scores, and the contact details (only when asked for) as a
//! `Patient`.
//!
//! Layer: use case, pure (JSON in, JSON out; no I/O). Codes: LOINC for PHQ-9 (panel, items,
//! answers, total) and GAD-7 (panel, items, total; its answers use the PHQ-9 answer list);
//! every other questionnaire, item, answer and score is coded in Careline's own code systems
//! under [`BASE`] (README.md, "FHIR export").

use serde_json::{Map, Value, json};

use crate::questionnaire::Questionnaire;

/// Careline's namespace for its own code systems, extensions and canonical URLs. `.invalid`
/// (RFC 2606): it names, it does not resolve.
pub const BASE: &str = "https://careline.invalid/fhir";
pub const LOINC: &str = "http://loinc.org";
const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
const ORDINAL: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";

/// LOINC codes of one instrument: the panel, the items in order, the answers by value, and the
/// total score.
struct Loinc {
    panel: &'static str,
    items: &'static [&'static str],
    answers: &'static [(&'static str, &'static str)],
    total: &'static str,
}

/// LOINC answer list LL358-3 ("Not at all" .. "Nearly every day"), values 0 to 3.
const FREQUENCY: &[(&str, &str)] = &[
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
];

const PHQ9: Loinc = Loinc {
    panel: "44249-1",
    items: &[
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3",
        "44260-8",
    ],
    answers: FREQUENCY,
    total: "44261-6",
};

const GAD7: Loinc = Loinc {
    panel: "69737-5",
    items: &[
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ],
    answers: FREQUENCY,
    total: "70274-6",
};

fn loinc_of(id: &str) -> Option<&'static Loinc> {
    match id {
        "phq9" => Some(&PHQ9),
        "gad7" => Some(&GAD7),
        _ => None,
    }
}

/// The canonical URL of a questionnaire.
pub fn questionnaire_url(id: &str) -> String {
    format!("{BASE}/Questionnaire/{id}")
}

fn coding(system: &str, code: &str, display: Option<&str>) -> Value {
    let mut c = json!({"system": system, "code": code});
    if let Some(d) = display.filter(|d| !d.is_empty()) {
        c["display"] = d.into();
    }
    c
}

fn item_code(q: &Questionnaire, index: usize) -> Value {
    let item = &q.items[index];
    match loinc_of(&q.id).and_then(|l| l.items.get(index)) {
        Some(code) => coding(LOINC, code, None),
        None => coding(&format!("{BASE}/CodeSystem/{}", q.id), &item.id, None),
    }
}

fn answer_coding(q: &Questionnaire, scale: &str, value: i64, label: &str) -> Value {
    let loinc =
        loinc_of(&q.id).and_then(|l| usize::try_from(value).ok().and_then(|v| l.answers.get(v)));
    match loinc {
        Some((code, display)) => coding(LOINC, code, Some(display)),
        None => coding(
            &format!("{BASE}/CodeSystem/{}-{scale}", q.id),
            &value.to_string(),
            Some(label),
        ),
    }
}

fn score_code(q: &Questionnaire, score: &str) -> Value {
    match loinc_of(&q.id) {
        Some(l) if score == "total" => coding(LOINC, l.total, None),
        _ => coding(&format!("{BASE}/CodeSystem/{}-scores", q.id), score, None),
    }
}

/// `_text` with the other languages of a localized text (the translation extension).
fn translations(q: &Questionnaire, text: &crate::questionnaire::Localized) -> Option<Value> {
    let others: Vec<Value> = q
        .locales
        .iter()
        .filter(|l| **l != q.default_locale)
        .map(|l| (l, text.get(l, "")))
        .filter(|(_, t)| !t.is_empty())
        .map(|(l, t)| {
            json!({"url": TRANSLATION, "extension": [
                {"url": "lang", "valueCode": l},
                {"url": "content", "valueString": t},
            ]})
        })
        .collect();
    (!others.is_empty()).then(|| json!({ "extension": others }))
}

fn score_link(id: &str) -> String {
    format!("score-{id}")
}

/// A questionnaire as a FHIR R4 `Questionnaire`: its items as `choice` questions with their
/// answer options (and ordinal values), its scores as read-only `decimal` items, text in the
/// default language with the others as translations. A `show_if` condition (CEL, which FHIR's
/// `enableWhen` cannot say) is carried as the extension `{BASE}/StructureDefinition/show-if`.
pub fn questionnaire(q: &Questionnaire) -> Value {
    let dl = q.default_locale.as_str();
    let mut items: Vec<Value> = Vec::new();
    for (i, item) in q.items.iter().enumerate() {
        let scale = q.scale_of(item);
        let options: Vec<Value> = scale
            .choices
            .iter()
            .map(|c| {
                let mut coding = answer_coding(q, &scale.name, c.value, c.label.get(dl, dl));
                coding["extension"] = json!([{"url": ORDINAL, "valueDecimal": c.value}]);
                json!({ "valueCoding": coding })
            })
            .collect();
        let mut v = json!({
            "linkId": item.id,
            "code": [item_code(q, i)],
            "text": item.text.get(dl, dl),
            "type": "choice",
            "required": !item.optional && item.show_if.is_none(),
            "answerOption": options,
        });
        if let Some(t) = translations(q, &item.text) {
            v["_text"] = t;
        }
        if let Some(cond) = &item.show_if {
            v["extension"] = json!([{
                "url": format!("{BASE}/StructureDefinition/show-if"),
                "valueString": cond.source(),
            }]);
        }
        items.push(v);
    }
    for s in &q.scores {
        items.push(json!({
            "linkId": score_link(&s.id),
            "code": [score_code(q, &s.id)],
            "text": format!("Score: {}", s.id),
            "type": "decimal",
            "readOnly": true,
        }));
    }
    let mut code = vec![coding(
        &format!("{BASE}/CodeSystem/questionnaires"),
        &q.id,
        None,
    )];
    if let Some(l) = loinc_of(&q.id) {
        code.insert(0, coding(LOINC, l.panel, None));
    }
    let mut out = json!({
        "resourceType": "Questionnaire",
        "id": q.id.replace('_', "-"),
        "url": questionnaire_url(&q.id),
        "version": q.version,
        "name": q.id.to_ascii_uppercase(),
        "title": q.title.get(dl, dl),
        "status": "active",
        "language": dl,
        "subjectType": ["Patient"],
        "code": code,
        "description": q.instructions.get(dl, dl),
        "item": items,
    });
    if let Some(t) = translations(q, &q.title) {
        out["_title"] = t;
    }
    out
}

/// A stored screening, as the export needs it.
#[derive(Debug, Clone)]
pub struct Screening<'a> {
    pub id: &'a str,
    pub questionnaire_id: &'a str,
    /// The version that scored it, when its source is still known.
    pub questionnaire: Option<&'a Questionnaire>,
    pub submitted_at: String,
    pub locale: &'a str,
    pub tier: &'a str,
    pub urgent: bool,
    pub site: Option<&'a str>,
    pub answers: &'a Map<String, Value>,
    pub scores: &'a Map<String, Value>,
    pub bands: &'a Map<String, Value>,
}

fn extension(name: &str, kind: &str, value: Value) -> Value {
    let mut e = json!({ "url": format!("{BASE}/StructureDefinition/{name}") });
    e[kind] = value;
    e
}

/// A screening as a FHIR R4 `QuestionnaireResponse`: each answered item with its coded answer
/// (in the language the rider answered in), each score as a `decimal` answer of its score item
/// with its band as the extension `band` (an incomplete score: no answer, band
/// `incomplete`); the tier, urgency and site as extensions. `subject` refers to the patient
/// entry when contact details are exported.
pub fn questionnaire_response(s: &Screening<'_>, subject: Option<&str>) -> Value {
    let mut items: Vec<Value> = Vec::new();
    let locale = s.locale;
    if let Some(q) = s.questionnaire {
        for item in &q.items {
            let Some(value) = s.answers.get(&item.id).and_then(Value::as_i64) else {
                continue;
            };
            let scale = q.scale_of(item);
            let label = scale
                .choices
                .iter()
                .find(|c| c.value == value)
                .map(|c| c.label.get(locale, &q.default_locale))
                .unwrap_or_default();
            items.push(json!({
                "linkId": item.id,
                "text": item.text.get(locale, &q.default_locale),
                "answer": [{ "valueCoding": answer_coding(q, &scale.name, value, label) }],
            }));
        }
    } else {
        // The version's source is gone: the raw values, coded by item id.
        for (id, v) in s.answers {
            if let Some(value) = v.as_i64() {
                items.push(json!({"linkId": id, "answer": [{"valueInteger": value}]}));
            }
        }
    }
    let mut score_ids: Vec<&String> = s.scores.keys().collect();
    score_ids.sort();
    for id in score_ids {
        let mut v = json!({ "linkId": score_link(id), "text": format!("Score: {id}") });
        if let Some(n) = s.scores.get(id).and_then(Value::as_f64) {
            v["answer"] = json!([{ "valueDecimal": n }]);
        }
        if let Some(band) = s.bands.get(id).and_then(Value::as_str) {
            v["extension"] = json!([extension("band", "valueCode", band.into())]);
        }
        items.push(v);
    }
    let mut extensions = vec![
        extension("tier", "valueCode", s.tier.into()),
        extension("urgent", "valueBoolean", s.urgent.into()),
    ];
    if let Some(site) = s.site {
        extensions.push(extension("site", "valueString", site.into()));
    }
    let version = s.questionnaire.map(|q| q.version.as_str());
    let mut out = json!({
        "resourceType": "QuestionnaireResponse",
        "id": s.id,
        "identifier": {"system": format!("{BASE}/screening"), "value": s.id},
        "questionnaire": match version {
            Some(v) => format!("{}|{v}", questionnaire_url(s.questionnaire_id)),
            None => questionnaire_url(s.questionnaire_id),
        },
        "status": "completed",
        "authored": s.submitted_at,
        "language": locale,
        "extension": extensions,
        "item": items,
    });
    if let Some(subject) = subject {
        out["subject"] = json!({ "reference": subject });
    }
    out
}

/// The rider's contact details as a `Patient` (only when the counselor asked for them).
pub fn patient(id: &str, name: Option<&str>, phone: &str) -> Value {
    let mut p = json!({
        "resourceType": "Patient",
        "id": id,
        "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
    });
    if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
        p["name"] = json!([{ "text": n }]);
    }
    p
}

/// A `collection` Bundle of resources, each with a `urn:uuid:` full URL.
pub fn bundle(id: &str, timestamp: &str, entries: Vec<(String, Value)>) -> Value {
    json!({
        "resourceType": "Bundle",
        "id": id,
        "type": "collection",
        "timestamp": timestamp,
        "entry": entries
            .into_iter()
            .map(|(full_url, resource)| json!({"fullUrl": full_url, "resource": resource}))
            .collect::<Vec<_>>(),
    })
}
