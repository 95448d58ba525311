//! The hosted referral form: a per-partner link that takes referrals
//! without a sign-in (SPEC §16).

use crate::fields::referral_fields;
use crate::forms::FormData;
use crate::frame::{Shell, message, problem_page, unsupported_media_type};
use crate::state::PortalState;
use crate::view::{Block, Field, Form, Page, attach_errors, html};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Duration;
use partnerops_api::Problem;
use partnerops_app::referrals::Intake;
use partnerops_domain::field::FieldError;
use partnerops_domain::partner::{Partner, PartnerId};
use partnerops_domain::people::Secret;
use partnerops_domain::referral::ReferralSubmission;

/// Submissions one link takes per sliding hour.
pub const SUBMISSIONS_PER_HOUR: usize = 30;
/// The hidden field people never see; a filled one marks a bot.
pub const HONEYPOT: &str = "website";

/// The partner behind a live link, if its partner is not suspended.
async fn form_partner(state: &PortalState, token: &str) -> Result<Option<(Partner, String)>, Problem> {
    let Some(hash) = Secret::presented(token) else { return Ok(None) };
    let Some(id): Option<PartnerId> = state.store.referral_form(&hash).await? else { return Ok(None) };
    let Some(partner) = state.store.partner(&id).await? else { return Ok(None) };
    if partner.is_suspended() {
        return Ok(None);
    }
    Ok(Some((partner, hash.as_str().to_owned())))
}

fn hosted_fields(form: &FormData) -> Vec<Field> {
    let mut fields = vec![
        Field::input("submitter.name", "Your name", "text").required().autocomplete("name"),
        Field::input("submitter.email", "Your email", "email").required().autocomplete("email"),
    ];
    for field in &mut fields {
        field.value = form.raw(field.name).to_owned();
    }
    fields.extend(referral_fields(form));
    fields.push(Field::honeypot(HONEYPOT));
    fields
}

fn form_page(token: &str, partner: &Partner, status: StatusCode, form: &FormData, errors: &[FieldError]) -> Response {
    let mut fields = hosted_fields(form);
    let summary = attach_errors(&mut fields, errors);
    let mut layout = Shell::signed_out(&format!("Refer a company to {}'s partner programme", partner.name));
    layout.errors = summary;
    let blocks = vec![
        Block::Paragraph(format!(
            "This form sends a referral on behalf of {}. Tell us who you are and who you are referring.",
            partner.name
        )),
        Block::Form(Form {
            heading: String::new(),
            action: format!("/forms/referral/{token}"),
            csrf: None,
            fields,
            submit: "Send referral",
        }),
    ];
    html(status, Page { layout, blocks })
}

fn gone() -> Response {
    message(
        None,
        StatusCode::NOT_FOUND,
        "Form not found",
        &["This referral form link is not valid any more. Ask your partner for a new one."],
    )
}

pub async fn form(State(state): State<PortalState>, Path(token): Path<String>) -> Response {
    match form_partner(&state, &token).await {
        Ok(Some((partner, _))) => form_page(&token, &partner, StatusCode::OK, &FormData::default(), &[]),
        Ok(None) => gone(),
        Err(problem) => problem_page(None, &problem),
    }
}

fn received(id: &str) -> Response {
    message(
        None,
        StatusCode::OK,
        "Referral received",
        &[
            &format!("Thank you. Your referral is recorded as {id}."),
            "The partner team will create an opportunity for it within the programme's SLA; the partner follows it up from there.",
        ],
    )
}

pub async fn submit(
    State(state): State<PortalState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (partner, hash) = match form_partner(&state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return gone(),
        Err(problem) => return problem_page(None, &problem),
    };
    let Ok(form) = FormData::parse(&headers, &body) else { return unsupported_media_type(None) };
    let now = state.clock.now();
    match state.store.admit(&format!("form#{hash}"), SUBMISSIONS_PER_HOUR, Duration::hours(1), now).await {
        Ok(true) => {}
        Ok(false) => {
            return message(
                None,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many referrals from this form",
                &["This form has taken as many referrals as it can this hour. Try again later."],
            );
        }
        Err(e) => return problem_page(None, &Problem::from(e)),
    }
    if !form.raw(HONEYPOT).is_empty() {
        tracing::info!(partner_id = %partner.id, "hosted form: honeypot filled, nothing stored");
        return received("ref_pending");
    }
    let submission = match ReferralSubmission::parse_hosted(form.referral(), form.submitter()) {
        Ok(s) => s,
        Err(errors) => return form_page(&token, &partner, StatusCode::UNPROCESSABLE_ENTITY, &form, errors.as_slice()),
    };
    match partnerops_app::referrals::intake(&*state.store, &*state.clock, &state.terms, &partner.id, &submission).await
    {
        Ok(Intake::Created(r) | Intake::Existing(r)) => received(r.referral.id.as_str()),
        Err(refused) => problem_page(None, &Problem::from(refused)),
    }
}
