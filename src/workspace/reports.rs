//! `/reports` (admins and supervisors): the programme reports of `reports/` as a page, charts
//! as server-rendered SVG (readable without JavaScript, printable) with the same numbers in
//! tables for screen readers, China time, the small-cell rule applied as in the API.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::views::{ReportAlertRow, ReportCoverageRow, ReportRow, ReportTable, ReportsPage};
use super::{Anonymous, render, run_failure, signed_in};
use crate::accounts::Role;
use crate::http::run;
use crate::i18n::Tr;
use crate::reports::suppress::Figure;
use crate::reports::{self, ReportError, Table};
use crate::state::AppState;

const READERS: [Role; 2] = [Role::Supervisor, Role::Admin];

#[derive(Debug, Deserialize)]
pub(super) struct Params {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row_label(t: &Tr, label: &str) -> String {
    match label {
        reports::OTHER_SITES => t.tr("rep-other-sites"),
        reports::NO_SITE => t.tr("rep-no-site"),
        "all" => t.tr("rep-all"),
        other => other.to_string(),
    }
}

fn table_view(t: &Tr, period: &str, table: &Table, columns: &[String], m: u64) -> ReportTable {
    let show = |f: &Figure| f.display(m);
    ReportTable {
        period: period.to_string(),
        columns: columns.to_vec(),
        rows: table
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| ReportRow {
                label: row_label(t, r),
                cells: table.cells[i].iter().map(show).collect(),
                total: table.row_totals.get(i).map(show).unwrap_or_default(),
            })
            .collect(),
        totals: table.column_totals.iter().map(show).collect(),
        total: table.total.as_ref().map(show).unwrap_or_default(),
    }
}

/// One bar's segments: (value, fill), the value None when it is not shown as a number.
type Segments<'a> = Vec<(Option<f64>, &'a str)>;
/// Labelled bars.
type Bars<'a> = Vec<(String, Segments<'a>)>;

/// A bar chart: one group of stacked bars per period. `bars` are (label, segments), each
/// segment (value, fill) drawn only when shown as a number.
fn bar_chart(title: &str, bars: &[(String, Segments<'_>)]) -> String {
    let (width, height, left, bottom) = (640.0, 220.0, 40.0, 30.0);
    let max = bars
        .iter()
        .map(|(_, s)| s.iter().filter_map(|(v, _)| *v).sum::<f64>())
        .fold(1.0_f64, f64::max);
    let slot = (width - left) / bars.len().max(1) as f64;
    let scale = (height - bottom - 10.0) / max;
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"c-{id}\" xmlns=\"http://www.w3.org/2000/svg\"><title id=\"c-{id}\">{t}</title>",
        id = title.len(),
        t = escape(title)
    );
    out.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\" stroke=\"#555\"/>",
        y = height - bottom
    ));
    out.push_str(&format!(
        "<text x=\"{x}\" y=\"12\" font-size=\"11\" text-anchor=\"end\" fill=\"#333\">{max}</text>",
        x = left - 4.0
    ));
    // Many periods: "2026-W37" would overlap its neighbours; the year is in the tables below.
    let short = |label: &str| -> String {
        match label.split_once('-') {
            Some((year, rest))
                if bars.len() > 6
                    && year.len() == 4
                    && year.chars().all(|c| c.is_ascii_digit()) =>
            {
                rest.to_string()
            }
            _ => label.to_string(),
        }
    };
    for (i, (label, segments)) in bars.iter().enumerate() {
        let x = left + i as f64 * slot + slot * 0.15;
        let mut y = height - bottom;
        for (value, fill) in segments {
            if let Some(v) = value {
                let h = v * scale;
                y -= h;
                out.push_str(&format!(
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\"/>",
                    w = slot * 0.7
                ));
            }
        }
        out.push_str(&format!(
            "<text x=\"{cx:.1}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{l}</text>",
            cx = x + slot * 0.35,
            ty = height - bottom + 16.0,
            l = escape(&short(label))
        ));
    }
    out.push_str("</svg>");
    out
}

const FILLS: [&str; 3] = ["#2e7d32", "#b26a00", "#c62828"];

