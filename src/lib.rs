//! Careline: mental-health screening and triage for delivery riders.
//!
//! Modules in pipeline order: questionnaire files are loaded and checked (`questionnaire`),
//! answers are scored into a tier with reasons (`scoring`); `config` and `telemetry` set the
//! process up and `cli` is the `careline` command.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod jobs;
pub mod live;
pub mod notify;
pub mod questionnaire;
pub mod rosters;
pub mod scoring;
pub mod screening;
pub mod startup;
pub mod telemetry;
pub mod web;
