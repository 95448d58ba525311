//! `slack-interactions`: channel managers decide registrations from Slack
//! (SPEC §17). Every request's v0 signature and timestamp are checked before
//! anything else reads it; the clicker must be an active channel manager or
//! admin with that Slack member id; the decision is the API's own
//! (`partnerops_app::registrations::decide`), so a double click or a Slack retry
//! decides once and the message is edited to show what stands.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use partnerops_api::Problem;
use partnerops_app::decisions::DecisionMessages;
use partnerops_app::registrations::{self, ChangeError};
use partnerops_aws::Clock;
use partnerops_aws::slack::SlackApp;
use partnerops_aws::store::{Registrations, SlackMessages, Users};
use partnerops_domain::auth::Role;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::people::User;
use partnerops_domain::registration::{Decision, DecisionDraft, Registration, RegistrationStatus};
use partnerops_domain::slack::{
    Interaction, MessageRef, ephemeral, parse_interaction, reason_required, reject_modal, verify_signature,
};
use partnerops_domain::terms::ProgramTerms;
use serde_json::{Value, json};
use std::sync::Arc;

pub mod lambda;

pub const PATH: &str = "/slack/interactions";
/// Slack's interaction bodies are small; anything bigger is not Slack.
pub const MAX_BODY: usize = 64 * 1024;

pub const NOT_ALLOWED: &str = "Only an active channel manager or admin whose partnerops user carries your Slack member id can decide registrations.";

/// What a click reads and writes: the registrations it decides, the
/// clicker's user, and the decision messages it edits.
pub trait SlackStore: Registrations + Users + SlackMessages {}

impl<T: Registrations + Users + SlackMessages + ?Sized> SlackStore for T {}

#[derive(Clone)]
pub struct SlackState {
    pub store: Arc<dyn SlackStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
    pub slack: Arc<dyn SlackApp>,
    pub messages: Arc<DecisionMessages>,
    pub signing_secret: Arc<[u8]>,
}

/// The (method, path) pairs template.yaml routes here.
pub fn routes() -> Vec<(Method, &'static str)> {
    vec![(Method::POST, PATH)]
}

pub fn router(state: SlackState) -> Router {
    partnerops_api::trace::traced(Router::new().route(PATH, post(interact)))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn ok() -> Response {
    StatusCode::OK.into_response()
}

fn json_reply(value: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub async fn interact(State(state): State<SlackState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let timestamp = header(&headers, "x-slack-request-timestamp");
    let signature = header(&headers, "x-slack-signature");
    if let Err(e) = verify_signature(&state.signing_secret, timestamp, &body, signature, now) {
        tracing::warn!(reason = %e, "Slack request refused");
        return Problem::unauthenticated().into_response();
    }
    let payload = form_urlencoded::parse(&body).find(|(k, _)| k == "payload").map(|(_, v)| v.into_owned());
    let interaction = match payload.as_deref().map(parse_interaction) {
        Some(Ok(interaction)) => interaction,
        _ => return Problem::bad_request("malformed_payload", "The body has no interaction payload.").into_response(),
    };
    let retry = header(&headers, "x-slack-retry-num");
    if !retry.is_empty() {
        tracing::info!(retry, "Slack retried an interaction");
    }
    match interaction {
        Interaction::Approve { user, registration_id, response_url, message } => {
            approve(&state, &user, &registration_id, &response_url, message).await;
            ok()
        }
        Interaction::Reject { user, registration_id, response_url, trigger_id } => {
            open_reject(&state, &user, &registration_id, &response_url, &trigger_id).await;
            ok()
        }
        Interaction::RejectSubmitted { user, registration_id, reason } => {
            submit_reject(&state, &user, &registration_id, &reason).await
        }
        Interaction::Ignored => ok(),
    }
}

/// The decider behind a Slack member id, if they may decide.
async fn decider(state: &SlackState, member: &str) -> Option<User> {
    match state.store.user_by_slack_id(member).await {
        Ok(Some(user)) if user.is_active() && matches!(user.role, Role::ChannelManager | Role::Admin) => Some(user),
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "reading the clicker's user");
            None
        }
    }
}

async fn tell(state: &SlackState, response_url: &str, text: &str) {
    if response_url.is_empty() {
        return;
    }
    if let Err(e) = state.slack.respond(response_url, &ephemeral(text)).await {
        tracing::warn!(error = ?e, "ephemeral reply not sent");
    }
}

