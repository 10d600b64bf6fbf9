//! The layers of `src/`, enforced from the code's own imports (ARCHITECTURE.md explains them).
//!
//! `LAYERS` is the one statement of the allowed direction: every top-level module of `src/` is
//! listed once, lowest first, and a module may import (`use crate::x`, or a `crate::x::` path)
//! only modules listed before it. That rules out imports that point up a layer and import
//! circles between top-level modules alike. Test code (`tests.rs`, `*_tests.rs`,
//! `test_support.rs` and `#[cfg(test)] mod tests` blocks) may reach anywhere: a page test needs
//! the whole application.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. Within a layer the order is the direction too.
const LAYERS: &[(&str, &[&str])] = &[
    // Pure: the file format, scoring, and loading files into the catalog on offer.
    ("core", &["questionnaire", "scoring", "catalog"]),
    // Shared vocabulary: plain data and helpers every use case may speak.
    (
        "vocabulary",
        &["i18n", "china_time", "contact", "config", "metrics"],
    ),
    // The only home of diesel.
    ("storage", &["db"]),
    (
        "use cases",
        &[
            "audit",
            "accounts",
            "poster",
            "fhir",
            "notify",
            "jobs",
            "abuse",
            "alerts",
            "screening",
            "rosters",
            "reports",
            "admin",
        ],
    ),
    // What handlers share, then the JSON API, the rider pages and the staff workspace.
    ("edges", &["state", "http", "web", "workspace"]),
    ("wiring", &["telemetry", "startup", "cli"]),
];

/// Crates that belong to one part of the tree only (production code).
const CONFINED: &[(&str, &[&str])] = &[
    ("diesel", &["db"]),
    ("lettre", &["notify", "config"]),
    ("actix_web", &["http", "web", "workspace", "startup", "cli"]),
];

/// Files that are test code: they may import anything.
fn is_test_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name == "tests.rs" || name.ends_with("_tests.rs") || name == "test_support.rs"
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs` and `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(stem) => Some(stem.to_string()),
        None => Some(first),
    }
}

/// The production code of a file: without comments and without its `#[cfg(test)]` block.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        out.push_str(line.split("//").next().unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The top-level modules a piece of code names through `crate::`: `crate::a::b`,
/// `crate::{a, b::{c, d}}`.
fn crate_imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `careline::crate::` cannot occur; `$crate::` in macros is not ours.
        if code[..at].ends_with('$') || code[..at].ends_with(|c: char| c.is_alphanumeric()) {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: the first identifier of each comma-separated part
            // at depth one.
            let mut depth = 1;
            let mut part_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => part_start = true,
                    c if part_start && depth == 1 && (c.is_ascii_lowercase() || c == '_') => {
                        let name: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        found.insert(name);
                        part_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

struct Tree {
    /// module -> (imported module -> the first file that imports it)
    imports: BTreeMap<String, BTreeMap<String, String>>,
    /// module -> its production code, file by file
    code: BTreeMap<String, Vec<(String, String)>>,
}

fn read_tree() -> Tree {
    let src = crate::root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut tree = Tree {
        imports: BTreeMap::new(),
        code: BTreeMap::new(),
    };
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        if is_test_file(&file) {
            continue;
        }
        let shown = file
            .strip_prefix(crate::root())
            .unwrap()
            .display()
            .to_string();
        let code = production_code(&std::fs::read_to_string(&file).unwrap());
        let entry = tree.imports.entry(module.clone()).or_default();
        for imported in crate_imports(&code) {
            if imported != module {
                entry.entry(imported).or_insert_with(|| shown.clone());
            }
        }
        tree.code.entry(module).or_default().push((shown, code));
    }
    tree
}

fn rank() -> BTreeMap<&'static str, usize> {
    LAYERS
        .iter()
        .flat_map(|(_, modules)| modules.iter().copied())
        .enumerate()
        .map(|(i, m)| (m, i))
        .collect()
}

fn layer_of(module: &str) -> &'static str {
    LAYERS
        .iter()
        .find(|(_, modules)| modules.contains(&module))
        .map_or("?", |(name, _)| name)
}

