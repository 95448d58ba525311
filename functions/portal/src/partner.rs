//! The partner's pages: home, referrals, registrations, earnings (SPEC §16).

use crate::PortalState;
use crate::forms::FormData;
use crate::pages::{
    self, FormPage, Shell, forbidden, money, next_link, not_found_for, problem_page, status_filter, time_left, when,
};
use crate::session::Viewer;
use crate::view::{Block, Cell, Field, Form, Layout, Page, Table, html};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use partnerops_api::Problem;
use partnerops_app::referrals::Intake;
use partnerops_aws::store::{PageRequest, ReferralQuery, ReferralRecord, RegistrationQuery};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::Role;
use partnerops_domain::field::FieldError;
use partnerops_domain::id::{ReferralId, RegistrationId};
use partnerops_domain::partner::{Partner, PartnerId};
use partnerops_domain::referral::{ReferralStatus, ReferralSubmission};
use partnerops_domain::registration::RegistrationSubmission;
use partnerops_domain::sla::{SlaStatus, SlaView};
use std::collections::{BTreeMap, HashMap};

/// The partner behind a partner viewer; staff get the 403 page.
fn partner_of(viewer: &Viewer) -> Result<(&Partner, &PartnerId), Response> {
    match (&viewer.partner, viewer.role()) {
        (Some(partner), Role::Partner) => Ok((partner, &partner.id)),
        _ => Err(forbidden(viewer)),
    }
}

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

/// How many of `statuses` the list holds, newest `HOME_SAMPLE` looked at.
const HOME_SAMPLE: u16 = 100;

