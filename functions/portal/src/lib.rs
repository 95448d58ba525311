//! `portal`: people sign in with a one-time email link; partners refer and
//! register in the browser; staff decide registrations and watch SLAs; the
//! hosted referral form takes referrals without a sign-in (SPEC §15, §16).
//!
//! Pages are rendered on the server with askama: templates are compiled
//! into the binary (nothing parsed at start-up, a typo in a template is a
//! build error) and every value is HTML-escaped unless a template says
//! otherwise. No page needs JavaScript or loads anything from elsewhere.

// A page handler's error is the page to show instead: it is returned at once,
// never kept, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

mod charts;
mod earnings;
mod fields;
mod forms;
mod frame;
mod hosted;
pub mod lambda;
mod partner;
mod registrations;
mod reports;
mod session;
mod slas;
mod staff;
mod state;
pub mod view;
mod viewer;

pub use partner::referral_list;
pub use state::{PortalState, PortalStore};
pub use viewer::SESSION_COOKIE;

/// Largest form body read, as for the JSON API.
pub const MAX_BODY: usize = 64 * 1024;

const STYLESHEET: &str = include_str!("../static/portal.css");

/// Every (method, path) the portal serves, as template.yaml routes them.
pub fn routes() -> Vec<(Method, &'static str)> {
    use Method as M;
    vec![
        (M::GET, "/portal"),
        (M::GET, "/portal/static/portal.css"),
        (M::GET, "/portal/sign-in"),
        (M::POST, "/portal/sign-in"),
        (M::GET, "/portal/auth/{token}"),
        (M::POST, "/portal/sign-out"),
        (M::GET, "/portal/referrals"),
        (M::POST, "/portal/referrals"),
        (M::GET, "/portal/referrals/new"),
        (M::GET, "/portal/referrals/{id}"),
        (M::GET, "/portal/registrations"),
        (M::POST, "/portal/registrations"),
        (M::GET, "/portal/registrations/new"),
        (M::GET, "/portal/registrations/{id}"),
        (M::POST, "/portal/registrations/{id}/withdraw"),
        (M::POST, "/portal/registrations/{id}/decision"),
        (M::GET, "/portal/slas"),
        (M::GET, "/portal/reports"),
        (M::GET, "/portal/exports"),
        (M::GET, "/portal/exports/{period}/{file}"),
        (M::GET, "/portal/earnings"),
        (M::GET, "/portal/earnings.csv"),
        (M::GET, "/forms/referral/{token}"),
        (M::POST, "/forms/referral/{token}"),
    ]
}

/// The portal's routes, for mounting beside the API's (the dev stack): paths
/// it does not serve fall through to the host router's fallback.
pub fn router(state: PortalState) -> Router {
    finish(pages_router(), state)
}

/// The portal as its own function: unknown paths get the portal's 404 page.
pub fn standalone_router(state: PortalState) -> Router {
    finish(pages_router().fallback(frame::not_found), state)
}

fn finish(router: Router<PortalState>, state: PortalState) -> Router {
    let frame_ancestors = frame_ancestors(&state.terms.portal.frame_ancestors);
    partnerops_api::trace::traced(router)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let frame_ancestors = frame_ancestors.clone();
            security_headers(frame_ancestors, request, next)
        }))
        .with_state(state)
}

fn pages_router() -> Router<PortalState> {
    Router::new()
        .route("/portal", get(partner::home))
        .route("/portal/static/portal.css", get(stylesheet))
        .route("/portal/sign-in", get(session::sign_in_page).post(session::sign_in))
        .route("/portal/auth/{token}", get(session::authenticate))
        .route("/portal/sign-out", post(session::sign_out))
        .route("/portal/referrals", get(partner::referrals).post(partner::create_referral))
        .route("/portal/referrals/new", get(partner::new_referral))
        .route("/portal/referrals/{id}", get(partner::referral))
        .route("/portal/registrations", get(registrations::registrations).post(registrations::create_registration))
        .route("/portal/registrations/new", get(registrations::new_registration))
        .route("/portal/registrations/{id}", get(registrations::registration))
        .route("/portal/registrations/{id}/withdraw", post(registrations::withdraw))
        .route("/portal/registrations/{id}/decision", post(registrations::decide))
        .route("/portal/slas", get(slas::slas))
        .route("/portal/reports", get(reports::reports))
        .route("/portal/exports", get(staff::exports))
        .route("/portal/exports/{period}/{file}", get(staff::export_file))
        .route("/portal/earnings", get(earnings::earnings))
        .route("/portal/earnings.csv", get(earnings::earnings_csv))
        .route("/forms/referral/{token}", get(hosted::form).post(hosted::submit))
}

fn frame_ancestors(origins: &[String]) -> Arc<str> {
    if origins.is_empty() { "'none'".into() } else { origins.join(" ").into() }
}

/// The headers of §15 on every response. Only the hosted form may be framed,
/// and only by the program's `frame_ancestors`.
async fn security_headers(hosted_ancestors: Arc<str>, request: Request, next: Next) -> Response {
    let hosted = request.uri().path().starts_with("/forms/");
    let mut response = next.run(request).await;
    let ancestors = if hosted { &*hosted_ancestors } else { "'none'" };
    let csp = format!("default-src 'self'; frame-ancestors {ancestors}; form-action 'self'; base-uri 'none'");
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet(State(_): State<PortalState>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        STYLESHEET,
    )
        .into_response()
}
