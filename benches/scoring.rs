//! Scoring throughput: outcomes per second for PHQ-9 and rider_wellbeing.
//!
//! The machines this runs on are shared and noisy, so compare against the baseline measured
//! in the same run: `baseline/phq9_hand_written` is a plain Rust PHQ-9 (sum, bands, item 9)
//! with no parsing, no expressions and no allocation, i.e. the floor any engine pays; and
//! `baseline/phq9_serde_json_parse` only parses the answers' JSON text into a `Value`.
//! Run: `cargo bench --bench scoring`.

use std::hint::black_box;
use std::path::Path;

use careline::catalog::Catalog;
use careline::scoring::{self, AnswerSet};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn hand_written_phq9(answers: &[i64; 9]) -> (i64, &'static str, u8) {
    let total: i64 = answers.iter().sum();
    let band = match total {
        0..=4 => "minimal",
        5..=9 => "mild",
        10..=14 => "moderate",
        15..=19 => "moderately_severe",
        _ => "severe",
    };
    let tier = if answers[8] >= 1 || total >= 20 {
        2
    } else if total >= 10 {
        1
    } else {
        0
    };
    (total, band, tier)
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires");
    let (catalog, _) = Catalog::load_dir(&dir).expect("the questionnaire folder");
    let phq9 = catalog.get("phq9").expect("phq9");
    let rider = catalog.get("rider_wellbeing").expect("rider_wellbeing");

    let phq9_answers = json!({"q1":2,"q2":2,"q3":1,"q4":2,"q5":1,"q6":1,"q7":1,"q8":1,"q9":1});
    let phq9_text = phq9_answers.to_string();
    let rider_answers = json!({
        "anx1":2,"anx2":1,"dep1":1,"dep2":2,"sh1":1,"sh2":0,"sh3":0,"sh4":0,"sh5":0,
        "sleep_short":2,"sleep_drowsy":1,"sleep_exhausted":2,
        "work_time":3,"work_ratings":2,"work_income":2,"work_traffic":1,"work_lonely":1
    });
    let rider_text = rider_answers.to_string();

    let mut g = c.benchmark_group("scoring");
    g.throughput(Throughput::Elements(1));
    let raw = [2, 2, 1, 2, 1, 1, 1, 1, 1];
    g.bench_function("baseline/phq9_hand_written", |b| {
        b.iter(|| hand_written_phq9(black_box(&raw)))
    });
    // The cost of merely reading the request body: the floor for parse_json_and_score.
    g.bench_function("baseline/phq9_serde_json_parse", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&phq9_text)).unwrap())
    });

    let set = AnswerSet::parse(phq9, &phq9_answers).unwrap();
    g.bench_function("phq9/score", |b| b.iter(|| scoring::score(black_box(&set))));
    g.bench_function("phq9/parse_json_and_score", |b| {
        b.iter(|| scoring::score(&AnswerSet::parse_json(phq9, black_box(&phq9_text)).unwrap()))
    });

    let set = AnswerSet::parse(rider, &rider_answers).unwrap();
    g.bench_function("rider_wellbeing/score", |b| {
        b.iter(|| scoring::score(black_box(&set)))
    });
    g.bench_function("rider_wellbeing/parse_json_and_score", |b| {
        b.iter(|| scoring::score(&AnswerSet::parse_json(rider, black_box(&rider_text)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
