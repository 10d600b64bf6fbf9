//! `GET /metrics`: the Prometheus text format, parsed strictly here; every family the alert
//! rules and the operators rely on; a red screening, its acknowledgement and a refused
//! delivery (a real SMTP server answering 550) moving the right series; no rider data in any
//! label; and the optional bearer token.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use careline::config::Settings;
use serde_json::json;

use crate::helpers::{AppOptions, Backend, RED, TestApp, Tweak, eventually, phq9_body};
use crate::notifier_smtp::{Mode, TestSmtp};

backend_tests!(
    metrics_follow_a_red_screening_its_acknowledgement_and_a_refused_delivery,
    metrics_need_the_configured_token,
);

/// One sample: `name{labels} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed: families (name -> type) and their samples.
#[derive(Debug)]
struct Scrape {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s
            .parse::<f64>()
            .ok()
            .filter(|_| !s.eq_ignore_ascii_case("inf") && !s.eq_ignore_ascii_case("infinity"))
            .ok_or_else(|| format!("`{s}` is not a sample value")),
    }
}

/// `{a="x",b="y\"z"}` from just after the `{`; returns the labels and the rest after `}`.
fn parse_labels(mut rest: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("a label without `=`")?;
        let name = &rest[..eq];
        if !is_name(name, false) {
            return Err(format!("`{name}` is not a label name"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("a label value must be quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) => return Err("a raw newline in a label value".into()),
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label `{name}` twice"));
        }
        rest = &rest[end + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels must be separated by `,`".into());
        }
    }
}

/// The text exposition format (0.0.4), strictly: every line is a HELP, a TYPE (before the
/// family's samples, once), or a sample of a declared family; values are numbers.
fn parse(text: &str) -> Result<Scrape, String> {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let mut seen_samples_of = BTreeSet::new();
    if !text.ends_with('\n') {
        return Err("the text must end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), Some(_)) if is_name(name, true) => {}
                (Some("TYPE"), Some(name), Some(kind)) if is_name(name, true) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind}")));
                    }
                    if seen_samples_of.contains(name) {
                        return Err(at("TYPE after the family's samples".into()));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(at("a second TYPE".into()));
                    }
                }
                _ => return Err(at("a comment that is neither HELP nor TYPE".into())),
            }
            continue;
        }
        if line.starts_with('#') {
            return Err(at("a malformed comment".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(at(format!("`{name}` is not a metric name")));
        }
        let (labels, rest) = match line[name_end..].strip_prefix('{') {
            Some(rest) => parse_labels(rest).map_err(at)?,
            None => (BTreeMap::new(), &line[name_end..]),
        };
        let rest = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?;
        let mut fields = rest.split(' ');
        let value = parse_value(fields.next().unwrap_or_default()).map_err(at)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|_| at(format!("`{ts}` is not a timestamp")))?;
        }
        if fields.next().is_some() {
            return Err(at("text after the timestamp".into()));
        }
        let family = types
            .keys()
            .find(|f| {
                let kind = types[*f].as_str();
                name == f.as_str()
                    || (kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name.strip_suffix(s) == Some(f.as_str())))
            })
            .cloned()
            .ok_or_else(|| at("a sample of no declared family".into()))?;
        if types[&family] == "histogram" && name.ends_with("_bucket") && !labels.contains_key("le")
        {
            return Err(at("a bucket without `le`".into()));
        }
        seen_samples_of.insert(family);
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(Scrape { types, samples })
}

impl Scrape {
    /// The value of the one sample named `name` whose labels include `labels`; `None` when
    /// there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert!(
            found.len() <= 1,
            "{name}{labels:?} matches several samples: {found:?}"
        );
        found.first().map(|s| s.value)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }
}

#[test]
fn the_parser_refuses_malformed_text() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n";
    assert!(parse(good).is_ok());
    for bad in [
        "a_total 3\n",                                                 // no TYPE
        "# TYPE a_total counter\na_total{x=\"1} 3\n",                  // unterminated value
        "# TYPE a_total counter\na_total{x=1} 3\n",                    // unquoted value
        "# TYPE a_total counter\na_total three\n",                     // not a number
        "# TYPE a_total counter\na_total 3",                           // no final newline
        "# TYPE a_total counter\na_total 3 4 5\n",                     // trailing text
        "# TYPE a_total countr\na_total 3\n",                          // unknown type
        "# TYPE h histogram\nh_bucket 1\n",                            // bucket without le
        "# TYPE a_total counter\n# TYPE a_total counter\na_total 1\n", // TYPE twice
        "# TYPE 1a gauge\n1a 1\n",                                     // bad name
        "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n",                      // label twice
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad:?}");
    }
}

