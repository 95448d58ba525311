//! The partner's pages: home, referrals, registrations, earnings (SPEC §16).

use crate::fields::referral_fields;
use crate::forms::FormData;
use crate::frame::{
    FormPage, Shell, forbidden, money, next_link, not_found_for, partner_of, posted_form, problem_page, status_filter,
    time_left, when,
};
use crate::slas::sla_table;
use crate::state::PortalState;
use crate::view::{Block, Cell, Layout, Page, Table, html};
use crate::viewer::Viewer;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use partnerops_api::Problem;
use partnerops_app::referrals::Intake;
use partnerops_aws::store::{PageRequest, ReferralQuery, ReferralRecord, RegistrationQuery};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::Role;
use partnerops_domain::field::FieldError;
use partnerops_domain::id::ReferralId;
use partnerops_domain::referral::{ReferralStatus, ReferralSubmission};
use partnerops_domain::sla::SlaStatus;
use std::collections::{BTreeMap, HashMap};

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
    let earnings = match crate::earnings::month_earnings(&state, partner_id, now).await {
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
    let form = match posted_form(&viewer, &headers, &body) {
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
