//! A partner's payout lines by month and currency, as tables and as CSV
//! (SPEC §16).

use crate::frame::{Shell, forbidden, partner_of, problem_page, when};
use crate::state::PortalState;
use crate::view::{Block, Cell, Page, Table, html};
use crate::viewer::Viewer;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Datelike;
use partnerops_api::Problem;
use partnerops_aws::StoreError;
use partnerops_domain::Timestamp;
use partnerops_domain::money::{Currency, format_minor_units};
use partnerops_domain::partner::PartnerId;
use std::collections::BTreeMap;

pub(crate) fn month_of(at: Timestamp) -> String {
    let d = at.as_datetime();
    format!("{:04}-{:02}", d.year(), d.month())
}

/// A signed amount in minor units with the currency's digits (`-12.50 USD`).
pub(crate) fn total(minor: i64, currency: Currency) -> String {
    format!("{} {currency}", amount(minor, currency))
}

pub(crate) fn amount(minor: i64, currency: Currency) -> String {
    format_minor_units(minor, currency.minor_digits())
}

/// This month's lines, per currency: what the partner home page shows.
pub async fn month_earnings(state: &PortalState, partner: &PartnerId, now: Timestamp) -> Result<Table, StoreError> {
    let lines = state.store.partner_payout_lines(partner).await?;
    let month = month_of(now);
    let mut sums: BTreeMap<String, (i64, Currency)> = BTreeMap::new();
    for (line, _) in lines.iter().filter(|(l, _)| month_of(l.earned_at) == month) {
        let entry = sums.entry(line.currency.to_string()).or_insert((0, line.currency));
        entry.0 = entry.0.saturating_add(line.amount);
    }
    let mut table = Table::new(format!("Earned in {month}, per currency"), vec!["Currency", "Amount"])
        .heading("This month's earnings")
        .empty("Nothing earned this month yet.");
    for (code, (minor, currency)) in sums {
        table.rows.push(vec![Cell::text(code), Cell::num(total(minor, currency))]);
    }
    Ok(table)
}

/// The partner's lines by month and currency, with totals.
pub async fn earnings_tables(state: &PortalState, partner: &PartnerId) -> Result<Vec<Block>, StoreError> {
    let lines = state.store.partner_payout_lines(partner).await?;
    let mut groups: BTreeMap<(String, String), (Currency, Vec<_>)> = BTreeMap::new();
    for (line, period) in lines {
        let key = (month_of(line.earned_at), line.currency.to_string());
        groups.entry(key).or_insert_with(|| (line.currency, Vec::new())).1.push((line, period));
    }
    let mut blocks = Vec::new();
    if groups.is_empty() {
        blocks.push(Block::Paragraph(
            "No payout lines yet: lines appear when a deal you are credited on closes won.".into(),
        ));
    }
    for ((month, code), (currency, lines)) in groups.into_iter().rev() {
        let mut table = Table::new(
            format!("Lines earned in {month} in {code}"),
            vec!["Earned", "Opportunity", "Kind", "Role", "Amount", "Exported"],
        )
        .heading(format!("{month} · {code}"));
        let mut sum = 0i64;
        for (line, period) in &lines {
            sum = sum.saturating_add(line.amount);
            table.rows.push(vec![
                Cell::text(when(line.earned_at)),
                Cell::text(line.opportunity_id.clone()),
                Cell::text(line.kind.as_str()),
                Cell::text(line.role.as_str()),
                Cell::num(total(line.amount, currency)),
                Cell::text(period.clone().map_or_else(|| "not yet".to_owned(), |p| format!("in {p}"))),
            ]);
        }
        table.rows.push(vec![
            Cell::text("Total"),
            Cell::text(""),
            Cell::text(""),
            Cell::text(""),
            Cell::num(total(sum, currency)),
            Cell::text(""),
        ]);
        blocks.push(Block::Table(table));
    }
    Ok(blocks)
}

pub async fn earnings_file(state: &PortalState, partner: &PartnerId) -> Result<String, StoreError> {
    let lines = state.store.partner_payout_lines(partner).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "earned_at",
        "month",
        "opportunity_id",
        "line_id",
        "kind",
        "motion",
        "role",
        "currency",
        "amount",
        "exported_in",
    ];
    let io = |e: csv::Error| StoreError::Unexpected(anyhow::anyhow!("writing CSV: {e}"));
    writer.write_record(header).map_err(io)?;
    for (line, period) in lines {
        writer
            .write_record([
                line.earned_at.to_rfc3339(),
                month_of(line.earned_at),
                line.opportunity_id.clone(),
                line.line_id.to_string(),
                line.kind.as_str().to_owned(),
                line.motion.as_str().to_owned(),
                line.role.as_str().to_owned(),
                line.currency.to_string(),
                amount(line.amount, line.currency),
                period.unwrap_or_default(),
            ])
            .map_err(io)?;
    }
    let bytes = writer.into_inner().map_err(|e| StoreError::Unexpected(anyhow::anyhow!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| StoreError::Unexpected(anyhow::anyhow!("CSV is not UTF-8: {e}")))
}

pub async fn earnings(State(state): State<PortalState>, viewer: Viewer) -> Response {
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    match crate::earnings::earnings_tables(&state, partner_id).await {
        Ok(mut blocks) => {
            blocks.insert(
                0,
                Block::Links("Download", vec![crate::view::Link::new("/portal/earnings.csv", "Download as CSV")]),
            );
            html(StatusCode::OK, Page { layout: Shell::for_viewer(&viewer, "Earnings", "/portal/earnings"), blocks })
        }
        Err(e) => problem_page(Some(&viewer), &Problem::from(e)),
    }
}

pub async fn earnings_csv(State(state): State<PortalState>, viewer: Viewer) -> Response {
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    match crate::earnings::earnings_file(&state, partner_id).await {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
                (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"earnings.csv\"")),
            ],
            body,
        )
            .into_response(),
        Err(e) => problem_page(Some(&viewer), &Problem::from(e)),
    }
}
