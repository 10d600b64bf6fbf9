//! Questionnaire files: the TOML format, its model, validation with file:line:col errors and
//! expressions. The bottom of the pipeline: pure, no I/O at all (a test enforces it). Loading
//! files, running their examples and the live catalog are `catalog`'s.
//!
//! The format is documented for administrators in `questionnaires/README.md`.
//!
//! Layer: core (pure, the bottom: imports nothing of ours). ARCHITECTURE.md maps the layers.

mod diagnostics;
pub(crate) mod expr;
mod load;
mod model;
mod reader;

pub use diagnostics::{Diagnostic, Diagnostics};
pub use expr::Expr;
pub use load::{content_hash, parse_structure};
pub use model::*;
