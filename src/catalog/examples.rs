//! Runs a file's `[[examples]]`: its own tests, at every load and in `careline check`.

use crate::questionnaire::{Diagnostics, Questionnaire};
use crate::scoring::{self, AnswerSet, Outcome};

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn describe_reasons(o: &Outcome) -> String {
    let parts: Vec<String> = o
        .reasons
        .iter()
        .map(|r| format!("{} {}", r.id, r.tier))
        .collect();
    if parts.is_empty() {
        "no reasons".into()
    } else {
        parts.join(", ")
    }
}

pub(crate) fn run(q: &Questionnaire, d: &mut Diagnostics<'_>) {
    for ex in &q.examples {
        let name = &ex.name;
        let answers = match AnswerSet::parse(q, &ex.answers) {
            Ok(a) => a,
            Err(e) => {
                d.error_at(
                    ex.offset,
                    format!("example \"{name}\": its answers are invalid: {e}"),
                );
                continue;
            }
        };
        let got = scoring::score(&answers);
        if got.tier != ex.tier {
            d.error_at(
                ex.offset,
                format!(
                    "example \"{name}\": expected tier {}, got {} ({})",
                    ex.tier,
                    got.tier,
                    describe_reasons(&got)
                ),
            );
        }
        if let Some(urgent) = ex.urgent
            && urgent != got.urgent
        {
            d.error_at(
                ex.offset,
                format!(
                    "example \"{name}\": expected urgent = {urgent}, got {}",
                    got.urgent
                ),
            );
        }
        for (id, want) in ex.scores.iter().flatten() {
            match got.score(id) {
                Some(v) if (v - want).abs() < 1e-9 => {}
                Some(v) => d.error_at(
                    ex.offset,
                    format!(
                        "example \"{name}\": expected score {id} = {}, got {}",
                        fmt_num(*want),
                        fmt_num(v)
                    ),
                ),
                None => d.error_at(
                    ex.offset,
                    format!(
                        "example \"{name}\": expected score {id} = {}, got no score (incomplete)",
                        fmt_num(*want)
                    ),
                ),
            }
        }
        for (id, want) in ex.bands.iter().flatten() {
            let actual = got.bands.get(id).map_or("no band", String::as_str);
            if actual != want {
                d.error_at(
                    ex.offset,
                    format!("example \"{name}\": expected band {id} = {want}, got {actual}"),
                );
            }
        }
        if let Some(want) = &ex.rules {
            let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
            let mut fired: Vec<&str> = got.fired_rules().collect();
            want.sort_unstable();
            fired.sort_unstable();
            if want != fired {
                d.error_at(
                    ex.offset,
                    format!(
                        "example \"{name}\": expected rules [{}], got [{}]",
                        want.join(", "),
                        fired.join(", ")
                    ),
                );
            }
        }
        let errored: Vec<&str> = got
            .reasons
            .iter()
            .filter(|r| r.kind == scoring::ReasonKind::RuleError)
            .map(|r| r.id.as_str())
            .collect();
        if !errored.is_empty() {
            d.error_at(
                ex.offset,
                format!(
                    "example \"{name}\": rule(s) {} failed to evaluate (guard optional items: `x != null && ...`)",
                    errored.join(", ")
                ),
            );
        }
    }
}
