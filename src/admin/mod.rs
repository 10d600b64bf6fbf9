//! What administrators see of the running service beyond users, sites and rosters: for now
//! the notifier's trouble (`notifier`: failed and dead jobs, escalation gaps). Aggregates only
//! or staff data; never a rider's answers or contact details (DESIGN.md section 5).
//!
//! Synchronous (diesel): callers run these on the blocking pool.
//!
//! Layer: use cases (the highest). ARCHITECTURE.md maps the layers.

pub mod notifier;
pub mod observe;
pub mod questionnaires;
