//! The service's metrics, in the Prometheus text format (`GET /metrics`): counters and
//! histograms recorded where things happen (requests, screenings, acknowledgements, deliveries,
//! the mail path), and gauges the background refresher reads from the database every 15 s.
//!
//! Labels are fixed vocabularies only: route patterns (never raw paths), methods, statuses,
//! questionnaire ids, tiers, job kinds, levels. Never a rider's data, a site's name typed by a
//! user, a person or an address.
//!
//! Layer: shared vocabulary (plain data the layers above record into). ARCHITECTURE.md maps
//! the layers.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The tiers an alert can have.
pub const ALERT_TIERS: [&str; 2] = ["red", "yellow"];
/// The job statuses reported by `careline_jobs`.
pub const JOB_STATUSES: [&str; 4] = ["pending", "running", "failed", "dead"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScreeningLabels {
    pub questionnaire: String,
    pub tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TierLabels {
    pub tier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LevelLabels {
    pub level: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: String,
}

type F64Gauge = Gauge<f64, AtomicU64>;

fn duration_histogram() -> Histogram {
    // 5 ms .. ~20 s
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

fn acknowledge_histogram() -> Histogram {
    // 15 s .. 4 h: the red deadline is 15 min (urgent 5 min), yellow days.
    Histogram::new([
        15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    ])
}

/// What the database said at the last refresh (times, so ages are computed at each scrape).
#[derive(Debug, Default, Clone, Copy)]
pub struct Seen {
    /// When the oldest unacknowledged red alert opened (UTC seconds), if one is open.
    pub oldest_open_red: Option<i64>,
    /// The latest heartbeat of any job worker (UTC seconds).
    pub worker: Option<i64>,
}

/// The mail path: the outcome of the last send (or probe).
#[derive(Debug, Default)]
struct MailState {
    /// Since when sending has been failing; `None` while it works.
    failing_since: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Every metric family, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    pub screenings: Family<ScreeningLabels, Counter>,
    pub alerts_open: Family<TierLabels, Gauge>,
    pub alerts_overdue: Family<TierLabels, Gauge>,
    oldest_open_red_age: F64Gauge,
    pub time_to_acknowledge: Family<TierLabels, Histogram>,
    pub escalation_levels: Family<LevelLabels, Counter>,
    pub roster_gap_sites: Gauge,
    pub jobs: Family<JobLabels, Gauge>,
    pub deliveries: Family<DeliveryLabels, Counter>,
    mail_up: Gauge,
    mail_failing_seconds: F64Gauge,
    worker_last_seen: F64Gauge,
    refused_files: Gauge,
    db_pool: Family<PoolLabels, Gauge>,
    refresh_errors: Counter,
    mail: Mutex<MailState>,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// What the scrape adds that only the caller knows (it lives in layers above this one).
#[derive(Debug, Clone, Copy, Default)]
pub struct AtScrape {
    /// Questionnaire files refused at the last reload.
    pub refused_files: usize,
    /// Pool connections in use, idle, and the configured maximum.
    pub pool_in_use: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "careline_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        registry.register_with_unit(
            "careline_http_request_duration",
            "Time to answer an HTTP request, by route pattern and method",
            Unit::Seconds,
            http_duration.clone(),
        );
        let screenings = Family::<ScreeningLabels, Counter>::default();
        registry.register(
            "careline_screenings",
            "Screenings stored, by questionnaire and tier",
            screenings.clone(),
        );
        let alerts_open = Family::<TierLabels, Gauge>::default();
        registry.register(
            "careline_alerts_open",
            "Alerts open and not yet acknowledged, by tier",
            alerts_open.clone(),
        );
        let alerts_overdue = Family::<TierLabels, Gauge>::default();
        registry.register(
            "careline_alerts_overdue",
            "Open alerts nobody acknowledged before their deadline, by tier",
            alerts_overdue.clone(),
        );
        let oldest_open_red_age = F64Gauge::default();
        registry.register_with_unit(
            "careline_alert_oldest_open_red_age",
            "Age of the oldest red alert not yet acknowledged (0 when there is none)",
            Unit::Seconds,
            oldest_open_red_age.clone(),
        );
        let time_to_acknowledge = Family::<TierLabels, Histogram>::new_with_constructor(
            acknowledge_histogram as fn() -> _,
        );
        registry.register_with_unit(
            "careline_alert_time_to_acknowledge",
            "From an alert opening to its acknowledgement (by this instance), by tier",
            Unit::Seconds,
            time_to_acknowledge.clone(),
        );
        let escalation_levels = Family::<LevelLabels, Counter>::default();
        registry.register(
            "careline_escalation_levels_reached",
            "Times an escalation paged a level (1 = the first level), read from the alerts' timelines",
            escalation_levels.clone(),
        );
        let roster_gap_sites = Gauge::default();
        registry.register(
            "careline_roster_gap_sites",
            "Sites with no counselor on duty now",
            roster_gap_sites.clone(),
        );
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register(
            "careline_jobs",
            "Jobs by kind and status (pending, running, failed, dead)",
            jobs.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "careline_deliveries",
            "Delivery attempts by this instance's worker, by channel and result (sent, retry, failed)",
            deliveries.clone(),
        );
        let mail_up = Gauge::default();
        registry.register(
            "careline_mail_up",
            "1 when the last mail send (or probe) succeeded, 0 when it failed",
            mail_up.clone(),
        );
        let mail_failing_seconds = F64Gauge::default();
        registry.register_with_unit(
            "careline_mail_failing",
            "How long sending mail has been failing (0 when it works)",
            Unit::Seconds,
            mail_failing_seconds.clone(),
        );
        let worker_last_seen = F64Gauge::default();
        registry.register_with_unit(
            "careline_worker_last_seen",
            "Seconds since any job worker last beat its heartbeat",
            Unit::Seconds,
            worker_last_seen.clone(),
        );
        let refused_files = Gauge::default();
        registry.register(
            "careline_questionnaire_refused_files",
            "Questionnaire files refused at the last reload (the previous version keeps serving)",
            refused_files.clone(),
        );
        let db_pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "careline_db_pool_connections",
            "Database pool connections: in_use, idle, max",
            db_pool.clone(),
        );
        let refresh_errors = Counter::default();
        registry.register(
            "careline_metrics_refresh_errors",
            "Failed refreshes of the gauges read from the database",
            refresh_errors.clone(),
        );
        mail_up.set(1);
        let m = Metrics {
            registry,
            http_requests,
            http_duration,
            screenings,
            alerts_open,
            alerts_overdue,
            oldest_open_red_age,
            time_to_acknowledge,
            escalation_levels,
            roster_gap_sites,
            jobs,
            deliveries,
            mail_up,
            mail_failing_seconds,
            worker_last_seen,
            refused_files,
            db_pool,
            refresh_errors,
            mail: Mutex::new(MailState::default()),
            seen: Mutex::new(Seen::default()),
        };
        // Every tier present from the start, so that rules see 0 rather than nothing.
        for tier in ALERT_TIERS {
            let t = TierLabels { tier: tier.into() };
            m.alerts_open.get_or_create(&t).set(0);
            m.alerts_overdue.get_or_create(&t).set(0);
        }
        for result in ["sent", "retry", "failed"] {
            let _ = m.deliveries.get_or_create(&DeliveryLabels {
                channel: "email".into(),
                result: result.into(),
            });
        }
        m
    }

    /// One answered request. `route` is the matched pattern (`/api/v1/alerts/{id}`), or
    /// `unmatched`.
    pub fn http_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.into(),
                method: method.into(),
                status: status.to_string(),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.into(),
                method: method.into(),
            })
            .observe(seconds);
    }

    /// A screening stored (not a replay). `questionnaire` is the catalog's id.
    pub fn screening(&self, questionnaire: &str, tier: &str) {
        self.screenings
            .get_or_create(&ScreeningLabels {
                questionnaire: questionnaire.into(),
                tier: tier.into(),
            })
            .inc();
    }

    pub fn acknowledged(&self, tier: &str, seconds: f64) {
        self.time_to_acknowledge
            .get_or_create(&TierLabels { tier: tier.into() })
            .observe(seconds.max(0.0));
    }

    /// A channel send attempt (`channel`: wecom, dingtalk, feishu, sms, voice), as `delivery`,
    /// or `deferred` (its rate limit was used up; it waits its turn). Not part of the mail
    /// path's health.
    pub fn channel_delivery(&self, channel: &'static str, result: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.into(),
                result: result.into(),
            })
            .inc();
    }

    /// An email send attempt: `sent`, `retry` (transient failure) or `failed` (permanent).
    pub fn delivery(&self, result: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: "email".into(),
                result: result.into(),
            })
            .inc();
        self.mail_result(result == "sent");
    }

    /// The mail path worked (`true`) or failed, by a send or a probe.
    pub fn mail_result(&self, ok: bool) {
        let mut mail = self.mail.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        mail.last_attempt = Some(now);
        if ok {
            mail.failing_since = None;
        } else if mail.failing_since.is_none() {
            mail.failing_since = Some(now);
        }
        self.mail_up.set(i64::from(ok));
    }

    /// When the mail path was last tried (for the prober: no probe while sends are going on).
    pub fn mail_last_attempt(&self) -> Option<Instant> {
        self.mail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_attempt
    }

    pub fn set_seen(&self, seen: Seen) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = seen;
    }

    pub fn refresh_failed(&self) {
        self.refresh_errors.inc();
    }

    /// Brings a counter read from the database (a cumulative count) up to `total`.
    pub fn set_escalation_level(&self, level: usize, total: u64) {
        let c = self.escalation_levels.get_or_create(&LevelLabels {
            level: (level + 1).to_string(),
        });
        let now = c.get();
        if total > now {
            c.inc_by(total - now);
        }
    }

    /// The Prometheus text format (0.0.4) of every family, ages computed as of `now` (UTC
    /// seconds).
    pub fn encode(&self, at: AtScrape, now_utc: i64) -> String {
        let seen = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let age = |t: Option<i64>| t.map_or(0.0, |t| (now_utc - t).max(0) as f64);
        self.oldest_open_red_age.set(age(seen.oldest_open_red));
        // No worker ever seen: as old as can be said, so the rule fires.
        self.worker_last_seen.set(match seen.worker {
            Some(t) => age(Some(t)),
            None => f64::from(u32::MAX),
        });
        let failing = self
            .mail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failing_since
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.mail_failing_seconds.set(failing);
        self.refused_files
            .set(i64::try_from(at.refused_files).unwrap_or(i64::MAX));
        for (state, n) in [
            ("in_use", at.pool_in_use),
            ("idle", at.pool_idle),
            ("max", at.pool_max),
        ] {
            self.db_pool
                .get_or_create(&PoolLabels {
                    state: state.into(),
                })
                .set(i64::from(n));
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of `Metrics::encode`'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_carry_the_names_the_alert_rules_use() {
        let m = Metrics::new();
        m.http_request("/api/v1/alerts/{id}", "GET", 200, 0.01);
        m.delivery("failed");
        let text = m.encode(AtScrape::default(), 0);
        for name in [
            "careline_alerts_overdue{tier=\"red\"} 0",
            "careline_alerts_open{tier=\"yellow\"} 0",
            "careline_alert_oldest_open_red_age_seconds 0",
            "careline_mail_up 0",
            "careline_worker_last_seen_seconds ",
            "careline_roster_gap_sites 0",
            "careline_deliveries_total{channel=\"email\",result=\"failed\"} 1",
            "careline_http_requests_total{route=\"/api/v1/alerts/{id}\",method=\"GET\",status=\"200\"} 1",
            "careline_http_request_duration_seconds_bucket{",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
        assert!(
            m.encode(AtScrape::default(), 0)
                .contains("careline_mail_failing_seconds ")
        );
    }

    #[test]
    fn mail_failing_resets_on_success() {
        let m = Metrics::new();
        m.delivery("retry");
        assert!(
            m.encode(AtScrape::default(), 0)
                .contains("careline_mail_up 0")
        );
        m.delivery("sent");
        let text = m.encode(AtScrape::default(), 0);
        assert!(text.contains("careline_mail_up 1"), "{text}");
        assert!(text.contains("careline_mail_failing_seconds 0"), "{text}");
    }
}
