//! API tests through HTTP: the real application on port 0, a fresh database per test.
//!
//! Every test listed in `backend_tests!` runs once on SQLite (a temporary file) and once on
//! PostgreSQL (a database created for the test through `CARELINE_TEST_DATABASE_URL`, dropped
//! afterwards). Without that variable the PostgreSQL runs are skipped with a message, unless
//! `CARELINE_REQUIRE_SERVICES=1` (CI), where a missing or unreachable PostgreSQL fails them.

/// For each `async fn name(backend: Backend)` in the enclosing module, generates
/// `name::sqlite` and `name::postgres` tests that call it with that backend.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    if let Some(backend) = $crate::helpers::Backend::postgres().await {
                        super::$name(backend).await;
                    }
                }
            }
        )*
    };
}

mod access;
mod admin;
mod alerts;
mod auth;
mod backup;
mod bad_input;
mod channels;
mod cli_user;
mod contacts;
mod fhir;
mod flood;
mod group_commit;
mod health;
mod helpers;
mod idempotency;
mod internal;
mod live_events;
mod logging;
mod metrics;
mod migrations;
mod notifier;
mod notifier_smtp;
mod password_reset;
mod pool;
mod questionnaire_admin;
mod questionnaires;
mod reload;
mod reports;
mod rider_data;
mod rider_form;
mod rosters;
mod screenings;
mod sites;
mod throttle_instances;
mod worker_process;
