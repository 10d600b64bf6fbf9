//! The one harness of the page tests (`web/tests.rs`, `workspace/tests.rs` and the tests that
//! build on them): a real `AppState` on a fresh SQLite database per test, the shipped
//! questionnaires, and requests through `actix_web::test` wired as the server wires them
//! (security headers and compression included). Test code only: it may reach every layer.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::{App, middleware, test, web};

use crate::catalog::LiveCatalog;
use crate::config::{Settings, Sources};
use crate::state::AppState;

pub(crate) struct Harness {
    _dir: tempfile::TempDir,
    pub(crate) state: web::Data<AppState>,
}

/// A fresh database in a temporary folder, the shipped questionnaires, default settings.
pub(crate) async fn harness() -> Harness {
    harness_with(&[]).await
}

/// `harness`, with these `CARELINE__*` variables on top of the defaults.
pub(crate) async fn harness_with(extra: &[(&str, &str)]) -> Harness {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut vars = HashMap::from([
        (
            "CARELINE__DATABASE__URL".to_string(),
            format!("sqlite://{}/t.db", dir.path().display()),
        ),
        ("CARELINE__SERVER__PORT".to_string(), "0".to_string()),
        // Every request of a page test comes from one client: the flood guard's own tests
        // are in tests/api/flood.rs.
        (
            "CARELINE__ABUSE__CLUSTER_PER_SOURCE".to_string(),
            "1000000".to_string(),
        ),
        (
            "CARELINE__ABUSE__CLUSTER_PER_SITE".to_string(),
            "1000000".to_string(),
        ),
        (
            "CARELINE__ABUSE__CHALLENGE_PER_SOURCE".to_string(),
            "1500000".to_string(),
        ),
        (
            "CARELINE__ABUSE__CHALLENGE_PER_SITE".to_string(),
            "1500000".to_string(),
        ),
        (
            "CARELINE__ABUSE__LIMIT_PER_SOURCE".to_string(),
            "2000000".to_string(),
        ),
        (
            "CARELINE__ABUSE__LIMIT_PER_SITE".to_string(),
            "2000000".to_string(),
        ),
        (
            "CARELINE__QUESTIONNAIRES__DIR".to_string(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/questionnaires").to_string(),
        ),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = Settings::load_from(&Sources {
        config_dir: "/nonexistent".into(),
        env_name: None,
        vars,
    })
    .expect("settings");
    let pool = crate::db::connect_and_migrate(&settings.database)
        .await
        .expect("database");
    let catalog = Arc::new(LiveCatalog::load(&settings.questionnaires.dir).expect("catalog"));
    let state = AppState::new(settings, pool, catalog).expect("state");
    Harness {
        _dir: dir,
        state: web::Data::new(state),
    }
}

/// Status, headers, `Set-Cookie` values by name, and the body as text.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: header::HeaderMap,
    pub(crate) cookies: HashMap<String, String>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub(crate) fn location(&self) -> &str {
        self.header("location")
    }

    pub(crate) fn title(&self) -> String {
        let start = self.body.find("<title>").expect("a title") + "<title>".len();
        let end = self.body[start..]
            .find("</title>")
            .expect("a closing title");
        self.body[start..start + end].to_string()
    }
}

pub(crate) async fn read(resp: ServiceResponse) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let cookies = resp
        .response()
        .cookies()
        .map(|c| (c.name().to_string(), c.value().to_string()))
        .collect();
    let body = test::read_body(resp).await;
    Answer {
        status,
        headers,
        cookies,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The value of the hidden field `name` in a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {page}"))
        + marker.len();
    page[start..][..page[start..].find('"').expect("a closing quote")].to_string()
}

/// Which routes a harness request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routes {
    /// The rider pages alone (`web::configure`), with compression.
    RiderPages,
    /// Everything the server serves: the API, the workspace and the rider pages, with the
    /// security headers and compression.
    All,
}

impl Harness {
    /// One request, as the server wires `routes`; the raw response.
    pub(crate) async fn respond(&self, routes: Routes, req: test::TestRequest) -> ServiceResponse {
        let app = App::new()
            .app_data(self.state.clone())
            .wrap(middleware::Compress::default());
        let response = match routes {
            Routes::RiderPages => {
                let app = test::init_service(app.configure(crate::web::configure)).await;
                test::call_service(&app, req.to_request()).await
            }
            Routes::All => {
                let app = test::init_service(
                    app.wrap(crate::http::security_headers())
                        .configure(crate::http::configure)
                        .configure(crate::workspace::configure)
                        .configure(crate::web::configure),
                )
                .await;
                test::call_service(&app, req.to_request()).await
            }
        };
        response.map_into_boxed_body()
    }

    pub(crate) fn conn(&self) -> crate::db::PooledConn {
        self.state.pool.get().expect("a connection")
    }
}