/// Every import that breaks the order, as a message naming the file.
fn violations(imports: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let rank = rank();
    let mut found = Vec::new();
    for (module, targets) in imports {
        let Some(&own) = rank.get(module.as_str()) else {
            continue;
        };
        for (target, file) in targets {
            let Some(&theirs) = rank.get(target.as_str()) else {
                found.push(format!(
                    "{file}: `{module}` imports `{target}`, which is no module"
                ));
                continue;
            };
            if theirs >= own {
                let back = imports
                    .get(target)
                    .and_then(|t| t.get(module))
                    .map(|f| format!(" (and {f}: `{target}` imports `{module}`: a circle)"))
                    .unwrap_or_default();
                found.push(format!(
                    "{file}: `{module}` ({}) imports `{target}` ({}), which is not below it{back}",
                    layer_of(module),
                    layer_of(target),
                ));
            }
        }
    }
    found
}

#[test]
fn every_top_level_module_has_one_place_in_the_layers() {
    let tree = read_tree();
    let listed: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a module listed twice");
    let actual: BTreeSet<&str> = tree.imports.keys().map(String::as_str).collect();
    assert!(actual.len() >= 20, "{actual:?}");
    assert_eq!(
        actual, unique,
        "src/ and LAYERS list different modules: place a new module in LAYERS"
    );
}

#[test]
fn no_module_imports_a_module_above_it_and_no_two_import_each_other() {
    let tree = read_tree();
    let found = violations(&tree.imports);
    assert!(
        found.is_empty(),
        "imports against the layers (tests/engine/layering.rs lists them):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_finds_an_upward_import_and_a_circle() {
    let imports = |pairs: &[(&str, &str)]| {
        let mut map: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (from, to) in pairs {
            map.entry(from.to_string())
                .or_default()
                .insert(to.to_string(), format!("src/{from}.rs"));
        }
        map
    };
    assert!(violations(&imports(&[("http", "db"), ("db", "config")])).is_empty());
    let up = violations(&imports(&[("notify", "web")]));
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(
        up[0].contains("`notify` (use cases) imports `web` (edges)"),
        "{up:?}"
    );
    let circle = violations(&imports(&[
        ("alerts", "screening"),
        ("screening", "alerts"),
    ]));
    assert_eq!(circle.len(), 1, "{circle:?}");
    assert!(circle[0].contains("a circle"), "{circle:?}");
    let unknown = violations(&imports(&[("http", "nowhere")]));
    assert!(unknown[0].contains("no module"), "{unknown:?}");
}

#[test]
fn crate_paths_are_read_from_uses_groups_and_inline_paths() {
    let code = "use crate::db::{self, DbError};\nuse crate::{alerts, jobs::{a, b}, config::X};\n\
                let x = crate::china_time::local(t);\nmacro_rules! m { () => { $crate::hidden } }";
    let found: Vec<String> = crate_imports(code).into_iter().collect();
    assert_eq!(found, ["alerts", "china_time", "config", "db", "jobs"]);
    let code = production_code(
        "use crate::db; // crate::web in a comment\n#[cfg(test)]\nmod tests {\n    use crate::startup;\n}\n",
    );
    assert_eq!(crate_imports(&code).into_iter().collect::<Vec<_>>(), ["db"]);
}

#[test]
fn diesel_actix_and_lettre_stay_in_their_modules() {
    let tree = read_tree();
    let mut found = Vec::new();
    for (krate, homes) in CONFINED {
        for (module, files) in &tree.code {
            if homes.contains(&module.as_str()) {
                continue;
            }
            for (file, code) in files {
                if code.contains(&format!("{krate}::")) || code.contains(&format!("use {krate}")) {
                    found.push(format!("{file}: {krate} outside {homes:?}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
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

#[test]
fn the_core_and_the_vocabulary_do_no_io_beyond_reading_files() {
    // `catalog` reads and watches its folder; the rest of the core and the vocabulary touch
    // nothing outside the process.
    let tree = read_tree();
    let mut found = Vec::new();
    for module in [
        "questionnaire",
        "scoring",
        "catalog",
        "i18n",
        "china_time",
        "contact",
    ] {
        for (file, code) in &tree.code[module] {
            for word in [
                "diesel",
                "actix",
                "tokio",
                "reqwest",
                "lettre",
                "std::net",
                "TcpStream",
            ] {
                if code.contains(word) {
                    found.push(format!("{file}: {word}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
