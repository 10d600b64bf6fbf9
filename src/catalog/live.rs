//! The live questionnaire catalog: loaded at start, reloaded when a file in the folder changes
//! or on SIGHUP. A file that fails validation is refused: the version that was serving keeps
//! serving, and the errors (with file:line:col) are logged and kept for administrators.
//! A file broken at start serves its last good version from the database when the wiring
//! hands it over (`serve_stored`); a withdrawn questionnaire is not offered to riders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::Catalog;
use crate::questionnaire::Diagnostic;

/// The catalog in use, swapped whole on reload.
/// A file the last reload refused.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The file's stem: the questionnaire id it is meant to be.
    pub stem: String,
    pub path: String,
    pub diagnostics: Vec<Diagnostic>,
    /// The refused text (empty when it could not be read).
    pub source: String,
}

/// When this instance started serving a version, and whether it came from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub content_hash: String,
    pub at: std::time::SystemTime,
    /// Served from the stored versions because the file is broken (or was at start).
    pub from_store: bool,
}

#[derive(Debug)]
pub struct LiveCatalog {
    dir: PathBuf,
    /// This process among the instances that share the database (the sync loop's key).
    instance: String,
    /// Every questionnaire served, withdrawn ones included.
    all: RwLock<Arc<Catalog>>,
    /// What riders are offered: `all` less the withdrawn.
    current: RwLock<Arc<Catalog>>,
    withdrawn: RwLock<BTreeSet<String>>,
    loaded: RwLock<BTreeMap<String, Loaded>>,
    refused: RwLock<Vec<Refused>>,
    /// Errors of the files that failed at the last load, by file path.
    errors: RwLock<BTreeMap<String, Vec<Diagnostic>>>,
    reloads: AtomicU64,
    failed_files: AtomicU64,
    /// Held for a whole reload: the watcher and SIGHUP may reload at once, and without it the
    /// one that read the folder first could publish last, serving an older version.
    reloading: Mutex<()>,
}

