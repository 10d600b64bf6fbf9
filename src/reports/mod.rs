//! Programme reports: screenings, alerts and roster coverage per calendar week or month
//! (China time), per site and in total, with small cells suppressed (`suppress.rs`, pure) so
//! that no report, and no pair of reports, singles out a rider.
//!
//! Why fixed buckets: a report is only ever made of whole, *finished* weeks or months
//! (Monday to Sunday, or a calendar month, China time). `from` and `to` pick which buckets,
//! they never cut one, so narrowing a window by a day gives the same tables, and a bucket's
//! figures no longer move once it is published (no differencing over time either). Each
//! bucket is protected on its own and no figure sums across buckets. A `site` filter shows
//! that site's row of the same protected all-sites table, never a table of its own.
//!
//! Synchronous (diesel): callers run these on the blocking pool.
//!
//! Layer: use cases (above `rosters`). ARCHITECTURE.md maps the layers.

pub mod suppress;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use serde::Serialize;
use utoipa::ToSchema;

use crate::china_time;
use crate::db::reports::{AlertFact, ScreeningFact};
use crate::db::{AnyConnection, DbError};
use suppress::{Figure, Protected, fold_small, protect, quantile};

/// At most this many buckets in one report.
pub const MAX_PERIODS: usize = 60;

pub const TIERS: [&str; 3] = ["green", "yellow", "red"];
pub const ALERT_TIERS: [&str; 2] = ["yellow", "red"];
/// Row label of the sites folded together.
pub const OTHER_SITES: &str = "other_sites";
/// Row label of screenings without a site.
pub const NO_SITE: &str = "no_site";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Week,
    Month,
}

/// A checked report query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub by: By,
    pub periods: Vec<Period>,
    pub site: Option<String>,
    pub min_cell: u64,
}

/// One bucket: [start, end) in China dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Period {
    /// `2026-W48` or `2026-11`.
    pub label: String,
    /// First day (China time), `YYYY-MM-DD`.
    #[schema(value_type = String)]
    pub start: NaiveDate,
    /// The day after the last day.
    #[schema(value_type = String)]
    pub end: NaiveDate,
}

impl Period {
    fn utc(day: NaiveDate) -> NaiveDateTime {
        day.and_hms_opt(0, 0, 0).unwrap_or_default() - Duration::hours(8)
    }
    pub fn utc_start(&self) -> NaiveDateTime {
        Self::utc(self.start)
    }
    pub fn utc_end(&self) -> NaiveDateTime {
        Self::utc(self.end)
    }
    fn contains(&self, t: NaiveDateTime) -> bool {
        t >= self.utc_start() && t < self.utc_end()
    }
}

fn bucket_of(day: NaiveDate, by: By) -> Period {
    match by {
        By::Week => {
            let start = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
            let iso = start.iso_week();
            Period {
                label: format!("{}-W{:02}", iso.year(), iso.week()),
                start,
                end: start + Duration::days(7),
            }
        }
        By::Month => {
            let start = day.with_day(1).unwrap_or(day);
            let end = if start.month() == 12 {
                NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
            }
            .unwrap_or(start);
            Period {
                label: format!("{}-{:02}", start.year(), start.month()),
                start,
                end,
            }
        }
    }
}

fn parse_day(field: &str, value: &str) -> Result<NaiveDate, ReportError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        ReportError::BadQuery(format!(
            "`{field}` must be a date like 2026-11-30 (China time), not {:?}",
            value.chars().take(40).collect::<String>()
        ))
    })
}

