//! The staff reports page (SPEC §19): the SLA on-time rate per kind per
//! week and the sourced and influenced won amount per motion per month, as
//! SVG charts drawn here on the server, each with the table it draws.

use crate::PortalState;
use crate::pages::{Shell, forbidden, problem_page};
use crate::session::Viewer;
use crate::view::{Block, Cell, Page, Table, html};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate};
use partnerops_api::Problem;
use partnerops_aws::store::ReportKind;
use partnerops_domain::auth::Role;
use partnerops_domain::money::{Currency, format_minor_units};
use partnerops_domain::report::{DayRange, PipelineCounts, SlaCounts, pipeline_rows, rate_bps, sla_rows};
use partnerops_domain::sla::SlaKind;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Who reads the reports: the API's roles.
pub const REPORT_READERS: &[Role] = &[Role::ChannelManager, Role::Finance, Role::Admin];
/// Weeks the page covers unless asked otherwise.
const DEFAULT_WEEKS: i64 = 26;
const KINDS: [SlaKind; 4] =
    [SlaKind::OpportunityCreation, SlaKind::RegistrationDecision, SlaKind::NotesUpdate, SlaKind::PartnerFollowUp];
/// Distinguishable for the common colour-vision deficiencies (Okabe-Ito).
const PALETTE: [&str; 6] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

