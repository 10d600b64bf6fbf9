//! Questionnaire files: the TOML format, loading, validation with file:line:col errors,
//! expressions, and the catalog. Pure: reads files, nothing else (a test enforces it).
//!
//! The format is documented for administrators in `questionnaires/README.md`.

mod catalog;
mod diagnostics;
mod examples;
pub(crate) mod expr;
mod load;
mod model;
mod reader;

pub use catalog::{Catalog, FileReport, load_file, questionnaire_files};
pub use diagnostics::Diagnostic;
pub use expr::Expr;
pub use load::{content_hash, parse_questionnaire};
pub use model::*;
