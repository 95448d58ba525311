//! Deal registrations in the browser: a partner's list, form and
//! withdrawal; the staff queue and decisions; the detail page both see.

use crate::fields::registration_fields;
use crate::forms::FormData;
use crate::frame::{
    FormPage, STAFF_DECIDERS, Shell, forbidden, money, next_link, not_found_for, partner_of, posted_form, problem_page,
    status_filter, time_left, when,
};
use crate::slas::{MAX_ROWS, due_soon, open_timers, sla_table};
use crate::state::PortalState;
use crate::view::{Block, Cell, Field, Form, Link, Page, SummaryError, Table, attach_errors, html};
use crate::viewer::Viewer;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use partnerops_api::Problem;
use partnerops_aws::store::{PageRequest, RegistrationQuery, RegistrationRecord};
use partnerops_domain::auth::Role;
use partnerops_domain::field::FieldError;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::registration::{Decision, RegistrationStatus, RegistrationSubmission};
use partnerops_domain::sla::{SlaKind, SlaSubject, SlaTimer};
use std::collections::HashMap;

fn page_request(query: &HashMap<String, String>) -> PageRequest {
    PageRequest { limit: 25, cursor: query.get("cursor").cloned() }
}

/// `GET /portal/registrations`: a partner's own list, or for staff with
/// `?status=pending` the program's decision queue.
pub async fn registrations(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let status_raw = query.get("status").map(String::as_str);
    if viewer.role() != Role::Partner {
        if !viewer.is(STAFF_DECIDERS) {
            return forbidden(&viewer);
        }
        return queue(&state, &viewer).await;
    }
    let status = match status_raw {
        Some(raw) => match RegistrationStatus::parse(raw) {
            Some(s) => Some(s),
            None => return not_found_for(&viewer),
        },
        None => None,
    };
    let partner_id = viewer.user.partner_id.clone();
    let page = page_request(&query);
    let found = state.store.registrations(&RegistrationQuery { partner_id, status }, &page).await;
    let found = match found {
        Ok(found) => found,
        Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let mut table =
        Table::new("Your deal registrations, newest first", vec!["Customer", "Status", "Value", "Submitted"])
            .empty("No registrations yet.");
    for r in &found.items {
        let reg = &r.registration;
        table.rows.push(vec![
            Cell::link(reg.customer.name.clone(), format!("/portal/registrations/{}", reg.id)),
            Cell::text(reg.status.as_str()),
            Cell::num(money(&reg.estimated_value)),
            Cell::text(when(reg.created_at)),
        ]);
    }
    table.next = found.next_cursor.map(|c| next_link("/portal/registrations", status_raw, &c));
    let blocks = vec![
        Block::Links("Actions", vec![Link::new("/portal/registrations/new", "Register a deal")]),
        status_filter(
            "/portal/registrations",
            &["pending", "approved", "rejected", "withdrawn", "expired"],
            status_raw,
        ),
        Block::Table(table),
    ];
    html(
        StatusCode::OK,
        Page { layout: Shell::for_viewer(&viewer, "Deal registrations", "/portal/registrations"), blocks },
    )
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

/// The registration if the viewer may see it: its own partner's, or any for
/// staff who decide.
pub async fn visible_registration(
    state: &PortalState,
    viewer: &Viewer,
    raw: &str,
) -> Result<RegistrationRecord, Response> {
    let Some(id) = RegistrationId::parse(raw) else { return Err(not_found_for(viewer)) };
    let record = match state.store.registration(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(not_found_for(viewer)),
        Err(e) => return Err(problem_page(Some(viewer), &Problem::from(e))),
    };
    let allowed = match viewer.role() {
        Role::Partner => viewer.user.partner_id.as_ref() == Some(&record.registration.partner_id),
        _ => viewer.is(STAFF_DECIDERS),
    };
    if allowed { Ok(record) } else { Err(not_found_for(viewer)) }
}

pub async fn registration(State(state): State<PortalState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let record = match visible_registration(&state, &viewer, &id).await {
        Ok(record) => record,
        Err(page) => return page,
    };
    registration_page(&state, &viewer, record, StatusCode::OK, None).await
}

/// The detail page; `sent` is a refused decision form to show again.
pub async fn registration_page(
    state: &PortalState,
    viewer: &Viewer,
    record: RegistrationRecord,
    status: StatusCode,
    sent: Option<(&crate::forms::FormData, &[partnerops_domain::field::FieldError])>,
) -> Response {
    let mut blocks = Vec::new();
    let mut summary = Vec::new();
    let reg = &record.registration;
    let position = if reg.status == RegistrationStatus::Pending {
        partnerops_app::registrations::position(&*state.store, &record).await.ok().flatten()
    } else {
        None
    };
    let mut facts = vec![
        ("Customer", Cell::text(reg.customer.name.clone())),
        ("Domain", Cell::text(reg.customer.domain.clone())),
        ("Status", Cell::text(reg.status.as_str())),
        ("Motion", Cell::text(reg.motion.as_str())),
        ("Estimated value", Cell::text(money(&reg.estimated_value))),
        ("Products", Cell::text(reg.products.join(", "))),
        ("Expected close", Cell::text(reg.expected_close_date.to_string())),
        ("Submitted", Cell::text(when(reg.created_at))),
    ];
    if let Some(p) = position.filter(|p| *p >= 2) {
        facts.push((
            "Queue position",
            Cell::text(format!("{p}: another registration for this customer came first and is decided first")),
        ));
    }
    if let Some(until) = reg.protected_until {
        facts.push(("Protected until", Cell::text(when(until))));
    }
    if let Some(at) = reg.decided_at {
        facts.push(("Decided", Cell::text(when(at))));
    }
    if let Some(reason) = &reg.reason {
        facts.push(("Reason", Cell::text(reason.clone())));
    }
    if viewer.role() != Role::Partner {
        facts.push(("Partner", Cell::text(reg.partner_id.to_string())));
    }
    if let Some(notes) = &reg.notes {
        facts.push(("Notes", Cell::text(notes.clone())));
    }
    blocks.push(Block::Facts(String::new(), facts));
    let now = state.clock.now();
    let views: Vec<_> = record.timers.iter().map(|t| t.view()).collect();
    blocks.push(Block::Table(sla_table(&views, now)));
    if let Ok(history) = state.store.registration_history(&reg.id).await {
        let mut table =
            Table::new("Every change, oldest first", vec!["When", "From", "To", "Reason"]).heading("History");
        for entry in history {
            table.rows.push(vec![
                Cell::text(when(entry.at)),
                Cell::text(entry.from.map_or("", |s| s.as_str())),
                Cell::text(entry.to.as_str()),
                Cell::text(entry.reason.unwrap_or_default()),
            ]);
        }
        blocks.push(Block::Table(table));
    }
    if reg.status == RegistrationStatus::Pending {
        match viewer.role() {
            Role::Partner => blocks.push(withdraw_form(viewer, &reg.id)),
            _ if viewer.is(STAFF_DECIDERS) => {
                let (forms, errors) = decision_forms(viewer, &reg.id, sent);
                blocks.extend(forms);
                summary = errors;
            }
            _ => {}
        }
    }
    let title = format!("Registration: {}", reg.customer.name);
    let mut layout = Shell::for_viewer(viewer, &title, "/portal/registrations");
    layout.errors = summary;
    html(status, Page { layout, blocks })
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
    let form = match posted_form(&viewer, &headers, &body) {
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
            let record = match visible_registration(&state, &viewer, &id).await {
                Ok(r) => r,
                Err(page) => return page,
            };
            let status = if record.registration.status == RegistrationStatus::Pending {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            return registration_page(&state, &viewer, record, status, Some((&form, errors.as_slice()))).await;
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

const REGISTRATION_FORM: FormPage<'static> = FormPage {
    title: "Register a deal",
    current: "/portal/registrations",
    action: "/portal/registrations",
    submit: "Submit registration",
};

fn registration_form_page(viewer: &Viewer, status: StatusCode, form: &FormData, errors: &[FieldError]) -> Response {
    REGISTRATION_FORM.render(viewer, status, registration_fields(form), errors)
}

pub async fn new_registration(viewer: Viewer) -> Response {
    if partner_of(&viewer).is_err() {
        return forbidden(&viewer);
    }
    registration_form_page(&viewer, StatusCode::OK, &FormData::default(), &[])
}

pub async fn create_registration(
    State(state): State<PortalState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match posted_form(&viewer, &headers, &body) {
        Ok(form) => form,
        Err(page) => return page,
    };
    let Ok((partner, _)) = partner_of(&viewer) else { return forbidden(&viewer) };
    let today = state.clock.now().as_datetime().date_naive();
    let submission = match RegistrationSubmission::parse(form.registration(), today) {
        Ok(s) => s,
        Err(errors) => {
            return registration_form_page(&viewer, StatusCode::UNPROCESSABLE_ENTITY, &form, errors.as_slice());
        }
    };
    match partnerops_app::registrations::submit(&*state.store, &*state.clock, &state.terms, partner, &submission).await
    {
        Ok(submitted) => {
            Redirect::to(&format!("/portal/registrations/{}", submitted.record.registration.id)).into_response()
        }
        Err(refused) => problem_page(Some(&viewer), &Problem::from(refused)),
    }
}

pub fn withdraw_form(viewer: &Viewer, id: &RegistrationId) -> Block {
    Block::Form(Form {
        heading: "Withdraw".into(),
        action: format!("/portal/registrations/{id}/withdraw"),
        csrf: Some(viewer.csrf()),
        fields: Vec::new(),
        submit: "Withdraw this registration",
    })
}

pub async fn withdraw(
    State(state): State<PortalState>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(page) = posted_form(&viewer, &headers, &body) {
        return page;
    }
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    let Some(id) = RegistrationId::parse(&id) else { return not_found_for(&viewer) };
    match partnerops_app::registrations::withdraw(&*state.store, &*state.clock, &state.terms, partner_id, &id).await {
        Ok(_) => Redirect::to(&format!("/portal/registrations/{id}")).into_response(),
        Err(refused) => problem_page(Some(&viewer), &Problem::from(refused)),
    }
}
