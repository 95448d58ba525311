//! SLA timers on the page: an item's timers as a table, and the staff SLA
//! board of every open timer from the due-time index.

use crate::frame::{STAFF_DECIDERS, Shell, forbidden, problem_page, time_left, when};
use crate::state::PortalState;
use crate::view::{Block, Cell, Page, Table, html};
use crate::viewer::Viewer;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use partnerops_api::Problem;
use partnerops_aws::StoreError;
use partnerops_domain::Timestamp;
use partnerops_domain::sla::{SlaStatus, SlaSubject, SlaTimer, SlaView};

/// How far ahead the board looks: every timer the sweep still has to act on.
pub(crate) const BOARD_HORIZON_DAYS: i64 = 3650;

/// Rows the queue and the board show at most.
pub(crate) const MAX_ROWS: usize = 500;

pub fn sla_table(slas: &[SlaView], now: Timestamp) -> Table {
    let mut table =
        Table::new("Each hand-off's deadline", vec!["SLA", "Due", "State"]).heading("SLAs").empty("No SLA timers.");
    for sla in slas {
        let (state, class) = match sla.status {
            SlaStatus::Met => (format!("met {}", sla.met_at.map(when).unwrap_or_default()), "met"),
            SlaStatus::Breached => ("missed".to_owned(), "overdue"),
            SlaStatus::Open => time_left(sla.due_at, now),
        };
        table.rows.push(vec![
            Cell::text(sla.kind.as_str().replace('_', " ")),
            Cell::text(when(sla.due_at)),
            Cell::text(state).class(class),
        ]);
    }
    table
}

/// Timers still open or breached-and-unmet, soonest due first, from the
/// sparse due-time index (never a scan of the table).
pub(crate) async fn open_timers(state: &PortalState, now: Timestamp) -> Result<Vec<SlaTimer>, StoreError> {
    let due = state.store.due_timers(now.plus(Duration::days(BOARD_HORIZON_DAYS))).await?;
    let mut timers: Vec<SlaTimer> = due
        .timers
        .into_iter()
        .filter(|t| t.met_at.is_none() && t.ended_at.is_none() && t.status != SlaStatus::Met)
        .collect();
    timers.sort_by(|a, b| (a.due_at, a.subject.id()).cmp(&(b.due_at, b.subject.id())));
    timers.dedup_by(|a, b| a.subject == b.subject && a.kind == b.kind && a.seq == b.seq);
    Ok(timers)
}

pub(crate) fn due_soon(timer: &SlaTimer, now: Timestamp) -> bool {
    timer.due_soon_at.is_some() || now >= timer.started_at.plus((timer.due_at.since(timer.started_at) * 3) / 4)
}

pub async fn slas(State(state): State<PortalState>, viewer: Viewer) -> Response {
    if !viewer.is(STAFF_DECIDERS) {
        return forbidden(&viewer);
    }
    let now = state.clock.now();
    let timers = match open_timers(&state, now).await {
        Ok(t) => t,
        Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let mut table = Table::new(
        "Every open SLA timer, soonest due first; overdue and due-soon ones are marked",
        vec!["Due", "SLA", "Item", "Partner", "State"],
    )
    .empty("No open SLA timers.");
    for timer in timers.iter().take(MAX_ROWS) {
        let (left, class) = time_left(timer.due_at, now);
        let (state_text, class) = match (class, due_soon(timer, now)) {
            ("overdue", _) => (left, "overdue"),
            (_, true) => (format!("due soon: {left}"), "due-soon"),
            _ => (left, ""),
        };
        let item = match &timer.subject {
            SlaSubject::DealRegistration(id) => {
                Cell::link(timer.prospect_name.clone(), format!("/portal/registrations/{id}"))
            }
            SlaSubject::Referral(_) | SlaSubject::Opportunity(_) => Cell::text(timer.prospect_name.clone()),
        };
        table.rows.push(vec![
            Cell::text(when(timer.due_at)),
            Cell::text(timer.kind.as_str().replace('_', " ")),
            item,
            Cell::text(timer.partner_id.to_string()),
            Cell::text(state_text).class(class),
        ]);
    }
    html(
        StatusCode::OK,
        Page { layout: Shell::for_viewer(&viewer, "SLA board", "/portal/slas"), blocks: vec![Block::Table(table)] },
    )
}
