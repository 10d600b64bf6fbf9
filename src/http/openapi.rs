//! The OpenAPI 3.1 document of the JSON API, generated from the handlers' `#[utoipa::path]`
//! annotations and the `ToSchema` derives on the request and response types, and served at
//! `GET /api/openapi.json`.
//!
//! The tests below check that the document is valid, that it lists exactly the routes that
//! `http::configure` registers (read back from actix-web's route table), and that real
//! responses match the schemas it gives for them.

use std::sync::LazyLock;

use actix_web::HttpResponse;
use utoipa::OpenApi;

/// The API's description; `ApiDoc::openapi()` builds the document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Careline API",
        description = "Mental-health screening for delivery riders: the questionnaires on offer, \
            and submitting a screening to get its outcome. Errors answer \
            `{\"error\":{\"code\",\"message\",\"details\"?}}`.",
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics::serve,
        serve,
        super::list_questionnaires,
        super::get_questionnaire,
        super::submit_screening,
        super::challenge,
        super::auth_api::login,
        super::auth_api::logout,
        super::auth_api::whoami,
        super::auth_api::change_password,
        super::alerts_api::list,
        super::alerts_api::events,
        super::alerts_api::take_next,
        super::alerts_api::detail,
        super::alerts_api::acknowledge,
        super::alerts_api::unacknowledge,
        super::alerts_api::add_note,
        super::alerts_api::resolve,
        super::alerts_api::assign,
        super::flood_api::detail,
        super::flood_api::release,
        super::flood_api::resolve,
        super::flood_api::abuse,
        super::admin_api::list_users,
        super::admin_api::erase_contacts,
        super::admin_api::create_user,
        super::admin_api::update_user,
        super::admin_api::list_sites,
        super::admin_api::create_site,
        super::admin_api::unknown_sites,
        super::admin_api::rename_site,
        super::admin_api::poster_svg,
        super::admin_api::poster_png,
        super::admin_api::audit,
        super::admin_api::troubled_jobs,
        super::questionnaires_api::list,
        super::questionnaires_api::detail,
        super::questionnaires_api::publish,
        super::questionnaires_api::diff,
        super::questionnaires_api::preview,
        super::questionnaires_api::rollback,
        super::questionnaires_api::withdraw,
        super::questionnaires_api::restore,
        super::rosters_api::list_shifts,
        super::rosters_api::create_shift,
        super::rosters_api::delete_shift,
        super::rosters_api::on_duty,
        super::reports_api::screenings,
        super::reports_api::alerts,
        super::reports_api::coverage,
        super::fhir_api::questionnaire,
        super::fhir_api::alert_export,
    ),
    // Referenced only from `ErrorObject.details`, which the derive does not follow.
    components(schemas(crate::scoring::AnswerError, crate::screening::FieldError)),
    modifiers(&NoLicense, &BearerAuth, &CommonResponses),
    tags(
        (name = "health", description = "Liveness and readiness probes."),
        (name = "questionnaires", description = "The questionnaires being served."),
        (name = "screenings", description = "Submitting a rider's answers."),
        (name = "meta", description = "This document."),
        (name = "auth", description = "Signing in and out. API clients send `Authorization: Bearer <token>`; the browser uses an HttpOnly cookie, and its state-changing requests carry `X-CSRF-Token`."),
        (name = "alerts", description = "The counselors' queue and the alert lifecycle."),
        (name = "admin", description = "Users, sites and the audit log (admins only)."),
        (name = "rosters", description = "Duty rosters: shifts (stored in UTC, shown in China time) and who is on duty now."),
        (name = "fhir", description = "FHIR R4 exports (application/fhir+json): questionnaires, and an alert's screenings for a referral."),
        (name = "reports", description = "Programme reports per finished week or month (China time), small counts suppressed so no rider can be singled out (admins and supervisors)."),
    )
)]
pub struct ApiDoc;

