//! Sign-in by one-time email link, the session cookie, sign-out, and the
//! `Viewer` every signed-in page starts from (SPEC §15).

use crate::forms::FormData;
use crate::frame::{Shell, posted_form, problem_page, unsupported_media_type};
use crate::state::PortalState;
use crate::view::{Block, Field, Form, Page, attach_errors, html};
use crate::viewer::{Viewer, session_cookie, viewer};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Duration;
use partnerops_api::Problem;
use partnerops_api::base_url::RequestDomain;
use partnerops_domain::field::FieldError;
use partnerops_domain::notify::{Channel, Notification};
use partnerops_domain::partner::parse_email;
use partnerops_domain::people::{LINK_MINUTES, LINKS_PER_HOUR, Secret, Session};

const SENT: &str = "If that address has an account, a sign-in link is on its way. It works once, for 15 minutes.";

/// Sends the browser to the sign-in page and drops its cookie.
fn to_sign_in(state: &PortalState) -> Response {
    let mut response = Redirect::to("/portal/sign-in").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(state, "", 0));
    response
}

impl FromRequestParts<PortalState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &PortalState) -> Result<Self, Self::Rejection> {
        match viewer(state, &parts.headers).await {
            Ok(Some(viewer)) => Ok(viewer),
            Ok(None) => Err(to_sign_in(state)),
            Err(problem) => Err(problem_page(None, &problem)),
        }
    }
}

fn email_field(value: &str) -> Field {
    let mut field = Field::input("email", "Email address", "email").required().autocomplete("email");
    field.value = value.to_owned();
    field
}

fn sign_in_form(status: StatusCode, notice: Option<&str>, email: &str, errors: &[FieldError]) -> Response {
    let mut fields = vec![email_field(email)];
    let summary = attach_errors(&mut fields, errors);
    let mut blocks = Vec::new();
    if let Some(notice) = notice {
        blocks.push(Block::Notice(notice.to_owned()));
    }
    blocks.push(Block::Paragraph("Enter the email address your program manager registered for you.".into()));
    blocks.push(Block::Form(Form {
        heading: String::new(),
        action: "/portal/sign-in".into(),
        csrf: None,
        fields,
        submit: "Email me a sign-in link",
    }));
    let mut layout = Shell::signed_out("Sign in");
    layout.errors = summary;
    html(status, Page { layout, blocks })
}

pub async fn sign_in_page(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    match viewer(&state, &headers).await {
        Ok(Some(_)) => Redirect::to("/portal").into_response(),
        _ => sign_in_form(StatusCode::OK, None, "", &[]),
    }
}

/// Answers the same page whatever the address. Each address may be sent at
/// most `LINKS_PER_HOUR` links an hour, counted before the lookup so that an
/// unknown address costs the same writes as a known one.
pub async fn sign_in(
    State(state): State<PortalState>,
    domain: RequestDomain,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = FormData::parse(&headers, &body) else { return unsupported_media_type(None) };
    let raw = form.raw("email").trim().to_owned();
    let email = match parse_email(&raw) {
        Ok(email) => email.to_lowercase(),
        Err(message) => {
            let errors = [FieldError::new("email", message)];
            return sign_in_form(StatusCode::UNPROCESSABLE_ENTITY, None, &raw, &errors);
        }
    };
    if let Err(problem) = send_link(&state, &domain.base_url(&state.base_url), &email).await {
        return problem_page(None, &problem);
    }
    sign_in_form(StatusCode::OK, Some(SENT), "", &[])
}

async fn send_link(state: &PortalState, base_url: &str, email: &str) -> Result<(), Problem> {
    let store = &state.store;
    let now = state.clock.now();
    if !store.admit(&format!("signin#{email}"), LINKS_PER_HOUR, Duration::hours(1), now).await? {
        tracing::info!("sign-in link refused: hourly limit");
        return Ok(());
    }
    let Some(user) = store.user_by_email(email).await? else { return Ok(()) };
    if !user.is_active() {
        return Ok(());
    }
    let secret = Secret::generate(rand::random());
    store
        .put_sign_in_link(&partnerops_domain::people::SignInLink::new(secret.hash.clone(), user.id.clone(), now))
        .await?;
    let link = format!("{base_url}/portal/auth/{}", secret.plaintext);
    let text = format!(
        "Hello {},\n\nSign in to partnerops with this link:\n\n{link}\n\nIt works once, for {LINK_MINUTES} minutes. If you did not ask for it, ignore this email.\n",
        user.name
    );
    let notification = Notification {
        event_id: format!("signin-{}", &secret.hash.as_str()[..16]),
        channel: Channel::Email,
        to: user.email.clone(),
        subject: "Your partnerops sign-in link".into(),
        text,
        // The link is base64url on the stack's own address: nothing in it needs escaping.
        html: format!(
            "<p>Sign in to partnerops with this link:</p><p><a href=\"{link}\">{link}</a></p><p>It works once, for {LINK_MINUTES} minutes. If you did not ask for it, ignore this email.</p>"
        ),
        slack: serde_json::Value::Null,
    };
    if let Err(e) = state.mailer.send(&notification).await {
        tracing::error!(user_id = %user.id, error = ?e, "sign-in email not sent");
        return Err(Problem::unavailable());
    }
    tracing::info!(user_id = %user.id, "sign-in link sent");
    Ok(())
}

/// Uses the link once (of two clicks at the same instant, one signs in) and
/// starts a session.
pub async fn authenticate(State(state): State<PortalState>, Path(token): Path<String>) -> Response {
    let invalid = || {
        sign_in_form(
            StatusCode::BAD_REQUEST,
            Some("This sign-in link has been used, has expired or is not valid. Ask for a new one below."),
            "",
            &[],
        )
    };
    let Some(hash) = Secret::presented(&token) else { return invalid() };
    let store = &state.store;
    let now = state.clock.now();
    let link = match store.use_sign_in_link(&hash, now).await {
        Ok(Some(link)) => link,
        Ok(None) => return invalid(),
        Err(e) => return problem_page(None, &Problem::from(e)),
    };
    match store.user(&link.user_id).await {
        Ok(Some(user)) if user.is_active() => {}
        Ok(_) => return invalid(),
        Err(e) => return problem_page(None, &Problem::from(e)),
    }
    let secret = Secret::generate(rand::random());
    let session = Session::new(secret.hash.clone(), link.user_id.clone(), now);
    if let Err(e) = store.put_session(&session).await {
        return problem_page(None, &Problem::from(e));
    }
    tracing::info!(user_id = %link.user_id, "signed in");
    let max_age = session.expires_at.since(now).num_seconds();
    let mut response = Redirect::to("/portal").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, &secret.plaintext, max_age));
    response
}

pub async fn sign_out(State(state): State<PortalState>, viewer: Viewer, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(page) = posted_form(&viewer, &headers, &body) {
        return page;
    }
    if let Some(hash) = Secret::presented(&viewer.secret)
        && let Err(e) = state.store.end_session(&hash).await
    {
        return problem_page(Some(&viewer), &Problem::from(e));
    }
    tracing::info!(user_id = %viewer.user.id, "signed out");
    to_sign_in(&state)
}