/// Every family `/metrics` must carry (their exposition names).
const FAMILIES: [(&str, &str); 17] = [
    ("careline_http_requests_total", "counter"),
    ("careline_http_request_duration_seconds", "histogram"),
    ("careline_screenings_total", "counter"),
    ("careline_alerts_open", "gauge"),
    ("careline_alerts_overdue", "gauge"),
    ("careline_alert_oldest_open_red_age_seconds", "gauge"),
    ("careline_alert_time_to_acknowledge_seconds", "histogram"),
    ("careline_escalation_levels_reached_total", "counter"),
    ("careline_roster_gap_sites", "gauge"),
    ("careline_jobs", "gauge"),
    ("careline_deliveries_total", "counter"),
    ("careline_mail_up", "gauge"),
    ("careline_mail_failing_seconds", "gauge"),
    ("careline_worker_last_seen_seconds", "gauge"),
    ("careline_questionnaire_refused_files", "gauge"),
    ("careline_db_pool_connections", "gauge"),
    ("careline_metrics_refresh_errors_total", "counter"),
];

const BACKUP: &str = "backup-desk@example.org";
const MARK_NAME: &str = "Zhangmarker Sanfeng";
const MARK_PHONE: &str = "13987654321";

async fn metrics_app(backend: Backend, smtp: &TestSmtp, token: &str) -> TestApp {
    let url = smtp.url();
    let token = token.to_string();
    let tweak = move |s: &mut Settings| {
        s.mail.smtp_url = url.clone();
        s.mail.timeout = Duration::from_secs(2);
        s.worker.poll_interval = Duration::from_millis(200);
        s.escalation.backup_emails = vec![BACKUP.into()];
        s.metrics.refresh_interval = Duration::from_millis(200);
        s.metrics.token = token.clone();
    };
    crate::helpers::spawn_app_with(
        backend,
        AppOptions {
            tweak: Some(Tweak(Arc::new(tweak))),
            ..Default::default()
        },
    )
    .await
}

async fn scrape_text(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let response = app
        .request(reqwest::Method::GET, "/metrics", token)
        .send()
        .await
        .expect("the request was sent");
    let status = response.status().as_u16();
    if status == 200 {
        let ct = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    }
    (status, response.text().await.expect("a body"))
}

async fn scrape(app: &TestApp) -> (Scrape, String) {
    let (status, text) = scrape_text(app, None).await;
    assert_eq!(status, 200, "{text}");
    let parsed = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (parsed, text)
}

/// Scrapes until `check` holds (the gauges read from the database lag by one refresh).
async fn scrape_until(app: &TestApp, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    eventually(Duration::from_secs(30), what, || async {
        let (s, _) = scrape(app).await;
        check(&s).then_some(s)
    })
    .await
}

