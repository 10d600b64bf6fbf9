//! Careline: mental-health screening and triage for delivery riders.
//!
//! Modules in layers, each importing only from the layers below it (`tests/engine/layering.rs`
//! enforces the order written there; ARCHITECTURE.md maps them):
//! - core, pure: `questionnaire` (the file format and its model), `scoring` (answers to a tier
//!   with reasons), `catalog` (files loaded, examples run, the live set on offer);
//! - shared vocabulary: `i18n`, `china_time`, `contact`, `config` (settings as plain data), `metrics`
//!   (the families every layer above records into);
//! - storage: `db`, the only home of diesel;
//! - use cases: `audit`, `accounts`, `poster`, `fhir`, `notify`, `jobs`, `alerts`, `screening`,
//!   `rosters`, `reports`, `admin`;
//! - edges: `state` (what handlers share), `http` (JSON API), `web` (rider pages),
//!   `workspace` (staff pages);
//! - wiring: `telemetry`, `startup`, `cli`.

pub mod catalog;
pub mod questionnaire;
pub mod scoring;

pub mod china_time;
pub mod config;
pub mod contact;
pub mod i18n;
pub mod metrics;

pub mod db;

pub mod abuse;
pub mod accounts;
pub mod admin;
pub mod alerts;
pub mod audit;
pub mod fhir;
pub mod jobs;
pub mod notify;
pub mod poster;
pub mod reports;
pub mod rosters;
pub mod screening;

pub mod http;
pub mod state;
pub mod web;
pub mod workspace;

pub mod cli;
pub mod startup;
pub mod telemetry;

#[cfg(test)]
mod test_support;
