//! Staff pages: the pending-registration queue and decisions, the SLA
//! board, the exports list; and the earnings tables partners see.

use crate::PortalState;
use crate::forms::FormData;
use crate::pages::{
    self, FINANCE, STAFF_DECIDERS, Shell, forbidden, money, not_found_for, problem_page, time_left, when,
};
use crate::session::Viewer;
use crate::view::{Block, Cell, Field, Form, Link, Page, SummaryError, Table, attach_errors, html};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Duration};
use partnerops_api::Problem;
use partnerops_app::exports::ExportFile;
use partnerops_aws::StoreError;
use partnerops_domain::Timestamp;
use partnerops_domain::field::FieldError;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::money::{Currency, format_minor_units};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::payout::Period;
use partnerops_domain::registration::{Decision, RegistrationStatus};
use partnerops_domain::sla::{SlaKind, SlaStatus, SlaSubject, SlaTimer};
use std::collections::BTreeMap;

/// How far ahead the board looks: every timer the sweep still has to act on.
const BOARD_HORIZON_DAYS: i64 = 3650;
/// Rows the queue and the board show at most.
const MAX_ROWS: usize = 500;

pub fn home(_state: &PortalState, viewer: &Viewer) -> Response {
    let mut links = Vec::new();
    if viewer.is(STAFF_DECIDERS) {
        links.push(Link::new("/portal/registrations?status=pending", "Registrations waiting for a decision"));
        links.push(Link::new("/portal/slas", "Every open SLA timer"));
    }
    if viewer.is(FINANCE) {
        links.push(Link::new("/portal/exports", "Payout exports"));
    }
    if viewer.is(crate::reports::REPORT_READERS) {
        links.push(Link::new("/portal/reports", "SLA compliance and pipeline reports"));
    }
    let blocks = vec![
        Block::Paragraph(format!("Signed in as {} ({}).", viewer.user.name, pages::role_label(viewer.role()))),
        Block::Links("Your pages", links),
    ];
    html(StatusCode::OK, Page { layout: Shell::for_viewer(viewer, "Home", "/portal"), blocks })
}

/// Timers still open or breached-and-unmet, soonest due first, from the
/// sparse due-time index (never a scan of the table).
async fn open_timers(state: &PortalState, now: Timestamp) -> Result<Vec<SlaTimer>, StoreError> {
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

fn due_soon(timer: &SlaTimer, now: Timestamp) -> bool {
    timer.due_soon_at.is_some() || now >= timer.started_at.plus((timer.due_at.since(timer.started_at) * 3) / 4)
}

/// The program's pending registrations, oldest first, with the time left on
/// their decision timers.
pub async fn queue(state: &PortalState, viewer: &Viewer) -> Response {
    let now = state.clock.now();
    let timers = match open_timers(state, now).await {
        Ok(t) => t,
        Err(e) => return problem_page(Some(viewer), &Problem::from(e)),
    };
    let mut pending: Vec<&SlaTimer> =
        timers.iter().filter(|t| t.kind == SlaKind::RegistrationDecision).take(MAX_ROWS).collect();
    pending.sort_by_key(|t| t.started_at);
    let mut table = Table::new(
        "Pending registrations, oldest first, with the time left to decide",
        vec!["Customer", "Partner", "Submitted", "Time left"],
    )
    .empty("No registration is waiting for a decision.");
    for timer in pending {
        let SlaSubject::DealRegistration(id) = &timer.subject else { continue };
        let (left, class) = time_left(timer.due_at, now);
        let class = if class.is_empty() && due_soon(timer, now) { "due-soon" } else { class };
        table.rows.push(vec![
            Cell::link(timer.prospect_name.clone(), format!("/portal/registrations/{id}")),
            Cell::text(timer.partner_id.to_string()),
            Cell::text(when(timer.started_at)),
            Cell::text(left).class(class),
        ]);
    }
    let blocks = vec![Block::Table(table)];
    html(
        StatusCode::OK,
        Page { layout: Shell::for_viewer(viewer, "Pending registrations", "/portal/registrations"), blocks },
    )
}

/// The approve and reject forms; after a refused post, the one that was
/// sent comes back filled in with its errors (also returned for the summary).
pub fn decision_forms(
    viewer: &Viewer,
    id: &RegistrationId,
    sent: Option<(&FormData, &[FieldError])>,
) -> (Vec<Block>, Vec<SummaryError>) {
    let empty = FormData::default();
    let (form, errors) = sent.unwrap_or((&empty, &[]));
    let mut approve = vec![
        Field::input("protection_days", "Protection days", "number")
            .hint("Leave empty for the program's default for the partner's tier"),
    ];
    let mut reject = vec![Field::textarea("reason", "Reason").required()];
    let mut summary = Vec::new();
    for f in approve.iter_mut().chain(reject.iter_mut()) {
        f.id = format!("{}-{}", if f.name == "reason" { "reject" } else { "approve" }, f.id);
    }
    match form.raw("decision") {
        "approve" => {
            approve[0].value = form.raw("protection_days").to_owned();
            summary = attach_errors(&mut approve, errors);
        }
        "reject" => {
            reject[0].value = form.raw("reason").to_owned();
            summary = attach_errors(&mut reject, errors);
        }
        _ => {}
    }
    approve.insert(0, Field::hidden("decision", "approve"));
    reject.insert(0, Field::hidden("decision", "reject"));
    let action = format!("/portal/registrations/{id}/decision");
    let blocks = vec![
        Block::Form(Form {
            heading: "Approve".into(),
            action: action.clone(),
            csrf: Some(viewer.csrf()),
            fields: approve,
            submit: "Approve registration",
        }),
        Block::Form(Form {
            heading: "Reject".into(),
            action,
            csrf: Some(viewer.csrf()),
            fields: reject,
            submit: "Reject registration",
        }),
    ];
    (blocks, summary)
}

pub async fn decide(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match pages::posted_form(&viewer, &headers, &body) {
        Ok(form) => form,
        Err(page) => return page,
    };
    if !viewer.is(STAFF_DECIDERS) {
        return forbidden(&viewer);
    }
    let Some(reg_id) = RegistrationId::parse(&id) else { return not_found_for(&viewer) };
    let decision = match form.decision().and_then(Decision::parse) {
        Ok(d) => d,
        Err(errors) => {
            let record = match pages::visible_registration(&state, &viewer, &id).await {
                Ok(r) => r,
                Err(page) => return page,
            };
            let status = if record.registration.status == RegistrationStatus::Pending {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            return pages::registration_page(&state, &viewer, record, status, Some((&form, errors.as_slice()))).await;
        }
    };
    match partnerops_app::registrations::decide(
        &*state.store,
        &*state.clock,
        &state.terms,
        &reg_id,
        &decision,
        viewer.user.id.as_str(),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/portal/registrations/{reg_id}")).into_response(),
        Err(refused) => problem_page(Some(&viewer), &Problem::from(refused)),
    }
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

fn month_of(at: Timestamp) -> String {
    let d = at.as_datetime();
    format!("{:04}-{:02}", d.year(), d.month())
}

/// A signed amount in minor units with the currency's digits (`-12.50 USD`).
fn total(minor: i64, currency: Currency) -> String {
    format!("{} {currency}", amount(minor, currency))
}

fn amount(minor: i64, currency: Currency) -> String {
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

pub async fn earnings_csv(state: &PortalState, partner: &PartnerId) -> Result<String, StoreError> {
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