pub async fn reports(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if !viewer.is(REPORT_READERS) {
        return forbidden(&viewer);
    }
    let today = state.clock.now().as_datetime().date_naive();
    let default_from = week_start(today - Duration::weeks(DEFAULT_WEEKS - 1)).to_string();
    let range = match DayRange::parse(
        Some(query.get("from").map_or(default_from.as_str(), String::as_str)),
        Some(query.get("to").map_or(today.to_string().as_str(), String::as_str)),
    ) {
        Ok(r) => r,
        Err(errors) => return problem_page(Some(&viewer), &Problem::validation(errors)),
    };
    let store = &state.store;
    let (slas, pipeline) = match tokio::try_join!(
        store.report_days(ReportKind::Sla, "kind", &range),
        store.report_days(ReportKind::Pipeline, "motion", &range)
    ) {
        Ok(read) => read,
        Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let mut blocks = vec![Block::Paragraph(format!(
        "From {} to {} (UTC days, both included). The same figures as GET /v1/reports/slas and /v1/reports/pipeline.",
        range.from, range.to
    ))];
    blocks.extend(sla_blocks(&weekly(&slas.days, &range)));
    blocks.extend(pipeline_blocks(&monthly(&pipeline.days)));
    html(StatusCode::OK, Page { layout: Shell::for_viewer(&viewer, "Reports", "/portal/reports"), blocks })
}

fn week_start(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

fn parse_day(day: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// Per week (Monday) of the range, the SLA counts per kind.
fn weekly(
    days: &[partnerops_aws::store::DayTallies],
    range: &DayRange,
) -> BTreeMap<NaiveDate, BTreeMap<String, SlaCounts>> {
    let mut out: BTreeMap<NaiveDate, BTreeMap<String, SlaCounts>> = BTreeMap::new();
    let mut week = week_start(range.from);
    while week <= range.to {
        out.insert(week, BTreeMap::new());
        week += Duration::weeks(1);
    }
    for d in days {
        let Some(day) = parse_day(&d.day) else { continue };
        let counts = partnerops_aws::store::sla_counts(&d.tallies);
        out.entry(week_start(day)).or_default().entry(d.key.clone()).or_default().merge(&counts);
    }
    out
}

fn percent(bps: Option<u32>) -> String {
    bps.map_or_else(|| "–".to_owned(), |b| format!("{}.{:02}%", b / 100, b % 100))
}

fn sla_blocks(weeks: &BTreeMap<NaiveDate, BTreeMap<String, SlaCounts>>) -> Vec<Block> {
    let labels: Vec<String> = weeks.keys().map(|w| w.format("%m-%d").to_string()).collect();
    let series: Vec<(String, Vec<Option<u32>>)> = KINDS
        .iter()
        .map(|k| {
            let rates = weeks
                .values()
                .map(|kinds| {
                    kinds
                        .get(k.as_str())
                        .and_then(|c| rate_bps(c.met_on_time.unsigned_abs(), c.breached.unsigned_abs()))
                })
                .collect();
            (k.as_str().replace('_', " "), rates)
        })
        .collect();
    let mut table = Table::new(
        "SLA on-time rate per kind per week (met on time ÷ met on time and breached; timers by due day)",
        vec!["Week of", "Opportunity creation", "Registration decision", "Notes update", "Partner follow-up"],
    )
    .empty("No SLA timers fell due in this range.");
    for (week, kinds) in weeks {
        if kinds.is_empty() {
            continue;
        }
        let mut row = vec![Cell::text(week.to_string())];
        for k in KINDS {
            let rows = sla_rows(kinds.get(k.as_str()).cloned().map(|c| (k.as_str().to_owned(), c)));
            row.push(Cell::text(match rows.first() {
                Some(r) => format!("{} of {} due", percent(r.on_time_rate_bps), r.timers),
                None => "–".to_owned(),
            }));
        }
        table.rows.push(row);
    }
    vec![
        Block::Svg("SLA on-time rate per kind per week, 0 to 100%".into(), line_chart(&labels, &series)),
        Block::Table(table),
    ]
}

/// Per month of the range, the pipeline counts per motion.
fn monthly(days: &[partnerops_aws::store::DayTallies]) -> BTreeMap<String, BTreeMap<String, PipelineCounts>> {
    let mut out: BTreeMap<String, BTreeMap<String, PipelineCounts>> = BTreeMap::new();
    for d in days {
        let month = d.day.get(..7).unwrap_or(&d.day).to_owned();
        let counts = partnerops_aws::store::pipeline_counts(&d.tallies);
        out.entry(month).or_default().entry(d.key.clone()).or_default().apply(&counts, 1);
    }
    out
}

fn pipeline_blocks(months: &BTreeMap<String, BTreeMap<String, PipelineCounts>>) -> Vec<Block> {
    let mut table = Table::new(
        "Won amount per motion per month (opportunities by the month the CRM created them)",
        vec!["Month", "Motion", "Sourced won", "Influenced won", "Won / lost"],
    )
    .empty("No opportunities were created in this range.");
    let mut currencies: BTreeSet<Currency> = BTreeSet::new();
    for (month, motions) in months {
        for row in pipeline_rows(motions.iter().map(|(m, c)| (m.clone(), c.clone()))) {
            let list = |side: &partnerops_domain::report::RoleSide| {
                let text: Vec<String> = side.won_amount.iter().map(crate::pages::money).collect();
                if text.is_empty() { "–".to_owned() } else { text.join(", ") }
            };
            currencies.extend(row.sourced.won_amount.iter().chain(&row.influenced.won_amount).map(|m| m.currency()));
            table.rows.push(vec![
                Cell::text(month.clone()),
                Cell::text(row.key.replace('_', " ")),
                Cell::text(list(&row.sourced)),
                Cell::text(list(&row.influenced)),
                Cell::text(format!(
                    "{} / {}",
                    row.sourced.won + row.influenced.won,
                    row.sourced.lost + row.influenced.lost
                )),
            ]);
        }
    }
    let labels: Vec<String> = months.keys().cloned().collect();
    let motions: BTreeSet<&String> = months.values().flat_map(|m| m.keys()).collect();
    let mut blocks = Vec::new();
    // Amounts are never converted: one chart per currency.
    for currency in &currencies {
        let mut series = Vec::new();
        for motion in &motions {
            for (role, pick) in [("sourced", true), ("influenced", false)] {
                let values: Vec<i64> = months
                    .values()
                    .map(|m| {
                        m.get(*motion)
                            .map(|c| if pick { &c.sourced } else { &c.influenced })
                            .and_then(|side| side.won_amount.get(currency).copied())
                            .unwrap_or(0)
                    })
                    .collect();
                if values.iter().any(|v| *v != 0) {
                    series.push((format!("{} {role}", motion.replace('_', " ")), values));
                }
            }
        }
        blocks.push(Block::Svg(
            format!("Sourced and influenced won amount per motion per month, {}", currency.code()),
            bar_chart(&labels, &series, *currency),
        ));
    }
    blocks.push(Block::Table(table));
    blocks
}

// A phone's width at 1:1, so the 13 px text stays 13 px at 375 px wide.
const WIDTH: i64 = 340;
const HEIGHT: i64 = 220;
const LEFT: i64 = 46;
const RIGHT: i64 = 22;
const TOP: i64 = 12;
const BOTTOM: i64 = 36;

fn escape(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

fn svg_open(out: &mut String, legend_rows: usize) {
    let height = HEIGHT + 18 * i64::try_from(legend_rows).unwrap_or(0);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="system-ui, sans-serif" font-size="13">"#
    );
}

fn plot_width() -> i64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> i64 {
    HEIGHT - TOP - BOTTOM
}

/// Every `step`-th label, so they never overlap at the chart's width.
fn x_axis(out: &mut String, labels: &[String], x_of: impl Fn(usize) -> i64) {
    let step = labels.len().div_ceil(5).max(1);
    for (i, label) in labels.iter().enumerate().step_by(step) {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
            x_of(i),
            TOP + plot_height() + 18,
            escape(label)
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{y}" x2="{x2}" y2="{y}" stroke="#666"/>"##,
        y = TOP + plot_height(),
        x2 = LEFT + plot_width()
    );
}

fn legend(out: &mut String, names: &[String]) {
    for (i, name) in names.iter().enumerate() {
        let y = HEIGHT + 18 * i64::try_from(i).unwrap_or(0) - 8;
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            r##"<rect x="{LEFT}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{}" fill="#222">{}</text>"##,
            y - 10,
            LEFT + 18,
            y,
            escape(name)
        );
    }
}

/// Rates in basis points, 0–10000, one line per series; a week without a
/// rate leaves a gap rather than a fake zero.
pub fn line_chart(labels: &[String], series: &[(String, Vec<Option<u32>>)]) -> String {
    let mut out = String::new();
    svg_open(&mut out, series.len());
    let n = i64::try_from(labels.len().max(2) - 1).unwrap_or(1);
    let x_of = |i: usize| LEFT + plot_width() * i64::try_from(i).unwrap_or(0) / n;
    let y_of = |bps: u32| TOP + plot_height() - plot_height() * i64::from(bps.min(10_000)) / 10_000;
    for pct in [0u32, 25, 50, 75, 100] {
        let y = y_of(pct * 100);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="#333">{pct}%</text>"##,
            LEFT + plot_width(),
            LEFT - 6,
            y + 4
        );
    }
    x_axis(&mut out, labels, x_of);
    for (s, (_, values)) in series.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(bps) => {
                    let _ = write!(path, "{}{},{} ", if pen_down { "L" } else { "M" }, x_of(i), y_of(*bps));
                    let _ = write!(out, r#"<circle cx="{}" cy="{}" r="3" fill="{colour}"/>"#, x_of(i), y_of(*bps));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !path.is_empty() {
            let _ = write!(out, r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#, path.trim_end());
        }
    }
    legend(&mut out, &series.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());
    out.push_str("</svg>");
    out
}

/// Amounts in minor units of one currency, grouped bars per label.
pub fn bar_chart(labels: &[String], series: &[(String, Vec<i64>)], currency: Currency) -> String {
    let mut out = String::new();
    svg_open(&mut out, series.len());
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1);
    let y_of = |minor: i64| {
        TOP + plot_height()
            - i64::try_from(i128::from(plot_height()) * i128::from(minor.max(0)) / i128::from(max)).unwrap_or(0)
    };
    let slots = i64::try_from(labels.len().max(1)).unwrap_or(1);
    let slot = plot_width() / slots;
    let x_of = |i: usize| LEFT + slot * i64::try_from(i).unwrap_or(0) + slot / 2;
    for (y, value) in [(y_of(max), max), (y_of(max / 2), max / 2), (y_of(0), 0)] {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="#333">{}</text>"##,
            LEFT + plot_width(),
            LEFT - 4,
            y + 4,
            escape(&short_amount(value, currency))
        );
    }
    x_axis(&mut out, labels, x_of);
    let bars = i64::try_from(series.len().max(1)).unwrap_or(1);
    let bar = ((slot - 8) / bars).max(1);
    for (s, (name, values)) in series.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        for (i, v) in values.iter().enumerate() {
            if *v <= 0 {
                continue;
            }
            let x = LEFT + slot * i64::try_from(i).unwrap_or(0) + 4 + bar * i64::try_from(s).unwrap_or(0);
            let y = y_of(*v);
            let _ = write!(
                out,
                r#"<rect x="{x}" y="{y}" width="{bar}" height="{}" fill="{colour}"><title>{}: {} {}</title></rect>"#,
                TOP + plot_height() - y,
                escape(&format!("{} {name}", labels.get(i).map_or("", String::as_str))),
                format_minor_units(*v, currency.minor_digits()),
                currency.code()
            );
        }
    }
    legend(&mut out, &series.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());
    out.push_str("</svg>");
    out
}

