//! `questionnaire/` and `scoring/` are pure: no database, no web framework, no network.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_pure_core_does_not_use_diesel_actix_or_network_crates() {
    let forbidden = ["diesel", "actix", "tokio", "reqwest", "lettre", "std::net"];
    let mut files = Vec::new();
    for dir in ["src/questionnaire", "src/scoring"] {
        rust_files(&crate::root().join(dir), &mut files);
    }
    assert!(files.len() >= 5, "{files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for word in forbidden {
                if code.contains(word) {
                    found.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the pure core reaches out:\n{}",
        found.join("\n")
    );
}
