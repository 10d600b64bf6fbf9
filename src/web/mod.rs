//! Server-rendered pages for riders: the list of screenings, the form, and the result.

use actix_web::web;

/// Registers the pages. (Filled in by the pages work.)
pub fn configure(_cfg: &mut web::ServiceConfig) {}