async fn current(state: &SlackState, id: &RegistrationId) -> Option<Registration> {
    match state.store.registration(id).await {
        Ok(record) => record.map(|r| r.registration),
        Err(e) => {
            tracing::error!(error = %e, "reading the registration");
            None
        }
    }
}

/// Edits the registration's message to show where it stands.
async fn show(state: &SlackState, registration: &Registration, fallback: Option<&MessageRef>) {
    let kept = state.store.slack_message(&registration.id).await.ok().flatten();
    let Some(message) = kept.as_ref().or(fallback) else { return };
    let payload = match state.messages.state_payload(registration).await {
        Ok(payload) => payload,
        Err(e) => {
            tracing::warn!(error = ?e, "the message's state could not be read");
            return;
        }
    };
    if let Err(e) = state.slack.update_message(message, &payload).await {
        tracing::warn!(error = ?e, registration_id = %registration.id, "the decision message was not edited");
    }
}

fn decision(verdict: &str, reason: Option<String>) -> Option<Decision> {
    Decision::parse(DecisionDraft { decision: Some(verdict.to_owned()), reason, protection_days: None }).ok()
}

/// Decides, then edits the message; a refusal (already decided, not the
/// lead) edits it to the current state and comes back as its wording.
async fn decide(
    state: &SlackState,
    id: &RegistrationId,
    decision: &Decision,
    by: &User,
    fallback: Option<&MessageRef>,
) -> Result<(), String> {
    match registrations::decide(&*state.store, &*state.clock, &state.terms, id, decision, by.id.as_str()).await {
        Ok(record) => {
            tracing::info!(registration_id = %id, user_id = %by.id, "decided from Slack");
            show(state, &record.registration, fallback).await;
            Ok(())
        }
        Err(refusal) => {
            if let Some(now) = current(state, id).await {
                show(state, &now, fallback).await;
            }
            Err(match refusal {
                ChangeError::NotFound => "This registration is not known.".to_owned(),
                ChangeError::Refused(why) => why.to_string(),
                ChangeError::Store(e) => {
                    tracing::error!(error = %e, registration_id = %id, "a decision from Slack was not recorded");
                    "The decision could not be recorded just now; try again in a moment.".to_owned()
                }
            })
        }
    }
}

async fn approve(state: &SlackState, user: &str, raw_id: &str, response_url: &str, message: Option<MessageRef>) {
    let Some(by) = decider(state, user).await else { return tell(state, response_url, NOT_ALLOWED).await };
    let (Some(id), Some(decision)) = (RegistrationId::parse(raw_id), decision("approve", None)) else {
        return tell(state, response_url, "This registration is not known.").await;
    };
    if let Err(why) = decide(state, &id, &decision, &by, message.as_ref()).await {
        tell(state, response_url, &why).await;
    }
}

async fn open_reject(state: &SlackState, user: &str, raw_id: &str, response_url: &str, trigger_id: &str) {
    if decider(state, user).await.is_none() {
        return tell(state, response_url, NOT_ALLOWED).await;
    }
    let Some(registration) = RegistrationId::parse(raw_id) else {
        return tell(state, response_url, "This registration is not known.").await;
    };
    let Some(now) = current(state, &registration).await else {
        return tell(state, response_url, "This registration is not known.").await;
    };
    if now.status != RegistrationStatus::Pending {
        show(state, &now, None).await;
        return tell(state, response_url, &format!("This registration is {} already.", now.status.as_str())).await;
    }
    if let Err(e) = state.slack.open_view(trigger_id, &reject_modal(now.id.as_str(), &now.customer.name)).await {
        tracing::warn!(error = ?e, "the reject modal did not open");
        tell(state, response_url, "The reject form could not be opened; try again.").await;
    }
}

async fn submit_reject(state: &SlackState, user: &str, raw_id: &str, reason: &str) -> Response {
    let refuse = |text: &str| json_reply(json!({ "response_action": "errors", "errors": { "reason": text } }));
    let Some(by) = decider(state, user).await else { return refuse(NOT_ALLOWED) };
    if reason.trim().is_empty() {
        return json_reply(reason_required());
    }
    let (Some(id), Some(decision)) = (RegistrationId::parse(raw_id), decision("reject", Some(reason.to_owned())))
    else {
        return refuse("The reason must be at most 1000 characters.");
    };
    match decide(state, &id, &decision, &by, None).await {
        Ok(()) => ok(),
        Err(why) => refuse(&why),
    }
}