/// Checks `from`, `to` (China dates), `by` and `site` and picks the finished buckets
/// between them. Default: the last 12 finished weeks (or months).
pub fn query(
    from: Option<&str>,
    to: Option<&str>,
    by: Option<&str>,
    site: Option<&str>,
    min_cell: u32,
    now: NaiveDateTime,
) -> Result<Query, ReportError> {
    let by = match by.unwrap_or("week") {
        "week" => By::Week,
        "month" => By::Month,
        other => {
            return Err(ReportError::BadQuery(format!(
                "`by` must be `week` or `month`, not {:?}",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let today = china_time::local(now).date();
    let to = match to.filter(|s| !s.is_empty()) {
        Some(s) => parse_day("to", s)?,
        None => today,
    };
    let from = match from.filter(|s| !s.is_empty()) {
        Some(s) => parse_day("from", s)?,
        None => match by {
            By::Week => to - Duration::weeks(12),
            By::Month => to - Duration::days(365),
        },
    };
    if from > to {
        return Err(ReportError::BadQuery("`from` is after `to`".into()));
    }
    let site = site.filter(|s| !s.is_empty()).map(str::to_string);
    let mut periods = Vec::new();
    let mut bucket = bucket_of(from, by);
    while bucket.start <= to {
        // Only finished buckets: an open one would change between two looks.
        if bucket.end <= today {
            periods.push(bucket.clone());
        }
        if periods.len() > MAX_PERIODS {
            return Err(ReportError::BadQuery(format!(
                "at most {MAX_PERIODS} weeks or months in one report; narrow `from`/`to`"
            )));
        }
        bucket = bucket_of(bucket.end, by);
    }
    Ok(Query {
        by,
        periods,
        site,
        min_cell: u64::from(min_cell),
    })
}

/// A protected table with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Table {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// Each figure is `{"kind":"count","value":N}`, `{"kind":"small"}` (under `min_cell`,
    /// shown "<10") or `{"kind":"withheld"}` (hidden so a small one cannot be computed).
    #[schema(value_type = Vec<Vec<Object>>)]
    pub cells: Vec<Vec<Figure>>,
    #[schema(value_type = Vec<Object>)]
    pub row_totals: Vec<Figure>,
    #[schema(value_type = Vec<Object>)]
    pub column_totals: Vec<Figure>,
    /// Absent for tables of separate counts that publish no total.
    #[schema(value_type = Option<Object>)]
    pub total: Option<Figure>,
}

impl Table {
    /// Counts published one by one, without totals (nothing sums them, so a small one is
    /// only ever "<10").
    fn cells_only(rows: &[&str], columns: &[&str], counts: &[Vec<u64>], min_cell: u64) -> Table {
        let small = |n: u64| {
            if n < min_cell {
                Figure::Small
            } else {
                Figure::Count(n)
            }
        };
        Table {
            rows: rows.iter().map(|r| r.to_string()).collect(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            cells: counts
                .iter()
                .map(|r| r.iter().map(|&n| small(n)).collect())
                .collect(),
            row_totals: Vec::new(),
            column_totals: Vec::new(),
            total: None,
        }
    }

    /// The table, or only its total when it cannot be protected (`total` is shared with
    /// the period's other tables and shown there anyway).
    fn new(rows: Vec<String>, columns: &[&str], p: Option<Protected>, total: Figure) -> Table {
        let Some(p) = p else {
            let mut t = empty_table(columns);
            t.total = Some(total);
            return t;
        };
        Table {
            rows,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            cells: p.cells,
            row_totals: p.row_totals,
            column_totals: p.column_totals,
            total: Some(p.total),
        }
    }

    /// Only the row of `site` (or the folded row it is in): a view of the same table.
    fn only(mut self, label: &str) -> Table {
        let keep: Vec<usize> = (0..self.rows.len())
            .filter(|&i| self.rows[i] == label)
            .collect();
        self.rows = keep.iter().map(|&i| self.rows[i].clone()).collect();
        self.cells = keep.iter().map(|&i| self.cells[i].clone()).collect();
        self.row_totals = keep.iter().map(|&i| self.row_totals[i]).collect();
        self
    }
}

/// Per-site counts folded and protected: rows labelled by site slug, `no_site`, `other_sites`.
fn site_table(
    per_site: BTreeMap<String, Vec<u64>>,
    columns: &[&str],
    min_cell: u64,
    keep_total: bool,
) -> (Table, BTreeMap<String, String>) {
    let rows: Vec<(String, Vec<u64>)> = per_site.into_iter().collect();
    let (kept, other) = fold_small(&rows, columns.len(), min_cell);
    let mut labels: Vec<String> = kept.iter().map(|(k, _)| k.clone()).collect();
    let mut counts: Vec<Vec<u64>> = kept.into_iter().map(|(_, r)| r).collect();
    let mut row_of: BTreeMap<String, String> =
        labels.iter().map(|l| (l.clone(), l.clone())).collect();
    if let Some((names, r)) = other {
        for n in names {
            row_of.insert(n, OTHER_SITES.into());
        }
        labels.push(OTHER_SITES.into());
        counts.push(r);
    }
    let p = protect(&counts, columns.len(), min_cell, keep_total);
    let total = sum(&counts, min_cell);
    (Table::new(labels, columns, p, total), row_of)
}

fn site_key(site: &Option<String>) -> String {
    site.clone().unwrap_or_else(|| NO_SITE.into())
}

/// The screening figures of one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScreeningPeriod {
    pub period: Period,
    /// Screenings in the bucket (all sites).
    #[schema(value_type = Object)]
    pub total: Figure,
    /// Sites by tier (`green`, `yellow`, `red`).
    pub by_site: Table,
    /// Questionnaires by number of screenings.
    pub by_questionnaire: Table,
    /// Riders who gave contact details with consent, and those who did not.
    pub identified: Table,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScreeningReport {
    pub by: By,
    pub min_cell: u64,
    pub site: Option<String>,
    pub periods: Vec<ScreeningPeriod>,
}

/// A table of which nothing is published but its total.
fn empty_table(columns: &[&str]) -> Table {
    Table {
        rows: Vec::new(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        cells: Vec::new(),
        row_totals: Vec::new(),
        column_totals: Vec::new(),
        total: Some(Figure::Small),
    }
}

/// The total of `rows` as published: small under `min_cell`.
fn sum(rows: &[Vec<u64>], min_cell: u64) -> Figure {
    let n: u64 = rows.iter().flatten().sum();
    if n < min_cell {
        Figure::Small
    } else {
        Figure::Count(n)
    }
}

/// Screening figures from the facts (pure: the API and the tests share it).
pub fn screening_report(q: &Query, facts: &[ScreeningFact]) -> ScreeningReport {
    let m = q.min_cell;
    let periods = q
        .periods
        .iter()
        .map(|period| {
            let here: Vec<&ScreeningFact> = facts
                .iter()
                .filter(|f| period.contains(f.submitted_at))
                .collect();
            let n = here.len() as u64;
            if n < m {
                // Too few for any breakdown: every table of the bucket is withheld.
                return ScreeningPeriod {
                    period: period.clone(),
                    total: Figure::Small,
                    by_site: empty_table(&TIERS),
                    by_questionnaire: empty_table(&["screenings"]),
                    identified: empty_table(&["identified", "anonymous"]),
                };
            }
            let mut per_site: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            let mut per_q: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            let mut identified = vec![0u64; 2];
            for f in &here {
                let row = per_site.entry(site_key(&f.site)).or_insert(vec![0; 3]);
                if let Some(t) = TIERS.iter().position(|t| *t == f.tier) {
                    row[t] += 1;
                }
                per_q.entry(f.questionnaire_id.clone()).or_insert(vec![0])[0] += 1;
                identified[usize::from(!f.identified)] += 1;
            }
            let (mut by_site, row_of) = site_table(per_site, &TIERS, m, true);
            if let Some(site) = &q.site {
                let label = row_of.get(site).cloned().unwrap_or_else(|| site.clone());
                by_site = by_site.only(&label);
            }
            let (by_questionnaire, _) = site_table(per_q, &["screenings"], m, true);
            let identified = Table::new(
                vec!["all".into()],
                &["identified", "anonymous"],
                protect(&[identified.clone()], 2, m, true),
                sum(&[identified], m),
            );
            ScreeningPeriod {
                period: period.clone(),
                total: Figure::Count(n),
                by_site,
                by_questionnaire,
                identified,
            }
        })
        .collect();
    ScreeningReport {
        by: q.by,
        min_cell: m,
        site: q.site.clone(),
        periods,
    }
}

/// Time to acknowledge, in minutes, over the alerts of a tier acknowledged in the bucket.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AckTimes {
    pub tier: String,
    /// Median; absent over fewer than `min_cell` alerts.
    pub median_minutes: Option<f64>,
    /// 90th percentile (nearest rank); absent over fewer than `min_cell` alerts.
    pub p90_minutes: Option<f64>,
    /// Acknowledged by the deadline / acknowledged; absent unless both counts are shown.
    pub share_within_deadline: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertPeriod {
    pub period: Period,
    /// Alerts opened in the bucket, sites by tier (`yellow`, `red`).
    pub opened: Table,
    /// Alerts acknowledged in the bucket: tiers by `within_deadline`, `late` (separate
    /// counts, no totals).
    pub acknowledged: Table,
    pub ack_times: Vec<AckTimes>,
    /// Alerts paged at each escalation level in the bucket (`level_1` = on-duty counselors;
    /// separate counts: one alert may reach several levels).
    pub escalation: Table,
    /// Alerts resolved in the bucket, by outcome (separate counts, no total).
    pub outcomes: Table,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertReport {
    pub by: By,
    pub min_cell: u64,
    pub site: Option<String>,
    pub periods: Vec<AlertPeriod>,
}

pub const LEVELS: [&str; 3] = ["level_1", "level_2", "level_3"];

/// The level of a `paged` event's detail (`{"level":N,...}`, 0-based).
fn page_level(detail: &str) -> Option<usize> {
    serde_json::from_str::<serde_json::Value>(detail)
        .ok()?
        .get("level")?
        .as_u64()
        .map(|l| l as usize)
}

/// Alert figures from the facts (pure).
pub fn alert_report(
    q: &Query,
    alerts: &[AlertFact],
    pages: &[(String, NaiveDateTime, String)],
) -> AlertReport {
    let m = q.min_cell;
    let outcomes: Vec<&str> = crate::alerts::Resolution::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    let periods = q
        .periods
        .iter()
        .map(|period| {
            let mut per_site: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            let mut ack = vec![vec![0u64; 2]; 2];
            let mut minutes: Vec<Vec<f64>> = vec![Vec::new(); 2];
            let mut resolved = vec![0u64; outcomes.len()];
            for a in alerts {
                let Some(t) = ALERT_TIERS.iter().position(|x| *x == a.tier) else {
                    continue;
                };
                if period.contains(a.created_at) {
                    per_site.entry(site_key(&a.site)).or_insert(vec![0; 2])[t] += 1;
                }
                if let Some(at) = a.acknowledged_at.filter(|at| period.contains(*at)) {
                    ack[t][usize::from(at > a.deadline_at)] += 1;
                    minutes[t].push((at - a.created_at).num_seconds() as f64 / 60.0);
                }
                if a.resolved_at.is_some_and(|at| period.contains(at))
                    && let Some(o) = a.outcome.as_deref()
                    && let Some(i) = outcomes.iter().position(|x| *x == o)
                {
                    resolved[i] += 1;
                }
            }
            let (mut opened, row_of) = site_table(per_site, &ALERT_TIERS, m, false);
            if let Some(site) = &q.site {
                let label = row_of.get(site).cloned().unwrap_or_else(|| site.clone());
                opened = opened.only(&label);
            }
            let acknowledged =
                Table::cells_only(&ALERT_TIERS, &["within_deadline", "late"], &ack, m);
            let ack_times = ALERT_TIERS
                .iter()
                .enumerate()
                .map(|(t, tier)| {
                    let row = acknowledged.cells.get(t);
                    let cell = |j: usize| row.and_then(|r| r.get(j)).and_then(|f| f.count());
                    let share = match (cell(0), cell(1)) {
                        (Some(w), Some(l)) if w + l > 0 => Some(w as f64 / (w + l) as f64),
                        _ => None,
                    };
                    AckTimes {
                        tier: tier.to_string(),
                        median_minutes: quantile(&minutes[t], 0.5, m),
                        p90_minutes: quantile(&minutes[t], 0.9, m),
                        share_within_deadline: share,
                    }
                })
                .collect();
            let mut levels: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); LEVELS.len()];
            for (alert, at, detail) in pages {
                if period.contains(*at)
                    && let Some(l) = page_level(detail)
                {
                    levels[l.min(LEVELS.len() - 1)].insert(alert);
                }
            }
            let level_counts: Vec<u64> = levels.iter().map(|s| s.len() as u64).collect();
            AlertPeriod {
                period: period.clone(),
                opened,
                acknowledged,
                ack_times,
                escalation: Table::cells_only(&["alerts"], &LEVELS, &[level_counts], m),
                outcomes: Table::cells_only(&["resolved"], &outcomes, &[resolved], m),
            }
        })
        .collect();
    AlertReport {
        by: q.by,
        min_cell: m,
        site: q.site.clone(),
        periods,
    }
}

/// Hours of one bucket with no counselor on duty, overall and per site.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CoveragePeriod {
    pub period: Period,
    pub hours: f64,
    /// Hours with no counselor on shift at all.
    pub uncovered_hours: f64,
    /// Per site: hours with no counselor on shift who serves it.
    pub sites: Vec<SiteCoverage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SiteCoverage {
    pub site: String,
    pub uncovered_hours: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CoverageReport {
    pub by: By,
    pub site: Option<String>,
    pub periods: Vec<CoveragePeriod>,
}

/// A counselor's shift as coverage counts it: its sites (empty = every site).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub sites: Vec<String>,
}

fn covered_seconds(mut spans: Vec<(NaiveDateTime, NaiveDateTime)>) -> i64 {
    spans.sort();
    let mut total = 0;
    let mut current: Option<(NaiveDateTime, NaiveDateTime)> = None;
    for (s, e) in spans {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += (ce - cs).num_seconds();
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = current {
        total += (ce - cs).num_seconds();
    }
    total
}

fn hours(seconds: i64) -> f64 {
    (seconds as f64 / 360.0).round() / 10.0
}

/// Coverage figures (pure). No rider data: nothing to suppress.
pub fn coverage_report(q: &Query, covers: &[Cover], sites: &[String]) -> CoverageReport {
    let periods = q
        .periods
        .iter()
        .map(|period| {
            let (from, to) = (period.utc_start(), period.utc_end());
            let length = (to - from).num_seconds();
            let clip = |c: &Cover| {
                let (s, e) = (c.starts_at.max(from), c.ends_at.min(to));
                (s < e).then_some((s, e))
            };
            let all: Vec<_> = covers.iter().filter_map(clip).collect();
            let per_site = sites
                .iter()
                .filter(|s| q.site.as_ref().is_none_or(|only| only == *s))
                .map(|site| {
                    let spans = covers
                        .iter()
                        .filter(|c| c.sites.is_empty() || c.sites.contains(site))
                        .filter_map(clip)
                        .collect();
                    SiteCoverage {
                        site: site.clone(),
                        uncovered_hours: hours(length - covered_seconds(spans)),
                    }
                })
                .collect();
            CoveragePeriod {
                period: period.clone(),
                hours: hours(length),
                uncovered_hours: hours(length - covered_seconds(all)),
                sites: per_site,
            }
        })
        .collect();
    CoverageReport {
        by: q.by,
        site: q.site.clone(),
        periods,
    }
}

/// Loads and builds the screening report.
pub fn screenings(conn: &mut AnyConnection, q: &Query) -> Result<ScreeningReport, ReportError> {
    let facts = match window(q) {
        Some((from, to)) => crate::db::reports::screenings(conn, from, to)?,
        None => Vec::new(),
    };
    Ok(screening_report(q, &facts))
}

/// Loads and builds the alert report.
pub fn alerts(conn: &mut AnyConnection, q: &Query) -> Result<AlertReport, ReportError> {
    let (facts, pages) = match window(q) {
        Some((from, to)) => (
            crate::db::reports::alerts(conn, from, to)?,
            crate::db::reports::pages(conn, from, to)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(alert_report(q, &facts, &pages))
}

/// Loads and builds the coverage report (counselors' shifts; a shift without sites covers
/// its counselor's sites, a counselor without sites covers every site).
pub fn coverage(conn: &mut AnyConnection, q: &Query) -> Result<CoverageReport, ReportError> {
    let sites: Vec<String> = crate::db::accounts::list_sites(conn)?
        .into_iter()
        .map(|s| s.slug)
        .collect();
    let mut covers = Vec::new();
    if let Some((from, to)) = window(q) {
        let counselors: BTreeSet<String> = crate::db::accounts::list_users(conn)?
            .into_iter()
            .filter(|u| u.active && u.role == "counselor")
            .map(|u| u.id)
            .collect();
        let user_sites = crate::db::accounts::all_user_sites(conn)?;
        for (shift, shift_sites) in crate::db::rosters::between(conn, from, to)? {
            if !counselors.contains(&shift.user_id) {
                continue;
            }
            let sites = if shift_sites.is_empty() {
                user_sites
                    .iter()
                    .filter(|(u, _)| *u == shift.user_id)
                    .map(|(_, s)| s.clone())
                    .collect()
            } else {
                shift_sites
            };
            covers.push(Cover {
                starts_at: shift.starts_at,
                ends_at: shift.ends_at,
                sites,
            });
        }
    }
    Ok(coverage_report(q, &covers, &sites))
}

fn window(q: &Query) -> Option<(NaiveDateTime, NaiveDateTime)> {
    Some((q.periods.first()?.utc_start(), q.periods.last()?.utc_end()))
}

/// A CSV field, quoted when it needs to be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Every table of a report as one CSV (UTF-8 with a BOM, so Excel reads Chinese right):
/// one line per figure, `period,start,table,row,column,value`, the same suppressed figures
/// as the JSON (`<10`, `—`).
pub fn csv(tables: &[(&Period, &str, &Table)], min_cell: u64) -> String {
    let mut out = String::from("\u{feff}period,start,table,row,column,value\r\n");
    let mut line = |p: &Period, table: &str, row: &str, col: &str, f: Figure| {
        out.push_str(&format!(
            "{},{},{},{},{},{}\r\n",
            field(&p.label),
            p.start,
            field(table),
            field(row),
            field(col),
            field(&f.display(min_cell))
        ));
    };
    for (p, name, t) in tables {
        for (i, row) in t.rows.iter().enumerate() {
            for (j, col) in t.columns.iter().enumerate() {
                line(p, name, row, col, t.cells[i][j]);
            }
            if let Some(&f) = t.row_totals.get(i) {
                line(p, name, row, "total", f);
            }
        }
        for (j, col) in t.columns.iter().enumerate() {
            if let Some(&f) = t.column_totals.get(j) {
                line(p, name, "total", col, f);
            }
        }
        if let Some(f) = t.total {
            line(p, name, "total", "total", f);
        }
    }
    out
}

impl ScreeningReport {
    pub fn csv(&self) -> String {
        let tables: Vec<(&Period, &str, &Table)> = self
            .periods
            .iter()
            .flat_map(|p| {
                [
                    (&p.period, "by_site", &p.by_site),
                    (&p.period, "by_questionnaire", &p.by_questionnaire),
                    (&p.period, "identified", &p.identified),
                ]
            })
            .collect();
        csv(&tables, self.min_cell)
    }
}

impl AlertReport {
    pub fn csv(&self) -> String {
        let tables: Vec<(&Period, &str, &Table)> = self
            .periods
            .iter()
            .flat_map(|p| {
                [
                    (&p.period, "opened", &p.opened),
                    (&p.period, "acknowledged", &p.acknowledged),
                    (&p.period, "escalation", &p.escalation),
                    (&p.period, "outcomes", &p.outcomes),
                ]
            })
            .collect();
        let mut out = csv(&tables, self.min_cell);
        for p in &self.periods {
            for a in &p.ack_times {
                let show =
                    |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into());
                for (col, v) in [
                    ("median_minutes", a.median_minutes),
                    ("p90_minutes", a.p90_minutes),
                    ("share_within_deadline", a.share_within_deadline),
                ] {
                    out.push_str(&format!(
                        "{},{},ack_times,{},{},{}\r\n",
                        field(&p.period.label),
                        p.period.start,
                        a.tier,
                        col,
                        show(v)
                    ));
                }
            }
        }
        out
    }
}

impl CoverageReport {
    pub fn csv(&self) -> String {
        let mut out = String::from("\u{feff}period,start,site,hours,uncovered_hours\r\n");
        for p in &self.periods {
            out.push_str(&format!(
                "{},{},all,{},{}\r\n",
                field(&p.period.label),
                p.period.start,
                p.hours,
                p.uncovered_hours
            ));
            for s in &p.sites {
                out.push_str(&format!(
                    "{},{},{},{},{}\r\n",
                    field(&p.period.label),
                    p.period.start,
                    field(&s.site),
                    p.hours,
                    s.uncovered_hours
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> NaiveDateTime {
        china_time::parse_time(s).unwrap()
    }

    fn fact(site: &str, tier: &str, when: &str) -> ScreeningFact {
        ScreeningFact {
            questionnaire_id: "rider_wellbeing".into(),
            tier: tier.into(),
            site: Some(site.into()),
            submitted_at: at(when),
            identified: false,
        }
    }

    #[test]
    fn weeks_run_monday_to_sunday_in_china_time_and_only_finished_ones_are_reported() {
        let now = at("2026-12-02T10:00");
        let q = query(Some("2026-11-18"), None, None, None, 10, now).unwrap();
        let labels: Vec<&str> = q.periods.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-W47", "2026-W48"]);
        assert_eq!(q.periods[0].start.to_string(), "2026-11-16");
        // Monday 00:00 China time is Sunday 16:00 UTC.
        assert_eq!(q.periods[0].utc_start(), at("2026-11-16T00:00"));
        let months = query(
            Some("2026-01-15"),
            Some("2026-03-01"),
            Some("month"),
            None,
            10,
            now,
        )
        .unwrap();
        let labels: Vec<&str> = months.periods.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-01", "2026-02", "2026-03"]);
    }

    #[test]
    fn bad_queries_are_refused_with_the_field_named() {
        let now = at("2026-12-02T10:00");
        for (from, to, by, needle) in [
            (Some("yesterday"), None, None, "`from`"),
            (None, Some("2026-13-01"), None, "`to`"),
            (None, None, Some("day"), "`by`"),
            (Some("2026-12-01"), Some("2026-11-01"), None, "after"),
            (Some("2000-01-01"), None, None, "at most"),
        ] {
            let e = query(from, to, by, None, 10, now).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Differencing: any two windows give, for every bucket they share, the very same
        /// tables, whatever days they start and end on.
        #[test]
        fn overlapping_windows_publish_identical_buckets(
            days in proptest::collection::vec((0i64..70, 0usize..3, 0usize..3), 0..120),
            a in 0i64..70, b in 0i64..70, c in 0i64..70, d in 0i64..70,
        ) {
            let base = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
            let sites = ["s1", "s2", "s3"];
            let facts: Vec<ScreeningFact> = days.iter().map(|&(day, s, t)| ScreeningFact {
                questionnaire_id: "phq9".into(),
                tier: TIERS[t].into(),
                site: Some(sites[s].into()),
                submitted_at: Period::utc(base + Duration::days(day)) + Duration::hours(3),
                identified: t == 2,
            }).collect();
            let now = at("2026-12-02T10:00");
            let day = |n: i64| (base + Duration::days(n)).to_string();
            let w1 = query(Some(&day(a.min(b))), Some(&day(a.max(b))), None, None, 10, now).unwrap();
            let w2 = query(Some(&day(c.min(d))), Some(&day(c.max(d))), None, None, 10, now).unwrap();
            let r1 = screening_report(&w1, &facts);
            let r2 = screening_report(&w2, &facts);
            for p in &r1.periods {
                if let Some(q) = r2.periods.iter().find(|q| q.period == p.period) {
                    prop_assert_eq!(p, q);
                }
            }
        }
    }

    #[test]
    fn a_site_filter_shows_the_row_of_the_all_sites_table() {
        let now = at("2026-12-02T10:00");
        let mut facts = Vec::new();
        for i in 0..30 {
            facts.push(fact(
                "big",
                if i < 25 { "green" } else { "yellow" },
                "2026-11-24T10:00",
            ));
        }
        facts.push(fact("small", "red", "2026-11-24T11:00"));
        let all = query(Some("2026-11-23"), Some("2026-11-29"), None, None, 10, now).unwrap();
        let one = query(
            Some("2026-11-23"),
            Some("2026-11-29"),
            None,
            Some("small"),
            10,
            now,
        )
        .unwrap();
        let r_all = screening_report(&all, &facts);
        let r_one = screening_report(&one, &facts);
        let t = &r_all.periods[0].by_site;
        // The small station is folded with the smallest other one: no row names it.
        assert!(!t.rows.contains(&"small".to_string()));
        let row = &r_one.periods[0].by_site;
        assert_eq!(row.rows, [OTHER_SITES]);
        let i = t.rows.iter().position(|r| r == OTHER_SITES).unwrap();
        assert_eq!(row.cells[0], t.cells[i]);
        assert_eq!(row.row_totals[0], t.row_totals[i]);
    }
}
