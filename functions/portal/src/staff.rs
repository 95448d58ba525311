//! Staff pages: the pending-registration queue and decisions, the SLA
//! board, the exports list; and the earnings tables partners see.

use crate::frame::{
    FINANCE, REPORT_READERS, STAFF_DECIDERS, Shell, forbidden, money, not_found_for, problem_page, role_label,
};
use crate::state::PortalState;
use crate::view::{Block, Cell, Link, Page, Table, html};
use crate::viewer::Viewer;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use partnerops_api::Problem;
use partnerops_app::exports::ExportFile;
use partnerops_domain::payout::Period;

pub fn home(_state: &PortalState, viewer: &Viewer) -> Response {
    let mut links = Vec::new();
    if viewer.is(STAFF_DECIDERS) {
        links.push(Link::new("/portal/registrations?status=pending", "Registrations waiting for a decision"));
        links.push(Link::new("/portal/slas", "Every open SLA timer"));
    }
    if viewer.is(FINANCE) {
        links.push(Link::new("/portal/exports", "Payout exports"));
    }
    if viewer.is(REPORT_READERS) {
        links.push(Link::new("/portal/reports", "SLA compliance and pipeline reports"));
    }
    let blocks = vec![
        Block::Paragraph(format!("Signed in as {} ({}).", viewer.user.name, role_label(viewer.role()))),
        Block::Links("Your pages", links),
    ];
    html(StatusCode::OK, Page { layout: Shell::for_viewer(viewer, "Home", "/portal"), blocks })
}

pub async fn exports(State(state): State<PortalState>, viewer: Viewer) -> Response {
    if !viewer.is(FINANCE) {
        return forbidden(&viewer);
    }
    let exports = match state.store.payout_exports().await {
        Ok(e) => e,
        Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let mut table = Table::new(
        "Every payout export, newest period first",
        vec!["Period", "Status", "Lines", "Totals", "Lines file", "Summary file"],
    )
    .empty("No exports yet.");
    for export in exports {
        let totals: Vec<String> = export.totals.iter().map(money).collect();
        let (lines, summary) = if export.status == partnerops_aws::store::ExportState::Done {
            (
                Cell::link(
                    format!("{} lines.csv", export.period),
                    format!("/portal/exports/{}/lines.csv", export.period),
                ),
                Cell::link(
                    format!("{} summary.csv", export.period),
                    format!("/portal/exports/{}/summary.csv", export.period),
                ),
            )
        } else {
            (Cell::text(export.failure.clone().unwrap_or_default()), Cell::text(""))
        };
        table.rows.push(vec![
            Cell::text(export.period.clone()),
            Cell::text(export.status.as_str()),
            Cell::num(export.lines.to_string()),
            Cell::num(totals.join(", ")),
            lines,
            summary,
        ]);
    }
    html(
        StatusCode::OK,
        Page {
            layout: Shell::for_viewer(&viewer, "Payout exports", "/portal/exports"),
            blocks: vec![Block::Table(table)],
        },
    )
}

/// A finished export's `lines.csv` or `summary.csv`, for finance: checked
/// here at each click, then fetched from the bucket by a link signed for a
/// few minutes (a file of any size; a Lambda response stops at 6 MB).
pub async fn export_file(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path((period, file)): Path<(String, String)>,
) -> Response {
    if !viewer.is(FINANCE) {
        return forbidden(&viewer);
    }
    let file = match file.as_str() {
        "lines.csv" => ExportFile::Lines,
        "summary.csv" => ExportFile::Summary,
        _ => return not_found_for(&viewer),
    };
    let Ok(period) = Period::parse(&period) else { return not_found_for(&viewer) };
    match partnerops_app::exports::export_link(&*state.store, state.links.as_ref(), period, file).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(refused) => problem_page(Some(&viewer), &Problem::from(refused)),
    }
}
