//! Each file in `tests/fixtures/invalid/` has one kind of mistake; its `.expected` file holds
//! the exact diagnostics (`line:col: message`). Run with `CARELINE_BLESS=1` to rewrite the
//! expectations after a deliberate change of wording, then review the diff.

use std::collections::BTreeSet;

use careline::catalog::{load_file, questionnaire_files};

#[test]
fn every_invalid_fixture_reports_exactly_its_expected_errors() {
    let dir = crate::fixtures().join("invalid");
    let bless = std::env::var_os("CARELINE_BLESS").is_some();
    let files = questionnaire_files(&dir).unwrap();
    assert!(files.len() >= 20, "fixtures went missing: {files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let diags = load_file(file).expect_err(&format!("{} should not load", file.display()));
        let prefix = format!("{}:", file.display());
        let actual: String = diags
            .iter()
            .map(|d| format!("{}\n", d.to_string().trim_start_matches(&prefix)))
            .collect();
        let expected_path = file.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                file.display()
            )),
            Err(_) => failures.push(format!(
                "{} has no .expected file; actual:\n{actual}",
                file.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_expected_file_has_its_fixture() {
    let dir = crate::fixtures().join("invalid");
    let fixtures: BTreeSet<_> = questionnaire_files(&dir)
        .unwrap()
        .into_iter()
        .map(|p| p.with_extension(""))
        .collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected") {
            assert!(
                fixtures.contains(&path.with_extension("")),
                "unreferenced expectation {}",
                path.display()
            );
        }
    }
}

#[test]
fn the_fixtures_base_file_is_valid() {
    let q = load_file(&crate::fixtures().join("valid/mini.toml")).unwrap();
    assert_eq!(q.id, "mini");
}

#[test]
fn a_toml_syntax_error_points_at_the_broken_line() {
    let diags = load_file(&crate::fixtures().join("invalid/toml_syntax.toml")).unwrap_err();
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].line, 3);
    assert!(
        diags[0].message.starts_with("TOML syntax error"),
        "{}",
        diags[0]
    );
}

#[test]
fn a_folder_with_one_bad_file_still_loads_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(crate::fixtures().join("valid/mini.toml")).unwrap();
    std::fs::write(dir.path().join("mini.toml"), &good).unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        good.replace("id = \"mini\"", "id = \"broken\"")
            .replace("min = 2", "min = 9"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a questionnaire").unwrap();
    let (catalog, reports) = careline::catalog::Catalog::load_dir(dir.path()).unwrap();
    assert_eq!(
        catalog.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(),
        ["mini"]
    );
    assert_eq!(reports.len(), 2);
    let broken = reports
        .iter()
        .find(|r| r.path.ends_with("broken.toml"))
        .unwrap();
    let diags = broken.result.as_ref().unwrap_err();
    assert!(
        diags[0].message.contains("cut point 9 is outside"),
        "{}",
        diags[0]
    );
}