/// An axis label: whole units, with k or M past a thousand.
fn short_amount(minor: i64, currency: Currency) -> String {
    let units = minor / 10_i64.pow(u32::from(currency.minor_digits()));
    match units.unsigned_abs() {
        u if u >= 1_000_000 => format!("{}M", units / 1_000_000),
        u if u >= 10_000 => format!("{}k", units / 1_000),
        _ => units.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(svg: &str) -> &str {
        svg.split(" d=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default()
    }

    #[test]
    fn a_week_without_a_rate_breaks_the_line() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let gap = line_chart(&labels, &[("notes update".into(), vec![Some(10_000), None, Some(5_000)])]);
        assert!(gap.starts_with("<svg") && gap.ends_with("</svg>"));
        assert_eq!(gap.matches("<circle").count(), 2);
        assert_eq!((path(&gap).matches('M').count(), path(&gap).matches('L').count()), (2, 0));
        let whole = line_chart(&labels, &[("notes update".into(), vec![Some(10_000), Some(0), Some(5_000)])]);
        assert_eq!((path(&whole).matches('M').count(), path(&whole).matches('L').count()), (1, 2));
        // 100% at the top of the plot, 0% at its bottom.
        assert!(path(&whole).starts_with(&format!(
            "M{LEFT},{TOP} L{},{}",
            LEFT + plot_width() / 2,
            TOP + plot_height()
        )));
    }

    #[test]
    fn bars_are_exact_amounts_and_text_is_escaped() {
        let usd = Currency::parse("USD").unwrap();
        let labels = vec!["2026-11".to_owned()];
        let svg = bar_chart(&labels, &[("<referral> sourced".into(), vec![3_500_001])], usd);
        assert!(svg.contains("35000.01 USD"));
        assert!(svg.contains("&lt;referral&gt; sourced"));
        assert!(!svg.contains("<referral>"));
        assert_eq!(short_amount(3_500_001, usd), "35k");
    }
}
