//! The page frame every page shares: the layout and navigation for a
//! viewer, the message pages (not found, not allowed, a refused form, a
//! problem in the API's words), form pages, and how times and money read.

use crate::forms::FormData;
use crate::view::{Block, Layout, Link, Page, html};
use crate::viewer::Viewer;
use axum::http::StatusCode;
use axum::response::Response;
use partnerops_api::Problem;
use partnerops_domain::Timestamp;
use partnerops_domain::auth::Role;
use partnerops_domain::money::Money;
use partnerops_domain::partner::{Partner, PartnerId};

pub const STAFF_DECIDERS: &[Role] = &[Role::ChannelManager, Role::Admin];

pub const FINANCE: &[Role] = &[Role::Finance, Role::Admin];

/// Who reads the reports: the API's roles.
pub const REPORT_READERS: &[Role] = &[Role::ChannelManager, Role::Finance, Role::Admin];

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
                if REPORT_READERS.contains(&role) {
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

pub fn next_link(base: &str, status: Option<&str>, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = status {
        query.append_pair("status", s);
    }
    query.append_pair("cursor", cursor);
    format!("{base}?{}", query.finish())
}

/// The partner behind a partner viewer; staff get the 403 page.
pub(crate) fn partner_of(viewer: &Viewer) -> Result<(&Partner, &PartnerId), Response> {
    match (&viewer.partner, viewer.role()) {
        (Some(partner), Role::Partner) => Ok((partner, &partner.id)),
        _ => Err(forbidden(viewer)),
    }
}