pub(super) async fn page(
    req: HttpRequest,
    query: web::Query<Params>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = match signed_in(&req, &READERS, Anonymous::SignIn).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let p = query.into_inner();
    let q = match reports::query(
        p.from.as_deref(),
        p.to.as_deref(),
        p.by.as_deref(),
        None,
        state.settings.privacy.min_cell,
        chrono::Utc::now().naive_utc(),
    ) {
        Ok(q) => q,
        Err(_) => return ctx.bad_request(),
    };
    let query_for_run = q.clone();
    let result = run(&state, move |conn, _| {
        Ok::<_, ReportError>((
            reports::screenings(conn, &query_for_run)?,
            reports::alerts(conn, &query_for_run)?,
            reports::coverage(conn, &query_for_run)?,
        ))
    })
    .await;
    let (screenings, alerts, coverage) = match result {
        Ok(r) => r,
        Err(e) => return run_failure(&ctx, e),
    };
    let t = ctx.t();
    let m = q.min_cell;
    let tiers: Vec<String> = reports::TIERS
        .iter()
        .map(|x| t.tr(&format!("rep-tier-{x}")))
        .collect();
    let screening_bars: Bars<'_> = screenings
        .periods
        .iter()
        .map(|p| {
            let totals = &p.by_site.column_totals;
            let segments = (0..3)
                .map(|j| {
                    (
                        totals.get(j).and_then(|f| f.count()).map(|n| n as f64),
                        FILLS[j],
                    )
                })
                .collect();
            (p.period.label.clone(), segments)
        })
        .collect();
    let coverage_bars: Bars<'_> = coverage
        .periods
        .iter()
        .map(|p| {
            (
                p.period.label.clone(),
                vec![(Some(p.uncovered_hours), "#455a64")],
            )
        })
        .collect();
    let mut alert_rows = Vec::new();
    for p in &alerts.periods {
        for (j, a) in p.ack_times.iter().enumerate() {
            let minutes =
                |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into());
            alert_rows.push(ReportAlertRow {
                period: p.period.label.clone(),
                tier: t.tr(&format!("rep-tier-{}", a.tier)),
                opened: p
                    .opened
                    .column_totals
                    .get(j)
                    .map(|f| f.display(m))
                    .unwrap_or_else(|| "—".into()),
                median: minutes(a.median_minutes),
                p90: minutes(a.p90_minutes),
                share: a
                    .share_within_deadline
                    .map(|s| format!("{:.0}%", s * 100.0))
                    .unwrap_or_else(|| "—".into()),
            });
        }
    }
    let by = match q.by {
        reports::By::Week => "week",
        reports::By::Month => "month",
    };
    let (from, to) = match (q.periods.first(), q.periods.last()) {
        (Some(f), Some(l)) => (
            f.start.to_string(),
            (l.end - chrono::Duration::days(1)).to_string(),
        ),
        _ => (
            p.from.clone().unwrap_or_default(),
            p.to.clone().unwrap_or_default(),
        ),
    };
    let csv_query = format!("from={from}&to={to}&by={by}&format=csv");
    let view = ReportsPage {
        base: ctx.base(t.tr("rep-title"), "/reports"),
        intro: t.tr_args("rep-intro", &[("min", m.to_string())]),
        from,
        to: to.clone(),
        monthly: q.by == reports::By::Month,
        empty: q.periods.is_empty(),
        screening_chart: bar_chart(&t.tr("rep-chart-screenings"), &screening_bars),
        coverage_chart: bar_chart(&t.tr("rep-chart-coverage"), &coverage_bars),
        screening_tables: screenings
            .periods
            .iter()
            .map(|p| table_view(&t, &p.period.label, &p.by_site, &tiers, m))
            .collect(),
        alert_rows,
        coverage_rows: coverage
            .periods
            .iter()
            .map(|p| ReportCoverageRow {
                period: p.period.label.clone(),
                hours: format!("{:.1}", p.hours),
                uncovered: format!("{:.1}", p.uncovered_hours),
            })
            .collect(),
        csv_screenings: format!("/api/v1/reports/screenings?{csv_query}"),
        csv_alerts: format!("/api/v1/reports/alerts?{csv_query}"),
        csv_coverage: format!("/api/v1/reports/coverage?{csv_query}"),
    };
    render(&view, StatusCode::OK)
}