impl LiveCatalog {
    /// Loads the folder. Fails only if the folder cannot be read.
    pub fn load(dir: &Path) -> std::io::Result<LiveCatalog> {
        let live = LiveCatalog {
            dir: dir.to_path_buf(),
            instance: format!(
                "pid{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            all: RwLock::new(Arc::new(Catalog::default())),
            current: RwLock::new(Arc::new(Catalog::default())),
            withdrawn: RwLock::new(BTreeSet::new()),
            loaded: RwLock::new(BTreeMap::new()),
            refused: RwLock::new(Vec::new()),
            errors: RwLock::new(BTreeMap::new()),
            reloads: AtomicU64::new(0),
            failed_files: AtomicU64::new(0),
            reloading: Mutex::new(()),
        };
        live.reload()?;
        Ok(live)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The catalog riders are offered now; cheap (an `Arc` clone).
    pub fn get(&self) -> Arc<Catalog> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Every questionnaire served, withdrawn ones included (for administrators).
    pub fn get_all(&self) -> Arc<Catalog> {
        Arc::clone(&self.all.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The files refused at the last reload, with their text.
    pub fn refused(&self) -> Vec<Refused> {
        self.refused
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// When each served questionnaire was loaded by this instance.
    pub fn loaded(&self) -> BTreeMap<String, Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn withdrawn(&self) -> BTreeSet<String> {
        self.withdrawn
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets which questionnaires are withdrawn from riders.
    pub fn set_withdrawn(&self, ids: BTreeSet<String>) {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        if *self.withdrawn.read().unwrap_or_else(|e| e.into_inner()) == ids {
            return;
        }
        *self.withdrawn.write().unwrap_or_else(|e| e.into_inner()) = ids;
        let all = self.get_all();
        self.publish(all);
    }

    /// Serves `q` (a stored version) for a questionnaire whose file is refused and that
    /// nothing serves yet. False (and nothing changes) when something serves it already.
    pub fn serve_stored(&self, q: Arc<super::Questionnaire>) -> bool {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let all = self.get_all();
        if all.get(&q.id).is_some() {
            return false;
        }
        tracing::warn!(questionnaire = %q.id, version = %q.version, hash = %q.content_hash, "the file is refused: serving the last good stored version");
        let mut next = (*all).clone();
        self.loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                q.id.clone(),
                Loaded {
                    content_hash: q.content_hash.clone(),
                    at: std::time::SystemTime::now(),
                    from_store: true,
                },
            );
        next.insert(q);
        self.publish(Arc::new(next));
        true
    }

    /// Swaps in `all` and what riders are offered of it.
    fn publish(&self, all: Arc<Catalog>) {
        let withdrawn = self.withdrawn();
        let mut offered = Catalog::default();
        for q in all.iter().filter(|q| !withdrawn.contains(&q.id)) {
            offered.insert(Arc::clone(q));
        }
        *self.all.write().unwrap_or_else(|e| e.into_inner()) = all;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(offered);
    }

    /// Errors of files refused at the last reload, as `path:line:col: message` lines.
    pub fn errors(&self) -> BTreeMap<String, Vec<Diagnostic>> {
        self.errors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many reloads ran, and how many file loads failed in total.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.reloads.load(Ordering::Relaxed),
            self.failed_files.load(Ordering::Relaxed),
        )
    }

    /// Reads the folder again. Good files replace their previous version; a bad file leaves
    /// the previous version of that questionnaire serving; a deleted file is withdrawn.
    pub fn reload(&self) -> std::io::Result<()> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let (fresh, reports) = Catalog::load_dir(&self.dir)?;
        let previous = self.get_all();
        let previous_loaded = self.loaded();
        let mut next = fresh;
        let mut errors = BTreeMap::new();
        let mut refused = Vec::new();
        let mut loaded = BTreeMap::new();
        for report in reports {
            if let Err(diags) = report.result {
                for d in &diags {
                    tracing::error!(target: "careline::questionnaire", "{d}");
                }
                self.failed_files.fetch_add(1, Ordering::Relaxed);
                let stem = report
                    .path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                if let Some(old) = previous.get(&stem) {
                    tracing::warn!(questionnaire = %stem, version = %old.version, "edit refused; the previous version keeps serving");
                    next.insert(Arc::clone(old));
                    if let Some(l) = previous_loaded.get(&stem) {
                        loaded.insert(stem.clone(), l.clone());
                    }
                }
                refused.push(Refused {
                    stem,
                    path: report.path.display().to_string(),
                    diagnostics: diags.clone(),
                    source: std::fs::read_to_string(&report.path).unwrap_or_default(),
                });
                errors.insert(report.path.display().to_string(), diags);
            }
        }
        for q in next.iter() {
            let changed = previous
                .get(&q.id)
                .is_none_or(|old| old.content_hash != q.content_hash);
            if changed {
                tracing::info!(questionnaire = %q.id, version = %q.version, hash = %q.content_hash, "questionnaire loaded");
            }
            if !loaded.contains_key(&q.id) {
                let kept = previous_loaded
                    .get(&q.id)
                    .filter(|l| l.content_hash == q.content_hash && !l.from_store);
                loaded.insert(
                    q.id.clone(),
                    kept.cloned().unwrap_or_else(|| Loaded {
                        content_hash: q.content_hash.clone(),
                        at: std::time::SystemTime::now(),
                        from_store: false,
                    }),
                );
            }
        }
        self.publish(Arc::new(next));
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        *self.refused.write().unwrap_or_else(|e| e.into_inner()) = refused;
        *self.errors.write().unwrap_or_else(|e| e.into_inner()) = errors;
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Watches the folder and reloads on change (debounced), until the returned watcher is dropped.
pub fn watch(live: Arc<LiveCatalog>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event
            && !matches!(e.kind, notify::EventKind::Access(_))
        {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(live.dir(), RecursiveMode::NonRecursive)?;
    std::thread::Builder::new()
        .name("questionnaire-watch".into())
        .spawn(move || {
            // Editors save in several steps: wait for a quiet moment, then reload once.
            while rx.recv().is_ok() {
                while rx
                    .recv_timeout(std::time::Duration::from_millis(200))
                    .is_ok()
                {}
                if let Err(e) = live.reload() {
                    tracing::error!(error = %e, "cannot read the questionnaire folder");
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(watcher)
}