async fn metrics_follow_a_red_screening_its_acknowledgement_and_a_refused_delivery(
    backend: Backend,
) {
    let smtp = TestSmtp::start();
    smtp.set_mode(Mode::PermFail);
    let app = metrics_app(backend, &smtp, "").await;
    app.create_site("station-1").await;
    let counselor = app.staff("counselor", &["station-1"]).await;

    // A refresh that ran before the site was created counts no site: wait for one after.
    let before = scrape_until(&app, "the first refresh", |s| {
        s.value("careline_worker_last_seen_seconds", &[]).is_some()
            && s.value(
                "careline_jobs",
                &[("kind", "email.send"), ("status", "failed")],
            )
            .is_some()
            && s.value("careline_roster_gap_sites", &[])
                .is_some_and(|v| v >= 1.0)
    })
    .await;
    assert_eq!(before.get("careline_alerts_open", &[("tier", "red")]), 0.0);
    assert_eq!(
        before.get(
            "careline_deliveries_total",
            &[("channel", "email"), ("result", "failed")]
        ),
        0.0
    );
    // The one site has nobody on duty.
    assert_eq!(before.get("careline_roster_gap_sites", &[]), 1.0);
    // Every job kind is reported before its first job, so alert rules on them see a series:
    // the channels and the daily gap message too.
    for kind in [
        "alert.escalate",
        "email.send",
        "alert.remind",
        "digest.yellow",
        "digest.gaps",
        "channel.send",
    ] {
        for status in ["pending", "running", "failed", "dead"] {
            assert_eq!(
                before.value("careline_jobs", &[("kind", kind), ("status", status)]),
                Some(0.0),
                "careline_jobs{{kind={kind},status={status}}}"
            );
        }
    }

    // A red screening with a name and phone given (and consented to).
    let mut body = phq9_body(RED);
    body["site"] = json!("station-1");
    body["contact"] = json!({"name": MARK_NAME, "phone": MARK_PHONE});
    body["consent_to_contact"] = json!(true);
    let submitted = app.submit(&body).await;
    let alert_id = submitted.alert_id.expect("a red alert");

    // Nobody on duty: the escalation pages the last level (supervisors and the backup
    // address) at once, and the SMTP server refuses the message for good (550).
    let after = scrape_until(&app, "the red alert and the refused delivery", |s| {
        s.get("careline_alerts_open", &[("tier", "red")]) == 1.0
            && s.get(
                "careline_deliveries_total",
                &[("channel", "email"), ("result", "failed")],
            ) >= 1.0
            && s.get(
                "careline_jobs",
                &[("kind", "email.send"), ("status", "failed")],
            ) >= 1.0
            && s.get(
                "careline_escalation_levels_reached_total",
                &[("level", "3")],
            ) >= 1.0
    })
    .await;
    assert!(smtp.attempts().iter().any(|a| a.code == 550));
    assert_eq!(
        after.get(
            "careline_screenings_total",
            &[("questionnaire", "phq9"), ("tier", "red")]
        ),
        1.0
    );
    assert_eq!(
        after.get(
            "careline_http_requests_total",
            &[
                ("route", "/api/v1/screenings"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        1.0
    );
    assert_eq!(after.get("careline_mail_up", &[]), 0.0);
    assert!(after.value("careline_mail_failing_seconds", &[]).is_some());
    assert_eq!(
        after.get("careline_alerts_overdue", &[("tier", "red")]),
        0.0,
        "the deadline is 15 minutes away"
    );
    assert!(
        after
            .value("careline_alert_oldest_open_red_age_seconds", &[])
            .is_some()
    );
    assert_eq!(
        after.get(
            "careline_alert_time_to_acknowledge_seconds_count",
            &[("tier", "red")]
        ),
        0.0
    );

    // The counselor takes it: the time to acknowledge is recorded, and the red alert is no
    // longer open once the gauges are refreshed.
    let response = app
        .post_as(
            &counselor.token,
            &format!("/api/v1/alerts/{alert_id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let detail = app
        .get_as(&counselor.token, &format!("/api/v1/alerts/{alert_id}"))
        .await;
    assert_eq!(detail.status().as_u16(), 200);
    let (acked, text) = {
        let s = scrape_until(&app, "the acknowledgement", |s| {
            s.get("careline_alerts_open", &[("tier", "red")]) == 0.0
        })
        .await;
        let (_, text) = scrape(&app).await;
        (s, text)
    };
    assert_eq!(
        acked.get(
            "careline_alert_time_to_acknowledge_seconds_count",
            &[("tier", "red")]
        ),
        1.0
    );
    assert_eq!(
        acked.get("careline_alert_oldest_open_red_age_seconds", &[]),
        0.0
    );
    // Routes are patterns: the alert's id never becomes a label.
    assert_eq!(
        acked.get(
            "careline_http_requests_total",
            &[
                ("route", "/api/v1/alerts/{id}/acknowledge"),
                ("method", "POST"),
                ("status", "200")
            ]
        ),
        1.0
    );

    // Every family is there, with its type.
    for (family, kind) in FAMILIES {
        assert_eq!(
            acked.types.get(family).map(String::as_str),
            Some(kind),
            "family {family} missing or mistyped in\n{text}"
        );
    }
    // No label holds rider data or an id.
    let screening = app.find_screening(&submitted.screening_id).await;
    let alert = app.alert_row(&alert_id).await;
    for secret in [
        MARK_NAME,
        "Zhangmarker",
        MARK_PHONE,
        &alert_id,
        &alert.reference,
        &submitted.screening_id,
        &screening.answers,
        BACKUP,
        &counselor.email,
    ] {
        assert!(!text.contains(secret), "{secret} appears in /metrics");
    }
    let allowed_labels: BTreeSet<&str> = [
        "route",
        "method",
        "status",
        "questionnaire",
        "tier",
        "level",
        "kind",
        "channel",
        "result",
        "state",
        "le",
    ]
    .into();
    for s in &acked.samples {
        for (k, v) in &s.labels {
            assert!(
                allowed_labels.contains(k.as_str()),
                "label {k} on {}",
                s.name
            );
            assert!(!v.contains(MARK_PHONE) && !v.contains("marker"), "{v}");
        }
    }
}

async fn metrics_need_the_configured_token(backend: Backend) {
    let smtp = TestSmtp::start();
    let token = "s3cret-metrics-token-for-the-test";
    let app = metrics_app(backend, &smtp, token).await;
    let (status, _) = scrape_text(&app, None).await;
    assert_eq!(status, 401, "no token");
    let (status, _) = scrape_text(&app, Some("wrong-token")).await;
    assert_eq!(status, 401, "a wrong token");
    let (status, _) = scrape_text(&app, Some(&format!("{token}x"))).await;
    assert_eq!(status, 401, "the token and more");
    let (status, _) = scrape_text(&app, Some(&token[..token.len() - 1])).await;
    assert_eq!(status, 401, "a prefix of the token");
    // Basic is not Bearer.
    let response = app
        .client
        .get(app.url("/metrics"))
        .header("Authorization", format!("Basic {token}"))
        .send()
        .await
        .expect("the request was sent");
    assert_eq!(response.status().as_u16(), 401);
    let (status, text) = scrape_text(&app, Some(token)).await;
    assert_eq!(status, 200, "{text}");
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(text.contains("careline_mail_up"));
}
