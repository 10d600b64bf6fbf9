//! Tests of the questionnaire engine and the `careline` CLI, in one test binary.

mod cli;
mod invalid_files;
mod layering;
mod properties;
mod questionnaire_lookup;
mod shipped;
mod sources;

use std::path::{Path, PathBuf};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn shipped_dir() -> PathBuf {
    root().join("questionnaires")
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}
