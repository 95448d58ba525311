//! The staff reports page (SPEC §19): the SLA on-time rate per kind per
//! week and the sourced and influenced won amount per motion per month, as
//! SVG charts drawn here on the server, each with the table it draws.

use crate::charts::{bar_chart, line_chart};
use crate::frame::{REPORT_READERS, Shell, forbidden, money, problem_page};
use crate::state::PortalState;
use crate::view::{Block, Cell, Page, Table, html};
use crate::viewer::Viewer;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate};
use partnerops_api::Problem;
use partnerops_aws::store::ReportKind;
use partnerops_domain::money::Currency;
use partnerops_domain::report::{DayRange, PipelineCounts, SlaCounts, pipeline_rows, rate_bps, sla_rows};
use partnerops_domain::sla::SlaKind;
use std::collections::{BTreeMap, BTreeSet};

/// Weeks the page covers unless asked otherwise.
const DEFAULT_WEEKS: i64 = 26;
const KINDS: [SlaKind; 4] =
    [SlaKind::OpportunityCreation, SlaKind::RegistrationDecision, SlaKind::NotesUpdate, SlaKind::PartnerFollowUp];

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
                let text: Vec<String> = side.won_amount.iter().map(money).collect();
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