pub async fn home(State(state): State<PortalState>, viewer: Viewer) -> Response {
    if viewer.role() != Role::Partner {
        return crate::staff::home(&state, &viewer);
    }
    let Ok((partner, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    let store = &state.store;
    let page = PageRequest { limit: HOME_SAMPLE, cursor: None };
    let referrals = store.referrals(&ReferralQuery { partner_id: Some(partner_id.clone()), status: None }, &page).await;
    let registrations =
        store.registrations(&RegistrationQuery { partner_id: Some(partner_id.clone()), status: None }, &page).await;
    let (referrals, registrations) = match (referrals, registrations) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let now = state.clock.now();
    let mut counts = Table::new("Your items by status", vec!["Kind", "Status", "Count"]).heading("By status");
    let mut tally: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in &referrals.items {
        *tally.entry(("Referrals", r.referral.status.as_str())).or_default() += 1;
    }
    for r in &registrations.items {
        *tally.entry(("Registrations", r.registration.status.as_str())).or_default() += 1;
    }
    for ((kind, status), count) in tally {
        let href = if kind == "Referrals" { "/portal/referrals" } else { "/portal/registrations" };
        counts.rows.push(vec![
            Cell::text(kind),
            Cell::link(status.replace('_', " "), format!("{href}?status={status}")),
            Cell::num(count.to_string()),
        ]);
    }
    if referrals.next_cursor.is_some() || registrations.next_cursor.is_some() {
        counts.caption = format!("Your latest {HOME_SAMPLE} referrals and registrations by status");
    }
    let mut open = Table::new("Open SLA timers, soonest due first", vec!["Item", "SLA", "Time left"])
        .heading("Open SLAs")
        .empty("No open SLA timers.");
    let mut timers: Vec<(Timestamp, Cell, String)> = Vec::new();
    for r in &referrals.items {
        for sla in r.slas.iter().filter(|s| s.status == SlaStatus::Open) {
            let item = Cell::link(r.referral.company.name.clone(), format!("/portal/referrals/{}", r.referral.id));
            timers.push((sla.due_at, item, sla.kind.as_str().replace('_', " ")));
        }
    }
    for r in &registrations.items {
        for timer in r.timers.iter().filter(|t| t.status == SlaStatus::Open) {
            let reg = &r.registration;
            let item = Cell::link(reg.customer.name.clone(), format!("/portal/registrations/{}", reg.id));
            timers.push((timer.due_at, item, timer.kind.as_str().replace('_', " ")));
        }
    }
    timers.sort_by_key(|(due, _, _)| *due);
    for (due, item, kind) in timers {
        let (left, class) = time_left(due, now);
        open.rows.push(vec![item, Cell::text(kind), Cell::text(left).class(class)]);
    }
    let earnings = match crate::staff::month_earnings(&state, partner_id, now).await {
        Ok(table) => table,
        Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let blocks = vec![
        Block::Paragraph(format!("Partner programme status for {}.", partner.name)),
        Block::Links(
            "Actions",
            vec![
                crate::view::Link::new("/portal/referrals/new", "Refer a company"),
                crate::view::Link::new("/portal/registrations/new", "Register a deal"),
            ],
        ),
        Block::Table(counts),
        Block::Table(open),
        Block::Table(earnings),
    ];
    html(StatusCode::OK, Page { layout: Shell::for_viewer(&viewer, "Home", "/portal"), blocks })
}

pub async fn referrals(
    State(state): State<PortalState>,
    viewer: Viewer,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    let status_raw = query.get("status").map(String::as_str);
    let status = match status_raw {
        Some(raw) => match ReferralStatus::parse(raw) {
            Some(s) => Some(s),
            None => return not_found_for(&viewer),
        },
        None => None,
    };
    let page = PageRequest { limit: 25, cursor: query.get("cursor").cloned() };
    let found = state.store.referrals(&ReferralQuery { partner_id: Some(partner_id.clone()), status }, &page).await;
    let found = match found {
        Ok(found) => found,
        Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let layout = Shell::for_viewer(&viewer, "Referrals", "/portal/referrals");
    html(StatusCode::OK, referral_list(layout, &found.items, status_raw, found.next_cursor.as_deref()))
}

/// The referral list page: one table row per referral, the status filter
/// and the next-page link.
pub fn referral_list(
    layout: Layout,
    referrals: &[ReferralRecord],
    status: Option<&str>,
    next_cursor: Option<&str>,
) -> Page {
    let mut table = Table::new("Your referrals, newest first", vec!["Company", "Contact", "Status", "Submitted"])
        .empty("No referrals yet.");
    for r in referrals {
        let referral = &r.referral;
        table.rows.push(vec![
            Cell::link(referral.company.name.clone(), format!("/portal/referrals/{}", referral.id)),
            Cell::text(referral.contact.name.clone()),
            Cell::text(referral.status.as_str().replace('_', " ")),
            Cell::text(when(referral.created_at)),
        ]);
    }
    table.next = next_cursor.map(|c| next_link("/portal/referrals", status, c));
    let blocks = vec![
        Block::Links("Actions", vec![crate::view::Link::new("/portal/referrals/new", "Refer a company")]),
        status_filter("/portal/referrals", &["received", "opportunity_created", "won", "lost", "rejected"], status),
        Block::Table(table),
    ];
    Page { layout, blocks }
}

const MOTIONS: &[(&str, &str)] = &[("referral", "Referral"), ("co_sell", "Co-sell")];
const REGISTRATION_MOTIONS: &[(&str, &str)] = &[("resell", "Resell"), ("co_sell", "Co-sell"), ("referral", "Referral")];

/// The referral form's fields (shared with the hosted form), filled from
/// `form` when it is shown again.
pub fn referral_fields(form: &FormData) -> Vec<Field> {
    let mut fields = vec![
        Field::input("company.name", "Company name", "text").required().autocomplete("organization"),
        Field::input("company.domain", "Company website domain", "text").required().hint("For example example.com"),
        Field::input("contact.name", "Contact name", "text").required(),
        Field::input("contact.email", "Contact email", "email").required(),
        Field::input("contact.title", "Contact job title", "text"),
        Field::input("contact.phone", "Contact phone", "tel"),
        Field::select("motion", "Motion", MOTIONS),
        Field::textarea("notes", "Notes"),
        Field::input("external_ref", "Your reference", "text").hint("Your own id for this referral, if any"),
        Field::checkbox("consent", "The contact agreed to be referred").required(),
    ];
    for field in &mut fields {
        field.value = form.raw(field.name).to_owned();
    }
    fields
}

const REFERRAL_FORM: FormPage<'static> = FormPage {
    title: "Refer a company",
    current: "/portal/referrals",
    action: "/portal/referrals",
    submit: "Submit referral",
};

fn referral_form_page(viewer: &Viewer, status: StatusCode, form: &FormData, errors: &[FieldError]) -> Response {
    REFERRAL_FORM.render(viewer, status, referral_fields(form), errors)
}

pub async fn new_referral(viewer: Viewer) -> Response {
    if partner_of(&viewer).is_err() {
        return forbidden(&viewer);
    }
    referral_form_page(&viewer, StatusCode::OK, &FormData::default(), &[])
}

/// A form that failed on its fields is shown again, filled in, with the
/// API's messages; a refusal is the 409 page; success goes to the referral.
pub async fn create_referral(
    State(state): State<PortalState>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match pages::posted_form(&viewer, &headers, &body) {
        Ok(form) => form,
        Err(page) => return page,
    };
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    let submission = match ReferralSubmission::parse(form.referral()) {
        Ok(s) => s,
        Err(errors) => return referral_form_page(&viewer, StatusCode::UNPROCESSABLE_ENTITY, &form, errors.as_slice()),
    };
    match partnerops_app::referrals::intake(&*state.store, &*state.clock, &state.terms, partner_id, &submission).await {
        Ok(Intake::Created(r) | Intake::Existing(r)) => {
            Redirect::to(&format!("/portal/referrals/{}", r.referral.id)).into_response()
        }
        Err(refused) => problem_page(Some(&viewer), &Problem::from(refused)),
    }
}

pub async fn referral(State(state): State<PortalState>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    let Some(id) = ReferralId::parse(&id) else { return not_found_for(&viewer) };
    let record = match state.store.referral(&id).await {
        Ok(Some(r)) if &r.referral.partner_id == partner_id => r,
        Ok(_) => return not_found_for(&viewer),
        Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
    };
    let r = &record.referral;
    let mut facts = vec![
        ("Company", Cell::text(r.company.name.clone())),
        ("Domain", Cell::text(r.company.domain.clone())),
        ("Status", Cell::text(r.status.as_str().replace('_', " "))),
        ("Contact", Cell::text(format!("{} <{}>", r.contact.name, r.contact.email))),
        ("Motion", Cell::text(r.motion.as_str())),
        ("Submitted", Cell::text(when(r.created_at))),
    ];
    if let Some(reason) = r.rejection_reason {
        facts.push(("Why it was not accepted", Cell::text(reason.detail())));
    }
    if let Some(submitter) = &r.submitter {
        facts.push(("Submitted by", Cell::text(format!("{} <{}>", submitter.name, submitter.email))));
    }
    if let Some(notes) = &r.notes {
        facts.push(("Notes", Cell::text(notes.clone())));
    }
    let mut blocks = vec![Block::Facts(String::new(), facts)];
    blocks.push(Block::Table(sla_table(&record.slas, state.clock.now())));
    if let Some(opportunity_id) = &r.opportunity_id {
        match state.store.opportunity(opportunity_id).await {
            Ok(Some(o)) => blocks.push(Block::Facts(
                "Opportunity".into(),
                vec![
                    ("Name", Cell::text(o.opportunity.name.clone())),
                    ("Amount", Cell::text(money(&o.opportunity.amount))),
                    ("Status", Cell::text(o.opportunity.status.as_str())),
                ],
            )),
            Ok(None) => {}
            Err(e) => return problem_page(Some(&viewer), &Problem::from(e)),
        }
    }
    let title = format!("Referral: {}", r.company.name);
    html(StatusCode::OK, Page { layout: Shell::for_viewer(&viewer, &title, "/portal/referrals"), blocks })
}

fn registration_fields(form: &FormData) -> Vec<Field> {
    let mut fields = vec![
        Field::input("customer.name", "Customer name", "text").required(),
        Field::input("customer.domain", "Customer website domain", "text").required().hint("For example example.com"),
        Field::select("motion", "Motion", REGISTRATION_MOTIONS),
        Field::input("estimated_value.amount", "Estimated value", "text")
            .required()
            .hint("A decimal amount, such as 12000.00"),
        Field::input("estimated_value.currency", "Currency", "text").required().hint("ISO 4217 code, such as USD"),
        Field::input("products", "Products", "text").required().hint("Separate products with commas"),
        Field::input("expected_close_date", "Expected close date", "date").required().hint("YYYY-MM-DD"),
        Field::textarea("notes", "Notes"),
    ];
    for field in &mut fields {
        field.value = form.raw(field.name).to_owned();
    }
    if fields[4].value.is_empty() {
        fields[4].value = "USD".into();
    }
    fields
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
    let form = match pages::posted_form(&viewer, &headers, &body) {
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
    if let Err(page) = pages::posted_form(&viewer, &headers, &body) {
        return page;
    }
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    let Some(id) = RegistrationId::parse(&id) else { return not_found_for(&viewer) };
    match partnerops_app::registrations::withdraw(&*state.store, &*state.clock, &state.terms, partner_id, &id).await {
        Ok(_) => Redirect::to(&format!("/portal/registrations/{id}")).into_response(),
        Err(refused) => problem_page(Some(&viewer), &Problem::from(refused)),
    }
}

pub async fn earnings(State(state): State<PortalState>, viewer: Viewer) -> Response {
    let Ok((_, partner_id)) = partner_of(&viewer) else { return forbidden(&viewer) };
    match crate::staff::earnings_tables(&state, partner_id).await {
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
    match crate::staff::earnings_csv(&state, partner_id).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_referral_form_is_filled_in_again_from_what_was_sent() {
        let form = FormData::from_pairs(&[("company.name", "<b>Acme</b>"), ("consent", "on")]);
        let fields = referral_fields(&form);
        assert_eq!(fields[0].value, "<b>Acme</b>");
        assert!(fields.iter().any(|f| f.name == "consent" && f.value == "on"));
    }
}
