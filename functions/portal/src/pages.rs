//! The frame every page shares, the pages for problems, and the
//! registration pages partners and staff both open.

use crate::PortalState;
use crate::forms::FormData;
use crate::partner::sla_table;
use crate::session::Viewer;
use crate::staff;
use crate::view::{Block, Cell, Layout, Link, Page, Table, html};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use partnerops_api::Problem;
use partnerops_aws::store::{PageRequest, RegistrationQuery, RegistrationRecord};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::Role;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::money::Money;
use partnerops_domain::registration::RegistrationStatus;
use std::collections::HashMap;

pub const STAFF_DECIDERS: &[Role] = &[Role::ChannelManager, Role::Admin];
pub const FINANCE: &[Role] = &[Role::Finance, Role::Admin];

/// Builds the layout: title, the viewer's navigation, the sign-out form.
pub struct Shell;

impl Shell {
    pub fn signed_out(title: &str) -> Layout {
        Layout { title: title.to_owned(), ..Layout::default() }
    }

    pub fn for_viewer(viewer: &Viewer, title: &str, current: &str) -> Layout {
        let mut nav = vec![Link::new("/portal", "Home")];
        match viewer.role() {
            Role::Partner => {
                nav.push(Link::new("/portal/referrals", "Referrals"));
                nav.push(Link::new("/portal/registrations", "Registrations"));
                nav.push(Link::new("/portal/earnings", "Earnings"));
            }
            role => {
                if STAFF_DECIDERS.contains(&role) {
                    nav.push(Link::new("/portal/registrations?status=pending", "Pending registrations"));
                    nav.push(Link::new("/portal/slas", "SLA board"));
                }
                if FINANCE.contains(&role) {
                    nav.push(Link::new("/portal/exports", "Exports"));
                }
                if crate::reports::REPORT_READERS.contains(&role) {
                    nav.push(Link::new("/portal/reports", "Reports"));
                }
            }
        }
        let nav = nav
            .into_iter()
            .map(|l| {
                let path = l.href.split('?').next().unwrap_or("").to_owned();
                let current = path == current;
                l.current(current)
            })
            .collect();
        let who = match &viewer.partner {
            Some(partner) => format!("{} · {}", viewer.user.name, partner.name),
            None => format!("{} · {}", viewer.user.name, role_label(viewer.role())),
        };
        Layout { title: title.to_owned(), nav, csrf: Some(viewer.csrf()), who, errors: Vec::new() }
    }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Partner => "partner",
        Role::ChannelManager => "channel manager",
        Role::Crm => "CRM",
        Role::Finance => "finance",
        Role::Admin => "admin",
    }
}

pub fn message(viewer: Option<&Viewer>, status: StatusCode, title: &str, paragraphs: &[&str]) -> Response {
    let layout = match viewer {
        Some(v) => Shell::for_viewer(v, title, ""),
        None => Shell::signed_out(title),
    };
    let mut blocks: Vec<Block> = paragraphs.iter().map(|p| Block::Paragraph((*p).to_owned())).collect();
    let home = if viewer.is_some() {
        Link::new("/portal", "Back to your home page")
    } else {
        Link::new("/portal/sign-in", "Sign in")
    };
    blocks.push(Block::Links("Next steps", vec![home]));
    html(status, Page { layout, blocks })
}

pub async fn not_found() -> Response {
    message(None, StatusCode::NOT_FOUND, "Page not found", &["There is nothing at this address."])
}

pub fn not_found_for(viewer: &Viewer) -> Response {
    message(
        Some(viewer),
        StatusCode::NOT_FOUND,
        "Not found",
        &["There is nothing at this address, or it is not yours to see."],
    )
}

pub fn forbidden(viewer: &Viewer) -> Response {
    message(Some(viewer), StatusCode::FORBIDDEN, "Not available to you", &["Your role does not include this page."])
}

pub fn csrf_refused(viewer: &Viewer) -> Response {
    message(
        Some(viewer),
        StatusCode::FORBIDDEN,
        "The form could not be accepted",
        &[
            "The form was out of date or did not come from this site, so nothing was changed. Open the page again and retry.",
        ],
    )
}

pub fn unsupported_media_type(viewer: Option<&Viewer>) -> Response {
    message(viewer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Not a form", &["This address takes form posts only."])
}

/// A problem from the domain or the store as a page, in the API's words
/// (which never name another partner).
pub fn problem_page(viewer: Option<&Viewer>, problem: &Problem) -> Response {
    let body = problem.body();
    let title = match body.status {
        404 => "Not found",
        403 => "Not allowed",
        409 => "This could not be done",
        429 => "Too many submissions",
        503 => "Busy, try again",
        _ if body.status >= 500 => "Something went wrong",
        _ => "This could not be done",
    };
    let status = problem.status_code();
    message(viewer, status, title, &[body.detail.as_str()])
}

/// A signed-in form post: the form, once its type and CSRF token check out;
/// otherwise the 415 or 403 page to answer instead.
pub fn posted_form(viewer: &Viewer, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<FormData, Response> {
    let form = FormData::parse(headers, body).map_err(|_| unsupported_media_type(Some(viewer)))?;
    if viewer.csrf_ok(&form) { Ok(form) } else { Err(csrf_refused(viewer)) }
}

/// A page holding one form: `fields` with `errors` beside them and in the
/// summary at the top.
pub struct FormPage<'a> {
    pub title: &'a str,
    pub current: &'a str,
    pub action: &'a str,
    pub submit: &'static str,
}

impl FormPage<'_> {
    pub fn render(
        &self,
        viewer: &Viewer,
        status: StatusCode,
        mut fields: Vec<crate::view::Field>,
        errors: &[partnerops_domain::field::FieldError],
    ) -> Response {
        let summary = crate::view::attach_errors(&mut fields, errors);
        let mut layout = Shell::for_viewer(viewer, self.title, self.current);
        layout.errors = summary;
        let blocks = vec![Block::Form(crate::view::Form {
            heading: String::new(),
            action: self.action.to_owned(),
            csrf: Some(viewer.csrf()),
            fields,
            submit: self.submit,
        })];
        html(status, Page { layout, blocks })
    }
}

pub fn money(value: &Money) -> String {
    format!("{} {}", value.amount_string(), value.currency())
}

pub fn when(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "3 h 20 min left" or "overdue by 2 h 5 min".
pub fn time_left(due: Timestamp, now: Timestamp) -> (String, &'static str) {
    let minutes = due.since(now).num_minutes();
    let span = |m: i64| if m >= 60 { format!("{} h {} min", m / 60, m % 60) } else { format!("{m} min") };
    if minutes < 0 {
        (format!("overdue by {}", span(-minutes)), "overdue")
    } else {
        (format!("{} left", span(minutes)), "")
    }
}

pub fn status_filter(base: &str, statuses: &[&str], current: Option<&str>) -> Block {
    let mut links = vec![Link::new(base, "All").current(current.is_none())];
    for s in statuses {
        links.push(Link::new(format!("{base}?status={s}"), s.replace('_', " ")).current(current == Some(*s)));
    }
    Block::Links("Filter by status", links)
}

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
        return staff::queue(&state, &viewer).await;
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

pub fn next_link(base: &str, status: Option<&str>, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = status {
        query.append_pair("status", s);
    }
    query.append_pair("cursor", cursor);
    format!("{base}?{}", query.finish())
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
            Role::Partner => blocks.push(crate::partner::withdraw_form(viewer, &reg.id)),
            _ if viewer.is(STAFF_DECIDERS) => {
                let (forms, errors) = staff::decision_forms(viewer, &reg.id, sent);
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
