//! The live questionnaire catalog: loaded at start, reloaded when a file in the folder changes
//! or on SIGHUP. A file that fails validation is refused: the version that was serving keeps
//! serving, and the errors (with file:line:col) are logged and kept for administrators.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::Catalog;
use crate::questionnaire::Diagnostic;

/// The catalog in use, swapped whole on reload.
#[derive(Debug)]
pub struct LiveCatalog {
    dir: PathBuf,
    current: RwLock<Arc<Catalog>>,
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
            current: RwLock::new(Arc::new(Catalog::default())),
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

    /// The catalog now; cheap (an `Arc` clone).
    pub fn get(&self) -> Arc<Catalog> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
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
        let previous = self.get();
        let mut next = fresh;
        let mut errors = BTreeMap::new();
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
                }
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
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
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