/// The package has no licence field, which the derive would turn into a licence with an empty
/// name: leave the licence out instead.
#[derive(Debug)]
struct NoLicense;

impl utoipa::Modify for NoLicense {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.license = None;
    }
}

/// Answers that any operation may give, documented on each: 503 when the database cannot be
/// reached (all but the liveness probe and this document), and 413 and 415 for every request
/// with a body.
#[derive(Debug)]
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorResponse")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let no_database = path == "/healthz" || path == "/api/openapi.json";
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                if !no_database && !responses.contains_key("503") {
                    responses.insert(
                        "503".into(),
                        error("The database cannot be reached: try again shortly.").into(),
                    );
                }
                if op.request_body.is_some() {
                    for (code, text) in [
                        ("413", "The body is larger than the limit."),
                        ("415", "Not sent as application/json."),
                    ] {
                        if !responses.contains_key(code) {
                            responses.insert(code.into(), error(text).into());
                        }
                    }
                }
            }
        }
    }
}

/// The `bearer` security scheme the signed-in endpoints name.
#[derive(Debug)]
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // `metrics.token`, when set, for `GET /metrics`.
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// The methods the document gives for the paths that `path` matches (`{x}` matches one
/// segment), upper case, in a fixed order; empty when it matches none.
pub(super) fn methods_of(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let placeholder = |t: &str| t.starts_with('{') && t.ends_with('}');
    let matching: Vec<(usize, &utoipa::openapi::PathItem)> = DOCUMENT
        .paths
        .paths
        .iter()
        .filter_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| (placeholder(t) && !s.is_empty()) || t == s);
            matches.then(|| (parts.iter().filter(|t| placeholder(t)).count(), item))
        })
        .collect();
    // The most literal template wins (`/alerts/take-next` over `/alerts/{id}`), as in routing.
    let fewest = matching.iter().map(|(n, _)| *n).min().unwrap_or(0);
    let mut found = Vec::new();
    for (_, item) in matching.into_iter().filter(|(n, _)| *n == fewest) {
        for (name, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            if op.is_some() && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    let order = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    order.into_iter().filter(|m| found.contains(m)).collect()
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object))
)]
pub(super) async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(&*DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use actix_web::body::to_bytes;
    use actix_web::introspection::IntrospectionTree;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, ResponseError, web};
    use serde_json::{Value, json};
    use utoipa::OpenApi;

    use super::ApiDoc;
    use crate::catalog::Catalog;
    use crate::http::ApiError;
    use crate::scoring::{self, AnswerError, AnswerErrorCode, AnswerSet};
    use crate::screening::{self, FieldError, SubmitError};

    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    // ---------------------------------------------------------------- validity

    #[test]
    fn the_document_is_openapi_3_1_with_an_info_object() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "Careline API");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(
            doc["info"]["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        // A licence must have a name; the package has none, so there is no licence object.
        assert!(doc["info"].get("license").is_none(), "{}", doc["info"]);
        let tags: BTreeSet<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        for (path, method, op) in operations(&doc) {
            for tag in op["tags"].as_array().unwrap() {
                let tag = tag.as_str().unwrap();
                assert!(
                    tags.contains(tag),
                    "{method} {path}: tag `{tag}` is not declared"
                );
            }
        }
    }

    #[test]
    fn the_document_parses_back_with_utoipa_and_with_an_independent_openapi_3_1_parser() {
        let json = ApiDoc::openapi().to_json().unwrap();
        let back: utoipa::openapi::OpenApi = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), document());

        let spec = oas3::from_json(&json).expect("the document parses as OpenAPI 3.1 (oas3)");
        let version = spec.validate_version().expect("an OpenAPI 3.1.x version");
        assert_eq!((version.major, version.minor), (3, 1));
        let mut ids = BTreeSet::new();
        for (path, method, op) in spec.operations() {
            let id = op.operation_id.clone().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(ids.insert(id.clone()), "operationId `{id}` is used twice");
            let responses = op.responses.as_ref().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} has no response");
            for (status, response) in responses {
                let response = response
                    .resolve(&spec)
                    .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
                assert!(
                    response
                        .description
                        .as_deref()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
                for (media, content) in &response.content {
                    content
                        .schema(&spec)
                        .unwrap_or_else(|e| panic!("{method} {path} {status} {media}: {e}"))
                        .expect("a schema");
                }
            }
            op.parameters(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            if let Some(body) = op.request_body(&spec).unwrap() {
                for content in body.content.values() {
                    content.schema(&spec).unwrap().expect("a schema");
                }
            }
        }
        assert_eq!(ids.len(), operations(&document()).len());
    }

    #[test]
    fn every_reference_resolves_to_a_component() {
        let doc = document();
        let mut refs = Vec::new();
        collect_refs(&doc, "#", &mut refs);
        assert!(refs.len() > 20, "{refs:?}");
        for (at, reference) in &refs {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: `{reference}` is not local"));
            assert!(
                pointer.starts_with("/components/"),
                "{at}: `{reference}` is not a component"
            );
            assert!(
                doc.pointer(pointer).is_some(),
                "{at}: `{reference}` does not resolve"
            );
        }
        // And every component is used, so none is stale.
        let used: BTreeSet<&str> = refs.iter().map(|(_, r)| r.as_str()).collect();
        for name in doc["components"]["schemas"].as_object().unwrap().keys() {
            let reference = format!("#/components/schemas/{name}");
            assert!(
                used.contains(reference.as_str()),
                "{name} is never referenced"
            );
        }
    }

    #[test]
    fn path_parameters_are_declared_and_required_properties_exist() {
        let doc = document();
        for (path, method, op) in operations(&doc) {
            let template: BTreeSet<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_string)
                .collect();
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(template, declared, "{method} {path}: path parameters");
        }
        let mut schemas = Vec::new();
        collect_schemas(&doc["components"]["schemas"], &mut schemas);
        for schema in schemas {
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required {
                    let name = name.as_str().unwrap();
                    assert!(
                        schema["properties"].get(name).is_some(),
                        "`{name}` is required but not a property of {schema}"
                    );
                }
            }
        }
    }

    /// Every (method, path) of the document, with its operation object.
    /// Issue 12: the schema is as strict as the handlers, and every status that can occur is
    /// documented.
    #[test]
    fn the_schema_holds_the_validation_bounds_and_the_common_statuses() {
        let doc = document();
        let param = |path: &str, name: &str| -> Value {
            doc["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{path}: no parameter {name}"))["schema"]
                .clone()
        };
        let limit = param("/api/v1/alerts", "limit");
        assert_eq!(
            (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
            (Some(1), Some(500))
        );
        let limit = param("/api/v1/admin/jobs", "limit");
        assert_eq!(limit["maximum"].as_i64(), Some(200));
        assert!(param("/api/v1/alerts", "site")["pattern"].is_string());
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["NoteRequest"]["properties"]["text"]["maxLength"],
            4000
        );
        assert!(
            schemas["ResolveRequest"]["properties"]["outcome"]["pattern"]
                .as_str()
                .is_some_and(|p| p.contains("false_positive"))
        );
        assert_eq!(schemas["NewUser"]["properties"]["name"]["maxLength"], 100);
        assert!(
            schemas["NewUser"]["properties"]["role"]["pattern"]
                .as_str()
                .is_some_and(|p| p.contains("counselor"))
        );
        let details = schemas["ErrorObject"]["properties"]["details"].to_string();
        assert!(details.contains("AlertSummary"), "{details}");
        for (path, method, op) in operations(&doc) {
            let responses = &op["responses"];
            if path != "/healthz" && path != "/api/openapi.json" {
                assert!(responses.get("503").is_some(), "{method} {path}: no 503");
            }
            if op.get("requestBody").is_some() {
                for code in ["413", "415"] {
                    assert!(responses.get(code).is_some(), "{method} {path}: no {code}");
                }
            }
        }
        assert!(
            doc["paths"]["/api/v1/auth/login"]["post"]["responses"]
                .get("429")
                .is_some()
        );
    }

    #[test]
    fn allowed_methods_come_from_the_most_literal_path() {
        assert_eq!(super::methods_of("/api/v1/alerts/take-next"), ["POST"]);
        assert_eq!(super::methods_of("/api/v1/alerts/A-7F3K"), ["GET"]);
        assert_eq!(super::methods_of("/api/v1/admin/users"), ["GET", "POST"]);
        assert!(super::methods_of("/api/v1/nope").is_empty());
        assert!(super::methods_of("/api/v1/alerts//acknowledge").is_empty());
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(METHODS.contains(&method.as_str()), "{path}: `{method}`");
                out.push((path.clone(), method.to_uppercase(), op));
            }
        }
        out
    }

    fn collect_refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    if key == "$ref" {
                        out.push((at.to_string(), v.as_str().unwrap().to_string()));
                    } else {
                        collect_refs(v, &format!("{at}/{key}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    collect_refs(v, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    /// Every object (sub)schema under `value`.
    fn collect_schemas<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
        match value {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("object")) {
                    out.push(value);
                }
                map.values().for_each(|v| collect_schemas(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_schemas(v, out)),
            _ => {}
        }
    }

    // ---------------------------------------------------------------- routes

    /// Answers any request that no route matched with actix-web's own report of its routes.
    async fn route_report(tree: web::Data<IntrospectionTree>) -> HttpResponse {
        HttpResponse::Ok()
            .content_type("application/json")
            .body(tree.report_as_json())
    }

    /// The (method, path) pairs registered by `configure`, read from actix-web's route table
    /// (paths in OpenAPI form: `{id}`, without a regex).
    async fn registered_routes(
        configure: impl FnOnce(&mut web::ServiceConfig),
    ) -> BTreeSet<(String, String)> {
        let app = actix_test::init_service(
            App::new()
                .configure(configure)
                .default_service(web::to(route_report)),
        )
        .await;
        let request = actix_test::TestRequest::get()
            .uri("/no-such-route/introspection")
            .to_request();
        let report: Vec<Value> = actix_test::call_and_read_body_json(&app, request).await;
        let mut routes = BTreeSet::new();
        for item in report.iter().filter(|i| i["resource_type"] == "resource") {
            let path = openapi_path(item["full_path"].as_str().unwrap());
            let methods = item["methods"].as_array().unwrap();
            assert!(
                !methods.is_empty(),
                "{path} answers every method: register it with web::get(), web::post()..."
            );
            for method in methods {
                routes.insert((method.as_str().unwrap().to_string(), path.clone()));
            }
        }
        routes
    }

    /// `/a/{id:\\d+}` -> `/a/{id}`.
    fn openapi_path(pattern: &str) -> String {
        let mut out = String::new();
        let mut depth = 0;
        let mut in_regex = false;
        for c in pattern.chars() {
            match c {
                '{' => {
                    depth += 1;
                    if !in_regex {
                        out.push(c);
                    }
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        in_regex = false;
                        out.push(c);
                    }
                }
                ':' if depth == 1 => in_regex = true,
                _ if !in_regex => out.push(c),
                _ => {}
            }
        }
        out
    }

    fn documented_routes() -> BTreeSet<(String, String)> {
        operations(&document())
            .into_iter()
            .map(|(path, method, _)| (method, path))
            .collect()
    }

    /// What is registered but not documented, and what is documented but not registered.
    fn differences(
        registered: &BTreeSet<(String, String)>,
        documented: &BTreeSet<(String, String)>,
    ) -> String {
        let undocumented: Vec<_> = registered.difference(documented).collect();
        let unregistered: Vec<_> = documented.difference(registered).collect();
        if undocumented.is_empty() && unregistered.is_empty() {
            String::new()
        } else {
            format!(
                "registered in http::configure but not in the OpenAPI document (add \
                 #[utoipa::path] to the handler and list it in ApiDoc): {undocumented:?}; \
                 documented but not registered: {unregistered:?}"
            )
        }
    }

    #[actix_web::test]
    async fn the_document_lists_exactly_the_routes_that_configure_registers() {
        let registered = registered_routes(crate::http::configure).await;
        assert!(registered.len() >= 6, "{registered:?}");
        let documented = documented_routes();
        let problems = differences(&registered, &documented);
        assert!(problems.is_empty(), "{problems}");
        for route in [
            ("GET", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/api/openapi.json"),
            ("GET", "/api/v1/questionnaires"),
            ("GET", "/api/v1/questionnaires/{id}"),
            ("POST", "/api/v1/screenings"),
        ] {
            let route = (route.0.to_string(), route.1.to_string());
            assert!(registered.contains(&route), "{route:?}");
        }
    }

    #[actix_web::test]
    async fn a_route_registered_without_documentation_is_caught() {
        let registered = registered_routes(|cfg| {
            crate::http::configure(cfg);
            cfg.service(
                web::scope("/api/v1")
                    .route("/widgets/{id:[0-9]+}", web::get().to(HttpResponse::Ok)),
            );
        })
        .await;
        let problems = differences(&registered, &documented_routes());
        assert!(
            problems.contains(r#"("GET", "/api/v1/widgets/{id}")"#),
            "{problems}"
        );
    }

    #[test]
    fn actix_patterns_become_openapi_paths() {
        assert_eq!(openapi_path("/a/{id}"), "/a/{id}");
        assert_eq!(openapi_path("/a/{id:[0-9]+}/b"), "/a/{id}/b");
        assert_eq!(openapi_path("/a/{x:\\d{2}}/{y}"), "/a/{x}/{y}");
        assert_eq!(openapi_path("/api/openapi.json"), "/api/openapi.json");
    }

    #[actix_web::test]
    async fn the_document_is_served_at_api_openapi_json() {
        let app = actix_test::init_service(App::new().configure(crate::http::configure)).await;
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get()
                .uri("/api/openapi.json")
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        let body: Value = serde_json::from_slice(&actix_test::read_body(response).await).unwrap();
        assert_eq!(body, document());
    }

    // ---------------------------------------------------------------- the contract

    #[test]
    fn the_screening_endpoint_is_described_in_full() {
        let doc = document();
        let post = &doc["paths"]["/api/v1/screenings"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/SubmitRequest"
        );
        assert_eq!(post["requestBody"]["required"], true);
        let key = &post["parameters"][0];
        assert_eq!(
            (&key["name"], &key["in"], &key["required"]),
            (&json!("Idempotency-Key"), &json!("header"), &json!(false))
        );
        let statuses: Vec<&str> = post["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            statuses,
            [
                "201", "400", "404", "409", "413", "415", "422", "428", "429", "500", "503"
            ]
        );
        for (status, response) in post["responses"].as_object().unwrap() {
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            let expected = match status.as_str() {
                "201" => "ScreeningResponse",
                "428" | "429" | "503" => "NotSavedResponse",
                _ => "ErrorResponse",
            };
            assert_eq!(
                *schema,
                format!("#/components/schemas/{expected}"),
                "{status}"
            );
        }

        let schemas = &doc["components"]["schemas"];
        let request = &schemas["SubmitRequest"];
        assert_eq!(request["required"], json!(["questionnaire", "answers"]));
        assert_eq!(request["additionalProperties"], false);
        for field in ["locale", "site", "contact", "consent_to_contact"] {
            assert!(request["properties"].get(field).is_some(), "{field}");
        }
        // The answers: a map from item id to an integer (null or left out: unanswered).
        let answers = &schemas["RawAnswers"];
        assert_eq!(answers["type"], "object");
        assert_eq!(
            answers["additionalProperties"]["type"],
            json!(["integer", "null"])
        );

        // The 201 carries the outcome in its contract shape (DESIGN.md section 6).
        assert_eq!(
            schemas["ScreeningResponse"]["properties"]["outcome"]["$ref"],
            "#/components/schemas/Outcome"
        );
        assert_eq!(
            schemas["Outcome"]["required"],
            json!([
                "questionnaire",
                "version",
                "content_hash",
                "scores",
                "bands",
                "tier",
                "urgent",
                "reasons"
            ])
        );
        assert_eq!(schemas["Tier"]["enum"], json!(["green", "yellow", "red"]));

        let locale = &doc["paths"]["/api/v1/questionnaires"]["get"]["parameters"][0];
        assert_eq!(
            (&locale["name"], &locale["in"]),
            (&json!("locale"), &json!("query"))
        );
        let ready = doc["paths"]["/readyz"]["get"]["responses"]
            .as_object()
            .unwrap();
        assert!(ready.contains_key("200") && ready.contains_key("503"));
    }

    // ---------------------------------------------------------------- real bodies match

    /// Checks `value` against `schema` for the JSON Schema keywords this document uses, and
    /// fails on any other keyword so that nothing is silently passed over.
    fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return errors.push(format!("{at}: nothing is allowed here")),
            Value::Object(map) => map,
            other => panic!("{at}: not a schema: {other}"),
        };
        for (keyword, arg) in schema {
            match keyword.as_str() {
                "$ref" => {
                    let target = doc
                        .pointer(arg.as_str().unwrap().trim_start_matches('#'))
                        .unwrap_or_else(|| panic!("{at}: unresolved {arg}"));
                    check(doc, target, value, at, errors);
                }
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                        other => panic!("{at}: type {other}"),
                    };
                    if !types.iter().any(|t| has_type(value, t)) {
                        errors.push(format!("{at}: {value} is not of type {arg}"));
                    }
                }
                "enum" => {
                    if !arg.as_array().unwrap().contains(value) {
                        errors.push(format!("{at}: {value} is not one of {arg}"));
                    }
                }
                "required" => {
                    if let Some(object) = value.as_object() {
                        for name in arg.as_array().unwrap() {
                            if !object.contains_key(name.as_str().unwrap()) {
                                errors.push(format!("{at}: `{name}` is missing"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let Some(object) = value.as_object() {
                        for (name, sub) in arg.as_object().unwrap() {
                            if let Some(v) = object.get(name) {
                                check(doc, sub, v, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(object) = value.as_object() {
                        let declared = schema.get("properties").and_then(Value::as_object);
                        for (name, v) in object {
                            if !declared.is_some_and(|d| d.contains_key(name)) {
                                check(doc, arg, v, &format!("{at}.{name}"), errors);
                            }
                        }
                    }
                }
                "propertyNames" => {
                    if let Some(object) = value.as_object() {
                        for name in object.keys() {
                            check(doc, arg, &json!(name), &format!("{at}[{name}]"), errors);
                        }
                    }
                }
                "items" | "prefixItems" => {
                    if let Some(items) = value.as_array() {
                        let prefix = schema.get("prefixItems").and_then(Value::as_array);
                        let skip = prefix.map_or(0, Vec::len);
                        for (i, v) in items.iter().enumerate() {
                            let at = format!("{at}[{i}]");
                            match (keyword.as_str(), prefix.and_then(|p| p.get(i))) {
                                ("prefixItems", Some(sub)) => check(doc, sub, v, &at, errors),
                                ("items", _) if i >= skip => check(doc, arg, v, &at, errors),
                                _ => {}
                            }
                        }
                    }
                }
                "oneOf" | "anyOf" => {
                    let matching = arg
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|sub| {
                            let mut sub_errors = Vec::new();
                            check(doc, sub, value, at, &mut sub_errors);
                            sub_errors.is_empty()
                        })
                        .count();
                    let ok = if keyword == "oneOf" {
                        matching == 1
                    } else {
                        matching >= 1
                    };
                    if !ok {
                        errors.push(format!("{at}: {value} matches {matching} of {keyword}"));
                    }
                }
                "minimum" => {
                    if value.as_f64().is_some_and(|v| v < arg.as_f64().unwrap()) {
                        errors.push(format!("{at}: {value} < {arg}"));
                    }
                }
                "minLength" | "maxLength" => {
                    if let Some(s) = value.as_str() {
                        let n = s.chars().count() as u64;
                        let limit = arg.as_u64().unwrap();
                        if (keyword == "minLength" && n < limit)
                            || (keyword == "maxLength" && n > limit)
                        {
                            errors.push(format!("{at}: length {n} breaks {keyword} {limit}"));
                        }
                    }
                }
                // Annotations: they do not constrain values.
                "description" | "example" | "examples" | "format" | "title" | "default"
                | "deprecated" | "readOnly" | "writeOnly" => {}
                other => panic!("{at}: the test does not know the keyword `{other}`"),
            }
        }
    }

    fn has_type(value: &Value, t: &str) -> bool {
        match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.as_f64().is_some_and(|v| v.fract() == 0.0),
            other => panic!("unknown type {other}"),
        }
    }

    fn assert_matches(doc: &Value, component: &str, value: &Value) {
        let schema = json!({ "$ref": format!("#/components/schemas/{component}") });
        let mut errors = Vec::new();
        check(doc, &schema, value, component, &mut errors);
        assert!(errors.is_empty(), "{}\n{value:#}", errors.join("\n"));
    }

    fn shipped() -> Catalog {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires");
        let (catalog, reports) = Catalog::load_dir(&dir).unwrap();
        assert!(catalog.len() >= 9, "{reports:?}");
        catalog
    }

    #[test]
    fn the_checker_rejects_what_the_schemas_forbid() {
        let doc = document();
        let bad = [
            ("Outcome", json!({"questionnaire": "phq9"})),
            ("Tier", json!("amber")),
            ("RawAnswers", json!({"q1": "two"})),
            (
                "SubmitRequest",
                json!({"questionnaire": "phq9", "answers": {}, "extra": 1}),
            ),
            (
                "ErrorResponse",
                json!({"error": {"code": "x", "message": "y", "details": [{}]}}),
            ),
        ];
        for (component, value) in bad {
            let schema = json!({ "$ref": format!("#/components/schemas/{component}") });
            let mut errors = Vec::new();
            check(&doc, &schema, &value, component, &mut errors);
            assert!(!errors.is_empty(), "{component} accepted {value}");
        }
        assert_matches(
            &doc,
            "SubmitRequest",
            &json!({"questionnaire": "phq9", "answers": {"q1": 2, "q2": null}, "locale": "en",
                    "contact": {"phone": "13800000000"}, "consent_to_contact": true}),
        );
    }

    #[test]
    fn questionnaires_and_screening_responses_of_every_shipped_example_match_their_schemas() {
        let doc = document();
        let crisis = [crate::config::CrisisLine {
            number: "12356".into(),
            name: [("zh_cn".to_string(), "心理援助热线".to_string())].into(),
        }];
        let mut tiers = BTreeSet::new();
        for q in shipped().iter() {
            assert_matches(
                &doc,
                "Questionnaire",
                &serde_json::to_value(q.as_ref()).unwrap(),
            );
            for example in &q.examples {
                let answers = AnswerSet::parse(q, &example.answers).unwrap();
                let outcome = scoring::score(&answers);
                tiers.insert(outcome.tier);
                let response = screening::response_for(
                    q,
                    "id",
                    outcome,
                    &q.default_locale,
                    screening::Shown {
                        crisis: &crisis,
                        rider: &crate::config::RiderSettings::default(),
                    },
                );
                assert_matches(
                    &doc,
                    "ScreeningResponse",
                    &serde_json::to_value(&response).unwrap(),
                );
            }
        }
        assert_eq!(tiers.len(), 3, "examples of every tier: {tiers:?}");
    }

    #[actix_web::test]
    async fn error_bodies_match_their_schema() {
        let doc = document();
        let errors = [
            ApiError::BadRequest("the body is not JSON".into()),
            ApiError::NotFound("unknown questionnaire `x`".into()),
            ApiError::PayloadTooLarge(65536),
            ApiError::UnsupportedMediaType,
            ApiError::from(SubmitError::InvalidAnswers(vec![AnswerError {
                item: Some("q1".into()),
                code: AnswerErrorCode::NotAChoice,
                message: "7 is not one of the choices".into(),
            }])),
            ApiError::from(SubmitError::InvalidFields(vec![FieldError {
                field: "contact.phone".into(),
                message: "a phone number has 5 to 20 digits".into(),
            }])),
            ApiError::from(SubmitError::IdempotencyConflict),
            ApiError::internal("boom"),
        ];
        for error in errors {
            let response = error.error_response();
            let body = to_bytes(response.into_body()).await.unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_matches(&doc, "ErrorResponse", &body);
        }
    }

    #[actix_web::test]
    async fn the_not_saved_body_matches_its_schema_and_keeps_the_crisis_lines() {
        let doc = document();
        let catalog = crate::catalog::Catalog::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires"),
        )
        .unwrap()
        .0;
        let q = catalog.get("phq9").unwrap();
        let set = crate::scoring::AnswerSet::parse(
            q,
            &serde_json::json!({"q1":0,"q2":0,"q3":0,"q4":0,"q5":0,"q6":0,"q7":0,"q8":0,"q9":2}),
        )
        .unwrap();
        let lines = vec![crate::config::CrisisLine {
            number: "12356".into(),
            name: [("zh_cn".to_string(), "热线".to_string())].into(),
        }];
        let response = crate::screening::response_for(
            q,
            "",
            crate::scoring::score(&set),
            "zh-CN",
            crate::screening::Shown {
                crisis: &lines,
                rider: &crate::config::RiderSettings::default(),
            },
        );
        let error = ApiError::from(SubmitError::NotSaved(
            Box::new(response),
            crate::db::DbError::Connect("down".into()),
        ));
        let response = error.error_response();
        assert_eq!(
            response.status(),
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE
        );
        let body: Value =
            serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap();
        assert_matches(&doc, "NotSavedResponse", &body);
        assert_eq!(body["error"]["code"], "not_saved");
        assert_eq!(body["result"]["outcome"]["tier"], "red");
        assert_eq!(body["result"]["crisis_lines"][0]["number"], "12356");
    }

    #[test]
    fn health_and_list_bodies_match_their_schemas() {
        let doc = document();
        let health = crate::http::Health {
            status: "ok".into(),
        };
        assert_matches(&doc, "Health", &serde_json::to_value(health).unwrap());
        let ready = crate::http::Readiness {
            database: crate::http::DatabaseStatus::Unreachable,
            questionnaires: 0,
            worker: crate::http::WorkerStatus::Missing,
            mail: crate::admin::notifier::MailState::UNKNOWN,
        };
        assert_matches(&doc, "Readiness", &serde_json::to_value(ready).unwrap());
        let list = crate::http::QuestionnaireList {
            questionnaires: shipped()
                .iter()
                .map(|q| crate::http::QuestionnaireSummary {
                    id: q.id.clone(),
                    version: q.version.clone(),
                    content_hash: q.content_hash.clone(),
                    title: q.title.get("en", &q.default_locale).to_string(),
                    locales: q.locales.clone(),
                    items: q.items.len(),
                    estimated_minutes: q.estimated_minutes,
                })
                .collect(),
        };
        assert_matches(
            &doc,
            "QuestionnaireList",
            &serde_json::to_value(list).unwrap(),
        );
    }
}
