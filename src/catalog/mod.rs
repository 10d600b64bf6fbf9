//! Loading questionnaire files: parse and validate (`questionnaire`), run each file's examples
//! through `scoring` (a failing example rejects the file), and keep the set on offer by id
//! (`Catalog`), live-reloaded from its folder (`live`). Reads files; no database, no web.
//!
//! Layer: core (above `scoring`; reads and watches files, nothing else). ARCHITECTURE.md maps the layers.

mod examples;
pub mod live;

pub use live::{LiveCatalog, watch};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::questionnaire::{Diagnostic, Diagnostics, Questionnaire, parse_structure};

/// Parses and validates `source`, then runs its examples: what `careline check` and every load
/// do. `path` is used in messages; `file_stem`, when given, is what `id` must equal.
pub fn parse_questionnaire(
    path: &str,
    file_stem: Option<&str>,
    source: &str,
) -> Result<Questionnaire, Vec<Diagnostic>> {
    let q = parse_structure(path, file_stem, source)?;
    let mut d = Diagnostics::new(path, source);
    examples::run(&q, &mut d);
    if d.is_empty() {
        Ok(q)
    } else {
        Err(d.into_vec())
    }
}

/// What happened to one file.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    pub result: Result<Arc<Questionnaire>, Vec<Diagnostic>>,
}

/// Loads and validates one file. The `id` inside must match the file name.
pub fn load_file(path: &Path) -> Result<Questionnaire, Vec<Diagnostic>> {
    let shown = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            path: shown.clone(),
            line: 1,
            col: 1,
            message: format!("cannot read the file: {e}"),
        }]
    })?;
    let stem = path.file_stem().and_then(|s| s.to_str());
    parse_questionnaire(&shown, stem, &source)
}

/// The `*.toml` files in a folder, sorted by name.
pub fn questionnaire_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The questionnaires on offer, by id. Each is one exact version (see `content_hash`).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    by_id: BTreeMap<String, Arc<Questionnaire>>,
}

impl Catalog {
    /// Loads every `*.toml` file in `dir`. A file with errors is left out and reported; the
    /// others still load.
    pub fn load_dir(dir: &Path) -> std::io::Result<(Catalog, Vec<FileReport>)> {
        let mut catalog = Catalog::default();
        let mut reports = Vec::new();
        for path in questionnaire_files(dir)? {
            let result = load_file(&path).map(Arc::new);
            if let Ok(q) = &result {
                catalog.by_id.insert(q.id.clone(), Arc::clone(q));
            }
            reports.push(FileReport { path, result });
        }
        Ok((catalog, reports))
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Questionnaire>> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Questionnaire>> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn insert(&mut self, q: Arc<Questionnaire>) {
        self.by_id.insert(q.id.clone(), q);
    }
}
